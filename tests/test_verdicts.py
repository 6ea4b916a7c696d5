"""Claim verdicts under the rules of issue 12, each rule with a hand-worked case.

Summaries are invented for the tests (no study's numbers) except where a
docstring says which published numbers a case re-uses.
"""

from __future__ import annotations

import math

import pytest
from scipy import stats
from test_grading import summary

from evidence import grading as g
from evidence.claims import Claim
from evidence.effects import classes
from evidence.relevance import Relevance


def claim(**kw) -> Claim:
    pico = dict(population="adults with GAD", conditions=["GAD"], intervention="massage",
                comparator="no massage", comparator_type="no treatment", outcome="anxiety",
                outcomes=["anxiety"])
    base = dict(id="C99", section="Test", kinds=("efficacy",), claim="massage eases anxiety",
                sources=("sherman2010",), pico=pico, analyses=("gad_anxiety_eot",))
    base.update(kw)
    return Claim(**base)


def rel(aid="gad_anxiety_eot", aspects=(), role="graded"):
    tag = {(): "direct", ("population",): "other population", ("outcome",): "other outcome",
           ("comparator",): "other comparator"}.get(tuple(aspects), "other population")
    return Relevance("C99", aid, tag, tuple(aspects), role, "computed", "test")


def grade(c, *pairs, rules=g.BASE):
    """pairs: (summary, relevance)."""
    return g.grade_claim(c, {s.analysis_id: s for s, _ in pairs}, frozenset(),
                         [r for _, r in pairs], rules)


# --- benefit judged against importance (Core GRADE 2; GRADE 26) --------------------
def test_a_precise_effect_below_the_mid_is_trivial_not_a_benefit():
    """Kutner 2008's immediate pain difference, 0.90 (95% CI 0.61 to 1.19) on a 0-10 scale,
    against a 2-point MID: the CI excludes 0 but lies wholly below the MID."""
    s = summary(measure="MD", estimate=0.90, ci_low=0.61, ci_high=1.19, mid=2.0)
    what, text = g.effect_judgement(s)
    assert what == "trivial" and "excludes no effect" in text and "lies below the MID 2.00" in text
    assert g.effect_judgement(s, g.Rules(mid_criterion=False))[0] == "benefit"
    v = grade(claim(), (s, rel()))
    assert v.verdict == g.NOT_SUPPORTED and "no on-target estimate shows an important benefit" \
        in v.lead[0]


@pytest.mark.parametrize("lo, hi, mid, want, words", [
    (0.6, 1.0, 0.5, "benefit", "lies above the MID 0.50"),
    (0.3, 0.9, 0.5, "benefit", "includes the MID 0.50"),
    (-0.1, 0.5, 0.5, "null", "includes no effect"),
    (-0.9, -0.2, 0.5, "harm", "excludes no effect"),
    (0.3, 0.9, None, "benefit", "no MID for this outcome and measure"),
])
def test_effect_judgement_against_zero_and_the_mid(lo, hi, mid, want, words):
    what, text = g.effect_judgement(summary(estimate=(lo + hi) / 2, ci_low=lo, ci_high=hi, mid=mid))
    assert what == want and words in text


# --- results without an effect size still count (Handbook ch. 12; SWiM) -------------
def null_result(label="Sherman 2010", p=0.39):
    # (label, row_id, class, direction, p, p_operator)
    return (label, "r-null", "no_difference", 0, p, "")


def test_a_known_null_weighs_as_much_as_a_single_positive():
    """One benefit and one equally direct 'no difference' result: the stated rule makes the
    claim at most partly supported and costs one level for inconsistency (GRADE 7)."""
    pos = summary()
    blank = summary(analysis_id="gad_worry_eot", estimate=None, ci_low=None, ci_high=None,
                    results=(null_result(),))
    v = grade(claim(), (pos, rel()), (blank, rel("gad_worry_eot")))
    assert v.verdict == g.PARTLY and "results conflict" in v.lead[0]
    (d,) = v.claim_downgrades
    assert (d.domain, d.levels, d.rule) == ("inconsistency", 1, "conflicting_results")
    assert v.certainty == "moderate"  # high, -1 for the conflict
    assert v.directions == {"favour": 1, "against": 0, "no difference": 1, "unknown": 0}
    assert "Sherman 2010: no difference, P = 0.39" in " ".join(v.lead)
    # ignoring results without an effect size (a sensitivity variant) hides the null
    hidden = grade(claim(), (pos, rel()), (blank, rel("gad_worry_eot")),
                   rules=g.Rules(results_without_effect=False))
    assert hidden.verdict == g.SUPPORTED and hidden.claim_downgrades == []


