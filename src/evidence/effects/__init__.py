"""Effect sizes: calculators, the extraction-sheet schema, and ``evidence extract``.

``escalc`` mirrors metafor's function of that name; ``build_effects`` turns
``data/extraction/`` into ``data/derived/effects.csv`` (docs/contracts.md).
"""

from __future__ import annotations

import argparse
import sys

from evidence import paths
from evidence.effects.build import COLUMNS, build_effects, compute, effect_rows, label
from evidence.effects.calculators import (
    ci_divisor,
    combine_arms,
    hedges_j,
    log_or,
    log_rr,
    md,
    pooled_sd,
    sd_from_ci,
    sd_from_se,
    se_from_ci,
    smd,
    smd_from_t,
    smd_revman,
    smd_var,
    split_shared_n,
    t_from_f,
    t_from_p,
    with_zero_correction,
    within_group_change,
)
from evidence.effects.escalc import MEASURES, escalc
from evidence.effects.schema import SheetErrors, load_sheets, warnings_for

__all__ = [
    "COLUMNS", "MEASURES", "SheetErrors", "add_arguments", "build_effects", "ci_divisor",
    "combine_arms", "compute", "effect_rows", "escalc", "hedges_j", "label", "load_sheets",
    "log_or", "log_rr", "md", "pooled_sd", "run", "sd_from_ci", "sd_from_se", "se_from_ci",
    "smd", "smd_from_t", "smd_revman", "smd_var", "split_shared_n", "t_from_f", "t_from_p",
    "warnings_for", "with_zero_correction", "within_group_change",
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``evidence extract``."""
    parser.add_argument("--extraction", metavar="DIR", default=paths.EXTRACTION,
                        help="folder with studies.csv and outcomes.csv (default: %(default)s)")
    parser.add_argument("--out", metavar="FILE", default=paths.EFFECTS,
                        help="effects CSV to write (default: %(default)s)")
    parser.add_argument("--smd", choices=("SMD", "SMD_RevMan"), default="SMD",
                        help="Hedges' g formulas for arm-level data: metafor (exact J, default) "
                             "or RevMan 5")
    parser.add_argument("--keep-shared-arms", action="store_true",
                        help="do not split the n of an arm shared by two comparisons of a trial")


def run(args: argparse.Namespace) -> int:
    """Validate the sheets and write the effects table; exit code 0 on success."""
    rows = build_effects(args.extraction, args.out, smd_measure=args.smd,
                         split_shared=not args.keep_shared_arms)
    for warning in warnings_for(load_sheets(args.extraction)[1]):
        print(f"evidence: warning: {warning}", file=sys.stderr)
    n_ok = sum(r["estimable"] for r in rows)
    print(f"wrote {args.out}: {len(rows)} rows, {n_ok} estimable, "
          f"{len(rows) - n_ok} not estimable", file=sys.stderr)
    return 0
