"""Forest plot of one analysis, in the style of RevMan and metafor's ``forest()``.

Reads only public attributes of the meta-analysis result (estimate, ci_low,
ci_high, pi_low, pi_high, tau2, I2, Q, Q_pval, k, pval, method, test,
weights), so any object with those fields works.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from evidence import case, vocabulary
from evidence.errors import EvidenceError
from evidence.plots._layout import Column, Line, Mark, Panel, render
from evidence.plots.results import _num, plain, results
from evidence.plots.style import GREY

RATIO = {"logOR": "OR", "logRR": "RR"}
NAMES = {"SMD": "SMD", "MD": "MD", "logOR": "OR", "logRR": "RR"}
RANDOMISED = {"RCT", "crossover RCT"}
POOLED_DESIGNS = set(vocabulary.POOLED_DESIGNS)  # a review's pooled estimate: open diamond
# Comparators other than no treatment / usual care / waitlist: the article's claims imply a
# benefit over doing nothing, so a contrast with an active, sham or attention control is marked.
FLAG_COMPARATORS = {"none": "no control group", "active": "active treatment",
                    "sham": "sham procedure", "attention control": "attention control"}
METHODS = {"REML": "REML", "DL": "DerSimonian-Laird", "PM": "Paule-Mandel", "ML": "ML",
           "SJ": "Sidik-Jonkman", "HE": "Hedges", "EE": "equal effects", "FE": "equal effects"}
DAGGER, DDAGGER = "\u2020", "\u2021"
NOT_ASSESSED_SHORT = "\u2013"
ROB_SHORT = {"low": "L", "some concerns": "S", "high": "H", "unclear": "U", "not assessed": NOT_ASSESSED_SHORT}
# a risk-of-bias judgement as a mark: colour (Okabe-Ito) and glyph, so it reads without colour too
JUDGEMENT_MARKS = {"low": Mark("#009E73", "#009E73", "+"), "unclear": Mark("#E69F00", "#E69F00", "$?$"),
                   "some concerns": Mark("#E69F00", "#E69F00", "_"), "high": Mark("#D55E00", "#D55E00", "x")}
JUDGEMENT_SYMBOLS = {"low": "+", "unclear": "?", "some concerns": "\u2212", "high": "\u00d7"}
UNJUDGED_MARK = Mark("white", GREY)  # a domain the source does not show for an assessed study
OVERALL = "All"
COMPUTED = "*"  # a CI computed here, not as printed by the source
COMPUTED_NOTE = "* 95% CI computed here from the reported numbers, not as printed by the source."


def as_bool(v) -> bool:
    """CSV-friendly truth: True, 'True', 'true', 1 -> True; blank -> False."""
    if isinstance(v, str):
        return v.strip().lower() in ("true", "1", "yes")
    return bool(v) and not (isinstance(v, float) and math.isnan(v))


def fmt(v, digits=2) -> str:
    """A number with a true minus sign; blank for missing."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return ""
    s = f"{v:.{digits}f}"
    if s.lstrip("-").strip("0.") == "":
        s = s.lstrip("-")
    return s.replace("-", "\u2212")


def axis_label(measure: str, instrument: str = "") -> str:
    """'SMD (Hedges' g)', 'MD, HARS points (0-56)' / 'MD, HARS units', 'OR (log scale)'."""
    instrument = re.sub(r"\s*\(pooled SMD\)", "", str(instrument or "")).strip()
    if measure == "SMD":
        return "SMD (Hedges' g)"
    if measure in RATIO:
        return f"{RATIO[measure]} (log scale)"
    if measure == "MD":
        if not instrument or instrument.startswith("various"):
            return "MD, unit not recorded"
        unit = "" if re.search(r"\bmm\b", instrument) else "points" if re.search(r"\d\s*[-\u2013]\s*\d", instrument) \
            else "units"
        m = re.match(r"(.*?)\s*(\([^()]*\d[^()]*\))\s*$", instrument)
        return (f"MD, {m.group(1)} {unit} {m.group(2)}" if m else f"MD, {instrument} {unit}").replace("  ", " ").strip()
    return measure or "effect"


