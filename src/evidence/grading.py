"""Grade every claim of the article from explicit GRADE-style rules over the data.

Each claim of ``data/claims.yaml`` names the analyses that bear on it. Every
*cited* analysis is rated on its own, GRADE-style (certainty starts high for
randomised evidence, low otherwise, and loses levels for five domains); the
claim then gets a verdict and a certainty from those ratings. *Context*
analyses (evidence the article does not cite) are reported in the reasons,
never used for the verdict. Nothing is typed by hand: change a number in the
extraction sheets and the verdicts follow.

Thresholds, with their sources (GRADE = Guyatt et al., GRADE guidelines series,
J Clin Epidemiol 2011; handbook = GRADE handbook, Schünemann et al. 2013):

- start: high for randomised trials, low for other designs (GRADE 3, Balshem
  et al. 2011, 64:401). Quasi-randomised trials count as non-randomised.
  Rows from a systematic review / meta-analysis start high (the cited review,
  Li 2014, pooled RCTs only); a narrative review starts low.
- risk of bias (GRADE 4, 64:407): rows scored low 0, some concerns/unclear 1,
  high 2 (not assessed counts as unclear), averaged with the meta-analytic
  weights (else participants): mean >= ``ROB_SERIOUS`` -> -1, >=
  ``ROB_VERY_SERIOUS`` -> -2.
- inconsistency (GRADE 7, 64:1294; Cochrane Handbook 10.10.2): I² >=
  ``I2_SERIOUS`` (50%), or the prediction interval crosses 0 while the CI does
  not -> -1. Not assessable for one study.
- indirectness (GRADE 8, 64:1303): each of population (trial conditions not
  among the claim's), comparator (benefit over no treatment claimed from trials
  against active/sham/attention controls), outcome (claimed outcome or mechanism
  not measured) that differs -> one level, at most two.
- imprecision (GRADE 6, 64:1283): serious (-1) when the 95% CI crosses 0, or
  crosses the minimal important difference, or the total n of a continuous
  outcome is below the optimal information size ``ois_continuous`` (400);
  very serious (-2) when the CI spans both appreciable benefit and harm
  (±MID), or crosses 0 with n below the OIS. Ratio measures use RR 0.75/1.25.
- publication bias (GRADE 5, 64:1277; Sterne et al. 2011 BMJ 343:d4002): only
  with k >= ``EGGER_MIN_K`` (10) and Egger's test p < ``EGGER_ALPHA`` -> -1.
  Missing results (Cochrane Handbook ch. 13, bias due to missing evidence) count
  in the same domain: a study in the analysis with no estimable row at all -> -1
  (at most one level for the domain).

Rows an analysis could not use (not estimable) stay visible: they are named,
with their reason, in the verdict's reasons. When arm sizes are missing, a
study's total n comes from ``n_randomised`` in studies.csv.

Verdicts: ``supported`` when every cited analysis shows benefit (CI above 0),
none is indirect, every kind of the claim has evidence, and certainty reaches
what the claim's wording asserts (``MIN_CERTAINTY_SUPPORTED``, after GRADE 26,
Santesso et al. 2020, 119:126: a plain "X reduces" statement needs high
certainty, "X likely reduces" moderate, "X may reduce" low; claims are either
plain or hedged with "may"/"can help");
``partly supported (overstated)`` when some cited analysis shows benefit but not
all of that holds; ``not supported by the cited evidence`` when none does, or
when every benefit is in another population or on another outcome (e.g. panic
disorder claimed from GAD trials, a mechanism claimed from symptom scores);
``no evidence cited`` when the claim cites nothing, or only secondary web pages
with no study data; ``advice (not graded)`` for advice. A claim's certainty is
the lowest of its cited analyses (GRADE 11, Guyatt et al. 2013,
doi:10.1016/j.jclinepi.2012.01.006: overall certainty follows the lowest critical outcome).
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
from evidence.errors import EvidenceError
from evidence.vocabulary import (
    ACTIVE_CONTROLS,
    CONTINUOUS,
    INACTIVE_CLAIMS,
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
           "measure", "n_studies", "n_participants", "reasons", "sources"]


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
        missing_studies=tuple(sorted(set(_texts(left_out.get("study_id", pd.Series(dtype=str))))
                                     - {sid for sid, _, _ in studies})))


# --- the rules --------------------------------------------------------------
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
        return not any({"population", "outcome"} & set(d.aspects) for d in self.downgrades)

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


def risk_of_bias(s: AnalysisSummary) -> Downgrade | None:
    if not s.risk_of_bias:
        return Downgrade("risk of bias", 1, "not_assessed", "0 rows assessed",
                         "not assessed for any row")
    weights = s.rob_weights if len(s.rob_weights) == len(s.risk_of_bias) else (1.0,) * len(s.risk_of_bias)
    scores = [ROB_SCORE.get(v, ROB_SCORE["unclear"]) for v in s.risk_of_bias]
    total = sum(weights) or float(len(weights))
    mean = sum(w * x for w, x in zip(weights, scores, strict=True)) / total
    levels = 2 if mean >= threshold("rob_very_serious") else 1 if mean >= threshold("rob_serious") else 0
    if not levels:
        return None
    counts = {v or "not assessed": s.risk_of_bias.count(v) for v in dict.fromkeys(s.risk_of_bias)}
    listing = ", ".join(f"{c} {v}" for v, c in counts.items())
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


def indirectness(s: AnalysisSummary, claim: Claim) -> Downgrade | None:
    found, aspects, stats = [], [], []
    wanted = set(claim.pico.get("conditions") or [])
    off = [c for c in s.conditions if c not in wanted]
    if wanted and off:
        aspects.append("population")
        stats.append(f"conditions {', '.join(off)}")
        found.append(f"population: trials in {', '.join(off)}, claim about "
                     f"{', '.join(sorted(wanted))}")
    claimed_cmp = claim.pico.get("comparator_type", "any")
    active = [t for t in s.comparator_types if t in ACTIVE_CONTROLS]
    if claimed_cmp in INACTIVE_CLAIMS and active:
        aspects.append("comparator")
        stats.append(f"comparator {', '.join(active)}")
        which = f"{', '.join(s.comparators)} " if s.comparators else ""
        found.append(f"comparator: {which}({', '.join(active)}), claim implies {claimed_cmp}")
    outcomes = set(claim.pico.get("outcomes") or [])
    if outcomes and s.outcome not in outcomes:
        aspects.append("outcome")
        stats.append(f"outcome {s.outcome}")
        claimed = ", ".join(sorted(outcomes))
        what = f"mechanism claimed ({claimed})" if "mechanism" in claim.kinds else f"claim is about {claimed}"
        found.append(f"outcome: {what}, trials measured {s.outcome}")
    if not found:
        return None
    levels = min(2, len(found))
    return Downgrade("indirectness", levels, ";".join(aspects), "; ".join(stats), ", ".join(found),
                     tuple(aspects))


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


def publication_bias(s: AnalysisSummary) -> Downgrade | None:
    found, rules, stats = [], [], []
    if s.k >= threshold("egger_min_k") and s.egger_p is not None and s.egger_p < threshold("egger_alpha"):
        rules.append("egger")
        stats.append(f"Egger p = {s.egger_p:.3f}, k = {s.k}")
        found.append(f"Egger p = {s.egger_p:.3f} with k = {s.k}")
    if s.missing_studies and s.estimate is not None:
        rules.append("missing_results")
        stats.append(f"{len(s.missing_studies)} studies without an estimable effect")
        found.append(f"missing results: no estimable effect from {', '.join(s.missing_studies)}")
    if not found:
        return None
    return Downgrade("publication bias", 1, ";".join(rules), "; ".join(stats), ", ".join(found))


def rate(s: AnalysisSummary, claim: Claim) -> Rating:
    """Certainty of one analysis for one claim (indirectness depends on the claim)."""
    start, why = start_level(s)
    rating = Rating(s, start, why)
    for rule in (risk_of_bias, inconsistency, imprecision, publication_bias):
        d = rule(s)
        if d:
            rating.downgrades.append(d)
    d = indirectness(s, claim)
    if d:
        rating.downgrades.append(d)
    return rating


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

    def outline(self) -> list[tuple[str, list[str]]]:
        """The reasons as (item, sub-items): each rating's downgrades under it. Rendered from the
        records, so a reader never has to split the ledger's prose."""
        return ([(x, []) for x in self.lead]
                + [(f"{describe(r.summary)}: {r.certainty} ({r.start_reason})",
                    [d.reason for d in r.downgrades]) for r in self.ratings]
                + [(x, []) for x in self.rest])

    @property
    def reasons(self) -> list[str]:
        """One string per item, as the ledger's ``reasons`` cell lists them."""
        return [" / ".join([head, *subs]) for head, subs in self.outline()]


