"""The PubMed snapshot ``data/pubmed/records.jsonl``: validate, read, write, diff.

Validation names the line and field of every problem (DataError), so a
reviewer can fix a transcribed record by hand.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
from pathlib import Path

from evidence import atomic
from evidence.errors import DataError
from evidence.pubmed.record import FIELDS, METHODS, PubmedRecord, valid_pmid

_PMCID = re.compile(r"^PMC\d+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_OPT_STR = ("journal_abbrev", "volume", "issue", "pages", "doi", "pmcid")


def _check(cond: bool, msg: str, file, row, field) -> None:
    if not cond:
        raise DataError(msg, file=file, row=row, field=field)


def _str_list(v) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) and x for x in v)


def validate_line(d, file, row: int) -> PubmedRecord:
    """One parsed JSON line -> PubmedRecord, or a DataError naming line and field."""
    _check(isinstance(d, dict), "not a JSON object", file, row, None)
    for f in FIELDS:
        _check(f in d, "missing", file, row, f)
    extra = [k for k in d if k not in FIELDS]
    _check(not extra, f"unknown field(s) {extra}", file, row, extra[0] if extra else None)
    _check(tuple(d) == FIELDS, "keys not in the order of docs/contracts.md", file, row, None)
    pmid = d["pmid"]
    _check(valid_pmid(pmid), f"PMID must be a string of 1-8 ASCII digits without a leading "
           f"zero, got {pmid!r}", file, row, "pmid")
    _check(isinstance(d["title"], str) and d["title"].strip() != "", "empty", file, row, "title")
    _check(_str_list(d["authors"]), "must be a list of names", file, row, "authors")
    _check(isinstance(d["journal"], str) and d["journal"].strip() != "", "empty", file, row,
           "journal")
    for f in _OPT_STR:
        _check(d[f] is None or (isinstance(d[f], str) and d[f].strip() != ""),
               "must be a non-empty string or null", file, row, f)
    y = d["year"]
    _check(y is None or (isinstance(y, int) and not isinstance(y, bool)
                         and 1800 <= y <= dt.date.today().year + 1),
           f"not a plausible year: {y!r}", file, row, "year")
    _check(d["doi"] is None or d["doi"].startswith("10."), "a DOI starts with '10.'", file, row,
           "doi")
    _check(d["pmcid"] is None or bool(_PMCID.match(d["pmcid"])), "expected PMC<digits>", file,
           row, "pmcid")
    _check(_str_list(d["publication_types"]), "must be a list of strings", file, row,
           "publication_types")
    _check(isinstance(d["mesh"], list), "must be a list", file, row, "mesh")
    for m in d["mesh"]:
        ok = (isinstance(m, dict) and list(m) == ["descriptor", "major", "qualifiers"]
              and isinstance(m["descriptor"], str) and isinstance(m["major"], bool)
              and isinstance(m["qualifiers"], list)
              and all(isinstance(q, dict) and list(q) == ["name", "major"]
                      and isinstance(q["name"], str) and isinstance(q["major"], bool)
                      for q in m["qualifiers"]))
        _check(ok, f"bad heading {m!r}: expected {{descriptor, major, qualifiers: [{{name, "
               "major}}]}}", file, row, "mesh")
    _check(isinstance(d["abstract"], list) and all(
        isinstance(a, dict) and list(a) == ["label", "text"]
        and (a["label"] is None or isinstance(a["label"], str)) and isinstance(a["text"], str)
        for a in d["abstract"]), "expected [{label, text}]", file, row, "abstract")
    p = d["provenance"]
    _check(isinstance(p, dict) and set(p) == {"method", "date", "source", "note"},
           "expected {method, date, source, note}", file, row, "provenance")
    _check(p["method"] in METHODS, f"method must be one of {METHODS}, got {p['method']!r}", file,
           row, "provenance.method")
    _check(_valid_date(p["date"]), f"not a valid past date YYYY-MM-DD: {p['date']!r}", file, row,
           "provenance.date")
    _check(isinstance(p["source"], str) and p["source"].strip() != "", "empty", file, row,
           "provenance.source")
    _check(isinstance(p["note"], str), "must be a string", file, row, "provenance.note")
    if p["method"] == "transcribed":
        _check(d["abstract"] == [], "transcribed records carry no abstract", file, row,
               "abstract")
    return PubmedRecord.from_dict(d)


def _valid_date(s) -> bool:
    if not isinstance(s, str) or not _DATE.match(s):
        return False
    try:
        return dt.date.fromisoformat(s) <= dt.date.today()
    except ValueError:
        return False


def load_snapshot(path: str | os.PathLike) -> list[PubmedRecord]:
    """Every record of the snapshot, validated; PMIDs unique and sorted as integers."""
    path = Path(path)
    if not path.exists():
        raise DataError("snapshot not found (written by the transcription or by "
                        "`evidence fetch --live`)", file=path)
    records: list[PubmedRecord] = []
    seen: dict[str, int] = {}
    with path.open(encoding="utf-8") as fh:
        for row, line in enumerate(fh, start=1):
            if not line.strip():
                raise DataError("blank line", file=path, row=row)
            try:
                d = json.loads(line)
            except ValueError as exc:
                raise DataError(f"not JSON: {exc}", file=path, row=row) from None
            rec = validate_line(d, path, row)
            if rec.pmid in seen:
                raise DataError(f"duplicate PMID {rec.pmid} (first on line {seen[rec.pmid]})",
                                file=path, row=row, field="pmid")
            if records and int(rec.pmid) < int(records[-1].pmid):
                raise DataError(f"PMIDs not sorted: {rec.pmid} after {records[-1].pmid}",
                                file=path, row=row, field="pmid")
            seen[rec.pmid] = row
            records.append(rec)
    return records


def studies_pmids(path: str | os.PathLike) -> dict[str, int]:
    """PMIDs of data/extraction/studies.csv (blank = none, e.g. a web page) -> CSV row."""
    path = Path(path)
    if not path.exists():
        return {}
    out: dict[str, int] = {}
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if "pmid" not in (reader.fieldnames or []):
            raise DataError("no 'pmid' column", file=path, field="pmid")
        for row, r in enumerate(reader, start=2):  # row 1 is the header
            v = (r.get("pmid") or "").strip()
            if not v:
                continue
            if not valid_pmid(v):
                raise DataError(f"not a PMID (1-8 ASCII digits, no leading zero): {v!r}",
                                file=path, row=row, field="pmid")
            out.setdefault(v, row)
    return out


def check_studies(records: list[PubmedRecord], studies: str | os.PathLike) -> None:
    have = {r.pmid for r in records}
    for pmid, row in studies_pmids(studies).items():
        if pmid not in have:
            raise DataError(f"PMID {pmid} has no record in the PubMed snapshot; add it "
                            "(transcribed) or run `evidence fetch --live`",
                            file=studies, row=row, field="pmid")


def dumps(records) -> str:
    """Deterministic JSONL: sorted by integer PMID, contract key order, UTF-8 kept."""
    lines = [json.dumps(r.to_dict(), ensure_ascii=False)
             for r in sorted(records, key=lambda r: int(r.pmid))]
    return "".join(line + "\n" for line in lines)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Kept for importers: ``evidence.atomic.write_text`` (whole or nothing, mode kept)."""
    atomic.write_text(path, text)


def write_snapshot(path: str | os.PathLike, records) -> None:
    atomic.write_text(path, dumps(records))


def _short(v, n: int = 100) -> str:
    s = json.dumps(v, ensure_ascii=False)
    return s if len(s) <= n else s[: n - 3] + "..."


def diff_records(old: list[PubmedRecord], new: list[PubmedRecord]) -> list[str]:
    """Field-by-field differences, one line each, in PMID order."""
    o = {r.pmid: r.to_dict() for r in old}
    n = {r.pmid: r.to_dict() for r in new}
    out = []
    for pmid in sorted(set(o) | set(n), key=int):
        if pmid not in o:
            out.append(f"+ {pmid}: new record ({_short(n[pmid]['title'])})")
        elif pmid not in n:
            out.append(f"- {pmid}: not in the new snapshot")
        else:
            for f in FIELDS:
                if o[pmid][f] != n[pmid][f]:
                    out.append(f"~ {pmid} {f}: {_short(o[pmid][f])} -> {_short(n[pmid][f])}")
    return out
