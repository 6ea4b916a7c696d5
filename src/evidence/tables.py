"""Tidy tables for the notebooks: effects, analyses, data wanted, verdicts.

The notebooks are narrative; what they display is built here, so a reviewer
reads the same numbers in every notebook and tests can check them. Numbers are
rounded for display only (``DIGITS``); nothing is recomputed differently from
the pipeline: analyses come from ``evidence.analyses.fit_all``, verdicts from
``evidence.grading``, figures from ``evidence.figures.plan``.
"""

from __future__ import annotations

import tempfile
import textwrap
from pathlib import Path

import pandas as pd

from evidence import paths
from evidence.effects.schema import OUTCOME_NUMBERS
from evidence.errors import EvidenceError

DIGITS = 2
MODEL_NAMES = {"knha": "HKSJ", "z": "z"}


def _truthy(v) -> bool:
    if isinstance(v, str):
        return v.strip().lower() in ("true", "1", "yes")
    return bool(v) and not (isinstance(v, float) and v != v)


def _round(v, digits=DIGITS):
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return None if v != v else round(v, digits)


def _n_text(r) -> str:
    a, b = _round(r.get("n_int"), 0), _round(r.get("n_ctl"), 0)
    if a is None and b is None:
        return ""
    return f"{'' if a is None else int(a)}/{'' if b is None else int(b)}"


def _p_text(r) -> str:
    p = _round(r.get("p"), 4)
    if p is None:
        return ""
    op = r.get("p_operator")
    op = op.strip() if isinstance(op, str) and op.strip() else "="  # blank or NaN: an exact P
    return f"P {op} {p:g}"


def effects_table(rows: pd.DataFrame, digits: int = DIGITS) -> pd.DataFrame:
    """One line per effect (indexed by row id), in the given order: what was compared, what the
    source reports (its result class, P) and the effect or why there is none.

    ``n`` is intervention/control as reported (blank where the source gives none);
    ``estimate``/``ci_low``/``ci_high`` are on the favours-intervention-positive scale.
    """
    from evidence.plots.results import CLASSES

    out = []
    for _, r in rows.iterrows():
        ok = _truthy(r.get("estimable"))
        cls = str(r.get("result_class") or "")
        out.append({
            "row": r.get("row_id"),
            "study": r.get("label"),
            "outcome": r.get("outcome"),
            "instrument": r.get("instrument"),
            "timepoint": r.get("timepoint"),
            "comparator": r.get("comparison"),
            "comparator_type": r.get("comparator_type"),
            "design": r.get("design"),
            "n": _n_text(r),
            "measure": r.get("measure") if ok else "",
            "estimate": _round(r.get("yi"), digits) if ok else None,
            "ci_low": _round(r.get("ci_low"), digits) if ok else None,
            "ci_high": _round(r.get("ci_high"), digits) if ok else None,
            "result": CLASSES.get(cls, cls),
            "P": _p_text(r),
            "not_estimable": "" if ok else str(r.get("not_estimable_reason") or "reason not given"),
        })
    table = pd.DataFrame(out, columns=["row", "study", "outcome", "instrument", "timepoint", "comparator",
                                       "comparator_type", "design", "n", "measure", "estimate", "ci_low",
                                       "ci_high", "result", "P", "not_estimable"]).set_index("row")
    return table.astype(object).where(table.notna(), "")


def sources_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Each distinct source behind the rows, with the studies and how many rows it gives."""
    out = []
    for src, part in rows.groupby(rows["source"].fillna("source not recorded"), sort=True):
        out.append({"study": ", ".join(dict.fromkeys(part["label"].astype(str))),
                    "rows": len(part), "source": src})
    return pd.DataFrame(out).sort_values(["study", "source"]).reset_index(drop=True)


def pooled_line(fit, digits: int = DIGITS) -> dict:
    """The analysis' headline as the grading sees it: the pooled fit, else its one estimable row."""
    spec, res, usable = fit.spec, fit.result, fit.estimable_rows
    line = {"analysis": spec.id, "measure": spec.measure, "k_estimable": len(usable),
            "k_rows": len(fit.rows), "model": "", "estimate": None, "ci_low": None,
            "ci_high": None, "I2": None, "pi_low": None, "pi_high": None}
    if res is not None:
        line.update(model=f"{res.method} + {MODEL_NAMES.get(str(res.test), res.test)}",
                    estimate=_round(res.estimate, digits), ci_low=_round(res.ci_low, digits),
                    ci_high=_round(res.ci_high, digits), I2=_round(res.I2, 1),
                    pi_low=_round(res.pi_low, digits), pi_high=_round(res.pi_high, digits))
    elif len(usable) == 1:
        row = usable.iloc[0]
        line.update(model="single effect" if spec.pool else "single effect (not pooled)",
                    estimate=_round(row["yi"], digits), ci_low=_round(row["ci_low"], digits),
                    ci_high=_round(row["ci_high"], digits))
    elif len(usable) == 0:
        line["model"] = "nothing estimable"
    else:
        line["model"] = "not pooled (side by side)"
    return line


