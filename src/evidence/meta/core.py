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
- ``test="knha"`` with a weighted residual sum of squares <= machine epsilon
  (identical effects): the scale is 0, so se = 0, CI = [est, est], the
  statistic ±inf and p = 0 (metafor's ``RSS.knha <= .Machine$double.eps``).
- tau² confidence interval: Q-profile (Viechtbauer 2007), bounds set to 0
  when the generalised Q at tau² = 0 is already below the chi² quantile;
  computed on first access of ``MetaResult.tau2_ci`` (it costs as much as the fit).
- k = 1 (equal-effects model, or a one-study subgroup / first cumulative row):
  I² = 0 and H² = 1, as metafor (nothing to be heterogeneous).
- REML and ML (the project's rule, metafor's ``ll0check`` plus a second
  search): the local maximum of the (restricted) likelihood reached from
  Hedges' estimate (metafor's start), by bracketed Newton on the score's
  ratio form (``evidence.meta.kernel``); where it is below the likelihood at tau² = 0
  (where metafor sets tau² to 0: the likelihood is multimodal), a second
  search from DerSimonian-Laird's estimate; tau² is the best of these and 0.
  So where a higher interior maximum exists, the project returns it and
  metafor 0 (issue 15's REML reproducer, tests/test_meta_issue15.py; none
  of the 420 randomized datasets of tests/reference/ has such a likelihood). ``rma`` and ``batch`` run the same algorithm
  (the kernel's vector and scalar forms), so they agree.
- Every iteration is bounded; past the bound ``rma`` raises ``DataError``.
- Memory is O(k): intercept-only forms, never a k x k matrix.
- Duplicated study labels are allowed here (a ``UserWarning`` names them);
  ``evidence meta`` rejects them, naming the line.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, special

from evidence.errors import DataError
from evidence.meta import kernel

METHODS = ("EE", "DL", "REML", "PM", "ML", "SJ", "HE")
TESTS = ("z", "knha")
PI_CONVENTIONS = ("metafor", "higgins")
_TOL = kernel.TOL  # kept for callers of the old names
_MAXITER = kernel.MAX_ROUNDS
_EPS = np.finfo(float).eps


def norm_quantile(level):
    """Two-sided normal quantile for a confidence level in (0, 1)."""
    return float(special.ndtri(0.5 + level / 2))


def t_quantile(level, df):
    return float(special.stdtrit(df, 0.5 + level / 2))


def check_level(level):
    """A confidence level must lie strictly between 0 and 1 (0.95, not 95)."""
    try:
        ok = 0 < float(level) < 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise DataError(f"confidence level must be between 0 and 1 (e.g. 0.95), got {level!r}",
                        field="level")
    return float(level)


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
    level: float = 0.95
    pi: str = "metafor"
    stat: float = field(default=float("nan"))  # z or t statistic
    df: int | None = None  # degrees of freedom of the t test (knha), else None
    _tau2_ci: tuple[float, float] | None = field(default=None, repr=False, compare=False)

    @property
    def tau2_ci(self) -> tuple[float, float]:
        """Q-profile confidence interval for tau², computed on first use."""
        if self._tau2_ci is None:
            self._tau2_ci = tau2_qprofile(self.yi, self.vi, self.level)
        return self._tau2_ci

    def summary_frame(self) -> pd.DataFrame:
        """Per-study effects with their intervals and weights, then the pooled row."""
        q = norm_quantile(self.level)
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
        for name in [n for n in self.__dataclass_fields__ if n != "_tau2_ci"] + ["tau2_ci"]:
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


def _floats(values, name, source):
    """1-D float array; a value that is not a number is reported by its row."""
    try:
        return np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        pass
    seq = list(values.tolist() if hasattr(values, "tolist") else values)
    for i, x in enumerate(seq):
        try:
            float(x)
        except (TypeError, ValueError):
            raise DataError(f"not a number: {x!r}", file=source, row=i + 1, field=name) from None
    raise DataError(f"{name} must be a flat list of numbers", file=source, field=name)


def check_inputs(yi, vi, labels=None, *, source=None):
    """Validate and convert inputs; a bad value is reported by row (1-based) and field."""
    y, v = _floats(yi, "yi", source), _floats(vi, "vi", source)
    if y.shape != v.shape:
        raise DataError(f"yi has {y.size} values but vi has {v.size}", file=source)
    bad_y = ~np.isfinite(y)
    bad_v = ~(np.isfinite(v) & (v > 0))
    if bad_y.any() or bad_v.any():
        i = int(np.flatnonzero(bad_y | bad_v)[0])
        if bad_y[i]:
            raise DataError(f"effect is not a finite number ({y[i]})", file=source, row=i + 1, field="yi")
        raise DataError(f"variance must be a positive number, got {v[i]}",
                        file=source, row=i + 1, field="vi")
    if labels is None:
        labels = [f"Study {i + 1}" for i in range(y.size)]
    labels = [str(s) for s in labels]
    if len(labels) != y.size:
        raise DataError(f"{len(labels)} labels for {y.size} studies", file=source, field="labels")
    if len(set(labels)) != len(labels):
        seen, dups = set(), []
        for lab in labels:
            if lab in seen and lab not in dups:
                dups.append(lab)
            seen.add(lab)
        warnings.warn(f"duplicated study labels: {dups[:5]}", UserWarning, stacklevel=3)
    return y, v, labels


# ---- tau², intercept-only (the kernel, O(k)) ----

def _closed(y, v):
    """The kernel's closed forms for one row; numbers beyond double precision are an error."""
    with np.errstate(over="ignore", invalid="ignore"):
        cf = kernel.closed_forms1(y, v)
    if not all(np.isfinite(cf[n][0]) for n in ("Q", "c", "he", "S", "s0_reml")) or not cf["S"][0] > 0:
        raise DataError("effects or variances too extreme for double precision (Q or the "
                        "weights overflow)")
    return cf


def _tau2_row(y, v, method, cf=None):
    """tau² of one intercept-only meta-analysis by ``method``, via the shared kernel."""
    k = y.size
    if method == "EE" or k < 2:
        return 0.0
    cf = _closed(y, v) if cf is None else cf
    Y, V = cf["yc"], v[None, :]
    if method == "DL":
        return float(cf["dl"][0])
    if method == "HE":
        return float(cf["he"][0])
    if method == "SJ":  # one step from the (biased) sample variance, metafor's default
        t0 = cf["rss"] / k
        w, _S, _mu, r = kernel.sums(Y, V, t0)
        return float(max(0.0, t0[0] * kernel.rsum(w * r * r)[0] / (k - 1)))
    if method == "PM":
        t, failed = kernel.pm(Y, V, cf["dl"], cf["Q"] - (k - 1), np.array([float(k)]))
    elif method in ("REML", "ML"):
        t = kernel.reml_ml1(Y[0], v, cf, method == "REML")
        failed = [t is None]
        t = [t]
    else:
        raise DataError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}", field="method")
    if failed[0]:
        raise DataError(f"{method} tau² estimation did not converge within {kernel.MAX_ROUNDS} "
                        "iterations (effects or variances too extreme for double precision?)")
    return float(t[0])


