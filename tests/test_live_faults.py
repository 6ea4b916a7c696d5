"""Live-fetch fault suite against the loopback E-utilities stand-in (tests/eutils_server.py).

Every scenario of issue 17 (429, 500, reset, truncation, stall, dribble, XHTML
page, missing ids, JSON rate-limit error, Retry-After as seconds and as a
date, concurrent processes) must end with the records of a clean run, only
good answers in the cache, and a counted number of requests; a rerun after a
poisoned answer must ask only for what is missing. Backoff and in-process
rate waits run on a virtual clock; deadlines and the cross-process limiter on
the real one, with bounded waits.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from eutils_server import XHTML_503, FakeEutils

from evidence.errors import EvidenceError
from evidence.pubmed import eutils
from evidence.pubmed.cache import ResponseCache, request_key
from evidence.pubmed.client import (
    EutilsClient,
    FetchError,
    FileRateLimiter,
    RateLimiter,
    retry_after_seconds,
)

IDS = [str(i) for i in range(1000, 1006)]  # one batch
BIG = [str(i) for i in range(1000, 1450)]  # three batches: 1000-1199, 1200-1399, 1400-1449
KEY = "SECRET-API-KEY-0123456789"


class FakeClock:
    def __init__(self):
        self.t, self.sleeps = 0.0, []

    def __call__(self) -> float:
        return self.t

    def sleep(self, d: float) -> None:
        self.sleeps.append(d)
        self.t += d


def client(srv, cache=None, *, clock=None, **kw) -> EutilsClient:
    clock = clock or FakeClock()
    return EutilsClient("tester@example.org", kw.pop("api_key", None), url=srv.url,
                        cache=ResponseCache(cache) if cache else None,
                        timeout=kw.pop("timeout", 0.3), deadline=kw.pop("deadline", 0.8),
                        backoff_base=0.01, backoff_max=kw.pop("backoff_max", 30.0),
                        limiter=RateLimiter(clock, clock.sleep), sleep=clock.sleep, **kw)


def dicts(recs: dict) -> dict:
    return {k: v.to_dict() for k, v in recs.items()}


@pytest.fixture(scope="module")
def clean():
    with FakeEutils(BIG) as srv:
        return dicts(eutils.fetch_records(client(srv), BIG))


def only_good_entries(cache: Path, ids_per_entry: list[list[str]] | None = None) -> list[list[str]]:
    """Every cache entry is a PubmedArticleSet holding exactly the ids its request names."""
    rc, held = ResponseCache(cache), []
    for meta in rc.metas():
        asked = meta["params"]["id"].split(",")
        body = rc.get(request_key("efetch", meta["params"]))
        assert [r.pmid for r in eutils.parse_articles(body)] == asked
        assert XHTML_503 not in body and KEY.encode() not in body
        held.append(asked)
    if ids_per_entry is not None:
        assert sorted(held) == sorted(ids_per_entry)
    return held


SCENARIOS = {  # fault -> what it stands for
    "429": "HTTP 429 without Retry-After",
    "500": "HTTP 500",
    "reset": "TCP reset before any answer",
    "truncate": "Content-Length larger than the body sent",
    "cut": "200 OK, XML cut short",
    "stall": "no answer within the socket timeout",
    "dribble": "body a few bytes at a time, never idle for a socket timeout",
    "dribble_headers": "status line and headers dribbled",
    "xhtml503": "200 OK, well-formed XHTML '503 Service Unavailable' page",
    "error_json": "200 OK, NCBI's JSON 'API rate limit exceeded'",
    "error_xml": "200 OK, <eFetchResult><ERROR>",
    "429-retry-after": "429 with Retry-After: 2 (delta-seconds)",
    "429-retry-date": "429 with Retry-After as an HTTP-date 2 s ahead",
    "429-retry-huge": "429 with Retry-After: 86400 (bounded by backoff_max)",
}


@pytest.mark.parametrize("fault", list(SCENARIOS))
def test_one_fault_then_clean_records_and_only_good_cache(fault, tmp_path, clean):
    clock = FakeClock()
    with FakeEutils(IDS, timeout_sleep=0.6, dribble_step=0.05, dribble_bytes=64) as srv:
        srv.schedule("efetch", fault)
        t0 = time.monotonic()
        got = eutils.fetch_records(client(srv, tmp_path, clock=clock, api_key=KEY), IDS)
        elapsed = time.monotonic() - t0
        assert srv.faults == []
        reqs = srv.requests("efetch")
    assert dicts(got) == {p: clean[p] for p in IDS}
    assert len(reqs) == 2  # the fault, then one good answer
    only_good_entries(tmp_path, [IDS])
    assert elapsed < 5.0  # the dribble alone would take > 10 s: the deadline cut it
    backoff = [s for s in clock.sleeps if s > 0.2]  # limiter waits here are 0.1 s (key)
    if fault == "429-retry-after":
        assert backoff == [2.0]
    elif fault == "429-retry-date":
        assert len(backoff) == 1 and 0.9 <= backoff[0] <= 2.1  # the date has 1 s resolution
    elif fault == "429-retry-huge":
        assert backoff == [30.0]  # bounded by backoff_max


def test_missing_ids_asked_again_alone_in_the_same_run(tmp_path, clean):
    with FakeEutils(IDS) as srv:
        srv.schedule("efetch", "missing_ids")
        got = eutils.fetch_records(client(srv, tmp_path), IDS)
        asked = [r["params"]["id"][0] for r in srv.requests("efetch")]
    assert dicts(got) == {p: clean[p] for p in IDS}
    assert asked == [",".join(IDS), "1004,1005"]
    only_good_entries(tmp_path, [IDS[:4], IDS[4:]])


def test_rerun_after_xhtml_pages_fetches_only_the_failed_batch(tmp_path, clean):
    cache = tmp_path / "cache"
    with FakeEutils(BIG) as srv:
        srv.schedule("efetch", None, "xhtml503", "xhtml503")
        with pytest.raises(FetchError) as err:
            eutils.fetch_records(client(srv, cache, max_tries=2), BIG)
        assert "expected a <PubmedArticleSet> answer" in str(err.value)
        assert "503 Service Unavailable" in str(err.value)
        assert err.value.missing == BIG[200:400]
        assert len(srv.requests("efetch")) == 4  # batch 1, batch 2 twice, batch 3
        only_good_entries(cache, [BIG[:200], BIG[400:]])
        n = len(srv.log)
        got = eutils.fetch_records(client(srv, cache), BIG)
        rerun = srv.log[n:]
    assert [r["params"]["id"][0] for r in rerun] == [",".join(BIG[200:400])]
    assert dicts(got) == clean


def test_rerun_after_ids_absent_fetches_only_those(tmp_path, clean):
    cache = tmp_path / "cache"
    with FakeEutils(BIG) as srv:
        srv.known -= {"1201", "1202"}  # NCBI omits them (e.g. a record being revised)
        got = eutils.fetch_records(client(srv, cache), BIG)
        assert sorted(got, key=int) == [p for p in BIG if p not in ("1201", "1202")]
        asked = [r["params"]["id"][0] for r in srv.requests("efetch")]
        assert asked[3:] == ["1201,1202"] * (eutils.ASK_ROUNDS - 1)  # re-asked, bounded
        assert len(asked) == 3 + eutils.ASK_ROUNDS - 1
        only_good_entries(cache, [BIG[:200], [p for p in BIG[200:400] if p not in
                                              ("1201", "1202")], BIG[400:]])
        srv.known |= {"1201", "1202"}
        n = len(srv.log)
        again = eutils.fetch_records(client(srv, cache), BIG)
        rerun = [r["params"]["id"][0] for r in srv.log[n:]]
    assert rerun == ["1201,1202"]  # the poisoned batch was not cached: only the gap is asked
    assert dicts(again) == clean


def test_poisoned_entries_of_an_older_version_are_detected_and_refetched(tmp_path, clean):
    """Entries cached as good by the old client (an XHTML page, a set lacking ids)."""
    cache = tmp_path / "cache"
    with FakeEutils(BIG) as srv:
        eutils.fetch_records(client(srv, cache), BIG)
        rc = ResponseCache(cache)
        p2 = {"db": "pubmed", "id": ",".join(BIG[200:400]), "retmode": "xml"}
        p3 = {"db": "pubmed", "id": ",".join(BIG[400:]), "retmode": "xml"}
        rc.put(request_key("efetch", p2), "efetch", p2, XHTML_503)
        rc.put(request_key("efetch", p3), "efetch", p3, srv._article_doc(BIG[400:440]))
        with pytest.raises(EvidenceError, match="not good|lacks requested ids"):
            eutils.fetch_records(client(srv, cache, offline=True), BIG)
        n = len(srv.log)
        got = eutils.fetch_records(client(srv, cache), BIG)
        rerun = sorted(r["params"]["id"][0] for r in srv.log[n:])
    assert rerun == sorted([",".join(BIG[200:400]), ",".join(BIG[440:])])
    assert dicts(got) == clean
    only_good_entries(cache, [BIG[:200], BIG[200:400], BIG[400:440], BIG[440:]])


def test_deadline_bounds_a_dribbled_answer_even_without_retries(tmp_path):
    with FakeEutils(IDS, dribble_step=0.05, dribble_bytes=16) as srv:
        srv.schedule("efetch", "dribble")
        t0 = time.monotonic()
        with pytest.raises(FetchError, match="deadline"):
            eutils.fetch_records(client(srv, tmp_path, max_tries=1, deadline=0.5), IDS)
        assert time.monotonic() - t0 < 2.0
    assert ResponseCache(tmp_path).entries() == []


@pytest.mark.parametrize(("value", "expected"), [
    ("2", 2.0), ("0", 0.0), (" 120 ", 120.0), ("Wed, 21 Oct 2015 07:28:00 GMT", 10.0),
    ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # in the past: no extra wait
    ("1.5", None), ("-3", None), ("soon", None), ("", None), (None, None), ("２", None)])
def test_retry_after_both_forms(value, expected):
    now = 1445412470.0  # 2015-10-21 07:27:50 UTC
    assert retry_after_seconds(value, now=now) == expected


# --- concurrent processes: one rate for the user --------------------------------------------

CHILD = textwrap.dedent("""
    import sys, time
    from evidence.pubmed import eutils
    from evidence.pubmed.client import EutilsClient, FileRateLimiter, RateLimiter
    url, state, n, key, shared = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
    limiter = FileRateLimiter(state) if shared == "1" else RateLimiter()
    c = EutilsClient("tester@example.org", key or None, url=url, limiter=limiter, timeout=5)
    print("ready", flush=True)
    t0 = float(sys.stdin.readline())
    time.sleep(max(0.0, t0 - time.time()))
    for i in range(n):
        eutils.elink(c, [str(1000 + i)])
