"""Claim card: one graded claim, its verdict and downgrades, and every result that bears on it.

Each result is drawn with a mark whatever it shows: an effect with its CI
(filled square), an interval whose sign was not reported as a mirrored pair
(open, dashed), an estimate without CI as an open circle, a P bound as an
arrow from the smallest SMD it implies, and a P without an effect in the
albatross strip. Results with no number are listed by class. Rows are
grouped by relevance (direct / other population / other comparator / other
outcome, or "relevance not computed" until the grading writes it).
"""

from __future__ import annotations

import math
import re

import pandas as pd

from evidence import case
from evidence import mids as mids_module
from evidence.errors import EvidenceError
from evidence.plots._layout import Column, Line, Panel, render
from evidence.plots.albatross import (
    ASSUMPTION,
    draw_axes,
    p_text,
    point_text,
    points,
    skipped_text,
    strip_key,
)
from evidence.plots.claimplot import grade_symbols
from evidence.plots.forestplot import (
    NAMES,
    POOLED_DESIGNS,
    POOLED_NOTE,
    RATIO,
    axis_label,
    effect_text,
    fmt,
)
from evidence.plots.mapplot import ROLES as MAP_ROLES
from evidence.plots.mapplot import _describe, collapsed_what
from evidence.plots.results import CLASSES, WITH_P, clear_direction, plain, results
from evidence.plots.style import FONT_SIZES, MIN_PT

# the inputs' column names, in one place (claims_verdicts.csv, downgrades.csv, relevance.csv)
COLUMNS = {
    "verdict": "verdict", "certainty": "certainty", "estimate": "best_estimate", "lo": "ci_low",
    "hi": "ci_high", "measure": "measure", "k": "n_studies", "n": "n_participants",
    "gap": ("wording_gap", "overstated_by"),
    "strength": "strength",
    "domain": "domain", "levels": "levels", "statistic": "statistic", "reason": "reason",
    "analysis": "analysis_id", "row": "row_id", "relevance": "relevance",
}
RELEVANCE = ("direct", "other population", "other comparator", "other outcome")
NOT_COMPUTED = "relevance not computed"
CONTEXT_HEAD = "Context, not cited and used for no verdict"
COMPUTED_MARK = "*"


def col(record, key, default=None):
    """A field of an input record by its logical name (``COLUMNS``)."""
    names = COLUMNS[key]
    for name in (names,) if isinstance(names, str) else names:
        if record is not None and name in record and not _blank(record[name]):
            return record[name]
    return default


def _gap(levels, strength) -> str:
    """'the wording ('states') exceeds the certainty by 3 levels', from the ledger."""
    if _blank(levels):
        return "not computed by the grading"
    n = int(float(levels))
    said = f"the wording ('{strength}')" if not _blank(strength) else "the wording"
    return f"{said} matches the certainty" if n == 0 else \
        f"{said} exceeds the certainty by {n} level{'s' if n > 1 else ''}"


