"""What each effects.csv row reports, in the result classes of the grading (issue 12), for figures.

``results(effects)`` gives one normalised record per row: result class,
direction (+1 favours the intervention, -1 the control, 0 "no difference"
stated, None unknown), P (whether it is a bound, whether it was computed here
from the effect and its SE, and ``p_above`` for a "P > .05" that is no P
value but says the result is not significant), total n, the effect
with its CI on the row's scale and the SMD range a P value implies.

effects.csv is gaining ``result_class``, ``direction``, ``p``, ``p_operator``,
``n_total`` and ``smd_implied_low/high``; where a column is absent the
figures fall back on today's fields in ``_legacy`` (the only place that
reads the extraction sheet or the not-estimable wording; delete it once
the columns exist). ``plain`` turns sheet tokens into words for figure text.
"""

from __future__ import annotations

import math
import re

import pandas as pd
from scipy import stats

from evidence import paths
from evidence.effects import calculators as calc

CLASSES = {  # class -> words a board member reads (legend, tags)
    "effect": "effect with CI",
    "effect_sign_unknown": "effect, direction not reported",
    "estimate_only": "estimate without CI",
    "bound": "P given as a bound",
    "p_direction": "P with direction",
    "no_difference": "\u201cno difference\u201d stated",
    "p_only": "P only, no direction",
    "direction_only": "direction only",
    "not_reported": "not reported",
    "not_reachable": "full text not available",  # the result exists in a paper this audit could not read
    "not_an_effect": "baseline or uncontrolled change, not an effect",
}
DRAWN_AS_EFFECT = ("effect", "effect_sign_unknown", "estimate_only")
WITH_P = ("bound", "p_direction", "no_difference", "p_only")
DIRECTION_WORDS = {1: "favours intervention", -1: "favours control", 0: "no difference stated",
                   None: "direction unknown"}


def _num(v):
    """A finite float, or None (blank, text, NaN, inf)."""
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _text(v) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v).strip()


def _truth(v) -> bool:
    if isinstance(v, str):
        return v.strip().lower() in ("true", "1", "yes")
    return bool(v) and not (isinstance(v, float) and math.isnan(v))


def implied_smd(p: float, n_int: float, n_ctl: float) -> float:
    """|SMD| consistent with a two-sided P from a two-sample t test (df = n1 + n2 - 2), with the
    effects step's exact Hedges' J and t quantile (the same formula as effects.classes)."""
    df = n_int + n_ctl - 2
    return calc.hedges_j(df) * calc.t_from_p(p, df) * math.sqrt(1 / n_int + 1 / n_ctl)


def results(effects: pd.DataFrame, outcomes: pd.DataFrame | None = None) -> pd.DataFrame:
    """One record per effects row (same order, index ``row_id``); see the module docstring."""
    if outcomes is None and "result_class" not in effects:
        outcomes = _sheet()
    sheet = outcomes.set_index("row_id") if outcomes is not None and "row_id" in outcomes else None
    out = []
    for _, r in effects.iterrows():
        extra = sheet.loc[r["row_id"]] if sheet is not None and r["row_id"] in sheet.index else {}
        out.append(_record(r, extra))
    return pd.DataFrame(out, index=effects["row_id"].tolist())


def _record(r, extra) -> dict:
    cls = _text(r.get("result_class")) or _legacy_class(r, extra)
    n_int, n_ctl = _num(r.get("n_int")), _num(r.get("n_ctl"))
    n_total = _num(r.get("n_total"))
    if n_total is None and n_int is not None and n_ctl is not None:
        n_total = n_int + n_ctl
    p = _num(r.get("p")) if "p" in r else _num(_get(extra, "p"))
    op = _text(r.get("p_operator")) if "p_operator" in r else _text(_get(extra, "p_operator"))
    if cls == "bound" and p is None:  # legacy: "P < .05" survives only in words
        m = re.search(r"P\s*<\s*(0?\.\d+)", _text(r.get("not_estimable_reason")))
        p, op = (float(m.group(1)), "<") if m else (None, op)
    direction = _direction(r, extra, cls)
    est = lo = hi = None
    if cls in DRAWN_AS_EFFECT:
        est, lo, hi = _num(r.get("yi")), _num(r.get("ci_low")), _num(r.get("ci_high"))
        if cls == "effect" and lo is None and _num(r.get("se")) is not None and est is not None:
            lo, hi = est - 1.959964 * float(r["se"]), est + 1.959964 * float(r["se"])
        if est is None and "reported_value" in r:  # what effects.csv says the row reports
            est, lo, hi = (_num(r.get(k)) for k in ("reported_value", "reported_ci_low", "reported_ci_high"))
        if est is None:  # legacy: the reported number kept in the sheet or the wording
            est, lo, hi = _legacy_value(r, extra)
    se = _num(r.get("se")) if cls == "effect" else None
    if se is None and cls in ("effect", "effect_sign_unknown") and lo is not None and hi is not None and hi > lo:
        se = (hi - lo) / (2 * 1.959964)  # SE from a 95% CI
    above = op == ">" and p is not None and p <= 0.05  # "P > .05": not significant, and no P value
    if op == ">":  # never drawn as if it were exact
        p, op = None, ""
    computed = False
    if p is None and est is not None and se:
        p = float(2 * stats.norm.sf(abs(est / se)))  # Wald P from the effect and its SE
        computed = True
    s_lo, s_hi = _num(r.get("smd_implied_low")), _num(r.get("smd_implied_high"))
    if s_lo is None and cls in WITH_P and p is not None and n_int and n_ctl and n_int > 1 and n_ctl > 1:
        d = implied_smd(p, n_int, n_ctl)
        sign = direction if direction in (1, -1) else None
        if cls == "bound":
            s_lo, s_hi = (d, math.inf) if sign != -1 else (-math.inf, -d)
        elif sign:
            s_lo = s_hi = sign * d
        else:
            s_lo, s_hi = -d, d
    return {"result_class": cls, "direction": direction, "p": p, "p_operator": op, "n_total": n_total,
            "p_above": above, "p_computed": computed,
            "est": est, "lo": lo, "hi": hi, "smd_low": s_lo, "smd_high": s_hi,
            "computed_ci": cls == "effect" and (_truth(r.get("ci_computed")) if "ci_computed" in r
                                                 else "CI as reported" not in _text(r.get("derived")))}


