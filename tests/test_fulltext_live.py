"""The live path, against a fake PMC E-utilities server on 127.0.0.1 (tests/pmc_server.py):
faults survived, only good answers cached, metadata-only answers recorded."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pmc_server import FakePMC, article_element

from evidence.fulltext.fetch import checker, efetch_params, fetch_one, read_provenance
from evidence.fulltext.jats import iter_cells, parse_document
from evidence.pubmed.cache import ResponseCache, request_key
from evidence.pubmed.client import EutilsClient, FetchError, RateLimiter

FIX = Path(__file__).parent / "fixtures" / "fulltext"
REAL = {"PMC2329613": "1472-6831-8-11.nxml", "PMC3585041": "pntd.0002065.nxml",
        "PMC3460867": "pone.0046493.nxml"}


class Clock:
    def __init__(self):
        self.t, self.sleeps = 0.0, []

    def __call__(self):
        return self.t

    def sleep(self, d):
        self.sleeps.append(d)
        self.t += d


@pytest.fixture(scope="module")
def articles():
    return {p: article_element((FIX / f).read_bytes()) for p, f in REAL.items()}


def client(srv, cache_dir):
    clock = Clock()
    return EutilsClient("tester@example.org", None, url=srv.url, cache=ResponseCache(cache_dir),
                        timeout=0.5, backoff_base=0.01, max_tries=8, limiter=RateLimiter(clock, clock.sleep),
                        sleep=clock.sleep)


def test_faults_are_survived_and_only_the_good_answer_is_cached(tmp_path, articles):
    out, cache = tmp_path / "fulltext", tmp_path / "cache"
    with FakePMC(articles) as srv:
        srv.schedule("efetch", "429", "500", "truncate", "cut", "reset", "error_xml")
        row = fetch_one(client(srv, cache), "PMC3585041", out, "2026-12-01")
        sent = srv.requests("efetch")
    assert len(sent) == 7  # six faults, then the good answer
    q = sent[-1]["params"]
    assert q["db"] == ["pmc"] and q["id"] == ["3585041"] and q["tool"] == ["evidence"]
    assert q["email"] == ["tester@example.org"]
    body = (out / "PMC3585041.xml").read_bytes()
    checker("PMC3585041")(body)
    entries = ResponseCache(cache).entries()
    assert len(entries) == 1
    assert ResponseCache(cache).get(request_key("efetch", efetch_params("PMC3585041"))) == body
    cells = list(iter_cells(parse_document(body)))
    assert row["content"] == "full text" and row["cells"] == len(cells) == 362
    assert row["request"].endswith("efetch.fcgi?db=pmc&id=3585041&retmode=xml")
    assert "email" not in row["request"]


def test_metadata_only_answer_is_kept_and_recorded(tmp_path, articles):
    with FakePMC(articles, metadata_only={"PMC2329613"}) as srv:
        row = fetch_one(client(srv, tmp_path / "c"), "PMC2329613", tmp_path, "2026-12-01")
    assert row["content"].startswith("metadata only")
    assert (row["tables"], row["cells"]) == (0, 0)
    assert b"<body>" not in (tmp_path / "PMC2329613.xml").read_bytes()


def test_an_answer_without_the_requested_article_is_never_cached(tmp_path, articles):
    cache = tmp_path / "c"
    with FakePMC(articles) as srv:
        with pytest.raises(FetchError, match="does not hold PMC1111"):
            fetch_one(client(srv, cache), "PMC1111", tmp_path, "2026-12-01")
        # an answer holding another article than the one asked for
        srv.articles["PMC2222"] = articles["PMC3460867"]
        with pytest.raises(FetchError, match="does not hold PMC2222"):
            fetch_one(client(srv, cache), "PMC2222", tmp_path, "2026-12-01")
    assert ResponseCache(cache).entries() == []
    assert not list(tmp_path.glob("PMC*.xml"))


def test_checker_refuses_another_root():
    with pytest.raises(Exception, match="expected <pmc-articleset>"):
        checker("PMC1")(b"<PubmedArticleSet/>")


def run_cli(root: Path, *args: str, url: str | None = None, email: str | None = "t@example.org"):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NCBI_", "EVIDENCE_"))}
    env["EVIDENCE_ROOT"] = str(root)
    if not (root / "evidence.toml").exists():  # a minimal case folder
        (root / "evidence.toml").write_text('[case]\ntitle = "test"\n')
    if url:
        env["EVIDENCE_EUTILS_URL"] = url
    if email:
        env["NCBI_EMAIL"] = email
    return subprocess.run([sys.executable, "-m", "evidence", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def write_studies(root: Path, rows):
    ext = root / "data" / "extraction"
    ext.mkdir(parents=True, exist_ok=True)
    with open(ext / "studies.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["study_id", "pmid", "pmcid", "first_author"])
        w.writerows(rows)


def test_cli_live_then_offline(tmp_path, articles):
    write_studies(tmp_path, [["a", "1", "PMC3585041", "A"], ["b", "2", "PMC2329613", "B"],
                             ["c", "3", "", "C"]])
    with FakePMC(articles, metadata_only={"PMC2329613"}) as srv:
        res = run_cli(tmp_path, "fulltext", "--live", url=srv.url)
        n_sent = len(srv.requests("efetch"))
        assert res.returncode == 0, res.stderr
        again = run_cli(tmp_path, "fulltext", "--live", url=srv.url)
        n_again = len(srv.requests("efetch")) - n_sent
    assert again.returncode == 0, again.stderr
    assert n_sent == 2 and n_again == 0  # the same day's run replays the shared cache
    (day,) = (tmp_path / "data" / "pubmed" / "cache").iterdir()
    assert len(ResponseCache(day).entries()) == 2
    ft = tmp_path / "data" / "fulltext"
    assert sorted(p.name for p in ft.glob("*.xml")) == ["PMC2329613.xml", "PMC3585041.xml"]
    prov = read_provenance(ft / "provenance.csv")
    assert prov["PMC2329613"]["content"].startswith("metadata only")
    assert prov["PMC3585041"]["content"] == "full text"
    tables = (ft / "tables.csv").read_bytes()
    rows = list(csv.DictReader(open(ft / "tables.csv", encoding="utf-8")))
    assert len(rows) == 362 and {r["pmcid"] for r in rows} == {"PMC3585041"}
    # offline (the default) rebuilds the same table from the files, with no server at all
    os.remove(ft / "tables.csv")
    res = run_cli(tmp_path, "fulltext", url="http://127.0.0.1:9/", email=None)
    assert res.returncode == 0, res.stderr
    assert (ft / "tables.csv").read_bytes() == tables
    assert "metadata only" in res.stdout and "PMC2329613" in res.stdout
    # a broken file: one clear error naming it, tables.csv left as it was
    (ft / "PMC999.xml").write_bytes(b"<pmc-articleset><article><body><table><tr>")
    res = run_cli(tmp_path, "fulltext", email=None)
    assert res.returncode == 1 and "PMC999.xml" in res.stderr and "malformed" in res.stderr
    assert (ft / "tables.csv").read_bytes() == tables


def test_cli_live_needs_an_email_and_offline_says_what_is_missing(tmp_path):
    write_studies(tmp_path, [["a", "1", "PMC3585041", "A"]])
    res = run_cli(tmp_path, "fulltext", "--live", email=None)
    assert res.returncode == 1 and "needs your email" in res.stderr
    res = run_cli(tmp_path, "fulltext", email=None)
    assert res.returncode == 1 and "no full text" in res.stderr and "--live" in res.stderr
    assert not (tmp_path / "data" / "fulltext" / "tables.csv").exists()