def fmt_p(p) -> str:
    if p is None or not math.isfinite(p):
        return "p = NA"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}" if p < 0.01 else f"p = {p:.2f}"


def effect_text(est, lo, hi, measure) -> str:
    """'0.45 [0.10, 0.80]' on the display scale (ratios exponentiated)."""
    if est is None or lo is None or hi is None:
        return ""
    d = 2
    return f"{fmt(est, d)} [{fmt(lo, d)}, {fmt(hi, d)}]"


def _display(v, measure):
    v = _num(v)
    if v is None:
        return None
    return math.exp(v) if measure in RATIO else v


def _int_text(v) -> str:
    v = _num(v)
    return "" if v is None else str(int(round(v)))


def _flags(row) -> tuple[str, str]:
    """Footnote marks for a row: dagger for a non-randomised design, double dagger for comparator."""
    design = str(row.get("design", "") or "")
    comp = str(row.get("comparator_type", "") or "")
    mark = ""
    if design and design not in RANDOMISED | POOLED_DESIGNS:
        mark += DAGGER
    if comp in FLAG_COMPARATORS:
        mark += DDAGGER
    return mark, design


def sources_caption(rows: pd.DataFrame) -> str:
    """'Sources: Label: source; ...' for captions and the index (rows sharing a source listed once)."""
    by_source: dict[str, list[str]] = {}
    for _, r in rows.iterrows():
        src = r.get("source")
        src = "source not recorded" if src is None or pd.isna(src) or not str(src).strip() else str(src)
        label = str(r.get("label", r.get("study_id", "")))
        labels = by_source.setdefault(src, [])
        if label not in labels:
            labels.append(label)
    parts = [f"{' / '.join(labels)}: {src}" for src, labels in by_source.items()]
    return "Sources: " + "; ".join(parts) + "." if parts else ""


DISTINGUISH = (("comparison", lambda v: ", " + str(v).removeprefix(case.current().intervention + " ")),
               ("outcome", lambda v: ", " + str(v).replace("_", " ")),
               ("instrument", lambda v: f", {v}"), ("timepoint", lambda v: f", {v}"))


def distinct_labels(rows: pd.DataFrame, columns=DISTINGUISH) -> pd.DataFrame:
    """Labels shared by several rows get what tells them apart (by default: comparison,
    outcome, instrument, timepoint; each column's formatter gives the suffix).

    A column is added to a group of equal labels only when its values differ
    within that group (two Kutner 2008 pain rows get their instruments, not
    their shared comparison), until every label is distinct or the columns run out.
    """
    if "label" not in rows:
        return rows
    rows = rows.copy()
    for col, suffix in columns:
        dup = rows["label"].duplicated(keep=False)
        if not dup.any():
            break
        if col not in rows:
            continue
        for _lab, grp in rows[dup].groupby("label", sort=False):
            vals = ["" if pd.isna(v) else str(v).strip() for v in grp[col]]
            if len(set(vals)) < 2:
                continue
            rows.loc[grp.index, "label"] = [lab + suffix(v) if v else lab
                                            for lab, v in zip(grp["label"], vals, strict=True)]
    return rows


def _measure_of(rows: pd.DataFrame, measure: str | None) -> str:
    if measure:
        return measure
    ms = sorted(set(rows["measure"].dropna())) if "measure" in rows else []
    if len(ms) > 1:
        raise EvidenceError(f"rows mix measures {ms}: plot them in separate panels (evidence_map)")
    return ms[0] if ms else "SMD"


