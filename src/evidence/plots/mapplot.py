"""Evidence map for one claim: every reported effect that bears on it, side by side.

Rows are grouped by evidence role (cited by the article, included in a cited
review, context). Standardised mean differences share one panel; effects that
cannot be put on that scale stay on their native scale in their own panel
(e.g. MD in HARS points), so nothing is converted by assumption.
"""

from __future__ import annotations

import re

import pandas as pd

from evidence import case
from evidence.errors import EvidenceError
from evidence.plots._layout import Column, Line, Panel, render
from evidence.plots.forestplot import (
    NAMES,
    POOLED_NOTE,
    RATIO,
    axis_label,
    distinct_labels,
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
        from evidence.plots.forestplot import estimate_only

        measure = _text(row.get("measure"))
        if measure == "SMD" and estimate_only(row, measure) is not None:
            return ("SMD", "")  # a value without CI: an open circle on its scale
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
    rows["study_label"] = [_text(r.get("label")) or _text(r.get("study_id")) for _, r in rows.iterrows()]
    rows["label"] = [_describe(r) for _, r in rows.iterrows()]
    rows = _untie(rows)
    keys = [_panel_key(r) for _, r in rows.iterrows()]
    context_only = {k: set(rows.loc[[kk == k for kk in keys], "evidence_role"]) == {"context"} for k in keys}
    # the cited evidence first: SMD, then native scales; panels of context only after; the unestimable last
    order = sorted(set(keys), key=lambda k: (k[0] == "", context_only[k], k[0] != "SMD", k))
    panels, flagged_all = [], []
    for key in order:
        sub = rows[[k == key for k in keys]]
        lines = []
        for role, heading in list(ROLES.items()) + [(None, "Role not recorded")]:
            part = sub[sub["evidence_role"] == role] if role else sub[~sub["evidence_role"].isin(ROLES)]
            if part.empty:
                continue
            lines.append(Line("header", heading))
            if key[0]:
                sl, flagged = study_lines(part, key[0], {}, [])
            else:
                sl, flagged = not_estimable_lines(part)
            flagged_all += flagged
            lines += sl
        mid = (mids or {}).get(key[1] or key[0])
        panels.append(Panel(lines, title=_panel_title(key), log=key[0] in RATIO, mid=mid,
                            axis_label=axis_label(key[0], key[1]) if key[0] else "", axis=bool(key[0])))
    plotted = [p for p in panels if p.axis]
    for p in plotted[:-1]:  # one favours line, under the last axis; the footnote says which way is better
        p.favours = None
    cols = [Column("n", f"n {case.current().intervention}/\n{case.current().control}", align="center"),
            Column("effect", "Estimate\n[95% CI]", side="right")]
    for p in panels:
        for ln in p.lines:
            a, b = ln.cells.pop("n_int", ""), ln.cells.pop("n_ctl", "")
            if a or b:
                ln.cells["n"] = f"{a or chr(8211)}/{b or chr(8211)}"
    short = {}
    for lab, design, comp, mark in flagged_all:  # one footnote entry per study
        short.setdefault(lab.split(" \u2014 ")[0], (design, comp, mark))
    notes = footnotes_for([(lab, *v) for lab, v in short.items()])
    if any(ln.kind == "diamond" for p in panels for ln in p.lines):
        notes.append(POOLED_NOTE)
    if any(ln.kind == "point" for p in panels for ln in p.lines):
        notes.append("Open circle: an estimate reported without a CI.")
    if plotted:
        notes.append(f"Positive values favour {case.current().intervention}.")
    caption = sources_caption(rows)
    if show_sources is True or (show_sources == "auto" and len(caption) <= 500):
        notes.append(caption)
    return render(panels, cols, width=width, title=title, footnotes=notes, label_header="Source",
                  label_frac=0.45)


def _describe(r) -> str:
    """'Sherman 2010 \u2014 anxiety (HARS), end of treatment; intervention vs thermotherapy'."""
    what = _text(r.get("outcome")).replace("_", " ")
    instrument = re.sub(r"\s*\(pooled SMD\)", "", _text(r.get("instrument")))
    if instrument == "various":  # a review's mix of scales: the open diamond says pooled
        instrument = ""
    if instrument and (what in ("", "other") or what.lower() in instrument.lower()):
        what = instrument  # 'MPAC pain (0-10)' rather than 'pain (MPAC pain (0-10))'
    elif instrument:
        what += f" ({instrument})"
    for extra, sep in ((_text(r.get("timepoint")), ", "), (_text(r.get("comparison")), "; ")):
        if extra:
            what += sep + extra
    label = _text(r.get("label")) or _text(r.get("study_id"))
    what = what.replace(">=", "\u2265").replace("<=", "\u2264")
    return f"{label} \u2014 {what}" if what else label


UNTIE = ("model", "analysis_title", "row_id")  # what tells apart rows whose descriptions coincide


def _untie(rows: pd.DataFrame) -> pd.DataFrame:
    """Equal descriptions (e.g. a review's fixed- and random-effects estimates) get the first column
    of ``UNTIE`` whose values differ, in brackets, so no two lines of a map read the same."""
    return distinct_labels(rows, tuple((col, lambda v: f" [{v}]") for col in UNTIE))


def not_estimable_lines(rows: pd.DataFrame) -> tuple:
    """Not-estimable rows as text lines, one per study and reason: rows sharing both become one line.

    The line names how many effects it stands for and what they cover
    ("Sherman 2010 \u2014 12 effects (depression, disability, worry; 2
    comparisons, 2 timepoints)"), so every row is accounted for while a
    claim with dozens of unreported comparisons still fits a page.
    """
    groups: dict[tuple, list[int]] = {}
    for i, (_, r) in enumerate(rows.iterrows()):
        key = (_study(r), _text(r.get("not_estimable_reason")) or "reason not recorded")
        groups.setdefault(key, []).append(i)
    lines, flagged = [], []
    for (study, _reason), pos in groups.items():
        part = rows.iloc[pos]
        sl, fl = study_lines(part, "SMD", {}, [])
        flagged += fl
        if len(pos) == 1:
            lines += sl
            continue
        mark = "".join(m for m in ("\u2020", "\u2021") if any(m in ln.label for ln in sl))
        same_n = all(ln.cells == sl[0].cells for ln in sl)
        cells = dict(sl[0].cells) if same_n else {}  # n per arm only when every row has the same
        lines.append(Line("text", f"{study} \u2014 {collapsed_what(part)}{mark}", cells,
                          message=sl[0].message))
    return lines, flagged


def collapsed_what(rows: pd.DataFrame) -> str:
    """'12 effects (depression, disability, worry; 2 comparisons, 2 timepoints)'."""
    def distinct(col):
        return list(dict.fromkeys(_text(v) for v in rows[col])) if col in rows else []

    outcomes = list(dict.fromkeys(_text(r.get("instrument")) if _text(r.get("outcome")) in ("", "other")
                                  else _text(r.get("outcome")).replace("_", " ") for _, r in rows.iterrows()))
    outcomes = [o for o in outcomes if o]
    counts = []
    for col, noun in (("instrument", "instruments"), ("comparison", "comparisons"), ("timepoint", "timepoints")):
        n = len([v for v in distinct(col) if v])
        if n > 1 and not (col == "instrument" and n == len(outcomes)):  # one scale per outcome says nothing new
            counts.append(f"{n} {noun}")
    inside = "; ".join(part for part in (", ".join(outcomes), ", ".join(counts)) if part)
    return f"{len(rows)} effects" + (f" ({inside})" if inside else "")


def _study(r) -> str:
    return _text(r.get("study_label")) or _text(r.get("label")).split(" \u2014 ")[0] or _text(r.get("study_id"))
