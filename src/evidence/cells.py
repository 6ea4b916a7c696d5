"""CSV cells in and out: the one number grammar, strict reading, spreadsheet-safe writing.

Every sheet the project reads is parsed here, so one rule holds everywhere:
UTF-8 text, every row exactly as long as the header, no cell over the csv
module's 131,072 characters, numbers in plain ASCII decimal or scientific
notation (``float()`` alone would take ``2_3`` as 23, ``１２`` as 12 and
``inf``). On the way out, a text cell a spreadsheet would run as a formula
(``=HYPERLINK(...)``, ``+cmd``, ``@SUM(...)``) is prefixed with ``'``: still
readable, never executed; numbers such as ``-0.5`` are left alone.
"""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path

from evidence.errors import DataError

NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
MAX_CELL = 131_072  # the csv module's default field limit, stated so the message can say it
_FORMULA = re.compile(r"=|[+\-@][A-Za-z(]")  # no number begins with '='; -0.5 stays a number


def number(text: str) -> float | None:
    """The value of a plain ASCII number (``-1.5``, ``2e-3``), None for anything else."""
    if not isinstance(text, str) or not NUMBER.fullmatch(text):
        return None
    return float(text)


def safe(value):
    """A cell a spreadsheet shows as text: ``=...``, and ``+X``, ``-X``, ``@X`` with X a letter
    or '(', get a leading ``'``; anything else (``-0.5``, ``+2``, plain words) is unchanged."""
    if isinstance(value, str) and _FORMULA.match(value):
        return "'" + value
    return value


def safe_row(values) -> list:
    return [safe(v) for v in values]


def safe_frame(frame):
    """A copy of a DataFrame with every text cell made safe (for ``to_csv`` writers)."""
    return frame.map(safe) if len(frame) else frame.copy()


def read_rows(path: str | Path, *, what: str = "file") -> tuple[list[str], list[tuple[int, list[str]]]]:
    """A CSV file's header and its non-blank rows as (first line, cells), read strictly.

    Raises DataError naming the file, line and (where there is one) field for:
    a missing file, bytes that are not UTF-8, a NUL character, a cell over
    131,072 characters, an empty file, a row with fewer or more cells than
    the header.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise DataError(f"{what} not found", file=path) from exc
    try:
        text, bad_bytes = raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:  # read on to name the row and field of the bad byte
        text, bad_bytes = raw.decode("utf-8-sig", errors="surrogateescape"), exc
    if not text.strip():
        raise DataError("empty file: no header", file=path, row=1)
    header, rows = _parse(text, path)
    for line, cells in [(1, header), *rows]:
        for i, cell in enumerate(cells):
            fld = header[i] if i < len(header) else None
            if bad_bytes is not None and any("\udc80" <= ch <= "\udcff" for ch in cell):
                raise DataError(f"not UTF-8 text ({bad_bytes.reason}; save the file as UTF-8)",
                                file=path, row=line, field=fld)
            if len(cell) > MAX_CELL:
                raise DataError(f"a cell of {len(cell)} characters (at most {MAX_CELL})",
                                file=path, row=line, field=fld)
            if "\x00" in cell:
                raise DataError("a NUL character in the cell", file=path, row=line, field=fld)
        if line > 1 and len(cells) != len(header):
            short = len(cells) < len(header)
            raise DataError(f"{len(cells)} cells for {len(header)} columns (every row has one "
                            "cell per column; quote a cell that holds a comma)", file=path,
                            row=line, field=header[len(cells)] if short else f"cell {len(header) + 1}")
    if bad_bytes is not None:  # a bad byte outside any cell (a quote or a line end)
        line = raw[:bad_bytes.start].count(b"\n") + 1
        raise DataError(f"not UTF-8 text ({bad_bytes.reason})", file=path, row=line)
    return [h.strip() for h in header], rows


def _parse(text: str, path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and non-blank rows with their first line; long cells are read, then refused."""
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, len(text) + 1))  # measure long cells ourselves, with their row
    reader = csv.reader(io.StringIO(text, newline=""))
    rows, line = [], 1
    try:
        header = next(reader, [])
        line = reader.line_num + 1
        for cells in reader:
            if any(c.strip() for c in cells):
                rows.append((line, cells))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise DataError(f"not a readable CSV row: {exc}", file=path, row=line) from exc
    finally:
        csv.field_size_limit(limit)
    return header, rows


def finite(x: float) -> bool:
    return isinstance(x, float | int) and math.isfinite(x)
