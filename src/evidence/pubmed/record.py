"""The PubMed record of docs/contracts.md as typed dataclasses, with JSON (de)serialisation.

Key order is fixed by the dataclass field order, so a serialised snapshot is
deterministic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

FIELDS = ("pmid", "title", "authors", "journal", "journal_abbrev", "year", "volume",
          "issue", "pages", "doi", "pmcid", "publication_types", "mesh", "abstract",
          "provenance")
METHODS = ("efetch", "transcribed")
_PMID = re.compile(r"[1-9][0-9]{0,7}")  # [0-9], not \\d: full-width or superscript digits


def valid_pmid(text) -> bool:
    """True for a PMID as NCBI writes it: 1-8 ASCII digits, no leading zero, nothing else.

    The one rule for every PMID the project reads (snapshot, sheets, XML,
    command line); ``str.isdigit`` and ``int`` would accept "１２３" or "²".
    """
    return isinstance(text, str) and _PMID.fullmatch(text) is not None


def normalise_pmid(text) -> str:
    """``text`` without surrounding ASCII blanks if it is a valid PMID, else ValueError."""
    s = text.strip(" \t\r\n") if isinstance(text, str) else text
    if not valid_pmid(s):
        raise ValueError(f"not a PMID (1-8 ASCII digits, no leading zero): {text!r}")
    return s


@dataclass
class Qualifier:
    name: str
    major: bool


@dataclass
class MeshHeading:
    descriptor: str
    major: bool
    qualifiers: list[Qualifier] = field(default_factory=list)


@dataclass
class AbstractSection:
    label: str | None
    text: str


@dataclass
class Provenance:
    method: str  # "efetch" or "transcribed"
    date: str  # YYYY-MM-DD
    source: str  # URL read, or the efetch request
    note: str = ""


@dataclass
class PubmedRecord:
    pmid: str
    title: str
    authors: list[str] = field(default_factory=list)
    journal: str = ""
    journal_abbrev: str | None = None
    year: int | None = None
    volume: str | None = None
    issue: str | None = None
    pages: str | None = None
    doi: str | None = None
    pmcid: str | None = None
    publication_types: list[str] = field(default_factory=list)
    mesh: list[MeshHeading] = field(default_factory=list)
    abstract: list[AbstractSection] = field(default_factory=list)
    provenance: Provenance | None = None

    def to_dict(self) -> dict:
        """Plain dict in the contract's key order (what one snapshot line holds)."""
        return {
            "pmid": self.pmid,
            "title": self.title,
            "authors": list(self.authors),
            "journal": self.journal,
            "journal_abbrev": self.journal_abbrev,
            "year": self.year,
            "volume": self.volume,
            "issue": self.issue,
            "pages": self.pages,
            "doi": self.doi,
            "pmcid": self.pmcid,
            "publication_types": list(self.publication_types),
            "mesh": [{"descriptor": m.descriptor, "major": m.major,
                      "qualifiers": [{"name": q.name, "major": q.major} for q in m.qualifiers]}
                     for m in self.mesh],
            "abstract": [{"label": a.label, "text": a.text} for a in self.abstract],
            "provenance": None if self.provenance is None else {
                "method": self.provenance.method, "date": self.provenance.date,
                "source": self.provenance.source, "note": self.provenance.note},
        }

    @classmethod
    def from_dict(cls, d: dict) -> PubmedRecord:
        """Inverse of to_dict; assumes the dict was validated (see snapshot.validate_line)."""
        prov = d.get("provenance")
        return cls(
            pmid=d["pmid"], title=d["title"], authors=list(d["authors"]),
            journal=d["journal"], journal_abbrev=d["journal_abbrev"], year=d["year"],
            volume=d["volume"], issue=d["issue"], pages=d["pages"], doi=d["doi"],
            pmcid=d["pmcid"], publication_types=list(d["publication_types"]),
            mesh=[MeshHeading(m["descriptor"], m["major"],
                              [Qualifier(q["name"], q["major"]) for q in m["qualifiers"]])
                  for m in d["mesh"]],
            abstract=[AbstractSection(a["label"], a["text"]) for a in d["abstract"]],
            provenance=None if prov is None else Provenance(
                prov["method"], prov["date"], prov["source"], prov.get("note", "")),
        )
