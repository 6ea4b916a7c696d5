"""The controlled vocabulary of every sheet and file: one list per term, one owner.

Built-in terms are general (any health intervention); a case adds its own
outcomes and conditions in ``evidence.toml`` (``[vocabulary]``). Every module
that checks or interprets a term asks here.
"""

from __future__ import annotations

from evidence import case

DESIGNS = ("RCT", "crossover RCT", "quasi-RCT", "non-randomised controlled",
           "uncontrolled before-after", "case series", "systematic review", "meta-analysis",
           "narrative review", "web page")
# designs whose evidence starts high in GRADE (a review row: the reviews pooled RCTs)
RANDOMISED = ("RCT", "crossover RCT", "systematic review", "meta-analysis")
POOLED_DESIGNS = ("systematic review", "meta-analysis")
WEB_PAGE = "web page"  # a cited page with no study data (recognised by design, not by name)
EVIDENCE_ROLES = ("cited", "included_in_cited_review", "context")
RISK_OF_BIAS = ("low", "some concerns", "high", "unclear")
SCALE_DIRECTIONS = ("higher_worse", "higher_better")
# a trial's comparator (outcomes.csv) ...
COMPARATOR_TYPES = ("active", "sham", "attention control", "usual care", "waitlist",
                    "no treatment", "none")
# ... the ones that are themselves a treatment or a placebo of it ...
ACTIVE_CONTROLS = ("active", "sham", "attention control")
# ... and what a claim implicitly compares with (claims.yaml pico.comparator_type)
CLAIM_COMPARATORS = ("no treatment", "usual care", "waitlist", "any")
INACTIVE_CLAIMS = ("no treatment", "usual care", "waitlist")
_OUTCOMES = ("anxiety", "depression", "pain", "stress", "worry", "disability", "sleep", "fatigue",
             "quality_of_life", "function", "adverse_events", "headache_frequency",
             "headache_intensity", "headache_duration", "drug_use", "pressure_pain_threshold",
             "nausea", "other")
SAFETY_OUTCOMES = ("adverse_events",)
MEASURES = ("SMD", "MD", "logOR", "logRR")
CONTINUOUS = ("SMD", "MD")
RATIO = ("logOR", "logRR")


def outcomes() -> tuple[str, ...]:
    """Built-in outcomes plus the current case's ``[vocabulary] outcomes``."""
    extra = case.current().outcomes
    return _OUTCOMES + tuple(o for o in extra if o not in _OUTCOMES)


def conditions() -> tuple[str, ...]:
    """Conditions the case declares (``[vocabulary] conditions``); free text when none."""
    return case.current().conditions
