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
from evidence.plots import claim_summary, evidence_map, forest, funnel, house_style, sources_caption
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
    return evidence_map(rows, title=f"Evidence map: {cm.title}", mids=_map_mids(mids), width=width)


def _condition_caption(cm: ConditionMap, rows: pd.DataFrame, analyses) -> str:
    own = [a.id for a in analyses if a.condition == cm.condition and not _is_context(cm, a)]
    context = [a.id for a in analyses if _is_context(cm, a)]
    k = len(_estimable(rows))
    return (f"{cm.title}: every effect of the analyses {', '.join(own)}"
            + (f", with {', '.join(context)} as context (not cited)" if context else "")
            + f" (data/analyses.yaml). {k} estimable of {len(rows)} effects; effects on a common scale "
              "(SMD) share a panel, others keep their native scale; effects that could not be computed are "
              "listed with the reason, one line per study and reason. " + sources_caption(rows))


def load_mids(path: Path | None = None):
    """The case's MIDs (``evidence.mids``: one reader, one lookup for grading and figures)."""
    return mids_module.load(path)


def mid_for(table, outcome: str, measure: str, instruments: set) -> tuple:
    """(mid, short source) for an analysis, from ``evidence.mids.lookup``; (None, "") if none."""
    hit = mids_module.lookup(table, outcome, measure, instruments)
    return (hit.mid, hit.short_source) if hit else (None, "")


def plan(effects: pd.DataFrame, *, analyses: list, mids,
         claims: list | None = None, verdicts: pd.DataFrame | None = None,
         meta_extras: bool = True) -> list[FigureSpec]:
    """Every figure the data call for, in a fixed order: forests, funnels, claim maps, condition maps,
    claim summary."""
    specs = []
    for a in analyses:
        mid, mid_src = mid_for(mids, a.outcome, a.measure, set(a.rows["instrument"].dropna()))
        k = len(_estimable(a.rows))
        caption = (f"{a.title}. {k} estimable of {len(a.rows)} reported effect{'' if len(a.rows) == 1 else 's'}"
                   + (f"; {_model_text(a.result)}." if a.result is not None else "; not pooled.")
                   + " " + sources_caption(a.rows))
        specs.append(FigureSpec(
            id=f"forest_{a.id}", title=f"Forest plot: {a.title}", caption=caption,
            input_sha256=digest(a.rows, _result_text(a.result)),
            draw=_bind(forest, a.rows, a.result, measure=a.measure, mid=mid,
                       mid_source=mid_src, title=a.title)))
        if meta_extras and a.result is not None and int(a.result.k) >= MIN_FUNNEL_K:
            specs.append(_funnel_spec(a))
    rows_of = {a.id: set(a.rows["row_id"]) for a in analyses}
    for claim in claims or []:
        # the claim's own sources, and the analyses it relies on (a review's
        # included trials carry their own study ids, not the review's)
        sources = set(claim.sources)
        linked = set().union(*(rows_of.get(aid, set()) for aid in claim.analyses))
        rows = effects[effects["study_id"].isin(sources) | effects["row_id"].isin(linked)]
        if rows.empty:
            continue
        cid = claim.id
        title = f"{cid}: {claim.claim}".strip()
        specs.append(FigureSpec(
            id=f"map_{cid}", title=f"Evidence map: {title}",
            caption=f"Every reported effect from the sources and analyses of claim {cid}. "
                    + sources_caption(rows),
            input_sha256=digest(rows), width="double",
            draw=_bind(evidence_map, rows, title=title, mids=_map_mids(mids), width="double")))
    for cm in condition_maps():
        if not any(a.condition == cm.condition for a in analyses):
            continue
        rows = condition_rows(cm.key, effects, analyses)
        specs.append(FigureSpec(
            id=f"map_{cm.key}", title=f"Evidence map: {cm.title}", caption=_condition_caption(cm, rows, analyses),
            input_sha256=digest(rows), width="double",
            draw=_bind(evidence_map, rows, title=f"Evidence map: {cm.title}", mids=_map_mids(mids),
                       width="double")))
    if verdicts is not None:
        specs.append(FigureSpec(
            id="claims_summary", title="Strength of the evidence for each claim",
            caption="Verdict, GRADE-style certainty and best estimate per claim "
                    "(data/derived/claims_verdicts.csv).",
            input_sha256=digest(verdicts), width="double",
            draw=_bind(claim_summary, verdicts, width="double")))
    return specs


def _map_mids(table) -> dict:
    """The generic SMD MID for the maps' SMD panel (outcome 'any'), from ``evidence.mids``."""
    hit = mids_module.lookup(table, "any", "SMD")
    return {"SMD": hit.mid} if hit else {}


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
                 verdicts=verdicts)
    out = Path(args.out or paths.FIGURES)
    index = write_figures(specs, out)
    print(f"wrote {len(index)} figures ({', '.join(FORMATS)}) and index.csv to {out}")
    return 0
