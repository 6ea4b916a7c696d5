"""Minimal important differences: ``data/mids.csv``, read, checked and looked up in one place.

Grading, figures and notebooks all ask ``lookup``, so an outcome-specific MID
added to the file is used by every one of them alike. A row is
(outcome, instrument, measure, mid, source, notes); ``measure`` is ``SMD`` or
the instrument's unit (``points``, ``mm``...); outcome ``any`` with measure
``SMD`` is the generic SMD threshold.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from evidence import cells, paths
from evidence.errors import DataError

COLUMNS = ("outcome", "instrument", "measure", "mid", "source", "notes")


@dataclass(frozen=True)
class Mid:
    outcome: str
    instrument: str
    measure: str  # "SMD" or the instrument's unit
    mid: float
    source: str
    notes: str = ""
    line: int = 0

    @property
    def short_source(self) -> str:
        """'Norman GR, ... Med Care 2003 ...' -> 'Norman 2003', for a footnote."""
        author = self.source.split(" ")[0].rstrip(",")
        year = re.search(r"(19|20)\d\d", self.source)
        return f"{author} {year.group(0)}" if year else author


def load(path: str | Path | None = None) -> tuple[Mid, ...]:
    """Every row of mids.csv, checked: a positive finite number with a source, unique per
    (outcome, instrument, measure). A missing or empty file is an error, never 'no MIDs'."""
    path = Path(path or paths.MIDS)
    if not path.exists():
        raise DataError("file not found (minimal important differences are required; a case "
                        "without any keeps the header and says so in a row's notes)", file=path)
    header, rows = cells.read_rows(path, what="file")
    if header != list(COLUMNS):
        raise DataError(f"header must be {','.join(COLUMNS)}", file=path, row=1)
    out, seen = [], {}
    for line, row in rows:
        rec = dict(zip(COLUMNS, (c.strip() for c in row), strict=True))
        for fld in ("outcome", "instrument", "measure", "source"):
            if not rec[fld]:
                raise DataError("blank", file=path, row=line, field=fld)
        value = cells.number(rec["mid"])
        if value is None or not math.isfinite(value) or value <= 0:
            raise DataError(f"{rec['mid']!r} is not a positive number", file=path, row=line,
                            field="mid")
        key = (rec["outcome"], rec["instrument"], rec["measure"])
        if key in seen:
            raise DataError(f"duplicates line {seen[key]} (same outcome, instrument, measure)",
                            file=path, row=line, field="outcome")
        seen[key] = line
        out.append(Mid(rec["outcome"], rec["instrument"], rec["measure"], value, rec["source"],
                       rec["notes"], line))
    if not out:
        raise DataError("no rows: at least the generic SMD threshold (outcome any)", file=path,
                        row=2)
    return tuple(out)


def lookup(mids, outcome: str, measure: str, instruments=()) -> Mid | None:
    """The MID for an analysis or row, or None (then say 'no MID').

    SMD: the outcome's own SMD row, else the generic one (outcome ``any``).
    MD: the row of the same outcome and the rows' single instrument (its unit);
    rows on several instruments have no common MD threshold.
    """
    if measure == "SMD":
        for wanted in (outcome, "any"):
            for m in mids:
                if m.measure == "SMD" and m.outcome == wanted:
                    return m
        return None
    if measure == "MD":
        instruments = {i for i in instruments if i}
        if len(instruments) != 1:
            return None
        (instrument,) = instruments
        for m in mids:
            if m.measure != "SMD" and m.outcome == outcome and m.instrument == instrument:
                return m
    return None
