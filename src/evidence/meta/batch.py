"""Many meta-analyses at once: vectorised numpy over rows of (m, k) arrays.

Used by the small-k simulation (tens of thousands of fits) and the benchmark.
Same estimators and conventions as ``rma`` (see ``evidence.meta.core``); the
iterative ones (REML, ML by Fisher scoring, PM by Newton on the generalised Q)
run on all rows together, each row leaving the loop when its tau² has
converged. Rows are NaN-padded for unequal k: a NaN in ``yi`` must sit where
``vi`` is NaN. Rows with fewer than 2 studies give NaN (a random-effects
model needs 2; the EE model is returned for k = 1 with NaN heterogeneity).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from evidence.errors import DataError
from evidence.meta.core import _MAXITER, _TOL, METHODS, TESTS

FIELDS = ("estimate", "se", "ci_low", "ci_high", "pval", "tau2", "I2", "H2", "Q", "Q_pval",
          "k", "pi_low", "pi_high")


def _sums(y, v, mask, tau2):
    """Weights and weighted sums for every row at its tau² (padding has weight 0)."""
    w = np.where(mask, 1.0 / (v + tau2[:, None]), 0.0)
    S = w.sum(1)
    mu = (w * y).sum(1) / S
    r = np.where(mask, y - mu[:, None], 0.0)
    return w, S, mu, r


def _fisher(y, v, mask, tau2, reml, active):
    """Vectorised Fisher scoring for (RE)ML tau², as ``core._fisher`` (rows in ``active``)."""
    tau2 = tau2.copy()
    active = active.copy()
    for _ in range(_MAXITER):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            return tau2
        t = tau2[idx]
        w, S, _mu, r = _sums(y[idx], v[idx], mask[idx], t)
        w2 = (w * w).sum(1)
        ypy = (w * w * r * r).sum(1)
        if reml:
            trP = S - w2 / S
            trPP = w2 - 2 * (w ** 3).sum(1) / S + (w2 / S) ** 2
            adj = (ypy - trP) / trPP
        else:
            adj = (ypy - S) / w2
        adj = np.where((t == 0) & (adj < 0), 0.0, adj)
        neg = t + adj < 0
        while neg.any():
            adj = np.where(neg, adj / 2, adj)
            neg = t + adj < 0
        tau2[idx] = t + adj
        active[idx] = np.abs(adj) >= _TOL * np.maximum(1.0, t + adj)
    raise DataError("tau² estimation (Fisher scoring) did not converge in batch")


def _pm(y, v, mask, k, active):
    """Paule-Mandel by Newton on Q(tau²) = k - 1 from tau² = 0 (Q is convex, decreasing)."""
    tau2 = np.zeros(y.shape[0])
    active = active.copy()
    for _ in range(_MAXITER):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            return tau2
        t = tau2[idx]
        w, _S, _mu, r = _sums(y[idx], v[idx], mask[idx], t)
        f = (w * r * r).sum(1) - (k[idx] - 1)
        step = np.where(f > 0, f / (w * w * r * r).sum(1), 0.0)
        tau2[idx] = t + step
        active[idx] = step >= _TOL * np.maximum(1.0, t + step)
    raise DataError("Paule-Mandel estimation did not converge in batch")


def batch(yi, vi, method="REML", test="z", level=0.95, pi="metafor") -> dict[str, np.ndarray]:
    """Fit one meta-analysis per row of ``yi``/``vi`` (shape (m, k), NaN-padded).

    Returns a dict of arrays of length m with the fields of ``MetaResult``'s
    scalar part (``FIELDS``); equal to row-by-row ``rma`` fits (tested).
    """
    method = method.upper()
    if method not in METHODS or test not in TESTS:
        raise DataError(f"unknown method/test {method}/{test}", field="method")
    y = np.atleast_2d(np.asarray(yi, dtype=float))
    v = np.atleast_2d(np.asarray(vi, dtype=float))
    if y.shape != v.shape:
        raise DataError(f"yi has shape {y.shape} but vi has {v.shape}")
    mask = ~np.isnan(v)
    if np.any(np.isnan(y) != ~mask):
        raise DataError("yi and vi must be NaN at the same places (padding)", field="yi")
    if np.any(~np.isfinite(y[mask])) or np.any(~np.isfinite(v[mask])) or np.any(v[mask] <= 0):
        raise DataError("every variance must be a positive finite number, every effect finite",
                        field="vi")
    k = mask.sum(1)
    y = np.where(mask, y, 0.0)
    v = np.where(mask, v, 1.0)
    kk = np.maximum(k, 2).astype(float)  # avoid 0-division on rows that end as NaN

    with np.errstate(divide="ignore", invalid="ignore"):  # rows with k < 2 end as NaN
        return _fit(y, v, mask, k, kk, method, test, level, pi)


def _fit(y, v, mask, k, kk, method, test, level, pi):
    zero = np.zeros(y.shape[0])
    w0, S0, mu0, r0 = _sums(y, v, mask, zero)
    Q = (w0 * r0 * r0).sum(1)
    c = S0 - (w0 * w0).sum(1) / S0
    if method == "EE":
        tau2 = zero
    elif method == "DL":
        tau2 = np.maximum(0.0, (Q - (kk - 1)) / c)
    else:
        ybar = np.where(mask, y, 0.0).sum(1) / np.maximum(k, 1)
        rss = (np.where(mask, y - ybar[:, None], 0.0) ** 2).sum(1)
        he = np.maximum(0.0, rss / (kk - 1) - v.sum(1, where=mask) / kk)
        if method == "HE":
            tau2 = he
        elif method == "SJ":
            t0 = rss / kk
            w, _S, _mu, r = _sums(y, v, mask, t0)
            tau2 = np.maximum(0.0, t0 * (w * r * r).sum(1) / (kk - 1))
        elif method == "PM":
            tau2 = _pm(y, v, mask, kk, k >= 2)
        else:
            tau2 = _fisher(y, v, mask, he, method == "REML", k >= 2)

    w, S, est, r = _sums(y, v, mask, tau2)
    if test == "knha":
        df = kk - 1
        se = np.sqrt((w * r * r).sum(1) / (df * S))
        crit = stats.t.ppf(0.5 + level / 2, df)
        pval = 2 * stats.t.sf(np.abs(est / se), df)
    else:
        se = np.sqrt(1 / S)
        crit = np.full(est.shape, stats.norm.ppf(0.5 + level / 2))
        pval = 2 * stats.norm.sf(np.abs(est / se))
    s2 = (kk - 1) / c
    if method == "EE":
        I2 = np.where(Q > 0, 100 * np.maximum(0.0, (Q - (kk - 1)) / np.where(Q > 0, Q, 1)), 0.0)
        H2 = Q / (kk - 1)
        pi_low = pi_high = np.full(est.shape, np.nan)
    else:
        I2 = 100 * tau2 / (tau2 + s2)
        H2 = (tau2 + s2) / s2
        if pi == "higgins":
            q = np.where(k >= 3, stats.t.ppf(0.5 + level / 2, np.maximum(kk - 2, 1)), np.nan)
        else:
            q = crit
        half = q * np.sqrt(se ** 2 + tau2)
        pi_low, pi_high = est - half, est + half
    out = {
        "estimate": est, "se": se, "ci_low": est - crit * se, "ci_high": est + crit * se,
        "pval": pval, "tau2": tau2, "I2": I2, "H2": H2, "Q": Q,
        "Q_pval": stats.chi2.sf(Q, kk - 1), "k": k, "pi_low": pi_low, "pi_high": pi_high,
    }
    bad = k < 2
    if bad.any():
        single_ee = (k == 1) & (method == "EE") & (test == "z")
        for name, arr in out.items():
            if name == "k":
                continue
            arr = arr.astype(float)
            keep = single_ee & np.isin(name, ["estimate", "se", "ci_low", "ci_high", "pval", "tau2"])
            out[name] = np.where(bad & ~keep, np.nan, arr)
    return out
