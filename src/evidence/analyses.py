"""Analyses: which effects are pooled together, with which model, fitted once.

An analysis is a curated choice (``data/analyses.yaml``), not something the
code guesses: a reviewer reads which rows of ``effects.csv`` were combined,
and why, next to the model used. ``evidence analyse`` fits every analysis
once (``fit_all``) and writes ``data/derived/analyses.csv``; grading, figures
and notebooks read that stage back with ``read_fits`` and never refit. A
``Fit`` carries its measure, method, test and row ids, like metafor's ``rma``
object, so a forest plot needs only the fit and the follow-up verbs
(``leave1out``, ``trimfill``, ``egger``) reuse its model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from evidence import atomic, case, cells, paths
from evidence.curated import line_of, read_yaml_list
from evidence.errors import DataError, EvidenceError

REQUIRED = ("id", "title", "condition", "outcome", "measure", "evidence_role", "rows")
METHODS = {"EE", "DL", "REML", "PM", "ML", "SJ", "HE"}
TESTS = {"z", "knha"}


@dataclass(frozen=True)
class AnalysisSpec:
    id: str
    title: str
    condition: str
    outcome: str
    measure: str
    evidence_role: str
    rows: tuple[str, ...]
    method: str = "REML"
    test: str = "knha"
    pool: bool = True  # False: show side by side, never pool (e.g. reviews sharing trials)
    notes: str = ""


@dataclass
class Pooled:
    """A fitted random/fixed-effect model's numbers, as ``analyses.csv`` stores them.

    The same names as ``evidence.meta.MetaResult`` (what the plots and grading
    read), plus the estimable rows' ``yi``/``vi``/``labels``; weights follow
    from ``vi`` and ``tau2`` (1/(vi + tau2), in percent, as metafor's
    ``weights()``), so nothing needs refitting.
    """

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    pval: float
    tau2: float
    I2: float
    Q: float
    Q_pval: float
    k: int
    pi_low: float | None
    pi_high: float | None
    method: str
    test: str
    yi: np.ndarray
    vi: np.ndarray
    labels: list[str]
    egger_p: float | None = None

    @property
    def weights(self) -> np.ndarray:
        w = 1 / (self.vi + (0.0 if self.method == "EE" else self.tau2))
        return 100 * w / w.sum()


@dataclass
class Fit:
    """One analysis: its spec, all its effects rows, and its pooled model (None if not pooled)."""

    spec: AnalysisSpec
    rows: pd.DataFrame
    result: Pooled | object | None = None
    estimable_rows: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def k(self) -> int:
        return len(self.estimable_rows)

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def title(self) -> str:
        return self.spec.title

    @property
    def condition(self) -> str:
        return self.spec.condition

    @property
    def outcome(self) -> str:
        return self.spec.outcome

    @property
    def evidence_role(self) -> str:
        return self.spec.evidence_role

    @property
    def measure(self) -> str:
        return self.spec.measure

    @property
    def method(self) -> str:
        return self.spec.method

    @property
    def test(self) -> str:
        return self.spec.test

    @property
    def row_ids(self) -> tuple[str, ...]:
        return self.spec.rows

    @property
    def status(self) -> str:
        if self.result is not None:
            return "pooled"
        if self.k == 0:
            return "no estimable row"
        if self.k == 1:
            return "single estimate"
        return "not pooled (pool: false)"


AnalysisFit = Fit  # the name before the analysis stage existed


def load_specs(path: Path | None = None) -> list[AnalysisSpec]:
    """Read and check ``data/analyses.yaml``; errors name the entry and field."""
    path = Path(path or paths.ANALYSES)
    entries = read_yaml_list(path, "analyses")
    specs, seen = [], set()
    for i, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise DataError("each analysis must be a mapping", file=path, row=i)
        aid = entry.get("id", "?")

        def bad(msg, fld, entry=entry, aid=aid, i=i):
            line = line_of(entry, fld) or i
            where = f"{line} ({aid})" if isinstance(aid, str) else line
            return DataError(msg, file=path, row=where, field=fld)

        if not isinstance(entry.get("pool", True), bool):
            raise bad(f"must be true or false, not {entry['pool']!r}", "pool")
        for key in REQUIRED:
            if entry.get(key) in (None, "", []):
                raise bad("missing", key)
        unknown = sorted(str(k) for k in set(entry) - set(AnalysisSpec.__dataclass_fields__))
        if unknown:
            raise bad(f"unknown keys {unknown}", unknown[0])
        for key in ("id", "title", "condition", "outcome", "measure", "evidence_role", "method",
                    "test", "notes"):
            if key in entry and not isinstance(entry[key], str):
                raise bad(f"must be text, not {type(entry[key]).__name__} {entry[key]!r}", key)
        if not isinstance(entry["rows"], list) or not all(isinstance(r, str) and r
                                                          for r in entry["rows"]):
            raise bad(f"must be a list of row ids, not {entry['rows']!r}", "rows")
        if len(set(entry["rows"])) != len(entry["rows"]):
            raise bad("a row id is listed twice", "rows")
        if cells.safe(entry["id"]) != entry["id"]:
            raise bad(f"{entry['id']!r} begins like a spreadsheet formula; an id begins with a "
                      "letter or digit", "id")
        if entry["id"] in seen:
            raise bad(f"duplicate analysis id {entry['id']!r}", "id")
        seen.add(entry["id"])
        method, test = entry.get("method", "REML"), entry.get("test", "knha")
        if method not in METHODS:
            raise bad(f"unknown method {method!r}; one of {sorted(METHODS)}", "method")
        if test not in TESTS:
            raise bad(f"unknown test {test!r}; one of {sorted(TESTS)}", "test")
        specs.append(AnalysisSpec(**{**entry, "rows": tuple(entry["rows"]),
                                     "method": method, "test": test}))
    return specs


def fit_all(effects: pd.DataFrame, specs: list[AnalysisSpec] | None = None,
            source: Path | str = "analyses.yaml") -> dict[str, Fit]:
    """Fit every analysis; rows that are not estimable stay in ``.rows`` (never dropped).

    Only the analysis stage calls this; later stages read its output (``read_fits``).
    """
    specs = load_specs() if specs is None else specs
    by_id = effects.set_index("row_id", drop=False)
    fits = {}
    for spec in specs:
        missing = [r for r in spec.rows if r not in by_id.index]
        if missing:
            raise DataError(f"rows not in effects.csv: {missing}", file=source,
                            row=spec.id, field="rows")
        rows, usable = _rows(by_id, spec, source)
        result = None
        if spec.pool and len(usable) >= 2:
            result = _pool(usable, spec)
        fits[spec.id] = Fit(spec=spec, rows=rows, result=result, estimable_rows=usable)
    return fits


def _rows(by_id: pd.DataFrame, spec: AnalysisSpec, source) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = by_id.loc[list(spec.rows)].reset_index(drop=True)
    usable = rows[rows["estimable"].astype(bool)]
    measures = set(usable["measure"])
    if measures - {spec.measure}:
        raise DataError(f"estimable rows have measure {sorted(measures)}, analysis says "
                        f"{spec.measure}", file=source, row=spec.id, field="measure")
    return rows, usable


def _pool(usable: pd.DataFrame, spec: AnalysisSpec) -> Pooled:
    from evidence.meta import egger, rma  # the meta engine; imported here to keep this light

    yi, vi = usable["yi"].to_numpy(float), usable["vi"].to_numpy(float)
    res = rma(yi, vi, method=spec.method, test=spec.test, labels=list(usable["label"]))
    # Egger's test only where it means something (Cochrane Handbook 13.3.5.4: k >= 10)
    egger_p = egger(yi, vi).pval if len(yi) >= case.current().grading["egger_min_k"] else None
    return Pooled(estimate=res.estimate, se=res.se, ci_low=res.ci_low, ci_high=res.ci_high,
                  pval=res.pval, tau2=res.tau2, I2=res.I2, Q=res.Q, Q_pval=res.Q_pval, k=res.k,
                  pi_low=res.pi_low, pi_high=res.pi_high, method=res.method, test=res.test,
                  yi=yi, vi=vi, labels=list(usable["label"]), egger_p=egger_p)


# --- the stage's file ----------------------------------------------------------
COLUMNS = ["analysis_id", "measure", "method", "test", "k", "k_estimable", "estimate", "se",
           "ci_low", "ci_high", "pi_low", "pi_high", "tau2", "i2", "q", "q_p", "egger_p",
           "row_ids", "status", "pval"]
_NUMBERS = {"estimate": "estimate", "se": "se", "ci_low": "ci_low", "ci_high": "ci_high",
            "pi_low": "pi_low", "pi_high": "pi_high", "tau2": "tau2", "i2": "I2", "q": "Q",
            "q_p": "Q_pval", "egger_p": "egger_p", "pval": "pval"}


def _cell(x) -> str:
    """Full precision (repr round-trips exactly), blank for None/NaN."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return repr(float(x))