def _weights_for(rows: pd.DataFrame, result) -> dict:
    """Map row position -> weight (percent) from the result, matched in order of estimable rows."""
    if result is None:
        return {}
    est_idx = [i for i, (_, r) in enumerate(rows.iterrows()) if as_bool(r.get("estimable", True))]
    w = list(np.asarray(result.weights, dtype=float))
    if len(w) != len(est_idx):
        raise EvidenceError(f"result has k={len(w)} weights but rows have {len(est_idx)} estimable effects")
    return dict(zip(est_idx, w, strict=True))


def rob_domains(rows: pd.DataFrame, rob: pd.DataFrame | None) -> list[tuple[str, str]]:
    """(tool, domain) pairs judged for any study of ``rows``, tool by tool in each tool's order."""
    from evidence.rob import TOOLS

    if rob is None or rob.empty or "study_id" not in rows:
        return []
    sub = rob[rob["study_id"].isin(set(rows["study_id"].dropna().astype(str)))]
    pairs = set(zip(sub["tool"], sub["domain"], strict=True))
    return [(t, d) for t, tool in TOOLS.items() for d in tool.domains if (t, d) in pairs]


def rob_marks(r, rob: pd.DataFrame | None, domains: list[tuple[str, str]]) -> tuple | None:
    """A row's marks for ``domains`` then its overall judgement; None when nothing is judged."""
    from evidence.rob import domain_marks

    judged = domain_marks(rob, str(r.get("study_id") or ""))
    overall = str(r.get("risk_of_bias") or "").strip()
    overall = "" if overall.lower() == "nan" else overall
    if not judged and not overall:
        return None
    return tuple(JUDGEMENT_MARKS.get(judged.get(d), UNJUDGED_MARK) for d in domains) + (
        None, JUDGEMENT_MARKS.get(overall, UNJUDGED_MARK))  # a gap, then the overall judgement


def rob_legend(rows: pd.DataFrame, rob: pd.DataFrame, domains: list[tuple[str, str]], lines) -> str:
    """The marks column's key: tool, who judged, the numbered domains, the symbols used."""
    from evidence.rob import EXTRA_DOMAINS, TOOLS

    ids = set(rows["study_id"].dropna().astype(str))
    sub = rob[rob["study_id"].isin(ids)]
    parts = []
    for t in dict.fromkeys(tool for tool, _ in domains):
        by = sub.loc[sub["tool"] == t]
        who = list(dict.fromkeys(by.get("assessed_by_label", by["assessed_by"])))
        nums = [f"{i + 1} {d}" + (" (added by the review)" if d in EXTRA_DOMAINS else "")
                for i, (tt, d) in enumerate(domains) if tt == t]
        name = "Cochrane risk-of-bias tool, version 1" if t == "RoB 1" else "Cochrane RoB 2 tool"
        parts.append(f"{name} ({t}; {TOOLS[t].reference.split(' (')[0]}), domains as judged by "
                     f"{' and '.join(who)}: " + ", ".join(nums))
    used = [j for j in JUDGEMENT_SYMBOLS if any(m is JUDGEMENT_MARKS[j] for ln in lines
                                                 for m in ln.cell_marks.get("rob", ()))]
    keys = ", ".join(f"{JUDGEMENT_SYMBOLS[j]} {j}" for j in used)
    grey = any(UNJUDGED_MARK in ln.cell_marks.get("rob", ()) for ln in lines)
    text = "Risk of bias: " + "; ".join(parts) + f"; {OVERALL}, the overall judgement used in grading. "
    text += (keys + ("; grey ring: not judged in the source read" if grey else "")
             + ("; grey \u201cnot assessed\u201d: no judgement found for the study"
                if any(ln.cells.get("rob") == "not assessed" for ln in lines) else "") + ".")
    return text


