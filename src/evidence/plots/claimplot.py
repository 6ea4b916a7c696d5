"""Claim-strength summary: one row per graded claim with estimate, interval and certainty."""

from __future__ import annotations

import math

import pandas as pd

from evidence import case
from evidence.errors import EvidenceError
from evidence.plots._layout import Column, Line, Panel, render
from evidence.plots.forestplot import NAMES, RATIO, _num, effect_text

GRADE = {"high": "\u2295\u2295\u2295\u2295", "moderate": "\u2295\u2295\u2295\u25ef",
         "low": "\u2295\u2295\u25ef\u25ef", "very low": "\u2295\u25ef\u25ef\u25ef"}


def grade_symbols(certainty) -> str:
    """GRADE symbols for a certainty level, or the text itself when it is not one."""
    text = "" if certainty is None or (isinstance(certainty, float) and math.isnan(certainty)) \
        else str(certainty).strip()
    key = text.lower().replace("_", " ")
    return f"{GRADE[key]} {key}" if key in GRADE else (text or "not graded")


def sensitivity_strip(sensitivity: pd.DataFrame | None, claim_id: str) -> str:
    """'1 of 6': how many rule variants move the verdict or its certainty."""
    if sensitivity is None:
        return ""
    rows = sensitivity[sensitivity["claim_id"] == claim_id]
    if rows.empty:
        return "no variants"
    moved = [str(v).strip().lower() in ("true", "1", "yes") for v in rows["moved"]]
    return f"{sum(moved)} of {len(moved)}"


def directions_text(directions) -> str:
    """'1 favour, 2 no difference' from the grading's 'favour 1; against 0; no difference 2;
    unknown 0' (counts of zero left out): the on-target results, nulls included."""
    text = "" if directions is None or (isinstance(directions, float) and math.isnan(directions)) \
        else str(directions)
    parts = []
    for item in text.split(";"):
        words, _, count = item.strip().rpartition(" ")
        if count.isdigit() and int(count):
            parts.append(f"{count} {words}")
    return (", ".join(parts) or "none") if text else "not graded"


def best_source(r, titles: dict[str, str]) -> str:
    """Which analysis the best estimate comes from and how it differs from the claim ('GAD,
    anxiety (HARS), end of treatment; other comparator'), from best_analysis and
    relevant_analyses."""
    aid = r.get("best_analysis")
    if aid is None or (isinstance(aid, float) and math.isnan(aid)) or not str(aid).strip():
        return ""
    aid = str(aid).strip()
    tag = ""
    for item in str(r.get("relevant_analyses") or "").split(";"):
        name, _, rest = item.strip().partition(" (")
        if name == aid and rest:
            tag = rest.rstrip(")")
            break
    return titles.get(aid, aid) + (f"; {tag}" if tag else "")


def claim_summary(verdicts: pd.DataFrame, *, width: str = "double", title: str = "",
                  sensitivity: pd.DataFrame | None = None, claims: dict[str, str] | None = None,
                  titles: dict[str, str] | None = None):
    """Figure of claims_verdicts.csv, ordered by claim: SMD best estimates on the axis, others in the
    estimate column; no estimate for a claim rated not supported; the sensitivity strip when given.
    ``claims``: claim id -> the claim in our words (printed under its id); ``titles``: analysis id
    -> title, naming where each best estimate comes from and how it differs from the claim."""
    need = {"claim_id", "verdict", "certainty", "best_estimate", "ci_low", "ci_high", "measure"}
    missing = need - set(verdicts.columns)
    if missing:
        raise EvidenceError(f"claim_summary: verdicts lack columns {sorted(missing)}")
    lines = []
    for _, r in verdicts.sort_values("claim_id", kind="stable").iterrows():
        est, lo, hi = (_num(r.get(k)) for k in ("best_estimate", "ci_low", "ci_high"))
        measure = str(r.get("measure") or "")
        if measure in RATIO and est is not None:
            est, lo, hi = (math.exp(v) if v is not None else None for v in (est, lo, hi))
        label = f"{r['claim_id']} {r.get('kind', '') or ''}".strip()
        if claims and str(r["claim_id"]) in claims:
            label += f": {claims[str(r['claim_id'])]}"
        cells = {"verdict": str(r.get("verdict") or ""), "certainty": grade_symbols(r.get("certainty")),
                 "results": directions_text(r.get("directions"))}
        if sensitivity is not None:  # beside the certainty: no room for a column of its own
            cells["certainty"] += f"\nmoved by {sensitivity_strip(sensitivity, str(r['claim_id']))}"
        k, n = _num(r.get("n_studies")), _num(r.get("n_participants"))
        cells["kn"] = f"{int(k) if k is not None else chr(8211)}/{int(n) if n is not None else chr(8211)}"
        if "not supported" in cells["verdict"].lower():
            est = None
            cells["effect"] = "none (not supported)"
        where = best_source(r, titles or {}) if est is not None else ""
        if est is None:
            cells.setdefault("effect", "none given")
            lines.append(Line("text", label, cells))  # nothing across the plot: the null line stays whole
        elif measure == "SMD" and lo is not None and hi is not None:
            cells["effect"] = f"SMD {effect_text(est, lo, hi, measure)}"
            lines.append(Line("study", label, cells, est=est, lo=lo, hi=hi, size=0.3))
        else:
            cells["effect"] = f"{NAMES.get(measure, measure)} {effect_text(est, lo, hi, measure) or _fmt(est)}\u00a7"
            lines.append(Line("text", label, cells))
        if where:
            lines[-1].cells["effect"] += f"\nfrom: {where}"
    cols = [Column("verdict", "Verdict", align="left", max_frac=0.12),
            Column("certainty", "Certainty", align="left", max_frac=0.09),
            Column("results", "On-target\nresults", align="left", max_frac=0.1),
            Column("kn", "Studies/\nparticipants", align="center"),
            Column("effect", "Best estimate\n[95% CI]", side="right", max_frac=0.16)]

    # every drawn interval whole (a summary must not clip the one CI it shows), symmetric about 0
    reach = max((abs(v) for ln in lines if ln.kind == "study" for v in (ln.lo, ln.hi)), default=0.5)
    reach = math.ceil(max(reach, 0.5) * 1.1 * 4) / 4
    panel = Panel(lines, axis_label="SMD (Hedges' g)", interrupt=False, xlim=(-reach, reach))
    notes = ["Certainty: GRADE-style, \u2295 = one level. "
             f"Positive SMD favours {case.current().intervention}."]
    if any("\u00a7" in ln.cells.get("effect", "") for ln in lines):
        notes.append("\u00a7 A mean difference on its outcome's own scale (e.g. HARS points): not drawn on the "
                     "SMD axis, which only standardised estimates share.")
    notes.append("On-target results: results on the claim's own outcome, counted by direction; a null "
                 "weighs as much as a benefit.")
    if any("\nfrom: " in ln.cells.get("effect", "") for ln in lines):
        notes.append("'from': the analysis the best estimate comes from and how it differs from the claim "
                     "(its relevance tag).")
    if sensitivity is not None:
        notes.append("'moved by n of m': how many of the grading's named rule variants move the "
                     "verdict or its certainty (notebook 20 lists them).")
    return render([panel], cols, width=width, title=title, footnotes=notes, label_header="Claim",
                  label_frac=0.22 if claims else 0.3)


def _fmt(v):
    return "" if v is None else f"{v:.2f}".replace("-", "\u2212")