def test_sign_test_on_the_known_directions():
    """5 results favour, 1 is against, 2 directions unknown: two-sided exact binomial test of
    5 of 6 at 1/2 = 2 * (C(6,5) + C(6,6)) / 64 = 14/64 = 0.21875."""
    assert g._sign_test(5, 1) == pytest.approx(14 / 64, abs=1e-12)
    assert g._sign_test(0, 0) is None
    results = tuple(("T", f"r{i}", "p_direction", 1, 0.04, "") for i in range(4)) + (
        ("T", "r4", "p_direction", -1, 0.2, ""), ("T", "r5", "p_only", None, 0.3, ""),
        ("T", "r6", "effect_sign_unknown", None, None, ""))
    blank = summary(analysis_id="x", estimate=None, ci_low=None, ci_high=None, results=results)
    v = grade(claim(), (summary(), rel()), (blank, rel("x")))
    assert v.directions == {"favour": 5, "against": 1, "no difference": 0, "unknown": 2}
    assert v.sign_test_p == pytest.approx(14 / 64, abs=1e-12)


def test_results_we_could_not_read_make_the_verdict_provisional_not_downgraded():
    blank = summary(analysis_id="x", estimate=None, ci_low=None, ci_high=None,
                    results=(("Rezaeian 2019", "r", "not_reachable", None, None, ""),) * 2)
    v = grade(claim(), (summary(), rel()), (blank, rel("x")))
    assert v.provisional == 2 and v.verdict == g.SUPPORTED
    assert "provisional: 2 result(s) not reachable offline, listed in wanted.csv" in v.lead
    assert not any(d.domain == "publication bias" for r in v.ratings for d in r.downgrades)


def test_implied_smd_from_p_and_n():
    """Downey 2009: P = .573 with 56 and 55 analysed, direction not stated. By hand:
    t = qt(1 - .573/2, 109), d = t * sqrt(1/56 + 1/55), J = exact Hedges correction."""
    row = {"n_int": 56.0, "n_ctl": 55.0, "p": 0.573, "p_sided": None, "comparator_type": "active"}
    lo, hi, note = classes.implied_smd(row, "p_only", None)
    df = 109
    j = math.exp(math.lgamma(df / 2) - math.log(math.sqrt(df / 2)) - math.lgamma((df - 1) / 2))
    d = stats.t.isf(0.573 / 2, df) * math.sqrt(1 / 56 + 1 / 55)
    assert hi == pytest.approx(j * d, abs=1e-9) and lo == pytest.approx(-j * d, abs=1e-9)
    assert "sign unknown" in note and "derived" in note
    # a bound with a known direction: SMD above the implied value
    low, high, _ = classes.implied_smd({**row, "p": 0.001}, "bound", 1)
    assert high is None and low == pytest.approx(
        j * stats.t.isf(0.0005, df) * math.sqrt(1 / 56 + 1 / 55), abs=1e-9)


# --- wording on GRADE 26's ladder ---------------------------------------------------------
def test_wording_strength_sets_the_certainty_needed_and_the_gap():
    moderate = summary(n_participants=300)  # imprecision -1
    plain = grade(claim(strength="states"), (moderate, rel()))
    assert plain.verdict == g.PARTLY and plain.wording_gap == 1
    assert "below what the wording ('states') needs" in plain.lead[0]
    assert grade(claim(strength="probably"), (moderate, rel())).verdict == g.SUPPORTED
    low = summary(risk_of_bias=("high", "high", "high"))  # -2: low
    assert grade(claim(strength="may"), (low, rel())).verdict == g.SUPPORTED
    assert grade(claim(strength="may"), (low, rel())).wording_gap == 0
    assert grade(claim(strength="states"), (low, rel())).wording_gap == 2


def test_old_hedged_field_is_still_read(tmp_path):
    from evidence.claims import load_claims

    f = tmp_path / "claims.yaml"
    f.write_text("- {id: C01, section: s, kind: efficacy, claim: c, hedged: true, sources: [],\n"
                 "   pico: {population: p, intervention: i, comparator: c, outcome: o}}\n")
    (c,) = load_claims(f)
    assert c.strength == "may" and c.required_level == 2


