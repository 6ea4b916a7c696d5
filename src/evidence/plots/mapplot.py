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
from evidence.plots.forestplot import NAMES, RATIO, footnotes_for, sources_caption, study_lines

ROLES = {"cited": "Cited by the article", "included_in_cited_review": "Included in a cited review",
         "context": "Context (not cited)"}
POOLED_DESIGNS = {"systematic review", "meta-analysis"}


def _panel_key(row) -> tuple:
    measure = str(row.get("measure") or "")
    if measure in ("SMD", "logOR", "logRR", ""):
        return (measure, "")
    return (measure, str(row.get("instrument") or "unit not recorded"))


def _panel_title(key) -> str:
    measure, instrument = key
    if not measure:
        return "Not estimable on any scale"
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
    rows = rows.reset_index(drop=True)
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
            for ln, (_, r) in zip(sl, part.iterrows(), strict=True):
                if str(r.get("design", "")) in POOLED_DESIGNS and ln.kind == "study":
                    ln.kind, ln.bold = "diamond", False  # a review's pooled estimate: open diamond
                    ln.label = ln.label.replace("\u2020", "") + f" (pooled, k = {_k(r)})"
            flagged_all += [f for f in flagged if f[1] not in POOLED_DESIGNS]
            lines += sl
        mid = (mids or {}).get(key[1] or key[0])
        panels.append(Panel(lines, title=_panel_title(key), log=key[0] in RATIO, mid=mid,
                            axis_label=NAMES.get(key[0], key[0])))
    cols = [Column("n", "n massage/\ncontrol", align="center"),
            Column("effect", "Estimate\n[95% CI]", side="right")]
    for p in panels:
        for ln in p.lines:
            a, b = ln.cells.pop("n_massage", ""), ln.cells.pop("n_control", "")
            if a or b:
                ln.cells["n"] = f"{a or chr(8211)}/{b or chr(8211)}"
    notes = footnotes_for([f for f in flagged_all if "\u2020" in f[3] or "\u2021" in f[3]])
    notes.append("Open diamonds: pooled estimates reported by reviews. Positive values favour massage.")
    caption = sources_caption(rows)
    if show_sources is True or (show_sources == "auto" and len(caption) <= 500):
        notes.append(caption)
    return render(panels, cols, width=width, title=title, footnotes=notes, label_header="Source")


def _k(r) -> str:
    k = r.get("k_studies")
    try:
        return str(int(float(k)))
    except (TypeError, ValueError):
        return "?"