""")


def run_two_processes(srv, state: Path, n: int, key: str, shared: bool) -> list[float]:
    """Two real processes, started together, each sending ``n`` requests; arrival times."""
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, srv.url, str(state), str(n), key,
                               "1" if shared else "0"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready"
        t0 = time.time() + 0.2
        for p in procs:
            p.stdin.write(f"{t0}\n")
            p.stdin.flush()
        for p in procs:
            assert p.wait(timeout=30) == 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    return sorted(r["t"] for r in srv.log)


def window_max(times: list[float], width: float) -> int:
    return max(sum(1 for u in times if t <= u < t + width) for t in times)


@pytest.mark.parametrize(("key", "n", "rate"), [("", 4, 3.0), (KEY, 8, 10.0)])
def test_two_processes_share_one_rate(tmp_path, key, n, rate):
    with FakeEutils() as srv:
        times = run_two_processes(srv, tmp_path / ".eutils-rate", n, key, shared=True)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert len(times) == 2 * n
    assert min(gaps) >= 0.8 / rate, gaps
    assert window_max(times, 0.95) <= rate
    state = json.loads((tmp_path / ".eutils-rate").read_text())
    assert list(state) == [f"{rate:g}/s"] and KEY not in json.dumps(state)


def test_control_two_processes_with_their_own_limiters_exceed_the_rate(tmp_path):
    """What the issue measured: per-process limiters let two processes send 6 in a second."""
    with FakeEutils() as srv:
        times = run_two_processes(srv, tmp_path / "unused", 4, "", shared=False)
    assert window_max(times, 0.95) > 3


def test_file_limiter_ignores_damaged_state_and_future_times(tmp_path):
    clock = FakeClock()
    clock.t = 1000.0
    state = tmp_path / "rate"
    state.write_text("not json")
    lim = FileRateLimiter(state, clock, clock.sleep)
    lim.wait(3.0)
    assert clock.sleeps == []  # damaged file: treated as empty
    state.write_text(json.dumps({"3/s": [1000.0 + 3600]}))  # a clock stepped back an hour
    lim.wait(3.0)
    lim.wait(3.0)
    assert clock.sleeps == [pytest.approx(1 / 3)]
