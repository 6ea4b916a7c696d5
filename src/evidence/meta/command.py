"""``evidence meta FILE.csv``: fit one meta-analysis to a CSV and print it.

The CSV has ``yi, vi`` columns, or arm-level columns with metafor's names
and ``--measure`` (computed by ``evidence.effects.escalc``). An optional
``study`` or ``label`` column names the studies. Rows in messages are CSV
line numbers (header = line 1), as in ``evidence.effects``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pandas as pd

from evidence.errors import DataError, EvidenceError
from evidence.meta.core import METHODS, MetaResult, rma

JSON_FIELDS = ("estimate", "se", "ci_low", "ci_high", "pval", "tau2", "I2", "H2", "Q", "Q_pval",
               "k", "pi_low", "pi_high")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE.csv", help="CSV with yi, vi (or arm-level data with --measure)")
    parser.add_argument("--method", default="REML", choices=METHODS, help="tau² estimator (default REML)")
    parser.add_argument("--test", default="z", choices=("z", "knha"),
                        help="z (normal) or knha (Hartung-Knapp-Sidik-Jonkman, t on k-1 df)")
    parser.add_argument("--measure", choices=("SMD", "MD", "OR", "RR"),
                        help="compute yi, vi from arm-level columns (metafor's names)")
    parser.add_argument("--level", type=float, default=0.95, help="confidence level (default 0.95)")
    parser.add_argument("--pi", default="metafor", choices=("metafor", "higgins"),
                        help="prediction interval: metafor's (z or t(k-1)) or Higgins' t(k-2)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _numbers(df: pd.DataFrame, col: str, file) -> list[float]:
    out = []
    for i, cell in enumerate(df[col].tolist()):
        try:
            x = float(str(cell).strip())
        except ValueError:
            raise DataError(f"not a number: {cell!r}", file=file, row=i + 2, field=col) from None
        if not math.isfinite(x):
            raise DataError(f"not a finite number: {cell!r}", file=file, row=i + 2, field=col)
        out.append(x)
    return out


def load(path, measure=None):
    """Read yi, vi and labels from a CSV; errors name file, line and column."""
    path = Path(path)
    if not path.is_file():
        raise EvidenceError(f"{path}: no such file")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read CSV: {exc}", file=path) from None
    if measure:
        from evidence.effects import escalc  # the calculators step; loaded only when needed

        arm = df.copy()
        for col in arm.columns:
            if col not in ("study", "label"):
                arm[col] = arm[col].replace("", None)
        try:
            df = escalc(measure, arm)
        except DataError as exc:
            if exc.file is None:
                raise DataError(exc.message, file=path, row=exc.row, field=exc.field) from None
            raise
        df["yi"], df["vi"] = df["yi"].astype(str), df["vi"].astype(str)
    for col in ("yi", "vi"):
        if col not in df.columns:
            raise DataError(f"missing column (have: {', '.join(df.columns)}); give yi and vi, "
                            "or arm-level data with --measure", file=path, field=col)
    yi, vi = _numbers(df, "yi", path), _numbers(df, "vi", path)
    for i, v in enumerate(vi):
        if v <= 0:
            raise DataError(f"variance must be positive, got {v}", file=path, row=i + 2, field="vi")
    label_col = next((c for c in ("study", "label") if c in df.columns), None)
    labels = df[label_col].tolist() if label_col else None
    return yi, vi, labels


def summary_text(r: MetaResult) -> str:
    """A readable summary, metafor-like."""
    pct = round(100 * r.level)
    lines = [
        f"{'Equal-effects' if r.method == 'EE' else 'Random-effects'} model (k = {r.k}; "
        f"tau² estimator: {r.method}; test: {r.test})",
        f"  estimate {r.estimate:.4f}  se {r.se:.4f}  {pct}% CI [{r.ci_low:.4f}, {r.ci_high:.4f}]  "
        f"p = {r.pval:.4g}",
        f"  tau² {r.tau2:.4f} ({pct}% CI [{r.tau2_ci[0]:.4f}, {r.tau2_ci[1]:.4f}])  "
        f"I² {r.I2:.1f}%  H² {r.H2:.2f}",
        f"  Q({r.k - 1}) = {r.Q:.4f}, p = {r.Q_pval:.4g}",
    ]
    if r.pi_low is not None:
        lines.append(f"  {pct}% prediction interval [{r.pi_low:.4f}, {r.pi_high:.4f}] ({r.pi} convention)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    yi, vi, labels = load(args.file, args.measure)
    r = rma(yi, vi, method=args.method, test=args.test, labels=labels, level=args.level,
            pi=args.pi, source=args.file)
    if args.json:
        d = r.to_dict()
        out = {"method": r.method, "test": r.test, **{f: d[f] for f in JSON_FIELDS},
               "tau2_ci": d["tau2_ci"]}
        print(json.dumps(out))
    else:
        print(summary_text(r))
    return 0
