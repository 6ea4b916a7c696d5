"""``evidence figures``: draw every figure of the project and export it reproducibly.

Which figures exist follows from the data: one forest plot per analysis of
the analysis stage (``data/derived/analyses.csv``, read back, never refitted),
an evidence map per claim whose sources have effects, an evidence map per
condition the case names (``evidence.toml`` [[figures.condition_map]]), a
funnel plot where an analysis has 10 or more studies, and the claim summary when ``claims_verdicts.csv`` exists. Each is
written as PNG (300 dpi), SVG and PDF with fixed metadata, so two runs give
identical bytes, and listed in ``figures/index.csv`` with a hash of its data.
"""

from __future__ import annotations

import argparse
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from evidence import atomic, case, cells, paths
from evidence import mids as mids_module
from evidence.case import ConditionMap
from evidence.errors import DataError, EvidenceError
from evidence.plots import (
    albatross,
    card,
    claim_summary,
    condition_evidence,
    forest,
    funnel,
    harvest,
    house_style,
    sources_caption,
)
from evidence.plots.forestplot import as_bool

FORMATS = ("png", "svg", "pdf")
METADATA = {"png": {"Software": None}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}
MIN_FUNNEL_K = 10  # Cochrane Handbook 13.3.5.4: funnel plots and asymmetry tests need >= 10 studies
__all__ = ["ConditionMap", "condition_map", "condition_maps", "plan", "read_analyses", "write_figures"]
COMMAND = "evidence figures"
INDEX_COLUMNS = ["id", "title", "caption", "source", "input_sha256", "files"]


@dataclass
class FigureSpec:
    id: str
    title: str
    caption: str
    input_sha256: str
    draw: Callable  # () -> matplotlib Figure
    width: str = "single"
    source: str = COMMAND


def slug(*parts) -> str:
    text = "_".join(str(p) for p in parts if p not in (None, ""))
    text = text.lower().replace("palliative cancer", "palliative")
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")


def digest(*frames_or_text) -> str:
    """sha256 of the inputs as CSV text (fixed line endings), so the index can detect changes."""
    h = hashlib.sha256()
    for item in frames_or_text:
        text = item.to_csv(index=False, lineterminator="\n") if isinstance(item, pd.DataFrame) else str(item)
        h.update(text.encode("utf-8"))
    return h.hexdigest()


def _estimable(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows["estimable"].map(as_bool)]


def read_analyses(effects: pd.DataFrame | None = None, fits_path: Path | None = None,
                  specs_path: Path | None = None) -> list:
    """The analysis stage (``evidence.analyses.read_fits``), in analyses.yaml's order: nothing refits."""
    from evidence.analyses import load_specs, read_fits

    return list(read_fits(fits_path, effects=effects, specs=load_specs(specs_path)).values())


def condition_maps() -> tuple[ConditionMap, ...]:
    """The case's condition maps (``evidence.toml`` [[figures.condition_map]])."""
    return case.current().condition_maps


def condition_of(condition: str) -> ConditionMap:
    """The map entry for a key ('gad') or an analyses.yaml condition ('GAD', 'palliative cancer')."""
    for cm in condition_maps():
        if condition.lower() in (cm.key, cm.condition.lower()):
            return cm
    raise EvidenceError(f"no evidence map for condition {condition!r} in evidence.toml; one of "
                        f"{[cm.key for cm in condition_maps()]}")


def condition_rows(condition: str, effects: pd.DataFrame, specs=None) -> pd.DataFrame:
    """Effects rows of a condition's analyses, each row once, with ``analysis`` and ``analysis_title``
    (of the first analysis that lists it).

    ``specs``: AnalysisSpec list (``evidence.analyses.load_specs``) or ``Fit`` list (``plan``);
    default ``data/analyses.yaml``. Rows of context analyses get evidence_role 'context'.
    """
    from evidence.analyses import load_specs

    cm = condition_of(condition)
    specs = load_specs() if specs is None else specs
    by_id = effects.set_index("row_id", drop=False)
    parts = []
    for s in specs:
        context = _is_context(cm, s)
        if s.condition != cm.condition and not context:
            continue
        ids = list(s.rows["row_id"]) if isinstance(s.rows, pd.DataFrame) else list(s.rows)
        missing = [r for r in ids if r not in by_id.index]
        if missing:
            raise DataError(f"rows not in effects.csv: {missing}", file="analyses.yaml", row=s.id, field="rows")
        rows = by_id.loc[ids].reset_index(drop=True).assign(analysis=s.id, analysis_title=s.title)
        if context:
            rows["evidence_role"] = "context"
        parts.append(rows)
    if not parts:
        return effects.iloc[0:0].assign(analysis=pd.Series(dtype=str), analysis_title=pd.Series(dtype=str))
    rows = pd.concat(parts, ignore_index=True)
    return rows.drop_duplicates("row_id", keep="first").reset_index(drop=True)


