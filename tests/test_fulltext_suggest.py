"""``evidence wanted --suggest`` on a hand-built case: the quirk fixture as one study's
full text, wanted rows whose right cell is known by construction."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from test_fulltext_live import run_cli

FIX = Path(__file__).parent / "fixtures" / "fulltext"
WANTED = [
    # study_id, outcome, needed, where_in_paper, searched, status
    ["s1", "anxiety", "HARS per arm at 12 wk: mean and SD for massage", "Table 2", "", "open"],
    ["s1", "depression", "PHQ-8 control arm at week 12, mean (SD)", "Table 2", "", "open"],
    ["s1", "anxiety", "between-group difference in HARS at 26 weeks with 95% CI", "", "",
     "open"],
    ["s1", "other", "number randomised to massage (n)", "", "", "open"],
    ["s1", "anxiety", "already found", "", "", "filled"],
    ["s2", "pain", "VAS at 4 wk", "", "", "open"],
    ["s3", "pain", "VAS at 4 wk", "", "", "open"],
]


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    root = tmp_path_factory.mktemp("case")
    ext = root / "data" / "extraction"
    ext.mkdir(parents=True)
    with open(ext / "studies.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["study_id", "pmid", "pmcid", "first_author", "n_int", "n_ctl"])
        w.writerows([["s1", "99000001", "PMC9900001", "Synthetic", "", ""],
                     ["s2", "99000003", "", "No PMC", "", ""],
                     ["s3", "99000004", "PMC9900003", "Not fetched", "", ""]])
    with open(ext / "wanted.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["study_id", "outcome", "needed", "where_in_paper", "searched", "status"])
        w.writerows(WANTED)
    ft = root / "data" / "fulltext"
    ft.mkdir(parents=True)
    shutil.copy(FIX / "quirks.xml", ft / "PMC9900001.xml")
    res = run_cli(root, "fulltext", email=None)
    assert res.returncode == 0, res.stderr
    assert "PMC9900003" in res.stderr  # named as not fetched yet
    before = {p.name: p.read_bytes() for p in ext.iterdir()}
    res = run_cli(root, "wanted", "--suggest", "--top", "3", email=None)
    assert res.returncode == 0, res.stderr
    assert {p.name: p.read_bytes() for p in ext.iterdir()} == before  # nothing filled
    with open(root / "data" / "derived" / "wanted_suggestions.csv", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def for_line(rows, line):
    return [r for r in rows if r["wanted_line"] == str(line)]


def test_best_cell_for_each_wanted_row(case):
    best = {}
    for line in (2, 3, 4, 5):
        ranked = for_line(case, line)
        assert [r["rank"] for r in ranked] == ["1", "2", "3"]
        best[line] = ranked[0]
    assert (best[2]["table_id"], best[2]["row"], best[2]["col"]) == ("T2", "4", "2")
    assert best[2]["text"] == "\u221210.0"
    assert for_line(case, 2)[1]["col"] == "3"  # the SD next to it
    assert (best[3]["table_id"], best[3]["row"], best[3]["col"]) == ("T2", "5", "4")
    assert (best[4]["table_id"], best[4]["row"], best[4]["col"]) == ("T2", "7", "6")
    assert (best[4]["low"], best[4]["high"]) == ("-5.1", "2.3")
    assert (best[5]["table_id"], best[5]["row"], best[5]["col"]) == ("T1", "2", "2")
    assert best[2]["source"] == ("PMC9900001 Table 2, row 4 (Week 12 / HARS), "
                                 "column 2 (Massage (n = 23) / Mean)")
    assert best[2]["xpath"].endswith("/tbody/tr[2]/td[1]")
    assert all(r["note"] == "to confirm by eye" for r in case if r["rank"])


def test_rows_without_full_text_are_listed_not_dropped(case):
    assert for_line(case, 6) == []  # "filled": not open
    (s2,) = for_line(case, 7)
    assert s2["rank"] == "" and "no pmcid" in s2["note"]
    (s3,) = for_line(case, 8)
    assert s3["pmcid"] == "PMC9900003" and "no numeric table cell" in s3["note"]


def test_suggest_refuses_a_sheet_without_its_columns(tmp_path):
    ext = tmp_path / "data" / "extraction"
    ext.mkdir(parents=True)
    (ext / "wanted.csv").write_text("study_id,outcome\ns1,pain\n")
    res = run_cli(tmp_path, "wanted", "--suggest", email=None)
    assert res.returncode == 1
    assert "wanted.csv" in res.stderr and "needed" in res.stderr
