"""Random- and equal-effects meta-analysis of study effects ``yi`` with variances ``vi``.

Where statsmodels is used and where the project's own code takes over
---------------------------------------------------------------------
``statsmodels.stats.meta_analysis.combine_effects`` (0.15) computes the
equal-effects estimate, Cochran's Q and the DerSimonian-Laird and
Paule-Mandel random-effects fits, and we use it as a cross-check in the
tests. It is not enough for the project, so ``rma`` computes everything
itself (same formulas, metafor's conventions):

- it has no REML, ML, Sidik-Jonkman or Hedges estimator of tau²;
- its DerSimonian-Laird tau² is not floored at 0 (``(Q - df) / c`` can be
  negative when Q < k - 1, which then *increases* the weights);
- its Paule-Mandel iteration stops at ``|Q(tau²) - (k-1)| < 1e-5`` rather
  than solving the equation, so tau² agrees with metafor to about 1e-6 only;
- it has no prediction interval, no I² / H² from tau², and no confidence
  interval for tau².
``tests/test_meta_statsmodels.py`` shows where the two agree and where they
differ, and why.

Conventions (those of R metafor 3.8, against which the project is validated):
- tau² is floored at 0 for every estimator; I² = 100 tau² / (tau² + s²) and
  H² = (tau² + s²) / s² with s² the "typical" within-study variance
  (k - 1) / (sum w - sum w² / sum w), w = 1 / vi; for the equal-effects model
  I² = max(0, (Q - df) / Q) and H² = Q / df.
- ``test="knha"`` (Hartung-Knapp-Sidik-Jonkman): se² = sum w(y - mu)² /
  ((k - 1) sum w), t(k - 1) quantiles, no truncation of the scale at 1.
- prediction interval ``pi="metafor"``: estimate ± q sqrt(se² + tau²) with q
  the normal quantile for test="z" and t(k - 1) for test="knha" (metafor's
  ``predict``); ``pi="higgins"``: t(k - 2) (Higgins, Thompson & Spiegelhalter
  2009), needs k >= 3. No prediction interval for the equal-effects model.
- tau² confidence interval: Q-profile (Viechtbauer 2007), bounds set to 0
  when the generalised Q at tau² = 0 is already below the chi² quantile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

from evidence.errors import DataError

METHODS = ("EE", "DL", "REML", "PM", "ML", "SJ", "HE")
TESTS = ("z", "knha")
PI_CONVENTIONS = ("metafor", "higgins")
_TOL = 1e-12  # convergence of iterative tau² estimators (change in tau²)
_MAXITER = 1000


@dataclass
class MetaResult:
    """One fitted meta-analysis; field names are the project's contract (docs/contracts.md)."""

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    pval: float
    tau2: float
    I2: float
    H2: float
    Q: float
    Q_pval: float
    k: int
    pi_low: float | None
    pi_high: float | None
    method: str
    test: str
    weights: np.ndarray  # percent, sum to 100
    yi: np.ndarray
    vi: np.ndarray
    labels: list[str]
    tau2_ci: tuple[float, float]
    level: float = 0.95
    pi: str = "metafor"
    stat: float = field(default=float("nan"))  # z or t statistic
    df: int | None = None  # degrees of freedom of the t test (knha), else None

    def summary_frame(self) -> pd.DataFrame:
        """Per-study effects with their intervals and weights, then the pooled row."""
        q = stats.norm.ppf(0.5 + self.level / 2)
        se_i = np.sqrt(self.vi)
        rows = pd.DataFrame({
            "estimate": self.yi, "se": se_i, "ci_low": self.yi - q * se_i,
            "ci_high": self.yi + q * se_i, "weight": self.weights,
        }, index=list(self.labels))
        pooled = pd.DataFrame({
            "estimate": [self.estimate], "se": [self.se], "ci_low": [self.ci_low],
            "ci_high": [self.ci_high], "weight": [100.0],
        }, index=[f"{self.method} model ({self.test})"])
        return pd.concat([rows, pooled])

    def to_dict(self) -> dict:
        """JSON-ready dict (arrays as lists, NaN as None)."""
        out = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, np.ndarray):
                value = [_clean(v) for v in value.tolist()]
            elif isinstance(value, tuple):
                value = [_clean(v) for v in value]
            elif isinstance(value, list):
                value = list(value)
            else:
                value = _clean(value)
            out[name] = value
        return out


