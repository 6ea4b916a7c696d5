"""Turn validated extraction rows into ``data/derived/effects.csv``.

One outcomes row gives exactly one effects row. Rows that cannot become an
effect are kept with ``estimable=False`` and a reason. Every effect is signed
so that positive favours the intervention; ``derived`` says which formula was used and
whether the sign was flipped.
"""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path

from evidence import atomic, case, cells, rob, vocabulary
from evidence.effects import calculators as calc
from evidence.effects import classes
from evidence.effects.schema import load_sheets
from evidence.errors import DataError

COLUMNS = ("row_id", "study_id", "pmid", "condition", "outcome", "instrument", "timepoint",
           "timepoint_weeks", "comparison", "comparator_type", "design", "measure", "yi", "vi",
           "se", "ci_low", "ci_high", "n_int", "n_ctl", "favours_int_positive",
           "evidence_role", "source", "derived", "estimable", "not_estimable_reason", "label",
           "risk_of_bias", "k_studies", "i2", "data_type", "result_class", "direction", "p",
           "p_operator", "n_total", "smd_implied_low", "smd_implied_high", "ci_computed",
           "reported_value", "reported_ci_low", "reported_ci_high", "model", "review_n",
           "n_total_basis")
ARM_TYPES = ("arm_mean_sd", "arm_change_sd", "arm_change_se", "arm_change_ci")
SMD_FORMULAS = {"SMD": (calc.smd, "Hedges' g, metafor exact J"),
                "SMD_RevMan": (calc.smd_revman, "Hedges' g, RevMan 5 formulas")}


class NotEstimable(Exception):
    """Raised inside a conversion: the row's numbers cannot give an effect (the reason)."""


class Unconvertible(ValueError):
    """A conversion gave no finite effect from numbers that passed validation (field, reason)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def label(first_author: str, year, study_id: str) -> str:
    """'Sherman 2010' from first_author 'Sherman KJ' (initials dropped) and year."""
    words = first_author.split()
    if len(words) > 1 and re.fullmatch(r"[A-Z]{1,3}", words[-1]):
        words = words[:-1]
    name = " ".join(words)
    if not name:
        return study_id
    return f"{name} {int(year)}" if year is not None else name


# --- direction ------------------------------------------------------------

def _int() -> str:
    """The case's name for the intervention, for the ``derived`` text."""
    return case.current().intervention


def _ctl() -> str:
    return case.current().control


def _arm_word(arm: str) -> str:
    """'int' / 'ctl' (the sheet's column suffixes) in the case's words."""
    return _int() if arm == "int" else _ctl()


def _raw_sign_from_reported(row) -> tuple[float | None, str]:
    """Sign of (intervention minus control) on the scale, from means or a signed diff."""
    mm, mc = row["mean_int"], row["mean_ctl"]
    if mm is not None and mc is not None and mm != mc:
        return math.copysign(1, mm - mc), "direction from the arm means"
    diff, how = row["diff"], row["diff_direction"]
    if diff not in (None, 0) and how:
        return math.copysign(1, _oriented(diff, how)), "direction from the reported difference"
    return None, ""


def _oriented(value: float, diff_direction: str) -> float:
    """A reported difference turned into intervention minus control."""
    return value if diff_direction == "int_minus_ctl" else -value


def _favour(yi: float, row, notes: list[str]) -> float:
    """Apply the scale direction: positive = favours the intervention."""
    if row["scale_direction"] == "higher_worse":
        notes.append("sign flipped (higher_worse)")
        return -yi
    notes.append("sign kept (higher_better)")
    return yi


# --- per data type --------------------------------------------------------

def _arm_sd(row, arm: str, notes: list[str]) -> float:
    n = row.get(f"_reported_n_{arm}", row[f"n_{arm}"])  # an SD comes from the arm's real n
    if row[f"sd_{arm}"] is not None:
        return row[f"sd_{arm}"]
    if row[f"se_{arm}"] is not None:
        notes.append(f"SD {_arm_word(arm)} = SE*sqrt(n)")
        return calc.sd_from_se(row[f"se_{arm}"], n)
    sd, how = calc.sd_from_ci(row[f"ci_low_{arm}"], row[f"ci_high_{arm}"], n)
    notes.append(f"SD {_arm_word(arm)} = sqrt(n)*CI width/(2 {how} quantile)")
    return sd


