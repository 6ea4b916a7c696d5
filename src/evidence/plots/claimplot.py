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


def claim_summary(verdicts: pd.DataFrame, *, width: str = "double", title: str = ""):
    """Figure of claims_verdicts.csv; SMD estimates on the plot axis, others as text rows."""
    need = {"claim_id", "verdict", "certainty", "best_estimate", "ci_low", "ci_high", "measure"}
    missing = need - set(verdicts.columns)
    if missing:
        raise EvidenceError(f"claim_summary: verdicts lack columns {sorted(missing)}")
    lines = []
    for _, r in verdicts.iterrows():
        est, lo, hi = (_num(r.get(k)) for k in ("best_estimate", "ci_low", "ci_high"))
        measure = str(r.get("measure") or "")
        if measure in RATIO and est is not None:
            est, lo, hi = (math.exp(v) if v is not None else None for v in (est, lo, hi))
        label = f"{r['claim_id']} {r.get('kind', '') or ''}".strip()
        cells = {"verdict": str(r.get("verdict") or ""), "certainty": grade_symbols(r.get("certainty"))}
        k, n = _num(r.get("n_studies")), _num(r.get("n_participants"))
        cells["kn"] = f"{int(k) if k is not None else chr(8211)}/{int(n) if n is not None else chr(8211)}"
        if est is None:
            lines.append(Line("text", label, cells, message="no pooled estimate"))
        elif measure == "SMD" and lo is not None and hi is not None:
            cells["effect"] = f"SMD {effect_text(est, lo, hi, measure)}"
            lines.append(Line("study", label, cells, est=est, lo=lo, hi=hi, size=0.3))
        else:
            cells["effect"] = f"{NAMES.get(measure, measure)} {effect_text(est, lo, hi, measure) or _fmt(est)}"
            lines.append(Line("text", label, cells, message="(not on the SMD axis)"))
    cols = [Column("verdict", "Verdict", align="left", max_frac=0.17),
            Column("certainty", "Certainty", align="left"),
            Column("kn", "Studies/\nparticipants", align="center"),
            Column("effect", "Best estimate\n[95% CI]", side="right")]
    panel = Panel(lines, axis_label="SMD", interrupt=False)  # short notes; a broken null line would read as gaps
    notes = ["Certainty: GRADE-style, \u2295 = one level. "
             f"Positive SMD favours {case.current().intervention}."]
    return render([panel], cols, width=width, title=title, footnotes=notes, label_header="Claim")


def _fmt(v):
    return "" if v is None else f"{v:.2f}".replace("-", "\u2212")
