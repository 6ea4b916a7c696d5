"""JATS tables -> tidy cells: real PMC open-access files (tests/fixtures/fulltext/README.md)
and a quirk fixture written for these tests (quirks.xml, every number made up)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from lxml import etree

from evidence.cli import main
from evidence.errors import DataError
from evidence.fulltext import COLUMNS, table_rows
from evidence.fulltext.jats import articles, has_body, parse_document, text_of
from evidence.fulltext.numbers import parse
from evidence.pubmed.parser import UnsafeXMLError

FIX = Path(__file__).parent / "fixtures" / "fulltext"
REAL = sorted(FIX.glob("*.nxml"))
QUIRKS = FIX / "quirks.xml"
_SAFE = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True)


def cell_at(rows, table_id, row, col):
    hits = [r for r in rows if (r["table_id"], r["row"], r["col"]) == (table_id, row, col)]
    assert len(hits) == 1, (table_id, row, col, hits)
    return hits[0]


@pytest.fixture(scope="module")
def quirks():
    return table_rows(QUIRKS)


def test_real_fixtures_are_there():
    assert len(REAL) == 3


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_every_cell_of_a_real_pmc_file_is_present_and_its_xpath_resolves(path):
    rows = table_rows(path)
    tree = etree.parse(str(path), _SAFE)
    cells = [el for el in tree.iter("td", "th")]
    assert len(cells) > 50
    assert len(rows) == len(cells)
    assert {r["xpath"] for r in rows} == {tree.getpath(el) for el in cells}
    for r in rows:
        found = tree.xpath(r["xpath"])
        assert len(found) == 1, r["xpath"]
        assert text_of(found[0]) == r["text"]
        assert found[0].tag in ("td", "th")


@pytest.mark.parametrize("path", REAL + [QUIRKS], ids=lambda p: p.name)
def test_no_two_cells_start_at_the_same_grid_position(path):
    rows = table_rows(path)
    keys = [(r["pmcid"], r["table_id"], r["row"], r["col"]) for r in rows]
    assert len(keys) == len(set(keys))


def test_real_spanned_three_row_header_is_expanded():
    # PLoS ONE 7:e46493 (PMC3460867) Table 1: "Substrate chain length/specific activities"
    # spans six columns, then "pNP esters | Vinyl esters | TAG" two each, then Best/Up to.
    rows = table_rows(FIX / "pone.0046493.nxml")
    c = cell_at(rows, "pone-0046493-t001", 6, 4)
    assert c["text"] == "C3/1600"
    assert c["header_path"] == ("Substrate chain length/specific activities (U/mg) / "
                                "Vinyl esters / Best")
    assert c["row_label"] == "LipH"
    assert c["value"] == ""  # "C3/1600" is a chain length and an activity: not one number
    head = cell_at(rows, "pone-0046493-t001", 1, 2)
    assert head["footnotes"].startswith("a All activities were performed")


def test_real_ci_column_and_percent_column():
    # PLoS Negl Trop Dis 7:e2065 (PMC3585041) Table 1, Maganja da Costa, goats.
    rows = table_rows(FIX / "pntd.0002065.nxml")
    ci = cell_at(rows, "pntd-0002065-t001", 3, 4)
    assert (ci["header_path"], ci["text"]) == ("Goats / 95% C.I.", "29.7, 49.5")
    assert (ci["value"], ci["low"], ci["high"], ci["kind"]) == ("", "29.7", "49.5", "CI")
    pct = cell_at(rows, "pntd-0002065-t001", 3, 3)
    assert (pct["text"], pct["value"], pct["kind"]) == ("39.1c", "39.1", "%")
    assert pct["row_label"] == "Maganja da Costa"
    assert all(r["pmcid"] == "PMC3585041" for r in rows)


def test_quirks_two_row_header_th_row_headers_and_subgroups(quirks):
    c = cell_at(quirks, "T2", 4, 2)
    assert c["header_path"] == "Massage (n = 23) / Mean"
    assert c["row_label"] == "Week 12 / HARS"
    assert (c["text"], c["value"], c["kind"]) == ("\u221210.0", "-10", "mean")
    sd = cell_at(quirks, "T2", 4, 3)
    assert (sd["header_path"], sd["text"], sd["value"], sd["kind"]) == (
        "Massage (n = 23) / SD", "6\u00b71", "6.1", "SD")
    late = cell_at(quirks, "T2", 7, 4)
    assert (late["header_path"], late["row_label"], late["value"]) == (
        "Control (n = 22) / Mean", "Week 26 / HARS", "-9.8")
    sub = cell_at(quirks, "T2", 6, 1)
    assert (sub["text"], sub["row_label"]) == ("Week 26", "Week 26")
    # a rowspan=2 header reaches the body columns under it
    assert cell_at(quirks, "T2", 4, 7)["header_path"] == "P"


def test_quirks_numbers(quirks):
    expect = {  # (row, col): (value, low, high, kind)
        (4, 6): ("-5.5", "-8.9", "-2.1", "CI"),      # [lo; hi] with U+2212
        (4, 7): ("", "", "0.001", "p"),               # <0.001 under a P header
        (5, 2): ("0.45", "", "", "mean"),            # middle-dot decimal
        (5, 3): ("1.2", "", "", "SD"),               # "(SD)" alone
        (5, 4): ("12.1", "", "", "mean, SD"),        # mean ± SD
        (5, 6): ("", "2", "4", "CI"),                # en-dash range
        (5, 7): ("0.03", "", "", "p"),               # superscript mark dropped
        (7, 6): ("-1.4", "-5.1", "2.3", "CI"),       # (lo to hi)
    }
    for (r, c), want in expect.items():
        cell = cell_at(quirks, "T2", r, c)
        assert (cell["value"], cell["low"], cell["high"], cell["kind"]) == want, cell
    hars = cell_at(quirks, "T2", 4, 1)
    assert hars["text"] == "HARSa"  # as printed
    assert hars["footnotes"] == "a Hamilton Anxiety Rating Scale; lower is better."


def test_quirks_tables_anywhere(quirks):
    ids = []
    for r in quirks:
        if r["table_id"] not in ids:
            ids.append(r["table_id"])
    # body, table-wrap-group (two wraps, one in <alternatives>), two <table>s in one wrap,
    # back (appendix), floats-group
    assert ids == ["T2", "T3a", "T3b", "T4#1", "T4#2", "TA1", "T1"]
    assert cell_at(quirks, "T3a", 2, 2)["kind"] == "n, %"
    assert cell_at(quirks, "T3b", 1, 2)["xpath"].endswith("/alternatives/table/tbody/tr/td[2]")
    assert cell_at(quirks, "T4#2", 1, 2)["value"] == "2.5"
    a1 = cell_at(quirks, "TA1", 1, 2)
    assert (a1["value"], a1["low"], a1["high"]) == ("-0.8", "-1.6", "-0.1")
    t1 = cell_at(quirks, "T1", 2, 2)
    assert (t1["header_path"], t1["row_label"], t1["value"], t1["kind"]) == (
        "n", "Massage", "23", "n")
    ragged = cell_at(quirks, "T2", 8, 3)  # a row with 3 of the 7 cells is kept as it is
    assert (ragged["header_path"], ragged["row_label"], ragged["value"]) == (
        "Massage (n = 23) / SD", "Week 26 / PSWQ", "8.2")
    foot = cell_at(quirks, "T2", 9, 1)
    assert foot["xpath"].endswith("/tfoot/tr/td")
    tree = etree.parse(str(QUIRKS), _SAFE)
    assert len(quirks) == sum(1 for _ in tree.iter("td", "th"))
    for r in quirks:
        assert text_of(tree.xpath(r["xpath"])[0]) == r["text"]


def test_metadata_only_article_gives_no_cells_and_is_recognised(quirks):
    tree = parse_document(QUIRKS.read_bytes())
    arts = articles(tree)
    assert [has_body(a) for a in arts] == [True, False]
    assert {r["pmcid"] for r in quirks} == {"PMC9900001"}


@pytest.mark.parametrize("text,context,want", [
    ("\u22122.5", "", (-2.5, None, None, None, "")),
    ("0\u00b745 (0\u00b730\u20130\u00b760)", "HR (95% CI)", (0.45, 0.30, 0.60, None, "CI")),
    ("0.45 (0.30-0.60)", "", (0.45, 0.30, 0.60, None, "interval")),
    ("\u22123.5\u2013\u22121.2", "range", (None, -3.5, -1.2, None, "range")),
    ("12.3 \u00b1 4.5", "SEM", (12.3, None, None, 4.5, "mean, SE")),
    ("12.1 (3.2)", "", (12.1, None, None, 3.2, "pair")),
    ("12 (34.5)", "n (%)", (12, None, None, 34.5, "n, %")),
    ("> 0.05", "", (None, 0.05, None, None, "bound")),
    ("P = .03", "", (0.03, None, None, None, "p")),
    ("1,234", "", (1234, None, None, None, "")),
    ("3.1 (2.0, 4.2)", "Median (IQR)", (3.1, 2.0, 4.2, None, "median, IQR")),
    ("\u03c7\u00b2 = 4.1", "", (None, None, None, None, "")),  # a statistic's name: no guess
    ("NR", "", (None, None, None, None, "")),
    ("18\u201365 years", "", (None, None, None, None, "")),
])
def test_parse_numbers(text, context, want):
    p = parse(text, context)
    assert (p.value, p.low, p.high, p.spread, p.kind) == want


def test_unsafe_and_malformed_xml_are_refused():
    bomb = (b'<?xml version="1.0"?><!DOCTYPE article [<!ENTITY x "boom">]>'
            b"<article><body>&x;</body></article>")
    with pytest.raises(UnsafeXMLError):
        parse_document(bomb, "bomb.xml")
    with pytest.raises(DataError, match="cut.xml.*malformed"):
        parse_document(b"<article><body><table><tr><td>1", "cut.xml")


def test_cli_parse_writes_the_tidy_table(tmp_path, capsys):
    assert main(["fulltext", "parse", str(QUIRKS)]) == 0
    out = capsys.readouterr().out
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == list(COLUMNS)
    assert len(rows) == len(table_rows(QUIRKS))
    target = tmp_path / "t.csv"
    assert main(["fulltext", "parse", str(QUIRKS), "-o", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == out
    assert main(["fulltext", "parse", str(tmp_path / "nope.xml")]) == 1
    assert "no such file" in capsys.readouterr().err
    assert main(["fulltext", "PMC1", "-o", str(target)]) == 1
    assert main(["fulltext", "not-a-pmcid"]) == 1
    assert "not a PMCID" in capsys.readouterr().err


def _as_pandas_grid(table):
    """The table with every row moved into one <tbody>, read by pandas.read_html: its
    span-expanded grid (pandas as an independent oracle for the layout, nothing more)."""
    import copy

    import pandas as pd

    t = copy.deepcopy(table)
    trs = list(t.iter("tr"))
    for child in list(t):
        t.remove(child)
    body = etree.SubElement(t, "tbody")
    body.extend(trs)
    html = etree.tostring(t, encoding="unicode")
    return pd.read_html(io.StringIO(html), header=None, keep_default_na=False,
                        thousands=None, displayed_only=False)[0]


def _same(pandas_value, text):
    if isinstance(pandas_value, str):
        return pandas_value == text
    return float(pandas_value) == float(text)  # pandas turned "92" into 92


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_real_grid_positions_agree_with_pandas_read_html(path):
    tree = etree.parse(str(path), _SAFE)
    rows = table_rows(path)
    by_table: dict = {}
    for r in rows:
        el = tree.xpath(r["xpath"])[0]
        by_table.setdefault(next(el.iterancestors("table")), []).append(r)
    assert len(by_table) == sum(1 for _ in tree.iter("table"))
    for table, cells in by_table.items():
        grid = _as_pandas_grid(table)
        for r in cells:
            assert _same(grid.iat[r["row"] - 1, r["col"] - 1], r["text"]), r
