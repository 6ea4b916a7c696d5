"""Risk of bias per domain (evidence.rob): the strict reader, its hook in `evidence extract`,
and the forest plot's column of domain marks."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import matplotlib
import pandas as pd
import pytest
from matplotlib.lines import Line2D

from evidence import cli, rob
from evidence.effects.schema import STUDY_COLUMNS, SheetErrors, check_studies, read_csv
from evidence.plots import forest, house_style
from evidence.plots.forestplot import JUDGEMENT_MARKS, UNJUDGED_MARK
from evidence.plots.style import GREY, MIN_PT
from evidence.vocabulary import RISK_OF_BIAS

matplotlib.use("Agg")
REPO = Path(__file__).resolve().parents[1]
SRC = "PMCID PMC10406396 (Shin 2016), table CD009873-tblf-0019"


def _csv(path: Path, header, rows) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def _study(sid, rob_="", author="Abel A", year="2001", design="RCT"):
    row = dict.fromkeys(STUDY_COLUMNS, "")
    row.update(study_id=sid, first_author=author, year=year, design=design, evidence_role="cited",
               source="PMID 1, abstract", risk_of_bias=rob_)
    return [row[c] for c in STUDY_COLUMNS]


def _judgement(sid="abel2001", domain="random sequence generation", judgement="unclear", *, tool="RoB 1",
               support="method not described", source=SRC, by="rev2016", notes=""):
    return [sid, tool, domain, judgement, support, source, by, notes]


GOOD = [_judgement(),
        _judgement(domain="incomplete outcome data", judgement="high", support="48% lost"),
        _judgement(domain="other bias", judgement="low", support="none seen")]


def _load(tmp_path, rows=GOOD, overall="high", header=rob.COLUMNS):
    studies_path = _csv(tmp_path / "studies.csv", STUDY_COLUMNS,
                        [_study("abel2001", overall), _study("ford2010"),
                         _study("rev2016", author="Rev R", year="2016", design="systematic review")])
    errors = []
    studies = read_csv(studies_path, STUDY_COLUMNS, errors)
    check_studies(studies, errors)
    assert errors == []
    return rob.load(_csv(tmp_path / rob.FILE, header, rows), studies)


def test_valid_sheet_gives_typed_rows(tmp_path):
    rows = _load(tmp_path)
    assert [(j.domain, j.judgement, j.number) for j in rows] == [
        ("random sequence generation", "unclear", 1), ("incomplete outcome data", "high", 5),
        ("other bias", "low", 8)]


def test_a_missing_sheet_is_no_rows(tmp_path):
    errors = []
    studies = read_csv(_csv(tmp_path / "studies.csv", STUDY_COLUMNS, [_study("abel2001")]), STUDY_COLUMNS,
                       errors)
    assert rob.load(tmp_path / rob.FILE, studies) == []


def _with(i, **kw):
    rows = [list(r) for r in GOOD]
    for k, v in kw.items():
        rows[i][rob.COLUMNS.index(k)] = v
    return rows


# (id, rows, overall in studies.csv, file, line, field, words in the message)
MUTATIONS = [
    ("study-unknown", _with(0, study_id="nobody2000"), "high", rob.FILE, 2, "study_id", "not a study_id"),
    ("study-blank", _with(1, study_id=""), "high", rob.FILE, 3, "study_id", "blank"),
    ("tool-unknown", _with(0, tool="RoB 3"), "high", rob.FILE, 2, "tool", "RoB 1, RoB 2"),
    ("tool-case", _with(0, tool="rob 1"), "high", rob.FILE, 2, "tool", "not one of"),
    ("domain-unknown", _with(0, domain="blinding"), "high", rob.FILE, 2, "domain", "not a RoB 1 domain"),
    ("domain-of-other-tool", _with(0, domain="randomisation process"), "high", rob.FILE, 2, "domain",
     "RoB 1 domain"),
    ("domain-overall", _with(2, domain="overall"), "high", rob.FILE, 4, "domain", "studies.csv"),
    ("judgement-unknown", _with(0, judgement="moderate"), "high", rob.FILE, 2, "judgement", "low, unclear, high"),
    ("judgement-of-other-tool", _with(0, judgement="some concerns"), "high", rob.FILE, 2, "judgement",
     "RoB 1 judgement"),
    ("judgement-blank", _with(2, judgement=""), "high", rob.FILE, 4, "judgement", "blank"),
    ("duplicate-domain", GOOD + [_judgement(judgement="low")], "high", rob.FILE, 5, "domain",
     "line 2"),
    ("source-blank", _with(1, source=""), "high", rob.FILE, 3, "source", "needs its source"),
    ("source-without-id", _with(1, source="Cochrane review, table 19"), "high", rob.FILE, 3, "source",
     "no PMID or PMCID"),
    ("support-blank", _with(1, support=""), "high", rob.FILE, 3, "support", "own words"),
    ("assessor-unknown", _with(2, assessed_by="shin2016"), "high", rob.FILE, 4, "assessed_by", "not a study_id"),
    ("assessor-blank", _with(2, assessed_by=""), "high", rob.FILE, 4, "assessed_by", "blank"),
    ("formula", _with(1, support="=HYPERLINK(\"x\")"), "high", rob.FILE, 3, "support", "formula"),
    ("mixed-tools", GOOD + [_judgement(tool="RoB 2", domain="missing outcome data", judgement="high")],
     "high", rob.FILE, 5, "tool", "one tool per study"),
    ("overall-better-than-worst", GOOD, "unclear", "studies.csv", 2, "risk_of_bias", "worst domain"),
    ("overall-blank", GOOD, "", "studies.csv", 2, "risk_of_bias", "enter the overall judgement"),
    ("overall-other-tool", GOOD, "some concerns", "studies.csv", 2, "risk_of_bias", "not a RoB 1 judgement"),
]


@pytest.mark.parametrize("rows,overall,file,line,field,words",
                         [m[1:] for m in MUTATIONS], ids=[m[0] for m in MUTATIONS])
def test_each_bad_value_is_named_by_file_row_and_field(tmp_path, rows, overall, file, line, field, words):
    with pytest.raises(SheetErrors) as info:
        _load(tmp_path, rows, overall)
    errors = info.value.errors
    assert len(errors) == 1, [str(e) for e in errors]
    e = errors[0]
    assert (Path(e.file).name, e.row, e.field) == (file, line, field), str(e)
    assert str(tmp_path / file) in str(e) and f"row {line}" in str(e) and f"field '{field}'" in str(e)
    assert words in e.message, e.message


def test_a_missing_column_is_named(tmp_path):
    header = [c for c in rob.COLUMNS if c != "assessed_by"]
    rows = [r[:6] + r[7:] for r in GOOD]
    with pytest.raises(SheetErrors) as info:
        _load(tmp_path, rows, header=header)
    (e,) = info.value.errors
    assert (e.row, e.field) == (1, "assessed_by")


def test_every_problem_is_listed_at_once(tmp_path):
    rows = _with(0, judgement="moderate") + [_judgement("nobody2000", source="")]
    with pytest.raises(SheetErrors) as info:
        _load(tmp_path, rows)
    assert {(e.row, e.field) for e in info.value.errors} == {(2, "judgement"), (5, "study_id"), (5, "source")}


def test_overall_may_be_worse_than_the_domains_a_source_shows(tmp_path):
    rows = [_judgement(judgement="low", support="computer generated")]
    assert len(_load(tmp_path, rows, overall="high")) == 1


def test_vocabularies_agree_with_studies_csv():
    assert set(rob.SEVERITY) == set(RISK_OF_BIAS)
    for tool in rob.TOOLS.values():
        assert set(tool.judgements) <= set(RISK_OF_BIAS)
        assert len(set(tool.domains)) == len(tool.domains)


def test_the_repository_sheet_holds_what_shin_2016_shows():
    studies = read_csv(REPO / "data/extraction/studies.csv", STUDY_COLUMNS, errs := [])
    check_studies(studies, errs)
    rows = rob.load(REPO / "data/extraction" / rob.FILE, studies)
    by = {}
    for j in rows:
        by.setdefault(j.study_id, {})[j.domain] = j.judgement
        assert j.assessed_by == "shin2016" and "PMC10406396" in j.source and j.tool == "RoB 1"
    assert set(by) == {"wilkie2000", "jane2011"}
    assert by["wilkie2000"] == {"random sequence generation": "unclear", "allocation concealment": "unclear",
                                "blinding of outcome assessment": "unclear", "incomplete outcome data": "high",
                                "selective reporting": "high", "study size": "unclear", "other bias": "low"}
    assert set(by["jane2011"].values()) == {"low"} and len(by["jane2011"]) == 4


# --- evidence extract -----------------------------------------------------------------------------

def _copy_case(dst: Path) -> Path:
    dst.mkdir(parents=True)
    shutil.copy2(REPO / "evidence.toml", dst / "evidence.toml")
    shutil.copytree(REPO / "data", dst / "data")
    return dst


def test_extract_writes_the_checked_rows_and_refuses_a_bad_sheet_before_writing(tmp_path, capsys):
    root = _copy_case(tmp_path / "case")
    assert cli.main(["--root", str(root), "extract"]) == 0
    derived = root / "data/derived" / rob.FILE
    written = pd.read_csv(derived, dtype=str, keep_default_na=False)
    assert list(written.columns) == list(rob.DERIVED_COLUMNS)
    assert set(written["assessed_by_label"]) == {"Shin 2016"}
    before = {p.name: p.read_bytes() for p in (root / "data/derived").iterdir()}
    sheet = root / "data/extraction" / rob.FILE
    text = sheet.read_text()
    sheet.write_text(text.replace("wilkie2000,RoB 1,study size,unclear", "wilkie2000,RoB 1,study size,mild"))
    capsys.readouterr()
    assert cli.main(["--root", str(root), "extract"]) == 1
    err = capsys.readouterr().err
    assert f"{sheet}, row 7, field 'judgement'" in err and "Traceback" not in err
    assert {p.name: p.read_bytes() for p in (root / "data/derived").iterdir()} == before


# --- the forest plot's marks ------------------------------------------------------------------------

def _rows():
    return pd.DataFrame({
        "row_id": ["w1", "d1"], "study_id": ["wilkie2000", "downey2009"],
        "label": ["Wilkie 2000", "Downey 2009"], "measure": "SMD", "yi": [-0.14, 0.1], "vi": [0.14, 0.04],
        "se": [0.37, 0.2], "ci_low": [-0.87, -0.29], "ci_high": [0.59, 0.49], "n_int": [15, 56],
        "n_ctl": [14, 55], "design": "RCT", "comparator_type": "usual care", "estimable": True,
        "not_estimable_reason": "", "evidence_role": "cited", "source": ["PEDro 15083", "PMID 19678461"],
        "risk_of_bias": ["high", ""]})


def _derived_rob():
    return rob.read_derived(REPO / "data/derived" / rob.FILE)


def _discs(fig):
    return [a for a in fig.artists if isinstance(a, Line2D) and a.get_marker() == "o"]


@pytest.mark.parametrize("width", ["single", "double"])
def test_forest_draws_domain_marks_for_wilkie_and_grey_for_an_unassessed_study(width):
    judged = _derived_rob()
    with house_style(width):
        fig = forest(_rows(), None, rob=judged, width=width)
        fig.canvas.draw()
    discs = _discs(fig)
    # Wilkie: 7 domains and the overall judgement; Downey: no disc at all
    assert len(discs) == 8
    faces = [d.get_markerfacecolor() for d in discs]
    wilkie = judged[judged["study_id"] == "wilkie2000"]
    expected = [JUDGEMENT_MARKS[j].face for j in wilkie["judgement"]] + [JUDGEMENT_MARKS["high"].face]
    assert faces == expected
    assert len({round(d.get_ydata()[0], 6) for d in discs}) == 1  # all on Wilkie's row
    texts = [t for t in fig.texts if t.get_text().strip()]
    (na,) = [t for t in texts if t.get_text() == "not assessed"]
    assert na.get_color() == GREY
    assert abs(na.get_position()[1] - discs[0].get_ydata()[0]) > 0.01  # on Downey's row, not Wilkie's
    joined = " ".join(t.get_text() for t in texts).replace("\n", " ")
    assert "RoB 1" in joined and "Shin 2016" in joined and "incomplete outcome data" in joined
    assert "risk_of_bias" not in joined and "assessed_by" not in joined
    assert min(t.get_fontsize() for t in texts) >= MIN_PT
    for label in ("1", "7", "All"):
        assert any(t.get_text() == label for t in texts)


def test_a_domain_the_source_does_not_show_is_a_grey_ring():
    judged = _derived_rob()
    rows = _rows()
    rows.loc[1, ["study_id", "label", "risk_of_bias"]] = ["jane2011", "Jane 2011", "low"]
    with house_style("double"):
        fig = forest(rows, None, rob=judged, width="double")
    discs = _discs(fig)
    assert len(discs) == 16
    rings = [d for d in discs if d.get_markerfacecolor() == UNJUDGED_MARK.face]
    assert len(rings) == 3  # Jane 2011: selective reporting, study size, other bias not reached
    assert "grey ring" in " ".join(t.get_text() for t in fig.texts).replace("\n", " ")


def test_without_domain_rows_the_column_stays_text():
    with house_style():
        fig = forest(_rows(), None)
    assert _discs(fig) == []
    assert any(t.get_text() == "H" for t in fig.texts)
