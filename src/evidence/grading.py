"""Grade every claim of the article from explicit GRADE-style rules over the data.

Which analyses bear on a claim, and how directly, is computed from the claim's
PICO (``evidence.relevance``). Every *cited* analysis with an estimate is rated
on its own, GRADE-style (certainty starts high for randomised evidence, low
otherwise, and loses levels for five domains); results without an effect size
(a P, a bound, "no difference") are counted too; the claim then gets a verdict
and a certainty. *Context* analyses (evidence the article does not cite) are
reported, never used for the verdict. Nothing is typed by hand: change a number
in the extraction sheets and the verdicts follow. Thresholds come from the
case (``evidence.toml`` [grading]); defaults and sources:

- start: high for randomised trials, low for other designs (GRADE 3, Balshem
  et al., J Clin Epidemiol 2011;64:401). Quasi-randomised trials count as
  non-randomised; rows from a systematic review / meta-analysis start high.
- risk of bias (GRADE 4, 64:407): rows scored low 0, some concerns/unclear 1,
  high 2, averaged with the meta-analytic weights (else participants): mean >=
  ``rob_serious`` (0.5) -> -1, >= ``rob_very_serious`` (1.5) -> -2. Not
  assessable from the sources read counts as unclear (-1 for one study); the
  ``no_rob_penalty`` variant drops that rule.
- inconsistency (GRADE 7, 64:1294; Cochrane Handbook 10.10.2): I² >=
  ``i2_serious`` (50%), or the prediction interval crosses 0 while the CI does
  not -> -1. Across a claim's analyses: a known null, trivial or unfavourable
  on-target result beside a benefit -> -1 for the claim (conflicting results),
  and the claim is at most partly supported.
- indirectness (GRADE 8, 64:1303): from the relevance, each of population,
  outcome, comparator that differs -> one level, at most two. A review whose
  comparators are not reported is not taken as direct.
- imprecision (GRADE 6, 64:1283): serious (-1) when the 95% CI crosses 0 or the
  MID, or the total n of a continuous outcome is below ``ois_continuous``
  (400); very serious (-2) when the CI spans both -MID and +MID, or crosses 0
  with n below the OIS. Ratio measures use RR ``ratio_appreciable`` (1.25).
- publication/reporting bias (GRADE 5, 64:1277; Sterne et al. BMJ
  2011;343:d4002): only funnel asymmetry, k >= ``egger_min_k`` (10) and
  Egger's p < ``egger_alpha`` (0.10). Results that exist but that we could not
  read are not a downgrade: the verdict is *provisional* and says how many.

Importance (Core GRADE 2, BMJ 2025;389:e081904): each estimate is judged
against 0 and, where ``data/mids.csv`` has one in the outcome's units, against
the MID: a CI that excludes 0 but lies wholly below the MID is *trivial*, not a
benefit (``mid_off`` variant: any CI above 0 counts).

Results without an effect size (Cochrane Handbook ch. 12; SWiM, Campbell et al.
BMJ 2020;368:l6890): every on-target result's direction is counted (favour,
against, no difference, unknown) with an exact sign test on the known
directions; a "no difference" result weighs as much as a benefit (the rule
above); the ``nulls_ignored`` variant leaves them out.

Verdicts: ``supported`` when every on-target result shows an important benefit,
directly, with no conflicting result, every kind of the claim has evidence, and
certainty reaches what the wording asserts (GRADE 26, Santesso et al. 2020,
119:126: "states" needs high, "probably" moderate, "may" low, "very uncertain"
very low; a usage or mechanism statement is read as "may"); ``partly supported
(overstated)`` when some on-target estimate shows an important benefit but not
all of that holds; ``not supported by the cited evidence`` when none does, when
every benefit is in another population or on another outcome, or is trivial;
``no evidence cited`` when the claim cites nothing, or only web pages;
``advice (not graded)`` for advice. A claim's certainty is the lowest of its
on-target rated analyses (GRADE 11, Guyatt et al. 2013), less the claim-level
inconsistency. The best estimate is the most direct on-target estimate, then
the most precise, with its own n; none for a claim not supported.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from evidence import atomic, case, mids, paths
from evidence.claims import Claim, known_sources, load_claims, web_pages
from evidence.effects.classes import RESULTS as RESULT_CLASSES
from evidence.errors import EvidenceError
from evidence.vocabulary import (
    CONTINUOUS,
    RANDOMISED,
    RATIO,
    SAFETY_OUTCOMES,
)

# --- thresholds (sources in the module docstring; a case may change them in
# evidence.toml [grading], defaults in evidence.case.GRADING_DEFAULTS) -------
ROB_SCORE = {"low": 0.0, "some concerns": 1.0, "unclear": 1.0, "high": 2.0}
CERTAINTY = ("very low", "low", "moderate", "high")  # index = level - 1
MIN_CERTAINTY_SUPPORTED = {False: 4, True: 2}  # claim hedged? -> lowest level (GRADE 26)


def threshold(name: str) -> float:
    """A grading threshold of the current case (``evidence.toml`` [grading])."""
    return case.current().grading[name]


SUPPORTED = "supported"
PARTLY = "partly supported (overstated)"
NOT_SUPPORTED = "not supported by the cited evidence"
NO_EVIDENCE = "no evidence cited"
ADVICE = "advice (not graded)"

COLUMNS = ["claim_id", "kind", "verdict", "certainty", "best_estimate", "ci_low", "ci_high",
           "measure", "n_studies", "n_participants", "reasons", "sources", "best_analysis",
           "strength", "strength_phrase", "wording_gap", "provisional", "directions",
           "sign_test_p", "relevant_analyses"]


# --- summaries of fitted analyses ------------------------------------------
@dataclass(frozen=True)
class AnalysisSummary:
    """What the rules need from one fitted analysis (build by hand in tests)."""

    analysis_id: str
    measure: str
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    k: int
    n_participants: int | None
    outcome: str
    evidence_role: str = "cited"
    pi_low: float | None = None
    pi_high: float | None = None
    I2: float | None = None
    designs: tuple[str, ...] = ()
    comparator_types: tuple[str, ...] = ()
    comparators: tuple[str, ...] = ()
    risk_of_bias: tuple[str, ...] = ()      # one per estimable row; "" = not assessed
    rob_weights: tuple[float, ...] = ()     # weights for risk_of_bias (equal if empty)
    conditions: tuple[str, ...] = ()
    egger_p: float | None = None
    mid: float | None = None
    label: str = ""                          # e.g. "Hou 2010", for reasons
    studies: tuple[tuple[str, int | None, int], ...] = ()  # (study_id, n, k) per study
    not_estimable: tuple[str, ...] = ()      # "label: reason" of rows left out of the numbers
    missing_studies: tuple[str, ...] = ()    # studies with no estimable row in this analysis
    # rows without an effect size: (label, row_id, result_class, direction, p, p_operator)
    results: tuple[tuple, ...] = ()


def _num(x):
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def _truthy(x) -> bool:
    """CSV booleans: True/true/1/yes; blank or anything else is False."""
    return str(x).strip().lower() in {"true", "1", "1.0", "yes"}


def _texts(series) -> tuple[str, ...]:
    return tuple(dict.fromkeys(str(v) for v in series.dropna() if str(v) != ""))


def _column(rows: pd.DataFrame, name: str) -> pd.Series:
    """A numeric column, all-NaN when the rows lack it."""
    if name in rows:
        return pd.to_numeric(rows[name], errors="coerce")
    return pd.Series([float("nan")] * len(rows), index=rows.index)


def _study_counts(rows: pd.DataFrame) -> tuple[tuple[str, int | None, int], ...]:
    """Participants per study: largest intervention arm + every control arm (multi-arm trials);
    when the rows give no arm sizes, the study's ``n_randomised`` (studies.csv) if known."""
    out = []
    for sid, grp in rows.groupby("study_id", sort=True):
        nm, nc = _column(grp, "n_int"), _column(grp, "n_ctl")
        nr = _column(grp, "n_randomised")
        n = None
        if nm.notna().any() or nc.notna().any():
            n = int((nm.max() if nm.notna().any() else 0) + nc.fillna(0).sum())
        elif nr.notna().any():
            n = int(nr.max())
        k = pd.to_numeric(grp["k_studies"], errors="coerce").max() if "k_studies" in grp else None
        out.append((str(sid), n, int(k) if k is not None and not math.isnan(k) else 1))
    return tuple(out)


