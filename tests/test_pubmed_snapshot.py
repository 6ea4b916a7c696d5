"""Snapshot validation, exports and the fetch command (offline and --live against a fake
server), always on a temporary small snapshot, never on data/pubmed."""

from __future__ import annotations

import argparse
import io
import json
import sys

import pytest
from eutils_server import FakeEutils, articles_doc

from evidence.errors import DataError, EvidenceError
from evidence.pubmed import add_fetch_arguments, add_pubmed_arguments, run_fetch, run_pubmed
from evidence.pubmed.export import page_range, split_author, to_bibtex, to_ris
from evidence.pubmed.parser import parse_articles
from evidence.pubmed.record import Provenance
from evidence.pubmed.snapshot import dumps, load_snapshot

PMIDS = ["1000", "1001", "1002"]


def transcribed(pmids=PMIDS):
    """Records as a transcriber would type them: bibliographic fields, no abstract."""
    recs = parse_articles(articles_doc(pmids))
    for r in recs:
        r.abstract = []
        r.provenance = Provenance("transcribed", "2025-01-02",
                                  f"https://pubmed.ncbi.nlm.nih.gov/{r.pmid}/", "test record")
    recs[1].title = "Synthetic record 1001 on massage (typo)"
    return recs


@pytest.fixture
def ws(tmp_path):
    """A workspace: snapshot, studies.csv, derived dir, cache dir."""
    snap = tmp_path / "records.jsonl"
    snap.write_text(dumps(reversed(transcribed())), encoding="utf-8")  # dumps sorts
    studies = tmp_path / "studies.csv"
    studies.write_text("study_id,pmid,design\nfake1000,1000,RCT\nweb,,web page\n")
    return tmp_path


def fetch_args(ws, *extra):
    p = argparse.ArgumentParser()
    add_fetch_arguments(p)
    return p.parse_args([*extra, "--snapshot", str(ws / "records.jsonl"), "--studies",
                         str(ws / "studies.csv"), "--derived", str(ws / "derived"),
                         "--cache", str(ws / "cache")])


def lines(ws):
    return (ws / "records.jsonl").read_text(encoding="utf-8").splitlines()


def test_roundtrip_is_deterministic(ws):
    text = (ws / "records.jsonl").read_text(encoding="utf-8")
    assert text.endswith("\n") and dumps(load_snapshot(ws / "records.jsonl")) == text
    assert [json.loads(x)["pmid"] for x in lines(ws)] == PMIDS
    assert list(json.loads(lines(ws)[0])) == ["pmid", "title", "authors", "journal",
                                              "journal_abbrev", "year", "volume", "issue", "pages",
                                              "doi", "pmcid", "publication_types", "mesh",
                                              "abstract", "provenance"]


def _edit(d, path, value):
    *head, last = path.split(".")
    for k in head:
        d = d[k]
    if value is KeyError:
        del d[last]
    else:
        d[last] = value


@pytest.mark.parametrize(("row", "path", "value", "field", "message"), [
    (2, "provenance.method", "scraped", "provenance.method", "method must be one of"),
    (2, "abstract", [{"label": None, "text": "x"}], "abstract", "transcribed records carry no"),
    (3, "provenance.date", "2025-02-30", "provenance.date", "not a valid past date"),
    (3, "provenance.date", "2999-01-01", "provenance.date", "not a valid past date"),
    (1, "year", "2004", "year", "not a plausible year"),
    (1, "pmcid", "12345", "pmcid", "expected PMC<digits>"),
    (1, "journal", KeyError, "journal", "missing"),
    (2, "mesh", [{"descriptor": "Massage", "major": "Y", "qualifiers": []}], "mesh", "bad heading"),
    (3, "pmid", "1000", "pmid", "duplicate PMID 1000 (first on line 1)"),
    (2, "pmid", "999", "pmid", "PMIDs not sorted: 999 after 1000"),
])
def test_validation_names_line_and_field(ws, row, path, value, field, message):
    ls = lines(ws)
    d = json.loads(ls[row - 1])
    _edit(d, path, value)
    ls[row - 1] = json.dumps(d)
    (ws / "records.jsonl").write_text("\n".join(ls) + "\n")
    with pytest.raises(DataError) as err:
        load_snapshot(ws / "records.jsonl")
    assert (err.value.row, err.value.field) == (row, field)
    assert message in str(err.value) and f"row {row}" in str(err.value)


def test_bad_json_line(ws):
    (ws / "records.jsonl").write_text(lines(ws)[0] + "\n{not json\n")
    with pytest.raises(DataError, match="row 2: not JSON"):
        load_snapshot(ws / "records.jsonl")