def _pooled_counts(summaries) -> tuple[int | None, int | None]:
    """Distinct studies (a pooled review row counts its k) and their largest n across analyses."""
    per_study: dict[str, tuple[int | None, int]] = {}
    for s in summaries:
        for sid, n, k in s.studies:
            old_n, old_k = per_study.get(sid, (None, 0))
            known = [x for x in (old_n, n) if x is not None]
            per_study[sid] = (max(known) if known else None, max(old_k, k))
    if not per_study:
        return None, None
    ns = [n for n, _ in per_study.values() if n is not None]
    return sum(k for _, k in per_study.values()), (sum(ns) if ns else None)


def grade_claim(claim: Claim, summaries: dict[str, AnalysisSummary],
                pages: frozenset[str] = frozenset()) -> Verdict:
    """Verdict, certainty and reasons for one claim from its analyses' summaries.

    ``pages``: study ids of web pages (no study data; ``claims.web_pages``)."""
    graded = [k for k in claim.kinds if k != "advice"]
    if not graded:
        return Verdict(claim, ADVICE, lead=["advice: practical guidance, not graded against trials"])
    mine = [summaries[a] for a in claim.analyses if a in summaries]
    cited = [s for s in mine if s.evidence_role != "context"]
    context = [f"context: {s.label or s.analysis_id} {describe(s, with_id=False)} "
               f"(not cited by the article, not used for the verdict)"
               for s in mine if s.evidence_role == "context"]
    missing = [a for a in claim.analyses if a not in summaries]
    notes = [f"analysis {a} not fitted" for a in missing]
    if not claim.sources:
        return Verdict(claim, NO_EVIDENCE, lead=["no source cited for this claim"],
                       rest=context + notes)
    studies = [src for src in claim.sources if src not in pages]
    if not studies and not cited:
        cited_pages = ", ".join(claim.sources)
        return Verdict(claim, NO_EVIDENCE, lead=[
            f"only secondary web pages cited ({cited_pages}): no study data to grade"],
            rest=context + notes)
    estimable = [s for s in cited if s.estimate is not None]
    if not estimable:
        return Verdict(claim, NOT_SUPPORTED, lead=["no estimable effect from the cited sources"],
                       rest=[describe(s) for s in cited] + context + notes)
    ratings = [rate(s, claim) for s in estimable]
    level = min(r.level for r in ratings)
    n_studies, n_part = _pooled_counts(estimable)
    helped = [r for r in ratings if r.benefit]
    uncovered = [k for k in graded if not _covered(k, estimable)]
    if not helped:
        verdict = NOT_SUPPORTED
        why = "no cited analysis shows a benefit (every 95% CI reaches 0 or below)"
    elif not any(r.on_target for r in helped):
        verdict = NOT_SUPPORTED
        why = ("a benefit is shown only in other populations or on other outcomes than the "
               "claim's (" + ", ".join(r.summary.analysis_id for r in helped) + ")")
    elif (len(helped) == len(cited) and not any(r.indirect for r in ratings) and not uncovered
          and level >= MIN_CERTAINTY_SUPPORTED[claim.hedged]):
        verdict, why = SUPPORTED, (f"every cited analysis shows a benefit at {CERTAINTY[level - 1]} "
                                   f"certainty, directly")
    else:
        blank = len(cited) - len(ratings)
        parts = [f"{len(helped)} of {len(cited)} cited analyses show a benefit"
                 + (f" ({blank} without an estimable effect)" if blank else "")]
        if any(r.indirect for r in ratings):
            parts.append("evidence is indirect")
        if level < MIN_CERTAINTY_SUPPORTED[claim.hedged]:
            parts.append(f"certainty {CERTAINTY[level - 1]} is below what "
                         f"{'a hedged' if claim.hedged else 'an unhedged'} claim needs")
        parts += [f"{k}: no cited analysis measures it" for k in uncovered]
        verdict, why = PARTLY, ", ".join(parts)
    if verdict == NOT_SUPPORTED:
        why = ", ".join([why] + [f"{k}: no cited analysis measures it" for k in uncovered])
    unrated = [describe(s) for s in cited if s.estimate is None]
    return Verdict(claim, verdict, CERTAINTY[level - 1], estimable[0], n_studies, n_part,
                   lead=[why], ratings=ratings, rest=unrated + context + notes)


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
                     ", ".join(v.claim.sources)])
    atomic.write_text(path, _csv(COLUMNS, rows))