def _is_context(cm: ConditionMap, spec) -> bool:
    return spec.id in cm.context or (spec.condition == cm.condition and spec.evidence_role == "context")


def condition_map(condition: str, effects: pd.DataFrame, specs=None, *, mids: pd.DataFrame | None = None,
                  width: str = "double"):
    """The evidence map of one condition (Figure): every row of its analyses, context analyses apart."""
    cm = condition_of(condition)
    rows = condition_rows(cm.key, effects, specs)
    mids = load_mids() if mids is None else mids
    return condition_evidence(rows, title=f"Evidence map: {cm.title}", mids=mids, width=width)


def _condition_caption(cm: ConditionMap, rows: pd.DataFrame, analyses) -> str:
    own = [a.id for a in analyses if a.condition == cm.condition and not _is_context(cm, a)]
    context = [a.id for a in analyses if _is_context(cm, a)]
    k = len(_estimable(rows))
    return (f"{cm.title}: every effect of the analyses {', '.join(own)}"
            + (f", with {', '.join(context)} as context (not cited)" if context else "")
            + f" (data/analyses.yaml). {k} estimable of {len(rows)} effects, every result drawn with a mark "
              "by its result class as on the claim cards: effects on a common scale (SMD) share a panel, "
              "others keep their native scale with the MID in their own units where data/mids.csv has one; "
              "an interval of unknown direction is mirrored about the null, a P bound is an arrow, a P "
              "without an effect is a point of the albatross strip, and results with no number are listed "
              "by class. " + sources_caption(rows))


def load_mids(path: Path | None = None):
    """The case's MIDs (``evidence.mids``: one reader, one lookup for grading and figures)."""
    return mids_module.load(path)


def mid_for(table, outcome: str, measure: str, instruments: set) -> tuple:
    """(mid, short source) for an analysis, from ``evidence.mids.lookup``; (None, "") if none."""
    hit = mids_module.lookup(table, outcome, measure, instruments)
    return (hit.mid, hit.short_source) if hit else (None, "")