def study_lines(rows: pd.DataFrame, measure: str, weights: dict, arm_columns: list[str], *,
                rob_sheet: pd.DataFrame | None = None, domains: list | None = None) -> tuple:
    """One Line per row; not-estimable rows become text lines. Returns (lines, flagged rows).

    With ``domains`` (``rob_domains``), a row's risk of bias is a tuple of marks (``rob_marks``)
    in ``cell_marks["rob"]``; without, the text of its overall judgement in ``cells["rob"]``."""
    lines, flagged = [], []
    wmax = max(weights.values(), default=0) or None
    for i, (_, r) in enumerate(rows.iterrows()):
        label = str(r.get("label") or r.get("study_id") or r.get("row_id") or f"row {i + 1}")
        mark, design = _flags(r)
        if mark:
            flagged.append((label, design, str(r.get("comparator_type", "")), mark))
        cells = {"n_int": _int_text(r.get("n_int")), "n_ctl": _int_text(r.get("n_ctl"))}
        total = _num(r.get("n_total"))
        if not (cells["n_int"] and cells["n_ctl"]) and total is not None \
                and str(r.get("design") or "") not in POOLED_DESIGNS:
            cells["n_all"] = f"{int(total)} in all"  # the trial's n where its arms are not given
        for c in arm_columns:
            cells[c] = _arm_text(r, c)
        rob = str(r.get("risk_of_bias") or "").strip()
        rob = "" if rob.lower() == "nan" else rob
        cells["rob"] = rob or "not assessed"
        colors = {} if rob else {"rob": GREY}
        cell_marks = {}
        if domains:
            row_marks = rob_marks(r, rob_sheet, domains)
            if row_marks is not None:
                cells["rob"], cell_marks, colors = "", {"rob": row_marks}, {}
        if not as_bool(r.get("estimable", True)):
            point = estimate_only(r, measure)
            if point is not None:  # a value without CI on this scale: an open circle, no whiskers
                cells["effect"] = f"{fmt(point)} (no CI)"
                lines.append(Line("point", label + mark, cells, est=point, lo=point, hi=point,
                                  cell_colors=colors, cell_marks=cell_marks))
                continue
            lines.append(Line("text", label + mark, cells, message=no_effect_message(r),
                              cell_colors=colors, cell_marks=cell_marks))
            continue
        est, lo, hi = (_display(r.get(k), measure) for k in ("yi", "ci_low", "ci_high"))
        if lo is None and _num(r.get("se")) is not None and est is not None:
            yi, se = float(r["yi"]), float(r["se"])
            lo, hi = _display(yi - 1.959964 * se, measure), _display(yi + 1.959964 * se, measure)
        cells["effect"] = effect_text(est, lo, hi, measure)
        if "derived" in r and str(r.get("derived") or "") and "CI as reported" not in str(r["derived"]):
            cells["effect"] += COMPUTED
        if i in weights:
            cells["weight"] = f"{weights[i]:.1f}%"
        size = (weights[i] / wmax) if (wmax and i in weights) else _fallback_size(r)
        if str(r.get("design", "")) in POOLED_DESIGNS:
            lines.append(Line("diamond", pooled_label(label, r.get("k_studies"), r.get("model")) + mark + "\n"
                              + review_stats(r), cells, est=est, lo=lo, hi=hi, cell_colors=colors, cell_marks=cell_marks))
            continue
        lines.append(Line("study", label + mark, cells, est=est, lo=lo, hi=hi, size=size,
                          open=bool(mark), cell_colors=colors, cell_marks=cell_marks))
    return lines, flagged


def estimate_only(r, measure: str):
    """The value of an estimate reported without CI on the plotted (linear) scale, or None."""
    if "row_id" not in r or measure in RATIO or str(r.get("measure") or "") != measure:
        return None
    x = results(pd.DataFrame([r])).iloc[0]
    return _num(x["est"]) if x["result_class"] == "estimate_only" else None


