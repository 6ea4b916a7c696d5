"""Full text from PubMed Central: every table cell of the cited papers, with its locator,
and suggestions of cells for the data-wanted register.

``evidence fulltext [PMCID ...]`` rebuilds ``data/fulltext/tables.csv`` from the JATS
files in ``data/fulltext/`` (offline, the default) or first fetches them from PMC
with ``--live``; ``evidence fulltext parse FILE.xml`` tabulates one file on disk;
``evidence wanted --suggest`` ranks cells for each open row of ``wanted.csv``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import os
import sys
from pathlib import Path

from evidence import atomic, paths
from evidence.errors import DataError, EvidenceError
from evidence.fulltext.jats import COLUMNS, articles, has_body, iter_cells, parse_document

__all__ = ["COLUMNS", "add_arguments", "run", "add_wanted_arguments", "run_wanted",
           "table_rows", "tables_csv"]


def folder() -> Path:
    return paths.DATA / "fulltext"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.usage = ("evidence fulltext [--live] [PMCID ...]\n"
                    "       evidence fulltext parse FILE.xml [-o tables.csv]")
    parser.add_argument("items", nargs="*", metavar="PMCID",
                        help="PMCIDs (default: every pmcid in studies.csv), or: parse FILE.xml")
    parser.add_argument("-o", "--output", help="with parse: write the table here instead of "
                        "standard output")
    parser.add_argument("--live", action="store_true",
                        help="fetch the JATS from PMC (efetch db=pmc) before tabulating")
    parser.add_argument("--email", help="your email for NCBI (default: env NCBI_EMAIL)")
    parser.add_argument("--api-key", help="NCBI API key, allows 10 requests/s "
                        "(default: env NCBI_API_KEY); never written anywhere")
    parser.add_argument("--cache", help="raw-response cache directory "
                        "(default: data/pubmed/cache, shared with evidence fetch)")


def run(args) -> int:
    items = list(args.items)
    if items[:1] == ["parse"]:
        if len(items) != 2:
            raise EvidenceError("usage: evidence fulltext parse FILE.xml [-o tables.csv]")
        return _parse_file(Path(items[1]), args.output)
    if args.output:
        raise EvidenceError("-o/--output goes with `evidence fulltext parse FILE.xml`")
    from evidence.fulltext.fetch import normalise_pmcid
    pmcids = [normalise_pmcid(p) for p in items] if items else studies_pmcids()
    if not pmcids:
        raise EvidenceError(f"no PMCIDs given and none in {paths.EXTRACTION / 'studies.csv'}")
    failed = _fetch(args, pmcids) if args.live else []
    return _tabulate(pmcids) or (1 if failed else 0)


def _parse_file(path: Path, output: str | None) -> int:
    if not path.exists():
        raise EvidenceError(f"{path}: no such file")
    rows = table_rows(path)
    if output:
        atomic.write_text(output, tables_csv(rows))
        print(f"wrote {output}: {len(rows)} cells", file=sys.stderr)
    else:
        sys.stdout.write(tables_csv(rows))
    return 0


def table_rows(path: Path) -> list[dict]:
    """Every cell of a JATS file (``<article>`` or ``<pmc-articleset>``)."""
    stem = path.stem if path.stem.upper().startswith("PMC") else ""
    return list(iter_cells(parse_document(path.read_bytes(), str(path)), stem))


def tables_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def studies_pmcids() -> list[str]:
    from evidence.fulltext.fetch import normalise_pmcid
    path = paths.EXTRACTION / "studies.csv"
    if not path.exists():
        raise DataError("file not found", file=path)
    out = []
    with open(path, newline="", encoding="utf-8") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            raw = (row.get("pmcid") or "").strip()
            if raw:
                try:
                    out.append(normalise_pmcid(raw))
                except EvidenceError as exc:
                    raise DataError(str(exc), file=path, row=line, field="pmcid") from None
    return sorted(set(out), key=lambda p: int(p[3:]))


def _fetch(args, pmcids: list[str]) -> list[str]:
    """Fetch each PMCID; a give-up is reported and the others still fetched."""
    from evidence.fulltext.fetch import fetch_one, read_provenance, write_provenance
    from evidence.pubmed.cache import ResponseCache
    from evidence.pubmed.client import EutilsClient, FetchError

    email = args.email or os.environ.get("NCBI_EMAIL")
    if not email:
        raise EvidenceError("--live needs your email for NCBI: --email or env NCBI_EMAIL")
    api_key = args.api_key or os.environ.get("NCBI_API_KEY") or None
    today = dt.date.today().isoformat()
    # The record fetcher's cache (one folder a retrieval day): keys hold db=pmc, so
    # answers never mix, and it is already kept out of git.
    cache = Path(args.cache) if args.cache else paths.PUBMED / "cache"
    client = EutilsClient(email, api_key, cache=ResponseCache(cache / today))
    prov_path = folder() / "provenance.csv"
    prov = read_provenance(prov_path)
    failed = []
    for pmcid in pmcids:
        try:
            row = fetch_one(client, pmcid, folder(), today)
        except (FetchError, DataError) as exc:
            print(f"{pmcid}: not fetched: {exc}", file=sys.stderr)
            failed.append(pmcid)
            continue
        prov[pmcid] = row
        print(f"{pmcid}: {row['content']}, {row['tables']} tables, {row['cells']} cells")
    if prov:
        write_provenance(prov_path, prov)
    if failed:
        print(f"{len(failed)} of {len(pmcids)} PMCIDs not fetched: {', '.join(failed)}",
              file=sys.stderr)
    return failed


def _tabulate(pmcids: list[str]) -> int:
    """Rebuild tables.csv from every PMCxxx.xml in data/fulltext (whole or not at all)."""
    files = sorted(folder().glob("PMC*.xml"), key=lambda p: (len(p.stem), p.stem))
    have = {p.stem for p in files}
    missing = [p for p in pmcids if p not in have]
    if not files:
        raise EvidenceError(f"no full text in {folder()} for any of {len(pmcids)} PMCIDs; "
                            "fetch it with `evidence fulltext --live` and your email "
                            "(--email or NCBI_EMAIL); see data/fulltext/README.md")
    rows: list[dict] = []
    metadata_only = []
    for path in files:
        tree = parse_document(path.read_bytes(), str(path))
        if not any(has_body(a) for a in articles(tree)):
            metadata_only.append(path.stem)
        rows.extend(iter_cells(tree, path.stem))
    out = folder() / "tables.csv"
    atomic.write_text(out, tables_csv(rows))
    print(f"wrote {out}: {len(rows)} cells from {len(files)} articles")
    if metadata_only:
        print(f"metadata only (no <body>: outside the PMC open-access subset): "
              f"{', '.join(metadata_only)}")
    if missing:
        print(f"no file yet for {len(missing)} PMCIDs (fetch with --live): {', '.join(missing)}",
              file=sys.stderr)
    return 0


def add_wanted_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--suggest", action="store_true",
                        help="rank table cells that could fill each open row of wanted.csv: "
                        "data/derived/wanted_suggestions.csv (nothing is filled automatically)")
    parser.add_argument("--top", type=int, default=10, help="cells kept per wanted row "
                        "(default 10)")


def run_wanted(args) -> int:
    from evidence.fulltext.suggest import suggest_all

    if not args.suggest:
        raise EvidenceError("say what to do: `evidence wanted --suggest`")
    if args.top < 1:
        raise EvidenceError("--top must be at least 1")
    out, n_rows, n_open, n_with = suggest_all(top=args.top)
    print(f"wrote {out}: candidates for {n_with} of {n_open} open wanted rows "
          f"({n_rows} suggestion lines); confirm each by eye before it enters a sheet")
    return 0