def plan(effects: pd.DataFrame, *, analyses: list, mids,
         claims: list | None = None, verdicts: pd.DataFrame | None = None,
         meta_extras: bool = True, downgrades: pd.DataFrame | None = None,
         relevance: pd.DataFrame | None = None, wanted: pd.DataFrame | None = None,
         sensitivity: pd.DataFrame | None = None, rob: pd.DataFrame | None = None) -> list[FigureSpec]:
    """Every figure the data call for, in a fixed order: forests (only where an effect is drawable)
    and funnels, then per condition its harvest, albatross and evidence map, then per graded claim
    its card and albatross plot, then the claims summary."""
    from evidence.plots.albatross import ASSUMPTION, points
    from evidence.plots.results import results

    res = results(effects)
    specs = []
    drawn_albatross = {}  # points drawn -> figure id: a claim whose points another plot shows gets none
    xlims = _shared_xlims(analyses, mids)
    inside = _contained(analyses)
    by_condition = {cm.key: condition_rows(cm.key, effects, analyses) for cm in condition_maps()
                    if any(a.condition == cm.condition for a in analyses)}
    where = {}  # condition -> (harvest id, albatross id or ""): where a forest's text rows are drawn
    for cm in condition_maps():
        if cm.key in by_condition:
            where[cm.condition] = (f"harvest_{cm.key}",
                                   f"albatross_{cm.key}" if points(by_condition[cm.key], res)[0] else "")
    siblings = {}
    for a in analyses:
        if not _estimable(a.rows).empty and a.id not in inside:
            siblings.setdefault(_sibling_key(a), []).append(f"forest_{a.id}")
    for a in analyses:
        if _estimable(a.rows).empty:  # nothing to draw: its rows are in the condition's harvest plot
            continue
        if a.id in inside:  # its rows are drawn whole in a wider forest: no second copy of them
            continue
        mid, mid_src = mid_for(mids, a.outcome, a.measure, set(a.rows["instrument"].dropna()))
        k = len(_estimable(a.rows))
        caption = (f"{a.title}. {k} estimable of {len(a.rows)} reported effect{'' if len(a.rows) == 1 else 's'}"
                   + (f"; {_model_text(a.result)}." if a.result is not None else "; not pooled.")
                   + (" " if mid else " No minimal important difference in data/mids.csv for this "
                      "outcome and scale. ")
                   + _axis_caption(a, siblings) + _context_note(a, relevance, " ")
                   + "".join(f"It also draws the analysis {t.title} ({t.id}), whose rows are all here, so that "
                             "analysis has no forest plot of its own. "
                             for t in analyses if inside.get(t.id) == a.id)
                   + sources_caption(a.rows))
        # per-arm event columns and risk of bias do not fit one journal column: such forests get two
        width = "double" if "events_int" in a.rows and a.rows["events_int"].notna().any() else "single"
        a_rob = _rob_rows(rob, a.rows)  # risk-of-bias domain rows of the analysis' studies
        f_rows, f_by = _by_outcome(a)
        caption += _rob_caption(a_rob, a.rows)
        specs.append(FigureSpec(
            id=f"forest_{a.id}", title=f"Forest plot: {a.title}", caption=caption,
            input_sha256=digest(a.rows, _result_text(a.result), *([a_rob] if a_rob is not None else [])),
            width=width,
            draw=_bind(forest, f_rows, a.result, by=f_by, measure=a.measure, mid=mid, width=width,
                       mid_source=mid_src, xlim=xlims.get(_sibling_key(a)), rob=a_rob,
                       note=" ".join(t for t in (_context_note(a, relevance), _elsewhere(a, where)) if t))))
        if meta_extras and a.result is not None and int(a.result.k) >= MIN_FUNNEL_K:
            specs.append(_funnel_spec(a))
    for cm in condition_maps():
        if cm.key not in by_condition:
            continue
        rows = by_condition[cm.key]
        specs.append(FigureSpec(
            id=f"harvest_{cm.key}", title=f"Evidence available: {cm.title}",
            caption=f"{cm.title}: harvest plot (Ogilvie et al., BMC Med Res Methodol 2008;8:8) of every "
                    "reported result of the condition's analyses, one row per study and comparison, one column "
                    "per outcome and timepoint (each row with its trial's n or its review's k); the glyph is "
                    "the result class, its colour the direction the result shows beyond chance (grey: a CI "
                    "through no difference or P \u2265 0.05, whatever the point estimate; open: a direction with "
                    "no CI or P); context evidence sits below a rule; a corner mark flags an open request in "
                    "data/extraction/wanted.csv. " + sources_caption(rows),
            input_sha256=digest(rows, wanted if wanted is not None else ""), width="double",
            draw=_bind(harvest, rows, wanted=wanted, res=res)))
        if points(rows, res)[0]:
            drawn_albatross[_signature(rows, res)] = f"albatross_{cm.key}"
            specs.append(FigureSpec(
                id=f"albatross_{cm.key}", title=f"Albatross plot: {cm.title}",
                caption=f"{cm.title}: albatross plot (Harrison et al., Res Synth Methods 2017;8:281-289), "
                        "two-sided P against total n for every trial's between-group result with a P and an n, "
                        "left favouring the control, right the intervention; results of unknown direction or "
                        "with 'no difference' stated drawn on both sides; context evidence ringed; reviews' "
                        "pooled results listed as not drawn (their n is many trials'). The n is the two arms' "
                        f"or, where the arms are not given, the trial's n analysed or randomised. {ASSUMPTION}",
                input_sha256=digest(rows), draw=_bind(albatross, rows, res=res)))
        if _estimable(rows).empty:  # nothing to draw on an axis: the harvest plot shows the condition
            continue
        specs.append(FigureSpec(
            id=f"map_{cm.key}", title=f"Evidence map: {cm.title}", caption=_condition_caption(cm, rows, analyses),
            input_sha256=digest(rows), width="double",
            draw=_bind(condition_evidence, rows, mids=mids, width="double", res=res)))
    graded = set(verdicts["claim_id"]) if verdicts is not None else None
    titles = {a.id: a.title for a in analyses}
    by_claim = verdicts.set_index("claim_id", drop=False) if verdicts is not None else None
    for claim in claims or []:
        if graded is not None and claim.id not in graded:
            continue
        rows = claim_rows(claim, effects, analyses, relevance)
        left = []
        if relevance is not None and "analysis_id" in relevance:
            from evidence.relevance import left_out

            kept = relevance.loc[relevance["claim_id"] == claim.id, "analysis_id"]
            left = [(titles.get(aid, aid), why) for aid, why in
                    left_out(claim, {a.id: a for a in analyses}, kept)]
        verdict = by_claim.loc[claim.id].to_dict() if by_claim is not None else None
        dg = downgrades[downgrades["claim_id"] == claim.id] if downgrades is not None else None
        tagged = "relevance from data/derived/relevance.csv" if relevance is not None else \
            "relevance not computed yet: the rows of the claim's analyses"
        specs.append(FigureSpec(
            id=f"card_{claim.id}", title=f"Claim card {claim.id}: {claim.claim}",
            caption=f"Claim {claim.id} in our words, its verdict, certainty and downgrades "
                    f"(data/derived/claims_verdicts.csv, downgrades.csv), and every result bearing on it "
                    f"({tagged}), each drawn with a mark by its result class; evidence the article does not "
                    "cite is drawn under its own 'Context' headings and used for no verdict. "
                    + sources_caption(rows),
            input_sha256=digest(rows, dg if dg is not None else "", repr(verdict), repr(titles), repr(left)),
            width="double",
            draw=_bind(card, claim, rows, verdict=verdict, downgrades=dg, mids=mids, res=res,
                       titles=titles, left_out=left)))
        sig = _signature(rows, res) if not rows.empty and points(rows, res)[0] else None
        if sig is not None and sig in drawn_albatross:
            specs[-1].caption += f" Its P values are plotted in {drawn_albatross[sig]}."
        elif sig is not None:
            drawn_albatross[sig] = f"albatross_{claim.id}"
            specs.append(FigureSpec(
                id=f"albatross_{claim.id}", title=f"Albatross plot: claim {claim.id}",
                caption=f"Claim {claim.id}: albatross plot of the results bearing on it that have a P and a "
                        f"total n. {ASSUMPTION}",
                input_sha256=digest(rows), draw=_bind(albatross, rows, res=res)))
    if verdicts is not None:
        specs.append(FigureSpec(
            id="claims_summary", title="Strength of the evidence for each claim",
            caption="Summary of findings per claim: verdict, GRADE-style certainty (\u2295 symbols) and the "
                    "grading's best estimate where it gives one (none for claims rated not supported), with the "
                    "analysis it comes from and its relevance tag, and the count of on-target results by "
                    "direction, nulls included"
                    + ("; the strip counts the rule variants of data/derived/verdict_sensitivity.csv that move "
                       "the verdict" if sensitivity is not None else "") + " (data/derived/claims_verdicts.csv).",
            input_sha256=digest(verdicts, sensitivity if sensitivity is not None else "",
                                repr(sorted((c.id, c.claim) for c in claims or [])), repr(titles)),
            width="double",
            draw=_bind(claim_summary, verdicts, width="double", sensitivity=sensitivity,
                       claims={c.id: c.claim for c in claims or []}, titles=titles)))
    return specs