def summarise(fit, mid: float | None = None) -> AnalysisSummary:
    """Summarise an AnalysisFit (``.spec``, ``.rows``, ``.result``) for the rules."""
    spec, rows, result = fit.spec, fit.rows, fit.result
    est_rows = rows[rows["estimable"].map(_truthy)] if "estimable" in rows else rows
    estimate = ci_low = ci_high = pi_low = pi_high = i2 = egger_p = None
    weights: tuple[float, ...] = ()
    if result is not None:
        estimate, ci_low, ci_high = (_num(result.estimate), _num(result.ci_low),
                                     _num(result.ci_high))
        pi_low, pi_high = _num(getattr(result, "pi_low", None)), _num(getattr(result, "pi_high", None))
        i2, k = _num(result.I2), int(result.k)
        w = getattr(result, "weights", None)
        if w is not None and len(w) == len(est_rows):
            weights = tuple(float(x) for x in w)
        egger_p = _num(getattr(result, "egger_p", None))  # the analysis stage computed it
    elif len(est_rows) == 1:
        row = est_rows.iloc[0]
        estimate, ci_low, ci_high = _num(row["yi"]), _num(row["ci_low"]), _num(row["ci_high"])
        i2 = _num(row.get("i2"))  # a pooled estimate taken from a review carries its I²
        k = int(_num(row.get("k_studies")) or 1)
    else:
        k = len(est_rows)
    studies = _study_counts(est_rows) if len(est_rows) else ()
    ns = [n for _, n, _ in studies if n is not None]
    if not weights and len(est_rows):
        n_row = _column(est_rows, "n_int").fillna(0) + _column(est_rows, "n_ctl").fillna(0)
        weights = tuple(float(x) for x in n_row) if n_row.sum() > 0 else ()
    rob = tuple("" if pd.isna(v) else str(v).strip()
                for v in est_rows.get("risk_of_bias", pd.Series([None] * len(est_rows))))
    label = ", ".join(_texts(est_rows["label"])) if "label" in est_rows else ""
    left_out = rows.drop(index=est_rows.index)
    not_estimable = tuple(dict.fromkeys(
        f"{r.get('label') or r.get('study_id') or r.get('row_id')} "
        f"({r.get('not_estimable_reason') or 'reason not given'})".replace(";", ",")
        for _, r in left_out.astype(object).where(left_out.notna(), "").iterrows()))
    return AnalysisSummary(
        analysis_id=spec.id, measure=spec.measure, estimate=estimate, ci_low=ci_low,
        ci_high=ci_high, pi_low=pi_low, pi_high=pi_high, k=k,
        n_participants=sum(ns) if ns else None, I2=i2,
        designs=_texts(est_rows.get("design", pd.Series(dtype=str))),
        comparator_types=_texts(est_rows.get("comparator_type", pd.Series(dtype=str))),
        comparators=_texts(est_rows.get("comparator", est_rows.get("comparison", pd.Series(dtype=str)))),
        risk_of_bias=rob, rob_weights=weights,
        conditions=_texts(est_rows.get("condition", pd.Series([spec.condition]))) or (spec.condition,),
        outcome=spec.outcome, evidence_role=spec.evidence_role, egger_p=egger_p, mid=mid,
        label=label or spec.title, studies=studies, not_estimable=not_estimable,
        results=_results(left_out),
        missing_studies=tuple(sorted(set(_texts(left_out.get("study_id", pd.Series(dtype=str))))
                                     - {sid for sid, _, _ in studies})))