def _get(extra, key):
    try:
        return extra[key] if key in extra else None
    except TypeError:
        return None


def _direction(r, extra, cls):
    if "direction" in r and _text(r.get("direction")) != "":
        return int(float(r["direction"]))
    word = _text(_get(extra, "direction"))
    if word:
        return {"favours_int": 1, "favours_ctl": -1, "no_difference": 0}.get(word)
    if cls == "no_difference":
        return 0
    if cls in ("effect", "estimate_only"):
        est = _num(r.get("yi"))
        if est is None:
            est = _legacy_value(r, extra)[0]
        if est is not None and est != 0:
            sign = 1 if est > 0 else -1
            return sign if _truth(r.get("favours_int_positive", True)) else -sign
    return None


def clear_direction(x) -> int | None:
    """The direction a cell is coloured by: +1 / -1 only where the result shows it beyond chance
    (95% CI excluding no difference, or P < 0.05 with a direction), 0 where it does not (a CI
    through the null, P >= 0.05, "no difference" stated), None where the direction is unknown.
    A null result is never coloured as a benefit or a harm because of its point estimate."""
    d = x["direction"]
    d = None if d is None or d != d else int(d)
    if d in (None, 0):
        return d
    lo, hi, p = x.get("lo"), x.get("hi"), x.get("p")
    finite = [v for v in (lo, hi) if v is not None and v == v]
    if x.get("p_above"):  # "P > .05": not significant, whatever its direction
        return 0
    if x["result_class"] in ("effect", "effect_sign_unknown") and len(finite) == 2:
        return d if lo > 0 or hi < 0 or (p is not None and p == p and p < 0.05 and (lo > 0) == (hi > 0)) \
            else 0
    if p is not None and p == p:
        return d if p < 0.05 or x.get("p_operator") == "<" and p <= 0.05 else 0
    return d


# -- fallback until effects.csv has result_class (contract12); delete with it --------------------

def _sheet() -> pd.DataFrame | None:
    path = paths.EXTRACTION / "outcomes.csv"
    return pd.read_csv(path, dtype=str) if path.exists() else None


def _legacy_class(r, extra) -> str:
    if _truth(r.get("estimable")):
        return "effect"
    why = _text(r.get("not_estimable_reason")).lower()
    dtype = _text(r.get("data_type"))
    if why.startswith("baseline"):
        return "not_an_effect"
    if "which arm it favours" in why:
        return "effect_sign_unknown"
    if "without a ci" in why:
        return "estimate_only"
    if dtype == "not_reachable":
        return "not_reachable"
    if "only a bound" in why:
        return "bound"
    if "non-significance" in why:
        return "no_difference"
    if dtype == "p_only":
        return "p_only" if _num(_get(extra, "p")) is not None or "p value" in why else "not_reported"
    if "not reachable" in why:
        return "not_reachable"
    return "not_reported"


def _legacy_value(r, extra) -> tuple:
    """The number a not-estimable row reports (sheet diff/CI, or the leading number of its reason)."""
    m = re.search(r"favour \w+: ([+\u2212-]?\d*\.?\d+)\)", _text(r.get("not_estimable_reason")))
    if m:  # the value as signed by the effects stage
        return float(m.group(1).replace("\u2212", "-")), None, None
    d, lo, hi = (_num(_get(extra, k)) for k in ("diff", "diff_ci_low", "diff_ci_high"))
    if d is None:
        d, lo, hi = (_num(_get(extra, k)) for k in ("estimate", "estimate_ci_low", "estimate_ci_high"))
    return d, lo, hi


# -- words for figure text -----------------------------------------------------------------------

TOKENS = {"diff_direction": "which arm it favours", "p_only": "P only", "not_reported": "not reported",
          "not_reachable": "not reachable", "int_minus_ctl": "intervention minus control",
          "ctl_minus_int": "control minus intervention", "higher_worse": "higher is worse",
          "higher_better": "higher is better"}


def plain(text) -> str:
    """Figure text without sheet tokens: '(diff_direction blank)' and '(p_only)' asides dropped,
    any other snake_case token spelled as words."""
    text = _text(text)
    text = re.sub(r"\s*\((?:[a-z]+_[a-z_]+)(?: [a-z]+)?\)", "", text)
    text = re.sub(r"\b[a-z]+(?:_[a-z]+)+\b", lambda m: TOKENS.get(m.group(0), m.group(0).replace("_", " ")),
                  text)
    return text.strip()
