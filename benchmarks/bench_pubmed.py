"""PubMed benchmark (reported, not a timed test).

1. Parse throughput on one efetch file of N PubmedArticle records (default
   20,000), built in a temp dir by repeating NCBI's sample records
   (../shared/ncbi-samples) or, where absent, our synthetic test records:
   our streaming parser vs ``Bio.Entrez.read`` vs a bare lxml iterparse that
   only walks and frees the same elements.
2. Requests needed to fetch 5,000 PMIDs: epost + batched efetch, counted on
   the local fake server (tests/eutils_server.py), vs one request per id.

Goals: >= 5x faster than Bio.Entrez.read, within 2x of bare lxml.
Run: ``.venv/bin/python benchmarks/bench_pubmed.py [--records N] [--repeat R]``
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import tempfile
import time
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the fake server lives with the tests

from eutils_server import HEAD, FakeEutils, article_xml  # noqa: E402

from evidence.paths import SHARED  # noqa: E402
from evidence.pubmed.client import EutilsClient, RateLimiter  # noqa: E402
from evidence.pubmed.eutils import fetch_records  # noqa: E402
from evidence.pubmed.parser import iter_articles  # noqa: E402

SAMPLES = SHARED / "ncbi-samples"


def sample_articles() -> tuple[list[bytes], str]:
    files = sorted(SAMPLES.glob("pubmed*.xml")) if SAMPLES.is_dir() else []
    if files:
        arts = []
        for f in files:
            root = etree.parse(str(f), etree.XMLParser(load_dtd=False, no_network=True)).getroot()
            arts += [etree.tostring(a) for a in root.iter("PubmedArticle")]
        return arts, f"{len(arts)} NCBI sample records ({SAMPLES})"
    return [article_xml(str(1000 + i)).encode() for i in range(8)], "8 synthetic test records"


def build_file(path: Path, n: int) -> str:
    arts, what = sample_articles()
    with path.open("wb") as fh:
        fh.write(HEAD.encode() + b"<PubmedArticleSet>\n")
        for i in range(n):
            fh.write(arts[i % len(arts)] + b"\n")
        fh.write(b"</PubmedArticleSet>\n")
    return what


def ours(path: Path) -> int:
    return sum(1 for _ in iter_articles(path))


def bio_read(path: Path) -> int:
    from Bio import Entrez

    with path.open("rb") as fh:
        return len(Entrez.read(fh)["PubmedArticle"])


def bare_lxml(path: Path) -> int:
    n = 0
    for _ev, el in etree.iterparse(str(path), events=("end",), tag="PubmedArticle",
                                   resolve_entities=False, no_network=True, load_dtd=False):
        n += 1
        el.clear(keep_tail=False)
        while el.getprevious() is not None:
            del el.getparent()[0]
    return n


def best_of(fn, path: Path, repeat: int) -> tuple[float, int]:
    times, count = [], 0
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        count = fn(path)
        times.append(time.perf_counter() - t)
    return min(times), count


def request_counts(n_ids: int = 5000) -> dict[str, int]:
    ids = [str(30000000 + i) for i in range(n_ids)]
    out = {}
    for batch in (200, 500):
        with FakeEutils(ids) as srv:
            clock = _Clock()
            c = EutilsClient("bench@example.org", url=srv.url, limiter=RateLimiter(clock, clock.sleep))
            got = fetch_records(c, ids, batch_size=batch)
            assert len(got) == n_ids
            out[f"epost + efetch ({batch} per batch)"] = len(srv.log)
    out["one efetch per id"] = n_ids
    return out


class _Clock:
    """Virtual time: the benchmark counts requests, it does not wait for the rate limit."""

    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t

    def sleep(self, d):
        self.t += d


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3, help="best of R runs (Bio.Entrez: 1 run)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "efetch.xml"
        what = build_file(path, args.records)
        print(f"file: {args.records} records from {what}, {path.stat().st_size / 1e6:.0f} MB")
        t_ours, n1 = best_of(ours, path, args.repeat)
        t_lxml, n2 = best_of(bare_lxml, path, args.repeat)
        t_bio, n3 = best_of(bio_read, path, 1)
        assert n1 == n2 == n3 == args.records, (n1, n2, n3)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"ours (evidence.pubmed.parser.iter_articles): {t_ours:7.2f} s  "
          f"{args.records / t_ours:8.0f} records/s")
    print(f"bare lxml iterparse (walk and free only):    {t_lxml:7.2f} s  "
          f"{args.records / t_lxml:8.0f} records/s")
    print(f"Bio.Entrez.read:                             {t_bio:7.2f} s  "
          f"{args.records / t_bio:8.0f} records/s")
    print(f"speed-up vs Bio.Entrez.read: {t_bio / t_ours:.1f}x (goal >= 5x)")
    print(f"cost vs bare lxml:           {t_ours / t_lxml:.2f}x (goal <= 2x)")
    print(f"peak RSS of this process: {rss:.0f} MB (Bio.Entrez.read holds the whole file)")
    print("requests to fetch 5,000 PMIDs:")
    for k, v in request_counts().items():
        print(f"  {k}: {v} requests, {v / 3:.0f} s at NCBI's 3 requests/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
