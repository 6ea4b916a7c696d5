"""Plots: what a forest plot shows, that its text never overlaps, and that it looks as approved.

Image comparisons use committed baselines in tests/baseline/ (PNG at 72 dpi,
house style, DejaVu Sans shipped with matplotlib). After an intended change,
regenerate them with ``EVIDENCE_UPDATE_BASELINES=1 pytest tests/test_plots.py``
and look at every changed image before committing it.
"""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.patches import Polygon, Rectangle
from matplotlib.testing.compare import compare_images

from evidence.errors import EvidenceError
from evidence.meta import egger, rma, subgroups, trimfill
from evidence.plots import claim_summary, evidence_map, forest, funnel, house_style

BASELINE = Path(__file__).parent / "baseline"
RMS_TOL = 2.0  # RMS of 0-255 pixel differences; same machine fonts give 0, anti-aliasing drift < 2
UPDATE = os.environ.get("EVIDENCE_UPDATE_BASELINES") == "1"

REASONS = ["only a p-value reported (p < 0.05)", "n per arm not reported",
           "change scores without SDs; the results table of the full text was not available offline"]


def make_rows(n: int, seed: int = 0, measure: str = "SMD") -> pd.DataFrame:
    """Handmade effects rows in the effects.csv vocabulary (invented numbers, for layout only)."""
    rng = np.random.default_rng(seed)
    yi = rng.normal(0.4, 0.35, n)
    vi = rng.uniform(0.02, 0.25, n)
    se = np.sqrt(vi)
    labels = [f"Author{i} {2000 + i % 24}" + (" et al., cluster-randomised pilot" if i % 7 == 3 else "")
              for i in range(n)]
    estimable = [not (i % 9 == 4) for i in range(n)]
    rows = pd.DataFrame({
        "row_id": [f"r{i}" for i in range(n)], "study_id": [f"s{i}" for i in range(n)],
        "label": labels, "measure": measure, "yi": yi, "vi": vi, "se": se,
        "ci_low": yi - 1.959964 * se, "ci_high": yi + 1.959964 * se,
        "n_int": rng.integers(10, 200, n), "n_ctl": rng.integers(10, 200, n),
        "design": ["uncontrolled before-after" if i % 11 == 5 else "RCT" for i in range(n)],
        "comparator_type": ["active" if i % 6 == 2 else "usual care" for i in range(n)],
        "estimable": estimable,
        "not_estimable_reason": ["" if e else REASONS[i % 3] for i, e in enumerate(estimable)],
        "evidence_role": ["cited" if i % 2 else "context" for i in range(n)],
        "source": [f"PMID {1000 + i}, Table 2" for i in range(n)],
    })
    for col in ("yi", "vi", "se", "ci_low", "ci_high"):
        rows.loc[~rows["estimable"], col] = np.nan
    return rows


def asymmetric():
    """12 invented studies whose effects grow with their standard error (trim-and-fill adds 6)."""
    vi = np.linspace(0.01, 0.3, 12)
    return vi, 0.2 + 1.2 * np.sqrt(vi) + np.tile([0.05, -0.05], 6)


def fit(rows, method="REML", test="knha"):
    ok = rows[rows["estimable"]]
    return rma(ok["yi"].to_numpy(), ok["vi"].to_numpy(), method=method, test=test, labels=list(ok["label"]))


def texts(fig) -> list:
    out = [t for t in fig.texts]
    for ax in fig.axes:
        out += list(ax.texts) + [t for t in ax.get_xticklabels() + ax.get_yticklabels()]
        out += [ax.xaxis.label, ax.yaxis.label, ax.title]
    return [t for t in out if t.get_visible() and t.get_text().strip()]


def all_strings(fig) -> str:
    """Every visible string, with line wraps undone (a wrap may break after a hyphen)."""
    return " ".join(t.get_text() for t in texts(fig)).replace("-\n", "-").replace("\n", " ")


def overlaps(fig) -> list:
    """Pairs of text boxes (display pixels) that overlap by more than half a pixel."""
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(r)) for t in texts(fig)]
    bad = []
    for (a, ba), (b, bb) in itertools.combinations(boxes, 2):
        w = min(ba.x1, bb.x1) - max(ba.x0, bb.x0)
        h = min(ba.y1, bb.y1) - max(ba.y0, bb.y0)
        if w > 0.5 and h > 0.5:
            bad.append((a, b))
    return bad