def no_effect_message(r) -> str:
    """What a row without a drawable effect reports, in words: its result class and numbers
    (a P, an unsigned interval), or the recorded reason when nothing was reported."""
    from evidence.plots.albatross import p_text
    from evidence.plots.results import CLASSES

    row = pd.DataFrame([r]) if "row_id" in r else pd.DataFrame([dict(r, row_id="_")])
    x = results(row).iloc[0]
    cls = x["result_class"]
    if cls in ("not_reported", "not_an_effect") or cls not in CLASSES:
        return "no effect size: " + (plain(r.get("not_estimable_reason")) or "reason not recorded")
    detail = ""
    if cls in ("effect_sign_unknown", "estimate_only") and _num(x["est"]) is not None:
        ci = f" [{fmt(x['lo'])}, {fmt(x['hi'])}]" if _num(x["lo"]) is not None else ""
        name = NAMES.get(str(r.get("measure") or ""), "")
        detail = f": {name + ' ' if name else ''}{fmt(x['est'])}{ci}"
    elif _num(x["p"]) is not None:
        detail = ": " + p_text(x["p"], x["p_operator"] == "<")
    return f"no effect size to draw, {CLASSES[cls]}{detail}"


def review_stats(r) -> str:
    """'I\u00b2 = 40%; \u03c4\u00b2 not extracted; n = 404' for a review's pooled row (its k is
    in the label). The sheets have no \u03c4\u00b2 column, so a \u03c4\u00b2 is "not extracted" (the
    review may give one); a fixed-effect pool has none. n: per arm, else the review's total."""
    k, i2 = _num(r.get("k_studies")), _num(r.get("i2"))
    tau2 = _num(r.get("tau2"))
    n = [_num(r.get(c)) for c in ("n_int", "n_ctl")]
    n = sum(n) if all(v is not None for v in n) else _num(r.get("n_total"))
    whole = _num(r.get("review_n")) if n is None else None
    fixed = "fixed" in str(r.get("model") or "").lower() or "common" in str(r.get("model") or "").lower()
    tau = ("" if fixed else
           f"\u03c4\u00b2\u00a0=\u00a0{fmt(tau2, 3)}" if tau2 is not None else "\u03c4\u00b2 not extracted")
    return "; ".join(([] if k is not None else ["k not reported"])  # k is in the label
                     + [f"I\u00b2\u00a0=\u00a0{i2:.0f}%" if i2 is not None else "I\u00b2 not reported"]
                     + ([tau] if tau else [])
                     + [f"n\u00a0=\u00a0{int(n)}" if n is not None else
                        f"n\u00a0=\u00a0{int(whole)} (whole review)" if whole is not None else "n not reported"])


def pooled_label(label: str, k, model=None) -> str:
    """'Li 2014 (pooled, k = 9, random effects)'; the k and model go before any ' \u2014 '
    description."""
    k = _num(k)
    model = str(model or "").strip()
    model = "" if model.lower() == "nan" else model
    parts = ([] if "pooled" in label.lower() else ["pooled"]) \
        + ([f"k\u00a0=\u00a0{int(k)}"] if k is not None else []) + ([model] if model else [])
    if not parts:
        return label
    head, sep, tail = label.partition(" \u2014 ")
    return f"{head} ({', '.join(parts)}){sep}{tail}"


POOLED_NOTE = "Open diamonds: pooled estimates reported by reviews (not re-pooled here)."


def _fallback_size(r) -> float:
    return 0.45


def _arm_text(r, key: str) -> str:
    arm = key.split("_")[-1]  # int | ctl
    ev, n = _num(r.get(f"events_{arm}")), _num(r.get(f"n_{arm}"))
    if key.startswith("events") and ev is not None:
        return f"{int(ev)}/{int(n)}" if n is not None else str(int(ev))
    mean, sd = _num(r.get(f"mean_{arm}")), _num(r.get(f"sd_{arm}"))
    if key.startswith("meansd") and mean is not None:
        return f"{fmt(mean, 1)} ({fmt(sd, 1)})" if sd is not None else fmt(mean, 1)
    return ""


