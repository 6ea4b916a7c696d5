"""Validate the extraction sheets (docs/contracts.md, "Extraction sheets").

Every problem is collected and reported together, each naming the file, the
CSV line (header = line 1) and the field, so a curator can fix a sheet in one
pass. Valid rows come back typed: numbers as floats (None when blank), text
stripped. Nothing is dropped: a sheet either validates whole or fails.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass, field
from pathlib import Path

from evidence import cells
from evidence.errors import DataError
from evidence.pubmed.record import valid_pmid
from evidence.vocabulary import (
    COMPARATOR_TYPES,
    DESIGNS,
    EVIDENCE_ROLES,
    RISK_OF_BIAS,
    SCALE_DIRECTIONS,
)
from evidence.vocabulary import outcomes as _outcomes

DIFF_DIRECTIONS = ("int_minus_ctl", "ctl_minus_int")
DATA_TYPES = ("arm_mean_sd", "arm_change_sd", "arm_change_ci", "arm_change_se", "mean_diff_ci",
              "mean_diff_se", "t_stat", "f_stat", "p_only", "smd_ci", "pooled_smd_ci",
              "pooled_md_ci", "counts", "not_reported", "not_reachable")
P_OPERATORS = ("<", ">")  # a P printed as a bound ("P < .001"); blank = exact
DIRECTIONS = ("favours_int", "favours_ctl", "no_difference")  # as the source states it in words
WANTED_COLUMNS = ("study_id", "outcome", "needed", "where_in_paper", "searched", "status")
WANTED_STATUS = ("open", "filled")
FIRST_YEAR = 1800  # no trial of the kind a health article cites is older

STUDY_COLUMNS = ("study_id", "pmid", "pmcid", "doi", "first_author", "year", "short_title",
                 "design", "condition", "population", "evidence_role", "cited_by",
                 "n_randomised", "n_analysed", "risk_of_bias", "risk_of_bias_source", "source", "notes")
OUTCOME_TEXT = ("row_id", "study_id", "outcome", "instrument", "scale_direction", "timepoint",
                "comparison", "comparator", "comparator_type", "design", "data_type",
                "diff_direction", "model", "source", "extractor", "double_extracted",
                "reconciliation_note", "notes", "missing_reason", "p_operator", "direction")
OUTCOME_NUMBERS = ("timepoint_weeks", "n_int", "n_ctl", "mean_int", "sd_int",
                   "se_int", "ci_low_int", "ci_high_int", "mean_ctl",
                   "sd_ctl", "se_ctl", "ci_low_ctl", "ci_high_ctl", "diff",
                   "diff_ci_low", "diff_ci_high", "diff_se", "t", "df", "f", "p", "p_sided",
                   "events_int", "events_ctl", "estimate", "estimate_ci_low",
                   "estimate_ci_high", "k_studies", "i2")
OUTCOME_COLUMNS = OUTCOME_TEXT + OUTCOME_NUMBERS

# (number, rule) checked whenever the number is present
COUNTS = ("n_int", "n_ctl", "events_int", "events_ctl", "k_studies", "p_sided")
POSITIVE = ("sd_int", "sd_ctl", "se_int", "se_ctl", "diff_se", "df")
CI_TRIPLES = (("mean_int", "ci_low_int", "ci_high_int"),
              ("mean_ctl", "ci_low_ctl", "ci_high_ctl"),
              ("diff", "diff_ci_low", "diff_ci_high"),
              ("estimate", "estimate_ci_low", "estimate_ci_high"))

ARM_SPREAD = {"arm_mean_sd": ("sd", "se", "ci"), "arm_change_sd": ("sd",),
              "arm_change_se": ("se",), "arm_change_ci": ("ci",)}
# numbers a row of each data_type must hold (arm types handled by ARM_SPREAD)
# A blank CI/SE beside a reported estimate, like a blank n or a direction the
# source does not state, makes the row not estimable (the builder says why)
# rather than invalid: the estimate is kept.
REQUIRED = {
    "mean_diff_ci": ("diff",),
    "mean_diff_se": ("diff",),
    "t_stat": ("t",), "f_stat": ("f",), "p_only": ("p",),
    "smd_ci": ("estimate",),
    "pooled_smd_ci": ("estimate",),
    "pooled_md_ci": ("estimate",),
    "counts": ("events_int", "events_ctl", "n_int", "n_ctl"),
    "not_reported": ("missing_reason",),
    "not_reachable": ("missing_reason",),
}


class SheetErrors(DataError):
    """All problems found in the extraction sheets, one line each."""

    def __init__(self, errors: list[DataError]):
        self.errors = errors
        lines = "\n".join(f"  {e}" for e in errors)
        super().__init__(f"{len(errors)} problem(s) in the extraction sheets:\n{lines}")


@dataclass
class Sheet:
    """A validated sheet: its path and its rows (dicts, with ``_line`` = CSV line number)."""

    path: Path
    rows: list[dict] = field(default_factory=list)


def read_csv(path: Path, columns: tuple[str, ...], errors: list[DataError], *,
             require_rows: bool = True) -> Sheet:
    """Read a sheet as stripped strings, recording each row's first CSV line.

    A sheet that cannot be read as a table (missing, not UTF-8, a row of the
    wrong length, no rows, a missing or doubled column) is one error; its
    rows are then not checked, so nothing is reported twice.
    """
    sheet = Sheet(Path(path))
    try:
        header, records = cells.read_rows(sheet.path)
    except DataError as exc:
        errors.append(exc)
        return sheet
    missing = [c for c in columns if c not in header]
    if missing:
        errors.append(DataError(f"missing column(s): {', '.join(missing)}", file=path, row=1,
                                field=missing[0]))
        return sheet
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        errors.append(DataError(f"duplicate column(s): {', '.join(dupes)}", file=path, row=1,
                                field=dupes[0]))
        return sheet
    if not records and require_rows:
        errors.append(DataError("no rows: a sheet holds at least one row under its header",
                                file=path, row=2))
        return sheet
    for line, record in records:
        row = {h: record[i].strip() for i, h in enumerate(header)}
        row["_line"] = line
        sheet.rows.append(row)
    return sheet


def load_sheets(extraction_dir: Path) -> tuple[Sheet, Sheet]:
    """Read and validate studies.csv and outcomes.csv; raise SheetErrors listing every problem."""
    extraction_dir = Path(extraction_dir)
    errors: list[DataError] = []
    studies = read_csv(extraction_dir / "studies.csv", STUDY_COLUMNS, errors)
    outcomes = read_csv(extraction_dir / "outcomes.csv", OUTCOME_COLUMNS, errors)
    if errors:  # a sheet that is not a table: its rows cannot be checked
        raise SheetErrors(errors)
    ids = check_studies(studies, errors)
    check_outcomes(outcomes, ids, errors)
    check_arm_sizes(studies, outcomes, errors)
    wanted = extraction_dir / "wanted.csv"
    if wanted.exists():
        check_wanted(read_csv(wanted, WANTED_COLUMNS, errors, require_rows=False), ids, errors)
    if errors:
        raise SheetErrors(errors)
    return studies, outcomes


def load_studies(path: Path) -> list[dict]:
    """studies.csv alone, validated and typed (for readers that need no outcomes)."""
    errors: list[DataError] = []
    sheet = read_csv(Path(path), STUDY_COLUMNS, errors)
    if not errors:
        check_studies(sheet, errors)
    if errors:
        raise SheetErrors(errors)
    return sheet.rows


def _vocab(row, name, allowed, err, *, required=True):
    value = row.get(name, "")
    if not value:
        if required:
            err(name, "blank; required")
    elif value not in allowed:
        err(name, f"{value!r} is not one of: {', '.join(allowed)}")


def _unique(sheet: Sheet, key: str, err) -> set[str]:
    seen: dict[str, int] = {}
    for row in sheet.rows:
        value = row[key]
        if not value:
            err(row, key, "blank; required")
        elif cells.safe(value) != value:
            err(row, key, f"{value!r} begins like a spreadsheet formula; an id begins with a "
                          "letter or digit")
        elif value in seen:
            err(row, key, f"duplicate {value!r} (first on line {seen[value]})")
        else:
            seen[value] = row["_line"]
    return set(seen)


def check_studies(sheet: Sheet, errors: list[DataError]) -> set[str]:
    """Check studies.csv in place (typing year and n_randomised); return its study_ids."""
    def err(row, name, msg):
        errors.append(DataError(msg, file=sheet.path, row=row["_line"], field=name))

    ids = _unique(sheet, "study_id", err)
    for row in sheet.rows:
        def e(name, msg, row=row):
            err(row, name, msg)
        _vocab(row, "design", DESIGNS, e)
        _vocab(row, "evidence_role", EVIDENCE_ROLES, e)
        _vocab(row, "risk_of_bias", RISK_OF_BIAS, e, required=False)
        if not row["source"]:
            e("source", "blank; every row needs its source")
        if row["pmid"] and not valid_pmid(row["pmid"]):
            e("pmid", f"{row['pmid']!r} is not a PubMed id (1-8 ASCII digits, no leading zero)")
        cited_by = row["cited_by"]
        if cited_by and cited_by != "article" and cited_by not in ids:
            e("cited_by", f"{cited_by!r} is neither 'article' nor a study_id of this sheet")
        for name, low in (("year", FIRST_YEAR), ("n_randomised", 1), ("n_analysed", 1)):
            if name in row:
                row[name] = _parse_number(row, name, e, integer=True, minimum=low)
        if None not in (row.get("n_analysed"), row["n_randomised"]) and \
                row["n_analysed"] > row["n_randomised"]:
            e("n_analysed", f"{row['n_analysed']:g} analysed exceed n_randomised = "
                            f"{row['n_randomised']:g}")
        this_year = datetime.date.today().year
        if row["year"] is not None and row["year"] > this_year:
            e("year", f"{row['year']:g} is after the current year ({this_year})")
    return ids


def check_arm_sizes(studies: Sheet, outcomes: Sheet, errors: list[DataError]) -> None:
    """A comparison's arms (n_int + n_ctl) cannot hold more people than the study randomised."""
    randomised = {s["study_id"]: s.get("n_randomised") for s in studies.rows}
    for row in outcomes.rows:
        total = randomised.get(row["study_id"])
        n1, n2 = row.get("n_int"), row.get("n_ctl")
        if None in (total, n1, n2) or row["data_type"].startswith("pooled_"):
            continue
        if n1 + n2 > total:
            errors.append(DataError(
                f"n_int + n_ctl = {n1 + n2:g} exceeds the study's n_randomised = {total:g} "
                f"(studies.csv)", file=outcomes.path, row=row["_line"], field="n_int"))