def _blank(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or str(v).strip() == ""


def rated_not_supported(verdict) -> bool:
    return "not supported" in str(verdict or "").lower()


def best_estimate_text(v) -> str:
    """The grading's best estimate with its n, or why there is none."""
    est = col(v, "estimate")
    if v is None or est is None:
        return "Best estimate: none given by the grading."
    if rated_not_supported(col(v, "verdict")):
        return "Best estimate: none (claim rated not supported)."
    measure = str(col(v, "measure", ""))
    vals = [float(x) if x is not None else None for x in (est, col(v, "lo"), col(v, "hi"))]
    if measure in RATIO:
        vals = [math.exp(x) if x is not None else None for x in vals]
    k, n = col(v, "k"), col(v, "n")
    return (f"Best estimate: {NAMES.get(measure, measure)} {effect_text(*vals, measure) or fmt(vals[0])}"
            + (f", {int(float(n))} participants" if n is not None else "")
            + (f" ({int(float(k))} {'study' if int(float(k)) == 1 else 'studies'})" if k is not None else "")
            + ".")


def provisional_text(v) -> str:
    """'Provisional: 16 results bearing on the claim are in full texts this audit could not read.'"""
    text = str((v or {}).get("provisional") or "")
    if not text.strip() or text.lower() == "nan":
        return ""
    m = re.search(r"(\d+) result", text)
    k = int(m.group(1)) if m else None
    n = "Some results bearing on the claim are" if k is None else \
        f"{k} result{'s' if k != 1 else ''} bearing on the claim {'is' if k == 1 else 'are'}"
    return f"Provisional: {n} in full texts this audit could not read; the verdict may change when they are read."


def _letter(i: int) -> str:
    """a, b, ..., z, aa, ab, ...: footnote letters that never run out."""
    return _letter(i // 26 - 1) + chr(ord("a") + i % 26) if i >= 26 else chr(ord("a") + i)


def downgrade_lines(downgrades: pd.DataFrame | None, titles: dict[str, str]) -> tuple[list[str], list[str]]:
    """(header lines, footnotes) for a claim's downgrades: one header line per analysis naming
    each domain and its levels with a footnote letter, and one footnote per distinct reason
    (a reason shared by several analyses gets one letter), so nothing is printed twice."""
    if downgrades is None or downgrades.empty:
        return ["Downgrades: none."], []
    letters: dict[tuple, str] = {}
    uses: dict[tuple, int] = {}
    by_analysis: dict[str, list[str]] = {}
    for _, d in downgrades.iterrows():
        domain, levels = str(col(d, "domain", "")), col(d, "levels", "")
        key = (domain, str(levels), plain(col(d, "reason", "")))
        letter = letters.setdefault(key, _letter(len(letters)))
        uses[key] = uses.get(key, 0) + 1
        where = str(col(d, "analysis", "") or "")
        by_analysis.setdefault(where, []).append(f"{domain} \u2212{levels} ({letter})")
    head = ["Downgrades (levels lost; letters point to the footnotes):"]
    for where, items in by_analysis.items():
        name = titles.get(where, plain(where)) if where else "Across the claim's results"
        head.append(f"  {name}: " + ", ".join(items) + ".")
    notes = [f"{letter}) {domain} \u2212{levels}"
             + (f" ({uses[(domain, levels, reason)]} analyses)" if uses[(domain, levels, reason)] > 1 else "")
             + f": {reason}." for (domain, levels, reason), letter in letters.items()]
    return head, notes


def missing_parts(claim, rows: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(claimed outcomes, claimed conditions) that no row measures ("no evidence on: ...")."""
    pico = claim.pico or {}
    have_out = {str(o) for o in rows.get("outcome", pd.Series(dtype=str)).dropna()}
    have_cond = {str(c).lower() for c in rows.get("condition", pd.Series(dtype=str)).dropna()}
    outcomes = [str(o).replace("_", " ") for o in pico.get("outcomes") or [] if str(o) not in have_out]
    conditions = [str(c) for c in pico.get("conditions") or [] if str(c).lower() not in have_cond]
    return outcomes, conditions


def gap_lines(claim, rows: pd.DataFrame, n_context: int = 0) -> list[str]:
    """'No evidence on (outcome): panic disorder.', from the graded rows; ``n_context`` context
    rows drawn on the card do not fill a gap (no verdict uses them)."""
    outcomes, conditions = missing_parts(claim, rows)
    out = []
    if rows.empty:
        out.append("No cited result bears on this claim"
                   + (f" ({n_context} context result{'s' if n_context > 1 else ''} drawn below)."
                      if n_context else "."))
    if outcomes:
        out.append("No evidence on (outcome): " + ", ".join(outcomes) + ".")
    if conditions:
        have = sorted({str(c) for c in rows.get("condition", pd.Series(dtype=str)).dropna()})
        out.append("Populations the claim names that no result studied: " + ", ".join(conditions)
                   + (f" (the results studied: {', '.join(have)})." if have else "."))
    return out or ["Every outcome and population the claim names is measured by some result."]


def _panel_key(r, x) -> tuple:
    cls = x["result_class"]
    if cls in ("effect", "effect_sign_unknown", "estimate_only") and x["est"] is not None \
            and not (isinstance(x["est"], float) and math.isnan(x["est"])):
        measure = str(r.get("measure") or "")
        if measure == "MD":
            return ("MD", str(r.get("instrument") or "unit not recorded"), str(r.get("outcome") or ""))
        return (measure or "SMD", "", "")
    if cls == "bound" and _finite(x["smd_low"]) or _finite(x["smd_high"]) and cls == "bound":
        return ("SMD", "", "")
    if cls == "p_direction" and _finite(x["smd_low"]):
        return ("SMD", "", "")
    return ("", "", "")


def _finite(v) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v)) and math.isfinite(v)


def _line(r, x, strip_no: dict) -> Line:
    label = _describe(r)
    model = str(r.get("model") or "").strip()
    if model and model.lower() != "nan" and str(r.get("design") or "") in POOLED_DESIGNS:
        label += f" [{model}]"  # a review's random- and fixed-effect pools of one set of trials
    if str(r.get("relevance") or "") == "other population" and not _blank(r.get("condition")):
        label += f" (population: {r.get('condition')})"
    cls = x["result_class"]
    cells = {"n": _n(r), "result": CLASSES.get(cls, cls)}
    est, lo, hi = x["est"], x["lo"], x["hi"]
    if str(r.get("measure") or "") in RATIO:  # ratios are drawn on their own (log) scale
        est, lo, hi = (math.exp(v) if _finite(v) else None for v in (est, lo, hi))
    ok = _finite(est)
    if cls == "effect" and ok and _finite(lo):
        cells["effect"] = effect_text(est, lo, hi, "") + (COMPUTED_MARK if x["computed_ci"] else "")
        cells["result"] += {1: ", favours " + case.current().intervention, -1: ", favours control",
                            0: ", no clear difference"}.get(clear_direction(x), "")
        pooled = str(r.get("design") or "") in POOLED_DESIGNS  # a review's pooled estimate: open diamond
        return Line("diamond" if pooled else "study", label, cells, est=est, lo=lo, hi=hi, size=0.45)
    if cls == "effect_sign_unknown" and ok:
        lo, hi = (lo, hi) if _finite(lo) else (est, est)
        cells["effect"] = f"{fmt(est)} [{fmt(lo)}, {fmt(hi)}], sign?"
        return Line("mirror", label, cells, est=est, lo=lo, hi=hi, sides=(1, -1))
    if cls == "estimate_only" and ok:
        cells["effect"] = f"{fmt(est)} (no CI)"
        return Line("point", label, cells, est=est, lo=est, hi=est)
    if cls in ("bound", "p_direction") and (_finite(x["smd_low"]) or _finite(x["smd_high"])):
        d = x["smd_low"] if _finite(x["smd_low"]) else x["smd_high"]
        sides = (1,) if x["direction"] in (1, -1) else (1, -1)
        cells["effect"] = f"{p_text(x['p'], x['p_operator'] == '<')} \u2192 |SMD| {'>' if cls == 'bound' else '='} {fmt(abs(d))}"
        kind = "arrow" if cls == "bound" else "implied"
        return Line(kind, label, cells, est=d, lo=d, hi=d, sides=sides)
    if row_no := strip_no.get(r["row_id"]):
        cells["effect"] = (p_text(x["p"], x["p_operator"] == "<") + ", " if _finite(x["p"]) else "") \
            + f"strip point {row_no}"
    elif cls in WITH_P and _finite(x["p"]):
        cells["effect"] = p_text(x["p"], x["p_operator"] == "<")
    return Line("text", label, cells)


def _n(r) -> str:
    a, b = r.get("n_int"), r.get("n_ctl")
    a = "" if _blank(a) else str(int(float(a)))
    b = "" if _blank(b) else str(int(float(b)))
    total = r.get("n_total")
    whole = f" ({int(float(total))} in all)" if (not a or not b) and not _blank(total) else ""
    return f"{a or chr(8211)}/{b or chr(8211)}{whole}" if a or b else (f"{int(float(total))} in all" if whole else "")


def evidence_panels(rows: pd.DataFrame, res: pd.DataFrame, mids, groups, width: str):
    """(panels, footnotes, albatross strip) drawing every row with a mark by its result class: one
    panel per measure (MD: per scale and outcome) with its MID band or "no MID", a panel of the
    results without a number to draw, and a strip for the P values without an effect. ``groups``:
    (heading, boolean mask over ``rows``) in order; each panel lists its rows under the headings
    of the groups they fall in (claim cards group by relevance, condition maps by evidence role)."""
    rows = rows.reset_index(drop=True)
    panels, notes = [], []
    # the albatross strip: results with a P but no effect
    p_rows = rows[[res.loc[r, "result_class"] in WITH_P for r in rows["row_id"]]]
    pts, skipped = points(p_rows, res) if len(p_rows) else ([], [])
    strip_no = {}
    if pts:
        labels = [_pt_label(p) for p in pts]
        for _, r in p_rows.iterrows():
            lab = _pt_label_row(r)
            if lab in labels:
                strip_no[r["row_id"]] = labels.index(lab) + 1
    keys = [_panel_key(r, res.loc[r["row_id"]]) for _, r in rows.iterrows()]
    context = (rows.get("role", pd.Series("", index=rows.index)).astype(str) == "context") | \
        (rows.get("evidence_role", pd.Series("", index=rows.index)).astype(str) == "context")
    cited = {k for k, c in zip(keys, context, strict=True) if not c}
    # panels with cited evidence first, context-only panels after them, numberless results last
    order = sorted(set(keys), key=lambda k: (k[0] == "", k not in cited, k[0] != "SMD", k))
    for key in order:
        lines = []
        inside = pd.Series([k == key for k in keys], index=rows.index)
        for heading, mask in groups:
            part = rows[inside & mask.reset_index(drop=True)]
            if part.empty:
                continue
            lines.append(Line("header", heading))
            if key[0]:
                lines += [_line(r, res.loc[r["row_id"]], strip_no) for _, r in part.iterrows()]
            else:
                lines += _text_lines(part, res, strip_no)
        mid = None
        if key[0]:
            hit = mids_module.lookup(mids, key[2] or "any", key[0], {key[1]} if key[1] else ())
            mid = hit.mid if hit else None
            name = axis_label(key[0], key[1]) + (f"; MID {fmt(mid)} ({hit.short_source})" if mid else "; no MID")
        title = (f"{NAMES.get(key[0], key[0])} in {key[1]} units" if key[0] == "MD" else
                 "Standardised mean difference" if key[0] == "SMD" else
                 f"{NAMES.get(key[0], key[0])}" if key[0] else "Results without a number to draw")
        panels.append(Panel(lines, title=title, log=key[0] in RATIO, mid=mid, axis=bool(key[0]),
                            axis_label=name if key[0] else "", interrupt=False))
    plotted = [p for p in panels if p.axis]
    for p in plotted[:-1]:
        p.favours = None
    if any(ln.kind == "mirror" for p in panels for ln in p.lines):
        notes.append("Open squares, dashed: an interval whose direction was not reported, drawn on both "
                     "sides of the null.")
    if any(ln.kind == "arrow" for p in panels for ln in p.lines):
        notes.append("Arrow: a P given as a bound; it starts at the smallest |SMD| the bound and n imply "
                     "(two-sample t test) and points outwards.")
    if any(ln.kind == "diamond" for p in panels for ln in p.lines):
        notes.append(POOLED_NOTE)
    if any(ln.kind == "point" for p in panels for ln in p.lines):
        notes.append("Open circle: an estimate reported without a CI.")
    if any(COMPUTED_MARK in ln.cells.get("effect", "") for p in panels for ln in p.lines):
        notes.append(f"{COMPUTED_MARK} 95% CI computed here from the reported numbers, not as printed.")
    if any(p.mid for p in plotted):
        notes.append("Shaded band: smaller than the minimal important difference (MID) in the panel's own "
                     "units, as its axis says.")
    strip = None
    if pts:
        fs = FONT_SIZES[width]
        small = max(fs - 1, MIN_PT)
        key_lines = [f"{i}. {point_text(p)}" for i, p in enumerate(pts, 1)]
        notes.append("Albatross strip: " + "; ".join(key_lines) + ". " + strip_key(pts) + " " + ASSUMPTION)

        def draw(fig, rect):
            x0, y0, w, h = rect
            W, H = fig.get_size_inches() * 72
            ax = fig.add_axes((x0 + 42 / W, y0 + 22 / H, w - 50 / W, h - 30 / H))
            draw_axes(ax, pts, small, fs)
            ax.set_title("P values without an effect (albatross strip)", fontsize=fs, loc="left",
                         fontweight="bold")
        strip = (150.0, draw)
    if skipped:
        notes.append("Not placed in the strip: " + skipped_text(skipped) + ".")
    return panels, notes, strip


def card(claim, rows: pd.DataFrame, *, verdict=None, downgrades: pd.DataFrame | None = None,
         mids=(), width: str = "double", res: pd.DataFrame | None = None,
         titles: dict[str, str] | None = None, left_out=()):
    """The claim card (Figure). ``rows``: effects rows bearing on the claim with a ``relevance``
    column (``NOT_COMPUTED`` when the grading has not tagged them); ``titles``: analysis id ->
    title, so the card names analyses as analyses.yaml titles them, never by id; ``left_out``:
    (title, why) of analyses named for the claim that bear on neither its population nor its
    outcome, which the card says it does not draw."""
    rows = rows.reset_index(drop=True).copy()
    res = results(rows) if res is None else res
    if "relevance" not in rows:
        rows["relevance"] = NOT_COMPUTED
    if "role" not in rows:
        rows["role"] = "graded"
    graded = rows[rows["role"] != "context"]
    # the header: verdict, certainty, wording gap, downgrades, gaps, best estimate
    head = [f"Verdict: {col(verdict, 'verdict', 'not graded')}",
            f"Certainty: {grade_symbols(col(verdict, 'certainty'))}",
            f"Wording gap: {_gap(col(verdict, 'gap'), col(verdict, 'strength'))}"]
    lines, notes = downgrade_lines(downgrades, titles or {})
    if lines == ["Downgrades: none."] and col(verdict, "certainty") is None:
        lines = ["Downgrades: not applicable (the claim is not graded)."]
    head += lines
    if provisional := provisional_text(verdict):
        head.append(provisional)
    head += gap_lines(claim, graded, len(rows) - len(graded))
    head += [f"Named for this claim but not drawn: {t} ({why})." for t, why in left_out]
    head.append(best_estimate_text(verdict))
    panels = [Panel([Line("note", h) for h in head], axis=False, favours=None)]
    groups = [(rel.capitalize(), (rows["relevance"] == rel) & (rows["role"] != "context"))
              for rel in (*RELEVANCE, NOT_COMPUTED)]
    groups += [(f"{CONTEXT_HEAD}: {rel}", (rows["relevance"] == rel) & (rows["role"] == "context"))
               for rel in RELEVANCE]
    more, more_notes, strip = evidence_panels(rows, res, mids, groups, width)
    panels += more
    notes += more_notes
    cols = _columns()
    title = f"{claim.id}: {claim.claim}"
    if rows.empty:  # the header lines only: no table to head
        return render(panels, [], width=width, title=title, footnotes=notes, label_header="",
                      label_frac=0.4)
    return render(panels, cols, width=width, title=title, footnotes=notes, label_header="Source",
                  label_frac=0.4, strip=strip)


def _columns() -> list[Column]:
    """n, result class and estimate: the table of a card or a condition map."""
    return [Column("n", f"n {case.current().intervention}/\n{case.current().control}", align="center"),
            Column("result", "Result", side="right", align="left", max_frac=0.13),
            Column("effect", "Estimate\n[95% CI]", side="right", max_frac=0.15)]


def _pt_label(p) -> str:
    return p.label


def _pt_label_row(r) -> str:
    from evidence.plots.albatross import _label

    return _label(r)


def _text_lines(part: pd.DataFrame, res, strip_no) -> list[Line]:
    """Rows with nothing to draw on an axis, one line per study and class."""
    groups: dict[tuple, list[int]] = {}
    for i, (_, r) in enumerate(part.iterrows()):
        alone = r["row_id"] if r["row_id"] in strip_no else ""  # a strip point keeps its own line
        groups.setdefault((str(r.get("label") or r.get("study_id")), res.loc[r["row_id"]]["result_class"], alone),
                          []).append(i)
    out = []
    for (study, cls, _alone), pos in groups.items():
        sub = part.iloc[pos]
        if len(pos) == 1:
            r = sub.iloc[0]
            out.append(_line(r, res.loc[r["row_id"]], strip_no))
            continue
        ns = {_n(r) for _, r in sub.iterrows()}
        each = {_line(r, res.loc[r["row_id"]], strip_no).cells.get("effect", "") for _, r in sub.iterrows()}
        cells = {"result": CLASSES.get(cls, cls), "n": ns.pop() if len(ns) == 1 else ""}
        if len(each) == 1 and "" not in each:  # the same statistic for each (e.g. P < 0.001 at each timepoint)
            cells["effect"] = each.pop() + (" each" if len(pos) > 1 else "")
        out.append(Line("text", f"{study} \u2014 {collapsed_what(sub)}", cells))
    return out



ROLES = {**MAP_ROLES, "context": CONTEXT_HEAD}  # the map's role headings; context as on the cards


def condition_evidence(rows: pd.DataFrame, *, mids=(), width: str = "double",
                       res: pd.DataFrame | None = None, title: str = ""):
    """A condition's evidence map (Figure): every row of its analyses drawn as on a claim card,
    grouped by evidence role (cited, included in a cited review, context), with no verdict."""
    rows = rows.reset_index(drop=True).copy()
    if rows.empty:
        raise EvidenceError("condition evidence map: no rows")
    res = results(rows) if res is None else res
    role = rows.get("evidence_role", pd.Series("", index=rows.index)).astype(str)
    groups = [(heading, role == key) for key, heading in ROLES.items()]
    groups.append(("Role not recorded", ~role.isin(list(ROLES))))
    panels, notes, strip = evidence_panels(rows, res, mids, groups, width)
    cols = _columns()
    notes.append(f"Positive values favour {case.current().intervention}.")
    return render(panels, cols, width=width, title=title, footnotes=notes, label_header="Source",
                  label_frac=0.4, strip=strip)
