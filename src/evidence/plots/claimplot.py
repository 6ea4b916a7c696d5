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


def claim_summary(verdicts: pd.DataFrame, *, width: str = "double", title: str = "",
                  sensitivity: pd.DataFrame | None = None):
    """Figure of claims_verdicts.csv, ordered by claim: SMD best estimates on the axis, others in the
    estimate column; no estimate for a claim rated not supported; the sensitivity strip when given."""
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
        cells = {"verdict": str(r.get("verdict") or ""), "certainty": grade_symbols(r.get("certainty"))}
        if sensitivity is not None:  # beside the certainty: no room for a column of its own
            cells["certainty"] += f"\nmoved by {sensitivity_strip(sensitivity, str(r['claim_id']))}"
        k, n = _num(r.get("n_studies")), _num(r.get("n_participants"))
        cells["kn"] = f"{int(k) if k is not None else chr(8211)}/{int(n) if n is not None else chr(8211)}"
        if "not supported" in cells["verdict"].lower():
            est = None
            cells["effect"] = "none (not supported)"
        if est is None:
            cells.setdefault("effect", "none given")
            lines.append(Line("text", label, cells))  # nothing across the plot: the null line stays whole
        elif measure == "SMD" and lo is not None and hi is not None:
            cells["effect"] = f"SMD {effect_text(est, lo, hi, measure)}"
            lines.append(Line("study", label, cells, est=est, lo=lo, hi=hi, size=0.3))
        else:
            cells["effect"] = f"{NAMES.get(measure, measure)} {effect_text(est, lo, hi, measure) or _fmt(est)}\u00a7"
            lines.append(Line("text", label, cells))
    cols = [Column("verdict", "Verdict", align="left", max_frac=0.17),
            Column("certainty", "Certainty", align="left"),
            Column("kn", "Studies/\nparticipants", align="center"),
            Column("effect", "Best estimate\n[95% CI]", side="right")]

    # every drawn interval whole (a summary must not clip the one CI it shows), symmetric about 0
    reach = max((abs(v) for ln in lines if ln.kind == "study" for v in (ln.lo, ln.hi)), default=0.5)
    reach = math.ceil(max(reach, 0.5) * 1.1 * 4) / 4
    panel = Panel(lines, axis_label="SMD (Hedges' g)", interrupt=False, xlim=(-reach, reach))
    notes = ["Certainty: GRADE-style, \u2295 = one level. "
             f"Positive SMD favours {case.current().intervention}."]
    if any(ln.cells.get("effect", "").endswith("\u00a7") for ln in lines):
        notes.append("\u00a7 On its own scale, not drawn on the SMD axis.")
    if sensitivity is not None:
        notes.append("'moved by n of m': how many of the grading's named rule variants move the "
                     "verdict or its certainty (notebook 20 lists them).")
    return render([panel], cols, width=width, title=title, footnotes=notes, label_header="Claim")


def _fmt(v):
    return "" if v is None else f"{v:.2f}".replace("-", "\u2212")
