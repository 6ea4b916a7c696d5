"""PubMed step: the snapshot of cited records, its live refresh, parsers and exports.

``evidence fetch`` validates ``data/pubmed/records.jsonl`` offline and writes
the reference exports; ``evidence fetch --live`` refreshes the snapshot from
NCBI (efetch), shows a field-by-field diff and writes after confirmation.
``evidence pubmed parse|export`` are the utilities.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys

from evidence import paths
from evidence.errors import EvidenceError
from evidence.pubmed.cache import ResponseCache
from evidence.pubmed.client import RATE_FILE, EutilsClient, Expected, FileRateLimiter
from evidence.pubmed.export import write_exports
from evidence.pubmed.parser import iter_articles, parse_articles
from evidence.pubmed.record import Provenance, PubmedRecord, normalise_pmid, valid_pmid
from evidence.pubmed.snapshot import (
    check_studies,
    diff_records,
    load_snapshot,
    studies_pmids,
    write_snapshot,
)

__all__ = ["PubmedRecord", "parse_articles", "iter_articles", "load_snapshot", "valid_pmid",
           "normalise_pmid", "EutilsClient", "Expected", "add_fetch_arguments", "run_fetch",
           "add_pubmed_arguments", "run_pubmed"]

PARSE_FIELDS = ("pmid", "title", "authors", "journal", "year", "volume", "issue", "pages",
                "doi", "pmcid", "publication_types", "mesh")


def _add_paths(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--snapshot", default=str(paths.RECORDS), help=argparse.SUPPRESS)
    parser.add_argument("--studies", default=str(paths.EXTRACTION / "studies.csv"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--derived", default=str(paths.DERIVED), help=argparse.SUPPRESS)


def add_fetch_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--live", action="store_true",
                        help="refresh every record from NCBI (efetch) instead of validating offline")
    parser.add_argument("--email", help="your email for NCBI (default: env NCBI_EMAIL)")
    parser.add_argument("--api-key", help="NCBI API key, allows 10 requests/s "
                        "(default: env NCBI_API_KEY); never written anywhere")
    parser.add_argument("--yes", action="store_true", help="write the refreshed snapshot "
                        "without asking")
    parser.add_argument("--cache", default=str(paths.PUBMED / "cache"),
                        help="raw-response cache directory (default: data/pubmed/cache)")
    _add_paths(parser)


def run_fetch(args) -> int:
    records = load_snapshot(args.snapshot)
    if not args.live:
        check_studies(records, args.studies)
        bib, ris = write_exports(records, args.derived)
        print(f"{args.snapshot}: {len(records)} records valid; wrote {bib} and {ris}")
        return 0
    return _refresh(args, records)


def _refresh(args, old: list[PubmedRecord]) -> int:
    email = args.email or os.environ.get("NCBI_EMAIL")
    if not email:
        raise EvidenceError("--live needs your email for NCBI: --email or env NCBI_EMAIL")
    api_key = args.api_key or os.environ.get("NCBI_API_KEY") or None
    from evidence.pubmed.eutils import GET_MAX_IDS, fetch_records  # network code on demand

    pmids = sorted({r.pmid for r in old} | set(studies_pmids(args.studies)), key=int)
    today = dt.date.today().isoformat()
    # One cache folder per retrieval day: an interrupted refresh resumes the same day,
    # a later refresh asks NCBI again instead of replaying old answers. The rate-limit
    # state sits beside the day folders, shared by every process using this cache.
    client = EutilsClient(email, api_key, cache=ResponseCache(os.path.join(args.cache, today)),
                          limiter=FileRateLimiter(os.path.join(args.cache, RATE_FILE)))
    fetched = fetch_records(client, pmids, progress=True)
    missing = [p for p in pmids if p not in fetched]
    if missing:
        raise EvidenceError(f"NCBI returned no record for {len(missing)} PMIDs: "
                            f"{', '.join(missing)}; snapshot not changed")
    new = []
    for p in pmids:
        rec = fetched[p]
        rec.provenance = Provenance(
            "efetch", today, client.describe("efetch", {"db": "pubmed", "id": p,
                                                         "retmode": "xml"}),
            f"refreshed by evidence fetch --live; efetch in batches of up to {GET_MAX_IDS} ids")
        new.append(rec)
    changes = diff_records(old, new)
    print(f"{len(changes)} field changes over {len(new)} records:")
    for line in changes:
        print(line)
    if not _confirm(args, f"Write {len(new)} records to {args.snapshot}? [y/N] "):
        print("snapshot not written (no confirmation; use --yes)", file=sys.stderr)
        return 1
    write_snapshot(args.snapshot, new)
    bib, ris = write_exports(new, args.derived)
    print(f"wrote {args.snapshot}, {bib}, {ris}")
    return 0


def _confirm(args, prompt: str) -> bool:
    if args.yes:
        return True
    if not sys.stdin.isatty():
        return False
    return input(prompt).strip().lower() in ("y", "yes")


def add_pubmed_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="pubmed_command", metavar="ACTION")
    sub.required = True
    p = sub.add_parser("parse", help="parse efetch XML into JSON records, one per line")
    p.add_argument("file", help="efetch PubmedArticleSet XML file")
    e = sub.add_parser("export", help="write references.bib and references.ris from the snapshot")
    _add_paths(e)


def run_pubmed(args) -> int:
    if args.pubmed_command == "parse":
        if not os.path.exists(args.file):
            raise EvidenceError(f"{args.file}: no such file")
        for rec in iter_articles(args.file):
            d = rec.to_dict()
            print(json.dumps({k: d[k] for k in PARSE_FIELDS}, ensure_ascii=False))
        return 0
    records = load_snapshot(args.snapshot)
    bib, ris = write_exports(records, args.derived)
    print(f"wrote {bib} and {ris} ({len(records)} records)")
    return 0