def outside(fig) -> list:
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    W, H = fig.bbox.width, fig.bbox.height
    return [t.get_text() for t in texts(fig)
            if (e := t.get_window_extent(r)).x0 < -0.5 or e.y0 < -0.5 or e.x1 > W + 0.5 or e.y1 > H + 0.5]


@pytest.mark.parametrize("width", ["single", "double"])
@pytest.mark.parametrize("n", [1, 5, 40])
def test_no_text_overlaps_or_leaves_the_figure(n, width):
    rows = make_rows(n, seed=n)
    result = fit(rows) if rows["estimable"].sum() >= 2 else None
    with house_style(width):
        fig = forest(rows, result, mid=0.5, mid_source="Norman 2003", width=width, title="Layout check")
        assert overlaps(fig) == []
        assert outside(fig) == []


def test_forest_shows_weights_diamond_heterogeneity_and_not_estimable_rows():
    rows = make_rows(9, seed=3)
    result = fit(rows)
    with house_style():
        fig = forest(rows, result)
    s = all_strings(fig)
    assert "no effect size: n per arm not reported" in s  # row 4: REASONS[1]
    assert "Random-effects model" in s and "Prediction interval" in s
    assert f"{result.weights[0]:.1f}%" in s
    assert "\u03c4\u00b2" in s and "I\u00b2" in s and f"df = {result.k - 1}" in s
    assert "Knapp-Hartung" in s
    # the pooled estimate as text, with a true minus sign where negative
    est = f"{result.estimate:.2f}".replace("-", "\u2212")
    assert est in s
    diamonds = [p for p in fig.axes[0].patches if isinstance(p, Polygon)]
    assert len(diamonds) == 1
    xs = diamonds[0].get_xy()[:, 0]
    assert xs.min() == pytest.approx(result.ci_low) and xs.max() == pytest.approx(result.ci_high)


def test_markers_sized_by_weight():
    rows = make_rows(6, seed=2)
    rows["estimable"] = True
    rows["not_estimable_reason"] = ""
    rows[["yi", "vi"]] = [[0.1, 0.01], [0.2, 0.2], [0.3, 0.05], [0.4, 0.1], [0.5, 0.02], [0.2, 0.3]]
    se = np.sqrt(rows["vi"])
    rows["ci_low"], rows["ci_high"] = rows["yi"] - 1.96 * se, rows["yi"] + 1.96 * se
    result = fit(rows, method="EE", test="z")
    with house_style():
        fig = forest(rows, result)
    squares = [ln for ln in fig.axes[0].lines if ln.get_marker() == "s"]
    sizes = np.array([ln.get_markersize() for ln in squares])
    assert np.argmax(sizes) == int(np.argmax(result.weights))
    assert np.argmin(sizes) == int(np.argmin(result.weights))


def test_flags_mid_band_and_equal_effects_diamond():
    rows = make_rows(12, seed=5)
    result = fit(rows)
    common = fit(rows, method="EE", test="z")
    with house_style():
        fig = forest(rows, result, common=common, mid=0.5, mid_source="Norman 2003")
    s = all_strings(fig).replace("\n", " ")
    assert "\u2020 Not a randomised controlled comparison" in s and "uncontrolled before-after" in s
    assert "\u2021 Different comparator" in s and "active treatment" in s
    assert "Equal-effects model" in s
    assert "minimal important difference (\u00b10.50 SMD; Norman 2003)" in s
    band = [p for p in fig.axes[0].patches if isinstance(p, Rectangle) and p.get_label() != "_text_row"]
    assert len(band) == 1 and band[0].get_x() == pytest.approx(-0.5) and band[0].get_width() == pytest.approx(1.0)
    assert len([p for p in fig.axes[0].patches if isinstance(p, Polygon)]) == 2
    # open (white) squares for flagged rows
    open_ = [ln for ln in fig.axes[0].lines if ln.get_marker() == "s" and ln.get_markerfacecolor() == "white"]
    flagged = rows[rows["estimable"] & ((rows["design"] != "RCT") | (rows["comparator_type"] == "active"))]
    assert len(open_) == len(flagged)


def test_clipped_intervals_get_arrows():
    rows = make_rows(3, seed=1)
    rows["estimable"] = True
    rows[["yi", "ci_low", "ci_high"]] = [[0.2, -0.5, 0.9], [0.5, -3.0, 4.0], [0.1, -0.2, 0.4]]
    with house_style():
        fig = forest(rows, None, xlim=(-1, 1))
    arrows = sorted(ln.get_marker() for ln in fig.axes[0].lines if ln.get_marker() in ("<", ">"))
    assert arrows == ["<", ">"]