# ---- general design X (k x p, small p): p x p forms, used by trim-and-fill's side ----

def _wls(y, v, X, t):
    w = 1 / (v + t)
    A = X.T @ (X * w[:, None])
    try:
        Ainv = np.linalg.inv(A)
    except np.linalg.LinAlgError:
        raise DataError("the meta-regression design is singular (a moderator is constant)") from None
    beta = Ainv @ (X.T @ (w * y))
    return w, Ainv, y - X @ beta


def genq_x(y, v, X, t):
    """Generalised Q (residual sum of squares weighted by 1/(v + t)) of a meta-regression."""
    w, _Ainv, r = _wls(y, v, X, t)
    return float(np.sum(w * r * r))


def _score_x(y, v, X, t, reml):
    w, Ainv, r = _wls(y, v, X, t)
    ypy = np.sum((w * r) ** 2)
    if reml:
        return ypy - (w.sum() - np.trace(Ainv @ (X.T @ (X * (w * w)[:, None]))))
    return ypy - w.sum()


def _tau2_x(y, v, X, method):
    k, p = X.shape
    if method == "EE":
        return 0.0
    if method == "DL":
        w, Ainv, r = _wls(y, v, X, 0.0)
        trp = w.sum() - np.trace(Ainv @ (X.T @ (X * (w * w)[:, None])))
        return max(0.0, (np.sum(w * r * r) - (k - p)) / trp)
    XtXi = np.linalg.pinv(X.T @ X)
    r0 = y - X @ (XtXi @ (X.T @ y))
    he = max(0.0, (r0 @ r0 - (v.sum() - np.trace(XtXi @ (X.T @ (X * v[:, None]))))) / (k - p))
    if method == "HE":
        return he
    if method == "SJ":
        t0 = float(np.mean((y - y.mean()) ** 2))
        return max(0.0, t0 * genq_x(y, v, X, t0) / (k - p))
    if method == "PM":
        if genq_x(y, v, X, 0.0) <= k - p:
            return 0.0
        return _root_decreasing(lambda t: genq_x(y, v, X, t), k - p)
    if method in ("REML", "ML"):  # first local maximum from 0 (the sign of a slope is wanted)
        reml = method == "REML"
        if _score_x(y, v, X, 0.0, reml) <= 0:
            return 0.0
        hi = max(he, float(np.mean(v)))
        for _ in range(kernel.MAX_EXPAND):
            if _score_x(y, v, X, hi, reml) < 0:
                return optimize.brentq(lambda t: _score_x(y, v, X, t, reml), 0.0, hi, xtol=1e-14,
                                       maxiter=kernel.MAX_ROUNDS)
            hi *= 4
        raise DataError(f"{method} tau² of the meta-regression: no maximum below {hi:.3g}")
    raise DataError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}", field="method")