def test_offline_fetch_checks_studies_and_writes_exports(ws, capsys):
    assert run_fetch(fetch_args(ws)) == 0
    bib = (ws / "derived" / "references.bib").read_bytes()
    ris = (ws / "derived" / "references.ris").read_bytes()
    assert run_fetch(fetch_args(ws)) == 0  # deterministic
    assert (ws / "derived" / "references.bib").read_bytes() == bib
    assert (ws / "derived" / "references.ris").read_bytes() == ris
    assert "3 records valid" in capsys.readouterr().out
    (ws / "studies.csv").write_text("study_id,pmid\nfake1000,1000\nghost,424242\n")
    with pytest.raises(DataError) as err:
        run_fetch(fetch_args(ws))
    assert (err.value.row, err.value.field) == (3, "pmid") and "424242" in str(err.value)


def test_exports_content():
    recs = transcribed()
    bib = to_bibtex(recs)
    assert bib.count("@article{") == 3
    assert "@article{Tester2000-1000," in bib
    assert "author = {Tester, A. B. and {Synthetic Trials Group}}" in bib
    assert "pages = {11--19}" in bib and "pages = {12--20}" in bib and "doi = {10.5555/synth.1000}" in bib
    ris = to_ris(recs)
    assert ris.count("TY  - JOUR\n") == 3 and ris.count("ER  - \n") == 3
    assert "AU  - Tester, A.B.\nAU  - Synthetic Trials Group\n" in ris
    assert "SP  - 11\nEP  - 19\n" in ris and "C2  - PMC1007\n" in ris
    assert split_author("De Luca F") == ("De Luca", "F.")


@pytest.mark.parametrize(("pages", "expected"), [
    ("72-6", ("72", "76")), ("369-79", ("369", "379")), ("100-108", ("100", "108")),
    ("e883-91", ("e883", "e891")), ("561753", ("561753", None)), ("S12-S19", ("S12", "S19")),
    ("xi-xv", ("xi", "xv")), ("1, 5-9", ("1, 5-9", None))])
def test_page_range_expands_medline_abbreviations(pages, expected):
    assert page_range(pages) == expected
    assert split_author("Canadian Respiratory Research Network") is None


def test_pubmed_export_command(ws):
    p = argparse.ArgumentParser()
    add_pubmed_arguments(p)
    args = p.parse_args(["export", "--snapshot", str(ws / "records.jsonl"), "--derived",
                         str(ws / "derived")])
    assert run_pubmed(args) == 0
    assert (ws / "derived" / "references.ris").read_text().startswith("TY  - JOUR\n")


@pytest.fixture
def server(monkeypatch):
    with FakeEutils([*PMIDS, "4242"]) as srv:
        monkeypatch.setenv("EVIDENCE_EUTILS_URL", srv.url)
        yield srv


def test_live_refresh_diff_then_write_with_yes(ws, server, capsys, monkeypatch):
    monkeypatch.delenv("NCBI_API_KEY", raising=False)
    (ws / "studies.csv").write_text("study_id,pmid\nfake1000,1000\nextra,4242\n")
    before = (ws / "records.jsonl").read_text()
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # no TTY
    assert run_fetch(fetch_args(ws, "--live", "--email", "t@example.org")) == 1
    out = capsys.readouterr()
    assert (ws / "records.jsonl").read_text() == before  # not written without confirmation
    assert "--yes" in out.err
    assert ('~ 1001 title: "Synthetic record 1001 on massage (typo)" -> '
            '"Synthetic record 1001 on massage and anxiety."') in out.out
    assert "+ 4242: new record" in out.out and "~ 1000 abstract: [] -> " in out.out

    assert run_fetch(fetch_args(ws, "--live", "--email", "t@example.org", "--yes")) == 0
    new = load_snapshot(ws / "records.jsonl")
    assert [r.pmid for r in new] == [*PMIDS, "4242"]
    assert all(r.provenance.method == "efetch" for r in new)
    assert new[0].provenance.source == f"{server.url}efetch.fcgi?db=pubmed&id=1000&retmode=xml"
    assert new[1].title == "Synthetic record 1001 on massage and anxiety."
    assert [a.label for a in new[0].abstract] == ["BACKGROUND", "RESULTS"]
    assert (ws / "derived" / "references.bib").exists()
    assert len(server.requests("efetch")) == 1  # the second run replayed the cache


