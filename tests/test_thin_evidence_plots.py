"""Claim cards, albatross and harvest plots: every result class gets a mark, in words a board reads.

The rows are invented, one per result class, in the effects.csv vocabulary of today (no
``result_class`` column: the fallback derives it) and with the contract-12 columns (the
fallback is bypassed), so both paths are checked.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Annotation

from evidence.claims import Claim
from evidence.plots import albatross, card, harvest, house_style
from evidence.plots.albatross import points, skipped_text
from evidence.plots.results import implied_smd, plain, results

BASE = {"pmid": "", "condition": "GAD", "instrument": "HARS", "timepoint_weeks": np.nan,
        "comparator_type": "usual care", "design": "RCT", "favours_int_positive": True,
        "evidence_role": "cited", "source": "PMID x, Table 2", "derived": "", "label": "",
        "risk_of_bias": "", "k_studies": np.nan, "i2": np.nan, "data_type": ""}


def row(rid, study, outcome, tp, **kw):
    r = dict(BASE, row_id=rid, study_id=study, outcome=outcome, timepoint=tp, comparison="massage vs usual care",
             measure=kw.pop("measure", "SMD"), yi=np.nan, vi=np.nan, se=np.nan, ci_low=np.nan, ci_high=np.nan,
             n_int=np.nan, n_ctl=np.nan, estimable=False, not_estimable_reason="",
             label=study.capitalize()[:-4] + " " + study[-4:])
    r.update(kw)
    return r


def legacy_rows() -> pd.DataFrame:
    """One row per class as effects.csv words it today (classes come from the fallback)."""
    return pd.DataFrame([
        row("e1", "abel2001", "anxiety", "end of treatment", yi=0.40, vi=0.04, se=0.2, ci_low=0.008,
            ci_high=0.792, n_int=30, n_ctl=30, estimable=True, data_type="arm_mean_sd",
            derived="SMD (Hedges' g) from post means"),
        row("e2", "baker2003", "anxiety", "end of treatment", yi=-0.30, vi=0.09, se=0.3, ci_low=-0.888,
            ci_high=0.288, n_int=20, n_ctl=22, estimable=True, data_type="pooled_smd_ci",
            derived="95% CI as reported"),
        row("s1", "cole2005", "pain", "sustained", measure="MD", instrument="BPI (0-10)",
            not_estimable_reason="0.07 reported without saying which arm it favours: the sign cannot be set "
                                 "(diff_direction blank)", data_type="mean_diff_ci"),
        row("b1", "dunn2007", "sleep", "8 weeks", timepoint_weeks=8, n_int=17, n_ctl=17,
            not_estimable_reason="not reported: abstract gives only a bound (P < .05); full text not reachable",
            data_type="not_reported"),
        row("p1", "egan2009", "pain", "end of treatment", n_int=56, n_ctl=55, data_type="p_only",
            not_estimable_reason="only a p value: the direction of the difference is not reported"),
        row("r1", "ford2010", "worry", "12 weeks", timepoint_weeks=12, n_int=23, n_ctl=22,
            data_type="not_reported", not_estimable_reason="not reported: results tables of the full text not "
                                                            "reachable offline"),
        row("n1", "ford2010", "disability", "12 weeks", timepoint_weeks=12, n_int=23, n_ctl=22,
            data_type="not_reported", not_estimable_reason="not reported: no numbers in the abstract"),
        row("x1", "abel2001", "anxiety", "baseline", timepoint_weeks=0, n_int=30, n_ctl=30,
            data_type="arm_mean_sd", not_estimable_reason="baseline values: not an effect of treatment"),
    ])


def sheet() -> pd.DataFrame:
    """The extraction sheet's P and reported numbers the fallback reads."""
    return pd.DataFrame({"row_id": ["s1", "p1"], "p": ["", "0.573"], "diff": ["0.07", ""],
                         "diff_ci_low": ["-0.23", ""], "diff_ci_high": ["0.37", ""], "p_operator": ["", ""],
                         "direction": ["", ""]})


