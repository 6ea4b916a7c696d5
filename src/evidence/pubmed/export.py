"""BibTeX and RIS exports of the snapshot for reference managers (deterministic)."""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

from evidence import atomic
from evidence.pubmed.record import PubmedRecord

_BIB_SPECIAL = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "&": r"\&", "%": r"\%",
                "$": r"\$", "#": r"\#", "_": r"\_", "~": r"\textasciitilde{}",
                "^": r"\textasciicircum{}"}
_BIB_RE = re.compile("|".join(re.escape(k) for k in _BIB_SPECIAL))
_PERSON = re.compile(r"^(?P<last>.+?) (?P<ini>[A-Z]{1,4})(?: (?P<suffix>Jr|Sr|[IV]+|2nd|3rd))?$")


def _bib(s: str) -> str:
    return _BIB_RE.sub(lambda m: _BIB_SPECIAL[m.group(0)], s)


def split_author(name: str) -> tuple[str, str] | None:
    """"Sherman KJ" -> ("Sherman", "K. J."); None for a collective name."""
    m = _PERSON.match(name)
    if not m:
        return None
    ini = " ".join(f"{c}." for c in m.group("ini"))
    if m.group("suffix"):
        ini = f"{ini}, {m.group('suffix')}"
    return m.group("last"), ini


_RANGE = re.compile(r"^(?P<pre>[A-Za-z]*)(?P<start>\d+)-(?P=pre)?(?P<end>\d+)$")


def page_range(pages: str) -> tuple[str, str | None]:
    """MEDLINE abbreviates end pages ("72-6", "e883-91"); give (start, end) in full.

    The expansion is mechanical (the end page repeats the start's leading
    digits); anything not of that shape is kept as given.
    """
    m = _RANGE.match(pages.strip())
    if not m:
        start, sep, end = pages.partition("-")
        return (start, end or None) if sep and "," not in pages else (pages, None)
    pre, start, end = m.group("pre"), m.group("start"), m.group("end")
    if len(end) < len(start):
        end = start[: len(start) - len(end)] + end
    return pre + start, pre + end


def cite_key(r: PubmedRecord) -> str:
    first = r.authors[0] if r.authors else "anon"
    parts = split_author(first)
    stem = parts[0] if parts else first.split()[0]
    stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    stem = re.sub(r"[^A-Za-z]", "", stem) or "anon"
    return f"{stem}{r.year or 'nd'}-{r.pmid}"


def _bib_author(name: str) -> str:
    parts = split_author(name)
    if parts is None:
        return "{" + _bib(name) + "}"  # collective: keep verbatim, never split
    last, ini = parts
    if ", " in ini:  # suffix: "Last, Jr, F."
        ini, suffix = ini.split(", ", 1)
        return f"{_bib(last)}, {suffix}, {ini}"
    return f"{_bib(last)}, {ini}"


def _bib_pages(pages: str) -> str:
    start, end = page_range(pages)
    return _bib(f"{start}--{end}" if end else start)


def to_bibtex(records) -> str:
    out = []
    for r in sorted(records, key=lambda r: int(r.pmid)):
        fields = [("author", " and ".join(_bib_author(a) for a in r.authors) or None),
                  ("title", "{" + _bib(r.title) + "}"),
                  ("journal", _bib(r.journal)),
                  ("year", str(r.year) if r.year else None),
                  ("volume", _bib(r.volume) if r.volume else None),
                  ("number", _bib(r.issue) if r.issue else None),
                  ("pages", _bib_pages(r.pages) if r.pages else None),
                  ("doi", _bib(r.doi) if r.doi else None),
                  ("pmid", r.pmid),
                  ("pmcid", r.pmcid)]
        body = ",\n".join(f"  {k} = {{{v}}}" for k, v in fields if v)
        out.append(f"@article{{{cite_key(r)},\n{body}\n}}\n")
    return "\n".join(out)


def _ris_author(name: str) -> str:
    parts = split_author(name)
    return name if parts is None else f"{parts[0]}, {parts[1].replace(' ', '')}"


def to_ris(records) -> str:
    out = []
    for r in sorted(records, key=lambda r: int(r.pmid)):
        lines = [("TY", "JOUR")]
        lines += [("AU", _ris_author(a)) for a in r.authors]
        lines += [("TI", r.title), ("T2", r.journal), ("J2", r.journal_abbrev),
                  ("PY", str(r.year) if r.year else None), ("VL", r.volume), ("IS", r.issue)]
        if r.pages:
            sp, ep = page_range(r.pages)
            lines += [("SP", sp), ("EP", ep)]
        lines += [("DO", r.doi), ("AN", r.pmid), ("C2", r.pmcid),
                  ("UR", f"https://pubmed.ncbi.nlm.nih.gov/{r.pmid}/")]
        lines += [("KW", m.descriptor) for m in r.mesh]
        if r.abstract:
            lines.append(("AB", " ".join(f"{a.label}: {a.text}" if a.label else a.text
                                         for a in r.abstract)))
        lines.append(("ER", ""))
        out.append("".join(f"{tag}  - {val}\n" for tag, val in lines if val is not None))
    return "\n".join(out)


def write_exports(records, out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """data/derived/references.bib and .ris."""
    out_dir = Path(out_dir)
    bib, ris = out_dir / "references.bib", out_dir / "references.ris"
    atomic.write_text(bib, to_bibtex(records))
    atomic.write_text(ris, to_ris(records))
    return bib, ris