def _rob_rows(rob: pd.DataFrame | None, rows: pd.DataFrame) -> pd.DataFrame | None:
    """The risk-of-bias domain rows of the studies in ``rows`` (None when there are none)."""
    if rob is None or "study_id" not in rows:
        return None
    sub = rob[rob["study_id"].isin(set(rows["study_id"].dropna().astype(str)))]
    return sub.reset_index(drop=True) if len(sub) else None


def _rob_caption(rob: pd.DataFrame | None, rows: pd.DataFrame) -> str:
    """Where the risk-of-bias marks come from, study by study (by label, as in the sources)."""
    if rob is None:
        return " Risk of bias: no domain judgements recorded for these studies (not assessed)."
    labels = dict(zip(rows["study_id"], rows.get("label", rows["study_id"]), strict=True))
    return (" Risk of bias per domain (data/derived/risk_of_bias.csv): "
            + "; ".join(f"{labels.get(sid, sid)}: {g['assessed_by_label'].iloc[0]}, {g['source'].iloc[0]}"
                        for sid, g in rob.groupby("study_id", sort=True)) + ".")


def _signature(rows: pd.DataFrame, res) -> tuple:
    from evidence.plots.albatross import points

    return tuple((p.label, p.p, p.n, p.direction, p.bound) for p in points(rows, res)[0])