def test_fallback_classes_directions_and_implied_smd():
    res = results(legacy_rows(), sheet())
    assert list(res["result_class"]) == ["effect", "effect", "effect_sign_unknown", "bound", "p_only",
                                         "not_reachable", "not_reported", "not_an_effect"]
    assert res.loc["e1", "direction"] == 1 and res.loc["e2", "direction"] == -1
    assert res.loc["e1", "computed_ci"] and not res.loc["e2", "computed_ci"]
    assert (res.loc["s1", "est"], res.loc["s1", "lo"], res.loc["s1", "hi"]) == (0.07, -0.23, 0.37)
    # Wald P of the effect: 2 * (1 - Phi(0.4 / 0.2)) = 0.0455 (normal table)
    assert res.loc["e1", "p"] == pytest.approx(0.0455, abs=1e-4)
    # P < .05 with 17/17: t(0.975, 32) = 2.0369 (R: qt(0.975, 32)); d = 2.0369 * sqrt(2/17) = 0.6987;
    # J = 1 - 3/(4*32 - 1) = 0.97638; |SMD| > 0.6822, direction unknown: open on the positive side here
    assert res.loc["b1", "p"] == 0.05 and res.loc["b1", "p_operator"] == "<"
    assert res.loc["b1", "smd_low"] == pytest.approx(0.6822, abs=5e-4) and math.isinf(res.loc["b1", "smd_high"])
    assert implied_smd(0.05, 17, 17) == pytest.approx(0.6822, abs=5e-4)
    lo, hi = res.loc["p1", "smd_low"], res.loc["p1", "smd_high"]
    assert lo == pytest.approx(-hi) and hi > 0  # exact P, sign unknown: +-d


def test_contract_columns_bypass_the_fallback():
    rows = legacy_rows().iloc[[4]].assign(result_class="no_difference", direction=0, p=0.39, p_operator="",
                                           n_total=111, smd_implied_low=-0.16, smd_implied_high=0.16)
    res = results(rows, outcomes=None)
    x = res.loc["p1"]
    assert (x["result_class"], x["direction"], x["p"], x["n_total"], x["smd_low"]) == \
        ("no_difference", 0, 0.39, 111, -0.16)


def test_plain_spells_sheet_tokens_as_words():
    assert plain("0.07 reported (diff_direction blank)") == "0.07 reported"
    assert plain("only a test of change (p_only), none") == "only a test of change, none"
    assert plain("reported as int_minus_ctl") == "reported as intervention minus control"


def test_albatross_splits_by_direction_mirrors_the_unknown_and_draws_bounds_as_arrows(monkeypatch):
    rows = legacy_rows()
    res = results(rows, sheet())
    pts, skipped = points(rows, res)
    by = {p.label.split(",")[0]: p for p in pts}
    assert by["Abel 2001"].direction == 1 and by["Baker 2003"].direction == -1
    assert by["Egan 2009"].direction is None and by["Egan 2009"].n == 111 and by["Egan 2009"].p == 0.573
    assert by["Dunn 2007"].bound
    assert any(s.study == "Cole 2005" and "total n not given" in s.why for s in skipped)
    assert "total n not given: Cole 2005 (1 result)" in skipped_text(skipped)
    with house_style("single"):
        fig = albatross(rows, res=res)
    ax = fig.axes[0]
    marks = [ln for ln in ax.lines if ln.get_marker() == "o"]
    # Abel right, Baker left, Egan and Dunn both sides: 6 marks
    assert len(marks) == 6
    xs = sorted(float(m.get_xdata()[0]) for m in marks)
    assert xs[0] < 0 < xs[-1]
    egan = -math.log10(0.573)
    assert sum(math.isclose(abs(x), egan) for x in xs) == 2
    arrows = [a for a in ax.texts if isinstance(a, Annotation)]
    assert len(arrows) == 2  # the bound on both sides
    text = " ".join(t.get_text() for t in fig.texts)
    assert "two equal arms" in text and "P < 0.05" in text


def test_harvest_has_a_glyph_per_result_and_marks_open_requests():
    rows = legacy_rows()
    res = results(rows, sheet())
    wanted = pd.DataFrame({"study_id": ["ford2010"], "outcome": ["worry"], "status": ["open"]})
    with house_style("double"):
        fig = harvest(rows, wanted=wanted, res=res)
    ax = fig.axes[0]
    glyphs = [ln for ln in ax.lines if ln.get_marker() not in ("v", None, "None") and len(ln.get_xdata()) == 1]
    assert len(glyphs) == len(rows)  # one per result, nothing dropped
    assert len([ln for ln in ax.lines if ln.get_marker() == "v"]) == 1
    heads = [t.get_text() for t in ax.get_xticklabels()]
    (b,) = [ln for ln in glyphs if ln.get_marker() == "$\\emptyset$"]  # the baseline row sits under its heading
    assert heads[int(b.get_xdata()[0])] == "anxiety\nbaseline"
    legend = " ".join(t.get_text() for t in fig.legends[0].get_texts())
    for words in ("effect with CI", "P given as a bound", "full text not available",
                  "full-text result requested, still open", "favours massage", "no clear difference"):
        assert words in legend
    # Baker's CI crosses no difference: grey, not "favours control", whatever its point estimate
    assert "favours control" not in legend and ".csv" not in legend


def _claim(outcomes=("anxiety", "stiffness"), conditions=("GAD", "panic disorder")):
    return Claim("C42", "s", ("efficacy",), "Massage eases anxiety and stiffness.", (),
                 {"outcomes": list(outcomes), "conditions": list(conditions)}, ("a1",))


