"""GRADE-style rules on handmade analysis summaries: one case per downgrade and verdict.

The summaries are invented for the tests (no study's numbers); each case moves one
statistic across one threshold of evidence.grading and checks the level and the
reason that names it.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import pandas as pd
import pytest

from evidence import grading as g
from evidence import relevance as rel_mod
from evidence.relevance import Relevance

S = g.AnalysisSummary


def summary(**kw) -> g.AnalysisSummary:
    """A clean body of evidence: large, precise, consistent, low risk of bias, direct."""
    base = dict(analysis_id="gad_anxiety_eot", measure="SMD", estimate=0.8, ci_low=0.6,
                ci_high=1.0, k=3, n_participants=600, outcome="anxiety", I2=0.0,
                pi_low=0.4, pi_high=1.2, designs=("RCT",), comparator_types=("waitlist",),
                comparators=("massage vs waitlist",), risk_of_bias=("low", "low", "low"),
                conditions=("GAD",), mid=0.5, label="Trial A, Trial B, Trial C",
                studies=(("a", 200, 1), ("b", 200, 1), ("c", 200, 1)))
    base.update(kw)
    return S(**base)


def claim(**kw) -> g.Claim:
    pico = dict(population="adults with GAD", conditions=["GAD"], intervention="massage",
                comparator="no massage", comparator_type="no treatment", outcome="anxiety",
                outcomes=["anxiety"])
    pico.update(kw.pop("pico", {}))
    base = dict(id="C99", section="Test", kinds=("efficacy",), claim="massage eases anxiety",
                sources=("sherman2010",), pico=pico, analyses=("gad_anxiety_eot",), hedged=False)
    base.update(kw)
    return g.Claim(**base)


def direct(analysis_id="gad_anxiety_eot", aspects=(), role="graded"):
    return Relevance("C99", analysis_id, rel_mod.tag(tuple(aspects)), tuple(aspects), role,
                     "computed", "test")


def domains(rating):
    return {d.domain: d for d in rating.downgrades}


def test_clean_randomised_evidence_stays_high():
    r = g.rate(summary(), direct())
    assert r.start == 4 and r.downgrades == [] and r.certainty == "high"


# --- start ---------------------------------------------------------------------
@pytest.mark.parametrize("design", ["uncontrolled before-after", "quasi-RCT", "narrative review"])
def test_non_randomised_starts_low(design):
    r = g.rate(summary(designs=(design,)), direct())
    assert r.start == 2 and r.certainty == "low"
    assert design in r.start_reason and "start low" in r.start_reason

def test_mixed_designs_start_low_naming_the_non_randomised_one():
    level, why = g.start_level(summary(designs=("RCT", "case series")))
    assert level == 2 and "case series" in why and "RCT" not in why


# --- risk of bias ----------------------------------------------------------------
def test_risk_of_bias_serious_when_weighted_score_reaches_half():
    d = g.risk_of_bias(summary(risk_of_bias=("high", "low", "low"), rob_weights=(1, 1, 1)))
    assert d.levels == 1 and "results by risk of bias: 1 high, 2 low" in d.reason and "0.67" in d.reason


def test_risk_of_bias_very_serious_when_all_high():
    d = g.risk_of_bias(summary(risk_of_bias=("high", "high")))
    assert d.levels == 2 and d.detail.startswith("2 results at high risk of bias")


def test_risk_of_bias_uses_weights():
    # one small high-risk trial (5% weight) among low-risk ones: mean 0.1 < 0.5
    assert g.risk_of_bias(summary(risk_of_bias=("high", "low"), rob_weights=(5, 95))) is None
    d = g.risk_of_bias(summary(risk_of_bias=("high", "low"), rob_weights=(60, 40)))
    assert d.levels == 1 and "1.20" in d.reason


def test_risk_of_bias_not_assessed_counts_as_unclear_unless_switched_off():
    d = g.risk_of_bias(summary(risk_of_bias=("", "")))
    assert d.levels == 1 and d.detail.startswith("2 results not assessed for risk of bias")
    assert g.risk_of_bias(summary(risk_of_bias=())).levels == 1
    off = g.Rules(rob_not_assessed=False)
    assert g.risk_of_bias(summary(risk_of_bias=("", "")), off) is None
    assert g.risk_of_bias(summary(risk_of_bias=()), off) is None
    # switched off, an assessed high-risk row still counts: 1 high of 2, assessed only -> 2.0
    assert g.risk_of_bias(summary(risk_of_bias=("high", "")), off).levels == 2


# --- inconsistency -----------------------------------------------------------------
def test_inconsistency_from_i2():
    d = g.inconsistency(summary(I2=78.4))
    assert d.levels == 1 and "I² = 78%" in d.reason
    assert g.inconsistency(summary(I2=49.9)) is None


def test_inconsistency_from_prediction_interval_crossing_null():
    d = g.inconsistency(summary(I2=30.0, pi_low=-0.3, pi_high=1.9))
    assert d.levels == 1 and "-0.30 to 1.90 crosses 0" in d.reason
    # PI crossing 0 is no extra signal when the CI already does (that is imprecision)
    assert g.inconsistency(summary(ci_low=-0.1, pi_low=-0.3, pi_high=1.9)) is None


def test_inconsistency_not_assessable_for_one_study():
    assert g.inconsistency(summary(k=1, I2=None, pi_low=None, pi_high=None)) is None


# --- relevance and indirectness (evidence.relevance) -----------------------------------
def fake_fit(analysis_id="gad_anxiety_eot", condition="GAD", outcome="anxiety",
             comparator_types=("waitlist",), study="sherman2010", role="cited"):
    rows = pd.DataFrame({"study_id": [study] * len(comparator_types), "condition": condition,
                         "comparator_type": list(comparator_types), "estimable": True})
    spec = SimpleNamespace(id=analysis_id, condition=condition, outcome=outcome,
                           evidence_role=role)
    return SimpleNamespace(spec=spec, rows=rows, estimable_rows=rows)


def relevance_of(c, fit, studies=()):
    (r,) = rel_mod.for_claim(c, {fit.spec.id: fit}, list(studies))
    return r


def test_relevance_population_panic_disorder_from_gad():
    r = relevance_of(claim(pico={"conditions": ["panic disorder"]}), fake_fit())
    assert r.relevance == "other population" and r.aspects == ("population",)
    assert "trials in GAD, claim about panic disorder" in r.reason
    d = g.indirectness(r)
    assert d.levels == 1 and d.domain == "indirectness"


def test_relevance_comparator_active_or_unreported_for_benefit_over_nothing():
    r = relevance_of(claim(), fake_fit(comparator_types=("active",)))
    assert r.relevance == "other comparator" and "compared with active" in r.reason
    # the same trial is direct for a claim that names no comparator
    assert relevance_of(claim(pico={"comparator_type": "any"}),
                        fake_fit(comparator_types=("active",))).relevance == "direct"
    # a review that does not report its comparators cannot be taken as direct ...
    unknown = relevance_of(claim(), fake_fit(comparator_types=("",)))
    assert unknown.relevance == "other comparator" and "not reported" in unknown.reason
    # ... unless that rule is switched off (a sensitivity variant)
    (lenient,) = rel_mod.for_claim(claim(), {"gad_anxiety_eot": fake_fit(comparator_types=("",))},
                                   [], unknown_comparator_indirect=False)
    assert lenient.relevance == "direct"


def test_relevance_outcome_mechanism_from_symptom_scores():
    c = claim(kinds=("mechanism",), pico={"outcomes": ["muscle_tension"]})
    r = relevance_of(c, fake_fit())
    assert r.relevance == "other outcome" and "measures anxiety" in r.reason


def test_two_aspects_rate_down_twice_and_no_more():
    c = claim(pico={"conditions": ["panic disorder"], "outcomes": ["anxiety", "panic"]})
    r = relevance_of(c, fake_fit(comparator_types=("sham",)))
    assert r.aspects == ("population", "comparator") and g.indirectness(r).levels == 2
    three = Relevance("C99", "x", "other population", ("population", "outcome", "comparator"),
                      "graded", "computed", "t")
    assert g.indirectness(three).levels == 2


def test_relevance_attaches_what_the_claim_cites_and_what_matches_exactly():
    """An analysis bears on a claim when its rows come from the claim's sources (a cited
    review's included trials count through cited_by) or it matches outcome and population."""
    studies = [{"study_id": "review", "cited_by": "article"},
               {"study_id": "trial", "cited_by": "review"}]
    c = claim(sources=("review",), pico={"conditions": ["GAD"], "outcomes": ["anxiety"]})
    included = fake_fit(study="trial", outcome="depression")  # other outcome, same population
    exact_elsewhere = fake_fit("exact", study="elsewhere")     # not cited, but exactly on target
    unrelated = fake_fit("unrelated", condition="migraine", outcome="pain", study="elsewhere")
    fits = {"gad_anxiety_eot": included, "exact": exact_elsewhere, "unrelated": unrelated}
    found = {r.analysis_id: r.relevance for r in rel_mod.for_claim(c, fits, studies)}
    assert found == {"gad_anxiety_eot": "other outcome", "exact": "direct"}