def claim_rows(claim, effects: pd.DataFrame, analyses: list, relevance: pd.DataFrame | None) -> pd.DataFrame:
    """The effects rows bearing on a claim with their ``relevance`` tag and ``role`` ("graded", or
    "context": evidence the article does not cite, shown on the card but used for no verdict): from
    relevance.csv when it exists, else the rows of the claim's analyses tagged "relevance not
    computed"."""
    from evidence.plots.card import NOT_COMPUTED

    by_id = effects.set_index("row_id", drop=False)
    if relevance is not None and "row_id" not in relevance:
        # relevance.csv is per analysis: each graded analysis's rows carry its tag, a row in
        # several analyses its most direct one
        from evidence.relevance import LEVELS

        rows_of = {a.id: list(a.rows["row_id"]) for a in analyses}
        rel = relevance[(relevance["claim_id"] == claim.id) & relevance["role"].isin(("graded", "context"))]
        # graded evidence first (a row in a graded and a context analysis is graded), then by directness
        rel = rel.assign(_order=rel["relevance"].map(LEVELS.index),
                         _role=(rel["role"] != "graded").astype(int)).sort_values(["_role", "_order"],
                                                                                  kind="stable")
        relevance = pd.DataFrame([{"claim_id": claim.id, "row_id": rid, "relevance": r.relevance,
                                   "role": r.role}
                                  for r in rel.itertuples() for rid in rows_of.get(r.analysis_id, [])],
                                 columns=["claim_id", "row_id", "relevance", "role"])
    if relevance is not None:
        rel = relevance[relevance["claim_id"] == claim.id].drop_duplicates("row_id")
        rel = rel[rel["row_id"].isin(by_id.index)]
        rows = by_id.loc[list(rel["row_id"])].reset_index(drop=True)
        rows["relevance"] = list(rel["relevance"])
        rows["role"] = list(rel["role"]) if "role" in rel else "graded"
        return rows
    rows_of = {a.id: list(a.rows["row_id"]) for a in analyses}
    ids = list(dict.fromkeys(r for aid in claim.analyses for r in rows_of.get(aid, [])))
    return by_id.loc[ids].reset_index(drop=True).assign(relevance=NOT_COMPUTED, role="graded")


def _axis_caption(a, siblings: dict) -> str:
    """Which forest plots share this one's x axis (same condition, measure and, for MD, scale)."""
    others = [f for f in siblings.get(_sibling_key(a), []) if f != f"forest_{a.id}"]
    scale = " on the same scale" if a.measure == "MD" else ""
    if not others:
        return f"x axis fitted to this plot (no other {a.measure} forest plot of {a.condition}{scale}). "
    return f"x axis shared with {', '.join(others)} ({a.measure}{scale}). "


def _context_note(a, relevance, end: str = "") -> str:
    """For a context analysis: that the article does not cite it, that no verdict uses it, and
    how it differs from the claims it is shown beside (its relevance tags)."""
    if getattr(a, "evidence_role", "") != "context":
        return ""
    tags = []
    if relevance is not None and len(relevance):
        sub = relevance[relevance["analysis_id"] == a.id]
        for tag, grp in sub.groupby("relevance", sort=True):
            tags.append(f"{tag} for {', '.join(sorted(grp['claim_id']))}")
    return ("Context evidence: not cited by the article and not used for any verdict"
            + (f"; {'; '.join(tags)}" if tags else "") + "." + end)


def _by_outcome(a) -> tuple:
    """(rows, by) for a forest: an unpooled side-by-side of several outcomes gets one heading
    per outcome, so a pain estimate never reads as one more row of a fatigue list."""
    if a.result is not None or a.rows["outcome"].nunique() < 2:
        return a.rows, None
    words = a.rows["outcome"].astype(str).str.replace("_", " ").str.capitalize()
    return a.rows.assign(outcome_heading=words), "outcome_heading"


