"""``evidence meta FILE.csv``: fit one meta-analysis to a CSV and print it.

The CSV has ``yi, vi`` columns, or arm-level columns with metafor's names
and ``--measure`` (computed by ``evidence.effects.escalc``). An optional
``study`` or ``label`` column names the studies. Rows in messages are CSV
line numbers (header = line 1), as in ``evidence.effects``.

Strict input (every rejection names file, line and column):
- UTF-8 (a BOM is allowed), comma-separated, a header naming each column once
  (names are trimmed); every row has exactly as many cells as the header;
  wholly blank lines are skipped; at least one data row.
- Numbers: ASCII decimal or scientific notation with optional sign and
  surrounding spaces (``0.5``, ``-.5``, ``1e-3``); no underscores, thousands
  or decimal commas, ``inf``/``nan`` or other digits. Effects finite,
  variances positive with a finite inverse.
- Study labels, if given, not blank and unique.
- ``--level`` a fraction strictly between 0 and 1 (``0.95``; ``95`` is
  rejected with a hint, where metafor would read it as a percentage).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
from pathlib import Path

import pandas as pd

from evidence.errors import DataError, EvidenceError
from evidence.meta.core import METHODS, MetaResult, rma

JSON_FIELDS = ("estimate", "se", "ci_low", "ci_high", "pval", "tau2", "I2", "H2", "Q", "Q_pval",
               "k", "pi_low", "pi_high")
NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
ARM_COLUMNS = {"n1i", "m1i", "sd1i", "n2i", "m2i", "sd2i", "ai", "bi", "ci", "di"}
MAX_CELL = 10_000  # characters; a longer cell is not a number or a study label


def _level(text: str) -> float:
    """argparse type for --level: a fraction in (0, 1)."""
    try:
        x = float(text) if NUMBER.fullmatch(text.strip()) else math.nan
    except ValueError:
        x = math.nan
    if not 0 < x < 1:
        hint = f" (for {text}% write {x / 100:g})" if 1 < x < 100 else ""
        raise argparse.ArgumentTypeError(f"must be a number between 0 and 1, e.g. 0.95; got {text!r}{hint}")
    return x


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE.csv", help="CSV with yi, vi (or arm-level data with --measure)")
    parser.add_argument("--method", default="REML", choices=METHODS, help="tau² estimator (default REML)")
    parser.add_argument("--test", default="z", choices=("z", "knha"),
                        help="z (normal) or knha (Hartung-Knapp-Sidik-Jonkman, t on k-1 df)")
    parser.add_argument("--measure", choices=("SMD", "MD", "OR", "RR"),
                        help="compute yi, vi from arm-level columns (metafor's names)")
    parser.add_argument("--level", type=_level, default=0.95,
                        help="confidence level, a fraction in (0, 1) (default 0.95)")
    parser.add_argument("--pi", default="metafor", choices=("metafor", "higgins"),
                        help="prediction interval: metafor's (z or t(k-1)) or Higgins' t(k-2)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def parse_number(cell: str, *, file, row, field) -> float:
    """One number by the grammar above, finite, or a DataError naming where."""
    text = cell.strip()
    if not text:
        raise DataError("blank: a number is needed", file=file, row=row, field=field)
    if not NUMBER.fullmatch(text):
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise DataError(f"not a number: {shown!r}", file=file, row=row, field=field)
    x = float(text)
    if not math.isfinite(x):
        raise DataError(f"not a finite number: {text!r}", file=file, row=row, field=field)
    return x


def read_table(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and (line number, cells) of each data row; strict, see the module doc."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise DataError(f"not UTF-8 text (byte {exc.start})", file=path, row=line) from None
    except OSError as exc:
        raise EvidenceError(f"{path}: cannot read: {exc.strerror}") from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise DataError("NUL byte in the file (not a text CSV?)", file=path, row=line)
    rows = []
    reader = csv.reader(text.splitlines(), strict=True)
    try:
        for cells in reader:
            rows.append((reader.line_num, cells))
    except csv.Error as exc:  # the record that failed starts after the last one read
        start = rows[-1][0] + 1 if rows else 1
        raise DataError(f"cannot read CSV: {exc}", file=path, row=start) from None
    rows = [(n, c) for n, c in rows if any(x.strip() for x in c)]
    if not rows:
        raise DataError("empty file: no header and no rows", file=path)
    (hline, header), data = rows[0], rows[1:]
    header = [h.strip() for h in header]
    for i, h in enumerate(header):
        if not h:
            raise DataError(f"column {i + 1} has no name", file=path, row=hline)
        if h in header[:i]:
            raise DataError("column named twice in the header", file=path, row=hline, field=h)
    if not data:
        raise DataError("no data rows (header only)", file=path)
    for line, cells in data:
        if len(cells) != len(header):
            raise DataError(f"{len(cells)} cells but the header has {len(header)} columns",
                            file=path, row=line)
        for h, c in zip(header, cells, strict=True):
            if len(c) > MAX_CELL:
                raise DataError(f"cell of {len(c):,} characters (at most {MAX_CELL:,})",
                                file=path, row=line, field=h)
    return header, data


def load(path, measure=None):
    """Read yi, vi and labels from a CSV; errors name file, line and column."""
    path = Path(path)
    if not path.is_file():
        raise EvidenceError(f"{path}: no such file")
    header, data = read_table(path)
    lines = [n for n, _ in data]
    df = pd.DataFrame([c for _, c in data], columns=header, dtype=str)
    if measure:
        from evidence.effects import escalc  # the calculators step; loaded only when needed

        for col in ARM_COLUMNS.intersection(df.columns):  # our number grammar before escalc's float()
            for n, c in zip(lines, df[col], strict=True):
                if c.strip():
                    parse_number(c, file=path, row=n, field=col)
        arm = df.copy()
        for col in arm.columns:
            if col not in ("study", "label"):
                arm[col] = arm[col].replace("", None)
        try:
            df = escalc(measure, arm)
        except DataError as exc:
            row = lines[exc.row - 2] if isinstance(exc.row, int) and 2 <= exc.row < len(lines) + 2 else exc.row
            raise DataError(exc.message, file=exc.file or path, row=row, field=exc.field) from None
        df["yi"], df["vi"] = df["yi"].astype(str), df["vi"].astype(str)
    for col in ("yi", "vi"):
        if col not in df.columns:
            raise DataError(f"missing column (have: {', '.join(df.columns)}); give yi and vi, "
                            "or arm-level data with --measure", file=path, field=col)
    yi = [parse_number(c, file=path, row=n, field="yi") for n, c in zip(lines, df["yi"], strict=True)]
    vi = [parse_number(c, file=path, row=n, field="vi") for n, c in zip(lines, df["vi"], strict=True)]
    for n, v in zip(lines, vi, strict=True):
        if v <= 0 or not math.isfinite(1 / v):
            raise DataError(f"variance must be positive (with a finite inverse), got {v}",
                            file=path, row=n, field="vi")
    label_col = next((c for c in ("study", "label") if c in df.columns), None)
    labels = None
    if label_col:
        labels = [c.strip() for c in df[label_col]]
        seen = {}
        for n, lab in zip(lines, labels, strict=True):
            if not lab:
                raise DataError("blank study label", file=path, row=n, field=label_col)
            if lab in seen:
                raise DataError(f"study label {lab!r} already used on line {seen[lab]}",
                                file=path, row=n, field=label_col)
            seen[lab] = n
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
    if not all(math.isfinite(x) for x in (r.estimate, r.se, r.tau2)):
        raise DataError("the fit is not finite (effects or variances too extreme for double "
                        "precision)", file=args.file)
    if args.json:
        d = r.to_dict()
        out = {"method": r.method, "test": r.test, **{f: d[f] for f in JSON_FIELDS},
               "tau2_ci": d["tau2_ci"]}
        print(json.dumps(out))
    else:
        print(summary_text(r))
    return 0
