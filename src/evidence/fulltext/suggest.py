"""Candidate table cells for each open row of the data-wanted register, ranked.

A wanted row names a study, an outcome and, in words, what is needed ("HARS per
arm at 12 wk: mean with SD and n, intervention and control arms"). Each numeric cell
of that study's PMC tables is scored on the words of its caption, header path and
row label: outcome and instrument names, arm and other words of ``needed``, the
timepoint, and the statistic (mean, SD, CI, n, p). The best are written to
``data/derived/wanted_suggestions.csv`` with their locator, for a person to
confirm; nothing is written into an extraction sheet.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from evidence import atomic, paths
from evidence.errors import DataError
from evidence.fulltext.jats import COLUMNS
from evidence.fulltext.numbers import hints

OUT_COLUMNS = ("study_id", "outcome", "wanted_line", "rank", "score", "matched", "pmcid",
               "table_id", "label", "row", "col", "header_path", "row_label", "text", "value",
               "low", "high", "kind", "source", "xpath", "note")
WANTED_COLUMNS = ("study_id", "outcome", "needed", "where_in_paper", "searched", "status")
# Score weights: a named instrument or the outcome says most about the cell, then the
# timepoint and statistic, then any other shared word (arm names among them).
W_INSTRUMENT, W_OUTCOME, W_TIME, W_KIND, W_WORD, W_OTHER_TIME = 4, 3, 3, 2, 1, -2
W_CAPTION = 1

_TOKEN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_ACRONYM = re.compile(r"\b[A-Z][A-Za-z]*[A-Z](?:-?[0-9]+)?\b|\b[A-Z]{2,}-?[0-9]*\b")
_TIME_AFTER = re.compile(r"\b(\d+)\s*-?\s*(weeks?|wks?|w|months?|mo|days?|d)\b")
_TIME_BEFORE = re.compile(r"\b(weeks?|wks?|months?|days?)\s*(\d+)\b")
_UNITS = {"w": "week", "wk": "week", "wks": "week", "week": "week", "weeks": "week",
          "mo": "month", "month": "month", "months": "month", "d": "day", "day": "day",
          "days": "day"}
_KIND_WORDS = {"sd", "se", "sem", "ci", "n", "p", "iqr", "mean", "median"}
_STOP = set("""a an and or the of at to in on for with from by per each any all as if is are be
not its it this that these those than vs versus between within minus end treatment post change
changes group groups arm arms adjusted analysed analyzed named abstract
used scoring direction instrument outcome outcomes score scores value values data number numbers
where paper table tables results section or other measure measures reported report baseline
follow up week weeks wk month months day days""".split())


def tokens(text: str) -> set[str]:
    out = set()
    for t in _TOKEN.findall(text.lower()):
        t = t.replace("-", "")
        if len(t) > 4 and t.endswith("s"):
            t = t[:-1]
        out.add(t)
    return out


def timepoints(text: str) -> set[tuple[str, int]]:
    low = text.lower()
    found = {(_UNITS[u], int(n)) for n, u in _TIME_AFTER.findall(low)}
    found |= {(_UNITS[u], int(n)) for u, n in _TIME_BEFORE.findall(low)}
    return found


def instruments(text: str) -> set[str]:
    """Acronyms naming instruments (HARS, PHQ-8, VAS), statistic abbreviations left out."""
    return {a.lower().replace("-", "") for a in _ACRONYM.findall(text)} - _KIND_WORDS


class Want:
    """What one wanted row asks for, as sets of words."""

    def __init__(self, row: dict):
        needed = row.get("needed", "")
        outcome = row.get("outcome", "")
        self.outcome = {w for w in tokens(outcome.replace("_", " ")) if w != "other"}
        self.instruments = instruments(needed)
        self.times = timepoints(needed)
        self.kinds = hints(needed)
        self.words = tokens(needed) - _STOP - _KIND_WORDS - self.instruments - self.outcome
        self.words = {w for w in self.words if len(w) > 2 and not w.isdigit()}


def score(want: Want, cell: dict) -> tuple[int, list[str]]:
    """The cell's score and the words that earned it. A word in the cell's own headers or
    row label counts fully; one only in the caption (shared by every cell) counts 1."""
    local = tokens(" ".join((cell["header_path"], cell["row_label"])))
    table = tokens(" ".join((cell["caption"], cell["label"])))
    s, matched = 0, []
    for group, weight in ((want.instruments, W_INSTRUMENT), (want.outcome, W_OUTCOME),
                          (want.words, W_WORD)):
        for w in sorted(group & (local | table)):
            s += weight if w in local else W_CAPTION
            matched.append(w if w in local else f"{w} (caption)")
    cell_times = timepoints(" ".join((cell["header_path"], cell["row_label"], cell["caption"])))
    if want.times and cell_times:
        hit = want.times & cell_times
        s += W_TIME if hit else W_OTHER_TIME
        matched += [f"{u} {n}" for u, n in sorted(hit)]
    kinds = {k.strip() for k in cell["kind"].split(",") if k.strip()}
    for k in sorted(want.kinds & kinds):
        s += W_KIND
        matched.append(f"kind {k}")
    return s, matched


def locator(cell: dict) -> str:
    """The ``source`` text a confirmed cell carries into an extraction sheet."""
    where = cell["label"] or cell["table_id"]
    row = f"row {cell['row']}" + (f" ({cell['row_label']})" if cell["row_label"] else "")
    col = f"column {cell['col']}" + (f" ({cell['header_path']})" if cell["header_path"] else "")
    return f"{cell['pmcid']} {where}, {row}, {col}"


def _read(path: Path, needed: tuple[str, ...]) -> list[dict]:
    if not path.exists():
        raise DataError("file not found", file=path)
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in needed if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"missing columns {', '.join(missing)}", file=path, field=missing[0])
        return [dict(r, _line=n) for n, r in enumerate(reader, start=2)]


def suggest_all(top: int = 10) -> tuple[Path, int, int, int]:
    """Write the suggestions file; return (path, lines written, open rows, rows with a cell)."""
    wanted_path = paths.EXTRACTION / "wanted.csv"
    wanted = _read(wanted_path, WANTED_COLUMNS)
    studies = {r["study_id"]: r for r in _read(paths.EXTRACTION / "studies.csv",
                                                 ("study_id", "pmcid"))}
    tables_path = paths.DATA / "fulltext" / "tables.csv"
    if not tables_path.exists():
        raise DataError("not there yet: build it with `evidence fulltext` (after "
                        "`evidence fulltext --live` with internet; see data/fulltext/README.md)",
                        file=tables_path)
    cells = _read(tables_path, COLUMNS)
    by_pmcid: dict[str, list[dict]] = {}
    for c in cells:
        if c["value"] or c["low"] or c["high"]:
            by_pmcid.setdefault(c["pmcid"], []).append(c)
    out: list[dict] = []
    n_open = n_with = 0
    for w in wanted:
        if w["status"].strip().lower() != "open":
            continue
        n_open += 1
        study = studies.get(w["study_id"])
        if study is None:
            raise DataError(f"study {w['study_id']!r} is not in studies.csv", file=wanted_path,
                            row=w["_line"], field="study_id")
        base = {"study_id": w["study_id"], "outcome": w["outcome"], "wanted_line": w["_line"]}
        pmcid = study["pmcid"].strip().upper()
        if not pmcid:
            out.append(dict(base, note="no pmcid in studies.csv: full text not available here"))
            continue
        pool = by_pmcid.get(pmcid, [])
        if not pool:
            out.append(dict(base, pmcid=pmcid, note=f"no numeric table cell of {pmcid} in "
                            f"{tables_path.name} (not fetched, metadata only, or no tables)"))
            continue
        want = Want(w)
        ranked = []
        for order, c in enumerate(pool):
            s, matched = score(want, c)
            if s > 0:
                ranked.append((-s, order, c, matched))
        ranked.sort(key=lambda t: (t[0], t[1]))
        if not ranked:
            out.append(dict(base, pmcid=pmcid, note="no cell matched the outcome, instrument, "
                            "arm, timepoint or statistic words"))
            continue
        n_with += 1
        for rank, (neg, _o, c, matched) in enumerate(ranked[:top], start=1):
            out.append(dict(base, rank=rank, score=-neg, matched="; ".join(matched),
                            source=locator(c), note="to confirm by eye",
                            **{k: c[k] for k in COLUMNS}))
    path = paths.DERIVED / "wanted_suggestions.csv"
    buf = io.StringIO()
    writer = csv.DictWriter(buf, OUT_COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(out)
    atomic.write_text(path, buf.getvalue())
    return path, len(out), n_open, n_with
