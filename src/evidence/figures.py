"""``evidence figures``: draw every figure of the project and export it reproducibly.

Which figures exist follows from the data: one forest plot per analysis
(from ``data/analyses.yaml`` when it exists, else the interim grouping
``group_by_condition_outcome_timepoint``), an evidence map per claim whose
sources have effects, an evidence map per condition (``CONDITION_MAPS``,
curated analyses only), a funnel plot where an analysis has 10 or more
studies, and the claim summary when ``claims_verdicts.csv`` exists. Each is
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
import yaml

from evidence import paths
from evidence.errors import DataError, EvidenceError
from evidence.plots import claim_summary, evidence_map, forest, funnel, house_style, sources_caption
from evidence.plots.forestplot import as_bool

FORMATS = ("png", "svg", "pdf")
METADATA = {"png": {"Software": None}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}
POOLED_DESIGNS = {"systematic review", "meta-analysis"}
MIN_FUNNEL_K = 10  # Cochrane Handbook 13.3.5.4: funnel plots and asymmetry tests need >= 10 studies
COMMAND = "evidence figures"
INDEX_COLUMNS = ["id", "title", "caption", "source", "input_sha256", "files"]


@dataclass
class Analysis:
    """A set of effects rows pooled together, with its fit (None when fewer than 2 estimable)."""

    id: str
    title: str
    rows: pd.DataFrame
    result: object | None
    measure: str = "SMD"
    outcome: str = ""
    condition: str = ""  # as in analyses.yaml; "" for the interim grouping (no condition maps)
    evidence_role: str = ""


@dataclass(frozen=True)
class ConditionMap:
    """One condition's evidence map: its analyses (by ``condition``) plus context analyses named here."""

    key: str  # figure id map_<key>
    condition: str  # the ``condition`` of its analyses in analyses.yaml
    title: str
    context: tuple[str, ...] = ()  # analyses of other conditions shown in the context group


# The conditions the article's sources cover (issue 6). An analysis whose
# evidence_role is context (e.g. fibromyalgia_trials) is drawn as context too.
CONDITION_MAPS = (
    ConditionMap("gad", "GAD", "Generalized anxiety disorder and anxiety",
                 context=("context_depression_hou2010", "context_depression_hou2010_fe")),
    ConditionMap("migraine", "migraine", "Migraine"),
    ConditionMap("fibromyalgia", "fibromyalgia", "Fibromyalgia"),
    ConditionMap("palliative", "palliative cancer", "Palliative care in advanced cancer",
                 context=("context_cancer_pain", "context_cancer_reviews")),
)


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


def default_fit(yi, vi, labels):
    """The interim model for every analysis: REML with the Knapp-Hartung test."""
    from evidence.meta import rma

    return rma(yi, vi, method="REML", test="knha", labels=labels)


def _estimable(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows["estimable"].map(as_bool)]


def group_by_condition_outcome_timepoint(effects: pd.DataFrame, fit=default_fit) -> list[Analysis]:
    """Interim analyses until ``data/analyses.yaml`` exists: trial rows per condition x outcome x timepoint.

    Pooled estimates of reviews are left out (they are not re-pooled with
    trials; they appear in the evidence maps), and so are rows of another
    measure than the group's. Fits where k >= 2; k = 1 gives no diamond.
    """
    trials = effects[~effects["design"].isin(POOLED_DESIGNS)]
    analyses = []
    keys = ["condition", "outcome", "timepoint", "measure"]
    for key, rows in trials.groupby(keys, sort=True, dropna=False):
        condition, outcome, timepoint, measure = ("" if pd.isna(k) else k for k in key)
        usable = _estimable(rows)
        result = None
        if len(usable) >= 2:
            result = fit(usable["yi"].to_numpy(float), usable["vi"].to_numpy(float),
                         list(usable["label"]))
        analyses.append(Analysis(
            id=slug(condition, outcome, timepoint, measure if measure != "SMD" else ""),
            title=f"{condition}: {outcome.replace('_', ' ')}, {timepoint}",
            rows=rows.reset_index(drop=True), result=result, measure=measure or "SMD",
            outcome=outcome))
    return _unique_ids(analyses)


def _unique_ids(analyses):
    seen = {}
    for a in analyses:
        n = seen.get(a.id, 0)
        seen[a.id] = n + 1
        if n:
            a.id = f"{a.id}_{n + 1}"
    return analyses


def analyses_from_yaml(effects: pd.DataFrame, path: Path) -> list[Analysis]:
    """The curated analyses (``evidence.analyses``), in the file's order."""
    from evidence.analyses import fit_all, load_specs

    fits = fit_all(effects, load_specs(path), source=path)
    return [Analysis(id=f.spec.id, title=f.spec.title, rows=f.rows, result=f.result,
                     measure=f.spec.measure, outcome=f.spec.outcome, condition=f.spec.condition,
                     evidence_role=f.spec.evidence_role) for f in fits.values()]


def condition_of(condition: str) -> ConditionMap:
    """The map entry for a key ('gad') or an analyses.yaml condition ('GAD', 'palliative cancer')."""
    for cm in CONDITION_MAPS:
        if condition.lower() in (cm.key, cm.condition.lower()):
            return cm
    raise EvidenceError(f"no evidence map for condition {condition!r}; one of "
                        f"{[cm.key for cm in CONDITION_MAPS]}")