def fits_table(fits: dict[str, Fit]) -> pd.DataFrame:
    """One row per analysis: the numbers of its pooled model, or of its single estimate."""
    out = []
    for aid, fit in fits.items():
        row = {"analysis_id": aid, "measure": fit.measure, "k": len(fit.rows),
               "k_estimable": fit.k, "row_ids": ";".join(fit.row_ids), "status": fit.status,
               "method": "", "test": ""}
        res = fit.result
        if res is not None:
            row.update(method=res.method, test=res.test)
            row.update({col: _cell(getattr(res, attr, None)) for col, attr in _NUMBERS.items()})
        elif fit.k == 1:  # one estimate (a trial's effect, or a review's pooled row as reported)
            only = fit.estimable_rows.iloc[0]
            row.update(estimate=_cell(only["yi"]), se=_cell(math.sqrt(only["vi"])),
                       ci_low=_cell(only["ci_low"]), ci_high=_cell(only["ci_high"]),
                       i2=_cell(pd.to_numeric(only.get("i2"), errors="coerce")))
        out.append(row)
    return pd.DataFrame(out, columns=COLUMNS).fillna("")


def write_fits(fits: dict[str, Fit], path: Path | None = None) -> Path:
    path = Path(path or paths.FITS)
    table = cells.safe_frame(fits_table(fits))
    atomic.write_text(path, table.to_csv(index=False, lineterminator="\n"))
    return path