def test_ratio_measures_on_a_log_axis_exponentiated():
    rows = make_rows(4, seed=7, measure="logOR")
    rows["estimable"] = True
    rows[["yi", "ci_low", "ci_high"]] = [[np.log(2), np.log(1.2), np.log(3.3)]] * 4
    with house_style():
        fig = forest(rows, None)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert "2.00 [1.20, 3.30]" in all_strings(fig)
    assert "OR [95% CI]" in all_strings(fig)


def test_subgroups_have_their_own_diamonds_and_a_difference_test():
    rows = make_rows(8, seed=4)
    rows["estimable"] = True
    rows["yi"] = rows["yi"].fillna(0.3)
    rows["vi"] = rows["vi"].fillna(0.1)
    rows["ci_low"] = rows["yi"] - 1.96 * np.sqrt(rows["vi"])
    rows["ci_high"] = rows["yi"] + 1.96 * np.sqrt(rows["vi"])
    rows["group"] = ["Usual care"] * 4 + ["Waitlist"] * 4
    result = fit(rows)
    sg = subgroups(rows["yi"], rows["vi"], rows["group"], method="REML", test="knha")
    with house_style():
        fig = forest(rows, result, by="group", subgroups=sg)
    s = all_strings(fig)
    assert "Usual care" in s and "Waitlist" in s
    assert s.count("Subtotal") == 2
    assert f"Q = {sg.Q_between:.2f} (df = {sg.df})" in s
    assert len([p for p in fig.axes[0].patches if isinstance(p, Polygon)]) == 3


def test_result_that_does_not_match_the_rows_is_refused():
    rows = make_rows(5, seed=0)
    other = fit(make_rows(9, seed=1))
    with house_style(), pytest.raises(EvidenceError, match="weights"):
        forest(rows, other)


def test_evidence_map_separates_scales_and_roles():
    rows = make_rows(6, seed=8)
    rows.loc[0, ["measure", "instrument", "yi", "ci_low", "ci_high"]] = ["MD", "HARS", -2.5, -5.0, 0.1]
    rows.loc[1, ["design", "k_studies"]] = ["meta-analysis", 9]
    with house_style("double"):
        fig = evidence_map(rows, title="C99 test claim", mids={"SMD": 0.5})
    s = all_strings(fig)
    assert "Standardised mean difference (common scale)" in s
    assert "MD in HARS units (native scale)" in s
    assert "Cited by the article" in s and "Context (not cited)" in s
    assert "(pooled, k\u00a0=\u00a09)" in s
    assert len(fig.axes) == 2
    assert overlaps(fig) == []


def test_claim_summary_uses_grade_symbols_and_text_rows():
    v = pd.DataFrame({"claim_id": ["C01", "C02"], "kind": ["efficacy", "safety"],
                      "verdict": ["supported", "no evidence"], "certainty": ["low", ""],
                      "best_estimate": [0.45, np.nan], "ci_low": [0.05, np.nan], "ci_high": [0.85, np.nan],
                      "measure": ["SMD", ""], "n_studies": [4, 0], "n_participants": [210, 0],
                      "reasons": ["", ""], "sources": ["", ""]})
    with house_style("double"):
        fig = claim_summary(v)
    s = all_strings(fig)
    assert "\u2295\u2295\u25ef\u25ef low" in s and "not graded" in s and "none given" in s
    assert "SMD 0.45 [0.05, 0.85]" in s


def test_claim_summary_wraps_long_verdicts_inside_the_figure():
    n = 18
    v = pd.DataFrame({"claim_id": [f"C{i:02d}" for i in range(n)], "kind": "efficacy, safety",
                      "verdict": ["not supported by the cited evidence (overstated)"] * n,
                      "certainty": ["very low"] * n, "best_estimate": [3.26] * n, "ci_low": [0.35] * n,
                      "ci_high": [6.17] * n, "measure": ["MD"] * n, "n_studies": [3] * n,
                      "n_participants": [831] * n, "reasons": "", "sources": ""})
    with house_style("double"):
        fig = claim_summary(v)
    assert outside(fig) == [] and overlaps(fig) == []
    s = all_strings(fig)  # rated not supported: no best estimate is shown, whatever the file says
    assert "MD 3.26" not in s and s.count("none (not supported)") == n


