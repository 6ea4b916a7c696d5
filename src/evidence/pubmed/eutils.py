"""E-utilities operations on top of the client: esearch (history server, split by
date beyond the 9,999-id cap), epost, batched efetch (resumable, complete), elink."""

from __future__ import annotations

import datetime as dt
import hashlib

from tqdm import tqdm

from evidence.errors import EvidenceError
from evidence.pubmed.client import EutilsClient, Expected, FetchError, IncompleteAnswer
from evidence.pubmed.parser import (
    ARTICLE_SET,
    PostResult,
    PubmedRecord,
    SearchResult,
    iter_articles,
    parse_articles,
    parse_elink,
    parse_epost,
    parse_esearch,
)
from evidence.pubmed.record import valid_pmid

SEARCH_CAP = 9999  # esearch returns at most this many ids for one query
GET_MAX_IDS = 200  # above this many ids a request goes by POST
HISTORY_THRESHOLD = 1000  # id lists longer than this go through epost + history efetch
ASK_ROUNDS = 3  # a PMID absent from this many answers in a row is reported as missing


def _pmids_of(body: bytes) -> list[str]:
    return [r.pmid for r in iter_articles(body)]


def pubmed_expected(ids=()) -> Expected:
    """A good efetch db=pubmed answer: a PubmedArticleSet holding every id in ``ids``."""
    return Expected(ARTICLE_SET, tuple(ids), ids_of=_pmids_of)


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
        return _normalise(res.ids)
    if lo >= hi:
        raise EvidenceError(f"esearch {term!r}: {res.count} hits on the single day {lo}, "
                            f"over the {cap}-id cap; narrow the query")
    mid = lo + (hi - lo) // 2
    ids = search(client, term, mindate=lo, maxdate=mid, cap=cap)
    ids += search(client, term, mindate=mid + dt.timedelta(days=1), maxdate=hi, cap=cap)
    return _normalise(ids)


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
    raw = {str(p).strip(" \t\r\n") for p in pmids}
    bad = sorted(p for p in raw if not valid_pmid(p))
    if bad:
        raise EvidenceError(f"not PMIDs (1-8 ASCII digits, no leading zero): "
                            f"{', '.join(repr(p) for p in bad[:10])}")
    return sorted(raw, key=int)


def _id_params(ids: list[str]) -> dict:
    return {"db": "pubmed", "id": ",".join(ids), "retmode": "xml"}


def fetch_records(client: EutilsClient, pmids, *, batch_size: int = GET_MAX_IDS,
                  history_threshold: int = HISTORY_THRESHOLD, progress: bool = False
                  ) -> dict[str, PubmedRecord]:
    """PubmedRecords for ``pmids`` by efetch; PMIDs NCBI has no record of are left out.

    Answers cached by earlier runs are used first (each checked again), so an
    interrupted or poisoned run resumes with requests for only what is
    missing. An answer lacking ids is never cached for the ids it lacks: the
    part it holds is cached as the answer for those ids, and the rest is
    asked again, up to ASK_ROUNDS answers in all. Long lists go through epost
    and the history server. A batch that fails after every retry does not
    stop the others; a FetchError then lists the ids still missing.
    """
    ids = _normalise(pmids)
    out: dict[str, PubmedRecord] = {}
    _from_cache(client, ids, out)
    pending = [p for p in ids if p not in out]
    failures: list[str] = []
    if len(pending) > history_threshold:
        failures += _fetch_history(client, pending, batch_size, out, progress)
        pending = [p for p in pending if p not in out]
    for _round in range(ASK_ROUNDS):
        if not pending:
            break
        lacking: list[str] = []
        batches = [pending[i:i + batch_size] for i in range(0, len(pending), batch_size)]
        for batch in tqdm(batches, desc="efetch", unit="batch", disable=not progress or None,
                          leave=False):
            try:
                body = client.request("efetch", _id_params(batch), expect=pubmed_expected(batch),
                                      post=len(batch) > GET_MAX_IDS)
            except IncompleteAnswer as inc:
                body, lacking = inc.body, lacking + inc.missing
                if inc.held:
                    client.store("efetch", _id_params(inc.held), body,
                                 expect=pubmed_expected(inc.held),
                                 note=f"the part held of an answer lacking {len(inc.missing)} ids")
            except FetchError as exc:
                failures.append(str(exc))
                continue
            for rec in parse_articles(body):
                out[rec.pmid] = rec
        pending = lacking
    missing = [p for p in ids if p not in out]
    if failures:
        raise FetchError(f"{len(failures)} efetch request(s) failed ({failures[0]})", missing)
    return out


def _from_cache(client: EutilsClient, ids: list[str], out: dict) -> None:
    """Records from cached id-list answers that hold only wanted ids, each checked again.

    A bad entry is dropped (its ids are asked for again); one lacking ids,
    left by an older version, is replaced by the part it holds.
    """
    wanted = set(ids)
    for params in sorted(client.cached_params("efetch"), key=lambda p: p.get("id", "")):
        if set(params) != {"db", "id", "retmode"} or params["db"] != "pubmed" \
                or params["retmode"] != "xml":
            continue
        got = params["id"].split(",")
        if not set(got) <= wanted or any(p in out for p in got):
            continue
        try:
            body = client.cached("efetch", _id_params(got), expect=pubmed_expected(got))
        except IncompleteAnswer as inc:
            body = inc.body
            if inc.held:
                client.store("efetch", _id_params(inc.held), body,
                             expect=pubmed_expected(inc.held),
                             note=f"the part held of a cached answer lacking {len(inc.missing)} ids")
        if body is None:
            continue
        for rec in parse_articles(body):
            out[rec.pmid] = rec


def _fetch_history(client: EutilsClient, ids: list[str], batch_size: int, out: dict,
                   progress: bool) -> list[str]:
    """epost + efetch by retstart; batches are checked for their root (the history server's
    order is its own, so ids are checked overall: the caller asks again for any not obtained)."""
    digest = hashlib.sha256(",".join(ids).encode()).hexdigest()
    post_result: PostResult | None = None
    failures = []
    batches = range(0, len(ids), batch_size)
    for start in tqdm(batches, desc="efetch", unit="batch", disable=not progress or None,
                      leave=False):
        key_params = {"db": "pubmed", "retmode": "xml", "ids_sha256": digest,
                      "retstart": str(start), "retmax": str(batch_size)}
        try:
            if post_result is None and not _cached(client, "efetch", key_params):
                post_result = epost(client, ids)
            params = key_params if post_result is None else {
                "db": "pubmed", "retmode": "xml", "query_key": post_result.query_key,
                "WebEnv": post_result.webenv, "retstart": str(start), "retmax": str(batch_size)}
            body = client.request("efetch", params, expect=pubmed_expected(),
                                  check=parse_articles, key_params=key_params)
        except FetchError as exc:
            failures.append(str(exc))
            continue
        for rec in parse_articles(body):
            if rec.pmid in ids:
                out[rec.pmid] = rec
    return failures


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
