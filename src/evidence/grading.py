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
  outcome is below the optimal information size ``OIS_CONTINUOUS`` (400);
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
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from evidence import paths
from evidence.curated import read_yaml_list
from evidence.errors import DataError, EvidenceError

MIDS = paths.DATA / "mids.csv"
STUDIES = paths.EXTRACTION / "studies.csv"

# --- thresholds (sources in the module docstring) ---------------------------
I2_SERIOUS = 50.0
OIS_CONTINUOUS = 400
EGGER_MIN_K = 10
EGGER_ALPHA = 0.10
RATIO_APPRECIABLE = 1.25
ROB_SCORE = {"low": 0.0, "some concerns": 1.0, "unclear": 1.0, "high": 2.0}
ROB_SERIOUS, ROB_VERY_SERIOUS = 0.5, 1.5
CERTAINTY = ("very low", "low", "moderate", "high")  # index = level - 1
MIN_CERTAINTY_SUPPORTED = {False: 4, True: 2}  # claim hedged? -> lowest level (GRADE 26)

RANDOMISED = {"RCT", "crossover RCT", "systematic review", "meta-analysis"}
CONTINUOUS = {"SMD", "MD"}
RATIO = {"logOR", "logRR"}
ACTIVE_CONTROLS = {"active", "sham", "attention control"}
INACTIVE_CLAIMS = {"no treatment", "usual care", "waitlist"}
SAFETY_OUTCOMES = {"adverse_events"}

KINDS = {"efficacy", "safety", "mechanism", "advice"}
WEB_PAGES = {"nccih_digest", "nccih_wyntk"}
CLAIM_ID = re.compile(r"^C\d{2}$")
CLAIM_KEYS = {"id", "section", "kind", "claim", "hedged", "sources", "pico", "analyses", "notes"}
PICO_KEYS = ("population", "intervention", "comparator", "outcome")
COMPARATOR_TYPES = {"no treatment", "usual care", "waitlist", "any"}

SUPPORTED = "supported"
PARTLY = "partly supported (overstated)"
NOT_SUPPORTED = "not supported by the cited evidence"
NO_EVIDENCE = "no evidence cited"
ADVICE = "advice (not graded)"

COLUMNS = ["claim_id", "kind", "verdict", "certainty", "best_estimate", "ci_low", "ci_high",
           "measure", "n_studies", "n_participants", "reasons", "sources"]


# --- claims -----------------------------------------------------------------
@dataclass(frozen=True)
class Claim:
    id: str
    section: str
    kinds: tuple[str, ...]
    claim: str
    sources: tuple[str, ...]
    pico: dict
    analyses: tuple[str, ...]
    hedged: bool = False


def load_claims(path=None, known_sources=None, known_analyses=None) -> list[Claim]:
    """Read and check the claims file; a bad entry raises DataError naming claim and field.

    ``known_sources`` / ``known_analyses`` (sets) switch on the cross-checks.
    """
    path = Path(path or paths.CLAIMS)
    entries = read_yaml_list(path, "claims")
    claims, seen = [], set()
    for i, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise DataError("each claim must be a mapping", file=path, row=i)
        cid = entry.get("id")

        def bad(msg, fld, where=f"{i} ({cid})"):
            return DataError(msg, file=path, row=where, field=fld)

        if not isinstance(cid, str) or not CLAIM_ID.match(cid):
            raise bad(f"claim id {cid!r} does not match C01-C99", "id")
        if cid in seen:
            raise bad(f"duplicate claim id {cid}", "id")
        seen.add(cid)
        unknown = sorted(set(entry) - CLAIM_KEYS)
        if unknown:
            raise bad(f"unknown keys {unknown}", unknown[0])
        for key in ("section", "kind", "claim", "pico"):
            if entry.get(key) in (None, "", []):
                raise bad("missing", key)
        kinds = entry["kind"] if isinstance(entry["kind"], list) else [entry["kind"]]
        for kind in kinds:
            if kind not in KINDS:
                raise bad(f"unknown kind {kind!r}; one of {sorted(KINDS)}", "kind")
        pico = entry["pico"]
        if not isinstance(pico, dict):
            raise bad("pico must be a mapping", "pico")
        for key in PICO_KEYS:
            if not pico.get(key):
                raise bad("missing", f"pico.{key}")
        if pico.get("comparator_type", "any") not in COMPARATOR_TYPES:
            raise bad(f"unknown comparator_type {pico.get('comparator_type')!r}; "
                      f"one of {sorted(COMPARATOR_TYPES)}", "pico.comparator_type")
        sources = entry.get("sources") or []
        analyses = entry.get("analyses") or []
        for fld, values in (("sources", sources), ("analyses", analyses),
                            ("pico.conditions", pico.get("conditions", [])),
                            ("pico.outcomes", pico.get("outcomes", []))):
            if not isinstance(values, list):
                raise bad("must be a list", fld)
        if known_sources is not None:
            for src in sources:
                if str(src) not in known_sources:
                    raise bad(f"source {src!r} is neither in studies.csv, the PubMed snapshot, "
                              f"nor a known web page", "sources")
        if known_analyses is not None:
            for aid in analyses:
                if aid not in known_analyses:
                    raise bad(f"analysis {aid!r} is not among the analyses", "analyses")
        claims.append(Claim(id=cid, section=str(entry["section"]), kinds=tuple(kinds),
                            claim=str(entry["claim"]), sources=tuple(str(s) for s in sources),
                            pico=dict(pico), analyses=tuple(analyses),
                            hedged=bool(entry.get("hedged", False))))
    return claims


