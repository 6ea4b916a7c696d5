"""Full-text JATS from PMC by ``efetch db=pmc``, through the project's E-utilities client
(its rate limit, timeouts, retries and cache; identified as ``tool=evidence`` with the
user's email).

An answer is accepted, and so cached, only if it is a ``<pmc-articleset>`` holding
the article asked for. For an article outside PMC's open-access subset NCBI answers
200 with the metadata but no ``<body>``: that is kept and recorded as "metadata
only", not treated as an error.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
from pathlib import Path

from evidence import atomic
from evidence.errors import DataError, EvidenceError
from evidence.fulltext.jats import articles, has_body, iter_cells, parse_document, pmcid_of
from evidence.pubmed.client import EutilsClient
from evidence.pubmed.parser import EutilsErrorPayload

PROVENANCE_COLUMNS = ("pmcid", "retrieved", "request", "content", "tables", "cells", "sha256",
                      "file")
_PMCID = re.compile(r"^(?:PMC)?(\d+)$", re.I)


def normalise_pmcid(raw: str) -> str:
    """'PMC123', 'pmc123' or '123' -> 'PMC123'; anything else is refused."""
    m = _PMCID.match(raw.strip())
    if not m:
        raise EvidenceError(f"not a PMCID: {raw!r} (expected PMC followed by digits)")
    return f"PMC{m.group(1)}"


def efetch_params(pmcid: str) -> dict:
    return {"db": "pmc", "id": pmcid.removeprefix("PMC"), "retmode": "xml"}


def checker(pmcid: str):
    """The client's ``check``: the body must be a pmc-articleset holding ``pmcid``."""
    def check(body: bytes) -> None:
        tree = parse_document(body, f"efetch db=pmc {pmcid}")  # raises DataError if malformed
        root = tree.getroot()
        err = root if root.tag == "ERROR" else root.find("ERROR")
        if err is not None:  # NCBI's 200 error document: worth a retry
            raise EutilsErrorPayload(f"efetch db=pmc {pmcid}: E-utilities error: "
                                     f"{' '.join(err.itertext()).strip()}")
        if not isinstance(root.tag, str) or root.tag != "pmc-articleset":
            raise DataError(f"expected <pmc-articleset>, got <{root.tag}>",
                            file=f"efetch db=pmc {pmcid}")
        err = root.find("error")
        found = {pmcid_of(a) for a in articles(tree)}
        if pmcid not in found:
            why = f" (NCBI says: {' '.join(err.itertext()).strip()})" if err is not None else ""
            raise DataError(f"answer does not hold {pmcid}{why}", file=f"efetch db=pmc {pmcid}")
    return check


def fetch_one(client: EutilsClient, pmcid: str, folder: Path, today: str | None = None) -> dict:
    """Fetch one article, write ``folder/PMCxxx.xml`` whole, return its provenance row."""
    today = today or dt.date.today().isoformat()
    params = efetch_params(pmcid)
    body = client.request("efetch", params, check=checker(pmcid))
    path = folder / f"{pmcid}.xml"
    atomic.write_bytes(path, body)
    return provenance_row(path, body, today, client.describe("efetch", params))


def provenance_row(path: Path, body: bytes, retrieved: str, request: str) -> dict:
    tree = parse_document(body, str(path))
    arts = articles(tree)
    full = any(has_body(a) for a in arts)
    cells = list(iter_cells(tree, path.stem))
    return {"pmcid": path.stem, "retrieved": retrieved, "request": request,
            "content": "full text" if full else "metadata only (no <body>: not in the PMC "
                       "open-access subset)",
            "tables": len({c["table_id"] for c in cells}), "cells": len(cells),
            "sha256": hashlib.sha256(body).hexdigest(), "file": path.name}


def read_provenance(path: Path) -> dict[str, dict]:
    if not path.exists():
        return {}
    with open(path, newline="", encoding="utf-8") as fh:
        return {r["pmcid"]: r for r in csv.DictReader(fh)}


def write_provenance(path: Path, rows: dict[str, dict]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, PROVENANCE_COLUMNS, lineterminator="\n")
    w.writeheader()
    for key in sorted(rows, key=lambda p: int(p[3:])):
        w.writerow({k: rows[key].get(k, "") for k in PROVENANCE_COLUMNS})
    atomic.write_text(path, buf.getvalue())