def condition_rows(condition: str, effects: pd.DataFrame, specs=None) -> pd.DataFrame:
    """Effects rows of a condition's analyses, each row once, with ``analysis`` and ``analysis_title``
    (of the first analysis that lists it).

    ``specs``: AnalysisSpec list (``evidence.analyses.load_specs``) or ``Analysis`` list (``plan``);
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
    mids = load_mids(paths.DATA / "mids.csv") if mids is None else mids
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


def load_mids(path: Path) -> pd.DataFrame:
    if not Path(path).exists():
        return pd.DataFrame(columns=["outcome", "instrument", "measure", "mid", "source", "notes"])
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def mid_for(mids: pd.DataFrame, outcome: str, measure: str, instruments: set) -> tuple:
    """(mid, source) for an analysis: SMD by outcome (or 'any'); MD by the rows' one instrument."""
    for _, m in mids.iterrows():
        if measure == "SMD" and m["measure"] == "SMD" and m["outcome"] in (outcome, "any"):
            pass
        elif measure == "MD" and m["measure"] != "SMD" and len(instruments) == 1 \
                and m["instrument"] in instruments and m["outcome"] in (outcome, "any"):
            pass
        else:
            continue
        try:
            return float(m["mid"]), _short_source(m["source"])
        except ValueError as exc:
            raise DataError("not a number", file="data/mids.csv", row=m.name + 2, field="mid") from exc
    return None, ""


def _short_source(text: str) -> str:
    """'Norman GR, ... Med Care 2003 ...' -> 'Norman 2003' for a footnote."""
    author = text.split(" ")[0].rstrip(",")
    year = re.search(r"(19|20)\d\d", text)
    return f"{author} {year.group(0)}" if year else author


def plan(effects: pd.DataFrame, *, analyses: list[Analysis], mids: pd.DataFrame,
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
        sources = set(claim.get("sources") or [])
        linked = set().union(*(rows_of.get(aid, set()) for aid in claim.get("analyses") or []))
        rows = effects[effects["study_id"].isin(sources) | effects["row_id"].isin(linked)]
        if rows.empty:
            continue
        cid = str(claim["id"])
        title = f"{cid}: {claim.get('claim', '')}".strip()
        specs.append(FigureSpec(
            id=f"map_{cid}", title=f"Evidence map: {title}",
            caption=f"Every reported effect from the sources and analyses of claim {cid}. "
                    + sources_caption(rows),
            input_sha256=digest(rows), width="double",
            draw=_bind(evidence_map, rows, title=title, mids=_map_mids(mids), width="double")))
    for cm in CONDITION_MAPS:
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


def _map_mids(mids) -> dict:
    out = {}
    for _, m in mids.iterrows():
        if m["measure"] == "SMD" and m["outcome"] == "any":
            out["SMD"] = float(m["mid"])
    return out


def _funnel_spec(a: Analysis) -> FigureSpec:
    from evidence.meta import egger, trimfill

    est = _estimable(a.rows)
    yi, vi = est["yi"].to_numpy(float), est["vi"].to_numpy(float)
    return FigureSpec(
        id=f"funnel_{a.id}", title=f"Funnel plot: {a.title}",
        caption=f"{a.title}: contour-enhanced funnel plot with Egger's line and trim-and-fill.",
        input_sha256=digest(est), draw=_bind(funnel, a.result, trimfill=trimfill(yi, vi),
                                             egger=egger(yi, vi), title=a.title))


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
        fig.savefig(path, format=ext, dpi=300, metadata=METADATA[ext])
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
    index.to_csv(out / "index.csv", index=False, lineterminator="\n")
    return index


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=paths.FIGURES, metavar="DIR",
                        help="folder for the figures and index.csv (default: %(default)s)")
    parser.add_argument("--effects", type=Path, default=paths.EFFECTS, metavar="FILE",
                        help="effects table (default: %(default)s)")
    parser.add_argument("--verdicts", type=Path, default=paths.VERDICTS, metavar="FILE",
                        help="claim verdicts; the claim summary is skipped when absent")
    parser.add_argument("--analyses", type=Path, default=paths.DATA / "analyses.yaml", metavar="FILE",
                        help="curated analyses; when absent, effects are grouped by condition x "
                             "outcome x timepoint")
    parser.add_argument("--mids", type=Path, default=paths.DATA / "mids.csv", metavar="FILE",
                        help="minimal important differences (default: %(default)s)")
    parser.add_argument("--claims", type=Path, default=paths.CLAIMS, metavar="FILE",
                        help="claims file, for one evidence map per claim (default: %(default)s)")


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
    effects = read_effects(args.effects)
    if Path(args.analyses).exists():
        analyses = analyses_from_yaml(effects, Path(args.analyses))
    else:
        print(f"figures: {args.analyses} not found; grouping effects by condition x outcome x timepoint")
        analyses = group_by_condition_outcome_timepoint(effects)
    claims = None
    if Path(args.claims).exists():
        claims = yaml.safe_load(Path(args.claims).read_text(encoding="utf-8")) or []
    verdicts = None
    if Path(args.verdicts).exists():
        verdicts = pd.read_csv(args.verdicts)
    else:
        print(f"figures: {args.verdicts} not found; claim summary skipped (run `evidence grade`)")
    specs = plan(effects, analyses=analyses, mids=load_mids(args.mids), claims=claims,
                 verdicts=verdicts)
    index = write_figures(specs, Path(args.out))
    print(f"wrote {len(index)} figures ({', '.join(FORMATS)}) and index.csv to {args.out}")
    return 0
