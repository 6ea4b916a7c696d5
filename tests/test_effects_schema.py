"""The sheet validator: every kind of bad row fails with file, CSV line and field,
and all problems are reported together."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from evidence.effects import SheetErrors, load_sheets
from evidence.effects.schema import OUTCOME_COLUMNS, STUDY_COLUMNS

FIXTURES = Path(__file__).parent / "fixtures" / "extraction"


def _read(name):
    with open(FIXTURES / name, newline="") as fh:
        return list(csv.DictReader(fh))


def _write(folder: Path, name, rows, columns):
    with open(folder / name, "w", newline="") as fh:
        w = csv.DictWriter(fh, columns, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def _line(rows, row_id):
    """CSV line of a row (header = line 1)."""
    return 2 + [r["row_id"] for r in rows].index(row_id)


def errors_for(tmp_path, edit_outcomes=None, edit_studies=None):
    studies, outcomes = _read("studies.csv"), _read("outcomes.csv")
    if edit_studies:
        edit_studies(studies)
    if edit_outcomes:
        edit_outcomes(outcomes)
    _write(tmp_path, "studies.csv", studies, STUDY_COLUMNS)
    _write(tmp_path, "outcomes.csv", outcomes, OUTCOME_COLUMNS)
    with pytest.raises(SheetErrors) as exc:
        load_sheets(tmp_path)
    return outcomes, [(Path(e.file).name, e.row, e.field) for e in exc.value.errors], exc.value


def test_fixture_sheets_are_valid():
    studies, outcomes = load_sheets(FIXTURES)
    assert len(outcomes.rows) == 16 and len(studies.rows) == 5
    assert outcomes.rows[0]["_line"] == 2 and outcomes.rows[0]["n_int"] == 5.0


def _set(row_id, **values):
    def edit(rows):
        for r in rows:
            if r["row_id"] == row_id:
                r.update(values)
    return edit


@pytest.mark.parametrize(("row_id", "values", "field"), [
    ("alpha-post", {"sd_int": "-2"}, "sd_int"),                 # negative SD
    ("alpha-post", {"n_ctl": "1"}, "n_ctl"),                    # n < 2
    ("alpha-post", {"n_ctl": "4.5"}, "n_ctl"),                  # not a whole n
    ("beta-change", {"mean_int": "1"}, "mean_int"),             # CI -4..0 misses 1
    ("alpha-md-ci", {"diff_ci_low": "4"}, "diff_ci_low"),               # low > high
    ("gamma-pain", {"estimate_ci_high": ""}, "estimate_ci_high"),       # one bound only
    ("alpha-post", {"scale_direction": "lower_better"}, "scale_direction"),
    ("alpha-post", {"outcome": "happiness"}, "outcome"),
    ("alpha-post", {"data_type": "median_iqr"}, "data_type"),
    ("alpha-post", {"design": "cohort"}, "design"),
    ("alpha-post", {"comparator_type": "placebo"}, "comparator_type"),
    ("alpha-t", {"diff_direction": "up"}, "diff_direction"),
    ("alpha-post", {"source": ""}, "source"),
    ("alpha-post", {"study_id": "nobody1999"}, "study_id"),
    ("alpha-nr", {"missing_reason": ""}, "missing_reason"),
    ("alpha-t", {"t": ""}, "t"),                                        # data_type's number blank
    ("alpha-post", {"sd_ctl": ""}, "sd_ctl"),                   # no SD, SE or CI
    ("alpha-counts", {"events_int": "11"}, "events_int"),       # more events than n
    ("alpha-p", {"p": "1.5"}, "p"),
    ("alpha-p", {"p": "0.0.5"}, "p"),                                   # not a number
    ("gamma-pain", {"i2": "140"}, "i2"),
])
def test_bad_outcome_row_names_file_line_field(tmp_path, row_id, values, field):
    outcomes, errs, _ = errors_for(tmp_path, _set(row_id, **values))
    assert ("outcomes.csv", _line(outcomes, row_id), field) in errs


def test_duplicate_row_id_points_at_the_second(tmp_path):
    def dup(rows):
        rows[3]["row_id"] = rows[1]["row_id"]
    _, errs, exc = errors_for(tmp_path, dup)
    assert errs == [("outcomes.csv", 5, "row_id")]
    assert "first on line 3" in str(exc)


def test_bad_study_rows(tmp_path):
    def edit(rows):
        rows[1]["source"] = ""
        rows[2]["evidence_role"] = "background"
        rows[3]["cited_by"] = "nobody"
        rows[4]["study_id"] = rows[0]["study_id"]
    _, errs, _ = errors_for(tmp_path, edit_studies=edit)
    assert {("studies.csv", 3, "source"), ("studies.csv", 4, "evidence_role"),
            ("studies.csv", 5, "cited_by"), ("studies.csv", 6, "study_id")} <= set(errs)


def test_all_errors_are_reported_together(tmp_path):
    def edit(rows):
        rows[0]["sd_int"] = "-1"
        rows[5]["outcome"] = "mood"
        rows[9]["source"] = ""
    outcomes, errs, exc = errors_for(tmp_path, edit)
    assert len(errs) == 3
    message = str(exc)
    assert "3 problem(s)" in message and "outcomes.csv, row 2, field 'sd_int'" in message


def test_missing_column_and_file(tmp_path):
    shutil.copy(FIXTURES / "studies.csv", tmp_path)
    with open(FIXTURES / "outcomes.csv") as src, open(tmp_path / "outcomes.csv", "w") as dst:
        dst.write(src.read().replace(",missing_reason,", ",why_missing,", 1))
    with pytest.raises(SheetErrors) as exc:
        load_sheets(tmp_path)
    assert [(Path(e.file).name, e.row) for e in exc.value.errors] == [("outcomes.csv", 1)]
    assert "missing_reason" in str(exc.value)
    (tmp_path / "studies.csv").unlink()
    with pytest.raises(SheetErrors, match="studies.csv: file not found"):
        load_sheets(tmp_path)


def test_line_numbers_survive_multiline_cells(tmp_path):
    studies, outcomes = _read("studies.csv"), _read("outcomes.csv")
    outcomes[0]["notes"] = "first line\nsecond line"
    outcomes[1]["outcome"] = "mood"
    _write(tmp_path, "studies.csv", studies, STUDY_COLUMNS)
    _write(tmp_path, "outcomes.csv", outcomes, OUTCOME_COLUMNS)
    with pytest.raises(SheetErrors) as exc:
        load_sheets(tmp_path)
    assert [(e.row, e.field) for e in exc.value.errors] == [(4, "outcome")]
