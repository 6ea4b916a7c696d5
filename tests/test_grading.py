"""GRADE-style rules on handmade analysis summaries: one case per downgrade and verdict.

The summaries are invented for the tests (no study's numbers); each case moves one
statistic across one threshold of evidence.grading and checks the level and the
reason that names it.
"""

from __future__ import annotations

import dataclasses
import math

import pytest

from evidence import grading as g

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


def domains(rating):
    return {d.domain: d for d in rating.downgrades}


def test_clean_randomised_evidence_stays_high():
    r = g.rate(summary(), claim())
    assert r.start == 4 and r.downgrades == [] and r.certainty == "high"


# --- start ---------------------------------------------------------------------
@pytest.mark.parametrize("design", ["uncontrolled before-after", "quasi-RCT", "narrative review"])
def test_non_randomised_starts_low(design):
    r = g.rate(summary(designs=(design,)), claim())
    assert r.start == 2 and r.certainty == "low"
    assert design in r.start_reason and "start low" in r.start_reason


def test_mixed_designs_start_low_naming_the_non_randomised_one():
    level, why = g.start_level(summary(designs=("RCT", "case series")))
    assert level == 2 and "case series" in why and "RCT" not in why


# --- risk of bias ----------------------------------------------------------------
def test_risk_of_bias_serious_when_weighted_score_reaches_half():
    d = g.risk_of_bias(summary(risk_of_bias=("high", "low", "low"), rob_weights=(1, 1, 1)))
    assert d.levels == 1 and "1 high, 2 low" in d.reason and "0.67" in d.reason


def test_risk_of_bias_very_serious_when_all_high():
    d = g.risk_of_bias(summary(risk_of_bias=("high", "high")))
    assert d.levels == 2 and "2 high" in d.reason


def test_risk_of_bias_uses_weights():
    # one small high-risk trial (5% weight) among low-risk ones: mean 0.1 < 0.5
    assert g.risk_of_bias(summary(risk_of_bias=("high", "low"), rob_weights=(5, 95))) is None
    d = g.risk_of_bias(summary(risk_of_bias=("high", "low"), rob_weights=(60, 40)))
    assert d.levels == 1 and "1.20" in d.reason


def test_risk_of_bias_not_assessed_counts_as_unclear():
    d = g.risk_of_bias(summary(risk_of_bias=("", "")))
    assert d.levels == 1 and "2 not assessed" in d.reason
    assert g.risk_of_bias(summary(risk_of_bias=())).levels == 1


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


# --- indirectness ---------------------------------------------------------------------
def test_indirect_population_panic_disorder_from_gad():
    d = g.indirectness(summary(), claim(pico={"conditions": ["panic disorder"]}))
    assert d.levels == 1 and "population: trials in GAD, claim about panic disorder" in d.reason


def test_indirect_comparator_active_control_for_benefit_over_nothing():
    s = summary(comparator_types=("active",), comparators=("thermotherapy",))
    d = g.indirectness(s, claim())
    assert d.levels == 1 and "comparator: thermotherapy (active)" in d.reason
    # the same trial is direct for a claim that names no comparator
    assert g.indirectness(s, claim(pico={"comparator_type": "any"})) is None


def test_indirect_outcome_mechanism_from_symptom_scores():
    c = claim(kinds=("mechanism",), pico={"outcomes": ["muscle_tension"]})
    d = g.indirectness(summary(), c)
    assert "outcome: mechanism claimed (muscle_tension), trials measured anxiety" in d.reason


def test_indirectness_two_domains_rate_down_twice_and_no_more():
    s = summary(comparator_types=("sham",), comparators=("light touch",))
    c = claim(pico={"conditions": ["panic disorder"], "outcomes": ["panic"]})
    d = g.indirectness(s, c)
    assert d.levels == 2
    assert all(x in d.reason for x in ("population", "comparator", "outcome"))


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


def test_missing_results_rate_down_once_in_the_same_domain():
    d = g.publication_bias(summary(missing_studies=("sherman2010",)))
    assert d.levels == 1 and "missing results: no estimable effect from sherman2010" in d.reason
    both = g.publication_bias(summary(k=12, egger_p=0.01, missing_studies=("x",)))
    assert both.levels == 1 and "Egger" in both.reason and "missing results" in both.reason


def test_certainty_never_below_very_low():
    s = summary(designs=("case series",), risk_of_bias=("high",), I2=90.0,
                ci_low=-0.5, n_participants=30)
    r = g.rate(s, claim(pico={"conditions": ["panic disorder"]}))
    assert sum(d.levels for d in r.downgrades) > 2 and r.level == 1 and r.certainty == "very low"


# --- verdicts ----------------------------------------------------------------------------------
def verdict(c, *summaries, pages=frozenset({"nccih_wyntk"})):
    return g.grade_claim(c, {s.analysis_id: s for s in summaries}, pages)


def test_verdict_supported():
    v = verdict(claim(), summary())
    assert v.verdict == g.SUPPORTED and v.certainty == "high"
    assert v.headline.estimate == 0.8 and v.n_studies == 3 and v.n_participants == 600


def test_verdict_not_supported_when_no_cited_ci_excludes_null():
    v = verdict(claim(), summary(estimate=0.2, ci_low=-0.1, ci_high=0.5))
    assert v.verdict == g.NOT_SUPPORTED
    assert "crosses 0" in "; ".join(v.reasons)


def test_verdict_partly_supported_when_only_the_comparator_is_indirect():
    s = summary(comparator_types=("active",), comparators=("thermotherapy",))
    v = verdict(claim(), s)
    assert v.verdict == g.PARTLY and "evidence is indirect" in v.reasons[0]


