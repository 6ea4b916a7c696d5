"""Analyses built on ``rma``: subgroups, leave-one-out, cumulative, Egger's test, trim-and-fill.

Conventions follow R metafor 3.8 (``leave1out``, ``cumul``, ``regtest``,
``trimfill``). The test for subgroup differences has two variants:

- ``tau2="separate"`` (the default, and what the figures use): the Cochrane
  Handbook / RevMan test. Each subgroup fitted on its own (its own tau²),
  then Q_between = sum_g (est_g - est_pooled)² / se_g² with est_pooled the
  inverse-variance mean of the subgroup estimates, on G - 1 df.
- ``tau2="common"``: one tau² for all subgroups, metafor's
  ``rma(yi, vi, mods = ~ factor(g), method=, test=)``; Q_between is its QM
  (chi² on G - 1 df for test z; for knha QM / (G - 1) against F(G - 1, k - G),
  reported as the F statistic, as metafor), and each subgroup's fit uses the
  common tau².

Documented rules where metafor gives an error or noise:
- ``trimfill`` without ``side`` on studies of equal variances: the regression
  on sqrt(vi) that picks the side is singular (metafor stops with "missing
  value where TRUE/FALSE needed"); a DataError asks for ``side``.
- ``trimfill`` on identical effects: k0 = 0 (nothing is asymmetric; side
  "left" unless given, with no effect); metafor picks a side and k0 from the
  sign of a rounding-noise slope, or does not converge.
- ``egger`` on studies of equal variances: a DataError (metafor: "Model matrix
  no longer of full rank").
- ``egger`` on an essentially perfect fit: identical effects, or by R's
  ``summary.lm`` criterion (residual variance < c (mean(f)² + var(f)), f the
  weighted fitted values) with c = 1e-20 where R has 1e-30 (our least squares
  is not R's QR, its noise floor differs): the t statistic is rounding noise,
  so stat and p are NaN with a RuntimeWarning (metafor returns the noise with
  R's warning).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from evidence.errors import DataError
from evidence.meta.core import MetaResult, _wls, check_inputs, check_level, rma, tau2_estimate

_ROW_FIELDS = ("estimate", "se", "ci_low", "ci_high", "pval", "tau2", "I2", "Q", "k")


def _row(label, r: MetaResult) -> dict:
    return {"label": label, **{f: getattr(r, f) for f in _ROW_FIELDS}}


@dataclass
class SubgroupResult:
    """Per-subgroup fits and the test for subgroup differences."""

    results: dict[str, MetaResult]
    Q_between: float
    df: int
    p_between: float
    overall: MetaResult | None

    def summary_frame(self) -> pd.DataFrame:
        return pd.DataFrame([_row(g, r) for g, r in self.results.items()]).set_index("label")


def subgroups(yi, vi, groups, method="REML", test="z", labels=None, level=0.95,
              tau2="separate") -> SubgroupResult:
    """Fit each subgroup and test whether the subgroup estimates differ (see the module doc).

    With ``tau2="separate"`` a subgroup with a single study keeps that study's
    own estimate and variance (nothing to pool, tau² = 0); it still counts in the test.
    """
    y, v, labels = check_inputs(yi, vi, labels)
    level = check_level(level)
    groups = [str(g) for g in groups]
    if len(groups) != y.size:
        raise DataError(f"{len(groups)} group labels for {y.size} studies", field="groups")
    if tau2 not in ("separate", "common"):
        raise DataError(f"tau2 must be 'separate' or 'common', got {tau2!r}", field="tau2")
    names = list(dict.fromkeys(groups))
    index = {g: [i for i, gi in enumerate(groups) if gi == g] for g in names}
    if tau2 == "common":
        return _subgroups_common(y, v, groups, names, index, method, test, labels, level)
    results = {}
    for g in names:
        idx = index[g]
        results[g] = rma(y[idx], v[idx], method=method, test=test if len(idx) > 1 else "z",
                         labels=[labels[i] for i in idx], level=level, _allow_single=True)
    est = np.array([r.estimate for r in results.values()])
    w = 1 / np.array([r.se for r in results.values()]) ** 2
    pooled = np.sum(w * est) / w.sum()
    qb = float(np.sum(w * (est - pooled) ** 2))
    df = len(results) - 1
    p = float(stats.chi2.sf(qb, df)) if df > 0 else float("nan")
    overall = rma(y, v, method=method, test=test, labels=labels, level=level) if y.size > 1 else None
    return SubgroupResult(results=results, Q_between=qb, df=df, p_between=p, overall=overall)


def _subgroups_common(y, v, groups, names, index, method, test, labels, level):
    """One tau² for all subgroups: metafor's rma(yi, vi, mods = ~ factor(g))."""
    G, k = len(names), y.size
    if G < 2 or k <= G:
        raise DataError(f"a common-tau² subgroup model needs at least 2 subgroups and more studies "
                        f"than subgroups (got {G} subgroups, {k} studies)", field="groups")
    X = np.column_stack([np.ones(k)] + [[gi == g for gi in groups] for g in names[1:]]).astype(float)
    t2 = tau2_estimate(y, v, method, X)
    w, Ainv, r = _wls(y, v, X, t2)
    beta = Ainv @ (X.T @ (w * y))
    cov = Ainv
    if test == "knha":
        rss = float(np.sum(w * r * r))
        cov = cov * (0.0 if rss <= np.finfo(float).eps else rss / (k - G))
    b, C = beta[1:], cov[1:, 1:]
    if not C.any():  # knha scale 0 (identical effects): no test, as metafor (QM NaN)
        qm = float("nan")
    else:
        qm = float(b @ np.linalg.solve(C, b))
    if math.isnan(qm):
        p = float("nan")
    elif test == "knha":
        qm /= G - 1
        p = float(stats.f.sf(qm, G - 1, k - G))
    else:
        p = float(stats.chi2.sf(qm, G - 1))
    results = {g: rma(y[index[g]], v[index[g]], method=method, test="z", tau2=t2, level=level,
                      labels=[labels[i] for i in index[g]], _allow_single=True) for g in names}
    overall = rma(y, v, method=method, test=test, labels=labels, level=level)
    return SubgroupResult(results=results, Q_between=qm, df=G - 1, p_between=p, overall=overall)