def analyses_overview(fits: dict, ids=None, digits: int = DIGITS) -> pd.DataFrame:
    """One line per analysis (in ``ids`` order, default all): k, model and headline estimate."""
    ids = list(fits) if ids is None else list(ids)
    unknown = [i for i in ids if i not in fits]
    if unknown:
        raise EvidenceError(f"analyses not fitted: {unknown} (see data/analyses.yaml)")
    table = pd.DataFrame([pooled_line(fits[i], digits) for i in ids]).set_index("analysis")
    return table.astype(object).where(table.notna(), "")


def condition_fits(fits: dict, condition: str) -> list[str]:
    """Ids of the analyses for one condition, in the order of data/analyses.yaml."""
    return [aid for aid, f in fits.items() if f.spec.condition == condition]


def condition_studies(condition: str, fits: dict | None = None, path: Path | str | None = None) -> list[str]:
    """Study ids for one condition, in studies.csv order: every study of that condition, every
    study with a row in the condition's analyses, and the reviews those were reached through."""
    path = Path(path or paths.EXTRACTION / "studies.csv")
    studies = pd.read_csv(path, dtype=str, keep_default_na=False)
    wanted = set(studies.loc[studies["condition"] == condition, "study_id"])
    for aid in condition_fits(fits or {}, condition):
        wanted |= set(fits[aid].rows["study_id"].astype(str))
    routes = studies.loc[studies["study_id"].isin(wanted), "cited_by"]
    wanted |= {c.strip() for v in routes for c in v.split(";") if c.strip() and c.strip() != "article"}
    return [s for s in studies["study_id"] if s in wanted]


def wanted_table(study_ids, path: Path | str | None = None) -> pd.DataFrame:
    """The data-wanted register's rows for these studies (without the long search log)."""
    path = Path(path or paths.WANTED)
    if not path.exists():
        raise EvidenceError(f"{path}: data-wanted register not found")
    wanted = pd.read_csv(path, dtype=str, keep_default_na=False)
    part = wanted[wanted["study_id"].isin(list(study_ids))]
    cols = ["study_id", "outcome", "status", "needed", "where_in_paper"]
    return part[cols].sort_values(["study_id", "outcome", "needed"]).reset_index(drop=True)


def studies_table(study_ids, path: Path | str | None = None) -> pd.DataFrame:
    """The studies.csv facts a reader needs first: design, role, size, risk of bias (ids' order)."""
    path = Path(path or paths.EXTRACTION / "studies.csv")
    studies = pd.read_csv(path, dtype=str, keep_default_na=False).set_index("study_id")
    missing = [s for s in study_ids if s not in studies.index]
    if missing:
        raise EvidenceError(f"{path}: no study {missing}")
    cols = ["first_author", "year", "design", "condition", "evidence_role", "cited_by",
            "n_randomised", "risk_of_bias"]
    return studies.loc[list(study_ids), cols]


# every number of an outcomes row but the timepoint, then how the row's numbers are read
NUMBER_FIELDS = OUTCOME_NUMBERS[1:] + ("model", "diff_direction")


def as_reported(row_ids, path: Path | str | None = None) -> pd.DataFrame:
    """What the extraction sheet holds for these rows: data type and every number, as reported."""
    path = Path(path or paths.EXTRACTION / "outcomes.csv")
    outcomes = pd.read_csv(path, dtype=str, keep_default_na=False).set_index("row_id")
    missing = [r for r in row_ids if r not in outcomes.index]
    if missing:
        raise EvidenceError(f"{path}: no row {missing}")
    out = []
    for rid in row_ids:
        r = outcomes.loc[rid]
        numbers = "; ".join(f"{f}={r[f]}" for f in NUMBER_FIELDS if f in r and str(r[f]).strip())
        out.append({"row_id": rid, "data_type": r["data_type"], "as_reported": numbers})
    return pd.DataFrame(out, columns=["row_id", "data_type", "as_reported"]).set_index("row_id")


