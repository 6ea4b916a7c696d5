"""``escalc(measure, df)``: metafor-style effect sizes for a table of studies.

Column names follow metafor (m1i, sd1i, n1i, m2i, sd2i, n2i for SMD/MD;
ai, bi, ci, di or ai, n1i, ci, n2i for OR/RR), so a CSV that R users know
works unchanged with ``evidence meta --measure``.
"""

from __future__ import annotations

import math

import pandas as pd

from evidence.effects import calculators as calc
from evidence.errors import DataError

CONTINUOUS = {"SMD": calc.smd, "SMD_RevMan": calc.smd_revman, "MD": calc.md}
BINARY = {"OR": calc.log_or, "RR": calc.log_rr}
ALIASES = {"logOR": "OR", "logRR": "RR", "SMD_REVMAN": "SMD_RevMan", "smd_revman": "SMD_RevMan"}
MEASURES = tuple(CONTINUOUS) + tuple(BINARY)
ARM_COLUMNS = ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i")


def escalc(measure: str, df: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``df`` with ``yi`` and ``vi`` appended (group 1 minus/over group 2).

    Rows are numbered in errors as lines of a CSV with a header (first data row = 2).
    """
    measure = ALIASES.get(measure, measure)
    if measure in CONTINUOUS:
        yv = _continuous(CONTINUOUS[measure], df)
    elif measure in BINARY:
        yv = _binary(BINARY[measure], df)
    else:
        raise DataError(f"unknown measure {measure!r}; use one of {', '.join(MEASURES)}",
                        field="measure")
    out = df.copy()
    out["yi"] = [y for y, _ in yv]
    out["vi"] = [v for _, v in yv]
    return out


def _need(df: pd.DataFrame, columns, measure_kind: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"{measure_kind} needs columns {', '.join(columns)}; missing {', '.join(missing)}")


def _number(df: pd.DataFrame, i: int, col: str, *, minimum: float, strict: bool) -> float:
    value = df[col].iloc[i]
    if value is None or (isinstance(value, str) and not value.strip()):
        raise DataError("missing value", row=i + 2, field=col)
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise DataError(f"not a number: {value!r}", row=i + 2, field=col) from None
    if math.isnan(x):
        raise DataError("missing value", row=i + 2, field=col)
    if x < minimum or (strict and x == minimum):
        raise DataError(f"{x:g} must be {'>' if strict else '>='} {minimum:g}", row=i + 2, field=col)
    return x


def _continuous(fn, df: pd.DataFrame) -> list[tuple[float, float]]:
    _need(df, ARM_COLUMNS, "a mean difference")
    out = []
    for i in range(len(df)):
        m1, m2 = (_number(df, i, c, minimum=-math.inf, strict=False) for c in ("m1i", "m2i"))
        sd1, sd2 = (_number(df, i, c, minimum=0, strict=False) for c in ("sd1i", "sd2i"))
        n1, n2 = (_number(df, i, c, minimum=1, strict=False) for c in ("n1i", "n2i"))
        out.append(fn(m1, sd1, n1, m2, sd2, n2))
    return out


def _binary(fn, df: pd.DataFrame) -> list[tuple[float, float]]:
    if {"bi", "di"} <= set(df.columns):
        _need(df, ("ai", "bi", "ci", "di"), "a 2x2 table")
        totals = False
    else:
        _need(df, ("ai", "n1i", "ci", "n2i"), "a 2x2 table")
        totals = True
    out = []
    for i in range(len(df)):
        a, c = (_number(df, i, col, minimum=0, strict=False) for col in ("ai", "ci"))
        if totals:
            n1, n2 = (_number(df, i, col, minimum=1, strict=False) for col in ("n1i", "n2i"))
            for events, n, col in ((a, n1, "ai"), (c, n2, "ci")):
                if events > n:
                    raise DataError(f"{events:g} events exceed n = {n:g}", row=i + 2, field=col)
            b, d = n1 - a, n2 - c
        else:
            b, d = (_number(df, i, col, minimum=0, strict=False) for col in ("bi", "di"))
        out.append(fn(a, b, c, d))
    return out
