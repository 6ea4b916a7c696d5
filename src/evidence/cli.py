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

from evidence import __version__, case
from evidence.errors import EvidenceError

# name: (module, function adding arguments, function running, one-line help)
COMMANDS = {
    "fetch": ("evidence.pubmed", "add_fetch_arguments", "run_fetch",
              "validate the PubMed snapshot offline, or refresh it from NCBI with --live"),
    "pubmed": ("evidence.pubmed", "add_pubmed_arguments", "run_pubmed",
               "PubMed utilities: parse efetch XML into JSON records, export references"),
    "init": ("evidence.scaffold", "add_arguments", "run",
             "create a new case folder: evidence.toml, empty sheets, templates, notebooks"),
    "fulltext": ("evidence.fulltext", "add_arguments", "run",
                 "table cells of the cited papers' PMC full text (data/fulltext/tables.csv); "
                 "parse FILE.xml for one file"),
    "wanted": ("evidence.fulltext", "add_wanted_arguments", "run_wanted",
               "data-wanted register: --suggest ranks table cells that could fill each open row"),
    "extract": ("evidence.effects", "add_arguments", "run",
                "validate the extraction sheets and compute data/derived/effects.csv"),
    "analyse": ("evidence.analyses", "add_arguments", "run",
                "fit every analysis of data/analyses.yaml once: data/derived/analyses.csv"),
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
        description="Rebuild and grade the evidence behind a health article's claims. Run inside "
                    "a case folder (one with evidence.toml), or name it with --root.",
    )
    parser.add_argument("--version", action="version", version=f"evidence {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback on failure")
    parser.add_argument("--root", metavar="DIR",
                        help="the case folder (default: EVIDENCE_ROOT, else the nearest folder "
                             "upward holding evidence.toml)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module, adder, _runner, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(_command=name)
        if name == selected:
            getattr(importlib.import_module(module), adder)(p)
    return parser


def _scan(argv: list[str]) -> tuple[str | None, str | None]:
    """The subcommand and ``--root``'s value, read before the parser is built (the
    steps' defaults name files of the case, so the case must be chosen first)."""
    command = root = None
    it = iter(argv)
    for arg in it:
        if arg == "--root":
            root = next(it, None)
        elif arg.startswith("--root="):
            root = arg.split("=", 1)[1]
        elif not arg.startswith("-"):
            command = arg
            break
    return command, root


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    selected, root = _scan(argv)
    debug = "--debug" in argv
    try:
        case.use(root)
        parser = build_parser(selected if selected in COMMANDS else None)
        args = parser.parse_args(argv)
        module, _adder, runner, _help = COMMANDS[args._command]
        return int(getattr(importlib.import_module(module), runner)(args) or 0)
    except EvidenceError as exc:
        if debug:
            raise
        print(f"evidence: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("evidence: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # an unexpected bug: still one line unless --debug
        if debug:
            raise
        print(f"evidence: error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
