"""Figures show null and unfavourable results as plainly as favourable ones (issue 13).

Each test builds a small invented frame in the effects.csv vocabulary and checks what a board
member would see: a null coloured as a null, a "no difference" P placed on the albatross plot
with the n it covers, context evidence set apart and named, where a best estimate comes from.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from matplotlib.patches import Rectangle

from evidence.claims import Claim
from evidence.effects.build import total_n
from evidence.plots import albatross, card, harvest, house_style
from evidence.plots.albatross import _contour_label_at, _merge_tags, point_text, points
from evidence.plots.claimplot import best_source, claim_summary, directions_text
from evidence.plots.forestplot import pooled_label, review_stats
from evidence.plots.harvest import clear_direction, short_timepoint
from evidence.plots.results import results

BASE = {"pmid": "", "condition": "GAD", "instrument": "HARS", "timepoint_weeks": np.nan,
        "comparator_type": "usual care", "design": "RCT", "favours_int_positive": True,
        "evidence_role": "cited", "source": "PMID x, Table 2", "derived": "", "risk_of_bias": "",
        "k_studies": np.nan, "i2": np.nan, "data_type": "", "measure": "SMD", "yi": np.nan, "vi": np.nan,
        "se": np.nan, "ci_low": np.nan, "ci_high": np.nan, "n_int": np.nan, "n_ctl": np.nan,
        "estimable": False, "not_estimable_reason": "", "p": np.nan, "p_operator": "", "n_total": np.nan,
        "smd_implied_low": np.nan, "smd_implied_high": np.nan, "direction": np.nan, "n_total_basis": ""}


def row(rid, study, outcome, cls, **kw):
    r = dict(BASE, row_id=rid, study_id=study, outcome=outcome, timepoint="end of treatment",
             comparison="massage vs usual care", result_class=cls,
             label=study.capitalize()[:-4] + " " + study[-4:])
    r.update(kw)
    return r


def frame() -> pd.DataFrame:
    return pd.DataFrame([
        # a benefit: CI above 0
        row("e1", "abel2001", "anxiety", "effect", yi=0.5, se=0.2, ci_low=0.108, ci_high=0.892, n_int=40,
            n_ctl=40, n_total=80, direction=1, estimable=True),
        # a null whose point estimate favours the intervention (P = 0.52)
        row("e2", "baker2003", "sleep", "effect", yi=0.1, se=0.155, ci_low=-0.204, ci_high=0.404,
            n_int=60, n_ctl=60, n_total=120, direction=1, estimable=True),
        # a null whose point estimate favours the control
        row("e3", "cole2005", "pain", "effect", yi=-0.2, se=0.36, ci_low=-0.906, ci_high=0.506, n_int=15,
            n_ctl=14, n_total=29, direction=-1, estimable=True),
        # an omnibus test across all arms of a three-arm trial: "no difference", n from studies.csv
        row("n1", "dunn2010", "anxiety", "no_difference", p=0.39, direction=0, n_int=23, n_total=68,
            n_total_basis="study n randomised, all arms", comparison="massage vs two controls"),
        # context evidence the article does not cite
        row("c1", "hale2016", "anxiety", "effect", yi=0.7, se=0.1, ci_low=0.504, ci_high=0.896, direction=1,
            design="meta-analysis", evidence_role="context", estimable=True),
    ])


# -- harvest: a null is grey whatever its point estimate; context below a rule --------------------

def test_harvest_colours_a_null_as_a_null_and_sets_context_apart():
    rows = frame()
    res = results(rows, outcomes=None)
    assert [clear_direction(res.loc[r]) for r in ("e1", "e2", "e3", "n1", "c1")] == [1, 0, 0, 0, 1]
    with house_style("double"):
        fig = harvest(rows, res=res)
    ax = fig.axes[0]
    glyphs = [ln for ln in ax.lines if len(ln.get_xdata()) == 1]
    by_y = {}
    for ln in glyphs:
        by_y.setdefault(int(ln.get_ydata()[0]), []).append(ln.get_markerfacecolor())
    labels = [t.get_text() for t in ax.get_yticklabels()]
    baker = labels.index(next(t for t in labels if t.startswith("Baker 2003")))
    cole = labels.index(next(t for t in labels if t.startswith("Cole 2005")))
    abel = labels.index(next(t for t in labels if t.startswith("Abel 2001")))
    from matplotlib.colors import to_hex

    from evidence.plots.albatross import FAVOURS_INT
    from evidence.plots.style import GREY
    assert to_hex(by_y[baker][0]) == to_hex(GREY) and to_hex(by_y[cole][0]) == to_hex(GREY)
    assert to_hex(by_y[abel][0]) == to_hex(FAVOURS_INT)
    # the context review is the last row, tagged, under a heavier rule
    assert labels[-1].startswith("Hale 2016 (context; k not reported)")
    rules = [ln for ln in ax.lines if len(ln.get_xdata()) == 2 and ln.get_linewidth() >= 1.0]
    assert len(rules) == 1 and rules[0].get_ydata()[0] == len(labels) - 1
    legend = " ".join(t.get_text() for t in fig.legends[0].get_texts())
    assert "no clear difference" in legend and "context, not cited" in legend
    assert "favours control" not in legend  # no cell shows a clear harm: no key for one
    assert ".csv" not in legend


def test_a_change_from_baseline_is_not_filed_as_baseline():
    assert short_timepoint({"timepoint": "change from baseline to week 2", "timepoint_weeks": 2}) == "2 wk"
    assert short_timepoint({"timepoint": "baseline", "timepoint_weeks": 0}) == "baseline"


# -- albatross: the "no difference" P is placed with the n it covers -----------------------------

def test_a_no_difference_p_is_drawn_on_both_sides_with_the_n_it_covers():
    rows = frame()
    res = results(rows, outcomes=None)
    pts, _skipped = points(rows, res)
    (dunn,) = [p for p in pts if p.label.startswith("Dunn 2010")]
    assert (dunn.p, dunn.n, dunn.direction, dunn.basis) == (0.39, 68, 0, "study n randomised, all arms")
    text = point_text(dunn)
    assert "n = 68 (study n randomised, all arms)" in text and "\u201cno difference\u201d stated" in text
    with house_style("single"):
        fig = albatross(rows, res=res)
    ax = fig.axes[0]
    squares = [ln for ln in ax.lines if ln.get_marker() == "s" and len(ln.get_xdata()) == 1]
    xs = sorted(float(s.get_xdata()[0]) for s in squares)
    assert len(xs) == 2 and xs[0] == pytest.approx(-xs[1]) == pytest.approx(math.log10(0.39))
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "\u201cno difference\u201d stated" in legend
    assert "favours control" in legend  # Cole's point estimate: an orange mark needs its key


def test_numbers_of_marks_that_touch_are_printed_once():
    tags = [(0.2, 380, [5]), (0.3, 380, [6]), (0.1, 380, [7]), (-0.2, 380, [5]), (2.0, 380, [1, 2])]
    merged = _merge_tags(tags)
    assert [nums for _x, _n, nums in merged] == [[5], [5, 6, 7], [1, 2]]
    assert merged[1][0] == pytest.approx(0.2)


@pytest.mark.parametrize("n_range", [(20, 100), (4, 608), (40, 110)])
def test_contour_labels_never_overlap(n_range):
    """Each SMD contour's label sits at its own (x, n); on a log n axis two labels less than a
    factor 1.2 apart at one x would print on top of each other."""
    at = [_contour_label_at(d, *n_range) for d in albatross_contours()]
    placed = [a for a in at if a is not None]
    assert len(placed) >= 2
    for i, a in enumerate(placed):
        for b in placed[i + 1:]:
            assert abs(a[0] - b[0]) > 0.5 or abs(math.log10(a[1] / b[1])) > math.log10(1.2)
        assert n_range[0] <= a[1] <= n_range[1]


def albatross_contours():
    from evidence.plots.albatross import CONTOURS

    return CONTOURS


def test_contour_label_sits_on_its_contour():
    """At the label's n the contour's P is the P at the label's x (R: 2 * pt(0.5 * sqrt(n) / 2,
    n - 2, lower.tail = FALSE) = 0.05 at n = 63.94)."""
    x, n = _contour_label_at(0.5, 20, 100)
    assert n == pytest.approx(63.94, abs=0.01) and x == pytest.approx(-math.log10(0.05))


# -- effects build: the total n of a result ------------------------------------------------------

def _study(**kw):
    return dict({"design": "RCT", "n_randomised": 68.0, "n_analysed": None}, **kw)


def _row(**kw):
    return dict({"n_int": None, "n_ctl": None, "design": "RCT", "comparator_type": "active"}, **kw)


def test_total_n_from_the_arms_else_the_whole_trial_where_the_result_covers_it():
    assert total_n(_row(n_int=23.0, n_ctl=22.0), _study(), True) == (45.0, "arms")
    # two-arm trial, arms not given: the trial's n, analysed before randomised
    assert total_n(_row(), _study(n_randomised=40.0), False) == (40.0, "study n randomised")
    assert total_n(_row(), _study(n_randomised=47.0, n_analysed=40.0), False) == (40.0, "study n analysed")
    # multi-arm trial: only a test with the intervention arm given and the shared controls blank
    assert total_n(_row(n_int=23.0), _study(), True) == (68.0, "study n randomised, all arms")
    assert total_n(_row(), _study(), True) == (None, "")  # a pairwise contrast without arm sizes
    # a review's pooled row, or no control group: no trial n stands for it
    assert total_n(_row(design="meta-analysis"), _study(), False) == (None, "")
    assert total_n(_row(comparator_type="none"), _study(), False) == (None, "")
    assert total_n(_row(), _study(n_randomised=None), False) == (None, "")


# -- cards: context evidence drawn under its own heading, not filling a gap -----------------------

def test_card_draws_context_rows_apart_and_they_fill_no_gap():
    rows = frame().assign(relevance="direct", role="graded")
    rows.loc[rows["row_id"] == "c1", ["relevance", "role"]] = ["other population", "context"]
    claim = Claim("C42", "s", ("efficacy",), "Massage eases anxiety and fatigue.", (),
                  {"outcomes": ["anxiety", "fatigue"], "conditions": ["GAD"]}, ("a1",))
    with house_style("double"):
        fig = card(claim, rows, verdict=None, mids=(), res=results(rows, outcomes=None))
    text = " ".join(t.get_text() for t in fig.texts).replace("\n", " ")
    assert "Context, not cited and used for no verdict: other population" in text
    assert "No evidence on (outcome): fatigue." in text
    only_context = rows[rows["role"] == "context"]
    with house_style("double"):
        fig = card(claim, only_context, verdict=None, mids=(), res=results(only_context, outcomes=None))
    text = " ".join(t.get_text() for t in fig.texts).replace("\n", " ")
    assert "No cited result bears on this claim (1 context result drawn below)." in text
    assert "No evidence on (outcome): anxiety, fatigue." in text  # context does not fill the gap


def test_card_n_column_says_the_whole_trial_when_an_arm_is_blank():
    from evidence.plots.card import _n

    assert _n({"n_int": 23, "n_ctl": np.nan, "n_total": 68}) == "23/\u2013 (68 in all)"
    assert _n({"n_int": 23, "n_ctl": 22, "n_total": 45}) == "23/22"
    assert _n({"n_int": np.nan, "n_ctl": np.nan, "n_total": 380}) == "380 in all"


# -- claims summary: where the best estimate comes from, and the nulls counted --------------------

def test_summary_names_the_source_of_each_best_estimate_and_counts_nulls():
    assert directions_text("favour 1; against 0; no difference 2; unknown 0") == "1 favour, 2 no difference"
    assert directions_text("favour 0; against 0; no difference 0; unknown 0") == "none"
    assert directions_text(np.nan) == "not graded"
    r = {"best_analysis": "gad_eot", "relevant_analyses": "gad_eot (other comparator); x (direct)"}
    assert best_source(r, {"gad_eot": "GAD, anxiety"}) == "GAD, anxiety; other comparator"
    verdicts = pd.DataFrame({"claim_id": ["C01", "C02"], "kind": ["efficacy", "efficacy"],
                             "verdict": ["partly supported (overstated)", "not supported by the cited evidence"],
                             "certainty": ["very low", "very low"], "best_estimate": [3.26, np.nan],
                             "ci_low": [0.35, np.nan], "ci_high": [6.17, np.nan], "measure": ["MD", ""],
                             "n_studies": [1, 0], "n_participants": [40, 0],
                             "best_analysis": ["gad_eot", np.nan],
                             "relevant_analyses": ["gad_eot (other comparator)", ""],
                             "directions": ["favour 1; against 0; no difference 2; unknown 0",
                                            "favour 0; against 0; no difference 0; unknown 0"]})
    with house_style("double"):
        fig = claim_summary(verdicts, claims={"C01": "Massage eases worry.", "C02": "Massage cures all."},
                            titles={"gad_eot": "GAD, anxiety (HARS), end of treatment"})
    text = " ".join(t.get_text() for t in fig.texts).replace("\n", " ")
    assert "from: GAD, anxiety (HARS), end of treatment; other comparator" in text
    assert "1 favour, 2 no difference" in text and "Massage eases worry." in text
    assert "none (not supported)" in text


def test_summary_axis_holds_the_whole_interval_it_draws():
    verdicts = pd.DataFrame({"claim_id": ["C01"], "verdict": ["partly supported"], "certainty": ["low"],
                             "best_estimate": [0.4], "ci_low": [-0.3], "ci_high": [1.3], "measure": ["SMD"]})
    with house_style("double"):
        fig = claim_summary(verdicts)
    assert "SMD (Hedges' g)" in [t.get_text() for t in fig.texts]
    (ax,) = fig.axes  # the one panel with an axis
    lo, hi = ax.get_xlim()
    assert lo <= -0.3 and hi >= 1.3 and lo == pytest.approx(-hi)


# -- forest plots: review statistics and the context note ------------------------------------------

def test_review_row_statistics_say_what_was_not_extracted():
    re_row = {"k_studies": 9, "i2": 40, "model": "random effects", "n_int": np.nan, "n_ctl": np.nan,
              "review_n": 404}
    assert review_stats(re_row) == "I\u00b2\u00a0=\u00a040%; \u03c4\u00b2 not extracted; n\u00a0=\u00a0404 (whole review)"
    fe_row = dict(re_row, model="fixed effect", review_n=np.nan, i2=np.nan)
    assert review_stats(fe_row) == "I\u00b2 not reported; n not reported"  # a fixed effect has no tau2
    assert pooled_label("Li 2014 \u2014 pain", 9, "random effects") == \
        "Li 2014 (pooled, k\u00a0=\u00a09, random effects) \u2014 pain"


def test_context_note_and_axis_caption_name_what_they_share():
    from evidence.figures import _axis_caption, _context_note, _sibling_key

    rows = pd.DataFrame({"instrument": ["HARS"]})
    a = SimpleNamespace(id="ctx", evidence_role="context", condition="GAD", measure="MD", rows=rows)
    b = SimpleNamespace(id="gad", evidence_role="cited", condition="GAD", measure="MD", rows=rows)
    relevance = pd.DataFrame({"analysis_id": ["ctx", "ctx", "gad"], "claim_id": ["C13", "C11", "C11"],
                              "relevance": ["other population"] * 2 + ["direct"]})
    note = _context_note(a, relevance)
    assert note == ("Context evidence: not cited by the article and not used for any verdict; "
                    "other population for C11, C13.")
    assert _context_note(b, relevance) == ""
    siblings = {_sibling_key(a): ["forest_ctx", "forest_gad"]}
    assert _axis_caption(a, siblings) == "x axis shared with forest_gad (MD on the same scale). "
    assert _axis_caption(a, {_sibling_key(a): ["forest_ctx"]}).startswith("x axis fitted to this plot")


# -- condition maps: drawn as the cards are, grouped by evidence role ------------------------------

def test_condition_map_mirrors_a_sign_unknown_interval_and_shades_the_mid_in_its_own_units():
    from evidence.mids import Mid
    from evidence.plots import condition_evidence

    rows = pd.DataFrame([
        row("k1", "kent2008", "pain", "effect", measure="MD", instrument="MPAC pain (0-10)", yi=0.9, se=0.15,
            ci_low=0.61, ci_high=1.19, direction=1, n_total=380, n_total_basis="study n randomised",
            evidence_role="included_in_cited_review", estimable=True),
        row("k2", "kent2008", "pain", "effect_sign_unknown", measure="MD", instrument="BPI mean pain (0-10)",
            reported_value=0.07, reported_ci_low=-0.23, reported_ci_high=0.37, direction=0, n_total=380,
            evidence_role="included_in_cited_review"),
        row("n1", "dunn2010", "pain", "no_difference", p=0.57, direction=0, n_int=56, n_ctl=55, n_total=111),
        frame().iloc[4],  # the context review
    ])
    mids = (Mid("pain", "MPAC pain (0-10)", "points", 2.0, "Farrar 2001"),)
    with house_style("double"):
        fig = condition_evidence(rows, mids=mids, res=results(rows, outcomes=None))
    text = " ".join(t.get_text() for t in fig.texts).replace("\n", " ")
    for heading in ("Included in a cited review", "Cited by the article",
                    "Context, not cited and used for no verdict"):
        assert heading in text, heading
    assert "MD, MPAC pain points (0-10)" in text and "BPI mean pain points (0-10); no MID" in text
    mpac = [ax for ax in fig.axes if any(isinstance(p, Rectangle) and p.get_width() == pytest.approx(4.0)
                                         for p in ax.patches)]
    assert len(mpac) == 1  # the +-2 point MID band, on the MPAC panel only
    squares = [ln for ax in fig.axes for ln in ax.lines if ln.get_marker() == "s"
               and ln.get_markerfacecolor() == "white"]
    assert len(squares) >= 2  # the mirrored pair (and the strip's "no difference" squares)
    strip = [ax for ax in fig.axes if "albatross strip" in ax.get_title(loc="left")]
    assert len(strip) == 1 and "P = 0.57, strip point 1" in text


def test_point_numbers_are_kept_short():
    from evidence.plots.albatross import runs

    assert runs(list(range(11, 0, -1))) == "1\u201311"
    assert runs([1, 2]) == "1,2" and runs([3, 5, 6, 7]) == "3,5\u20137" and runs([4]) == "4"


def test_an_analysis_drawn_whole_inside_a_wider_forest_gets_no_copy_of_its_own():
    from evidence.figures import _contained

    def a(aid, ids, measure="SMD", result=None):
        return SimpleNamespace(id=aid, measure=measure, result=result,
                               rows=pd.DataFrame({"row_id": ids, "estimable": [True] * len(ids)}))

    one, many = a("one_review", ["z1"]), a("reviews", ["z1", "l1", "l2"])
    pooled = a("pooled_pair", ["l1", "l2"], result=object())  # a fit of its own: keeps its forest
    other_scale = a("md_one", ["z1"], measure="MD")
    assert _contained([one, many, pooled, other_scale]) == {"one_review": "reviews"}


def test_card_says_a_verdict_is_provisional_and_words_a_null_effect_as_one():
    from evidence.plots.card import provisional_text

    assert provisional_text({"provisional": "provisional: 16 result(s) not reachable offline"}) == (
        "Provisional: 16 results bearing on the claim are in full texts this audit could not read; the "
        "verdict may change when they are read.")
    assert provisional_text({"provisional": ""}) == "" and provisional_text(None) == ""
    rows = frame().iloc[:3].assign(relevance="direct", role="graded")
    claim = Claim("C42", "s", ("efficacy",), "Massage eases anxiety.", (), {"outcomes": ["anxiety"]}, ("a1",))
    verdict = {"verdict": "uncertain", "certainty": "very low",
               "provisional": "provisional: 2 result(s) not reachable offline"}
    with house_style("double"):
        fig = card(claim, rows, verdict=verdict, mids=(), res=results(rows, outcomes=None))
    text = [t.get_text().replace("\n", " ") for t in fig.texts]
    assert "effect with CI, favours massage" in text  # Abel: CI above 0
    assert text.count("effect with CI, no clear difference") == 2  # Baker and Cole, whatever their sign
    assert any(t.startswith("Provisional: 2 results") for t in text)