def _clean(v):
    if isinstance(v, (float, np.floating)):
        return None if math.isnan(v) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


def check_inputs(yi, vi, labels=None, *, source=None):
    """Validate and convert inputs; a bad value is reported by row and field."""
    y = np.asarray(yi, dtype=float).ravel()
    v = np.asarray(vi, dtype=float).ravel()
    if y.shape != v.shape:
        raise DataError(f"yi has {y.size} values but vi has {v.size}", file=source)
    for i in range(y.size):
        if not np.isfinite(y[i]):
            raise DataError(f"effect is not a finite number ({y[i]})", file=source, row=i + 1, field="yi")
        if not np.isfinite(v[i]) or v[i] <= 0:
            raise DataError(f"variance must be a positive number, got {v[i]}",
                            file=source, row=i + 1, field="vi")
    if labels is None:
        labels = [f"Study {i + 1}" for i in range(y.size)]
    labels = [str(s) for s in labels]
    if len(labels) != y.size:
        raise DataError(f"{len(labels)} labels for {y.size} studies", file=source, field="labels")
    return y, v, labels


# ---- tau² estimators, general design matrix X (k x p), as in metafor ----

def _proj(w, X):
    """P = W - W X (X' W X)^-1 X' W."""
    WX = X * w[:, None]
    return np.diag(w) - WX @ np.linalg.solve(X.T @ WX, WX.T)


def _fisher(y, v, X, tau2, reml, stepadj=1.0):
    """Fisher scoring for (RE)ML tau², with step halving at the 0 bound.

    ``stepadj`` < 1 damps every step (metafor's ``control=list(stepadj=)``),
    the remedy metafor documents for scoring that overshoots without end.
    """
    for _ in range(_MAXITER):
        w = 1 / (v + tau2)
        P = _proj(w, X)
        Py = P @ y
        if reml:
            adj = (Py @ Py - np.trace(P)) / np.sum(P * P)
        else:
            adj = (Py @ Py - w.sum()) / np.sum(w * w)
        adj *= stepadj
        while tau2 + adj < 0:
            adj /= 2
        tau2 += adj
        if abs(adj) < _TOL * max(1.0, tau2):
            return tau2
    raise DataError("tau² estimation (Fisher scoring) did not converge")


def genq(y, v, X, tau2):
    """Generalised Q: sum of squared weighted residuals at a given tau²."""
    P = _proj(1 / (v + tau2), X)
    return float(y @ P @ y)


def _root_decreasing(f, target):
    """Smallest t >= 0 with f(t) = target for decreasing f (f(0) > target)."""
    hi = 1.0
    while f(hi) > target:
        hi *= 4
        if hi > 1e12:
            raise DataError("tau² search failed: no root below 1e12")
    return optimize.brentq(lambda t: f(t) - target, 0.0, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps,
                           maxiter=500)


def tau2_estimate(y, v, method, X=None):
    """tau² by ``method`` for effects y, variances v and design X (intercept only if None)."""
    k = y.size
    X = np.ones((k, 1)) if X is None else X
    p = X.shape[1]
    if method == "EE":
        return 0.0
    if method == "DL":
        P = _proj(1 / v, X)
        return max(0.0, (y @ P @ y - (k - p)) / np.trace(P))
    # HE: residual SS of the unweighted fit minus its expectation under tau² = 0
    P0 = np.eye(k) - X @ np.linalg.solve(X.T @ X, X.T)
    he = max(0.0, (y @ P0 @ y - np.trace(P0 * v)) / (k - p))
    if method == "HE":
        return he
    if method == "SJ":  # one step from the (biased) sample variance, metafor's default
        t0 = float(np.mean((y - y.mean()) ** 2))  # metafor: var(yi) (k - 1) / k
        return max(0.0, t0 * genq(y, v, X, t0) / (k - p))
    if method in ("REML", "ML"):
        try:
            return _fisher(y, v, X, he, reml=method == "REML")
        except DataError:  # full steps oscillate: retry damped, as metafor's stepadj = 0.5
            return _fisher(y, v, X, he, reml=method == "REML", stepadj=0.5)
    if method == "PM":
        if genq(y, v, X, 0.0) <= k - p:
            return 0.0
        return _root_decreasing(lambda t: genq(y, v, X, t), k - p)
    raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")


