"""(RE)ML tau² for many rows in compiled loops (numba), for ``batch``.

The vector kernel (``evidence.meta.kernel.reml_ml``) passes over every row
about 12 times per score evaluation, because numpy cannot fuse element-wise
steps. Here each row is searched on its own, in two passes over its k values
per evaluation, by the same algorithm as the scalar form ``kernel.reml_ml1``
that ``rma`` uses (same starts, probes, brackets, Newton steps on G, stopping
rules, ``ll0check`` and second search from DL; see ``evidence.meta.kernel``).
Sums are taken in row order rather than numpy's, so results differ from the
vector kernel only by rounding (tested against it, and both against metafor).

numba is optional: without it (or with ``EVIDENCE_NO_JIT=1``) ``batch`` uses
the vector kernel. Compiled code is cached beside this file after the first
call in a fresh environment (a few seconds).
"""

from __future__ import annotations

import math
import os

import numpy as np

from evidence.meta import kernel
from evidence.meta.kernel import LEFT_PROBES, NEWTON_STOP, PREDICT_TOL, TOL

try:  # pragma: no branch
    import numba
except ImportError:  # pragma: no cover - exercised where numba is absent
    numba = None

AVAILABLE = numba is not None and os.environ.get("EVIDENCE_NO_JIT", "") not in ("1", "true", "yes")

_P1, _P2 = float(LEFT_PROBES[0]), float(LEFT_PROBES[1])


# Reassociation lets the compiler vectorise the row sums (rounding-level differences only);
# no "nnan"/"ninf": padding is v = inf and must stay exact (weight 0).
_FLAGS = {"reassoc", "contract", "nsz"}


def _jit(f):
    return numba.njit(cache=True, nogil=True, fastmath=_FLAGS, error_model="numpy")(f) if numba is not None else f


@_jit
def _score(y, v, t, reml):
    """``kernel.score1`` in two passes: (s, Newton step on G, info)."""
    k = y.size
    S = 0.0
    Sy = 0.0
    for i in range(k):
        w = 1.0 / (v[i] + t)
        S += w
        Sy += w * y[i]
    mu = Sy / S
    ypy = 0.0
    a = 0.0
    W2 = 0.0
    W3 = 0.0
    b = 0.0
    for i in range(k):
        w = 1.0 / (v[i] + t)
        wr = w * (y[i] - mu)
        ypy += wr * wr
        a += w * wr
        W2 += w * w
        W3 += w * w * w
        b += w * wr * wr
    yp3y = b - a * a / S
    if reml:
        T = S - W2 / S
        if not T >= 1e-6 * S:  # the stable form where the difference cancels (``trace_p``)
            acc = 0.0
            cum = 0.0
            for i in range(k):
                w = 1.0 / (v[i] + t)
                acc += w * cum
                cum += w
            T = 2.0 * acc / S
        info = W2 - 2.0 * W3 / S + (W2 / S) ** 2
    else:
        T = S
        info = W2
    s = ypy - T
    den = 2.0 * T * yp3y - info * ypy
    step = s * ypy / den if den > 0 else math.nan
    return s, step, info


@_jit
def _final(y, v, t):
    """Sum of weights, weighted mean and Q at tau² t."""
    S = 0.0
    Sy = 0.0
    for i in range(y.size):
        w = 1.0 / (v[i] + t)
        S += w
        Sy += w * y[i]
    mu = Sy / S
    Q = 0.0
    for i in range(y.size):
        r = y[i] - mu
        Q += r * r / (v[i] + t)
    return S, mu, Q


@_jit
def _dll(y, v, t, Q0, S0, n, reml, exact):
    """ll(t) - ll(0) (``kernel._dll``): where the bounds t S(t) <= sum log1p(t / v) <=
    n log1p(t S(0) / n) fix its sign and ``exact`` is False, the bound; else exact.
    Padding (v = inf) adds log1p(0) = 0."""
    if t == 0:
        return 0.0
    S, _mu, Q = _final(y, v, t)
    rest = Q - Q0
    if reml:
        rest += math.log(S / S0)
    if not exact:
        up = n * math.log1p(t * S0 / n) + rest
        if up < 0:
            return -0.5 * up
        low = t * S + rest
        if low > 0:
            return -0.5 * low
    acc = 0.0
    for i in range(y.size):
        acc += math.log1p(t / v[i])
    return -0.5 * (acc + rest)