def _results(rows: pd.DataFrame) -> tuple[tuple, ...]:
    """The between-group rows without an effect size, as (label, row_id, class, direction, p,
    p_operator). Uncontrolled rows (a within-group test) are not between-group results."""
    if "result_class" not in rows:
        return ()
    out = []
    for _, r in rows.iterrows():
        if str(r.get("comparator_type")) == "none":
            continue
        d = _num(r.get("direction"))
        out.append((str(r.get("label") or r.get("study_id")), str(r["row_id"]),
                    str(r["result_class"]), None if d is None else int(d), _num(r.get("p")),
                    "" if pd.isna(r.get("p_operator")) else str(r.get("p_operator") or "")))
    return tuple(out)


# --- the rules --------------------------------------------------------------
@dataclass(frozen=True)
class Rules:
    """Switches for the rules a verdict may depend on (``SENSITIVITY`` turns each the other way)."""

    rob_not_assessed: bool = True  # risk of bias not assessable (abstract only): -1
    results_without_effect: bool = True  # P-only, bound, "no difference" results count
    unknown_comparator_indirect: bool = True  # comparators not reported: not direct
    mid_criterion: bool = True  # a precise effect below the MID is trivial, not a benefit
    missing_as_bias: bool = False  # unreadable results as publication bias -1 (the old rule)


BASE = Rules()
# name -> (what it changes, the rules) : every verdict is recomputed under each
SENSITIVITY = {
    "no_rob_penalty": ("no penalty for risk of bias not assessed",
                       Rules(rob_not_assessed=False)),
    "nulls_ignored": ("results without an effect size (P only, bounds, 'no difference') ignored",
                      Rules(results_without_effect=False)),
    "unknown_comparators_direct": ("a review's unreported comparators taken as direct",
                                   Rules(unknown_comparator_indirect=False)),
    "mid_off": ("MID criterion off: any CI above 0 counts as a benefit",
                Rules(mid_criterion=False)),
    "missing_as_bias": ("results we could not read counted as publication bias -1",
                        Rules(missing_as_bias=True)),
    # each rule alone rarely moves a verdict that has several downgrades: all the lenient
    # choices together show how far the rules, rather than the data, hold a verdict down
    "all_lenient": ("all four lenient choices together (no risk-of-bias penalty, nulls "
                    "ignored, unreported comparators direct, MID off)",
                    Rules(rob_not_assessed=False, results_without_effect=False,
                          unknown_comparator_indirect=False, mid_criterion=False)),
}

@dataclass(frozen=True)
class Downgrade:
    """One GRADE downgrade as a record: the domain, how many levels, which rule fired and
    the statistic it fired on; ``detail`` is the rendered explanation."""

    domain: str
    levels: int
    rule: str
    statistic: str
    detail: str
    aspects: tuple[str, ...] = ()  # indirectness: which of population, comparator, outcome

    @property
    def reason(self) -> str:
        return f"{self.domain} -{self.levels}: {self.detail}"


@dataclass
class Rating:
    summary: AnalysisSummary
    start: int
    start_reason: str
    downgrades: list[Downgrade] = field(default_factory=list)
    relevance: object = None  # evidence.relevance.Relevance

    @property
    def level(self) -> int:
        return max(1, self.start - sum(d.levels for d in self.downgrades))

    @property
    def certainty(self) -> str:
        return CERTAINTY[self.level - 1]

    @property
    def indirect(self) -> bool:
        return any(d.domain == "indirectness" for d in self.downgrades)

    @property
    def on_target(self) -> bool:
        """Measured in the claim's population and on the claim's outcome (comparator aside)."""
        return not {"population", "outcome"} & set(self.relevance.aspects if self.relevance
                                                   else ())

    @property
    def benefit(self) -> bool:
        return self.summary.ci_low is not None and self.summary.ci_low > 0


def f2(x) -> str:
    return f"{x:.2f}"


def describe(s: AnalysisSummary, with_id: bool = True) -> str:
    """'id: SMD 0.62 (95% CI 0.05 to 1.20), k=9, n=404' or 'id: no estimable effect'."""
    left = f", not estimable: {', '.join(s.not_estimable)}" if s.not_estimable else ""
    head = f"{s.analysis_id}: " if with_id else ""
    if s.estimate is None:
        return f"{head}no estimable effect{left}"
    n = f", n={s.n_participants}" if s.n_participants is not None else ""
    return (f"{head}{s.measure} {f2(s.estimate)} (95% CI {f2(s.ci_low)} to "
            f"{f2(s.ci_high)}), k={s.k}{n}{left}")


