"""Albatross plot (Harrison et al., Res Synth Methods 2017;8:281-289): P value against total n.

Every between-group result with a two-sided P (reported, or computed from
its effect and SE) and a total n is a point: left of the centre line if it
favours the control, right if it favours the intervention, on both sides
(open, joined) when its direction is unknown. A P given as a bound is an
arrow pointing to the smaller P it stands for. Contours show where a
standardised mean difference of 0.2, 0.5 and 0.8 would fall under a
two-sample t test with two equal arms (df = n - 2). Results that cannot be
placed are listed under the plot with the reason.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter
from scipy import stats

from evidence import case, vocabulary
from evidence.errors import EvidenceError
from evidence.plots._layout import _Measure
from evidence.plots.results import WITH_P, results
from evidence.plots.style import FONT_SIZES, GREY, INK, MIN_PT, WIDTHS, check_width

CONTOURS = (0.2, 0.5, 0.8)
CENTRE = 0.6  # |x| below which a both-sides pair gets one number, centred (two would collide)
P_FLOOR = 1e-4  # P below this is drawn at the edge with an arrow
ASSUMPTION = ("SMD contours assume a two-sample t test with two equal arms (df = n \u2212 2); "
              "P two-sided, reported or computed from the effect and its SE; P below 0.0001 drawn at the edge.")
FAVOURS_INT = "#1f4e79"
FAVOURS_CTL = "#b35806"


@dataclass(frozen=True)
class Skipped:
    """A result with a P that cannot be placed, and why."""
    study: str
    label: str
    why: str


def skipped_text(skipped: list[Skipped]) -> str:
    """'no P value: Sherman 2010 (6 results); P < 0.001, total n not given: Rezaeian 2019 (8
    results)': grouped by reason, then by study, so a long list stays a short footnote."""
    groups: dict[str, dict[str, int]] = {}
    for s in skipped:
        studies = groups.setdefault(s.why, {})
        studies[s.study] = studies.get(s.study, 0) + 1
    return "; ".join(
        f"{why}: " + ", ".join(f"{st} ({c} result{'s' if c > 1 else ''})" for st, c in studies.items())
        for why, studies in groups.items())


@dataclass
class Point:
    label: str
    p: float
    n: float
    direction: int | None  # +1, -1, 0 / None (drawn on both sides)
    bound: bool = False
    basis: str = ""  # where n comes from when not from the two arms ("study n randomised")
    context: bool = False  # evidence the article does not cite (drawn ringed, keyed)
    computed: bool = False  # P computed here from the effect and its CI, not reported


def point_text(p: Point) -> str:
    """'Sherman 2010, anxiety, ...: P = 0.39, n = 68 (study n randomised, all arms); "no
    difference" stated, drawn on both sides': one key line."""
    n = f"n = {int(p.n)}" + (f" ({p.basis})" if p.basis and p.basis != "arms" else "")
    side = ("" if p.direction in (1, -1) else
            "; \u201cno difference\u201d stated, no direction: drawn on both sides" if p.direction == 0 else
            "; direction not reported, drawn on both sides")
    return (f"{p.label}{' (context, not cited)' if p.context else ''}: {p_text(p.p, p.bound)}"
            f"{' (computed from its CI)' if p.computed else ''}, {n}{side}")


def points(rows: pd.DataFrame, res: pd.DataFrame | None = None) -> tuple[list[Point], list[Skipped]]:
    """(drawable points, the results with a P that cannot be placed and why)."""
    res = results(rows) if res is None else res
    pts, skipped = [], []
    for _, r in rows.iterrows():
        x = res.loc[r["row_id"]]
        cls = x["result_class"]
        if cls not in WITH_P + ("effect", "effect_sign_unknown"):
            continue
        label = _label(r)
        study = str(r.get("label") or r.get("study_id"))
        if str(r.get("design") or "") in vocabulary.POOLED_DESIGNS:  # not one trial's P and n
            skipped.append(Skipped(study, label, "a review's pooled result (its n is many trials', not one)"))
            continue
        p = x["p"]
        if p is None or (isinstance(p, float) and math.isnan(p)):
            if cls in WITH_P:
                skipped.append(Skipped(study, label, "no P value"))
            continue
        if str(r.get("comparator_type") or "") == "none":
            skipped.append(Skipped(study, label, "no control group (within-group P)"))
            continue
        n = x["n_total"]
        if n is None or (isinstance(n, float) and math.isnan(n)):
            skipped.append(Skipped(study, label, f"{p_text(p, x['p_operator'] == '<')}, total n not given"))
            continue
        d = x["direction"]
        d = None if d is None or (isinstance(d, float) and math.isnan(d)) else int(d)
        basis = r.get("n_total_basis")
        pts.append(Point(label, float(p), float(n), d, bound=x["p_operator"] == "<",
                         basis="" if not isinstance(basis, str) else basis,
                         context=str(r.get("evidence_role") or "") == "context",
                         computed=bool(x.get("p_computed", False))))
    return pts, skipped