DOWNGRADE_COLUMNS = ["claim_id", "analysis_id", "domain", "levels", "rule", "statistic", "reason"]


def downgrade_rows(verdicts: list[Verdict]) -> list[list]:
    """One row per downgrade of each rated analysis of each claim (the records behind the prose)."""
    return [[v.claim.id, r.summary.analysis_id, d.domain, d.levels, d.rule, d.statistic, d.detail]
            for v in sorted(verdicts, key=lambda v: v.claim.id)
            for r in v.ratings for d in r.downgrades]


def write_downgrades(verdicts: list[Verdict], path) -> None:
    atomic.write_text(path, _csv(DOWNGRADE_COLUMNS, downgrade_rows(verdicts)))


def add_study_facts(rows: pd.DataFrame, studies) -> pd.DataFrame:
    """Give effects rows their study's risk_of_bias (when absent) and n_randomised."""
    from evidence.effects.schema import load_studies

    if not Path(studies).exists():
        return rows
    table = pd.DataFrame(load_studies(studies)).set_index("study_id")
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


def grade_all(*, fits=None, claims_path=None, studies=None, records=None, mids_path=None) -> list:
    """Summarise every fitted analysis and grade each claim: the whole grading step.

    ``fits``: the analysis stage (``evidence.analyses.read_fits``); read from
    ``data/derived/analyses.csv`` when not given. Nothing is refitted here.
    """
    from evidence import analyses  # the analysis stage; imported lazily

    studies = Path(studies or paths.STUDIES)
    fits = analyses.read_fits() if fits is None else fits
    claims = load_claims(claims_path, known_sources=known_sources(studies, records),
                         known_analyses=set(fits))
    table = mids.load(mids_path)
    summaries = {}
    for aid, fit in fits.items():
        rows = add_study_facts(fit.rows, studies)
        summaries[aid] = summarise(analyses.Fit(fit.spec, rows, fit.result, fit.estimable_rows),
                                   mid=analysis_mid(table, fit))
    pages = frozenset(web_pages(studies))
    return [grade_claim(c, summaries, pages) for c in claims]


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
    counts = pd.Series([v.verdict for v in verdicts]).value_counts().sort_index()
    print(f"graded {len(verdicts)} claims -> {out}: "
          + ", ".join(f"{v} {n}" for v, n in counts.items()))
    return 0