def _arms(row, smd_measure: str, notes: list[str]):
    change = row["data_type"] != "arm_mean_sd"
    what = "change scores (follow-up minus baseline)" if change else "post means"
    if row["comparator_type"] == "none":
        n, m = row["n_int"], row["mean_int"]
        if row["sd_int"] is None and row["se_int"] is not None:
            se = row["se_int"]
        elif row["sd_int"] is not None:
            se = row["sd_int"] / math.sqrt(n)
            notes.append("SE = SD/sqrt(n)")
        else:
            se, how = calc.se_from_ci(row["ci_low_int"], row["ci_high_int"], n=n, df=n - 1)
            notes.append(f"SE from CI ({how})")
        if not change:
            raise NotEstimable("uncontrolled post values without baseline: no change to estimate")
        yi, vi = calc.within_group_change(m, se)
        notes.insert(0, f"MD = within-group change of the {_int()} arm (uncontrolled, not vs control)")
        return "MD", yi, vi
    sd_m = _arm_sd(row, "int", notes)
    sd_c = _arm_sd(row, "ctl", notes)
    fn, name = SMD_FORMULAS[smd_measure]
    yi, vi = fn(row["mean_int"], sd_m, row["n_int"], row["mean_ctl"], sd_c,
                row["n_ctl"])
    notes.insert(0, f"SMD ({name}) from {what}")
    return "SMD", yi, vi


def _md_of_changes(row, notes: list[str]):
    """MD of two arms' change scores from each arm's SE or 95% CI, when n per arm is unknown.

    No SD (so no SMD) can be had without n, but the difference of two
    independent means has SE sqrt(SE1^2 + SE2^2) whatever n is. A CI is read
    with the normal quantile (n unknown); the result is in the instrument's units.
    """
    ses = []
    for arm in ("int", "ctl"):
        if row[f"se_{arm}"] is not None:
            ses.append(row[f"se_{arm}"])
        else:
            se, _ = calc.se_from_ci(row[f"ci_low_{arm}"], row[f"ci_high_{arm}"])
            ses.append(se)
    how = "SE" if row["data_type"] == "arm_change_se" else "95% CI (normal quantile)"
    notes.insert(0, f"MD of change scores ({_int()} minus {_ctl()}), n per arm not reported so no "
                    f"SMD; each arm's SE from its {how}; SE(MD) = sqrt(SE1^2 + SE2^2)")
    return "MD", row["mean_int"] - row["mean_ctl"], ses[0] ** 2 + ses[1] ** 2


def _needs_n(row, one_arm: bool = False):
    n1, n2 = row["n_int"], row["n_ctl"]
    if n1 is None or (n2 is None and not one_arm):
        raise NotEstimable("n per arm not reported: no effect size without group sizes")
    return n1, n2


