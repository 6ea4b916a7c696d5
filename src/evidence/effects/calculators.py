"""Effect-size formulas: one small function per conversion, each with its source.

Group 1 is the intervention, group 2 the comparator, so a raw difference is
"intervention minus control"; the sign convention (positive = favours the intervention) is
applied later by the builder, which knows the scale's direction.
All functions take and return plain floats (``escalc`` vectorises them).
"""

from __future__ import annotations

import math

from scipy import special, stats

Z95 = float(stats.norm.ppf(0.975))  # 1.959963984540054
# Cochrane Handbook 6.5.2.2/6.5.2.3: a CI from fewer than ~60 per group was
# probably computed with t; from 100+ with the normal (in between, either).
SMALL_N = 60


def hedges_j(df: float) -> float:
    """Exact small-sample correction J(df) with the gamma function (metafor's ``.cmicalc``)."""
    return math.exp(special.gammaln(df / 2) - 0.5 * math.log(df / 2) - special.gammaln((df - 1) / 2))


def pooled_sd(n1: float, sd1: float, n2: float, sd2: float) -> float:
    """Pooled within-group SD with n-1 weights (the SMD's standardiser)."""
    return math.sqrt(((n1 - 1) * sd1**2 + (n2 - 1) * sd2**2) / (n1 + n2 - 2))


def smd(m1, sd1, n1, m2, sd2, n2) -> tuple[float, float]:
    """Hedges' g and its variance as metafor's ``escalc("SMD")`` (exact J, vtype "LS")."""
    g = hedges_j(n1 + n2 - 2) * (m1 - m2) / pooled_sd(n1, sd1, n2, sd2)
    return g, smd_var(g, n1, n2)


def smd_var(g: float, n1: float, n2: float) -> float:
    """metafor's large-sample variance of g: 1/n1 + 1/n2 + g^2 / (2 (n1 + n2))."""
    return 1 / n1 + 1 / n2 + g**2 / (2 * (n1 + n2))


def smd_revman(m1, sd1, n1, m2, sd2, n2) -> tuple[float, float]:
    """Hedges' g as RevMan 5 computes it (RevMan 5 statistical methods document).

    Approximate correction 1 - 3/(4N - 9), variance N/(n1 n2) + g^2/(2 (N - 3.94)).
    """
    big_n = n1 + n2
    g = (m1 - m2) / pooled_sd(n1, sd1, n2, sd2) * (1 - 3 / (4 * big_n - 9))
    return g, big_n / (n1 * n2) + g**2 / (2 * (big_n - 3.94))


def md(m1, sd1, n1, m2, sd2, n2) -> tuple[float, float]:
    """Raw mean difference, variance sd1^2/n1 + sd2^2/n2 (metafor ``"MD"``, vtype "LS")."""
    return m1 - m2, sd1**2 / n1 + sd2**2 / n2


def smd_from_t(t: float, n1: float, n2: float) -> tuple[float, float]:
    """Hedges' g from an independent-groups t: d = t sqrt(1/n1 + 1/n2), then J and metafor's variance."""
    g = hedges_j(n1 + n2 - 2) * t * math.sqrt(1 / n1 + 1 / n2)
    return g, smd_var(g, n1, n2)


def t_from_f(f: float) -> float:
    """|t| from F(1, df): t^2 = F. The sign must come from elsewhere."""
    return math.sqrt(f)


def t_from_p(p: float, df: float, sided: int = 2) -> float:
    """|t| whose (two- or one-sided) p-value on df degrees of freedom is p (Handbook 6.5.2.3)."""
    if sided not in (1, 2):
        raise ValueError(f"sided must be 1 or 2, not {sided!r}")
    return float(stats.t.isf(p / sided, df))


def ci_divisor(n: float | None, df: float | None = None, level: float = 0.95) -> tuple[float, str]:
    """Width of a CI in standard errors, and which quantile was used.

    t on ``df`` when the sample is small (n < 60, Cochrane Handbook 6.5.2.2),
    otherwise the normal quantile; the normal also when n is unknown.
    """
    q = 1 - (1 - level) / 2
    if n is not None and df is not None and n < SMALL_N:
        return 2 * float(stats.t.ppf(q, df)), f"t({df:g})"
    return 2 * float(stats.norm.ppf(q)), "normal"


def se_from_ci(low: float, high: float, n: float | None = None, df: float | None = None,
               level: float = 0.95) -> tuple[float, str]:
    """SE of an estimate from its symmetric CI: (high - low) / divisor (Handbook 6.5.2.3)."""
    div, how = ci_divisor(n, df, level)
    return (high - low) / div, how


def sd_from_se(se: float, n: float) -> float:
    """SD of one group from the standard error of its mean: SD = SEM * sqrt(n) (Handbook 6.5.2.2)."""
    return se * math.sqrt(n)


def sd_from_ci(low: float, high: float, n: float, level: float = 0.95) -> tuple[float, str]:
    """SD of one group from the CI of its mean: sqrt(n) (high - low) / (2 t_{n-1}) if n < 60, else normal."""
    se, how = se_from_ci(low, high, n=n, df=n - 1, level=level)
    return se * math.sqrt(n), how


def with_zero_correction(ai, bi, ci, di, add: float = 0.5) -> tuple[tuple[float, ...], bool]:
    """Add ``add`` to all four cells only when one of them is zero (metafor's to="only0")."""
    cells = (ai, bi, ci, di)
    if min(cells) == 0:
        return tuple(c + add for c in cells), True
    return cells, False


def log_or(ai, bi, ci, di) -> tuple[float, float]:
    """log odds ratio (events/non-events, group 1 over group 2) and 1/a + 1/b + 1/c + 1/d."""
    (a, b, c, d), _ = with_zero_correction(ai, bi, ci, di)
    return math.log(a * d / (b * c)), 1 / a + 1 / b + 1 / c + 1 / d


def log_rr(ai, bi, ci, di) -> tuple[float, float]:
    """log risk ratio, variance 1/a - 1/n1 + 1/c - 1/n2 (metafor ``"RR"``)."""
    (a, b, c, d), _ = with_zero_correction(ai, bi, ci, di)
    n1, n2 = a + b, c + d
    return math.log((a / n1) / (c / n2)), 1 / a - 1 / n1 + 1 / c - 1 / n2


def combine_arms(n1, m1, sd1, n2, m2, sd2) -> tuple[float, float, float]:
    """Merge two arms into one group (Cochrane Handbook table 6.5.a): n, mean, SD."""
    n = n1 + n2
    mean = (n1 * m1 + n2 * m2) / n
    var = ((n1 - 1) * sd1**2 + (n2 - 1) * sd2**2
           + n1 * n2 / n * (m1**2 + m2**2 - 2 * m1 * m2)) / (n - 1)
    return n, mean, math.sqrt(var)


def split_shared_n(n: float, ways: int = 2) -> float:
    """Share a common comparison arm among ``ways`` comparisons (Handbook 23.3.4): n / ways."""
    return n / ways


def within_group_change(mean_change: float, se: float) -> tuple[float, float]:
    """A single arm's change as an MD-type effect: yi = mean change, vi = SE^2."""
    return mean_change, se**2