def test_an_analysis_the_claim_names_but_that_bears_on_nothing_it_claims_is_reported_left_out():
    """C05's case: a migraine headache analysis named for a musculoskeletal pain claim is not
    drawn on its card, and the card must say so with the reason rather than drop it silently."""
    c = claim(analyses=("migraine", "gad_anxiety_eot"))
    fits = {"migraine": fake_fit("migraine", condition="migraine", outcome="headache_intensity",
                                 comparator_types=("sham",)),
            "gad_anxiety_eot": fake_fit()}
    kept = [r.analysis_id for r in rel_mod.for_claim(c, fits, [])]
    assert kept == ["gad_anxiety_eot"]
    ((aid, why),) = rel_mod.left_out(c, fits, kept)
    assert aid == "migraine"
    assert "trials in migraine, claim about GAD" in why and "measures headache intensity" in why
    assert rel_mod.left_out(c, fits, ["migraine", "gad_anxiety_eot"]) == []


def test_context_analyses_are_attached_as_context_and_never_graded():
    ctx = fake_fit("ctx", study="z2023", role="context")
    (r,) = rel_mod.for_claim(claim(sources=("other",)), {"ctx": ctx}, [])
    assert r.role == "context"


# --- imprecision --------------------------------------------------------------------------
def test_imprecision_ci_crossing_null():
    d = g.imprecision(summary(estimate=0.35, ci_low=-0.2, ci_high=0.9, mid=None))
    assert d.levels == 1 and "95% CI -0.20 to 0.90 crosses 0" in d.reason


