"""Harvest plot / evidence-availability matrix (Ogilvie et al., BMC Med Res Methodol 2008;8:8).

Rows are study x comparison, columns outcome x timepoint; each cell holds one
glyph per reported result: its shape is the result class (effect with CI,
bound, P only, "no difference", not reported, not reachable...), its colour
the direction it shows beyond chance (a null result is grey whatever its point
estimate). A corner mark says a ``wanted.csv`` request for that study and
outcome is still open. Context evidence sits below a rule. Nothing is pooled
or converted: the matrix shows what exists, including the gaps.
"""

from __future__ import annotations

import re

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from evidence import case, vocabulary
from evidence.errors import EvidenceError
from evidence.plots._layout import _Measure
from evidence.plots.albatross import FAVOURS_CTL, FAVOURS_INT
from evidence.plots.results import CLASSES, clear_direction, results
from evidence.plots.style import FONT_SIZES, GREY, INK, MIN_PT, WIDTHS, check_width

GLYPHS = {  # class -> (marker, filled with the direction colour)
    "effect": ("s", True), "effect_sign_unknown": ("s", False), "estimate_only": ("o", True),
    "bound": (">", True), "p_direction": ("D", True), "no_difference": ("$=$", True),
    "p_only": ("$P$", True), "direction_only": ("^", True), "not_reported": ("x", True),
    "not_reachable": ("$?$", True), "not_an_effect": ("$\\emptyset$", True),
}
WANTED = "#c0392b"
CONTEXT_TAG = " (context)"
LEGEND_COLUMNS = 2


def colour(direction) -> str:
    return {1: FAVOURS_INT, -1: FAVOURS_CTL, 0: GREY}.get(direction, INK)


def short_timepoint(r) -> str:
    """A column heading for a timepoint: weeks when recorded, else the text's first words."""
    text = str(r.get("timepoint") or "").strip()
    low = text.lower()
    if low.startswith("change from baseline"):  # a change score is not a baseline value
        low = "change" + low[len("change from baseline"):]
    if " and " in low or "not separated" in low:  # several timepoints reported together
        return re.split(r"[(;]", text)[0].strip()
    head = low.split("(")[0]  # 'end of treatment (immediate)' is an end-of-treatment value
    keys = (("baseline", "baseline"), ("end of treatment", "end of treatment"), ("immediate", "immediate"),
            ("sustained", "sustained"), ("1-month", "1 month"), ("month", "1 month"), ("follow-up", "follow-up"))
    for part in (head, low):
        for key, word in keys:
            if key in part:
                w = r.get("timepoint_weeks")
                return f"{word}, {int(float(w))} wk" if _has(w) and word in ("follow-up", "end of treatment") \
                    else word
    w = r.get("timepoint_weeks")
    if _has(w):
        return "baseline" if float(w) == 0 else f"{int(float(w))} wk"
    if "post" in low or "end" in low or "after" in low:
        return "after treatment"
    return re.split(r"[(;,]", text)[0].strip() or "time not stated"


UNTESTED = ("estimate_only", "direction_only")  # a direction that may come with no CI or P


def _size(r, x) -> tuple[str, int | None]:
    """('n', 40) for a trial row, ('k', 13) for a review's pooled row, value None when not known;
    ('', None) for a trial row without n."""
    if str(r.get("design") or "") in vocabulary.POOLED_DESIGNS:
        k = r.get("k_studies")
        return "k", int(float(k)) if _has(k) else None
    n = x.get("n_total")
    return ("n", int(n)) if _has(n) else ("", None)


def _size_text(sizes: list[tuple[str, int | None]]) -> str:
    """' (n = 40)' from a row's results; the largest when they differ, ' (k not reported)' for a
    review that gives none, nothing when no size is known."""
    known = [(kind, v) for kind, v in sizes if v is not None]
    if not known:
        return " (k not reported)" if any(kind == "k" for kind, _v in sizes) else ""
    kind, v = max(known, key=lambda s: s[1])
    return f" ({kind} = {v})"