def leave1out(yi, vi, method="REML", test="z", labels=None, level=0.95) -> pd.DataFrame:
    """Refit with each study left out in turn (metafor's ``leave1out``); one row per omitted study."""
    y, v, labels = check_inputs(yi, vi, labels)
    if y.size < 3 and method != "EE":
        raise DataError(f"leave-one-out of a {method} model needs at least 3 studies, got {y.size}")
    rows = []
    for i in range(y.size):
        keep = np.arange(y.size) != i
        rows.append(_row(labels[i], rma(y[keep], v[keep], method=method, test=test, level=level)))
    return pd.DataFrame(rows).set_index("label")


def cumulative(yi, vi, method="REML", test="z", labels=None, order=None, level=0.95) -> pd.DataFrame:
    """Cumulative meta-analysis: row j pools the first j studies (in ``order`` if given).

    The first row is the first study alone (tau² = 0), as in metafor's ``cumul``.
    """
    y, v, labels = check_inputs(yi, vi, labels)
    idx = np.arange(y.size) if order is None else np.argsort(np.asarray(order), kind="stable")
    rows = []
    for j in range(1, y.size + 1):
        sel = idx[:j]
        t = test if j > 1 else "z"
        rows.append(_row(labels[idx[j - 1]], rma(y[sel], v[sel], method=method, test=t, level=level,
                                                 _allow_single=True)))
    return pd.DataFrame(rows).set_index("label")


@dataclass
class EggerResult:
    """Egger's regression test: weighted regression of yi on sei (weights 1/vi), t on k - 2 df.

    ``bias`` is the slope on sei (the classical Egger intercept of the
    standardised regression); ``limit_estimate`` the intercept (effect as
    se -> 0; metafor reports it as the fit's intercept).
    """

    bias: float
    se: float
    stat: float
    pval: float
    df: int
    limit_estimate: float


