"""Evidence map for one claim: every reported effect that bears on it, side by side.

Rows are grouped by evidence role (cited by the article, included in a cited
review, context). Standardised mean differences share one panel; effects that
cannot be put on that scale stay on their native scale in their own panel
(e.g. MD in HARS points), so nothing is converted by assumption.
"""

from __future__ import annotations

import pandas as pd

from evidence.errors import EvidenceError
from evidence.plots._layout import Column, Line, Panel, render
from evidence.plots.forestplot import (
    NAMES,
    POOLED_NOTE,
    RATIO,
    footnotes_for,
    sources_caption,
    study_lines,
)

ROLES = {"cited": "Cited by the article", "included_in_cited_review": "Included in a cited review",
         "context": "Context (not cited)"}


def _text(v) -> str:
    return "" if v is None or (isinstance(v, float) and v != v) else str(v)


def _panel_key(row) -> tuple:
    from evidence.plots.forestplot import as_bool

    if not as_bool(row.get("estimable", True)):
        return ("", "")
    measure = _text(row.get("measure"))
    if measure in ("SMD", "logOR", "logRR", ""):
        return (measure, "")
    return (measure, _text(row.get("instrument")) or "unit not recorded")


def _panel_title(key) -> str:
    measure, instrument = key
    if not measure:
        return "Reported, but no effect size could be computed"
    if measure == "SMD":
        return "Standardised mean difference (common scale)"
    if measure in RATIO:
        return f"{NAMES[measure]} (ratio scale)"
    return f"{NAMES.get(measure, measure)} in {instrument} units (native scale)"


def evidence_map(rows: pd.DataFrame, *, title: str = "", width: str = "double",
                 mids: dict | None = None, show_sources: bool | str = "auto"):
    """Evidence-map forest plot; ``mids`` maps a panel measure or instrument to its MID."""
    if rows is None or len(rows) == 0:
        raise EvidenceError("evidence_map: no rows bear on this claim")
    rows = rows.reset_index(drop=True).copy()
    rows["label"] = [_describe(r) for _, r in rows.iterrows()]
    keys = [_panel_key(r) for _, r in rows.iterrows()]
    order = sorted(set(keys), key=lambda k: (k[0] != "SMD", k[0] == "", k))
    panels, flagged_all = [], []
    for key in order:
        sub = rows[[k == key for k in keys]]
        lines = []
        for role, heading in list(ROLES.items()) + [(None, "Role not recorded")]:
            part = sub[sub["evidence_role"] == role] if role else sub[~sub["evidence_role"].isin(ROLES)]
            if part.empty:
                continue
            lines.append(Line("header", heading))
            sl, flagged = study_lines(part, key[0] or "SMD", {}, [])
            flagged_all += flagged
            lines += _collapse(sl)
        mid = (mids or {}).get(key[1] or key[0])
        panels.append(Panel(lines, title=_panel_title(key), log=key[0] in RATIO, mid=mid,
                            axis_label=NAMES.get(key[0], key[0]), axis=bool(key[0])))
    cols = [Column("n", "n massage/\ncontrol", align="center"),
            Column("effect", "Estimate\n[95% CI]", side="right")]
    for p in panels:
        for ln in p.lines:
            a, b = ln.cells.pop("n_massage", ""), ln.cells.pop("n_control", "")
            if a or b:
                ln.cells["n"] = f"{a or chr(8211)}/{b or chr(8211)}"
    short = {}
    for lab, design, comp, mark in flagged_all:  # one footnote entry per study
        short.setdefault(lab.split(" \u2014 ")[0], (design, comp, mark))
    notes = footnotes_for([(lab, *v) for lab, v in short.items()])
    if any(ln.kind == "diamond" for p in panels for ln in p.lines):
        notes.append(POOLED_NOTE)
    notes.append("Positive values favour massage.")
    caption = sources_caption(rows)
    if show_sources is True or (show_sources == "auto" and len(caption) <= 500):
        notes.append(caption)
    return render(panels, cols, width=width, title=title, footnotes=notes, label_header="Source")


def _describe(r) -> str:
    """'Sherman 2010 \u2014 anxiety (HARS), end of treatment; massage vs thermotherapy'."""
    what = _text(r.get("outcome")).replace("_", " ")
    if _text(r.get("instrument")):
        what += f" ({_text(r.get('instrument'))})"
    for extra, sep in ((_text(r.get("timepoint")), ", "), (_text(r.get("comparison")), "; ")):
        if extra:
            what += sep + extra
    label = _text(r.get("label")) or _text(r.get("study_id"))
    return f"{label} \u2014 {what}" if what else label


def _collapse(lines):
    """Identical not-estimable lines (same study, outcome and reason) shown once with a count."""
    out, counts = [], {}
    for ln in lines:
        key = (ln.label, ln.message) if ln.kind == "text" else None
        if key and key in counts:
            counts[key][1] += 1
            continue
        if key:
            counts[key] = [ln, 1]
        out.append(ln)
    for ln, n in counts.values():
        if n > 1:
            ln.label += f" (\u00d7{n} comparisons)"
    return out