def _label(r) -> str:
    what = str(r.get("outcome") or "").replace("_", " ")
    if what in ("", "other"):
        what = re.sub(r"\s*\(.*", "", str(r.get("instrument") or "")) or "other outcome"
    tp = str(r.get("timepoint") or "").split("(")[0].split(";")[0].strip()
    comp = str(r.get("comparison") or "").split(" vs ")[-1].strip()
    parts = [p for p in (what, tp, f"vs {comp}" if comp else "") if p]
    return f"{r.get('label') or r.get('study_id')}, " + ", ".join(parts)


def p_text(p: float, bound: bool = False) -> str:
    """'P = 0.39', 'P < 0.05' (a bound), 'P < 0.001'."""
    if p < 0.001:
        return "P < 0.001"
    return f"P {'<' if bound else '='} {p:.2g}"


def _x(p: float) -> float:
    return -math.log10(max(p, P_FLOOR))


def albatross(rows: pd.DataFrame, *, width: str = "single", res: pd.DataFrame | None = None):
    """The albatross plot of effects rows (Figure); raises if none can be placed."""
    check_width(width)
    res_all = results(rows) if res is None else res
    pts, skipped = points(rows, res_all)
    if not pts:
        raise EvidenceError("albatross: no result with a P, a total n and a control group")
    fs = max(FONT_SIZES[width], MIN_PT)
    small = max(fs - 1, MIN_PT)
    W = WIDTHS[width] * 72
    m = _Measure(small)
    # one numbered key line per point, wrapped to the figure width
    key = [m.wrap(f"{i}. {point_text(p)}", W - 10, size=small) for i, p in enumerate(pts, 1)]
    key += [m.wrap("Not drawn: " + skipped_text(skipped) + ".", W - 10, size=small)] if skipped else []
    no_p = sum(res_all.loc[r, "result_class"] not in WITH_P + ("effect", "effect_sign_unknown")
               for r in rows["row_id"])
    key += [m.wrap(f"{no_p} other result{'s' if no_p > 1 else ''} with no P at all (not reported, full text "
                   "not available, baseline or uncontrolled) are in the harvest plots.",
                   W - 10, size=small)] if no_p else []
    key += [m.wrap(ASSUMPTION, W - 10, size=small)]
    key_h = sum(1.25 * small * (k.count("\n") + 1) + 0.2 * small for k in key)
    plot_h = 0.62 * W
    H = plot_h + key_h + 12
    fig = Figure(figsize=(W / 72, H / 72))
    FigureCanvasAgg(fig)
    bottom = (key_h + 8) / H
    ax = fig.add_axes((44 / W, bottom + 30 / H, 1 - 52 / W, (plot_h - 36) / H))
    draw_axes(ax, pts, small, fs)
    fav = case.current().favours
    fig.text(0.5 - 0.02, bottom + 4 / H, f"\u2190 {fav[0]}", ha="right", va="bottom", fontsize=small)
    fig.text(0.5 + 0.02, bottom + 4 / H, f"{fav[1]} \u2192", ha="left", va="bottom", fontsize=small)
    ax.legend(handles=legend_handles(pts), loc="upper left", fontsize=small, frameon=True, framealpha=1,
              edgecolor="none", borderaxespad=0.2, handlelength=1.6)
    y = key_h + 4
    for k in key:
        fig.text(5 / W, y / H, k, fontsize=small, va="top", ha="left")
        y -= 1.25 * small * (k.count("\n") + 1) + 0.2 * small
    return fig


