"""Curated analyses: specs are checked, rows are never dropped, fits match rma."""

from __future__ import annotations

import pandas as pd
import pytest

from evidence import analyses
from evidence.errors import DataError
from evidence.meta import rma


def _effects():
    # Three estimable SMD rows and one not estimable (numbers made up for the test).
    return pd.DataFrame({
        "row_id": ["a", "b", "c", "d"],
        "label": ["A 2001", "B 2002", "C 2003", "D 2004"],
        "measure": ["SMD", "SMD", "SMD", "SMD"],
        "yi": [0.2, 0.5, 0.1, None],
        "vi": [0.04, 0.09, 0.05, None],
        "estimable": [True, True, True, False],
        "not_estimable_reason": ["", "", "", "p only"],
    })


def _write(tmp_path, text):
    path = tmp_path / "analyses.yaml"
    path.write_text(text)
    return path


SPEC = """
- id: demo_pain
  title: Demo pain
  condition: demo
  outcome: pain
  measure: SMD
  evidence_role: cited
  rows: [a, b, c, d]
  method: DL
  test: z
"""


def test_fit_keeps_not_estimable_rows_and_matches_rma(tmp_path):
    specs = analyses.load_specs(_write(tmp_path, SPEC))
    fit = analyses.fit_all(_effects(), specs)["demo_pain"]
    assert list(fit.rows["row_id"]) == ["a", "b", "c", "d"]  # d kept, shown as not estimable
    assert fit.k == 3
    direct = rma([0.2, 0.5, 0.1], [0.04, 0.09, 0.05], method="DL", test="z")
    assert fit.result.estimate == pytest.approx(direct.estimate, abs=1e-12)
    assert fit.result.tau2 == pytest.approx(direct.tau2, abs=1e-12)


def test_single_row_or_unpooled_analysis_has_no_fit(tmp_path):
    one = SPEC.replace("rows: [a, b, c, d]", "rows: [a, d]")
    assert analyses.fit_all(_effects(), analyses.load_specs(_write(tmp_path, one)))[
        "demo_pain"].result is None
    unpooled = SPEC + "  pool: false\n"
    fit = analyses.fit_all(_effects(), analyses.load_specs(_write(tmp_path, unpooled)))["demo_pain"]
    assert fit.result is None and fit.k == 3


@pytest.mark.parametrize("text, field", [
    (SPEC.replace("  measure: SMD\n", ""), "measure"),
    (SPEC.replace("method: DL", "method: XYZ"), "method"),
    (SPEC.replace("test: z", "test: t"), "test"),
    (SPEC + "  colour: red\n", "colour"),
    (SPEC + SPEC, "id"),
])
def test_bad_specs_name_the_entry_and_field(tmp_path, text, field):
    with pytest.raises(DataError) as exc:
        analyses.load_specs(_write(tmp_path, text))
    assert exc.value.field == field
    assert "analyses.yaml" in str(exc.value) and "demo_pain" in str(exc.value)


def test_unknown_row_and_mixed_measures_are_errors(tmp_path):
    specs = analyses.load_specs(_write(tmp_path, SPEC.replace("[a, b, c, d]", "[a, zz]")))
    with pytest.raises(DataError, match="zz"):
        analyses.fit_all(_effects(), specs)
    eff = _effects()
    eff.loc[1, "measure"] = "MD"
    with pytest.raises(DataError) as exc:
        analyses.fit_all(eff, analyses.load_specs(_write(tmp_path, SPEC)))
    assert exc.value.field == "measure"


def test_the_project_analyses_file_is_valid():
    specs = analyses.load_specs()
    assert len({s.id for s in specs}) == len(specs) > 0


def test_every_effect_of_the_project_is_in_an_analysis(tmp_path):
    """No extracted effect disappears from the figures: each row (but baseline
    values, which are not effects) belongs to at least one analysis."""
    from evidence import paths
    from evidence.effects import build_effects

    effects = pd.DataFrame(build_effects(paths.EXTRACTION, tmp_path / "effects.csv"))
    used = {r for s in analyses.load_specs() for r in s.rows}
    baseline = effects["timepoint"].str.lower().str.startswith("baseline")
    assert sorted(set(effects.loc[~baseline, "row_id"]) - used) == []
    fits = analyses.fit_all(effects)  # and every analysis fits without error
    assert set(fits) == {s.id for s in analyses.load_specs()}