def known_sources(studies=STUDIES, records=paths.RECORDS) -> set[str]:
    """Source keys a claim may cite: study ids, snapshot PMIDs (bare or ``pmid:``), web pages."""
    keys = set(WEB_PAGES)
    if Path(studies).exists():
        keys |= set(pd.read_csv(studies, dtype=str)["study_id"].dropna())
    if Path(records).exists():
        for line in Path(records).read_text(encoding="utf-8").splitlines():
            if line.strip():
                pmid = str(json.loads(line)["pmid"])
                keys |= {pmid, f"pmid:{pmid}"}
    return keys


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
    """Participants per study: largest massage arm + every control arm (multi-arm trials);
    when the rows give no arm sizes, the study's ``n_randomised`` (studies.csv) if known."""
    out = []
    for sid, grp in rows.groupby("study_id", sort=True):
        nm, nc = _column(grp, "n_massage"), _column(grp, "n_control")
        nr = _column(grp, "n_randomised")
        n = None
        if nm.notna().any() or nc.notna().any():
            n = int((nm.max() if nm.notna().any() else 0) + nc.fillna(0).sum())
        elif nr.notna().any():
            n = int(nr.max())
        k = pd.to_numeric(grp["k_studies"], errors="coerce").max() if "k_studies" in grp else None
        out.append((str(sid), n, int(k) if k is not None and not math.isnan(k) else 1))
    return tuple(out)


def _egger_p(result) -> float | None:
    """Egger's test p from evidence.meta.egger (duck-typed: attribute or key pval/p)."""
    try:
        from evidence.meta import egger
        res = egger(result.yi, result.vi)
    except Exception:  # meta step missing or test not computable: say nothing
        return None
    for name in ("pval", "p", "p_value"):
        val = getattr(res, name, None)
        if val is None and isinstance(res, dict):
            val = res.get(name)
        if val is not None:
            return _num(val)
    return None


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
        if k >= EGGER_MIN_K:
            egger_p = _egger_p(result)
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
        n_row = _column(est_rows, "n_massage").fillna(0) + _column(est_rows, "n_control").fillna(0)
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
    domain: str
    levels: int
    reason: str
    aspects: tuple[str, ...] = ()  # indirectness: which of population, comparator, outcome


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


def describe(s: AnalysisSummary) -> str:
    """'id: SMD 0.62 (95% CI 0.05 to 1.20), k=9, n=404' or 'id: no estimable effect'."""
    left = f", not estimable: {', '.join(s.not_estimable)}" if s.not_estimable else ""
    if s.estimate is None:
        return f"{s.analysis_id}: no estimable effect{left}"
    n = f", n={s.n_participants}" if s.n_participants is not None else ""
    return (f"{s.analysis_id}: {s.measure} {f2(s.estimate)} (95% CI {f2(s.ci_low)} to "
            f"{f2(s.ci_high)}), k={s.k}{n}{left}")


