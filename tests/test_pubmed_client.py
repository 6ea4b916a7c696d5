"""E-utilities client against a local fake server (tests/eutils_server.py) with faults."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from eutils_server import (  # tests/ is on sys.path (rootdir-relative, no package)
    FakeEutils,
    articles_doc,
)

from evidence.errors import EvidenceError
from evidence.pubmed import eutils
from evidence.pubmed.cache import CorruptEntry, ResponseCache
from evidence.pubmed.client import LIMITER, EutilsClient, FetchError, RateLimiter

IDS = [str(i) for i in range(1000, 1450)]  # 3 batches of <= 200
KEY = "SECRET-API-KEY-0123456789"


class FakeClock:
    """Virtual time for the limiter and the backoff: nothing really sleeps."""

    def __init__(self):
        self.t = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, d: float) -> None:
        self.sleeps.append(d)
        self.t += d


def client(srv, cache_dir=None, *, api_key=None, offline=False, clock=None, **kw):
    clock = clock or FakeClock()
    return EutilsClient("tester@example.org", api_key, url=srv.url if srv else "http://127.0.0.1:9/",
                        cache=ResponseCache(cache_dir) if cache_dir else None, offline=offline,
                        timeout=kw.pop("timeout", 0.25), backoff_base=kw.pop("backoff_base", 0.01),
                        limiter=kw.pop("limiter", RateLimiter(clock, clock.sleep)),
                        sleep=kw.pop("sleep", clock.sleep), **kw)


def as_dicts(records: dict) -> dict:
    return {k: v.to_dict() for k, v in records.items()}


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    with FakeEutils(IDS) as srv:
        recs = eutils.fetch_records(client(srv, tmp_path_factory.mktemp("clean")), IDS)
    assert len(recs) == 450
    return as_dicts(recs)


def test_faults_yield_exactly_the_clean_records_and_cache_only_good(tmp_path, clean):
    cache = tmp_path / "cache"
    with FakeEutils(IDS) as srv:
        srv.schedule("efetch", "429", "500", None, "timeout", "truncate", None,
                     "error_xml", "error_json", "reset", "cut")
        c = client(srv, cache, api_key=KEY)
        got = eutils.fetch_records(c, IDS)
        assert srv.faults == []  # every fault was served
        assert len(srv.requests("efetch")) == 3 + 8
    assert as_dicts(got) == clean
    entries = ResponseCache(cache).entries()
    assert len(entries) == 3  # one per batch, no bad answer kept
    rc = ResponseCache(cache)
    for meta in entries:
        assert len(eutils.parse_articles(rc.get(meta.stem))) in (200, 50)
    for f in cache.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            assert KEY.encode() not in data and b"tester@example.org" not in data


def test_backoff_is_exponential_with_jitter(tmp_path):
    clock = FakeClock()
    with FakeEutils(IDS[:5]) as srv:
        srv.schedule("efetch", "500", "500", "500", "500")
        c = client(srv, clock=clock, backoff_base=1.0, rng=lambda: 0.5)
        eutils.fetch_records(c, IDS[:5])
    backoffs = [s for s in clock.sleeps if s >= 0.5]  # limiter waits are 1/3 s
    assert backoffs == [0.75, 1.5, 3.0, 6.0]  # d/2 + 0.5*d/2 with d = 1, 2, 4, 8


def test_retry_after_is_honoured():
    clock = FakeClock()
    with FakeEutils(IDS[:2]) as srv:
        srv.schedule("efetch", "429-retry-after")
        eutils.fetch_records(client(srv, clock=clock, backoff_base=0.01), IDS[:2])
    assert 2.0 in clock.sleeps and len(srv.log) == 2


def test_give_up_lists_missing_ids_then_resume_skips_cached_batches(tmp_path):
    cache = tmp_path / "cache"
    with FakeEutils(IDS) as srv:
        srv.schedule("efetch", None, "500", "500", "500")
        with pytest.raises(FetchError) as err:
            eutils.fetch_records(client(srv, cache, max_tries=3), IDS)
        assert err.value.missing == IDS[200:400]  # the failed batch; the next one still fetched
        assert "200 ids still missing: 1200, 1201" in str(err.value)
        n_before = len(srv.requests("efetch"))
        got = eutils.fetch_records(client(srv, cache), IDS)
        resumed = srv.requests("efetch")[n_before:]
    assert len(got) == 450
    firsts = [r["params"]["id"][0].split(",")[0] for r in resumed]
    assert firsts == ["1200"]  # the cached first and third batches were not asked again


def test_offline_replays_cache_and_explains_a_miss(tmp_path, clean):
    cache = tmp_path / "cache"
    with FakeEutils(IDS) as srv:
        eutils.fetch_records(client(srv, cache), IDS)
        n = len(srv.log)
        replay = eutils.fetch_records(client(srv, cache, offline=True), IDS)
        assert len(srv.log) == n  # nothing sent
    assert as_dicts(replay) == clean
    with pytest.raises(EvidenceError) as err:
        eutils.fetch_records(client(None, cache, offline=True), ["99999"])
    msg = str(err.value)
    assert "not in the PubMed cache" in msg and "id=99999" in msg
    assert "evidence fetch --live" in msg and "NCBI_EMAIL" in msg


def test_corrupt_cache_entry_detected(tmp_path):
    cache = tmp_path / "cache"
    with FakeEutils(IDS[:3]) as srv:
        eutils.fetch_records(client(srv, cache), IDS[:3])
        (body,) = cache.rglob("*.body")
        body.write_bytes(body.read_bytes().replace(b"Synthetic", b"Tampered!"))
        with pytest.raises(CorruptEntry, match="checksum"):
            eutils.fetch_records(client(srv, cache, offline=True), IDS[:3])
        got = eutils.fetch_records(client(srv, cache), IDS[:3])  # online: fetched again
    assert got["1000"].title.startswith("Synthetic record 1000")
    assert b"Tampered" not in body.read_bytes()


def test_more_than_200_ids_go_by_post_and_200_by_get(tmp_path):
    ids = [str(i) for i in range(5000, 5250)]
    with FakeEutils(ids) as srv:
        got = eutils.fetch_records(client(srv), ids, batch_size=250)
        small = eutils.fetch_records(client(srv), ids[:200])
        methods = [(r["method"], len(r["params"]["id"][0].split(","))) for r in srv.log]
    assert len(got) == 250 and len(small) == 200
    assert methods == [("POST", 250), ("GET", 200)]


def test_long_lists_use_epost_and_history_and_resume_from_cache(tmp_path):
    ids = [str(i) for i in range(20000, 21200)]
    cache = tmp_path / "cache"
    with FakeEutils(ids) as srv:
        got = eutils.fetch_records(client(srv, cache), ids, batch_size=500)
        log = [(r["method"], r["endpoint"], r["params"].get("retstart", ["-"])[0]) for r in srv.log]
        assert log == [("POST", "epost", "-"), ("GET", "efetch", "0"), ("GET", "efetch", "500"),
                       ("GET", "efetch", "1000")]
        again = eutils.fetch_records(client(srv, cache), ids, batch_size=500)
        assert len(srv.log) == 4  # all batches cached: no epost, no efetch
    assert len(got) == 1200 and as_dicts(again) == as_dicts(got)


def test_search_beyond_cap_is_split_by_date():
    start = dt.date(2000, 1, 1)
    corpus = [(str(100000 + i), start + dt.timedelta(days=i % 4000)) for i in range(12000)]
    with FakeEutils(search_corpus=corpus) as srv:
        ids = eutils.search(client(srv), "massage[tiab]", mindate=start,
                            maxdate=dt.date(2010, 12, 31))
        calls = srv.requests("esearch")
    assert ids == sorted((p for p, _ in corpus), key=int)
    assert len(calls) == 3  # whole range (12000 hits) then two halves under the cap
    assert all(c["params"]["usehistory"] == ["y"] for c in calls)
    # halves of 2000-01-01..2010-12-31 (4017 days): contiguous, no day lost or counted twice
    assert [(c["params"]["mindate"][0], c["params"]["maxdate"][0]) for c in calls[1:]] == [
        ("2000/01/01", "2005/07/01"), ("2005/07/02", "2010/12/31")]


def test_elink_pubmed_pmc():
    with FakeEutils() as srv:
        links = eutils.elink(client(srv), ["1001", "1000"])
        (req,) = srv.requests("elink")
    assert links == {"1000": ["1007"], "1001": []}
    assert req["params"]["id"] == ["1000", "1001"] and req["params"]["linkname"] == ["pubmed_pmc"]


def _gaps(times):
    return [b - a for a, b in zip(times, times[1:], strict=False)]


@pytest.mark.parametrize(("api_key", "n", "rate"), [(None, 5, 3.0), (KEY, 12, 10.0)])
def test_rate_limit_real_clock(api_key, n, rate):
    """Server-side arrival times: never faster than 3/s (10/s with a key), across threads."""
    limiter = RateLimiter()
    with FakeEutils() as srv:
        def work(k):
            c = EutilsClient("tester@example.org", api_key, url=srv.url, limiter=limiter)
            for i in range(k):
                eutils.elink(c, [str(1000 + i)])

        threads = [threading.Thread(target=work, args=(n // 3 + (i < n % 3),)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        times = sorted(r["t"] for r in srv.log)
    assert len(times) == n
    assert min(_gaps(times)) >= 0.9 / rate
    assert max(sum(1 for u in times if t <= u < t + 0.99) for t in times) <= rate


def test_one_process_wide_limiter():
    assert EutilsClient("a@b.org").limiter is LIMITER
    assert EutilsClient("a@b.org").rate == 3.0 and EutilsClient("a@b.org", "k").rate == 10.0


def test_no_email_no_request(tmp_path):
    with pytest.raises(EvidenceError, match="NCBI_EMAIL"):
        EutilsClient(None, url="http://127.0.0.1:9/").request("efetch", {"id": "1"})


def test_unparseable_kinds_are_not_retried(tmp_path):
    book = ("<PubmedBookArticle><BookDocument><PMID Version=\"1\">1000</PMID></BookDocument>"
            "</PubmedBookArticle>")
    with FakeEutils(["1000"]) as srv:
        srv.override["1000"] = book
        with pytest.raises(EvidenceError, match="PubmedBookArticle"):
            eutils.fetch_records(client(srv, tmp_path), ["1000"])
        assert len(srv.requests("efetch")) == 1
    assert ResponseCache(tmp_path).entries() == []


PMC_SET = ('<?xml version="1.0"?><pmc-articleset>{}</pmc-articleset>')
PMC_ART = ('<article><front><article-meta><article-id pub-id-type="pmc">{}</article-id>'
           '</article-meta></front></article>')


def _pmcids(body: bytes) -> list[str]:
    from evidence.pubmed.parser import parse_xml

    return [e.text for e in parse_xml(body).iterfind(".//article-id[@pub-id-type='pmc']")]


def test_cache_rule_is_the_callers_root_and_ids(tmp_path):
    """Another database (PMC full text): the caller names the root and how to find its ids."""
    from evidence.pubmed.client import Expected, IncompleteAnswer

    cache = ResponseCache(tmp_path)
    params = {"db": "pmc", "id": "PMC1,PMC2", "retmode": "xml"}
    expect = Expected("pmc-articleset", ("PMC1", "PMC2"), ids_of=_pmcids)
    checked = []
    with FakeEutils() as srv:
        srv.fixed["efetch"] = PMC_SET.format(PMC_ART.format("PMC1")).encode()
        c = client(srv, tmp_path)
        with pytest.raises(IncompleteAnswer) as err:
            c.request("efetch", params, expect=expect, check=checked.append)
        assert err.value.missing == ["PMC2"] and err.value.held == ["PMC1"]
        assert cache.entries() == []  # lacking an id: not cached
        srv.fixed["efetch"] = articles_doc(["1000"])  # a good answer, of the wrong database
        with pytest.raises(FetchError, match="expected a <pmc-articleset> answer"):
            client(srv, tmp_path, max_tries=2).request("efetch", params, expect=expect)
        assert cache.entries() == []
        good = PMC_SET.format(PMC_ART.format("PMC1") + PMC_ART.format("PMC2")).encode()
        srv.fixed["efetch"] = good
        assert c.request("efetch", params, expect=expect, check=checked.append) == good
        n = len(srv.log)
        assert c.request("efetch", params, expect=expect, check=checked.append) == good
        assert len(srv.log) == n  # replayed from the cache, after checking it again
    assert checked == [good, good]  # the caller's own check ran on the answer and the replay
    assert len(cache.entries()) == 1
