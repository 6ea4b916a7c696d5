"""Analyses: which effects are pooled together, and with which model.

An analysis is a curated choice (``data/analyses.yaml``), not something the
code guesses: a reviewer reads which rows of ``effects.csv`` were combined,
and why, next to the model used. ``fit_all`` turns the specs into fitted
results that the grading and plotting steps consume.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from evidence import paths
from evidence.curated import read_yaml_list
from evidence.errors import DataError

ANALYSES = paths.DATA / "analyses.yaml"
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
class AnalysisFit:
    """One analysis: its spec, its effects rows, and the fit (None when k < 2 or not pooled)."""

    spec: AnalysisSpec
    rows: pd.DataFrame
    result: object | None = None
    estimable_rows: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def k(self) -> int:
        return len(self.estimable_rows)


def load_specs(path: Path | None = None) -> list[AnalysisSpec]:
    """Read and check ``data/analyses.yaml``; errors name the entry and field."""
    path = Path(path or ANALYSES)
    entries = read_yaml_list(path, "analyses")
    specs, seen = [], set()
    for i, entry in enumerate(entries, start=1):
        where = dict(file=path, row=f"{i} ({entry.get('id', '?') if isinstance(entry, dict) else '?'})")
        if not isinstance(entry, dict):
            raise DataError("each analysis must be a mapping", **where)
        if not isinstance(entry.get("pool", True), bool):
            raise DataError("must be true or false", field="pool", **where)
        for key in REQUIRED:
            if entry.get(key) in (None, "", []):
                raise DataError("missing", field=key, **where)
        unknown = set(entry) - set(AnalysisSpec.__dataclass_fields__)
        if unknown:
            raise DataError(f"unknown keys {sorted(unknown)}", field=sorted(unknown)[0], **where)
        if entry["id"] in seen:
            raise DataError(f"duplicate analysis id {entry['id']!r}", field="id", **where)
        seen.add(entry["id"])
        method, test = entry.get("method", "REML"), entry.get("test", "knha")
        if method not in METHODS:
            raise DataError(f"unknown method {method!r}; one of {sorted(METHODS)}", field="method", **where)
        if test not in TESTS:
            raise DataError(f"unknown test {test!r}; one of {sorted(TESTS)}", field="test", **where)
        specs.append(AnalysisSpec(**{**entry, "rows": tuple(entry["rows"]),
                                     "method": method, "test": test}))
    return specs


def fit_all(effects: pd.DataFrame, specs: list[AnalysisSpec] | None = None,
            source: Path | str = "analyses.yaml") -> dict[str, AnalysisFit]:
    """Fit every analysis; rows that are not estimable stay in ``.rows`` (never dropped)."""
    from evidence.meta import rma  # the meta step; imported here to keep this module light

    specs = load_specs() if specs is None else specs
    by_id = effects.set_index("row_id", drop=False)
    fits = {}
    for spec in specs:
        missing = [r for r in spec.rows if r not in by_id.index]
        if missing:
            raise DataError(f"rows not in effects.csv: {missing}", file=source,
                            row=spec.id, field="rows")
        rows = by_id.loc[list(spec.rows)].reset_index(drop=True)
        usable = rows[rows["estimable"].astype(bool)]
        measures = set(usable["measure"])
        if measures - {spec.measure}:
            raise DataError(f"estimable rows have measure {sorted(measures)}, analysis says "
                            f"{spec.measure}", file=source, row=spec.id, field="measure")
        result = None
        if spec.pool and len(usable) >= 2:
            result = rma(usable["yi"].to_numpy(float), usable["vi"].to_numpy(float),
                         method=spec.method, test=spec.test, labels=list(usable["label"]))
        fits[spec.id] = AnalysisFit(spec=spec, rows=rows, result=result, estimable_rows=usable)
    return fits