def _arm_columns(rows: pd.DataFrame, width: str) -> list[Column]:
    cols = []
    has = lambda c: c in rows and rows[c].notna().any()  # noqa: E731
    if width == "double" and has("mean_int"):
        cols += [Column("meansd_int", f"{case.current().intervention.capitalize()}\nmean (SD)"),
                 Column("meansd_ctl", f"{case.current().control.capitalize()}\nmean (SD)")]
    if has("events_int"):
        cols += [Column("events_int", f"{case.current().intervention.capitalize()}\nevents/n"),
                 Column("events_ctl", f"{case.current().control.capitalize()}\nevents/n")]
    return cols


def pooled_lines(result, measure: str, label: str, bold=True, with_pi=True) -> list[Line]:
    """The diamond (and prediction-interval bar) of a result."""
    d = lambda v: _display(v, measure)  # noqa: E731
    est, lo, hi = d(result.estimate), d(result.ci_low), d(result.ci_high)
    lines = [Line("diamond", label, {"effect": effect_text(est, lo, hi, measure),
                                     "weight": "100.0%" if bold else ""},
                  est=est, lo=lo, hi=hi, bold=bold)]
    pl, ph = d(getattr(result, "pi_low", None)), d(getattr(result, "pi_high", None))
    if with_pi and pl is not None and ph is not None and int(result.k) >= 3:
        lines.append(Line("pi", "Prediction interval", {"effect": f"[{fmt(pl)}, {fmt(ph)}]"},
                          lo=pl, hi=ph))
    return lines


def heterogeneity_text(result) -> str:
    """'Heterogeneity: tau2 = ..; I2 = ..%; Q = .. (df = ..), p = ..' as metafor reports it."""
    k = int(result.k)
    return (f"Heterogeneity: \u03c4\u00b2 = {fmt(result.tau2, 3)}; I\u00b2 = {result.I2:.0f}%; "
            f"Q = {result.Q:.2f} (df = {k - 1}), {fmt_p(result.Q_pval)}")


def overall_text(result) -> str:
    method = METHODS.get(str(result.method), str(result.method))
    test = "Knapp-Hartung t test" if str(result.test).lower() in ("knha", "hksj", "t") else "z test"
    return f"Test for overall effect: {fmt_p(result.pval)} ({method}, {test}, k = {int(result.k)})"


def model_label(result) -> str:
    return "Equal-effects model" if str(result.method) in ("EE", "FE") else "Random-effects model"


def footnotes_for(flagged: list, mid=None, mid_source: str = "", measure="SMD") -> list[str]:
    notes = []
    flagged = list(dict.fromkeys(flagged))  # one entry per study, in order
    design_rows = [(lab, d) for lab, d, _c, mk in flagged if "\u2020" in mk]
    comp_rows = [(lab, c) for lab, _d, c, mk in flagged if "\u2021" in mk]
    if design_rows:
        notes.append(f"{DAGGER} Not a randomised controlled comparison (open marker): "
                     + "; ".join(f"{lab}: {d or 'design not recorded'}" for lab, d in design_rows) + ".")
    if comp_rows:
        notes.append(f"{DDAGGER} Different comparator (open marker; not no treatment or usual care): "
                     + "; ".join(f"{lab}: {FLAG_COMPARATORS.get(c, c)}" for lab, c in comp_rows) + ".")
    if mid:
        notes.append(f"Shaded band: effects smaller than the minimal important difference "
                     f"(\u00b1{fmt(mid)} {NAMES.get(measure, measure)}{'; ' + mid_source if mid_source else ''}).")
    return notes


def default_xlim(rows: pd.DataFrame, result=None, measure: str | None = None, mid=None) -> tuple:
    """The x range ``forest`` would choose on its own (to share one range across sibling plots)."""
    from evidence.plots._layout import auto_xlim

    rows = rows.reset_index(drop=True)
    measure = _measure_of(rows, measure)
    lines, _ = study_lines(rows, measure, {}, [])
    if result is not None and int(result.k) >= 2:
        lines += pooled_lines(result, measure, "pooled")
    return auto_xlim(Panel(lines, log=measure in RATIO, mid=mid, favours=None))


