"""evidence.cells: the number grammar, the strict CSV reader, spreadsheet-safe cells and writers."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest

from evidence import analyses, cells, figures, grading
from evidence.errors import DataError


@pytest.mark.parametrize("text, value", [("12", 12.0), ("-0.5", -0.5), ("+2", 2.0), (".5", 0.5),
                                         ("1.", 1.0), ("1.2e-3", 0.0012), ("3E2", 300.0)])
def test_plain_ascii_numbers_are_read(text, value):
    assert cells.number(text) == value


@pytest.mark.parametrize("text", ["2_3", "１２", "١٢", "²", "1,5", "1 000", "0x10", "inf", "nan",
                                  "Infinity", "−1", "1e", "e3", "", " 1", "1.2.3", "12%"])
def test_everything_else_is_not_a_number(text):
    assert cells.number(text) is None  # float() would take several of these


@pytest.mark.parametrize("value, shown", [
    ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'), ("=1+1", "'=1+1"),
    ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"), ("-(1+1)", "'-(1+1)"), ("@SUM(A1)", "'@SUM(A1)"),
    ("-x", "'-x"), ("-0.5", "-0.5"), ("+2", "+2"), ("-", "-"), ("@", "@"), ("a=b", "a=b"),
    ("Favours massage", "Favours massage"), (0.5, 0.5), (None, None)])
def test_formula_like_text_is_neutralised_and_numbers_kept(value, shown):
    assert cells.safe(value) == shown


def _cells(text: str) -> list[str]:
    return [c for row in csv.reader(io.StringIO(text)) for c in row]


def test_grading_csv_neutralises_text_cells():
    out = _cells(grading._csv(["a", "b", "c"], [["=HYPERLINK(1)", -0.5, "@x"]]))
    assert out == ["a", "b", "c", "'=HYPERLINK(1)", "-0.5", "'@x"]


def test_write_fits_neutralises_text_cells(tmp_path):
    spec = analyses.AnalysisSpec(id="a1", title="t", condition="c", outcome="o",
                                 measure="@SUM(1)", evidence_role="cited", rows=("r1",))
    fit = analyses.Fit(spec=spec, rows=pd.DataFrame({"row_id": ["r1"]}), result=None,
                       estimable_rows=pd.DataFrame())
    path = analyses.write_fits({"a1": fit}, tmp_path / "analyses.csv")
    assert "'@SUM(1)" in _cells(path.read_text())
    assert "@SUM(1)" not in _cells(path.read_text())


def test_figure_index_neutralises_text_cells(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spec = figures.FigureSpec(id="f1", title="=HYPERLINK(1)", caption="-(caption)",
                              input_sha256="0" * 64, draw=lambda: plt.figure(figsize=(1, 1)))
    figures.write_figures([spec], tmp_path)
    row = next(csv.DictReader(open(tmp_path / "index.csv", encoding="utf-8")))
    assert (row["title"], row["caption"]) == ("'=HYPERLINK(1)", "'-(caption)")


def _write(path, text: str | bytes):
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


@pytest.mark.parametrize("body, line, field, words", [
    (b"a,b\n1,2\n3\n", 3, "b", "1 cells for 2 columns"),
    (b"a,b\n1,2\n3,4,5\n", 3, "cell 3", "3 cells for 2 columns"),
    (b"a,b\n1,2\n3,\xff\n", 3, "b", "not UTF-8"),
    (b"a,b\n1,\"x\x00y\"\n", 2, "b", "NUL"),
    (b"a,b\n1,\"two\nlines\"\n3," + b"x" * 131_073 + b"\n", 4, "b", "131072"),
    (b"", 1, None, "empty file"),
])
def test_strict_reader_names_line_and_field(tmp_path, body, line, field, words):
    path = _write(tmp_path / "s.csv", body)
    with pytest.raises(DataError) as err:
        cells.read_rows(path)
    assert (err.value.file, err.value.row, err.value.field) == (path, line, field)
    assert words in err.value.message


def test_strict_reader_keeps_first_lines_of_rows_and_restores_the_csv_limit(tmp_path):
    limit = csv.field_size_limit()
    path = _write(tmp_path / "s.csv", "\ufeffa,b\n1,\"two\nlines\"\n\n3,4\r\n")
    assert cells.read_rows(path) == (["a", "b"], [(2, ["1", "two\nlines"]), (5, ["3", "4"])])
    assert csv.field_size_limit() == limit