def test_verdict_not_supported_when_benefit_is_only_in_another_population():
    v = verdict(claim(pico={"conditions": ["panic disorder"]}), summary())
    assert v.verdict == g.NOT_SUPPORTED
    assert "only in other populations or on other outcomes" in v.reasons[0]
    assert "population: trials in GAD, claim about panic disorder" in v.reasons[1]


def test_mechanism_claim_from_symptom_scores_is_not_supported():
    c = claim(kinds=("mechanism",), pico={"outcomes": ["muscle_tension"]})
    v = verdict(c, summary())
    assert v.verdict == g.NOT_SUPPORTED and "gad_anxiety_eot" in v.reasons[0]


def test_verdict_partly_supported_when_some_analyses_fail():
    other = summary(analysis_id="gad_worry_eot", outcome="worry", estimate=0.1, ci_low=-0.2,
                    ci_high=0.4)
    c = claim(analyses=("gad_anxiety_eot", "gad_worry_eot"), pico={"outcomes": ["anxiety", "worry"]})
    v = verdict(c, summary(), other)
    assert v.verdict == g.PARTLY and "1 of 2 cited analyses" in v.reasons[0]


def test_cited_analysis_without_estimate_blocks_supported():
    empty = summary(analysis_id="gad_worry_eot", outcome="worry", estimate=None, ci_low=None,
                    ci_high=None, not_estimable=("Sherman 2010 (only p = .39)",))
    c = claim(analyses=("gad_anxiety_eot", "gad_worry_eot"), pico={"outcomes": ["anxiety", "worry"]})
    v = verdict(c, summary(), empty)
    assert v.verdict == g.PARTLY
    assert v.reasons[0].startswith("1 of 2 cited analyses show a benefit (1 without an estimable effect)")
    assert "gad_worry_eot: no estimable effect, not estimable: Sherman 2010 (only p = .39)" in v.reasons


def test_plain_claim_needs_high_certainty_and_may_claim_low():
    # GRADE 26 wording: "reduces" = high, "likely reduces" = moderate, "may reduce" = low
    moderate = summary(n_participants=300)            # imprecision -1
    low = summary(risk_of_bias=("high", "high", "high"))  # risk of bias -2
    very_low = summary(risk_of_bias=("high", "high", "high"), n_participants=300)
    assert verdict(claim(), moderate).verdict == g.PARTLY
    assert "certainty moderate is below what an unhedged claim needs" in verdict(claim(), moderate).reasons[0]
    assert verdict(claim(hedged=True), low).verdict == g.SUPPORTED
    assert verdict(claim(hedged=True), very_low).verdict == g.PARTLY


def test_claim_certainty_is_the_lowest_of_its_analyses():
    worse = summary(analysis_id="gad_depression_eot", outcome="depression",
                    risk_of_bias=("high", "high", "high"))
    c = claim(analyses=("gad_anxiety_eot", "gad_depression_eot"),
              pico={"outcomes": ["anxiety", "depression"]})
    v = verdict(c, summary(), worse)
    assert v.certainty == "low" and v.headline.analysis_id == "gad_anxiety_eot"


def test_safety_without_adverse_event_data_caps_the_verdict():
    v = verdict(claim(kinds=("efficacy", "safety")), summary())
    assert v.verdict == g.PARTLY and "safety: no cited analysis measures it" in v.reasons[0]


def test_no_evidence_cited_without_sources():
    v = verdict(claim(sources=(), analyses=()))
    assert v.verdict == g.NO_EVIDENCE and v.certainty == "" and v.headline is None


def test_no_evidence_cited_when_only_web_pages():
    v = verdict(claim(sources=("nccih_wyntk",), analyses=()))
    assert v.verdict == g.NO_EVIDENCE and "only secondary web pages cited (nccih_wyntk)" in v.reasons[0]
    # a page is recognised by its design in studies.csv, not by its name
    other = verdict(claim(sources=("acupuncture_faq",), analyses=()), pages={"acupuncture_faq"})
    assert other.verdict == g.NO_EVIDENCE
    not_a_page = verdict(claim(sources=("nccih_wyntk",), analyses=()), pages=frozenset())
    assert not_a_page.verdict != g.NO_EVIDENCE


def test_study_cited_without_estimable_effect_is_not_supported():
    s = summary(estimate=None, ci_low=None, ci_high=None)
    v = verdict(claim(), s)
    assert v.verdict == g.NOT_SUPPORTED and "no estimable effect" in v.reasons[0]


def test_advice_is_not_graded():
    v = verdict(claim(kinds=("advice",)), summary())
    assert v.verdict == g.ADVICE and v.certainty == ""


def test_context_evidence_is_reported_but_not_graded():
    ctx = summary(analysis_id="context_depression_hou2010", evidence_role="context",
                  outcome="depression", estimate=0.73, ci_low=0.52, ci_high=0.94, k=17,
                  label="Hou 2010")
    cited = summary(estimate=0.2, ci_low=-0.1, ci_high=0.5)
    c = claim(analyses=("gad_anxiety_eot", "context_depression_hou2010"))
    v = verdict(c, cited, ctx)
    assert v.verdict == g.NOT_SUPPORTED and v.headline.analysis_id == "gad_anxiety_eot"
    assert any(r.startswith("context: Hou 2010 SMD 0.73 (95% CI 0.52 to 0.94), k=17")
               for r in v.reasons)


def test_multi_arm_trial_participants_not_double_counted():
    a = summary(studies=(("sherman2010", 68, 1),))
    b = summary(analysis_id="gad_depression_eot", outcome="depression",
                studies=(("sherman2010", 66, 1), ("li2014", 404, 9)))
    assert g._pooled_counts([a, b]) == (10, 472)


def test_summary_is_a_frozen_value():
    with pytest.raises(dataclasses.FrozenInstanceError):
        summary().estimate = 1.0
