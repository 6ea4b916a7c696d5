"""GRADE Summary of Findings, one table per claim, rendered from the grading records.

After GRADE 12-13 (Guyatt et al., J Clin Epidemiol 2013;66:158-172) and Core
GRADE 6 (BMJ 2025;389:e083866): population, intervention and comparison; for
each outcome the effect with its CI, participants (studies), certainty as ⊕
symbols and the word, and one footnote per downgrade naming the domain, the
levels and the statistic behind it (the rows of ``downgrades.csv``). An SMD is
not re-expressed in an instrument's units: no sourced conversion is recorded.
"""

from __future__ import annotations

import string

COLUMNS = ["claim_id", "outcome", "population", "intervention", "comparison", "relevance",
           "analysis_id", "measure", "effect", "ci_low", "ci_high", "effect_text", "participants",
           "studies", "certainty", "certainty_symbols", "footnotes"]
SYMBOLS = {1: "\u2295\u25ef\u25ef\u25ef", 2: "\u2295\u2295\u25ef\u25ef",
           3: "\u2295\u2295\u2295\u25ef", 4: "\u2295\u2295\u2295\u2295"}


def symbols(level: int | None) -> str:
    return SYMBOLS.get(level, "")


def _f(x) -> str:
    return "" if x is None else f"{x:.3f}"


def rows(verdicts) -> list[list]:
    """One row per on-target rated analysis of each graded claim (most direct first), or one
    row saying why a claim has nothing on target to rate."""
    from evidence.grading import ADVICE

    out = []
    for v in sorted(verdicts, key=lambda v: v.claim.id):
        if v.verdict == ADVICE:
            continue
        pico = v.claim.pico
        head = [v.claim.id]
        people = [pico.get("population", ""), pico.get("intervention", ""),
                  pico.get("comparator", "")]
        # the claim's own findings: estimates on its outcome in its population (another
        # comparator allowed, and said); other populations and outcomes are in relevance.csv
        ratings = sorted((r for r in v.ratings if r.on_target),
                         key=lambda r: (len(r.relevance.aspects) if r.relevance else 0,
                                        r.summary.analysis_id))
        if not ratings:
            why = ("no estimate on the claim's outcome in its population" if v.ratings
                   else "no estimable effect" if v.verdict != "no evidence cited" else v.verdict)
            out.append(head + [pico.get("outcome", ""), *people, "", "", "", "", "", "", why,
                               "", "", "", "", ""])
            continue
        letters = iter(string.ascii_lowercase)
        for r in ratings:
            s = r.summary
            notes = [f"{next(letters)}: {d.domain} -{d.levels} ({d.statistic})"
                     for d in r.downgrades]
            out.append(head + [s.outcome, *people, r.relevance.relevance if r.relevance else "",
                               s.analysis_id, s.measure, _f(s.estimate), _f(s.ci_low),
                               _f(s.ci_high), f"{s.measure} {s.estimate:.2f} (95% CI "
                               f"{s.ci_low:.2f} to {s.ci_high:.2f})",
                               "" if s.n_participants is None else s.n_participants, s.k,
                               r.certainty, symbols(r.level), "; ".join(notes)])
    return out
