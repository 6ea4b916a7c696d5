"""Which analyses bear on each claim, and how directly: computed from PICO, not hand-picked.

An analysis bears on a claim when its rows come from the sources the claim
cites (a cited review's included trials count, through ``cited_by``), or when
it matches the claim's outcome and population exactly, and it measures the
claim's outcome or population at all. How directly (GRADE 8, Guyatt et al.,
J Clin Epidemiol 2011;64:1303): each of

- population: the analysis's condition is not among the claim's ``pico.conditions``;
- outcome: its outcome is not among the claim's ``pico.outcomes``;
- comparator: the claim implies a benefit over no treatment / usual care /
  waitlist, and an estimate of the analysis is against an active, sham or
  attention control, or its comparator is not reported (a review that does not
  say cannot be taken as direct);

that differs makes it less direct. ``direct`` when none does. A claim may
override one analysis in ``claims.yaml`` (``relevance: {analysis_id:
{relevance: ..., reason: ...}}``); an override without a reason is an error.
Context analyses (evidence the article does not cite) are attached as context:
shown, never graded.
"""

from __future__ import annotations

from dataclasses import dataclass

from evidence.vocabulary import ACTIVE_CONTROLS, INACTIVE_CLAIMS

LEVELS = ("direct", "other population", "other outcome", "other comparator")
ASPECT_TAG = {"population": "other population", "outcome": "other outcome",
              "comparator": "other comparator"}
COLUMNS = ["claim_id", "analysis_id", "relevance", "aspects", "role", "source", "reason"]


@dataclass(frozen=True)
class Relevance:
    claim_id: str
    analysis_id: str
    relevance: str  # one of LEVELS: the least direct aspect first (population, outcome, comparator)
    aspects: tuple[str, ...]  # every aspect that differs
    role: str  # "graded" (cited evidence) or "context"
    source: str  # "computed" or "override"
    reason: str


def _aspects(claim, fit, studies_of_rows) -> tuple[tuple[str, ...], list[str]]:
    aspects, why = [], []
    conditions = set(claim.pico.get("conditions") or [])
    mine = {str(c) for c in fit.rows.get("condition", []) if str(c) != "nan"} or {fit.spec.condition}
    if not mine <= conditions:  # a claim naming no condition matches none
        aspects.append("population")
        why.append(f"trials in {', '.join(sorted(mine - conditions))}, claim about "
                   f"{', '.join(sorted(conditions)) or 'no named condition'}")
    outcomes = set(claim.pico.get("outcomes") or [])
    if fit.spec.outcome not in outcomes:
        aspects.append("outcome")
        what = fit.spec.outcome.replace("_", " ")
        if fit.spec.outcome == "other":
            names = sorted({str(i) for i in fit.rows.get("instrument", []) if str(i) not in ("", "nan")})
            what = "other outcomes" + (f" ({'; '.join(names)})" if names else "")
        why.append(f"measures {what}, claim is about "
                   f"{', '.join(sorted(o.replace('_', ' ') for o in outcomes)) or 'no named outcome'}")
    if claim.pico.get("comparator_type", "any") in INACTIVE_CLAIMS:
        rows = fit.estimable_rows if len(fit.estimable_rows) else fit.rows
        types = [str(t) for t in rows.get("comparator_type", []) if str(t) not in ("", "nan")]
        active = sorted({t for t in types if t in ACTIVE_CONTROLS})
        if not types or len(types) < len(rows):
            aspects.append("comparator")
            why.append(f"comparators not reported, claim implies {claim.pico['comparator_type']}")
        elif active:  # any estimate against an active, sham or attention control
            aspects.append("comparator")
            why.append(f"compared with {', '.join(active)}, claim implies "
                       f"{claim.pico['comparator_type']}")
    return tuple(aspects), why


def left_out(claim, fits: dict, kept) -> list[tuple[str, str]]:
    """(analysis id, why) for each analysis the claim names that ``for_claim`` kept none of (it
    measures neither the claim's population nor its outcome), so a figure can say it was left out."""
    out = []
    for aid in claim.analyses:
        if aid in fits and aid not in set(kept):
            fit = fits[aid]
            _, why = _aspects(claim, fit, set(map(str, fit.rows.get("study_id", []))))
            out.append((aid, "; ".join(why) or "not from the claim's sources"))
    return out


def tag(aspects: tuple[str, ...]) -> str:
    return ASPECT_TAG[aspects[0]] if aspects else "direct"


def cited_studies(claim, studies: list[dict]) -> set[str]:
    """The claim's sources and the trials its cited reviews include (``cited_by``)."""
    own = set(claim.sources)
    return own | {s["study_id"] for s in studies if s.get("cited_by") in own}


def for_claim(claim, fits: dict, studies: list[dict], *, unknown_comparator_indirect=True):
    """Every analysis bearing on ``claim``, with its relevance (a list of ``Relevance``)."""
    if "advice" in claim.kinds and len(claim.kinds) == 1:
        return []
    cited = cited_studies(claim, studies)
    overrides = getattr(claim, "relevance", None) or {}
    out = []
    for aid, fit in fits.items():
        row_studies = set(map(str, fit.rows.get("study_id", [])))
        aspects, why = _aspects(claim, fit, row_studies)
        if not unknown_comparator_indirect and "comparator" in aspects and any(
                w.startswith("comparators not reported") for w in why):
            keep = [(a, w) for a, w in zip(aspects, why, strict=True)
                    if not w.startswith("comparators not reported")]
            aspects, why = tuple(a for a, _ in keep), [w for _, w in keep]
        measures = "population" not in aspects or "outcome" not in aspects
        from_sources = bool(row_studies & cited)
        exact = not {"population", "outcome"} & set(aspects)
        context = fit.spec.evidence_role == "context"
        if context:  # later syntheses: beside every claim about their outcome, never graded
            measures, from_sources = "outcome" not in aspects, True
        if aid in overrides:
            o = overrides[aid]
            out.append(Relevance(claim.id, aid, o["relevance"], aspects,
                                 "context" if context else "graded", "override", o["reason"]))
        elif measures and (from_sources or exact):
            out.append(Relevance(claim.id, aid, tag(aspects), aspects,
                                 "context" if context else "graded", "computed",
                                 "; ".join(why) or "same population, outcome and comparator"))
    return out