def _from_test(row, notes: list[str]):
    """t, F(1, df) or exact p -> Hedges' g (independent groups)."""
    kind = row["data_type"]
    if kind == "p_only" and row.get("p_operator"):
        raise NotEstimable(f"P printed as a bound (P {row['p_operator']} {row['p']:g}): not an exact "
                           "P, so no effect size (kept as a bound result)")
    if kind == "p_only" and row.get("direction") == "no_difference":
        raise NotEstimable("a 'no difference' statement with its P: a P without a direction (e.g. "
                           "a test across three groups) gives no effect size (kept as a "
                           "no-difference result)")
    n1, n2 = _needs_n(row)
    if kind == "t_stat" and row["diff_direction"]:
        t = _oriented(row["t"], row["diff_direction"])
        notes.append("SMD (Hedges' g, metafor exact J) from t: d = t*sqrt(1/n1+1/n2)")
    else:
        sign, how = _raw_sign_from_reported(row)
        if sign is None:
            raise NotEstimable(f"only {'a p value' if kind == 'p_only' else 'a test statistic'}: "
                               "the direction of the difference is not reported")
        if kind == "t_stat":
            t = sign * abs(row["t"])
            notes.append("SMD (Hedges' g, metafor exact J) from |t|: d = t*sqrt(1/n1+1/n2)")
        elif kind == "f_stat":
            t = sign * calc.t_from_f(row["f"])
            notes.append("SMD (Hedges' g, metafor exact J) from F(1,df): t = sqrt(F)")
        else:
            sided = int(row["p_sided"] or 2)
            if sided == 1 and row["p"] > 0.5:
                raise NotEstimable(f"one-sided p = {row['p']:g} > 0.5: the test points against "
                                   "the direction of the arm means, so no signed effect follows")
            df = row["df"] if row["df"] is not None else n1 + n2 - 2
            t = sign * calc.t_from_p(row["p"], df, sided)
            notes.append(f"SMD (Hedges' g, metafor exact J) from exact p ({sided}-sided, t on {df:g} df)")
        notes.append(how)
    return ("SMD", *calc.smd_from_t(t, n1, n2))


def _from_reported(row, notes: list[str]):
    """A reported difference or estimate with CI or SE (MD, SMD, pooled)."""
    kind = row["data_type"]
    spread = {"mean_diff_ci": "diff_ci_low", "mean_diff_se": "diff_se"}.get(kind, "estimate_ci_low")
    if not row["diff_direction"]:
        value = row["diff"] if kind.startswith("mean_diff") else row["estimate"]
        raise NotEstimable(f"{value:g} reported without saying which arm it favours: the sign "
                           "cannot be set (diff_direction blank)")
    if row[spread] is None:
        value = row["diff"] if kind.startswith("mean_diff") else row["estimate"]
        oriented = _favour(_oriented(value, row["diff_direction"]), row, [])
        raise NotEstimable(f"{value:g} reported without {'an SE' if spread == 'diff_se' else 'a CI'}:"
                           f" variance unknown (signed to favour {_int()}: {oriented:+g})")
    if kind.startswith("mean_diff"):
        value, measure = row["diff"], "MD"
        if kind == "mean_diff_se":
            se = row["diff_se"]
            notes.append("MD with reported SE")
        else:
            n1, n2 = row["n_int"], row["n_ctl"]
            small = None if n1 is None or n2 is None else min(n1, n2)
            df = None if small is None else n1 + n2 - 2
            se, how = calc.se_from_ci(row["diff_ci_low"], row["diff_ci_high"], n=small, df=df)
            notes.append(f"MD; SE from CI ({how})")
    else:
        value = row["estimate"]
        measure = "MD" if kind == "pooled_md_ci" else "SMD"
        se, _ = calc.se_from_ci(row["estimate_ci_low"], row["estimate_ci_high"])
        what = "pooled " if kind.startswith("pooled") else ""
        notes.append(f"{what}{measure} as reported; SE = CI width/(2*1.959964) (normal quantile)")
    if row["diff_direction"] == "ctl_minus_int":
        notes.append(f"reported as {_ctl()} minus {_int()}: negated")
    return measure, _oriented(value, row["diff_direction"]), se**2


def _from_counts(row, notes: list[str]):
    a, c = row["events_int"], row["events_ctl"]
    b, d = row["n_int"] - a, row["n_ctl"] - c
    yi, vi = calc.log_or(a, b, c, d)
    corrected = calc.with_zero_correction(a, b, c, d)[1]
    notes.append(f"logOR from counts ({_int()} over {_ctl()})"
                 + ("; 0.5 added to all cells (a zero cell)" if corrected else ""))
    return "logOR", yi, vi


INTENDED = {**dict.fromkeys(ARM_TYPES, "SMD"), "t_stat": "SMD", "f_stat": "SMD", "p_only": "SMD",
            "mean_diff_ci": "MD", "mean_diff_se": "MD", "smd_ci": "SMD", "pooled_smd_ci": "SMD",
            "pooled_md_ci": "MD", "counts": "logOR", "not_reported": "", "not_reachable": ""}