def start_level(s: AnalysisSummary) -> tuple[int, str]:
    if s.designs and set(s.designs) <= set(RANDOMISED):
        return 4, f"start high: randomised ({', '.join(s.designs)})"
    other = sorted(set(s.designs) - set(RANDOMISED)) or ["design not recorded"]
    return 2, f"start low: non-randomised ({', '.join(other)})"


ROB_PHRASE = {"low": "at low risk of bias", "high": "at high risk of bias", "unclear": "at unclear risk of bias",
              "some concerns": "with some concerns about bias", "not assessed": "not assessed for risk of bias"}


def risk_of_bias(s: AnalysisSummary, rules: Rules = BASE) -> Downgrade | None:
    """Not assessable from what we could read counts as serious (-1) unless switched off."""
    if not rules.rob_not_assessed:
        s = AnalysisSummary(**{**s.__dict__, "risk_of_bias": tuple(
            v for v in s.risk_of_bias if v), "rob_weights": ()})
        if not s.risk_of_bias:
            return None
    if not s.risk_of_bias:
        return Downgrade("risk of bias", 1, "not_assessed", "0 rows assessed",
                         "not assessed for any row (not assessable from the sources read)")
    weights = s.rob_weights if len(s.rob_weights) == len(s.risk_of_bias) else (1.0,) * len(s.risk_of_bias)
    scores = [ROB_SCORE.get(v, ROB_SCORE["unclear"]) if (v or rules.rob_not_assessed) else 0.0
              for v in s.risk_of_bias]
    total = sum(weights) or float(len(weights))
    mean = sum(w * x for w, x in zip(weights, scores, strict=True)) / total
    levels = 2 if mean >= threshold("rob_very_serious") else 1 if mean >= threshold("rob_serious") else 0
    if not levels:
        return None
    counts = {v or "not assessed": s.risk_of_bias.count(v) for v in dict.fromkeys(s.risk_of_bias)}
    if len(counts) == 1:
        (v, c), = counts.items()
        listing = f"{c} result{'s' if c > 1 else ''} {ROB_PHRASE.get(v, v)}"
    else:
        listing = "results by risk of bias: " + ", ".join(f"{c} {v}" for v, c in counts.items())
    return Downgrade("risk of bias", levels, "weighted_score", f"weighted score {f2(mean)} of 2",
                     f"{listing} (weighted score {f2(mean)} of 2)")


def inconsistency(s: AnalysisSummary) -> Downgrade | None:
    if s.k < 2 or s.estimate is None:
        return None
    if s.I2 is not None and s.I2 >= threshold("i2_serious"):
        return Downgrade("inconsistency", 1, "i2", f"I2 = {s.I2:.0f}%", f"I² = {s.I2:.0f}%")
    if (s.pi_low is not None and s.pi_high is not None and s.ci_low is not None
            and not (s.ci_low <= 0 <= s.ci_high) and s.pi_low <= 0 <= s.pi_high):
        pi = f"95% PI {f2(s.pi_low)} to {f2(s.pi_high)}"
        return Downgrade("inconsistency", 1, "prediction_interval", pi,
                         f"95% prediction interval {f2(s.pi_low)} to "
                         f"{f2(s.pi_high)} crosses 0 while the CI does not")
    return None


def indirectness(rel) -> Downgrade | None:
    """From the computed relevance (``evidence.relevance``): one level per aspect that
    differs (population, outcome, comparator), at most two (GRADE 8)."""
    if not rel.aspects:
        return None
    levels = min(2, len(rel.aspects))
    return Downgrade("indirectness", levels, ";".join(rel.aspects), rel.relevance, rel.reason,
                     rel.aspects)


def imprecision(s: AnalysisSummary) -> Downgrade | None:
    if s.estimate is None:
        return None
    lo, hi = s.ci_low, s.ci_high
    ci = f"95% CI {f2(lo)} to {f2(hi)}"
    mid = s.mid
    if s.measure in RATIO:
        mid = math.log(threshold("ratio_appreciable"))
    crossed, very, rules = [], False, []
    crosses_null = lo <= 0 <= hi
    if crosses_null:
        crossed.append("0")
        rules.append("ci_crosses_null")
    if mid is not None:
        if lo < -mid and hi > mid:
            very = True
            rules.append("ci_crosses_both_mids")
            crossed.append(f"both -MID and +MID ({f2(mid)})")
        elif lo < mid < hi:
            rules.append("ci_crosses_mid")
            crossed.append(f"the MID {f2(mid)}")
        elif lo < -mid < hi:
            rules.append("ci_crosses_mid")
            crossed.append(f"-MID ({f2(-mid)})")
    found = [f"{ci} crosses {' and '.join(crossed)}"] if crossed else []
    small = (s.measure in CONTINUOUS and s.n_participants is not None
             and s.n_participants < threshold("ois_continuous"))
    if small:
        rules.append("below_ois")
        found.append(f"n = {s.n_participants} < {threshold('ois_continuous'):g} (optimal information size)")
    if not found:
        return None
    if s.measure in CONTINUOUS and s.n_participants is None:
        found.append("total n not known (optimal information size not checked)")
    levels = 2 if very or (crosses_null and small) else 1
    stat = ci + (f"; MID {f2(mid)}" if mid is not None else "") + (
        f"; n = {s.n_participants}" if s.n_participants is not None else "")
    return Downgrade("imprecision", levels, ";".join(rules), stat, ", ".join(found))