def test_funnel_marks_imputed_studies_open():
    vi, yi = asymmetric()
    res, tf = rma(yi, vi, method="REML"), trimfill(yi, vi)
    with house_style():
        fig = funnel(res, trimfill=tf, egger=egger(yi, vi))
    ax = fig.axes[0]
    open_pts = [c for c in ax.collections if c.get_label() == "Imputed (trim and fill)"]
    assert tf.k0 > 0 and len(open_pts) == 1 and len(open_pts[0].get_offsets()) == tf.k0


# ---- image baselines -------------------------------------------------------

def _baseline_figures():
    rows = make_rows(7, seed=42)
    vi, yi = asymmetric()
    maprows = make_rows(5, seed=9)
    maprows.loc[0, ["measure", "instrument", "yi", "ci_low", "ci_high"]] = ["MD", "HARS", -2.5, -5.0, 0.1]
    maprows.loc[1, ["design", "k_studies"]] = ["meta-analysis", 9]
    verdicts = pd.DataFrame({"claim_id": ["C01", "C02", "C03"], "kind": ["efficacy", "safety", "efficacy"],
                             "verdict": ["supported", "no evidence", "uncertain"],
                             "certainty": ["moderate", "", "very low"], "best_estimate": [0.45, np.nan, 2.3],
                             "ci_low": [0.05, np.nan, -0.4], "ci_high": [0.85, np.nan, 5.0],
                             "measure": ["SMD", "", "MD"], "n_studies": [4, 0, 1],
                             "n_participants": [210, 0, 68], "reasons": "", "sources": ""})
    return {
        "forest_single": ("single", lambda: forest(rows, fit(rows), mid=0.5, mid_source="Norman 2003")),
        "forest_double": ("double", lambda: forest(rows, fit(rows), width="double", title="Anxiety, end of treatment")),
        "evidence_map": ("double", lambda: evidence_map(maprows, title="C99", mids={"SMD": 0.5})),
        "funnel": ("single", lambda: funnel(rma(yi, vi), trimfill=trimfill(yi, vi), egger=egger(yi, vi))),
        "claim_summary": ("double", lambda: claim_summary(verdicts)),
    }


@pytest.mark.parametrize("name", sorted(_baseline_figures()))
def test_looks_like_the_baseline(name, tmp_path):
    width, draw = _baseline_figures()[name]
    assert_like_baseline(name, width, draw, tmp_path)


def assert_like_baseline(name, width, draw, tmp_path):
    """Draw at 72 dpi and compare with tests/baseline/<name>.png (RMS_TOL); UPDATE rewrites it."""
    expected = BASELINE / f"{name}.png"
    actual = tmp_path / f"{name}.png"
    with house_style(width):
        draw().savefig(actual, dpi=72, metadata={"Software": None})
    if UPDATE:
        expected.write_bytes(actual.read_bytes())
    if not expected.exists():
        pytest.fail(f"no baseline {expected}; create it with EVIDENCE_UPDATE_BASELINES=1")
    err = compare_images(str(expected), str(actual), tol=RMS_TOL)
    assert err is None, err


def test_rows_with_nothing_to_plot_give_a_text_table_with_distinct_labels():
    rows = make_rows(2, seed=0)
    rows["label"] = "Sherman 2010"
    rows["comparison"] = ["massage vs thermotherapy", "massage vs relaxing room"]
    rows["estimable"] = False
    rows["not_estimable_reason"] = ["no per-arm numbers in the abstract"] * 2
    rows["source"] = "PMID 20186971, abstract"
    with house_style():
        fig = forest(rows, None, mid=0.5)
    s = all_strings(fig)
    assert "Sherman 2010, vs thermotherapy" in s and "Sherman 2010, vs relaxing room" in s
    assert s.count("no effect size: no per-arm numbers in the abstract") == 2
    assert fig.axes == []  # no empty axis, no MID band for nothing
    assert "Shaded band" not in s
    assert s.count("PMID 20186971, abstract") == 1  # a shared source is cited once


def test_review_estimates_are_open_diamonds_not_flagged_as_uncontrolled():
    rows = make_rows(3, seed=6)
    rows["estimable"] = True
    rows[["yi", "ci_low", "ci_high"]] = [[0.76, 0.61, 0.91], [0.3, 0.0, 0.6], [0.5, 0.1, 0.9]]
    rows["design"] = ["meta-analysis", "RCT", "RCT"]
    rows["comparator_type"] = "usual care"
    rows["k_studies"] = [17, np.nan, np.nan]
    with house_style():
        fig = forest(rows, None)
    s = all_strings(fig)
    assert "Author0 2000 (pooled, k\u00a0=\u00a017)" in s and "\u2020" not in s
    assert "Open diamonds: pooled estimates reported by reviews" in s
    diamonds = [p for p in fig.axes[0].patches if isinstance(p, Polygon)]
    assert len(diamonds) == 1 and diamonds[0].get_facecolor()[:3] == (1.0, 1.0, 1.0)