def claims_using(analysis_ids, claims: dict | None = None) -> list[str]:
    """Ids of the claims (sorted) that name any of these analyses in data/claims.yaml."""
    claims = load_claim_texts() if claims is None else claims
    wanted = set(analysis_ids)
    return sorted(cid for cid, c in claims.items() if wanted & set(c.analyses))


def wrap(text: str, width: int = 100, indent: str = "", hang: str | None = None) -> str:
    """Fill ``text`` to ``width``; continuation lines get ``hang`` (default: indent as spaces + 2)."""
    hang = " " * (len(indent) + 2) if hang is None else hang
    return textwrap.fill(str(text), width=width, initial_indent=indent, subsequent_indent=hang,
                         break_on_hyphens=False)


# --- verdicts -----------------------------------------------------------------
def read_verdicts(path: Path | str | None = None) -> pd.DataFrame:
    path = Path(path or paths.VERDICTS)
    if not path.exists():
        raise EvidenceError(f"{path} not found: run `evidence grade` first")
    return pd.read_csv(path, dtype={"n_studies": "Int64", "n_participants": "Int64"})


def regrade(*, fits=None, claims=None, studies=None, records=None, mids=None) -> pd.DataFrame:
    """The claims ledger computed now from the stage files, with the grading step's own
    functions and CSV writer, so it can be compared cell by cell with
    ``data/derived/claims_verdicts.csv`` (nothing is refitted: the fits are read back)."""
    from evidence import grading

    verdicts = grading.grade_all(fits=fits, claims_path=claims, studies=studies, records=records,
                                 mids_path=mids)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "claims_verdicts.csv"
        grading.write_verdicts(verdicts, out)
        return read_verdicts(out)


def verdicts_table(verdicts: pd.DataFrame, claim_ids=None, digits: int = 3) -> pd.DataFrame:
    """Verdict, certainty and headline estimate per claim (reasons left out: see ``reasons``).

    Three decimals by default, as the ledger is written: rounding its 3-decimal values again
    to 2 could disagree with the reasons (0.045 -> 0.04 while the reasons say 0.05).
    """
    part = verdicts if claim_ids is None else verdicts[verdicts["claim_id"].isin(list(claim_ids))]
    out = part[["claim_id", "kind", "verdict", "certainty", "measure", "best_estimate", "ci_low",
                "ci_high", "n_studies", "n_participants"]].copy()
    for col in ("best_estimate", "ci_low", "ci_high"):
        out[col] = out[col].map(lambda v: _round(v, digits))
    out = out.sort_values("claim_id").set_index("claim_id")
    return out.astype(object).where(out.notna(), "")


def load_claim_texts(path: Path | str | None = None) -> dict:
    """Claim id -> its record (``evidence.claims.Claim``: paraphrase, hedged, analyses)."""
    from evidence.claims import load_claims

    return {c.id: c for c in load_claims(path)}


def verdict_text(verdicts: pd.DataFrame, claim_ids=None, claims: dict | None = None,
                 width: int = 100, graded=None) -> str:
    """Readable ledger: per claim its paraphrase, verdict, certainty and wrapped reasons, each
    rating with its downgrades beneath it (rendered from the grading records, not the prose).

    ``graded``: the ``grading.Verdict`` records (default: graded now from the stage files)."""
    from evidence import grading

    claims = load_claim_texts() if claims is None else claims
    part = verdicts if claim_ids is None else verdicts[verdicts["claim_id"].isin(list(claim_ids))]
    graded = {v.claim.id: v for v in (grading.grade_all() if graded is None else graded)}
    blocks = []
    for _, r in part.sort_values("claim_id").iterrows():
        claim = claims.get(r["claim_id"])
        hedged = "hedged" if claim is not None and claim.hedged else "unhedged"
        cert = r["certainty"] if isinstance(r["certainty"], str) else "not rated"
        lines = [wrap(f"{r['claim_id']} ({r['kind']}; {hedged}): {claim.claim if claim else ''}",
                      width), f"  verdict: {r['verdict']}; certainty: {cert}"]
        for head, subs in graded[r["claim_id"]].outline():
            lines.append(wrap(head, width, indent="  - "))
            lines += [wrap(step, width, indent="      ") for step in subs]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


