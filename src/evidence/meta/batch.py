"""Many meta-analyses at once: vectorised numpy over rows of (m, k) arrays.

Used by the small-k simulation (tens of thousands of fits) and the benchmark.
Same estimators and conventions as ``rma`` (see ``evidence.meta.core``), same
results to 1e-6 (tested). The iterative ones run on the unconverged rows
only, each row leaving the working arrays when its tau² has converged:

- REML and ML: rows whose likelihood falls as tau² leaves 0 go to 0 without
  the dozens of step halvings ``core._fisher`` takes to creep there; the
  others take Newton steps (exact observed information), safeguarded by
  Fisher scoring, from the DL estimate. Newton converges where Fisher
  scoring oscillates without end (where ``rma`` retries with damped steps,
  as metafor with ``stepadj=0.5``: the same maximum).
- PM: Newton on the generalised Q from the DL estimate.

Rows are NaN-padded for unequal k: a NaN in ``yi`` must sit where
``vi`` is NaN. Rows with fewer than 2 studies give NaN (a random-effects
model needs 2; the EE model is returned for k = 1 with NaN heterogeneity).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

from evidence.errors import DataError
from evidence.meta.core import _MAXITER, _TOL, METHODS, TESTS

# Newton converges quadratically: after a step below _NEWTON_TOL the error is ~_NEWTON_TOL².
_NEWTON_TOL = 1e-9
_NEWTON_MAX = 10.0  # Newton step used only where at most this many times the Fisher step
FIELDS = ("estimate", "se", "ci_low", "ci_high", "pval", "tau2", "I2", "H2", "Q", "Q_pval",
          "k", "pi_low", "pi_high")


def _rsum(a):
    """Row sums; a product with ones is several times faster than ``sum(1)`` on short rows."""
    return a @ np.ones(a.shape[1])


def _sums(y, v, tau2):
    """Weights and weighted sums for every row at its tau² (padding has v = inf, so w = 0)."""
    w = 1.0 / (v + tau2[:, None])
    S = _rsum(w)
    mu = _rsum(w * y) / S
    r = y - mu[:, None]
    return w, S, mu, r


def _steps(w, S, r, reml):
    """Fisher-scoring and Newton steps for (RE)ML tau² (Newton NaN where it does not apply).

    Intercept-only forms of metafor's matrix formulas (P = W - w w'/S, Py = w r):
    score ~ y'PPy - tr(P), expected information ~ tr(PP), observed
    information ~ 2 y'PPPy - tr(PP); for ML, tr(P) and tr(PP) become sum w and
    sum w². The Newton step is used only where the observed information is
    positive (the log-likelihood is locally concave).
    """
    w2 = w * w
    W2 = _rsum(w2)
    wr = w * r
    a = _rsum(w * wr)
    ypy = _rsum(wr * wr)
    yp3y = _rsum(w * wr * wr) - a * a / S
    if reml:
        num = ypy - (S - W2 / S)
        info = W2 - 2 * _rsum(w2 * w) / S + (W2 / S) ** 2
    else:
        num = ypy - S
        info = W2
    fisher = num / info
    obs = 2 * yp3y - info
    newton = num / np.where(obs > 0, obs, np.nan)
    return fisher, newton


def _fisher(y, v, tau2, step0, reml, active):
    """(RE)ML tau² from ``tau2``: the maximum ``core._fisher`` finds, on unconverged rows only.

    Rows with ``step0`` (the Fisher step at 0) <= 0 have a maximum at 0 and
    may have a second one inside (ML with k = 2-3 often does): they follow
    ``core._fisher``'s path (start at HE, Fisher steps) but are set to 0 at
    the first step that would cross 0, or at once if they start there, where
    ``core._fisher`` creeps to 0 by dozens of halvings. The other rows take
    Newton steps where these are no more than _NEWTON_MAX Fisher steps or
    half of tau² (a longer one may land in another maximum's basin), else
    Fisher steps, halved at the bound as in core.
    """
    tau2 = tau2.copy()
    bound = step0 <= 0
    run = active & ~((tau2 == 0) & bound)
    tau2[active & ~run] = 0.0
    idx = np.flatnonzero(run)
    y, v, t, bound = y[idx], v[idx], tau2[idx], bound[idx]
    for _ in range(_MAXITER):
        if idx.size == 0:
            return tau2
        w, S, _mu, r = _sums(y, v, t)
        adj, newton = _steps(w, S, r, reml)
        near = ~bound & (t + newton >= 0) & ((np.abs(newton) <= _NEWTON_MAX * np.abs(adj))
                                             | (np.abs(newton) <= t / 2))
        adj = np.where(near, newton, adj)
        neg = t + adj < 0
        at0 = neg & bound
        adj[at0] = -t[at0]
        neg &= ~bound
        while neg.any():  # step halving at the bound, as core._fisher
            adj = np.where(neg, adj / 2, adj)
            neg = t + adj < 0
        t = t + adj
        tau2[idx] = t
        go = (np.abs(adj) >= np.where(near, _NEWTON_TOL, _TOL) * np.maximum(1.0, t)) & ~at0
        if not go.all():
            idx, y, v, t, bound = idx[go], y[go], v[go], t[go], bound[go]
    return _give_up(tau2, idx, "(RE)ML")


def _pm(y, v, start, f0, k, active):
    """Paule-Mandel: Newton on Q(tau²) = k - 1 (Q is convex and decreasing, one root).

    ``f0`` is Q(0) - (k - 1): rows where it is <= 0 stay at 0 without
    iterating. The others start at ``start`` (DL); a first step that passes
    the root lands left of it (convexity), clipped at 0, and from there
    Newton climbs to the root monotonically.
    """
    tau2 = np.zeros(y.shape[0])
    idx = np.flatnonzero(active & (f0 > 0))
    y, v, t = y[idx], v[idx], start[idx]
    for _ in range(_MAXITER):
        if idx.size == 0:
            return tau2
        w, _S, _mu, r = _sums(y, v, t)
        wr2 = w * r * r
        new = np.maximum(0.0, t + (_rsum(wr2) - (k[idx] - 1)) / _rsum(w * wr2))
        step = np.abs(new - t)
        t = new
        tau2[idx] = t
        go = step >= _NEWTON_TOL * np.maximum(1.0, t)
        if not go.all():
            idx, y, v, t = idx[go], y[go], v[go], t[go]
    return _give_up(tau2, idx, "Paule-Mandel")


def _give_up(tau2, idx, what):
    """Rows still unconverged after _MAXITER rounds get NaN, with a warning naming them:
    one hard row must not sink the other fits of a batch (a simulation keeps its count)."""
    tau2[idx] = np.nan
    warnings.warn(f"{what} tau² did not converge in {_MAXITER} iterations for {idx.size} row(s) "
                  f"(first: {idx[:10].tolist()}); their results are NaN", RuntimeWarning,
                  stacklevel=3)
    return tau2


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
    v = np.where(mask, v, np.inf)  # weight 1 / (v + tau²) = 0 on padding
    kk = np.maximum(k, 2).astype(float)  # avoid 0-division on rows that end as NaN

    with np.errstate(divide="ignore", invalid="ignore"):  # rows with k < 2 end as NaN
        return _fit(y, v, mask, k, kk, method, test, level, pi)


def _fit(y, v, mask, k, kk, method, test, level, pi):
    zero = np.zeros(y.shape[0])
    w0, S0, mu0, r0 = _sums(y, v, zero)
    Q = _rsum(w0 * r0 * r0)
    c = S0 - _rsum(w0 * w0) / S0
    dl = np.maximum(0.0, (Q - (kk - 1)) / c)
    if method == "EE":
        tau2 = zero
    elif method == "DL":
        tau2 = dl
    else:
        ybar = _rsum(y) / np.maximum(k, 1)
        rss = _rsum(np.where(mask, y - ybar[:, None], 0.0) ** 2)
        he = np.maximum(0.0, rss / (kk - 1) - v.sum(1, where=mask) / kk)
        if method == "HE":
            tau2 = he
        elif method == "SJ":
            t0 = rss / kk
            w, _S, _mu, r = _sums(y, v, t0)
            tau2 = np.maximum(0.0, t0 * _rsum(w * r * r) / (kk - 1))
        elif method == "PM":
            tau2 = _pm(y, v, dl, Q - (kk - 1), kk, k >= 2)
        else:
            reml = method == "REML"
            step0 = _steps(w0, S0, r0, reml)[0]
            tau2 = _fisher(y, v, np.where(step0 <= 0, he, dl), step0, reml, k >= 2)

    w, S, est, r = _sums(y, v, tau2)
    if test == "knha":
        df = kk - 1
        se = np.sqrt(_rsum(w * r * r) / (df * S))
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