def start_level(s: AnalysisSummary) -> tuple[int, str]:
    if s.designs and set(s.designs) <= RANDOMISED:
        return 4, f"start high: randomised ({', '.join(s.designs)})"
    other = sorted(set(s.designs) - RANDOMISED) or ["design not recorded"]
    return 2, f"start low: non-randomised ({', '.join(other)})"


def risk_of_bias(s: AnalysisSummary) -> Downgrade | None:
    if not s.risk_of_bias:
        return Downgrade("risk of bias", 1, "risk of bias -1: not assessed for any row")
    weights = s.rob_weights if len(s.rob_weights) == len(s.risk_of_bias) else (1.0,) * len(s.risk_of_bias)
    scores = [ROB_SCORE.get(v, ROB_SCORE["unclear"]) for v in s.risk_of_bias]
    total = sum(weights) or float(len(weights))
    mean = sum(w * x for w, x in zip(weights, scores, strict=True)) / total
    levels = 2 if mean >= ROB_VERY_SERIOUS else 1 if mean >= ROB_SERIOUS else 0
    if not levels:
        return None
    counts = {v or "not assessed": s.risk_of_bias.count(v) for v in dict.fromkeys(s.risk_of_bias)}
    listing = ", ".join(f"{c} {v}" for v, c in counts.items())
    return Downgrade("risk of bias", levels,
                     f"risk of bias -{levels}: {listing} (weighted score {f2(mean)} of 2)")


def inconsistency(s: AnalysisSummary) -> Downgrade | None:
    if s.k < 2 or s.estimate is None:
        return None
    if s.I2 is not None and s.I2 >= I2_SERIOUS:
        return Downgrade("inconsistency", 1, f"inconsistency -1: I² = {s.I2:.0f}%")
    if (s.pi_low is not None and s.pi_high is not None and s.ci_low is not None
            and not (s.ci_low <= 0 <= s.ci_high) and s.pi_low <= 0 <= s.pi_high):
        return Downgrade("inconsistency", 1,
                         f"inconsistency -1: 95% prediction interval {f2(s.pi_low)} to "
                         f"{f2(s.pi_high)} crosses 0 while the CI does not")
    return None


def indirectness(s: AnalysisSummary, claim: Claim) -> Downgrade | None:
    found, aspects = [], []
    wanted = set(claim.pico.get("conditions") or [])
    off = [c for c in s.conditions if c not in wanted]
    if wanted and off:
        aspects.append("population")
        found.append(f"population: trials in {', '.join(off)}, claim about "
                     f"{', '.join(sorted(wanted))}")
    claimed_cmp = claim.pico.get("comparator_type", "any")
    active = [t for t in s.comparator_types if t in ACTIVE_CONTROLS]
    if claimed_cmp in INACTIVE_CLAIMS and active:
        aspects.append("comparator")
        which = f"{', '.join(s.comparators)} " if s.comparators else ""
        found.append(f"comparator: {which}({', '.join(active)}), claim implies {claimed_cmp}")
    outcomes = set(claim.pico.get("outcomes") or [])
    if outcomes and s.outcome not in outcomes:
        aspects.append("outcome")
        claimed = ", ".join(sorted(outcomes))
        what = f"mechanism claimed ({claimed})" if "mechanism" in claim.kinds else f"claim is about {claimed}"
        found.append(f"outcome: {what}, trials measured {s.outcome}")
    if not found:
        return None
    levels = min(2, len(found))
    return Downgrade("indirectness", levels, f"indirectness -{levels}: " + ", ".join(found),
                     tuple(aspects))