# --- the best estimate --------------------------------------------------------------------
def test_best_estimate_is_the_most_direct_then_the_most_precise_with_its_own_n():
    wide_direct = summary(analysis_id="a", ci_low=0.1, ci_high=1.5, n_participants=60, k=1)
    narrow_indirect = summary(analysis_id="b", ci_low=0.7, ci_high=0.9, n_participants=900, k=9)
    narrow_direct = summary(analysis_id="c", ci_low=0.5, ci_high=1.1, n_participants=120, k=2)
    v = grade(claim(), (wide_direct, rel("a")), (narrow_indirect, rel("b", ("comparator",))),
              (narrow_direct, rel("c")))
    assert v.headline.analysis_id == "c" and (v.n_studies, v.n_participants) == (2, 120)


def test_no_best_estimate_when_the_evidence_is_not_on_target():
    v = grade(claim(pico={"conditions": ["panic disorder"], "outcomes": ["anxiety"]}),
              (summary(), rel(aspects=("population",))))
    assert v.verdict == g.NOT_SUPPORTED and v.headline is None and v.n_participants is None
    assert "only in other populations" in v.lead[0]


# --- records and the ledger -------------------------------------------------------------------
def test_downgrades_are_records_and_the_prose_is_rendered_from_them():
    blank = summary(analysis_id="x", estimate=None, ci_low=None, ci_high=None,
                    results=(null_result(),))
    v = grade(claim(), (summary(n_participants=120), rel()), (blank, rel("x")))
    rows = g.downgrade_rows([v])
    assert ["C99", "gad_anxiety_eot", "imprecision", 1, "below_ois", "95% CI 0.60 to 1.00; MID "
            "0.50; n = 120", "n = 120 < 400 (optimal information size)"] in rows
    assert any(r[1] == "" and r[4] == "conflicting_results" for r in rows)
    heads = [h for h, _ in v.outline()]
    assert any(h.startswith("across analyses: inconsistency -1") for h in heads)


def test_summary_of_findings_rows_with_symbols_and_footnotes():
    from evidence import sof

    v = grade(claim(), (summary(n_participants=120), rel()))
    (row,) = sof.rows([v])
    record = dict(zip(sof.COLUMNS, row, strict=True))
    assert record["certainty"] == "moderate" and record["certainty_symbols"] == "\u2295\u2295\u2295\u25ef"
    assert record["footnotes"] == "a: imprecision -1 (95% CI 0.60 to 1.00; MID 0.50; n = 120)"
    assert (record["participants"], record["studies"], record["relevance"]) == (120, 3, "direct")


# --- the repository's case ------------------------------------------------------------------
def test_every_analysis_matching_a_claim_is_attached_to_it():
    """Relevance is computed: an analysis whose outcome and condition both match a claim's
    PICO must bear on that claim (the old hand-picked lists left the null palliative
    analyses attached to no claim)."""
    verdicts = g.grade_all()
    from evidence import analyses

    specs = {s.id: s for s in analyses.load_specs()}
    for v in verdicts:
        attached = {r.analysis_id for r in v.relevance}
        for aid, s in specs.items():
            if (s.outcome in (v.claim.pico.get("outcomes") or [])
                    and s.condition in (v.claim.pico.get("conditions") or [])
                    and "advice" not in v.claim.kinds):
                assert aid in attached, (v.claim.id, aid)
    by_id = {v.claim.id: {r.analysis_id for r in v.relevance} for v in verdicts}
    assert {"palliative_pain_later"} <= by_id["C05"] and {"palliative_pain_later",
                                                         "palliative_mood_later"} <= by_id["C06"]


def test_sensitivity_recomputes_every_verdict_under_every_variant():
    base = g.grade_all()
    rows = g.sensitivity(base)
    assert len(rows) == len(base) * len(g.SENSITIVITY)
    by = {(r[0], r[1]): r for r in rows}
    for v in base:
        for name, (_what, _rules) in g.SENSITIVITY.items():
            cid, variant, _w, verdict, certainty, bv, bc, moved = by[(v.claim.id, name)]
            assert (bv, bc) == (v.verdict, v.certainty)
            assert (moved == "yes") == ((verdict, certainty) != (bv, bc))
    # the all-lenient variant can only raise certainty relative to the base rules
    order = {"": -1, **{c: i for i, c in enumerate(g.CERTAINTY)}}
    assert all(order[r[4]] >= order[r[6]] for r in rows if r[1] == "all_lenient")