def tau2_estimate(y, v, method, X=None):
    """tau² by ``method`` for effects y, variances v and design X (intercept only if None)."""
    y, v = np.asarray(y, float), np.asarray(v, float)
    if X is None:
        return _tau2_row(y, v, method)
    return _tau2_x(y, v, np.asarray(X, float), method)


def genq(y, v, X, tau2):
    """Generalised Q: sum of squared weighted residuals at a given tau² (X None: intercept)."""
    if X is None or X.shape[1] == 1 and np.all(X == 1):
        w = 1 / (v + tau2)
        mu = np.sum(w * y) / w.sum()
        return float(np.sum(w * (y - mu) ** 2))
    return genq_x(y, v, X, tau2)


def _root_decreasing(f, target):
    """Smallest t >= 0 with f(t) = target for decreasing f (f(0) > target); bounded search."""
    hi = 1.0
    for _ in range(kernel.MAX_EXPAND):
        if f(hi) <= target:
            return optimize.brentq(lambda t: f(t) - target, 0.0, hi, xtol=1e-15,
                                   rtol=4 * np.finfo(float).eps, maxiter=500)
        hi *= 4
    raise DataError(f"tau² search failed: no root below {hi:.3g}")


def tau2_qprofile(y, v, level=0.95):
    """Q-profile confidence interval for tau² (Viechtbauer 2007), intercept-only model."""
    y, v = np.asarray(y, float), np.asarray(v, float)
    k = y.size
    if k < 2:
        return (float("nan"), float("nan"))
    q0 = genq(y, v, None, 0.0)
    alpha = 1 - level
    hi_crit = float(special.chdtri(k - 1, alpha / 2))  # upper alpha/2 quantile
    lo_crit = float(special.chdtri(k - 1, 1 - alpha / 2))
    f = lambda t: genq(y, v, None, t)  # noqa: E731
    low = 0.0 if q0 <= hi_crit else _root_decreasing(f, hi_crit)
    high = 0.0 if q0 <= lo_crit else _root_decreasing(f, lo_crit)
    return (float(low), float(high))