# --- figures --------------------------------------------------------------------
def board_figures(effects: pd.DataFrame | None = None, verdicts: pd.DataFrame | None = None) -> dict:
    """The figures ``evidence figures`` would export (id -> FigureSpec), drawn on demand."""
    from evidence import figures
    from evidence.claims import load_claims

    effects = figures.read_effects(paths.EFFECTS) if effects is None else effects
    specs = figures.plan(effects, analyses=figures.read_analyses(effects),
                         mids=figures.load_mids(), claims=load_claims(), verdicts=verdicts,
                         **figures.optional_inputs())
    return {s.id: s for s in specs}


def condition_figures(figures: dict, key: str, analysis_ids=(), claim_ids=()) -> list[str]:
    """The exported figures about one condition, in reading order: its harvest plot, evidence map
    and albatross plot, the forest plots of its analyses (only those drawn), then its claims' cards
    and their albatross strips. ``key`` is the condition's ``figures.condition_map`` key."""
    ids = [f"harvest_{key}", f"map_{key}", f"albatross_{key}"]
    ids += [fid for aid in analysis_ids for fid in figures
            if fid == f"forest_{aid}" or fid.startswith(f"forest_{aid}_")]
    ids += [fid for cid in claim_ids for fid in (f"card_{cid}", f"albatross_{cid}")]
    return [fid for fid in dict.fromkeys(ids) if fid in figures]


def figure_caption(spec) -> str:
    """Markdown for a figure's heading in a notebook: its id, title and caption (sources left to
    the tables, which list them per row)."""
    caption = spec.caption.split(" Sources:")[0].strip()
    return f"**{spec.title}** (`figures/{spec.id}.png`). {caption}"


def draw(spec):
    """Draw one figure spec in the house style, as ``evidence figures`` exports it."""
    from evidence.plots import house_style

    with house_style(spec.width):
        return spec.draw()


def png(spec, dpi: int = 150) -> bytes:
    """The figure as PNG bytes, drawn and saved as the export does (same style, no metadata)."""
    import io

    from evidence.plots import house_style

    buf = io.BytesIO()
    with house_style(spec.width):
        spec.draw().savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def not_estimable_text(rows: pd.DataFrame, width: int = 100) -> str:
    """Rows without an effect, grouped by their reason (in full, wrapped), with study and outcomes."""
    table = effects_table(rows)
    table = table[table["not_estimable"] != ""]
    if table.empty:
        return "every row is estimable"
    blocks = []
    for why, part in table.groupby("not_estimable", sort=True):
        studies = ", ".join(sorted(set(part["study"].astype(str))))
        outcomes = ", ".join(sorted(set(part["outcome"].astype(str))))
        rows_word = "row" if len(part) == 1 else "rows"
        blocks.append(wrap(f"{studies} ({len(part)} {rows_word}; {outcomes}): {why}", width))
    return "\n".join(blocks)


def wanted_text(study_ids, path: Path | str | None = None, width: int = 100) -> str:
    """The data-wanted rows for these studies, in full and wrapped (the search log left out)."""
    table = wanted_table(study_ids, path)
    if table.empty:
        return "no open request for these studies"
    return "\n".join(wrap(f"{r.study_id} / {r.outcome} [{r.status}]: {r.needed} (where: "
                          f"{r.where_in_paper})", width) for r in table.itertuples())


def against_mid(rows: pd.DataFrame, mid: float, digits: int = DIGITS) -> pd.DataFrame:
    """Estimable rows against 0 and a minimal important difference (same scale as ``yi``).

    The flags use the unrounded interval; the displayed numbers are rounded as elsewhere.
    """
    usable = rows[rows["estimable"].map(_truthy)]
    out = []
    for _, r in usable.iterrows():
        lo, hi = float(r["ci_low"]), float(r["ci_high"])
        out.append({"row": r.get("row_id"), "study": r.get("label"), "outcome": r.get("outcome"),
                    "measure": r.get("measure"), "estimate": _round(r["yi"], digits),
                    "ci_low": _round(lo, digits), "ci_high": _round(hi, digits),
                    "CI excludes 0": bool(lo > 0 or hi < 0),
                    f"CI includes MID {mid:g}": bool(lo < mid < hi)})
    return pd.DataFrame(out).set_index("row") if out else pd.DataFrame(out)


def generic_mid(path: Path | str | None = None) -> float:
    """The generic SMD minimal important difference (outcome 'any'), from ``evidence.mids``."""
    from evidence import mids

    hit = mids.lookup(mids.load(path), "any", "SMD")
    if hit is None:
        raise EvidenceError("data/mids.csv: no generic SMD row (outcome 'any')")
    return hit.mid