def read_fits(path: Path | None = None, effects: pd.DataFrame | None = None,
              specs: list[AnalysisSpec] | None = None) -> dict[str, Fit]:
    """The analysis stage read back: the same ``Fit`` objects ``fit_all`` made, without refitting.

    A stage file that no longer matches ``analyses.yaml`` (ids, rows, model) is refused:
    run ``evidence analyse`` again.
    """
    path = Path(path or paths.FITS)
    if not path.exists():
        raise EvidenceError(f"{path} not found: run `evidence analyse` first")
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise DataError(f"missing column(s) {missing}: run `evidence analyse` again", file=path)
    if effects is None:
        effects = pd.read_csv(paths.EFFECTS)
    specs = load_specs() if specs is None else specs
    stored = {r["analysis_id"]: r for r in table.to_dict("records")}
    if set(stored) != {s.id for s in specs}:
        raise DataError("analyses differ from analyses.yaml: run `evidence analyse` again",
                        file=path, field="analysis_id")
    by_id = effects.set_index("row_id", drop=False)
    fits = {}
    for line, spec in enumerate(specs, start=2):
        r = stored[spec.id]
        if r["row_ids"] != ";".join(spec.rows) or r["measure"] != spec.measure:
            raise DataError("rows or measure differ from analyses.yaml: run `evidence analyse` "
                            "again", file=path, row=line, field="row_ids")
        rows, usable = _rows(by_id, spec, paths.ANALYSES)
        result = None
        if r["status"] == "pooled":
            num = {attr: (float(r[col]) if r[col] != "" else None) for col, attr in _NUMBERS.items()}
            result = Pooled(**num, k=len(usable), method=r["method"], test=r["test"],
                            yi=usable["yi"].to_numpy(float), vi=usable["vi"].to_numpy(float),
                            labels=list(usable["label"]))
        fits[spec.id] = Fit(spec=spec, rows=rows, result=result, estimable_rows=usable)
    return fits


# --- follow-up verbs: they take the fit and reuse its model ---------------------
def _pooled(fit: Fit) -> Pooled:
    if fit.result is None:
        raise EvidenceError(f"analysis {fit.spec.id} is not pooled ({fit.status})")
    return fit.result


def leave1out(fit: Fit) -> pd.DataFrame:
    from evidence.meta import leave1out as _l1o

    r = _pooled(fit)
    return _l1o(r.yi, r.vi, method=r.method, test=r.test, labels=r.labels)


def trimfill(fit: Fit, side: str | None = None):
    from evidence.meta import trimfill as _tf

    r = _pooled(fit)
    return _tf(r.yi, r.vi, method=r.method, test=r.test, labels=r.labels, side=side)


def egger(fit: Fit):
    from evidence.meta import egger as _egger

    r = _pooled(fit)
    return _egger(r.yi, r.vi)


# --- command line ----------------------------------------------------------------
def add_arguments(parser) -> None:
    parser.add_argument("--effects", type=Path, default=None, metavar="FILE",
                        help="effects table (default: data/derived/effects.csv)")
    parser.add_argument("--analyses", type=Path, default=None, metavar="FILE",
                        help="curated analyses (default: data/analyses.yaml)")
    parser.add_argument("--out", type=Path, default=None, metavar="FILE",
                        help="stage file to write (default: data/derived/analyses.csv)")


def run(args) -> int:
    effects_path = Path(args.effects or paths.EFFECTS)
    if not effects_path.exists():
        raise EvidenceError(f"{effects_path} not found: run `evidence extract` first")
    spec_path = Path(args.analyses or paths.ANALYSES)
    fits = fit_all(pd.read_csv(effects_path), load_specs(spec_path), source=spec_path)
    out = write_fits(fits, args.out)
    pooled = sum(f.result is not None for f in fits.values())
    print(f"wrote {out}: {len(fits)} analyses, {pooled} pooled")
    return 0