@_jit
def _climb(y, v, t0, s0, reml, scale, rounds):
    """``kernel._climb1`` with ``_bracket1``: the local maximum from t0; NaN if not converged."""
    have_first = t0 > 0
    if have_first:
        fs, fstep, finfo = _score(y, v, t0, reml)
        st, info = fs, finfo
    else:
        fs, fstep, finfo = s0, math.nan, 0.0
        st, info = s0, 0.0
    # bracket
    if st > 0:
        lo, hi, at0 = t0, math.inf, False
    elif s0 > 0:
        lo, hi, at0 = 0.0, t0, False
    elif t0 <= 0:
        lo, hi, at0 = 0.0, 0.0, True
    else:
        fisher = t0 + st / info if info > 0 else math.inf
        a, b, c = fisher, t0 / _P1, t0 / _P2
        a = a if 0 < a < t0 else t0 / 2
        b = b if 0 < b < t0 else t0 / 2
        c = c if 0 < c < t0 else t0 / 2
        a, b = min(a, b), max(a, b)  # sort the three probes ascending (no array: no allocation)
        b, c = min(b, c), max(b, c)
        a, b = min(a, b), max(a, b)
        lo, hi, at0 = 0.0, 0.0, True
        if _score(y, v, c, reml)[0] > 0:  # from the top: the first rising probe is the highest
            lo, hi, at0 = c, t0, False
        elif _score(y, v, b, reml)[0] > 0:
            lo, hi, at0 = b, c, False
        elif _score(y, v, a, reml)[0] > 0:
            lo, hi, at0 = a, b, False
    if at0:
        return 0.0
    t = min(max(t0, lo), hi)
    if not hi > lo:
        return t
    prev = math.nan
    for _ in range(rounds):
        if have_first and t == t0:
            s, stp = fs, fstep
        else:
            s, stp, _info = _score(y, v, t, reml)
        have_first = False
        if s == 0:
            return t
        if s > 0:
            lo = t
        else:
            hi = t
        newton = t + stp
        inside = lo < newton < hi  # False where the step is NaN
        if inside:
            new = newton
        elif hi < math.inf:
            new = 0.5 * (lo + hi)
        else:
            new = max(4.0 * t, scale)
        if not math.isfinite(new):
            return math.nan
        sc = max(1.0, new)
        size = abs(new - t)
        if (inside and (size < NEWTON_STOP * sc or size ** 3 < PREDICT_TOL * sc * prev ** 2)) \
                or hi - lo < TOL * sc:
            return new
        prev = size if inside else math.nan
        t = new
    return math.nan


@_jit
def _rows(y, v, he, dl, s2, s0, Q0, S0, mu0, n, reml, rounds, tau2, S, mu, Q):
    for r in range(y.shape[0]):
        yr = y[r]
        vr = v[r]
        t = _climb(yr, vr, he[r], s0[r], reml, s2[r], rounds)
        if math.isnan(t):
            tau2[r] = S[r] = mu[r] = Q[r] = math.nan
            continue
        d = _dll(yr, vr, t, Q0[r], S0[r], n[r], reml, False)
        if d < 0 and dl[r] != he[r]:  # metafor's ll0check would fire: search again from DL
            d = _dll(yr, vr, t, Q0[r], S0[r], n[r], reml, True)
            t2 = _climb(yr, vr, dl[r], s0[r], reml, s2[r], rounds)
            if math.isnan(t2):
                tau2[r] = S[r] = mu[r] = Q[r] = math.nan
                continue
            d2 = _dll(yr, vr, t2, Q0[r], S0[r], n[r], reml, True)
            if d2 > d:
                t, d = t2, d2
        if d < 0:
            tau2[r], S[r], mu[r], Q[r] = 0.0, S0[r], mu0[r], Q0[r]
        else:
            tau2[r] = t
            S[r], mu[r], Q[r] = _final(yr, vr, t)