def compute(row, smd_measure: str = "SMD") -> dict:
    """The effect of one validated outcomes row: measure, yi, vi, derived, estimable, reason."""
    kind, notes = row["data_type"], []
    out = {"measure": INTENDED[kind], "yi": None, "vi": None, "ci": None, "derived": "",
           "estimable": False, "not_estimable_reason": ""}
    try:
        if kind == "not_reported":
            raise NotEstimable(f"not reported: {row['missing_reason']}")
        if kind == "not_reachable":
            raise NotEstimable(f"not reachable offline: {row['missing_reason']}")
        if row["comparator_type"] == "none" and kind not in ARM_TYPES:
            raise NotEstimable(f"uncontrolled study: only a test of change ({kind}), no "
                               "within-group change with its spread")
        if row["timepoint"].lower().startswith("baseline"):
            raise NotEstimable("baseline values: not an effect of treatment")
        no_n = row["n_int"] is None or row["n_ctl"] is None
        if kind in ("arm_change_se", "arm_change_ci") and row["comparator_type"] != "none" and no_n:
            measure, yi, vi = _md_of_changes(row, notes)
        elif kind in ARM_TYPES:
            _needs_n(row, one_arm=row["comparator_type"] == "none")
            measure, yi, vi = _arms(row, smd_measure, notes)
        elif kind in ("t_stat", "f_stat", "p_only"):
            measure, yi, vi = _from_test(row, notes)
        elif kind == "counts":
            measure, yi, vi = _from_counts(row, notes)
        else:
            measure, yi, vi = _from_reported(row, notes)
    except NotEstimable as exc:
        out["not_estimable_reason"] = str(exc)
        out["derived"] = "; ".join(notes)
        return out
    except (ArithmeticError, ValueError) as exc:  # overflow, 0/0, a log of 0 from extreme numbers
        raise Unconvertible("data_type", f"the {kind} conversion fails on this row's numbers "
                                         f"({type(exc).__name__}: {exc})") from exc
    if not (cells.finite(yi) and cells.finite(vi) and vi > 0):
        raise Unconvertible("data_type", f"the {kind} conversion of this row's numbers gives "
                                         f"yi = {yi!r}, vi = {vi!r}: an effect needs a finite "
                                         "estimate and a positive finite variance")
    ci = _reported_ci(row)
    flipped = _favour(yi, row, notes) != yi
    yi = -yi if flipped else yi
    if ci is not None:
        ci = tuple(sorted(-x for x in ci)) if flipped else ci
        notes.append("95% CI as reported (SE from it only for weights)")
    out.update(measure=measure, yi=yi, vi=vi, ci=ci, estimable=True, derived="; ".join(notes))
    return out


def _reported_ci(row) -> tuple[float, float] | None:
    """A reported 95% CI of the contrast, as intervention minus control (None if not reported).

    Shown as printed rather than rebuilt from the SE, so a reader finds the
    paper's numbers (rounding makes a printed CI slightly asymmetric).
    """
    kind = row["data_type"]
    if kind == "mean_diff_ci":
        lo, hi = row["diff_ci_low"], row["diff_ci_high"]
    elif kind in ("smd_ci", "pooled_smd_ci", "pooled_md_ci"):
        lo, hi = row["estimate_ci_low"], row["estimate_ci_high"]
    else:
        return None
    if lo is None or hi is None:
        return None
    return tuple(sorted((_oriented(lo, row["diff_direction"]), _oriented(hi, row["diff_direction"]))))


# --- shared arms ----------------------------------------------------------