def publication_bias(s: AnalysisSummary, rules_: Rules = BASE) -> Downgrade | None:
    """Reporting bias in the studies only: funnel asymmetry (Egger) at k >= egger_min_k.
    Results that exist but that we could not read are the verdict's ``provisional`` state,
    not a downgrade (the ``missing_as_bias`` variant restores the old rule)."""
    found, rules, stats = [], [], []
    if s.k >= threshold("egger_min_k") and s.egger_p is not None and s.egger_p < threshold("egger_alpha"):
        rules.append("egger")
        stats.append(f"Egger p = {s.egger_p:.3f}, k = {s.k}")
        found.append(f"Egger p = {s.egger_p:.3f} with k = {s.k}")
    if rules_.missing_as_bias and s.missing_studies and s.estimate is not None:
        rules.append("missing_results")
        stats.append(f"{len(s.missing_studies)} studies without an estimable effect")
        found.append(f"missing results: no estimable effect from {', '.join(s.missing_studies)}")
    if not found:
        return None
    return Downgrade("publication bias", 1, ";".join(rules), "; ".join(stats), ", ".join(found))


def rate(s: AnalysisSummary, rel, rules: Rules = BASE) -> Rating:
    """Certainty of one analysis for one claim (indirectness comes from its relevance)."""
    start, why = start_level(s)
    rating = Rating(s, start, why, relevance=rel)
    for d in (risk_of_bias(s, rules), inconsistency(s), imprecision(s),
              publication_bias(s, rules), indirectness(rel)):
        if d:
            rating.downgrades.append(d)
    return rating


def effect_judgement(s: AnalysisSummary, rules: Rules = BASE) -> tuple[str, str]:
    """(benefit | trivial | null | harm, how the CI sits against 0 and the MID).

    Core GRADE 2 (BMJ 2025;389:e081904) and GRADE 26: a CI that excludes no effect
    but lies wholly below the minimal important difference is a trivial effect, not
    support for an efficacy claim; where no MID exists in the outcome's units, say so.
    """
    lo, hi, mid = s.ci_low, s.ci_high, s.mid
    if s.measure in RATIO:
        mid = math.log(threshold("ratio_appreciable"))
    zero = ("excludes no effect" if lo > 0 or hi < 0 else "includes no effect")
    if mid is None:
        where = "no MID for this outcome and measure"
    elif hi < mid and lo > -mid:
        where = f"lies below the MID {f2(mid)}"
    elif lo >= mid:
        where = f"lies above the MID {f2(mid)}"
    else:
        where = f"includes the MID {f2(mid)}"
    text = f"95% CI {f2(lo)} to {f2(hi)} {zero}; {where}"
    if hi < 0:
        return "harm", text
    if lo <= 0:
        return "null", text
    if rules.mid_criterion and mid is not None and hi < mid:
        return "trivial", text
    return "benefit", text


# --- verdicts -----------------------------------------------------------------
@dataclass
class Verdict:
    claim: Claim
    verdict: str
    certainty: str = ""
    headline: AnalysisSummary | None = None
    n_studies: int | None = None
    n_participants: int | None = None
    lead: list[str] = field(default_factory=list)  # why this verdict
    ratings: list[Rating] = field(default_factory=list)  # each rated analysis, with its downgrades
    rest: list[str] = field(default_factory=list)  # unrated analyses, context, notes
    relevance: list = field(default_factory=list)  # every analysis bearing on the claim
    claim_downgrades: list[Downgrade] = field(default_factory=list)  # across analyses
    directions: dict = field(default_factory=dict)  # favour / against / no difference / unknown
    sign_test_p: float | None = None
    provisional: int = 0  # results that exist but could not be read offline
    level: int | None = None

    @property
    def wording_gap(self) -> int | None:
        """Levels by which the wording exceeds the certainty (GRADE 26); None when not graded."""
        if self.level is None:
            return None
        return max(0, self.claim.required_level - self.level)

    def outline(self) -> list[tuple[str, list[str]]]:
        """The reasons as (item, sub-items): each rating's downgrades under it. Rendered from the
        records, so a reader never has to split the ledger's prose."""
        return ([(x, []) for x in self.lead]
                + [(f"{describe(r.summary)}: {r.certainty} ({r.start_reason}; "
                    f"{r.relevance.relevance if r.relevance else 'relevance not computed'})",
                    [d.reason for d in r.downgrades]) for r in self.ratings]
                + [(f"across analyses: {d.reason}", []) for d in self.claim_downgrades]
                + [(x, []) for x in self.rest])

    @property
    def reasons(self) -> list[str]:
        """One string per item, as the ledger's ``reasons`` cell lists them."""
        return [" / ".join([head, *subs]) for head, subs in self.outline()]


def _sign_test(plus: int, minus: int) -> float | None:
    """Two-sided exact sign test of the known directions (SWiM; Cochrane Handbook 12.2.2.5)."""
    from scipy.stats import binomtest

    n = plus + minus
    return float(binomtest(plus, n, 0.5).pvalue) if n else None


def _votes(ratings, results, rules: Rules) -> tuple[dict, list[str]]:
    """Directions of every graded result: estimates by their sign, the others by what they report."""
    votes = {"favour": 0, "against": 0, "no difference": 0, "unknown": 0}
    named = []
    for r in ratings:
        est = r.summary.estimate
        votes["favour" if est > 0 else "against" if est < 0 else "no difference"] += 1
    for (lab, _rid, cls, direction, p, op), _rel in results:
        if not rules.results_without_effect or cls not in RESULT_CLASSES:
            continue
        key = {1: "favour", -1: "against", 0: "no difference"}.get(direction, "unknown")
        votes[key] += 1
        ptext = f", P {op or '='} {p:g}" if p is not None else ""
        named.append(f"{lab}: {cls.replace('_', ' ')}{ptext}")
    return votes, named