def reml_ml(y, v, cf, reml):
    """``kernel.reml_ml`` in compiled loops: (tau2, failed, (S, mu, Q) at tau2)."""
    m = y.shape[0]
    tau2, S, mu, Q = (np.empty(m) for _ in range(4))
    s0 = cf["s0_reml"] if reml else cf["s0_ml"]
    f = np.ascontiguousarray
    _rows(f(y), f(v), f(cf["he"]), f(cf["dl"]), f(cf["s2"]), f(s0), f(cf["Q"]), f(cf["S"]),
          f(cf["mu"]), f(cf["n"]), bool(reml), int(kernel.MAX_ROUNDS), tau2, S, mu, Q)
    return tau2, np.isnan(tau2), (S, mu, Q)


@_jit
def _closed_rows(y, v, k, yc, shift, Q, c, dl, he, rss, s2, S, mu, s0r, s0m):
    """``kernel.closed_forms`` per row; padding is v = inf (its yc is set to 0)."""
    m, width = y.shape
    for r in range(m):
        j = 0
        for i in range(1, width):  # the most precise study (first of ties, as argmin)
            if v[r, i] < v[r, j]:
                j = i
        sh = y[r, j]
        shift[r] = sh
        Sr = 0.0
        Sy = 0.0
        ysum = 0.0
        vsum = 0.0
        for i in range(width):
            if v[r, i] == math.inf:
                yc[r, i] = 0.0
            else:
                yc[r, i] = y[r, i] - sh
                vsum += v[r, i]
            w = 1.0 / v[r, i]
            Sr += w
            Sy += w * yc[r, i]
            ysum += yc[r, i]
        m0 = Sy / Sr
        q = 0.0
        W2 = 0.0
        ypy = 0.0
        dev2 = 0.0
        kr = k[r]
        ybar = ysum / max(kr, 1)
        for i in range(width):
            w = 1.0 / v[r, i]
            e = yc[r, i] - m0
            q += w * e * e
            ypy += w * w * e * e
            W2 += w * w
            if v[r, i] != math.inf:
                d = yc[r, i] - ybar
                dev2 += d * d
        trp = Sr - W2 / Sr
        if not (trp >= 1e-6 * Sr) or Sr < 1e-140:  # cancellation or underflow: scaled weights
            wmax = 0.0
            for i in range(width):
                wmax = max(wmax, 1.0 / v[r, i])
            acc = 0.0
            cum = 0.0
            for i in range(width):
                u = (1.0 / v[r, i]) / wmax
                acc += u * cum
                cum += u
            trp = wmax * (2.0 * acc / cum)
        kk = float(max(kr, 2))
        Q[r] = q
        c[r] = trp
        dl[r] = max(0.0, (q - (kk - 1)) / trp)
        he[r] = max(0.0, dev2 / (kk - 1) - vsum / kk)
        rss[r] = dev2
        s2[r] = (kk - 1) / trp
        S[r] = Sr
        mu[r] = m0
        s0r[r] = ypy - trp
        s0m[r] = ypy - Sr


def closed_forms(y, v, k):
    """``kernel.closed_forms`` (with ``likelihood``) in compiled loops; v = inf marks padding."""
    m = y.shape[0]
    out = {n: np.empty(m) for n in ("shift", "Q", "c", "dl", "he", "rss", "s2", "S", "mu",
                                    "s0_reml", "s0_ml")}
    yc = np.empty(y.shape)
    f = np.ascontiguousarray
    _closed_rows(f(y), f(v), f(np.asarray(k, np.int64)), yc, out["shift"], out["Q"], out["c"],
                 out["dl"], out["he"], out["rss"], out["s2"], out["S"], out["mu"],
                 out["s0_reml"], out["s0_ml"])
    out["yc"] = yc
    out["n"] = np.asarray(k, float)
    return out