def _with_size(label: str, size: str) -> str:
    """'Lee 2015 (context; k = 9)', 'Kutner 2008 (n = 380)'."""
    if not size:
        return label
    if label.endswith(CONTEXT_TAG):
        return f"{label[:-1]}; {size[2:]}"
    return label + size


def _has(v) -> bool:
    try:
        return v is not None and v == v and str(v).strip() != ""
    except TypeError:
        return False


def _outcome(r) -> str:
    out = str(r.get("outcome") or "").replace("_", " ")
    if out in ("", "other"):
        out = re.sub(r"\s*\(.*", "", str(r.get("instrument") or "other")) or "other"
    return out


def _comparison(r) -> str:
    if str(r.get("comparator_type") or "") == "none":
        return "no control group"
    comp = str(r.get("comparison") or "")
    comp = re.sub(r"\s*\(.*?\)", "", comp)
    return comp.split(" vs ")[-1].strip() if " vs " in comp else comp


def harvest(rows: pd.DataFrame, *, wanted: pd.DataFrame | None = None, width: str = "double",
            res: pd.DataFrame | None = None):
    """The matrix of a condition's rows (Figure)."""
    check_width(width)
    if rows is None or rows.empty:
        raise EvidenceError("harvest: no rows")
    res = results(rows) if res is None else res
    rows = rows.reset_index(drop=True)
    rkeys, ckeys, cells, sizes = [], [], {}, {}
    context = rows.get("evidence_role", pd.Series("", index=rows.index)).astype(str) == "context"
    rows = pd.concat([rows[~context], rows[context]])  # context evidence last, set apart below a rule
    for _, r in rows.iterrows():
        rk = (str(r.get("label") or r.get("study_id")) + (CONTEXT_TAG if r.get("evidence_role") == "context"
                                                           else ""), _comparison(r))
        ck = (_outcome(r), short_timepoint(r))
        rkeys += [rk] if rk not in rkeys else []
        ckeys += [ck] if ck not in ckeys else []
        x = res.loc[r["row_id"]]
        untested = x["result_class"] in UNTESTED and not _has(x.get("p")) and not x.get("p_above")
        cells.setdefault((rk, ck), []).append((x["result_class"], clear_direction(x), str(r["study_id"]), ck[0],
                                               untested))
        sizes.setdefault(rk, []).append(_size(r, x))
    first = {o: i for i, (o, _t) in reversed(list(enumerate(ckeys)))}
    weeks = {}
    for _, r in rows.iterrows():
        w = r.get("timepoint_weeks")
        weeks.setdefault((_outcome(r), short_timepoint(r)), float(w) if _has(w) else 1e9)
    ckeys.sort(key=lambda k: (first[k[0]], weeks.get(k, 1e9), k[1]))
    open_wanted = set()
    if wanted is not None and not wanted.empty:
        w = wanted[wanted.get("status", pd.Series("open", index=wanted.index)).fillna("open") == "open"]
        open_wanted = {(str(s), str(o).replace("_", " ")) for s, o in zip(w["study_id"], w["outcome"], strict=True)}
    fs = max(FONT_SIZES[width], MIN_PT)
    small = max(fs - 1, MIN_PT)
    m = _Measure(fs)
    W = WIDTHS[width] * 72
    row_labels = [_with_size(s, _size_text(sizes.get((s, c), []))) + (f"\nvs {c}" if c else "") for s, c in rkeys]
    col_labels = [f"{o}\n{t}" for o, t in ckeys]
    left = max(m.width(t) for lab in row_labels for t in lab.split("\n")) + 10
    top = max(m.width(t) for lab in col_labels for t in lab.split("\n")) + 8
    cell_w = min(28.0, (W - left - 10) / max(len(ckeys), 1))
    if cell_w < 2.3 * fs * 1.3:
        raise EvidenceError(f"harvest: {len(ckeys)} columns do not fit a {width} figure")
    cell_h = 2.6 * fs
    grid_h = cell_h * len(rkeys)
    used = sorted({cls for v in cells.values() for cls, *_ in v}, key=list(GLYPHS).index)
    has_context = any(s.endswith(CONTEXT_TAG) for s, _c in rkeys)
    n_handles = (len(used) + 1 + len({d for v in cells.values() for _c, d, *_ in v})
                 + (1 if open_wanted & _keys(cells) else 0) + (1 if has_context else 0))
    legend_rows = -(-n_handles // LEGEND_COLUMNS)
    legend_h = legend_rows * 1.6 * small + 6
    H = top + grid_h + legend_h + 16
    fig = Figure(figsize=(W / 72, H / 72))
    FigureCanvasAgg(fig)
    grid_w = cell_w * len(ckeys)
    ax = fig.add_axes((left / W, (legend_h + 10) / H, grid_w / W, grid_h / H))
    ax.set_xlim(0, len(ckeys))
    ax.set_ylim(len(rkeys), 0)
    ax.set_xticks([i + 0.5 for i in range(len(ckeys))])
    ax.set_xticklabels(col_labels, rotation=90, fontsize=fs, va="bottom", ha="center")
    ax.xaxis.set_ticks_position("top")
    ax.tick_params(axis="x", length=0, pad=3)
    ax.set_yticks([i + 0.5 for i in range(len(rkeys))])
    ax.set_yticklabels(row_labels, fontsize=fs)
    ax.tick_params(axis="y", length=0, pad=3)
    for i in range(len(rkeys) + 1):
        ax.axhline(i, color="#cccccc", lw=0.5)
    split = next((i for i, (s, _c) in enumerate(rkeys) if s.endswith(CONTEXT_TAG)), None)
    if split:  # a rule between the cited evidence and the context evidence under it
        ax.axhline(split, color=INK, lw=1.0, zorder=2)
    for j in range(len(ckeys) + 1):
        ax.axvline(j, color="#cccccc", lw=0.5)
    for s in ax.spines.values():
        s.set_visible(False)
    for (rk, ck), items in cells.items():
        i, j = rkeys.index(rk), ckeys.index(ck)
        k = len(items)
        for n, (cls, d, _sid, _out, untested) in enumerate(items):
            x = j + (n + 1) / (k + 1)
            mk, filled = GLYPHS.get(cls, ("$?$", True))
            filled = filled and not untested
            c = colour(d)
            ax.plot([x], [i + 0.5], marker=mk, ms=5.5 if mk.startswith("$") else 4.2,
                    mfc=c if filled else "white", mec=c, mew=0.8, ls="none", zorder=3)
        if any((sid, outcome) in open_wanted for _c, _d, sid, outcome, _u in items):
            ax.plot([j + 0.9], [i + 0.18], marker="v", ms=3.2, color=WANTED, ls="none", zorder=4)
    handles = [Line2D([], [], marker=GLYPHS[c][0], ls="none", ms=5 if GLYPHS[c][0].startswith("$") else 4,
                      mfc=INK if GLYPHS[c][1] else "white", mec=INK, label=CLASSES[c]) for c in used]
    fav = case.current().favours
    shown = {d for v in cells.values() for _c, d, *_ in v}
    handles += [Patch(facecolor=colour(d), edgecolor="none", label=words)
                for d, words in ((1, fav[1].lower()), (-1, fav[0].lower()),
                                 (0, "no clear difference (CI includes none, P \u2265 0.05)"),
                                 (None, "direction not known")) if d in shown]
    if any(u for v in cells.values() for *_x, u in v):
        handles.append(Line2D([], [], marker="o", ls="none", ms=4, mfc="white", mec=INK,
                              label="open: a direction with no CI or P to test it"))
    if open_wanted & _keys(cells):
        handles.append(Line2D([], [], marker="v", ls="none", ms=3.2, color=WANTED,
                              label="full-text result requested, still open"))
    if split:
        handles.append(Line2D([], [], color=INK, lw=1.0,
                              label="below the rule: context, not cited, used for no verdict"))
    fig.legend(handles=handles, loc="lower left", bbox_to_anchor=(4 / W, 2 / H), ncol=LEGEND_COLUMNS, fontsize=small,
               frameon=False, handlelength=1.2, columnspacing=1.2, borderaxespad=0)
    return fig


def _keys(cells) -> set:
    return {(sid, outcome) for items in cells.values() for _c, _d, sid, outcome, _u in items}