def heterogeneity(y, v, cf=None):
    """Cochran's Q (equal-effects weights), its p-value, and the typical variance s²."""
    k = y.size
    if k < 2:
        return 0.0, float("nan"), float("nan")
    cf = _closed(y, v) if cf is None else cf
    Q = float(cf["Q"][0])
    return Q, float(special.chdtrc(k - 1, Q)), float(cf["s2"][0])


def rma(yi, vi, method="REML", test="z", labels=None, level=0.95, pi="metafor", *,
        tau2=None, source=None, _allow_single=False) -> MetaResult:
    """Fit an intercept-only meta-analysis (metafor's ``rma(yi, vi, method=, test=)``).

    ``tau2`` fixes the between-study variance instead of estimating it (as
    metafor's ``tau2=`` argument), e.g. for sensitivity analyses.
    """
    method = str(method).upper()
    if method not in METHODS:
        raise DataError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}", field="method")
    if test not in TESTS:
        raise DataError(f"unknown test {test!r}; choose z or knha", field="test")
    if pi not in PI_CONVENTIONS:
        raise DataError(f"unknown prediction interval convention {pi!r}", field="pi")
    level = check_level(level)
    y, v, labels = check_inputs(yi, vi, labels, source=source)
    k = y.size
    if k == 0:
        raise DataError("no studies to pool", file=source)
    if k < 2 and not (_allow_single or method == "EE") or (k < 2 and test == "knha"):
        raise DataError(f"a {method} model with test={test} needs at least 2 studies, got {k}",
                        file=source)
    try:
        cf = _closed(y, v) if k > 1 else None
    except DataError as exc:
        raise DataError(exc.message, file=source) from None
    if tau2 is not None:
        if not (np.isfinite(tau2) and tau2 >= 0):
            raise DataError(f"fixed tau2 must be a non-negative number, got {tau2}", field="tau2")
        tau2 = float(tau2)
    else:
        try:
            tau2 = _tau2_row(y, v, method, cf)
        except DataError as exc:
            raise DataError(exc.message, file=source, field=exc.field) from None
    w = 1 / (v + tau2)
    sw = float(w.sum())
    est = float(np.sum(w * y) / sw)
    if test == "knha":
        df = k - 1
        rss = float(np.sum(w * (y - est) ** 2))
        s2w = 0.0 if rss <= _EPS else rss / df  # metafor: RSS.knha <= .Machine$double.eps
        se = math.sqrt(s2w / sw)
        crit = t_quantile(level, df)
    else:
        df = None
        se = math.sqrt(1 / sw)
        crit = norm_quantile(level)
    stat = est / se if se > 0 else (math.copysign(math.inf, est) if est != 0 else math.nan)
    if math.isnan(stat):
        pval = math.nan
    elif test == "knha":
        pval = float(2 * special.stdtr(df, -abs(stat)))
    else:
        pval = float(2 * special.ndtr(-abs(stat)))
    Q, Q_pval, s2 = heterogeneity(y, v, cf)
    if k < 2:
        I2, H2 = 0.0, 1.0  # metafor's values for k = 1
    elif method == "EE":
        I2 = 100 * max(0.0, (Q - (k - 1)) / Q) if Q > 0 else 0.0
        H2 = Q / (k - 1)
    else:
        I2 = 100 * tau2 / (tau2 + s2)
        H2 = (tau2 + s2) / s2
    pi_low = pi_high = None
    if method != "EE":
        if pi == "higgins":
            q = t_quantile(level, k - 2) if k >= 3 else float("nan")
        else:
            q = crit
        half = q * math.sqrt(se ** 2 + tau2)
        pi_low, pi_high = est - half, est + half
    return MetaResult(
        estimate=est, se=se, ci_low=est - crit * se, ci_high=est + crit * se, pval=pval,
        tau2=float(tau2), I2=float(I2), H2=float(H2), Q=Q, Q_pval=Q_pval, k=k,
        pi_low=pi_low, pi_high=pi_high, method=method, test=test,
        weights=100 * w / sw, yi=y, vi=v, labels=labels,
        level=level, pi=pi, stat=float(stat), df=df,
    )