def split_shared_arms(rows: list[dict]) -> None:
    """Halve (or divide by k) the n of an arm that k comparisons of one trial share.

    Cochrane Handbook 23.3.4: a shared arm counted in several comparisons of one
    analysis is a unit-of-analysis error; splitting its n avoids double counting.
    A shared arm is recognised by identical numbers for that arm in rows of the
    same study, outcome, instrument and timepoint. Rows are updated in place.
    """
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        if row["data_type"] in ARM_TYPES + ("counts",) and row["comparator_type"] != "none":
            key = (row["study_id"], row["outcome"], row["instrument"], row["timepoint"])
            groups.setdefault(key, []).append(row)
    for members in groups.values():
        for arm in ("ctl", "int"):
            fields = [f"{x}_{arm}" for x in ("n", "mean", "sd", "se", "ci_low", "ci_high",
                                              "events")]
            shared: dict[tuple, list[dict]] = {}
            for row in members:
                shared.setdefault(tuple(row[f] for f in fields), []).append(row)
            for same in shared.values():
                if len(same) > 1:
                    for row in same:
                        n = row[f"_reported_n_{arm}"] = row[f"n_{arm}"]
                        row[f"n_{arm}"] = calc.split_shared_n(n, len(same))
                        row.setdefault("_split", []).append(
                            f"{_arm_word(arm)} arm shared by {len(same)} comparisons: n {n:g} -> "
                            f"{row[f'n_{arm}']:g} (Handbook 23.3.4)")
                        if row[f"events_{arm}"] is not None:
                            row[f"events_{arm}"] = calc.split_shared_n(row[f"events_{arm}"],
                                                                       len(same))


# --- output ---------------------------------------------------------------

def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def reported(row, result_class: str) -> tuple:
    """(value, ci_low, ci_high) a row without an effect still reports, for drawing it: for
    ``effect_sign_unknown`` the difference and its CI as printed (which arm they favour is unknown,
    so figures draw them mirrored); for ``estimate_only`` the estimate signed to favour the
    intervention (no CI). Blank for every other class."""
    if result_class not in ("effect_sign_unknown", "estimate_only"):
        return None, None, None
    md = row["data_type"].startswith("mean_diff")
    value = row["diff"] if md else row["estimate"]
    lo, hi = (row["diff_ci_low"], row["diff_ci_high"]) if md else (row["estimate_ci_low"],
                                                                     row["estimate_ci_high"])
    if result_class == "effect_sign_unknown" and lo is None and row.get("diff_se") is not None:
        lo, hi = value - calc.Z95 * row["diff_se"], value + calc.Z95 * row["diff_se"]
    if result_class == "estimate_only":
        if row["diff_direction"]:
            value = _favour(_oriented(value, row["diff_direction"]), row, [])
        return value, None, None
    return value, lo, hi




def _review_n(row, study):
    if row["n_int"] is not None and row["n_ctl"] is not None:
        return None
    return study["n_randomised"] if study["n_randomised"] is not None else study["n_analysed"]


def _multi_arm(rows, by_id) -> set[str]:
    """Studies with more than two arms as the sheet shows them: a row whose two arm sizes sum
    to less than the study's n (a pairwise contrast of a three-arm trial, say)."""
    out = set()
    for row in rows:
        n = _study_n(by_id[row["study_id"]])[0]
        if None not in (n, row["n_int"], row["n_ctl"]) and row["n_int"] + row["n_ctl"] < n:
            out.add(row["study_id"])
    return out


def _study_n(study) -> tuple[float | None, str]:
    if study["n_analysed"] is not None:
        return study["n_analysed"], "study n analysed"
    if study["n_randomised"] is not None:
        return study["n_randomised"], "study n randomised"
    return None, ""


def total_n(row, study, multi_arm: bool) -> tuple[float | None, str]:
    """(total n of a trial row's between-group result, its basis). The two arms when both are
    given; else, for a controlled trial (not a review's pooled row), the study's n analysed or
    randomised (studies.csv), since the result then covers the whole trial: in a two-arm trial
    always, in a multi-arm trial only where the sheet gives the intervention arm and leaves
    the control blank because every other arm shares the test (an omnibus test)."""
    if row["n_int"] is not None and row["n_ctl"] is not None:
        return row["n_int"] + row["n_ctl"], "arms"
    if row["design"] in vocabulary.POOLED_DESIGNS or row["comparator_type"] in ("", "none") \
            or study["design"] in vocabulary.POOLED_DESIGNS:
        return None, ""
    if multi_arm:
        if row["n_int"] is None or row["n_ctl"] is not None:
            return None, ""
        n, basis = _study_n(study)
        return n, f"{basis}, all arms"
    return _study_n(study)