def _elsewhere(a, where: dict) -> str:
    """For a forest with rows it can only print as text: the figures that draw them with marks."""
    if a.rows["estimable"].map(as_bool).all() or a.condition not in where:
        return ""
    harvest_id, albatross_id = where[a.condition]
    return ("Rows in grey text have no effect size to draw here; " + harvest_id + " shows each by its result"
            " class" + (f", and {albatross_id} places those with a P and an n." if albatross_id else "."))


def _contained(analyses: list) -> dict[str, str]:
    """Unpooled analyses whose rows all sit in another drawn analysis of the same measure -> that
    analysis' id (the first widest one). Such a forest would repeat rows the wider one already
    draws, e.g. a one-review analysis inside a side-by-side of later reviews."""
    drawn = [a for a in analyses if not _estimable(a.rows).empty]
    out = {}
    for a in drawn:
        if a.result is not None:
            continue
        ids = set(a.rows["row_id"])
        wider = [b for b in drawn if b.id != a.id and b.measure == a.measure and ids < set(b.rows["row_id"])]
        if wider:
            out[a.id] = max(wider, key=lambda b: len(b.rows)).id
    return out


def _sibling_key(a) -> tuple:
    instruments = set(a.rows["instrument"].dropna()) if a.measure == "MD" else set()
    return (a.condition, a.measure, tuple(sorted(instruments)) if len(instruments) == 1 else ())


def _shared_xlims(analyses: list, mids) -> dict:
    """One x range per condition and measure (MD: and instrument), the widest any sibling needs."""
    from evidence.plots.forestplot import RATIO, default_xlim

    out = {}
    for a in analyses:
        if _estimable(a.rows).empty:
            continue
        mid, _ = mid_for(mids, a.outcome, a.measure, set(a.rows["instrument"].dropna()))
        lo, hi = default_xlim(a.rows, a.result, a.measure, mid)
        key = _sibling_key(a)
        if key in out:
            lo, hi = min(lo, out[key][0]), max(hi, out[key][1])
            if a.measure in RATIO:
                r = max(hi, 1 / lo)
                lo, hi = 1 / r, r
        out[key] = (lo, hi)
    return out


def _funnel_spec(a) -> FigureSpec:
    from evidence import analyses

    est = _estimable(a.rows)
    return FigureSpec(
        id=f"funnel_{a.id}", title=f"Funnel plot: {a.title}",
        caption=f"{a.title}: contour-enhanced funnel plot with Egger's line and trim-and-fill.",
        input_sha256=digest(est), draw=_bind(funnel, a.result, trimfill=analyses.trimfill(a),
                                             egger=analyses.egger(a), title=a.title))


def _model_text(result) -> str:
    from evidence.plots.forestplot import METHODS

    test = "Knapp-Hartung" if str(result.test) == "knha" else "z test"
    kind = "equal effects" if str(result.method) == "EE" else "random effects"
    return f"{kind} ({METHODS.get(str(result.method), result.method)}, {test})"


def _result_text(result) -> str:
    if result is None:
        return "no fit"
    return repr([getattr(result, f, None) for f in ("estimate", "se", "tau2", "method", "test")])


def _bind(fn, *args, **kwargs):
    return lambda: fn(*args, **kwargs)


def export(fig, out: Path, stem: str) -> list[Path]:
    """Write PNG (300 dpi), SVG and PDF without dates, so reruns give the same bytes."""
    written = []
    for ext in FORMATS:
        path = out / f"{stem}.{ext}"
        with atomic.replacing(path, suffix=f".{ext}") as tmp:  # never a half-written figure
            fig.savefig(tmp, format=ext, dpi=300, metadata=METADATA[ext])
        written.append(path)
    return written