def check_wanted(sheet: Sheet, study_ids: set[str], errors: list[DataError]) -> None:
    """The data-wanted register: each row names a study of studies.csv, an outcome, a status."""
    for row in sheet.rows:
        def e(name, msg, row=row):
            errors.append(DataError(msg, file=sheet.path, row=row["_line"], field=name))
        if row["study_id"] not in study_ids:
            e("study_id", f"{row['study_id']!r} is not in studies.csv" if row["study_id"]
              else "blank; required")
        _vocab(row, "outcome", _outcomes(), e)
        _vocab(row, "status", WANTED_STATUS, e)
        if not row["needed"]:
            e("needed", "blank; say which numbers are wanted")


def _parse_number(row, name, err, *, integer=False, minimum=None, strict=False):
    text = row.get(name, "")
    if text == "":
        return None
    x = cells.number(text)
    if x is None:
        row.setdefault("_bad", set()).add(name)
        err(name, f"{text!r} is not a number (plain ASCII digits: 12, -0.5, 1.2e-3)")
        return None
    if not math.isfinite(x):
        row.setdefault("_bad", set()).add(name)
        err(name, f"{text!r} is not a finite number")
        return None
    if integer and x != int(x):
        row.setdefault("_bad", set()).add(name)
        err(name, f"{text!r} must be a whole number")
        return None
    if minimum is not None and (x < minimum or (strict and x == minimum)):
        row.setdefault("_bad", set()).add(name)
        err(name, f"{text} must be {'>' if strict else '>='} {minimum:g}")
        return None
    return x


