"""Analyses built on ``rma``: subgroups, leave-one-out, cumulative, Egger's test, trim-and-fill.

Conventions follow R metafor 3.8 (``leave1out``, ``cumul``, ``regtest``,
``trimfill``); the test for subgroup differences is the one of the Cochrane
Handbook / RevMan: each subgroup fitted on its own (its own tau²), then
Q_between = sum_g (est_g - est_pooled)² / se_g² with est_pooled the
inverse-variance mean of the subgroup estimates, on G - 1 df.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from evidence.errors import DataError
from evidence.meta.core import MetaResult, check_inputs, rma, tau2_estimate

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


def subgroups(yi, vi, groups, method="REML", test="z", labels=None, level=0.95) -> SubgroupResult:
    """Fit each subgroup separately and test whether the subgroup estimates differ.

    A subgroup with a single study keeps that study's own estimate and
    variance (nothing to pool, tau² = 0); it still counts in the test.
    """
    y, v, labels = check_inputs(yi, vi, labels)
    groups = [str(g) for g in groups]
    if len(groups) != y.size:
        raise DataError(f"{len(groups)} group labels for {y.size} studies", field="groups")
    results = {}
    for g in dict.fromkeys(groups):
        idx = [i for i, gi in enumerate(groups) if gi == g]
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
    X = np.column_stack([np.ones(k), np.sqrt(v)])
    w = 1 / v
    XtW = X.T * w
    beta = np.linalg.solve(XtW @ X, XtW @ y)
    resid = y - X @ beta
    sigma2 = np.sum(w * resid ** 2) / (k - 2)
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
    if side is None:
        side = "right" if _slope_sign(y0, v0, method) < 0 else "left"
    if side not in ("left", "right"):
        raise DataError(f"side must be left or right, got {side!r}", field="side")
    sgn = -1.0 if side == "right" else 1.0
    order = np.argsort(sgn * y0, kind="stable")
    y, v = sgn * y0[order], v0[order]
    k = y.size
    k0, prev = 0, -1
    for _ in range(100):
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