def grade_claim(claim: Claim, summaries: dict[str, AnalysisSummary],
                pages: frozenset[str] = frozenset(), relevance=None,
                rules: Rules = BASE) -> Verdict:
    """Verdict, certainty and reasons for one claim from the analyses bearing on it.

    ``relevance``: the claim's ``evidence.relevance.Relevance`` list (computed from PICO);
    when None (tests building summaries by hand), the claim's listed analyses count as
    direct. ``pages``: study ids of web pages (no study data).
    """
    from evidence.relevance import Relevance

    graded_kinds = [k for k in claim.kinds if k != "advice"]
    if not graded_kinds:
        return Verdict(claim, ADVICE, lead=["advice: practical guidance, not graded against trials"])
    if relevance is None:
        relevance = [Relevance(claim.id, a, "direct", (), "context" if summaries[a].evidence_role
                               == "context" else "graded", "listed", "listed in claims.yaml")
                     for a in claim.analyses if a in summaries]
    rel = {r.analysis_id: r for r in relevance}
    mine = [summaries[a] for a in rel if a in summaries]
    cited = [s for s in mine if rel[s.analysis_id].role == "graded"]
    context = [f"context: {s.label or s.analysis_id} {describe(s, with_id=False)} "
               f"(not cited by the article, not used for the verdict)"
               for s in mine if rel[s.analysis_id].role == "context" and s.estimate is not None]
    base = dict(relevance=relevance)
    if not claim.sources:
        return Verdict(claim, NO_EVIDENCE, lead=["no source cited for this claim"],
                       rest=context, **base)
    studies = [src for src in claim.sources if src not in pages]
    if not studies and not cited:
        return Verdict(claim, NO_EVIDENCE, lead=[
            f"only secondary web pages cited ({', '.join(claim.sources)}): no study data to grade"],
            rest=context, **base)
    estimable = [s for s in cited if s.estimate is not None]
    ratings = [rate(s, rel[s.analysis_id], rules) for s in estimable]
    on_target = {s.analysis_id for s in cited
                 if not {"population", "outcome"} & set(rel[s.analysis_id].aspects)}
    results = [(x, rel[s.analysis_id]) for s in cited for x in s.results]
    provisional = sum(1 for (x, _r) in results if x[2] == "not_reachable")
    judged = {r.summary.analysis_id: effect_judgement(r.summary, rules) for r in ratings}
    target = [r for r in ratings if r.summary.analysis_id in on_target]
    votes, named = _votes(target, [(x, r) for x, r in results if r.analysis_id in on_target],
                          rules)
    sign_p = _sign_test(votes["favour"], votes["against"])
    helped = [r for r in target if judged[r.summary.analysis_id][0] == "benefit"]
    other_help = [r for r in ratings if r not in target
                  and judged[r.summary.analysis_id][0] == "benefit"]
    not_helped = [r for r in target if r not in helped]
    res_votes, _ = _votes([], [(x, r) for x, r in results if r.analysis_id in on_target], rules)
    nulls = res_votes["no difference"] + res_votes["against"]
    uncovered = [k for k in graded_kinds if not _covered(k, [r.summary for r in target] or estimable)]
    what = [f"{len(helped)} of {len(target)} on-target estimates show an important benefit"
            if target else "no estimate measures the claim's outcome in its population"]
    what += [f"{r.summary.analysis_id}: {judged[r.summary.analysis_id][0]} "
             f"({judged[r.summary.analysis_id][1]})" for r in target]
    if named:
        what.append("results without an effect size, on target: " + "; ".join(named))
    dir_text = (f"directions of on-target results: {votes['favour']} favour, {votes['against']} "
                f"against, {votes['no difference']} no difference, {votes['unknown']} unknown"
                + (f" (sign test p = {sign_p:.2f})" if sign_p is not None else ""))
    claim_downgrades = []
    # The stated rule for conflicting results: a known null or unfavourable result on target
    # weighs as much as a benefit; with both present the claim loses a level for
    # inconsistency (unexplained conflicting results, GRADE 7) and is at most partly supported.
    conflicting = helped and (not_helped or nulls)
    if conflicting:
        n_null = len(not_helped) + nulls
        claim_downgrades.append(Downgrade(
            "inconsistency", 1, "conflicting_results",
            f"{len(helped)} benefit vs {n_null} null, trivial or unfavourable",
            f"{len(helped)} on-target estimate(s) show a benefit, {n_null} on-target result(s) "
            "do not (null, trivial or unfavourable)"))
    pool = target or ratings
    level = (min(r.level for r in pool) - sum(d.levels for d in claim_downgrades)) if pool else None
    level = max(1, level) if level is not None else None
    if not ratings and not (named and rules.results_without_effect):
        verdict, why = NOT_SUPPORTED, "no estimable effect from the cited sources"
    elif not helped:
        verdict = NOT_SUPPORTED
        if other_help:
            why = ("a benefit is shown only in other populations or on other outcomes than the "
                   "claim's (" + ", ".join(r.summary.analysis_id for r in other_help) + ")")
        elif target:
            why = "no on-target estimate shows an important benefit"
        else:
            why = "nothing measures the claim's outcome in its population"
    elif (not conflicting and not any(r.indirect for r in helped) and not uncovered
          and level >= claim.required_level):
        verdict, why = SUPPORTED, (f"every on-target result shows a benefit at "
                                   f"{CERTAINTY[level - 1]} certainty, directly")
    else:
        parts = []
        if conflicting:
            parts.append("results conflict (a null result weighs as much as a benefit)")
        if any(r.indirect for r in helped):
            parts.append("the benefit is indirect")
        if level < claim.required_level:
            parts.append(f"certainty {CERTAINTY[level - 1]} is below what the wording "
                         f"('{claim.strength}') needs")
        verdict, why = PARTLY, ", ".join(parts) or "some on-target results show a benefit"
    why = ", ".join([why] + [f"{k}: no cited analysis measures it" for k in uncovered])
    lead = [why, *what, dir_text]
    if provisional:
        lead.append(f"provisional: {provisional} result(s) not reachable offline, listed in "
                    "wanted.csv")
    best = _best(target, rel)
    unrated = [describe(s) for s in cited if s.estimate is None]
    v = Verdict(claim, verdict, CERTAINTY[level - 1] if level else "", best and best.summary,
                best.summary.k if best else None, best.summary.n_participants if best else None,
                lead=lead, ratings=ratings, rest=unrated + context, relevance=relevance,
                claim_downgrades=claim_downgrades, directions=votes, sign_test_p=sign_p,
                provisional=provisional, level=level)
    if verdict == NOT_SUPPORTED:
        v.headline, v.n_studies, v.n_participants = None, None, None
    return v