def legend_handles(pts: list[Point]) -> list[Line2D]:
    """One key entry per kind of mark the points use (each colour and shape says what it is)."""
    fav = case.current().favours
    handles = []
    for d, colour, words in ((1, FAVOURS_INT, fav[1].lower()), (-1, FAVOURS_CTL, fav[0].lower())):
        if any(p.direction == d for p in pts):
            handles.append(Line2D([], [], marker="o", ls="none", mfc=colour, mec=colour, ms=4, label=words))
    if any(p.direction == 0 for p in pts):
        handles.append(Line2D([], [], marker="s", ls=":", color=INK, lw=0.5, mfc="white", mec=INK, ms=4,
                              label="\u201cno difference\u201d stated"))
    if any(p.direction not in (1, -1, 0) for p in pts):
        handles.append(Line2D([], [], marker="o", ls=":", color=INK, lw=0.5, mfc="white", mec=INK, ms=4,
                              label="direction not reported"))
    if any(p.context for p in pts):
        handles.append(Line2D([], [], marker="o", ls="none", ms=7, mfc="none", mec=GREY, mew=0.8,
                              label="ringed: context, not cited"))
    handles.append(Line2D([], [], color=GREY, lw=0.6, ls=(0, (3, 2)), label="SMD contour"))
    if any(p.bound for p in pts):
        handles.append(Line2D([], [], marker=">", ls="-", color=INK, lw=0.8, ms=3, label="P below a bound"))
    return handles


def strip_key(pts: list[Point]) -> str:
    """The legend of a strip drawn without one, in words: 'Filled blue: favours massage; ...'."""
    return "Marks: " + "; ".join(
        {"o": "filled" if h.get_markerfacecolor() != "white" else "open circle", "s": "open square",
         ">": "arrow"}.get(h.get_marker(), "dashed line") + (
            " blue" if h.get_markerfacecolor() == FAVOURS_INT else
            " orange" if h.get_markerfacecolor() == FAVOURS_CTL else "")
        + f": {h.get_label()}" for h in legend_handles(pts)) + "."


def _clear(x: float, n: float, busy) -> bool:
    """No point (nor its number, printed above it) within reach of a label at (x, n)."""
    return all(not (-0.4 < bx - x < 1.6 and -0.05 < math.log10(n / bn) < 0.2) for bx, bn in busy)


def _contour_label_at(d: float, n_lo: float, n_hi: float, busy=()) -> tuple[float, float] | None:
    """(x, n) where contour ``d`` is labelled: its crossing of the first of P = 0.05, 0.01, 0.2,
    0.001 that lies inside the plotted n range, else just under the top of the plot. The contours' n at one P differ by the square
    of their SMD ratio (6x, 2.6x), so labels at one P never collide; at different P they sit
    at different x."""
    for p in (0.05, 0.01, 0.2, 0.001):
        n = _n_at(d, p)
        if n is not None and n_lo * 1.15 <= n <= n_hi / 1.15 and _clear(_x(p), n, busy):
            return _x(p), n
    for n in (n_hi / 1.3, n_lo * 1.3):  # no round P free: near the top of the plot, else the bottom
        p = 2 * stats.t.sf(d * math.sqrt(n) / 2, n - 2)
        if p >= P_FLOOR and _clear(_x(p), n, busy):
            return _x(p), n
    return None


def _n_at(d: float, p: float) -> float | None:
    """Total n (two equal arms) at which an SMD of ``d`` gives two-sided P = ``p`` (bisection on
    the same t test the contours draw)."""
    lo, hi = 4.0, 1e6
    f = lambda n: 2 * stats.t.sf(d * math.sqrt(n) / 2, n - 2) - p  # noqa: E731 - decreasing in n
    if f(lo) < 0 or f(hi) > 0:
        return None
    for _ in range(80):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if f(mid) > 0 else (lo, mid)
    return math.sqrt(lo * hi)


def runs(nums: list[int]) -> str:
    """'1\u201311' for 1, 2, ..., 11; '1,2' and '3,5\u20137' otherwise: point numbers kept short."""
    out, start = [], None
    nums = sorted(nums)
    for i, n in enumerate(nums):
        start = n if start is None else start
        if i + 1 == len(nums) or nums[i + 1] != n + 1:
            out.append(str(start) if n == start else f"{start},{n}" if n == start + 1 else f"{start}\u2013{n}")
            start = None
    return ",".join(out)


def _merge_tags(tags, dx: float = 0.4, dn: float = 0.06):
    """Number labels of marks that sit almost on one another (|x| within ``dx``, log10 n within
    ``dn``) merged into one label over their centre, so '5', '6', '7' never print as '67 76'."""
    out: list[list] = []
    for x, n, nums in sorted(tags):
        for t in out:
            if abs(t[0][-1] - x) < dx and abs(math.log10(t[1] / n)) < dn and (t[0][-1] > 0) == (x > 0):
                t[0].append(x)
                t[2] += [m for m in nums if m not in t[2]]
                break
        else:
            out.append([[x], n, list(nums)])
    return [(sum(xs) / len(xs), n, sorted(nums)) for xs, n, nums in out]