def egger(yi, vi) -> EggerResult:
    """Classical Egger test, as metafor's ``regtest(model="lm", predictor="sei")``."""
    y, v, _ = check_inputs(yi, vi)
    k = y.size
    if k < 3:
        raise DataError(f"Egger's test needs at least 3 studies, got {k}")
    if np.ptp(v) <= 1e-12 * v.max():  # metafor: "Model matrix no longer of full rank"
        raise DataError("Egger's test needs studies of different precision; all variances are equal",
                        field="vi")
    X = np.column_stack([np.ones(k), np.sqrt(v)])
    w = 1 / v
    XtW = X.T * w
    sw = np.sqrt(w)
    beta = np.linalg.lstsq(X * sw[:, None], sw * y, rcond=None)[0]  # QR-like accuracy, as lm
    resid = y - X @ beta
    sigma2 = np.sum(w * resid ** 2) / (k - 2)
    fitted = np.sqrt(w) * (X @ beta)
    if np.ptp(y) == 0 or sigma2 < 1e-20 * (np.mean(fitted) ** 2 + np.var(fitted, ddof=1)):
        warnings.warn("Egger's test: essentially perfect fit (identical effects?); the test "
                      "statistic would be rounding noise, so it and p are NaN", RuntimeWarning,
                      stacklevel=2)
        return EggerResult(bias=float(beta[1]), se=float("nan"), stat=float("nan"),
                           pval=float("nan"), df=k - 2, limit_estimate=float(beta[0]))
    cov = sigma2 * np.linalg.inv(XtW @ X)
    se = float(np.sqrt(cov[1, 1]))
    t = float(beta[1] / se)
    return EggerResult(bias=float(beta[1]), se=se, stat=t, pval=float(2 * stats.t.sf(abs(t), k - 2)),
                       df=k - 2, limit_estimate=float(beta[0]))


@dataclass
class TrimFillResult:
    """Trim-and-fill: number and side of imputed studies, and the fit with them added."""

    k0: int
    side: str
    result: MetaResult
    filled: np.ndarray  # bool per study of result: True for imputed ones


def _slope_sign(y, v, method):
    """Sign of the sqrt(vi) slope in a meta-regression fitted with ``method`` (for the side)."""
    X = np.column_stack([np.ones(y.size), np.sqrt(v)])
    w = 1 / (v + tau2_estimate(y, v, method, X))
    XtW = X.T * w
    return np.linalg.solve(XtW @ X, XtW @ y)[1]


def trimfill(yi, vi, method="REML", test="z", labels=None, side=None, level=0.95) -> TrimFillResult:
    """Duval & Tweedie's trim-and-fill with the L0 estimator (metafor's ``trimfill`` defaults).

    The side where studies are missing is, unless given, the one suggested by
    a meta-regression on sqrt(vi) fitted with ``method``: a negative slope
    means studies are missing on the right. Filled studies mirror the most
    extreme ones about the trimmed estimate and keep their variances.
    """
    y0, v0, labels = check_inputs(yi, vi, labels)
    if np.ptp(y0) == 0:  # identical effects: nothing is asymmetric, nothing to fill
        side = "left" if side is None else side
        res = rma(y0, v0, method=method, test=test, labels=labels, level=level)
        return TrimFillResult(k0=0, side=side, result=res, filled=np.zeros(y0.size, bool))
    if side is None and np.ptp(v0) <= 1e-12 * v0.max():
        raise DataError("trim-and-fill: all variances are equal, so funnel asymmetry cannot "
                        "suggest a side; give side='left' or side='right'", field="side")
    if side is None:
        side = "right" if _slope_sign(y0, v0, method) < 0 else "left"
    if side not in ("left", "right"):
        raise DataError(f"side must be left or right, got {side!r}", field="side")
    sgn = -1.0 if side == "right" else 1.0
    order = np.argsort(sgn * y0, kind="stable")
    y, v = sgn * y0[order], v0[order]
    k = y.size
    k0, prev = 0, -1
    for _ in range(100):  # bounded; the L0 estimator settles in a few rounds
        if k0 == prev:
            break
        prev = k0
        beta = rma(y[: k - k0], v[: k - k0], method=method, _allow_single=True).estimate
        c = y - beta
        ranks = np.empty(k)
        ranks[np.argsort(np.abs(c), kind="stable")] = np.arange(1, k + 1)
        sr = np.sum(ranks[c > 0])
        k0 = max(0, round((4 * sr - k * (k + 1)) / (2 * k - 1)))
    else:
        raise DataError("trim-and-fill did not converge in 100 iterations")
    if k0 == 0:
        res = rma(y0, v0, method=method, test=test, labels=labels, level=level)
        return TrimFillResult(k0=0, side=side, result=res, filled=np.zeros(k, bool))
    fill_y = sgn * (2 * beta - y[k - k0:])
    yy = np.concatenate([y0, fill_y])
    vv = np.concatenate([v0, v[k - k0:]])
    labs = labels + [f"Filled {i + 1}" for i in range(k0)]
    res = rma(yy, vv, method=method, test=test, labels=labs, level=level)
    return TrimFillResult(k0=k0, side=side, result=res, filled=np.r_[np.zeros(k, bool), np.ones(k0, bool)])