def effect_rows(studies, outcomes, smd_measure: str = "SMD", split_shared: bool = True):
    """Effects rows (dicts in COLUMNS order), sorted by study_id then row_id."""
    by_id = {s["study_id"]: s for s in studies.rows}
    rows = [dict(r) for r in outcomes.rows]
    if split_shared:
        split_shared_arms(rows)
    multi = _multi_arm(rows, by_id)
    out = []
    for row in rows:
        study = by_id[row["study_id"]]
        try:
            eff = compute(row, smd_measure)
        except Unconvertible as exc:
            raise DataError(str(exc), file=outcomes.path, row=row["_line"], field=exc.field) from exc
        cls = classes.annotate(row, eff)
        n_total, basis = total_n(row, study, row["study_id"] in multi)
        se = math.sqrt(eff["vi"]) if eff["estimable"] else None
        yi = eff["yi"]
        computed = se is not None and eff["ci"] is None  # no CI reported: yi +- 1.959964 SE
        derived = "; ".join(x for x in [eff["derived"], *row.get("_split", []),
                                        "95% CI computed as yi +- 1.959964 SE" if computed else "",
                                        cls.pop("implied_note")] if x)
        out.append({
            "row_id": row["row_id"], "study_id": row["study_id"], "pmid": study["pmid"],
            "condition": study["condition"], "outcome": row["outcome"],
            "instrument": row["instrument"], "timepoint": row["timepoint"],
            "timepoint_weeks": row["timepoint_weeks"], "comparison": row["comparison"],
            "comparator_type": row["comparator_type"], "design": row["design"],
            "measure": eff["measure"], "yi": yi, "vi": eff["vi"], "se": se,
            "ci_low": None if se is None else (eff["ci"] or (yi - calc.Z95 * se,))[0],
            "ci_high": None if se is None else (eff["ci"] or (None, yi + calc.Z95 * se))[1],
            "n_int": row["n_int"], "n_ctl": row["n_ctl"],
            "favours_int_positive": True, "evidence_role": study["evidence_role"],
            "source": row["source"], "derived": derived, "estimable": eff["estimable"],
            "not_estimable_reason": eff["not_estimable_reason"],
            "label": label(study["first_author"], study["year"], study["study_id"]),
            "risk_of_bias": study["risk_of_bias"], "k_studies": row["k_studies"],
            "i2": row["i2"], "data_type": row["data_type"], **cls, "n_total": n_total,
            "ci_computed": computed if se is not None else None,
            **dict(zip(("reported_value", "reported_ci_low", "reported_ci_high"),
                       reported(row, cls["result_class"]), strict=True)),
            # a review's pooled row: its model as reported, and the review's participants
            # (studies.csv n_randomised, else n_analysed) where the row gives no n of its own
            "model": row["model"] if row["design"] in vocabulary.POOLED_DESIGNS else None,
            "review_n": _review_n(row, study) if row["design"] in vocabulary.POOLED_DESIGNS else None,
            "n_total_basis": basis or None,
        })
    out.sort(key=lambda r: (r["study_id"], r["row_id"]))
    return out


def to_csv(rows) -> str:
    """Deterministic CSV text: fixed column order, repr floats, '\\n' line ends."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([cells.safe(_fmt(row[c])) for c in COLUMNS])
    return buf.getvalue()


def build_effects(extraction_dir, out_path, smd_measure: str = "SMD",
                  split_shared: bool = True) -> list[dict]:
    """Validate the sheets in ``extraction_dir`` and write the effects CSV to ``out_path`` and the
    checked risk-of-bias domain rows (``evidence.rob``) beside it."""
    studies, outcomes = load_sheets(Path(extraction_dir))
    judgements = rob.load(Path(extraction_dir) / rob.FILE, studies)  # checked before anything is written
    rows = effect_rows(studies, outcomes, smd_measure, split_shared)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(out_path, to_csv(rows))
    rob.write(judgements, out_path.parent / rob.FILE,
              {s["study_id"]: label(s["first_author"], s["year"], s["study_id"]) for s in studies.rows})
    return rows