def tau2_qprofile(y, v, level=0.95):
    """Q-profile confidence interval for tau² (Viechtbauer 2007), intercept-only model."""
    k = y.size
    if k < 2:
        return (float("nan"), float("nan"))
    X = np.ones((k, 1))
    q0 = genq(y, v, X, 0.0)
    alpha = 1 - level
    hi_crit = stats.chi2.ppf(1 - alpha / 2, k - 1)
    lo_crit = stats.chi2.ppf(alpha / 2, k - 1)
    f = lambda t: genq(y, v, X, t)  # noqa: E731
    low = 0.0 if q0 <= hi_crit else _root_decreasing(f, hi_crit)
    high = 0.0 if q0 <= lo_crit else _root_decreasing(f, lo_crit)
    return (float(low), float(high))


def heterogeneity(y, v):
    """Cochran's Q (equal-effects weights), its p-value, and the typical variance s²."""
    w = 1 / v
    mu = np.sum(w * y) / w.sum()
    Q = float(np.sum(w * (y - mu) ** 2))
    k = y.size
    Q_pval = float(stats.chi2.sf(Q, k - 1)) if k > 1 else float("nan")
    s2 = (k - 1) * w.sum() / (w.sum() ** 2 - np.sum(w ** 2)) if k > 1 else float("nan")
    return Q, Q_pval, s2


def rma(yi, vi, method="REML", test="z", labels=None, level=0.95, pi="metafor", *,
        tau2=None, source=None, _allow_single=False) -> MetaResult:
    """Fit an intercept-only meta-analysis (metafor's ``rma(yi, vi, method=, test=)``).

    ``tau2`` fixes the between-study variance instead of estimating it (as
    metafor's ``tau2=`` argument), e.g. for sensitivity analyses.
    """
    method = method.upper()
    if method not in METHODS:
        raise DataError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}", field="method")
    if test not in TESTS:
        raise DataError(f"unknown test {test!r}; choose z or knha", field="test")
    if pi not in PI_CONVENTIONS:
        raise DataError(f"unknown prediction interval convention {pi!r}", field="pi")
    y, v, labels = check_inputs(yi, vi, labels, source=source)
    k = y.size
    if k == 0:
        raise DataError("no studies to pool", file=source)
    if k < 2 and not (_allow_single or method == "EE") or (k < 2 and test == "knha"):
        raise DataError(f"a {method} model with test={test} needs at least 2 studies, got {k}",
                        file=source)
    if tau2 is not None:
        if not (np.isfinite(tau2) and tau2 >= 0):
            raise DataError(f"fixed tau2 must be a non-negative number, got {tau2}", field="tau2")
        tau2 = float(tau2)
    else:
        tau2 = tau2_estimate(y, v, method) if k > 1 else 0.0
    w = 1 / (v + tau2)
    est = float(np.sum(w * y) / w.sum())
    if test == "knha":
        df = k - 1
        se = math.sqrt(np.sum(w * (y - est) ** 2) / (df * w.sum()))
        crit = stats.t.ppf(0.5 + level / 2, df)
        stat = est / se
        pval = float(2 * stats.t.sf(abs(stat), df))
    else:
        df = None
        se = math.sqrt(1 / w.sum())
        crit = stats.norm.ppf(0.5 + level / 2)
        stat = est / se
        pval = float(2 * stats.norm.sf(abs(stat)))
    Q, Q_pval, s2 = heterogeneity(y, v)
    if k < 2:
        I2 = H2 = float("nan")
    elif method == "EE":
        I2 = 100 * max(0.0, (Q - (k - 1)) / Q) if Q > 0 else 0.0
        H2 = Q / (k - 1)
    else:
        I2 = 100 * tau2 / (tau2 + s2)
        H2 = (tau2 + s2) / s2
    pi_low = pi_high = None
    if method != "EE":
        if pi == "higgins":
            q = stats.t.ppf(0.5 + level / 2, k - 2) if k >= 3 else float("nan")
        else:
            q = crit
        half = q * math.sqrt(se ** 2 + tau2)
        pi_low, pi_high = est - half, est + half
    return MetaResult(
        estimate=est, se=se, ci_low=est - crit * se, ci_high=est + crit * se, pval=pval,
        tau2=float(tau2), I2=float(I2), H2=float(H2), Q=Q, Q_pval=Q_pval, k=k,
        pi_low=pi_low, pi_high=pi_high, method=method, test=test,
        weights=100 * w / w.sum(), yi=y, vi=v, labels=labels,
        tau2_ci=tau2_qprofile(y, v, level), level=level, pi=pi, stat=float(stat), df=df,
    )
