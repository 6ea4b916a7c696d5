"""The ``evidence`` command: one subcommand per pipeline step.

Each step's module owns its arguments (``add_arguments``-style function) and
its work (``run``-style function returning an exit code); this file only
wires them, so ``evidence --help`` stays fast and every step can be read on
its own.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from evidence import __version__
from evidence.errors import EvidenceError

# name: (module, function adding arguments, function running, one-line help)
COMMANDS = {
    "fetch": ("evidence.pubmed", "add_fetch_arguments", "run_fetch",
              "validate the PubMed snapshot offline, or refresh it from NCBI with --live"),
    "pubmed": ("evidence.pubmed", "add_pubmed_arguments", "run_pubmed",
               "PubMed utilities: parse efetch XML into JSON records, export references"),
    "extract": ("evidence.effects", "add_arguments", "run",
                "validate the extraction sheets and compute data/derived/effects.csv"),
    "meta": ("evidence.meta", "add_arguments", "run",
             "fit a meta-analysis to a CSV of effects (yi, vi) or arm-level data"),
    "grade": ("evidence.grading", "add_arguments", "run",
              "grade every claim of the article: data/derived/claims_verdicts.csv"),
    "figures": ("evidence.figures", "add_arguments", "run",
                "draw and export every figure to figures/ (PNG, SVG, PDF) with an index"),
    "report": ("evidence.report", "add_arguments", "run",
               "build the review-board site (reports/site), --single one file, --pdf its PDF"),
}


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """The parser; only the ``selected`` step's module is imported (steps load pandas,
    matplotlib, statsmodels: importing all of them would make every call slow)."""
    parser = argparse.ArgumentParser(
        prog="evidence",
        description="Rebuild and grade the evidence behind a health article on massage therapy.",
    )
    parser.add_argument("--version", action="version", version=f"evidence {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback on failure")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module, adder, _runner, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(_command=name)
        if name != selected:
            continue
        try:
            getattr(importlib.import_module(module), adder)(p)
        except (ImportError, AttributeError) as exc:  # step not built yet
            p.set_defaults(_unavailable=f"{name}: not available ({exc})")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    selected = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(selected if selected in COMMANDS else None)
    args = parser.parse_args(argv)
    if getattr(args, "_unavailable", None):
        print(f"evidence: error: {args._unavailable}", file=sys.stderr)
        return 2
    module, _adder, runner, _help = COMMANDS[args._command]
    try:
        return int(getattr(importlib.import_module(module), runner)(args) or 0)
    except EvidenceError as exc:
        if args.debug:
            raise
        print(f"evidence: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("evidence: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # an unexpected bug: still one line unless --debug
        if args.debug:
            raise
        print(f"evidence: error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