def test_not_estimable_text_sits_on_white_over_the_null_line_and_band():
    rows = make_rows(10, seed=3)  # rows 4 (and 13...) are not estimable
    with house_style():
        fig = forest(rows, fit(rows), mid=0.5)
        fig.canvas.draw()
        r = fig.canvas.get_renderer()
    ax = fig.axes[0]
    white = [p for p in ax.patches if p.get_label() == "_text_row"]
    band = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_label() != "_text_row"]
    null = [ln for ln in ax.lines if list(ln.get_xdata()) == [0, 0]]
    messages = [t for t in fig.texts if t.get_text().startswith("no effect size")]
    assert len(messages) == (~rows["estimable"]).sum() == len(white) > 0
    assert all(w.get_zorder() > max(band[0].get_zorder(), null[0].get_zorder()) for w in white)
    for t in messages:  # each message lies inside the height of a white patch spanning the plot
        e = t.get_window_extent(r)
        spans = [w.get_window_extent(r) for w in white]
        assert any(s.y0 <= e.y0 + 0.5 and e.y1 - 0.5 <= s.y1 and s.x0 <= ax.bbox.x0 + 0.5
                   and s.x1 >= ax.bbox.x1 - 0.5 for s in spans), t.get_text()


def test_colliding_labels_get_what_tells_them_apart():
    rows = make_rows(3, seed=2)
    rows["label"] = "Kutner 2008"
    rows["comparison"] = "massage vs simple touch"
    rows["outcome"] = "pain"
    rows["instrument"] = ["BPI mean pain (0-10)", "BPI worst pain (0-10)", "BPI worst pain (0-10)"]
    rows["timepoint"] = ["3 weeks", "3 weeks", "1 week"]
    rows["estimable"] = False
    with house_style():
        s = all_strings(forest(rows, None))
    assert "Kutner 2008, BPI mean pain (0-10)" in s
    assert "Kutner 2008, BPI worst pain (0-10), 3 weeks" in s and "Kutner 2008, BPI worst pain (0-10), 1 week" in s
    assert "simple touch" not in s  # shared by all three: says nothing


def test_map_collapses_not_estimable_rows_per_study_and_reason():
    rows = make_rows(60, seed=4)
    rows["estimable"] = False
    rows["label"] = ["Sherman 2010"] * 40 + ["Sherman 2010"] * 5 + ["Rezaeian 2019"] * 14 + ["Jane"]
    rows["not_estimable_reason"] = ["no per-arm numbers"] * 40 + ["n per arm not reported"] * 5 \
        + ["only P < .001"] * 14 + ["only a test of change"]
    rows["evidence_role"] = "cited"
    rows["outcome"] = (["anxiety", "depression", "worry", "disability"] * 15)[:60]
    rows["comparison"] = (["massage vs thermotherapy", "massage vs relaxing room"] * 30)[:60]
    rows["timepoint"] = (["12 weeks"] * 4 + ["26 weeks"] * 4) * 7 + ["12 weeks"] * 4
    rows["design"], rows["comparator_type"] = "RCT", "usual care"
    with house_style("double"):
        fig = evidence_map(rows, title="C99 many unreported comparisons")
        assert overlaps(fig) == [] and outside(fig) == []
    s = all_strings(fig)
    assert "Sherman 2010 \u2014 40 effects (anxiety, depression, worry, disability; 2 comparisons, 2 timepoints)" in s
    assert "Sherman 2010 \u2014 5 effects" in s and "Rezaeian 2019 \u2014 14 effects" in s
    assert s.count("no effect size:") == 4  # one line per study and reason
    counted = sum(int(n) for n in re.findall(r"\u2014 (\d+) effects", s)) + 1  # + Jane's own line
    assert counted == len(rows)  # every row accounted for
    assert fig.get_size_inches()[1] <= 9.7  # one printed page


@pytest.mark.parametrize("n", [1, 5, 40])
def test_map_text_never_overlaps(n):
    rows = make_rows(n, seed=n + 10)
    rows["outcome"], rows["timepoint"] = "anxiety", "end of treatment"
    with house_style("double"):  # drawn in the house style, as exported (hinting changes widths)
        fig = evidence_map(rows, title="Layout check", mids={"SMD": 0.5})
        assert overlaps(fig) == [] and outside(fig) == []