def _best(target: list[Rating], rel: dict) -> Rating | None:
    """The best estimate: the most direct on-target rating, then the most precise (narrowest CI)."""
    if not target:
        return None
    return min(target, key=lambda r: (len(rel[r.summary.analysis_id].aspects),
                                      r.summary.ci_high - r.summary.ci_low))


def _covered(kind: str, summaries) -> bool:
    if kind == "safety":
        return any(s.outcome in SAFETY_OUTCOMES for s in summaries)
    return bool(summaries)  # efficacy and mechanism: indirectness handles the mismatch


# --- output, command line -------------------------------------------------------
def analysis_mid(table, fit) -> float | None:
    """The MID of an analysis (``evidence.mids.lookup`` on its outcome, measure and instruments)."""
    instruments = set(fit.rows["instrument"].dropna()) if "instrument" in fit.rows else set()
    hit = mids.lookup(table, fit.spec.outcome, fit.spec.measure, instruments)
    return hit.mid if hit else None


def _fmt(x) -> str:
    return "" if x is None else f"{x:.3f}"


def _csv(header, rows) -> str:
    from evidence.cells import safe_row  # text a spreadsheet would run as a formula gets a '

    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(header)
    out.writerows(safe_row(r) for r in rows)
    return buf.getvalue()


def write_verdicts(verdicts: list[Verdict], path) -> None:
    """Deterministic ledger: sorted by claim id, 3 decimals, reasons joined by '; '."""
    rows = []
    for v in sorted(verdicts, key=lambda v: v.claim.id):
        h = v.headline
        rows.append([v.claim.id, ", ".join(v.claim.kinds), v.verdict, v.certainty,
                     _fmt(h and h.estimate), _fmt(h and h.ci_low), _fmt(h and h.ci_high),
                     h.measure if h else "", "" if v.n_studies is None else v.n_studies,
                     "" if v.n_participants is None else v.n_participants,
                     "; ".join(r.replace(";", ",") for r in v.reasons),
                     ", ".join(v.claim.sources), h.analysis_id if h else "", v.claim.strength,
                     v.claim.strength_phrase,
                     "" if v.wording_gap is None else v.wording_gap,
                     f"provisional: {v.provisional} result(s) not reachable offline, listed in "
                     "wanted.csv" if v.provisional else "",
                     "; ".join(f"{k} {n}" for k, n in v.directions.items()),
                     "" if v.sign_test_p is None else f"{v.sign_test_p:.3f}",
                     "; ".join(f"{r.analysis_id} ({r.relevance}{', context' if r.role == 'context' else ''})"
                               for r in v.relevance)])
    atomic.write_text(path, _csv(COLUMNS, rows))


DOWNGRADE_COLUMNS = ["claim_id", "analysis_id", "domain", "levels", "rule", "statistic", "reason"]


def downgrade_rows(verdicts: list[Verdict]) -> list[list]:
    """One row per downgrade of each rated analysis of each claim (the records behind the prose);
    a downgrade across the claim's analyses has a blank analysis_id."""
    out = []
    for v in sorted(verdicts, key=lambda v: v.claim.id):
        out += [[v.claim.id, r.summary.analysis_id, d.domain, d.levels, d.rule, d.statistic,
                 d.detail] for r in v.ratings for d in r.downgrades]
        out += [[v.claim.id, "", d.domain, d.levels, d.rule, d.statistic, d.detail]
                for d in v.claim_downgrades]
    return out


def write_downgrades(verdicts: list[Verdict], path) -> None:
    atomic.write_text(path, _csv(DOWNGRADE_COLUMNS, downgrade_rows(verdicts)))


def add_study_facts(rows: pd.DataFrame, studies) -> pd.DataFrame:
    """Give effects rows their study's risk_of_bias (when absent) and size: n analysed where
    studies.csv gives it, else n randomised (used only where the rows give no arm sizes)."""
    from evidence.effects.schema import load_studies

    if not Path(studies).exists():
        return rows
    table = pd.DataFrame(load_studies(studies)).set_index("study_id")
    if "n_analysed" in table:  # participants analysed, where known, count before those randomised
        analysed = pd.to_numeric(table["n_analysed"].replace("", None), errors="coerce")
        table["n_randomised"] = analysed.fillna(pd.to_numeric(table["n_randomised"], errors="coerce"))
    for column in ("risk_of_bias", "n_randomised"):
        if column not in rows and column in table:
            rows = rows.assign(**{column: rows["study_id"].map(table[column])})
    return rows