def test_card_draws_every_class_says_what_is_missing_and_letters_downgrades():
    rows = legacy_rows().assign(relevance="relevance not computed")
    res = results(rows, sheet())
    verdict = {"claim_id": "C42", "verdict": "uncertain", "certainty": "low", "best_estimate": 0.4,
               "ci_low": 0.01, "ci_high": 0.79, "measure": "SMD", "n_studies": 1, "n_participants": 60}
    dg = pd.DataFrame({"claim_id": ["C42"], "analysis_id": ["a1"], "domain": ["imprecision"], "levels": [1],
                       "rule": ["below_ois"], "statistic": ["n = 60"], "reason": ["n = 60 < 400"]})
    with house_style("double"):
        fig = card(_claim(), rows, verdict=verdict, downgrades=dg, mids=(), res=res)
    text = " ".join(t.get_text() for t in fig.texts).replace("\n", " ")
    assert "No evidence on (outcome): stiffness." in text
    assert "panic disorder" in text and "a) imprecision \u22121: n = 60 < 400" in text
    assert "Best estimate: SMD 0.40 [0.01, 0.79], 60 participants (1 study)." in text
    assert "\u2295\u2295\u25ef\u25ef low" in text and "Relevance not computed" in text
    for words in ("effect, direction not reported", "P given as a bound", "full text not available",
                  "not reported", "baseline or uncontrolled change, not an effect"):
        assert words in text, words
    lines = [ln for ax in fig.axes for ln in ax.lines]
    squares = [ln for ln in lines if ln.get_marker() == "s"]
    assert len([s for s in squares if s.get_markerfacecolor() == "white"]) == 2  # the mirrored pair
    assert any(isinstance(a, Annotation) for ax in fig.axes for a in ax.texts)  # the bound's arrow
    strip = [ax for ax in fig.axes if "albatross strip" in ax.get_title(loc="left")]
    assert len(strip) == 1  # Egan's P without an effect
    assert "diff_direction" not in text and "p_only" not in text


def test_card_gives_no_best_estimate_for_a_claim_rated_not_supported():
    rows = legacy_rows().iloc[:2].assign(relevance="direct")
    verdict = {"verdict": "not supported by the cited evidence", "certainty": "very low", "best_estimate": 3.26,
               "ci_low": 0.35, "ci_high": 6.17, "measure": "MD", "n_studies": 1, "n_participants": 47}
    with house_style("double"):
        fig = card(_claim(), rows, verdict=verdict, downgrades=None, mids=(), res=results(rows, sheet()))
    text = " ".join(t.get_text() for t in fig.texts)
    assert "Best estimate: none (claim rated not supported)." in text and "3.26" not in text
    assert "Direct" in text


# ---- image baselines (see tests/test_plots.py: EVIDENCE_UPDATE_BASELINES=1 rewrites them) ----------

def _new_baselines():
    rows = legacy_rows()
    res = results(rows, sheet())
    wanted = pd.DataFrame({"study_id": ["ford2010"], "outcome": ["worry"], "status": ["open"]})
    verdict = {"verdict": "uncertain", "certainty": "low", "best_estimate": 0.4, "ci_low": 0.01,
               "ci_high": 0.79, "measure": "SMD", "n_studies": 1, "n_participants": 60}
    return {
        "albatross": ("single", lambda: albatross(rows, res=res)),
        "harvest": ("double", lambda: harvest(rows, wanted=wanted, res=res)),
        "card": ("double", lambda: card(_claim(), rows.assign(relevance="direct"), verdict=verdict, mids=(),
                                        res=res)),
    }


@pytest.mark.parametrize("name", sorted(_new_baselines()))
def test_new_kinds_look_like_the_baseline(name, tmp_path):
    from test_plots import assert_like_baseline

    width, draw = _new_baselines()[name]
    assert_like_baseline(name, width, draw, tmp_path)


def test_a_sign_unknown_interval_is_drawn_from_effects_csv_alone():
    """The figures read what a sign-unknown row reports from effects.csv's reported_* columns,
    not from the extraction sheet or the reason's wording."""
    from evidence.plots.results import results

    frame = pd.DataFrame([{"row_id": "k1", "result_class": "effect_sign_unknown", "yi": np.nan,
                           "ci_low": np.nan, "ci_high": np.nan, "se": np.nan, "measure": "MD",
                           "reported_value": 0.07, "reported_ci_low": -0.23, "reported_ci_high": 0.37,
                           "not_estimable_reason": "sign unknown", "direction": np.nan,
                           "n_int": np.nan, "n_ctl": np.nan}])
    x = results(frame).loc["k1"]
    assert (x["est"], x["lo"], x["hi"]) == (0.07, -0.23, 0.37) and x["direction"] is None
