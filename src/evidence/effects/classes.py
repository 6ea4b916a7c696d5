"""The result class of every outcomes row, and what a result without an effect size implies.

A result without an effect size is still a result (Cochrane Handbook ch. 12;
SWiM, Campbell et al. BMJ 2020;368:l6890): its class travels into
``effects.csv`` and the grading counts it. Classes (docs/contracts.md):

- ``effect``: an effect with its CI (estimable);
- ``effect_sign_unknown``: an effect and CI reported, but not which arm it favours;
- ``estimate_only``: a point estimate without CI or SE;
- ``bound``: a P printed as a bound ("P < .001");
- ``p_direction``: an exact P with a known direction;
- ``no_difference``: the source says the groups did not differ (with its P if given);
- ``p_only``: a P without direction that is not a "no difference" statement;
- ``direction_only``: a direction stated, no statistic;
- ``not_reported``: the source does not report it;
- ``not_reachable``: the result exists, but the source could not be read offline;
- ``not_an_effect``: baseline values, and within-group changes of uncontrolled studies.

Implied SMD (derived, two-sample t approximation with equal variances, Cochrane
Handbook 6.5.2.3): two-sided P -> t = qt(1 - P/2, n1 + n2 - 2) ->
g = J * t * sqrt(1/n1 + 1/n2). A bound "P < p0" implies |g| > g(p0); an exact P
gives |g| = g(P), signed when the direction is known.
"""

from __future__ import annotations

from evidence.effects import calculators as calc

CLASSES = ("effect", "effect_sign_unknown", "estimate_only", "bound", "p_direction",
           "no_difference", "p_only", "direction_only", "not_reported", "not_reachable",
           "not_an_effect")
# classes that carry a result (evidence the grading must count, null or not)
RESULTS = CLASSES[:8]
DIRECTION_WORDS = {"favours_int": 1, "favours_ctl": -1, "no_difference": 0}


def _stated_direction(row, yi) -> int | None:
    """+1 favours the intervention, -1 the control, 0 'no difference' stated, None unknown."""
    if yi is not None:
        return (yi > 0) - (yi < 0)
    if row.get("direction"):
        return DIRECTION_WORDS[row["direction"]]
    return None


def classify(row: dict, eff: dict) -> str:
    """The result class of a validated outcomes row (``row``) given its computed effect (``eff``)."""
    kind = row["data_type"]
    if row["timepoint"].lower().startswith("baseline"):
        return "not_an_effect"
    if eff["estimable"]:
        return "effect"
    if row["comparator_type"] == "none":
        return "not_an_effect"  # a within-group change: no comparison, no between-group result
    words = row.get("direction") or ""
    if kind in ("not_reported", "not_reachable"):
        # a statement the source makes in words is a result even when its numbers are missing
        if words == "no_difference":
            return "no_difference"
        if words:
            return "direction_only"
        return kind
    reported = row["diff"] if row["diff"] is not None else row["estimate"]
    if reported is not None:
        has_spread = any(row[c] is not None for c in ("diff_ci_low", "diff_se", "estimate_ci_low"))
        if not has_spread:
            return "estimate_only"
        if not row["diff_direction"] and kind not in ("pooled_smd_ci", "pooled_md_ci", "smd_ci"):
            return "effect_sign_unknown"
    if row["p"] is not None:
        if row.get("p_operator") == "<":
            return "bound"
        if row.get("p_operator") == ">":  # "P > .05": neither exact nor a bound on the effect
            return {"no_difference": "no_difference", "": "p_only"}.get(words, "direction_only")
        if words == "no_difference":
            return "no_difference"
        return "p_direction" if words in ("favours_int", "favours_ctl") else "p_only"
    if words == "no_difference":
        return "no_difference"
    return "direction_only" if words else "not_reported"


def implied_smd(row: dict, result_class: str, direction: int | None) -> tuple:
    """(low, high, note): the SMD range a P and the arm sizes imply, or (None, None, '')."""
    n1, n2, p = row["n_int"], row["n_ctl"], row["p"]
    if result_class not in ("bound", "p_direction", "no_difference", "p_only") or None in (n1, n2, p):
        return None, None, ""
    if row["comparator_type"] == "none" or n1 + n2 <= 2:
        return None, None, ""
    sided = int(row["p_sided"] or 2)
    p2 = min(1.0, p * 2) if sided == 1 else p
    if not 0 < p2 < 1:
        return None, None, ""
    g = calc.hedges_j(n1 + n2 - 2) * calc.t_from_p(p2, n1 + n2 - 2) * (1 / n1 + 1 / n2) ** 0.5
    how = (f"implied SMD from P = {p:g}{' (one-sided)' if sided == 1 else ''}, n {n1:g}/{n2:g}: "
           f"t = qt(1 - P/2, {n1 + n2 - 2:g}), g = J t sqrt(1/n1 + 1/n2) = {g:.3f} (derived, "
           "two-sample t approximation)")
    if result_class == "bound":
        if direction == 1:
            return g, None, f"{how}; the bound implies SMD > {g:.3f}"
        if direction == -1:
            return None, -g, f"{how}; the bound implies SMD < {-g:.3f}"
        return g, None, f"{how}; the bound implies |SMD| > {g:.3f} (sign unknown)"
    if direction in (1, -1):
        return direction * g, direction * g, how
    return -g, g, f"{how}; sign unknown: SMD = -{g:.3f} or +{g:.3f}"


def annotate(row: dict, eff: dict) -> dict:
    """The columns effects.csv adds for the row: class, direction, P and implied SMD (its total n is
    ``build.total_n``'s, which knows the study)."""
    result_class = classify(row, eff)
    direction = _stated_direction(row, eff["yi"] if eff["estimable"] else None)
    low, high, note = implied_smd(row, result_class, direction)
    return {"result_class": result_class, "direction": direction, "p": row["p"],
            "p_operator": row.get("p_operator") or "", "smd_implied_low": low, "smd_implied_high": high,
            "implied_note": note}
