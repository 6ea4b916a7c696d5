"""evidence.tables: display tables for the notebooks show the pipeline's numbers, nothing dropped."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from evidence import paths, tables
from evidence.analyses import AnalysisSpec, fit_all
from evidence.errors import EvidenceError
from evidence.meta import rma


def effects() -> pd.DataFrame:
    """Invented rows in the effects.csv vocabulary: two estimable trials, one not estimable."""
    rows = [
        ("a-anx", "a2010", "A 2010", 0.4012, 0.04, 20, 21, True, ""),
        ("b-anx", "b2012", "B 2012", 0.1049, 0.05, 30, np.nan, True, ""),
        ("c-anx", "c2016", "C 2016", np.nan, np.nan, np.nan, np.nan, False, "p_only: direction not reported"),
    ]
    out = []
    for rid, sid, label, yi, vi, n1, n2, est, why in rows:
        se = math.sqrt(vi) if est else np.nan
        out.append({"row_id": rid, "study_id": sid, "label": label, "condition": "GAD",
                    "outcome": "anxiety", "instrument": "HARS", "timepoint": "12 wk",
                    "comparison": "massage vs control", "comparator_type": "usual care",
                    "design": "RCT", "measure": "SMD" if est else "", "yi": yi, "vi": vi,
                    "ci_low": yi - 1.96 * se, "ci_high": yi + 1.96 * se, "n_int": n1,
                    "n_ctl": n2, "estimable": est, "not_estimable_reason": why,
                    "evidence_role": "cited", "source": f"PMID {sid}, Table 2"})
    return pd.DataFrame(out)


def spec(aid="gad_anxiety_eot", rows=("a-anx", "b-anx", "c-anx"), pool=True) -> AnalysisSpec:
    return AnalysisSpec(id=aid, title="t", condition="GAD", outcome="anxiety", measure="SMD",
                        evidence_role="cited", rows=tuple(rows), pool=pool)


def test_effects_table_keeps_not_estimable_rows_with_their_reason():
    table = tables.effects_table(effects())
    assert list(table["study"]) == ["A 2010", "B 2012", "C 2016"]
    assert list(table.index) == ["a-anx", "b-anx", "c-anx"]  # indexed by row id, not by position
    assert table.loc["a-anx", "estimate"] == 0.40 and table.loc["b-anx", "estimate"] == 0.10
    assert table.loc["c-anx", "estimate"] == "" and table.loc["c-anx", "measure"] == ""
    assert table.loc["c-anx", "not_estimable"] == "p_only: direction not reported"
    assert list(table["n"]) == ["20/21", "30/", ""]


def test_pooled_line_reports_the_fitted_model_and_its_numbers():
    fits = fit_all(effects(), [spec()])
    line = tables.pooled_line(fits["gad_anxiety_eot"])
    ref = rma(np.array([0.4012, 0.1049]), np.array([0.04, 0.05]), method="REML", test="knha")
    assert line["model"] == "REML + HKSJ"
    assert (line["k_estimable"], line["k_rows"]) == (2, 3)
    assert line["estimate"] == round(ref.estimate, 2)
    assert (line["ci_low"], line["ci_high"]) == (round(ref.ci_low, 2), round(ref.ci_high, 2))


def test_pooled_line_single_row_nothing_estimable_and_side_by_side():
    fits = fit_all(effects(), [spec("one", ("a-anx", "c-anx")), spec("none", ("c-anx",)),
                               spec("apart", ("a-anx", "b-anx"), pool=False)])
    one, none, apart = (tables.pooled_line(fits[k]) for k in ("one", "none", "apart"))
    assert one["model"] == "single effect" and one["estimate"] == 0.40
    assert none["model"] == "nothing estimable" and none["estimate"] is None
    assert apart["model"] == "not pooled (side by side)" and apart["estimate"] is None


def test_analyses_overview_names_unknown_ids():
    fits = fit_all(effects(), [spec()])
    assert list(tables.analyses_overview(fits).index) == ["gad_anxiety_eot"]
    with pytest.raises(EvidenceError, match="nope"):
        tables.analyses_overview(fits, ["nope"])


def test_sources_table_lists_each_source_once():
    rows = pd.concat([effects(), effects().iloc[[0]]])
    src = tables.sources_table(rows)
    assert list(src["study"]) == ["A 2010", "B 2012", "C 2016"]
    assert list(src["rows"]) == [2, 1, 1]


def test_wanted_table_filters_and_sorts(tmp_path):
    path = tmp_path / "wanted.csv"
    pd.DataFrame({"study_id": ["b", "a", "a", "c"], "outcome": ["pain", "pain", "anxiety", "x"],
                  "needed": ["n", "sd", "means", "y"], "where_in_paper": ["T1"] * 4,
                  "searched": ["log"] * 4, "status": ["open"] * 4}).to_csv(path, index=False)
    out = tables.wanted_table(["a", "b"], path)
    assert list(zip(out["study_id"], out["outcome"], strict=True)) == [("a", "anxiety"), ("a", "pain"),
                                                                       ("b", "pain")]
    assert "searched" not in out
    with pytest.raises(EvidenceError, match="not found"):
        tables.wanted_table(["a"], tmp_path / "missing.csv")


def test_verdict_text_renders_each_rating_with_its_downgrades_from_the_records():
    from evidence import grading
    from evidence.claims import Claim

    claim = Claim("C01", "s", ("efficacy",), "Massage eases pain.", ("x",),
                  {"conditions": ["fibromyalgia"], "outcomes": ["pain"]}, ("x",), hedged=True)
    summary = grading.AnalysisSummary(analysis_id="x", measure="SMD", estimate=0.62, ci_low=0.05,
                                      ci_high=1.19, k=1, n_participants=404, outcome="pain",
                                      designs=("meta-analysis",), conditions=("fibromyalgia",),
                                      mid=0.5)
    v = grading.grade_claim(claim, {"x": summary})
    ledger = pd.DataFrame([{"claim_id": "C01", "kind": "efficacy", "verdict": v.verdict,
                            "certainty": v.certainty}])
    text = tables.verdict_text(ledger, claims={"C01": claim}, width=60, graded=[v])
    lines = text.splitlines()
    assert lines[0] == "C01 (efficacy; hedged): Massage eases pain."
    assert any(line.startswith("      risk of bias -1: not assessed for any row") for line in lines)
    assert any(line.startswith("      imprecision -1: 95% CI 0.05 to 1.19") for line in lines)
    assert max(len(line) for line in lines) <= 60


@pytest.mark.skipif(not paths.EFFECTS.exists() or not paths.VERDICTS.exists(),
                    reason="derived files not generated")
def test_regrade_reproduces_the_committed_ledger():
    """The ledger in data/derived must be what the grading rules give for effects.csv now."""
    fresh = tables.regrade()
    committed = tables.read_verdicts()
    pd.testing.assert_frame_equal(fresh, committed)
    table = tables.verdicts_table(committed, ["C09", "C01"])
    assert list(table.index) == ["C01", "C09"]


@pytest.mark.skipif(not paths.EFFECTS.exists(), reason="effects.csv not generated")
def test_board_figures_are_the_exported_set():
    figs = tables.board_figures(verdicts=tables.read_verdicts() if paths.VERDICTS.exists() else None)
    assert "forest_gad_anxiety_eot" in figs
    assert all(i.startswith(("forest_", "map_", "funnel_", "card_", "albatross_", "harvest_", "claims_summary"))
               for i in figs)


def test_as_reported_lists_only_the_numbers_the_sheet_holds(tmp_path):
    path = tmp_path / "outcomes.csv"
    pd.DataFrame({"row_id": ["r1", "r2"], "data_type": ["p_only", "not_reported"],
                  "p": ["0.39", ""], "n_int": ["23", ""], "diff": ["", ""]}).to_csv(path, index=False)
    out = tables.as_reported(["r2", "r1"], path)
    assert list(out.index) == ["r2", "r1"]
    assert list(out["as_reported"]) == ["", "n_int=23; p=0.39"]
    with pytest.raises(EvidenceError, match="r9"):
        tables.as_reported(["r9"], path)


def test_claims_using_and_studies_table(tmp_path):
    claims = {cid: SimpleNamespace(analyses=tuple(a)) for cid, a in
              {"C02": ["a", "b"], "C01": ["b"], "C09": []}.items()}
    assert tables.claims_using(["b"], claims) == ["C01", "C02"]
    assert tables.claims_using(["z"], claims) == []
    path = tmp_path / "studies.csv"
    pd.DataFrame({"study_id": ["x", "y"], "first_author": ["X", "Y"], "year": ["2001", "2002"],
                  "design": ["RCT", "RCT"], "condition": ["GAD", "GAD"], "evidence_role": ["cited"] * 2,
                  "cited_by": ["article"] * 2, "n_randomised": ["10", ""],
                  "risk_of_bias": ["", "high"]}).to_csv(path, index=False)
    assert list(tables.studies_table(["y", "x"], path).index) == ["y", "x"]
    with pytest.raises(EvidenceError, match="zz"):
        tables.studies_table(["zz"], path)


def test_not_estimable_and_wanted_text_keep_the_full_wording(tmp_path):
    text = tables.not_estimable_text(effects())
    assert text == "C 2016 (1 row; anxiety): p_only: direction not reported"
    assert tables.not_estimable_text(effects().iloc[:2]) == "every row is estimable"
    path = tmp_path / "wanted.csv"
    long = "per-arm means and SDs " * 8
    pd.DataFrame({"study_id": ["a"], "outcome": ["pain"], "needed": [long.strip()],
                  "where_in_paper": ["Table 2"], "searched": ["log"], "status": ["open"]}
                 ).to_csv(path, index=False)
    out = tables.wanted_text(["a"], path, width=70)
    assert out.startswith("a / pain [open]: per-arm means")
    assert " ".join(out.split()).endswith("(where: Table 2)") and long.strip() in " ".join(out.split())
    assert tables.wanted_text(["b"], path) == "no open request for these studies"


def test_against_mid_flags_from_unrounded_intervals(tmp_path):
    rows = effects()
    rows.loc[1, ["yi", "ci_low", "ci_high"]] = [0.3, -0.1, 0.7]
    out = tables.against_mid(rows, 0.5)
    assert list(out["study"]) == ["A 2010", "B 2012"]  # the not-estimable row is left out
    assert list(out["CI excludes 0"]) == [True, False]
    assert list(out["CI includes MID 0.5"]) == [True, True]
    assert out.loc["b-anx", "ci_low"] == -0.1
    path = tmp_path / "mids.csv"
    pd.DataFrame({"outcome": ["pain", "any"], "instrument": ["NRS", "any"], "measure": ["points", "SMD"],
                  "mid": ["2", "0.5"], "source": ["x", "y"], "notes": ["", ""]}).to_csv(path, index=False)
    assert tables.generic_mid(path) == 0.5


def test_effects_table_says_what_a_row_without_an_effect_reports():
    rows = effects()
    rows["result_class"] = ["effect", "effect", "p_only"]
    rows["p"], rows["p_operator"] = [0.03, np.nan, 0.39], [np.nan, "", "="]
    table = tables.effects_table(rows)
    assert list(table["result"]) == ["effect with CI", "effect with CI", "P only, no direction"]
    assert list(table["P"]) == ["P = 0.03", "", "P = 0.39"]  # a NaN operator is an exact P
    rows.loc[2, ["p", "p_operator"]] = [0.05, "<"]
    assert tables.effects_table(rows).loc["c-anx", "P"] == "P < 0.05"


def test_condition_studies_follow_the_sheet_and_the_review_route(tmp_path):
    path = tmp_path / "studies.csv"
    pd.DataFrame({"study_id": ["rev", "t1", "t2", "other", "ctx"],
                  "condition": ["anxiety", "GAD", "GAD", "migraine", "GAD"],
                  "cited_by": ["article", "rev", "article", "article", ""]}).to_csv(path, index=False)
    assert tables.condition_studies("GAD", path=path) == ["rev", "t1", "t2", "ctx"]
    assert tables.condition_studies("migraine", path=path) == ["other"]
    assert tables.condition_studies("none", path=path) == []