def add_arguments(parser) -> None:
    parser.add_argument("--claims", type=Path, default=None, help="claims file (YAML)")
    parser.add_argument("--effects", type=Path, default=None, help="effects.csv")
    parser.add_argument("--fits", type=Path, default=None,
                        help="the analysis stage (default: data/derived/analyses.csv)")
    parser.add_argument("--analyses", type=Path, default=None,
                        help="curated analyses (default: data/analyses.yaml)")
    parser.add_argument("--mids", type=Path, default=None, help="minimal important differences")
    parser.add_argument("--studies", type=Path, default=None, help="studies.csv")
    parser.add_argument("--records", type=Path, default=None, help="PubMed snapshot")
    parser.add_argument("--output", type=Path, default=None, help="verdicts CSV to write")
    parser.add_argument("--downgrades", type=Path, default=None,
                        help="downgrades CSV to write (default: data/derived/downgrades.csv)")


def grade_all(*, fits=None, claims_path=None, studies=None, records=None, mids_path=None,
              rules: Rules = BASE) -> list:
    """Summarise every fitted analysis, find what bears on each claim and grade it.

    ``fits``: the analysis stage (``evidence.analyses.read_fits``); read from
    ``data/derived/analyses.csv`` when not given. Nothing is refitted here.
    """
    from evidence import analyses, relevance  # the analysis stage; imported lazily
    from evidence.effects.schema import load_studies

    studies = Path(studies or paths.STUDIES)
    fits = analyses.read_fits() if fits is None else fits
    claims = load_claims(claims_path, known_sources=known_sources(studies, records),
                         known_analyses=set(fits))
    table = mids.load(mids_path)
    summaries, facts = {}, {}
    for aid, fit in fits.items():
        rows = add_study_facts(fit.rows, studies)
        facts[aid] = analyses.Fit(fit.spec, rows, fit.result, rows.loc[fit.estimable_rows.index]
                                  if len(fit.estimable_rows) else fit.estimable_rows)
        summaries[aid] = summarise(facts[aid], mid=analysis_mid(table, fit))
    pages = frozenset(web_pages(studies))
    sheet = load_studies(studies) if studies.exists() else []
    return [grade_claim(c, summaries, pages, relevance.for_claim(
                c, facts, sheet, unknown_comparator_indirect=rules.unknown_comparator_indirect),
                rules) for c in claims]


def sensitivity(base: list[Verdict], **inputs) -> list[list]:
    """Each verdict and certainty recomputed under every rule variant (``SENSITIVITY``)."""
    by_id = {v.claim.id: v for v in base}
    rows = []
    for name, (what, rules) in SENSITIVITY.items():
        for v in grade_all(rules=rules, **inputs):
            b = by_id[v.claim.id]
            moved = (v.verdict, v.certainty) != (b.verdict, b.certainty)
            rows.append([v.claim.id, name, what, v.verdict, v.certainty, b.verdict, b.certainty,
                         "yes" if moved else "no"])
    return sorted(rows, key=lambda r: (r[0], list(SENSITIVITY).index(r[1])))


SENSITIVITY_COLUMNS = ["claim_id", "variant", "what_changes", "verdict", "certainty",
                       "base_verdict", "base_certainty", "moved"]
RELEVANCE_COLUMNS = ["claim_id", "analysis_id", "relevance", "aspects", "role", "source", "reason"]


def relevance_rows(verdicts: list[Verdict]) -> list[list]:
    return [[r.claim_id, r.analysis_id, r.relevance, ";".join(r.aspects), r.role, r.source,
             r.reason] for v in sorted(verdicts, key=lambda v: v.claim.id) for r in v.relevance]


def run(args) -> int:
    from evidence import analyses

    effects_path = Path(args.effects or paths.EFFECTS)
    if not effects_path.exists():
        raise EvidenceError(f"{effects_path} not found: run `evidence extract` first")
    specs = analyses.load_specs(args.analyses)
    fits = analyses.read_fits(args.fits, effects=pd.read_csv(effects_path), specs=specs)
    verdicts = grade_all(fits=fits, claims_path=args.claims, studies=args.studies,
                         records=args.records, mids_path=args.mids)
    out = Path(args.output or paths.VERDICTS)
    write_verdicts(verdicts, out)
    write_downgrades(verdicts, args.downgrades or paths.DOWNGRADES)
    derived = out.parent
    atomic.write_text(derived / "relevance.csv", _csv(RELEVANCE_COLUMNS, relevance_rows(verdicts)))
    inputs = dict(fits=fits, claims_path=args.claims, studies=args.studies, records=args.records,
                  mids_path=args.mids)
    atomic.write_text(derived / "verdict_sensitivity.csv",
                      _csv(SENSITIVITY_COLUMNS, sensitivity(verdicts, **inputs)))
    from evidence import sof

    atomic.write_text(derived / "summary_of_findings.csv", _csv(sof.COLUMNS, sof.rows(verdicts)))
    counts = pd.Series([v.verdict for v in verdicts]).value_counts().sort_index()
    print(f"graded {len(verdicts)} claims -> {out}: "
          + ", ".join(f"{v} {n}" for v, n in counts.items()))
    return 0
