"""Many meta-analyses at once: vectorised numpy over rows of (m, k) arrays.

Used by the small-k simulation (tens of thousands of fits) and the benchmark.
Same estimators, conventions and code as ``rma`` (both call
``evidence.meta.kernel``; see ``evidence.meta.core`` for the rules), so the
two agree row by row (tested). Iterative estimators run on the unconverged
rows only, each row leaving the working arrays when its tau² has converged.

Rows are NaN-padded for unequal k: a NaN in ``yi`` must sit where
``vi`` is NaN. Rows with fewer than 2 studies give NaN (a random-effects
model needs 2; the EE model is returned for k = 1 with I² 0, H² 1, Q 0, as ``rma``).
A row whose iteration does not converge within the kernel's bound is NaN,
with a ``RuntimeWarning`` naming it: one hard row must not sink the others.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import special

from evidence.errors import DataError
from evidence.meta import fused, kernel
from evidence.meta.core import METHODS, TESTS, check_level

FIELDS = ("estimate", "se", "ci_low", "ci_high", "pval", "tau2", "I2", "H2", "Q", "Q_pval",
          "k", "pi_low", "pi_high")
_EPS = np.finfo(float).eps
CHUNK = 65_536  # array elements per block of rows (~0.5 MB per float array)


def _give_up(failed, what):
    idx = np.flatnonzero(failed)
    warnings.warn(f"{what} tau² did not converge within {kernel.MAX_ROUNDS} iterations for "
                  f"{idx.size} row(s) (first: {idx[:10].tolist()}); their results are NaN",
                  RuntimeWarning, stacklevel=3)


def batch(yi, vi, method="REML", test="z", level=0.95, pi="metafor") -> dict[str, np.ndarray]:
    """Fit one meta-analysis per row of ``yi``/``vi`` (shape (m, k), NaN-padded).

    Returns a dict of arrays of length m with the fields of ``MetaResult``'s
    scalar part (``FIELDS``); equal to row-by-row ``rma`` fits (tested).
    """
    method = str(method).upper()
    if method not in METHODS:
        raise DataError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}", field="method")
    if test not in TESTS:
        raise DataError(f"unknown test {test!r}; choose z or knha", field="test")
    level = check_level(level)
    y = np.atleast_2d(np.asarray(yi, dtype=float))
    v = np.atleast_2d(np.asarray(vi, dtype=float))
    if y.shape != v.shape:
        raise DataError(f"yi has shape {y.shape} but vi has {v.shape}")
    with np.errstate(over="ignore", invalid="ignore"):
        # one pass each where nothing is padded or wrong: a NaN or inf makes the sum
        # non-finite, a NaN the minimum NaN (an overflowing sum of finite numbers only
        # takes the slow path, which checks element by element)
        plain = v.size > 0 and bool(v.min() > 0) and bool(np.isfinite(v.sum())) \
            and bool(np.isfinite(y.sum()))
    if plain:
        k = np.full(y.shape[0], y.shape[1])
        pad = None
    else:
        mask = ~np.isnan(v)
        if np.any(np.isnan(y) != ~mask):
            r, c = np.argwhere(np.isnan(y) != ~mask)[0]
            raise DataError(f"yi and vi must be NaN at the same places (padding): row {r}, column {c}",
                            field="yi")
        for name, bad in (("yi", mask & ~np.isfinite(y)), ("vi", mask & ~(np.isfinite(v) & (v > 0)))):
            if bad.any():
                r, c = np.argwhere(bad)[0]
                what = "a finite number" if name == "yi" else "a positive finite number"
                raise DataError(f"{name}[{r}, {c}] = {(y if name == 'yi' else v)[r, c]} is not {what}",
                                row=int(r), field=name)
        k = mask.sum(1)
        y = np.where(mask, y, 0.0)
        v = np.where(mask, v, np.inf)  # weight 1 / (v + tau²) = 0 on padding
        pad = ~mask
    kk = np.maximum(k, 2).astype(float)  # avoid 0-division on rows that end as NaN

    # blocks of rows small enough for the CPU cache (fresh large arrays cost page faults)
    step = max(1, CHUNK // max(1, y.shape[1]))
    parts = []
    with np.errstate(divide="ignore", invalid="ignore"):  # rows with k < 2 end as NaN
        for i in range(0, max(1, y.shape[0]), step):
            sl = slice(i, i + step)
            parts.append(_fit(y[sl], v[sl], None if pad is None else pad[sl], k[sl], kk[sl],
                              method, test, level, pi))
    out = parts[0] if len(parts) == 1 else {f: np.concatenate([p[f] for p in parts]) for f in parts[0]}
    failed = (k >= 2) & np.isnan(out["tau2"])  # a converged fit never has a NaN tau²
    if failed.any():
        _give_up(failed, method)
    return out


def _tau2(y, v, pad, k, kk, method, cf):
    """tau², and for (RE)ML the sum of weights, weighted mean (centred) and Q at it."""
    if method == "EE":
        return np.zeros(y.shape[0]), None
    if method == "DL":
        return cf["dl"], None
    if method == "HE":
        return cf["he"], None
    if method == "SJ":
        t0 = cf["rss"] / kk
        w, _S, _mu, r = kernel.sums(cf["yc"], v, t0)
        return np.maximum(0.0, t0 * kernel.rsum(w * r * r) / (kk - 1)), None
    tau2 = np.full(y.shape[0], np.nan)
    act = np.flatnonzero(k >= 2)
    every = act.size == y.shape[0]
    Y, V = (cf["yc"], v) if every else (cf["yc"][act], v[act])
    if method == "PM":
        t, failed = kernel.pm(Y, V, cf["dl"][act], cf["Q"][act] - (kk[act] - 1), kk[act])
        tau2[act] = t
        return tau2, None
    search = fused.reml_ml if fused.AVAILABLE else kernel.reml_ml
    t, failed, fin = search(Y, V, cf if every else {n: a[act] for n, a in cf.items()},
                            method == "REML")
    if every:
        return t, fin
    tau2[act] = t
    full = []
    for part in fin:
        a = np.full(y.shape[0], np.nan)
        a[act] = part
        full.append(a)
    return tau2, tuple(full)


def _fit(y, v, pad, k, kk, method, test, level, pi):
    if fused.AVAILABLE:
        cf = fused.closed_forms(y, v, k)
    else:
        cf = kernel.closed_forms(y, v, pad, k, likelihood=method in ("REML", "ML"))
    Q, c = cf["Q"], cf["c"]
    tau2, fin = _tau2(y, v, pad, k, kk, method, cf)
    if fin is None:
        fin = kernel.final_sums(cf["yc"], v, tau2)
    S, mu, rss = fin
    est = mu + cf["shift"]
    if test == "knha":
        df = kk - 1
        se = np.sqrt(np.where(rss <= _EPS, 0.0, rss / df) / S)  # metafor's RSS.knha <= eps
        crit = special.stdtrit(df, 0.5 + level / 2)
        stat = est / se
        pval = 2 * special.stdtr(df, -np.abs(stat))
    else:
        se = np.sqrt(1 / S)
        crit = np.full(est.shape, special.ndtri(0.5 + level / 2))
        stat = est / se
        pval = 2 * special.ndtr(-np.abs(stat))
    s2 = (kk - 1) / c
    if method == "EE":
        I2 = np.where(Q > 0, 100 * np.maximum(0.0, (Q - (kk - 1)) / np.where(Q > 0, Q, 1)), 0.0)
        H2 = Q / (kk - 1)
        pi_low = pi_high = np.full(est.shape, np.nan)
    else:
        I2 = 100 * tau2 / (tau2 + s2)
        H2 = (tau2 + s2) / s2
        if pi == "higgins":
            q = np.where(k >= 3, special.stdtrit(np.maximum(kk - 2, 1), 0.5 + level / 2), np.nan)
        else:
            q = crit
        half = q * np.sqrt(se ** 2 + tau2)
        pi_low, pi_high = est - half, est + half
    out = {
        "estimate": est, "se": se, "ci_low": est - crit * se, "ci_high": est + crit * se,
        "pval": pval, "tau2": tau2, "I2": I2, "H2": H2, "Q": Q,
        "Q_pval": special.chdtrc(kk - 1, Q), "k": k, "pi_low": pi_low, "pi_high": pi_high,
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
        for name, value in (("I2", 0.0), ("H2", 1.0), ("Q", 0.0)):  # as rma (metafor) at k = 1
            out[name] = np.where(single_ee, value, out[name])
    return out
