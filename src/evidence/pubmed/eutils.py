"""E-utilities operations on top of the client: esearch (history server, split by
date beyond the 9,999-id cap), epost, batched efetch (resumable), elink."""

from __future__ import annotations

import datetime as dt
import hashlib

from tqdm import tqdm

from evidence.errors import EvidenceError
from evidence.pubmed.client import EutilsClient, FetchError
from evidence.pubmed.parser import (
    PostResult,
    PubmedRecord,
    SearchResult,
    parse_articles,
    parse_elink,
    parse_epost,
    parse_esearch,
)

SEARCH_CAP = 9999  # esearch returns at most this many ids for one query
GET_MAX_IDS = 200  # above this many ids a request goes by POST
HISTORY_THRESHOLD = 1000  # id lists longer than this go through epost + history efetch


def esearch(client: EutilsClient, term: str, *, retmax: int = SEARCH_CAP, mindate: str | None = None,
            maxdate: str | None = None, datetype: str = "pdat") -> SearchResult:
    params = {"db": "pubmed", "term": term, "usehistory": "y", "retmax": str(retmax)}
    if mindate or maxdate:
        params.update(datetype=datetype, mindate=mindate or "1800/01/01",
                      maxdate=maxdate or dt.date.today().strftime("%Y/%m/%d"))
    return parse_esearch(client.request("esearch", params, check=parse_esearch))


def search(client: EutilsClient, term: str, *, mindate: dt.date | None = None,
           maxdate: dt.date | None = None, cap: int = SEARCH_CAP) -> list[str]:
    """Every PMID matching ``term``; a range over the cap is halved by publication date."""
    lo = mindate or dt.date(1800, 1, 1)
    hi = maxdate or dt.date.today()
    fmt = "%Y/%m/%d"
    res = esearch(client, term, retmax=cap, mindate=lo.strftime(fmt), maxdate=hi.strftime(fmt))
    if res.count <= cap:
        return sorted(set(res.ids), key=int)
    if lo >= hi:
        raise EvidenceError(f"esearch {term!r}: {res.count} hits on the single day {lo}, "
                            f"over the {cap}-id cap; narrow the query")
    mid = lo + (hi - lo) // 2
    ids = search(client, term, mindate=lo, maxdate=mid, cap=cap)
    ids += search(client, term, mindate=mid + dt.timedelta(days=1), maxdate=hi, cap=cap)
    return sorted(set(ids), key=int)


def epost(client: EutilsClient, ids: list[str]) -> PostResult:
    """Put ids on the history server (always POST: the list is long)."""
    # epost is never replayed from the cache: a WebEnv is a live session.
    saved, client.cache = client.cache, None
    try:
        return parse_epost(client.request("epost", {"db": "pubmed", "id": ",".join(ids)},
                                          check=parse_epost, post=True))
    finally:
        client.cache = saved


def _normalise(pmids) -> list[str]:
    out = sorted({str(p).strip() for p in pmids}, key=int)
    bad = [p for p in out if not p.isdigit()]
    if bad:
        raise EvidenceError(f"not PMIDs: {', '.join(bad[:10])}")
    return out


def fetch_records(client: EutilsClient, pmids, *, batch_size: int = GET_MAX_IDS,
                  history_threshold: int = HISTORY_THRESHOLD, progress: bool = False
                  ) -> dict[str, PubmedRecord]:
    """PubmedRecords for ``pmids`` by efetch, batch by batch.

    Each batch is one cached request, so an interrupted fetch resumes where
    it stopped. Long lists go through epost and the history server. On
    give-up a FetchError lists the ids still missing.
    """
    ids = _normalise(pmids)
    batches = [ids[i:i + batch_size] for i in range(0, len(ids), batch_size)]
    use_history = len(ids) > history_threshold
    digest = hashlib.sha256(",".join(ids).encode()).hexdigest()
    post_result: PostResult | None = None
    out: dict[str, PubmedRecord] = {}
    bar = tqdm(batches, desc="efetch", unit="batch", disable=not progress or None, leave=False)
    for n, batch in enumerate(bar):
        try:
            if use_history:
                key_params = {"db": "pubmed", "retmode": "xml", "ids_sha256": digest,
                              "retstart": str(n * batch_size), "retmax": str(batch_size)}
                if post_result is None and not _cached(client, "efetch", key_params):
                    post_result = epost(client, ids)
                params = key_params if post_result is None else {
                    "db": "pubmed", "retmode": "xml", "query_key": post_result.query_key,
                    "WebEnv": post_result.webenv, "retstart": str(n * batch_size),
                    "retmax": str(batch_size)}
                body = client.request("efetch", params, check=parse_articles,
                                      key_params=key_params)
            else:
                body = client.request("efetch", {"db": "pubmed", "id": ",".join(batch),
                                                 "retmode": "xml"},
                                      check=parse_articles, post=len(batch) > GET_MAX_IDS)
        except FetchError as exc:
            missing = [p for p in ids if p not in out]
            raise FetchError(str(exc), missing) from None
        for rec in parse_articles(body):
            out[rec.pmid] = rec
    return out


def _cached(client: EutilsClient, endpoint: str, key_params: dict) -> bool:
    from evidence.pubmed.cache import request_key
    return client.cache is not None and request_key(endpoint, key_params) in client.cache


def elink(client: EutilsClient, ids, *, linkname: str = "pubmed_pmc",
          dbfrom: str = "pubmed") -> dict[str, list[str]]:
    """Linked ids per input id (one LinkSet per id: ``id`` is repeated, not comma-joined)."""
    ids = _normalise(ids)
    params = {"dbfrom": dbfrom, "linkname": linkname, "id": ids}
    body = client.request("elink", params, check=parse_elink, post=len(ids) > GET_MAX_IDS)
    out = {i: [] for i in ids}
    for ls in parse_elink(body):
        for i in ls.ids:
            out.setdefault(i, []).extend(ls.links.get(linkname, []))
    return out