def imprecision(s: AnalysisSummary) -> Downgrade | None:
    if s.estimate is None:
        return None
    lo, hi = s.ci_low, s.ci_high
    ci = f"95% CI {f2(lo)} to {f2(hi)}"
    mid = s.mid
    if s.measure in RATIO:
        mid = math.log(RATIO_APPRECIABLE)
    crossed, very = [], False
    crosses_null = lo <= 0 <= hi
    if crosses_null:
        crossed.append("0")
    if mid is not None:
        if lo < -mid and hi > mid:
            very = True
            crossed.append(f"both -MID and +MID ({f2(mid)})")
        elif lo < mid < hi:
            crossed.append(f"the MID {f2(mid)}")
        elif lo < -mid < hi:
            crossed.append(f"-MID ({f2(-mid)})")
    found = [f"{ci} crosses {' and '.join(crossed)}"] if crossed else []
    small = (s.measure in CONTINUOUS and s.n_participants is not None
             and s.n_participants < OIS_CONTINUOUS)
    if small:
        found.append(f"n = {s.n_participants} < {OIS_CONTINUOUS} (optimal information size)")
    if not found:
        return None
    if s.measure in CONTINUOUS and s.n_participants is None:
        found.append("total n not known (optimal information size not checked)")
    levels = 2 if very or (crosses_null and small) else 1
    return Downgrade("imprecision", levels, f"imprecision -{levels}: " + ", ".join(found))


def publication_bias(s: AnalysisSummary) -> Downgrade | None:
    found = []
    if s.k >= EGGER_MIN_K and s.egger_p is not None and s.egger_p < EGGER_ALPHA:
        found.append(f"Egger p = {s.egger_p:.3f} with k = {s.k}")
    if s.missing_studies and s.estimate is not None:
        found.append(f"missing results: no estimable effect from {', '.join(s.missing_studies)}")
    if not found:
        return None
    return Downgrade("publication bias", 1, "publication bias -1: " + ", ".join(found))


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
    reasons: list[str] = field(default_factory=list)


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


def grade_claim(claim: Claim, summaries: dict[str, AnalysisSummary]) -> Verdict:
    """Verdict, certainty and reasons for one claim from its analyses' summaries."""
    graded = [k for k in claim.kinds if k != "advice"]
    if not graded:
        return Verdict(claim, ADVICE, reasons=["advice: practical guidance, not graded against trials"])
    mine = [summaries[a] for a in claim.analyses if a in summaries]
    cited = [s for s in mine if s.evidence_role != "context"]
    context = [f"context: {s.label or s.analysis_id} {describe(s).split(': ', 1)[1]} "
               f"(not cited by the article, not used for the verdict)"
               for s in mine if s.evidence_role == "context"]
    missing = [a for a in claim.analyses if a not in summaries]
    notes = [f"analysis {a} not fitted" for a in missing]
    if not claim.sources:
        return Verdict(claim, NO_EVIDENCE, reasons=["no source cited for this claim"] + context + notes)
    studies = [src for src in claim.sources if src not in WEB_PAGES]
    if not studies and not cited:
        pages = ", ".join(claim.sources)
        return Verdict(claim, NO_EVIDENCE, reasons=[
            f"only secondary web pages cited ({pages}): no study data to grade"] + context + notes)
    estimable = [s for s in cited if s.estimate is not None]
    if not estimable:
        return Verdict(claim, NOT_SUPPORTED, reasons=[
            "no estimable effect from the cited sources"] + [describe(s) for s in cited]
            + context + notes)
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
    reasons = [why]
    for r in ratings:
        reasons.append(" / ".join([f"{describe(r.summary)}: {r.certainty} ({r.start_reason})"]
                                  + [d.reason for d in r.downgrades]))
    reasons += [describe(s) for s in cited if s.estimate is None]
    return Verdict(claim, verdict, CERTAINTY[level - 1], estimable[0], n_studies, n_part,
                   reasons + context + notes)


def _covered(kind: str, summaries) -> bool:
    if kind == "safety":
        return any(s.outcome in SAFETY_OUTCOMES for s in summaries)
    return bool(summaries)  # efficacy and mechanism: indirectness handles the mismatch


# --- MIDs, output, command line -----------------------------------------------
def load_mids(path=MIDS) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        return pd.DataFrame(columns=["outcome", "instrument", "measure", "mid", "source", "notes"])
    mids = pd.read_csv(path, dtype=str)
    for i, row in mids.iterrows():
        if _num(row["mid"]) is None or pd.isna(row["source"]) or not str(row["source"]).strip():
            raise DataError("mid must be a number with a source", file=path, row=i + 2, field="mid")
    return mids