def forest(rows: pd.DataFrame, result=None, *, measure: str | None = None, common=None,
           by: str | None = None, subgroups=None, mid: float | None = None, mid_source: str = "",
           xlim: tuple | None = None, title: str = "", width: str = "single",
           show_sources: bool | str = "auto", favours: tuple | None | str = "case",
           pooled_label: str | None = None, rob: pd.DataFrame | None = None, note: str = ""):
    """Forest plot of effects rows with their pooled result.

    rows: effects.csv rows (label, yi, ci_low, ci_high, n_int, n_ctl,
    design, comparator_type, estimable, not_estimable_reason, source, ...),
    in the order the result was fitted. result: a MetaResult (or None: no
    diamond). common: an equal-effects MetaResult drawn as a second diamond.
    by + subgroups: a column of rows and a SubgroupResult, giving subgroup
    diamonds and the test for subgroup differences. mid: minimal important
    difference on the plotted scale (band drawn at +/- mid). rob: risk-of-bias domain rows
    (``evidence.rob.read_derived``): where a study of ``rows`` has some, the risk-of-bias column
    is a row of marks, one per domain judged and one for the overall judgement, grey where none.
    note: a first footnote (e.g. that the rows are context evidence, and how they differ).
    """
    if rows is None or len(rows) == 0:
        raise EvidenceError("forest: no rows to plot")
    rows = distinct_labels(rows.reset_index(drop=True))
    measure = _measure_of(rows, measure)
    weights = _weights_for(rows, result)
    arm_cols = _arm_columns(rows, width)
    domains = rob_domains(rows, rob)
    judged = {"rob_sheet": rob, "domains": domains}
    flagged_all, lines = [], []
    if by is not None:
        if by not in rows:
            raise EvidenceError(f"forest: no column {by!r} to group by")
        for group, sub in rows.groupby(by, sort=False):
            pos = list(sub.index)
            sub_w = {j: weights[p] for j, p in enumerate(pos) if p in weights}
            sl, flagged = study_lines(sub.reset_index(drop=True), measure, sub_w, arm_cols, **judged)
            flagged_all += flagged
            lines.append(Line("header", str(group)))
            lines += sl
            res = subgroups.results.get(group) if subgroups is not None else None
            if res is not None and int(res.k) >= 2:
                dl = pooled_lines(res, measure, f"Subtotal ({model_label(res).lower()})", bold=False,
                                  with_pi=False)
                dl[0].cells["weight"] = f"{sum(sub_w.values()):.1f}%" if sub_w else ""
                lines += dl
                lines.append(Line("note", heterogeneity_text(res)))
    else:
        lines, flagged_all = study_lines(rows, measure, weights, arm_cols, **judged)
    if result is not None and int(result.k) >= 2:
        lines += pooled_lines(result, measure, pooled_label or model_label(result))
        if common is not None:
            lines += pooled_lines(common, measure, "Equal-effects model", bold=False, with_pi=False)
        lines.append(Line("note", heterogeneity_text(result)))
        lines.append(Line("note", overall_text(result)))
    if subgroups is not None:
        lines.append(Line("note", f"Test for subgroup differences: Q = {subgroups.Q_between:.2f} "
                                  f"(df = {int(subgroups.df)}), {fmt_p(subgroups.p_between)}"))
    name = NAMES.get(measure, measure)
    if width == "single":  # one column "23/24" saves the width of a gap and a header
        for ln in lines:
            a, b, whole = ln.cells.pop("n_int", ""), ln.cells.pop("n_ctl", ""), ln.cells.pop("n_all", "")
            if a or b:
                ln.cells["n"] = f"{a or chr(8211)}/{b or chr(8211)}" + (f"\n({whole})" if whole else "")
            elif whole:
                ln.cells["n"] = whole
        cols = [Column("n", f"n\n{case.current().intervention}/\n{case.current().control}", align="center")] + arm_cols
    else:
        for ln in lines:
            whole = ln.cells.pop("n_all", "")
            if whole and not ln.cells.get("n_int") and not ln.cells.get("n_ctl"):
                ln.cells["n_int"] = whole
        cols = [Column("n_int", f"{case.current().intervention.capitalize()}\nn"),
                Column("n_ctl", f"{case.current().control.capitalize()}\nn")] + arm_cols
    cols.append(Column("effect", f"{name}\n[95% CI]", side="right"))
    if domains:  # one mark per domain judged, then the overall judgement
        cols.append(Column("rob", "Risk of bias", side="right", align="center", clear=True,
                           marks=tuple(str(i + 1) for i in range(len(domains))) + ("", OVERALL)))
    else:
        if width == "single":  # a narrow column: one letter per judgement, spelled out in a footnote
            for ln in lines:
                if ln.cells.get("rob"):
                    ln.cells["rob"] = ROB_SHORT.get(ln.cells["rob"].lower(), ln.cells["rob"][:1].upper())
        cols.append(Column("rob", "RoB" if width == "single" else "Risk of\nbias", side="right",
                           align="center" if width == "single" else "left", max_frac=0.1, clear=True))
    if weights:
        cols.append(Column("weight", "\nWeight", side="right"))
    notes = footnotes_for(flagged_all, mid, mid_source, measure)
    if any(ln.kind == "diamond" and not ln.bold and ln.cells.get("weight", "") == "" and
           not ln.label.startswith(("Subtotal", "Equal-effects")) for ln in lines):
        notes.insert(0, POOLED_NOTE)
    caption = sources_caption(rows)
    if show_sources is True or (show_sources == "auto" and len(caption) <= 400):
        notes.append(caption)
    elif show_sources == "auto":
        notes.append("Sources of each number: see figures/index.csv.")
    if any(ln.kind == "point" for ln in lines):
        notes.insert(0, "Open circle: an estimate reported without a CI (no weight, not pooled).")
    if any(ln.cells.get("effect", "").endswith(COMPUTED) for ln in lines):
        notes.insert(0, COMPUTED_NOTE)
    if domains:
        notes.insert(0, rob_legend(rows, rob, domains, lines))
    elif width == "single" and any(ln.cells.get("rob") for ln in lines):
        used = dict.fromkeys(ln.cells["rob"] for ln in lines if ln.cells.get("rob"))
        words = {v: k for k, v in ROB_SHORT.items()}
        notes.insert(0, "RoB, risk of bias: " + "; ".join(f"{u} {words.get(u, u)}" for u in used)
                     + (" (grey: no assessment recorded)" if NOT_ASSESSED_SHORT in used else "") + ".")
    elif any(ln.cells.get("rob") == "not assessed" for ln in lines):
        notes.insert(0, "Risk of bias: grey \u201cnot assessed\u201d where no assessment is recorded.")
    if note:
        notes.insert(0, note)
    plotted = any(ln.kind in ("study", "diamond", "point") for ln in lines)
    if not plotted:  # nothing to draw: a text-only table, no empty axis or MID band
        notes = [n for n in notes if not n.startswith("Shaded band")]
    favours = case.current().favours if favours == "case" else favours
    instruments = sorted({str(v) for v in rows.get("instrument", pd.Series(dtype=str)).dropna() if str(v)})
    label = axis_label(measure, instruments[0] if len(instruments) == 1 else "")
    if mid is None:
        label += "; no MID"
    panel = Panel(lines, log=measure in RATIO, xlim=xlim, mid=mid, favours=favours,
                  axis_label=label, axis=plotted)
    try:
        return render([panel], cols, width=width, title=title, footnotes=notes)
    except EvidenceError:
        if width != "single":
            raise
    # too many columns for one journal column (wide n, per-arm events, weights, risk of bias): two
    return forest(rows, result, measure=measure, common=common, by=by, subgroups=subgroups, mid=mid,
                  mid_source=mid_source, xlim=xlim, title=title, width="double", show_sources=show_sources,
                  favours=favours, pooled_label=pooled_label, rob=rob, note=note)