def write_figures(specs: list[FigureSpec], out: Path) -> pd.DataFrame:
    """Draw and export every figure; write and return ``index.csv``."""
    out.mkdir(parents=True, exist_ok=True)
    _remove_dropped(out, {s.id for s in specs})
    records = []
    import matplotlib.pyplot as plt
    from tqdm import tqdm

    for spec in tqdm(specs, desc="figures", unit="fig", disable=None):  # bar on a terminal only
        with house_style(spec.width):
            fig = spec.draw()
            files = export(fig, out, spec.id)
            plt.close(fig)
        records.append({"id": spec.id, "title": spec.title, "caption": spec.caption,
                        "source": spec.source, "input_sha256": spec.input_sha256,
                        "files": ";".join(p.name for p in files)})
    index = pd.DataFrame(records, columns=INDEX_COLUMNS)
    text = cells.safe_frame(index).to_csv(index=False, lineterminator="\n")
    atomic.write_text(out / "index.csv", text)  # formula-like text cells neutralised
    return index


def _remove_dropped(out: Path, keep: set) -> None:
    """Delete the files of figures the previous index listed and this run no longer draws
    (e.g. a forest plot whose analysis has no effect to draw), so no stale figure is left."""
    old = out / "index.csv"
    if not old.exists():
        return
    for _, r in pd.read_csv(old, dtype=str).iterrows():
        if r["id"] in keep:
            continue
        for name in str(r.get("files") or "").split(";"):
            if name and "/" not in name and (out / name).is_file():
                (out / name).unlink()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="folder for the figures and index.csv (default: figures/)")
    parser.add_argument("--effects", type=Path, default=None, metavar="FILE",
                        help="effects table (default: data/derived/effects.csv)")
    parser.add_argument("--fits", type=Path, default=None, metavar="FILE",
                        help="the analysis stage (default: data/derived/analyses.csv)")
    parser.add_argument("--verdicts", type=Path, default=None, metavar="FILE",
                        help="claim verdicts; the claim summary is skipped when absent")
    parser.add_argument("--analyses", type=Path, default=None, metavar="FILE",
                        help="curated analyses (default: data/analyses.yaml)")
    parser.add_argument("--mids", type=Path, default=None, metavar="FILE",
                        help="minimal important differences (default: data/mids.csv)")
    parser.add_argument("--claims", type=Path, default=None, metavar="FILE",
                        help="claims file, for one evidence map per claim (default: data/claims.yaml)")


def read_effects(path: Path) -> pd.DataFrame:
    if not Path(path).exists():
        raise EvidenceError(f"{path}: not found; run `evidence extract` first")
    effects = pd.read_csv(path)
    need = {"row_id", "study_id", "condition", "outcome", "timepoint", "measure", "design", "yi", "vi",
            "ci_low", "ci_high", "estimable", "label", "source", "evidence_role"}
    missing = need - set(effects.columns)
    if missing:
        raise DataError(f"missing columns {sorted(missing)}", file=path)
    return effects


def optional_inputs() -> dict:
    """downgrades.csv, relevance.csv, verdict_sensitivity.csv, risk_of_bias.csv (derived) and wanted.csv,
    where they exist."""
    files = {"downgrades": paths.DERIVED / "downgrades.csv", "relevance": paths.DERIVED / "relevance.csv",
             "sensitivity": paths.DERIVED / "verdict_sensitivity.csv",
             "wanted": paths.EXTRACTION / "wanted.csv"}
    from evidence import rob

    found = {k: pd.read_csv(p) for k, p in files.items() if p.exists()}
    judgements = rob.read_derived(paths.DERIVED / rob.FILE)
    if judgements is not None:
        found["rob"] = judgements
    return found


def run(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")  # the command writes files only; notebooks keep their inline backend
    from evidence.claims import load_claims

    effects = read_effects(args.effects or paths.EFFECTS)
    analyses = read_analyses(effects, args.fits, args.analyses)
    claims = load_claims(args.claims, known_analyses={a.id for a in analyses})
    verdicts_path = Path(args.verdicts or paths.VERDICTS)
    verdicts = None
    if verdicts_path.exists():
        verdicts = pd.read_csv(verdicts_path)
    else:
        print(f"figures: {verdicts_path} not found; claim summary skipped (run `evidence grade`)")
    specs = plan(effects, analyses=analyses, mids=load_mids(args.mids), claims=claims,
                 verdicts=verdicts, **optional_inputs())
    out = Path(args.out or paths.FIGURES)
    index = write_figures(specs, out)
    print(f"wrote {len(index)} figures ({', '.join(FORMATS)}) and index.csv to {out}")
    return 0
