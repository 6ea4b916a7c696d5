"""The review-board report: a static site, one file to send, and its PDF.

``evidence report`` builds ``reports/site/`` from the stage outputs (never
refitting or regrading); ``--execute`` first re-runs the notebooks in place,
``--single`` also writes ``reports/evidence_report.html`` (one self-contained
file), ``--pdf`` prints that file through Chromium.
"""

from __future__ import annotations

from pathlib import Path

from evidence import paths
from evidence.report.notebook import execute, merge_streams, notebooks
from evidence.report.pdf import chromium, to_pdf

__all__ = ["add_arguments", "chromium", "execute", "merge_streams", "notebooks", "run", "to_pdf"]


def add_arguments(parser) -> None:
    parser.add_argument("--execute", action="store_true",
                        help="first re-execute every notebook in place (deterministic outputs)")
    parser.add_argument("--site", type=Path, default=None,
                        help="folder to write the site to (default reports/site)")
    parser.add_argument("--single", action="store_true",
                        help="also write one self-contained HTML file to send")
    parser.add_argument("--out", type=Path, default=None,
                        help="the single file (default reports/evidence_report.html)")
    parser.add_argument("--pdf", action="store_true",
                        help="also print the single file to PDF with headless Chromium")


def run(args) -> int:
    from evidence.report import inputs, site

    if args.execute:
        from tqdm import tqdm

        for path in tqdm(notebooks(), desc="notebooks", unit="nb"):
            execute(path)
    data = inputs.load()
    folder = site.build_site(data, args.site)
    print(f"wrote {folder} ({site.size(folder):,} bytes)")
    if args.single or args.pdf:
        single = site.build_single(data, args.out or paths.REPORTS / "evidence_report.html")
        print(f"wrote {single} ({single.stat().st_size:,} bytes)")
        if args.pdf:
            print(f"wrote {to_pdf(single, single.with_suffix('.pdf'))}")
    return 0