def test_imprecision_ci_crossing_mid():
    d = g.imprecision(summary(estimate=0.6, ci_low=0.3, ci_high=0.9))
    assert d.levels == 1 and "crosses the MID 0.50" in d.reason


def test_imprecision_ci_spanning_benefit_and_harm_is_very_serious():
    d = g.imprecision(summary(estimate=0.1, ci_low=-0.7, ci_high=0.9))
    assert d.levels == 2 and "both -MID and +MID" in d.reason


def test_imprecision_small_information_size():
    d = g.imprecision(summary(n_participants=120))
    assert d.levels == 1 and "n = 120 < 400" in d.reason
    assert g.imprecision(summary(n_participants=400)) is None


def test_imprecision_null_and_small_is_very_serious():
    d = g.imprecision(summary(estimate=0.3, ci_low=-0.1, ci_high=0.45, n_participants=68))
    assert d.levels == 2 and "crosses 0" in d.reason and "n = 68 < 400" in d.reason


def test_imprecision_ratio_measures_use_rr_125():
    # logRR CI from RR 0.95 to 1.40: crosses 0 and ln(1.25) = 0.22; OIS is for continuous only
    s = summary(measure="logRR", estimate=math.log(1.15), ci_low=math.log(0.95),
                ci_high=math.log(1.40), n_participants=50, mid=None)
    d = g.imprecision(s)
    assert d.levels == 1 and "crosses 0 and the MID 0.22" in d.reason and "n = 50" not in d.reason


# --- publication bias ------------------------------------------------------------------------
def test_publication_bias_needs_ten_studies_and_egger_p_below_010():
    d = g.publication_bias(summary(k=12, egger_p=0.03))
    assert d.levels == 1 and "Egger p = 0.030 with k = 12" in d.reason
    assert g.publication_bias(summary(k=9, egger_p=0.03)) is None
    assert g.publication_bias(summary(k=12, egger_p=0.12)) is None
    assert g.publication_bias(summary(k=12, egger_p=None)) is None


def test_results_we_could_not_read_are_not_publication_bias():
    """Our own extraction gaps are not reporting bias in the studies: no downgrade by default;
    the old rule survives only as the `missing_as_bias` sensitivity variant."""
    assert g.publication_bias(summary(missing_studies=("sherman2010",))) is None
    old = g.Rules(missing_as_bias=True)
    d = g.publication_bias(summary(missing_studies=("sherman2010",)), old)
    assert d.levels == 1 and "missing results: no estimable effect from sherman2010" in d.reason
    both = g.publication_bias(summary(k=12, egger_p=0.01, missing_studies=("x",)), old)
    assert both.levels == 1 and both.rule == "egger;missing_results"


def test_certainty_never_below_very_low():
    s = summary(designs=("case series",), risk_of_bias=("high",), I2=90.0,
                ci_low=-0.5, n_participants=30)
    r = g.rate(s, direct(aspects=("population",)))
    assert sum(d.levels for d in r.downgrades) > 2 and r.level == 1 and r.certainty == "very low"