def lookup_mid(mids: pd.DataFrame, fit) -> float | None:
    """SMD: the outcome's SMD row, else the generic one; MD: same outcome and instrument."""
    spec = fit.spec
    if spec.measure == "SMD":
        for outcome in (spec.outcome, "any"):
            hit = mids[(mids["measure"] == "SMD") & (mids["outcome"] == outcome)]
            if len(hit):
                return float(hit.iloc[0]["mid"])
        return None
    if spec.measure == "MD" and "instrument" in fit.rows:
        instruments = set(fit.rows["instrument"].dropna())
        if len(instruments) == 1:
            hit = mids[(mids["outcome"] == spec.outcome) & (mids["instrument"] == instruments.pop())]
            if len(hit):
                return float(hit.iloc[0]["mid"])
    return None


def _fmt(x) -> str:
    return "" if x is None else f"{x:.3f}"


def write_verdicts(verdicts: list[Verdict], path) -> None:
    """Deterministic ledger: sorted by claim id, 3 decimals, reasons joined by '; '."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(COLUMNS)
        for v in sorted(verdicts, key=lambda v: v.claim.id):
            h = v.headline
            out.writerow([v.claim.id, ", ".join(v.claim.kinds), v.verdict, v.certainty,
                          _fmt(h and h.estimate), _fmt(h and h.ci_low), _fmt(h and h.ci_high),
                          h.measure if h else "", "" if v.n_studies is None else v.n_studies,
                          "" if v.n_participants is None else v.n_participants,
                          "; ".join(r.replace(";", ",") for r in v.reasons),
                          ", ".join(v.claim.sources)])


def add_study_facts(rows: pd.DataFrame, studies: Path) -> pd.DataFrame:
    """Give effects rows their study's risk_of_bias (when absent) and n_randomised."""
    if not Path(studies).exists():
        return rows
    table = pd.read_csv(studies, dtype=str).set_index("study_id")
    for column in ("risk_of_bias", "n_randomised"):
        if column not in rows and column in table:
            rows = rows.assign(**{column: rows["study_id"].map(table[column])})
    return rows


def add_arguments(parser) -> None:
    parser.add_argument("--claims", type=Path, default=paths.CLAIMS, help="claims file (YAML)")
    parser.add_argument("--effects", type=Path, default=paths.EFFECTS, help="effects.csv")
    parser.add_argument("--analyses", type=Path, default=None,
                        help="analyses file (default: evidence.analyses' data/analyses.yaml)")
    parser.add_argument("--mids", type=Path, default=MIDS, help="minimal important differences")
    parser.add_argument("--studies", type=Path, default=STUDIES, help="studies.csv")
    parser.add_argument("--records", type=Path, default=paths.RECORDS, help="PubMed snapshot")
    parser.add_argument("--output", type=Path, default=paths.VERDICTS, help="verdicts CSV to write")


def grade_all(effects: pd.DataFrame, claims_path, studies, records, mids_path,
              specs=None, specs_source="analyses.yaml") -> list:
    """Fit every analysis, summarise it and grade each claim: the whole grading step."""
    from evidence import analyses  # the analyses step; imported lazily

    fits = (analyses.fit_all(effects) if specs is None
            else analyses.fit_all(effects, specs, source=specs_source))
    claims = load_claims(claims_path, known_sources=known_sources(studies, records),
                         known_analyses=set(fits))
    mids = load_mids(mids_path)
    summaries = {}
    for aid, fit in fits.items():
        fit.rows = add_study_facts(fit.rows, studies)
        summaries[aid] = summarise(fit, mid=lookup_mid(mids, fit))
    return [grade_claim(c, summaries) for c in claims]


def run(args) -> int:
    from evidence import analyses

    if not Path(args.effects).exists():
        raise EvidenceError(f"{args.effects} not found: run `evidence extract` first")
    effects = pd.read_csv(args.effects)
    specs_path = getattr(args, "analyses", None)
    specs = None if specs_path is None else analyses.load_specs(specs_path)
    verdicts = grade_all(effects, args.claims, args.studies, args.records, args.mids,
                         specs=specs, specs_source=specs_path or "analyses.yaml")
    write_verdicts(verdicts, args.output)
    counts = pd.Series([v.verdict for v in verdicts]).value_counts().sort_index()
    print(f"graded {len(verdicts)} claims -> {args.output}: "
          + ", ".join(f"{v} {n}" for v, n in counts.items()))
    return 0