def test_live_refresh_prompt_on_tty(ws, server, monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    before = (ws / "records.jsonl").read_text()
    monkeypatch.setattr(sys, "stdin", Tty(""))
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    assert run_fetch(fetch_args(ws, "--live", "--email", "t@example.org")) == 1
    assert (ws / "records.jsonl").read_text() == before
    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    assert run_fetch(fetch_args(ws, "--live", "--email", "t@example.org")) == 0
    assert "efetch" in (ws / "records.jsonl").read_text()


def test_live_needs_email_and_reports_missing_pmids(ws, server, monkeypatch):
    monkeypatch.delenv("NCBI_EMAIL", raising=False)
    with pytest.raises(EvidenceError, match="NCBI_EMAIL"):
        run_fetch(fetch_args(ws, "--live"))
    (ws / "studies.csv").write_text("study_id,pmid\nghost,31337\n")
    before = (ws / "records.jsonl").read_text()
    with pytest.raises(EvidenceError, match="no record for 1 PMIDs: 31337"):
        run_fetch(fetch_args(ws, "--live", "--email", "t@example.org", "--yes"))
    assert (ws / "records.jsonl").read_text() == before


def test_project_snapshot_is_valid():
    """The committed data/pubmed/records.jsonl and studies.csv pass the offline checks (read only)."""
    from evidence import paths
    from evidence.pubmed.snapshot import check_studies

    if not paths.RECORDS.exists():
        pytest.skip("no snapshot yet")
    records = load_snapshot(paths.RECORDS)
    check_studies(records, paths.EXTRACTION / "studies.csv")
    assert dumps(records) == paths.RECORDS.read_text(encoding="utf-8")  # deterministic form


# --- one PMID rule everywhere (issue 17) ------------------------------------------------------

@pytest.mark.parametrize(("text", "ok"), [
    ("1", True), ("4242", True), ("12345678", True), ("123456789", False), ("0", False),
    ("01000", False), ("１０００", False), ("1²", False), ("²", False), ("١٢٣", False),
    ("12a", False), ("", False), (" 12", False), ("12\n", False), ("1_000", False),
    ("+12", False), ("1e3", False), (None, False), (1000, False)])
def test_valid_pmid(text, ok):
    from evidence.pubmed import normalise_pmid, valid_pmid

    assert valid_pmid(text) is ok
    if ok:
        assert normalise_pmid(f" {text}\n") == text
    elif text in (" 12", "12\n"):  # valid once the surrounding blanks are stripped
        assert normalise_pmid(text) == "12"
    else:
        with pytest.raises(ValueError, match="not a PMID"):
            normalise_pmid(text)


@pytest.mark.parametrize("pmid", ["１０００", "1²", "01000"])
def test_live_fetch_rejects_non_ascii_pmids_with_locator(ws, server, pmid):
    (ws / "studies.csv").write_text(f"study_id,pmid\nfake1000,1000\nbad,{pmid}\n",
                                    encoding="utf-8")
    for extra in (("--live", "--email", "t@example.org", "--yes"), ()):
        with pytest.raises(DataError) as err:
            run_fetch(fetch_args(ws, *extra))
        assert (err.value.row, err.value.field) == (3, "pmid")
        assert "studies.csv" in str(err.value) and "not a PMID" in str(err.value)
    assert server.log == []  # rejected before any request


def test_snapshot_and_fetch_records_use_the_same_rule(ws):
    from evidence.pubmed import eutils
    from evidence.pubmed.client import EutilsClient

    ls = lines(ws)
    d = json.loads(ls[0])
    d["pmid"] = "１０００"
    (ws / "records.jsonl").write_text(json.dumps(d, ensure_ascii=False) + "\n" + "\n".join(ls[1:])
                                      + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="1-8 ASCII digits") as err:
        load_snapshot(ws / "records.jsonl")
    assert (err.value.row, err.value.field) == (1, "pmid")
    with pytest.raises(EvidenceError, match="not PMIDs"):
        eutils.fetch_records(EutilsClient("t@example.org", url="http://127.0.0.1:9/"), ["1²"])


# --- files replaced whole keep their mode (issue 17) ------------------------------------------

def _mode(p) -> int:
    return p.stat().st_mode & 0o777


def test_rewritten_files_keep_their_mode_and_new_ones_follow_umask(ws, server, monkeypatch):
    import os

    old = os.umask(0o022)
    try:
        snap, derived = ws / "records.jsonl", ws / "derived"
        assert run_fetch(fetch_args(ws)) == 0  # offline: writes the exports anew
        assert _mode(derived / "references.bib") == _mode(derived / "references.ris") == 0o644
        snap.chmod(0o640)
        (derived / "references.bib").chmod(0o664)
        (derived / "references.ris").chmod(0o604)
        assert run_fetch(fetch_args(ws, "--live", "--email", "t@example.org", "--yes")) == 0
        assert "efetch" in snap.read_text()  # really rewritten
        assert _mode(snap) == 0o640
        assert _mode(derived / "references.bib") == 0o664
        assert _mode(derived / "references.ris") == 0o604
        cache_files = [f for f in (ws / "cache").rglob("*") if f.is_file()]
        entries = [f for f in cache_files if f.suffix in (".body", ".json")]
        assert entries and all(_mode(f) == 0o644 for f in entries)
        assert [f.name for f in cache_files if f not in entries] == [".eutils-rate"]
        assert not list(ws.rglob("*.tmp"))
    finally:
        os.umask(old)