def check_outcomes(sheet: Sheet, study_ids: set[str], errors: list[DataError]) -> None:
    """Check outcomes.csv in place: vocabularies, numbers, CIs, required numbers per data_type."""
    def err(row, name, msg):
        errors.append(DataError(msg, file=sheet.path, row=row["_line"], field=name))

    _unique(sheet, "row_id", err)
    for row in sheet.rows:
        def e(name, msg, row=row):
            err(row, name, msg)
        _check_outcome_text(row, study_ids, e)
        _check_outcome_numbers(row, e)
        _check_required(row, e)


def _check_outcome_text(row, study_ids, e):
    if not row["study_id"]:
        e("study_id", "blank; required")
    elif row["study_id"] not in study_ids:
        e("study_id", f"{row['study_id']!r} is not in studies.csv")
    if not row["source"]:
        e("source", "blank; every row needs its source")
    _vocab(row, "outcome", _outcomes(), e)
    _vocab(row, "data_type", DATA_TYPES, e)
    _vocab(row, "design", DESIGNS, e)
    # a review's pooled estimate may mix comparators: blank allowed there only
    _vocab(row, "comparator_type", COMPARATOR_TYPES, e,
           required=not row["data_type"].startswith("pooled_"))
    _vocab(row, "scale_direction", SCALE_DIRECTIONS, e,
           required=row["data_type"] not in ("not_reported", "not_reachable", ""))
    _vocab(row, "p_operator", P_OPERATORS, e, required=False)
    _vocab(row, "direction", DIRECTIONS, e, required=False)
    if row.get("p_operator") and not row.get("p"):
        e("p_operator", "a bound needs its value in p")
    _vocab(row, "diff_direction", DIFF_DIRECTIONS, e, required=False)
    _vocab(row, "double_extracted", ("yes", "no"), e, required=False)