def _tick(p: float) -> str:
    return "1" if p >= 0.99 else f"{p:.0e}".replace("1e-04", "0.0001") if p < 0.001 else f"{p:g}"


def draw_axes(ax, pts: list[Point], small: float, fs: float) -> None:
    """Contours, centre line and the numbered points of an albatross plot on ``ax``."""
    xmax = _x(P_FLOOR) + 0.3
    n_lo = max(min(p.n for p in pts) / 1.6, 4)
    n_hi = max(max(p.n for p in pts) * 1.6, 100)
    ax.set_xlim(-xmax, xmax)
    ax.set_yscale("log")
    ax.set_ylim(n_lo, n_hi)
    ns = np.geomspace(max(n_lo, 4), n_hi, 200)
    busy = [(s * _x(p.p), p.n) for p in pts for s in (-1, 1)]
    for d in CONTOURS:
        pv = 2 * stats.t.sf(d * np.sqrt(ns) / 2, ns - 2)
        keep = pv >= P_FLOOR
        xs, ys = np.array([_x(v) for v in pv[keep]]), ns[keep]
        for sgn in (-1, 1):
            ax.plot(sgn * xs, ys, color=GREY, lw=0.6, ls=(0, (3, 2)), zorder=1)
        at = _contour_label_at(d, n_lo, n_hi, busy)
        if at is not None:
            ax.text(at[0] + 0.06, at[1], f"SMD {d}", fontsize=small, color=GREY, ha="left", va="center",
                    zorder=1.5, bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none"})
    ax.axvline(0, color=INK, lw=0.6, zorder=1)
    tags: list[tuple[float, float, list[int]]] = []  # (x, n, point numbers) of each mark
    groups: dict[tuple, list[int]] = {}  # equal points share one mark, numbered together
    for i, p in enumerate(pts, 1):
        groups.setdefault((p.p, p.n, p.direction, p.bound), []).append(i)
    for nums in groups.values():
        p = pts[nums[0] - 1]
        x = _x(p.p)
        sides = [p.direction] if p.direction in (1, -1) else [-1, 1]
        colour = {1: FAVOURS_INT, -1: FAVOURS_CTL}.get(p.direction, INK)
        marker = "s" if p.direction == 0 else "o"
        if len(sides) == 2:
            ax.plot([-x, x], [p.n, p.n], color=INK, lw=0.5, ls=":", zorder=2)
        for s in sides:
            face = colour if len(sides) == 1 else "white"
            if p.bound:
                ax.annotate("", xy=(s * min(x + 0.8, xmax), p.n), xytext=(s * x, p.n),
                            arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 0.8}, zorder=3)
            ax.plot([s * x], [p.n], marker=marker, ms=4, mfc=face, mec=colour, mew=0.8, zorder=4, ls="none")
            if p.context:
                ax.plot([s * x], [p.n], marker="o", ms=7, mfc="none", mec=GREY, mew=0.8, zorder=4, ls="none")
            if len(sides) == 1 or x >= CENTRE:
                tags.append((s * x, p.n, nums))
        if len(sides) == 2 and x < CENTRE:  # both marks near the centre: one number over the join
            tags.append((0.0, p.n, nums))
    for x, n, nums in _merge_tags(tags):
        ax.text(x, n * 1.12, runs(nums), fontsize=small, ha="center", va="bottom", color=INK, zorder=5,
                bbox={"boxstyle": "square,pad=0.05", "fc": "white", "ec": "none"})
    ticks = [1, 0.1, 0.01, 0.001, P_FLOOR]
    pos = sorted({s * _x(t) for t in ticks for s in (-1, 1)})
    ax.set_xticks(pos)
    ax.set_xticklabels([_tick(10 ** -abs(v)) for v in pos], fontsize=small)
    ax.tick_params(axis="y", which="both", labelsize=small)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _pos: f"{v:g}" if str(f"{v:g}")[0] in "25" else ""))
    ax.set_ylabel("Total participants (n, log scale)", fontsize=fs)
    ax.set_xlabel("Two-sided P value", fontsize=fs, labelpad=2)
    for s in ("top", "right"):
        ax.spines[s].set_visible(False)