def _check_outcome_numbers(row, e):
    for name in OUTCOME_NUMBERS:
        integer = name in COUNTS
        minimum, strict = None, False
        if name in ("n_int", "n_ctl"):
            minimum = 2
        elif name in POSITIVE:
            minimum, strict = 0, True
        elif name in ("events_int", "events_ctl", "f", "timepoint_weeks", "i2"):
            minimum = 0
        elif name == "k_studies":
            minimum = 1
        elif name == "p":
            minimum, strict = 0, True
        row[name] = _parse_number(row, name, e, integer=integer, minimum=minimum, strict=strict)
    if row["p"] is not None and row["p"] > 1:
        e("p", f"{row['p']:g} is not a probability (0 < p <= 1)")
    if row["p_sided"] is not None and row["p_sided"] not in (1, 2):
        e("p_sided", f"{row['p_sided']:g} must be 1 or 2")
    if row["i2"] is not None and row["i2"] > 100:
        e("i2", f"{row['i2']:g} must be a percentage (0-100)")
    for arm in ("int", "ctl"):
        events, n = row[f"events_{arm}"], row[f"n_{arm}"]
        if events is not None and n is not None and events > n:
            e(f"events_{arm}", f"{events:g} events exceed n_{arm} = {n:g}")
    _check_direction(row, e)
    for est, low, high in CI_TRIPLES:
        lo, hi, x = row[low], row[high], row[est]
        if row.get("_bad", set()) & {est, low, high}:
            continue  # already reported as not a number
        if (lo is None) != (hi is None):
            e(low if lo is None else high, "a CI needs both bounds")
        elif lo is not None:
            if lo > hi:
                e(low, f"CI lower bound {lo:g} is above the upper bound {hi:g}")
            elif lo == hi:
                e(low, f"CI of zero width [{lo:g}, {hi:g}]: it would give a variance of 0 "
                       "(infinite precision)")
            elif x is not None and not lo <= x <= hi:
                e(est, f"{x:g} lies outside its CI [{lo:g}, {hi:g}]")


def _check_required(row, e):
    data_type = row["data_type"]
    one_arm = row["comparator_type"] == "none"
    bad = row.get("_bad", set())
    if data_type in ARM_SPREAD:  # a blank n makes the row not estimable, not invalid
        for arm in ("int",) if one_arm else ("int", "ctl"):
            if row[f"mean_{arm}"] is None and f"mean_{arm}" not in bad:
                e(f"mean_{arm}", f"blank; required for data_type {data_type}")
            spreads = ARM_SPREAD[data_type]
            have = [s for s in spreads if row[f"{s}_{arm}" if s != "ci" else f"ci_low_{arm}"] is not None]
            tried = {f"{s}_{arm}" if s != "ci" else f"ci_low_{arm}" for s in spreads}
            if not have and not bad & (tried | {f"ci_high_{arm}"}):
                wanted = " or ".join(f"{s}_{arm}" if s != "ci" else f"ci_low_{arm}/ci_high_{arm}"
                                     for s in spreads)
                e(wanted.split(" ")[0].split("/")[0], f"blank; {wanted} required for data_type {data_type}")
    for name in REQUIRED.get(data_type, ()):
        if row.get(name) in (None, "") and name not in bad:
            e(name, f"blank; required for data_type {data_type}")


def _check_direction(row, e):
    """A signed diff (or a t_stat row's t) must agree in sign with the arm means it comes from."""
    mm, mc, how = row["mean_int"], row["mean_ctl"], row["diff_direction"]
    if mm is None or mc is None or mm == mc or how not in DIFF_DIRECTIONS:
        return
    names = ["diff"] + (["t"] if row["data_type"] == "t_stat" else [])
    for name in names:
        value = row[name]
        if value:
            oriented = value if how == "int_minus_ctl" else -value
            if (oriented > 0) != (mm > mc):
                e(name, f"{value:g} read as {how} disagrees in sign with mean_int - "
                        f"mean_ctl = {mm - mc:g}")


SYMPTOMS = ("anxiety", "depression", "pain", "stress", "worry", "disability", "fatigue", "nausea",
            "headache_frequency", "headache_intensity", "headache_duration")


def warnings_for(outcomes: Sheet) -> list[str]:
    """Plausible mistakes that are not errors: a symptom measured on a 'higher_better' scale
    (scale_direction describes the instrument, not the sign a review gave its SMD)."""
    return [f"{outcomes.path}, row {r['_line']}, field 'scale_direction': {r['outcome']} on a "
            f"higher_better scale; check that it describes the instrument, not the reported sign"
            for r in outcomes.rows
            if r["outcome"] in SYMPTOMS and r["scale_direction"] == "higher_better"]
