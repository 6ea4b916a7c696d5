"""The tau² machinery shared by ``rma`` (one row) and ``batch`` (many rows).

Arrays are (m, k): one meta-analysis per row, padding with ``v = inf`` (weight
0) and ``y = 0``. Everything is O(m k) memory: intercept-only forms of
metafor's matrix formulas, never a k x k matrix. Every loop is bounded; a row
that does not converge comes back NaN in ``failed`` (``rma`` turns that into
an error, ``batch`` into a warning).

(RE)ML rule (documented in ``evidence.meta.core``): the local maximum reached
from Hedges' estimate (metafor's start); where its likelihood is below the
value at 0 (where metafor's ``ll0check`` sets tau² to 0, a sign of a
multimodal likelihood), a second search from DerSimonian-Laird's estimate;
tau² is the best of these and 0. Each local maximum is a root of the score,
found by Newton's method safeguarded by bisection inside a bracket where the
score changes sign from + to -, so the search cannot oscillate.

Numerically stable forms: ``S - w_i`` for the heaviest study is summed
without it, and that study's weighted residual is minus the sum of the
others' (sum w r = 0), so one study ~1e9 times more precise than the others
does not cancel the trace term of the REML score.
"""

from __future__ import annotations

import numpy as np

MAX_ROUNDS = 200  # bisection alone shrinks a bracket by 2^-200: far past double precision
MAX_EXPAND = 80  # brackets grow by 4x per round: 4^80 ~ 1e48 times the starting width
TOL = 1e-12  # relative width of the final bracket / size of the last Newton step
NEWTON_STOP = 1e-8  # (RE)ML: the error after a Newton step this small is ~1e-16 c (quadratic)
NEWTON_TOL = 1e-9  # PM: Newton on a convex function, the error after such a step is ~1e-18


_ONES: dict[int, np.ndarray] = {}


def rsum(a):
    """Row sums; a product with (cached) ones is several times faster than ``sum(1)`` on short rows."""
    n = a.shape[1]
    ones = _ONES.get(n)
    if ones is None:
        ones = _ONES[n] = np.ones(n) if n <= 4096 else None
        if ones is None:
            return a.sum(1)
    return a @ ones


def center(y, v):
    """Effects minus the most precise study's effect (the heaviest weight at every tau²).

    Then that study's residual is minus the weighted mean of the others'
    differences, with no cancellation, even when it is ~1e9 times more precise.
    """
    j = np.argmin(v, axis=1)
    return y - y[np.arange(y.shape[0]), j][:, None]


def sums(y, v, t):
    """Weights, their sum, the weighted mean and the residuals of every row at its tau² t."""
    w = 1.0 / (v + t[:, None])
    S = rsum(w)
    mu = rsum(w * y) / S
    return w, S, mu, y - mu[:, None]


def trace_p(w, S):
    """tr(P) = sum w - sum w² / S = 2 sum_{i<j} w_i w_j / S: a sum of positive terms, so
    stable when one weight dominates (the difference form cancels)."""
    return 2 * rsum(w[:, 1:] * np.cumsum(w[:, :-1], axis=1)) / S


def _dot(a, b):
    """Row-wise dot products without a temporary array."""
    return np.einsum("ij,ij->i", a, b)


def score(y, v, t, reml):
    """(RE)ML score (times 2) at t, its negative derivative (for Newton) and the expected
    information (Fisher scoring); y centred. tr(P) by the difference form where it keeps
    at least 6 digits, else by ``trace_p``."""
    w = v + t[:, None]
    np.reciprocal(w, out=w)
    S = rsum(w)
    wr = y - (_dot(w, y) / S)[:, None]
    wr *= w
    ypy = _dot(wr, wr)
    a = _dot(w, wr)
    W2 = _dot(w, w)
    tmp = w * wr
    yp3y = _dot(tmp, wr) - a * a / S
    if reml:
        trp = S - W2 / S
        bad = trp < 1e-6 * S
        if bad.any():
            trp[bad] = trace_p(w[bad], S[bad])
        np.multiply(w, w, out=tmp)
        s = ypy - trp
        info = W2 - 2 * _dot(tmp, w) / S + (W2 / S) ** 2
    else:
        s = ypy - S
        info = W2
    return s, 2 * yp3y - info, info


def loglik(y, v, t, reml):
    """(Restricted) log-likelihood up to a constant, per row."""
    w, S, _mu, r = sums(y, v, t)
    with np.errstate(divide="ignore"):
        logv = np.where(w > 0, -np.log(w), 0.0)
    ll = -0.5 * (rsum(logv) + rsum(w * r * r))
    return ll - 0.5 * np.log(S) if reml else ll


LEFT_PROBES = (2, 8)  # t0 / 2, t0 / 8: where a falling start looks for a rise nearer 0


def _bracket(y, v, t0, s0, st, d0, reml, scale):
    """Brackets [lo, hi] around a + to - sign change of the score, from start t0.

    Where the score rises at t0 the bracket grows to the right. Where it falls
    at t0 and at 0, the likelihood may still have a maximum in between (ML at
    k = 2-3 often does): the score is probed at metafor's Fisher-scoring step
    from t0 and at t0 / 2 and t0 / 8, and the highest probe where it rises
    opens a bracket with the next probe above it; with none, the search ends at
    the boundary 0. Returns lo, hi, at0 and failed.
    """
    lo = np.where(st > 0, t0, 0.0)
    hi = t0.copy()
    at0 = (st <= 0) & (s0 <= 0)
    idx = np.flatnonzero(at0 & (t0 > 0))
    if idx.size:
        n = idx.size
        fisher = t0[idx] + st[idx] / np.where(d0[idx] > 0, d0[idx], np.inf)
        probes = np.column_stack([fisher] + [t0[idx] / d for d in LEFT_PROBES])
        probes = np.where((probes > 0) & (probes < t0[idx, None]), probes, t0[idx, None] / 2)
        probes = np.sort(probes, axis=1)  # ascending; then t0 itself, where the score is <= 0
        P = probes.shape[1]
        ps = score(np.repeat(y[idx], P, axis=0), np.repeat(v[idx], P, axis=0), probes.ravel(),
                   reml)[0].reshape(n, P)
        grid = np.column_stack([probes, t0[idx]])
        sg = np.column_stack([ps, np.full(n, -1.0)])
        rises = sg > 0
        has = rises.any(1)
        top = P - np.argmax(rises[:, ::-1], axis=1)  # highest probe (of columns 0..P) that rises
        rows = np.arange(n)
        above = np.argmax((sg <= 0) & (np.arange(P + 1)[None, :] > top[:, None]), axis=1)
        sel = idx[has]
        lo[sel] = grid[rows[has], top[has]]
        hi[sel] = grid[rows[has], above[has]]
        at0[sel] = False
    up = st > 0  # the score still rises at t0: look right
    hi[up] = np.maximum(4 * t0[up], scale[up])
    failed = np.zeros(t0.shape, bool)
    idx = np.flatnonzero(up)
    for _ in range(MAX_EXPAND):
        if idx.size == 0:
            break
        s = score(y[idx], v[idx], hi[idx], reml)[0]
        rising = s > 0
        lo[idx[rising]] = hi[idx[rising]]
        hi[idx[rising]] *= 4
        idx = idx[rising]
    failed[idx] = True
    return lo, hi, at0, failed


def reml_ml(y, v, cf, reml):
    """(RE)ML tau² per row by the rule in the module doc; ``cf`` from ``closed_forms``
    (centred y, the starts HE and DL, the scale s² and the score and likelihood at 0).
    Returns (tau2, failed)."""
    he, dl, scale = cf["he"], cf["dl"], cf["s2"]
    s0, ll0 = (cf["s0_reml"], cf["ll0_reml"]) if reml else (cf["s0_ml"], cf["ll0_ml"])
    st, d0, info = score(y, v, he, reml)
    t, ok = _climb(y, v, he, s0, st, info, reml, scale, d0)
    ll = np.where(ok, loglik(y, v, np.where(ok, t, 0.0), reml), -np.inf)
    again = np.flatnonzero(ok & (ll < ll0) & (dl != he))  # metafor's ll0check would fire
    if again.size:
        Y, V, d0 = y[again], v[again], dl[again]
        st2, dd2, info2 = score(Y, V, d0, reml)
        t2, ok2 = _climb(Y, V, d0, s0[again], st2, info2, reml, scale[again], dd2)
        ll2 = np.where(ok2, loglik(Y, V, np.where(ok2, t2, 0.0), reml), -np.inf)
        better = ok2 & (ll2 > ll[again])
        t[again[better]], ll[again[better]] = t2[better], ll2[better]
        ok[again[~ok2]] = False
    tau2 = np.where(ll0 > ll, 0.0, t)  # metafor's ll0check
    tau2[~ok] = np.nan
    return tau2, ~ok


def _climb(y, v, t0, s0, st, dt, reml, scale, d0):
    """Local maximum from t0: safeguarded Newton on the score inside a sign-change bracket.

    ``st``, ``d0``, ``dt``: score, its negative derivative and the information at t0
    (the first round reuses them where it starts at t0)."""
    lo, hi, at0, failed = _bracket(y, v, t0, s0, st, dt, reml, scale)
    t = np.where(at0, 0.0, np.clip(t0, lo, hi))
    ok = ~failed
    idx = np.flatnonzero(ok & ~at0 & (hi > lo))
    yy, vv, tt, lo, hi = y[idx], v[idx], t[idx], lo[idx], hi[idx]
    first = (t0[idx], st[idx], d0[idx])
    live = np.ones(idx.size, bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(MAX_ROUNDS):
            if idx.size == 0:
                return t, ok
            if first is not None:
                s, d = first[1].copy(), first[2].copy()
                moved = tt != first[0]
                if moved.any():
                    s[moved], d[moved], _info = score(yy[moved], vv[moved], tt[moved], reml)
                first = None
            else:
                s, d, _info = score(yy, vv, tt, reml)
            pos = s > 0
            lo = np.where(pos, tt, lo)
            hi = np.where(pos, hi, tt)
            newton = tt + s / d
            inside = (d > 0) & (newton > lo) & (newton < hi)
            new = np.where(s == 0, tt, np.where(inside, newton, 0.5 * (lo + hi)))
            scale_t = np.maximum(1.0, new)
            # done: at a root, after a Newton step below NEWTON_STOP (its error is ~ step²),
            # or when the bracket (which holds the root) is narrower than TOL
            done = ((s == 0) | (inside & (np.abs(new - tt) < NEWTON_STOP * scale_t))
                    | (hi - lo < TOL * scale_t))
            new = np.where(live, new, tt)  # a converged row kept in the block stays where it is
            t[idx] = new
            live &= ~done
            if not live.all() and (~live).sum() * 4 >= live.size:  # compact: copying costs a pass
                idx, yy, vv, tt, lo, hi, live = (idx[live], yy[live], vv[live], new[live], lo[live],
                                                 hi[live], live[live])
            else:
                tt = new
            if not live.any():
                idx = idx[:0]
    idx = idx[live] if idx.size else idx
    ok[idx] = False
    t[idx] = np.nan
    return t, ok


def pm(y, v, start, f0, k):
    """Paule-Mandel: Newton on Q(tau²) = k - 1 (Q is convex and decreasing, one root).

    ``f0`` is Q(0) - (k - 1): rows where it is <= 0 stay at 0. The others
    start at ``start`` (DL); a first step past the root lands left of it
    (convexity), clipped at 0, and from there Newton climbs to the root.
    Returns (tau2, failed).
    """
    tau2 = np.zeros(y.shape[0])
    failed = np.zeros(y.shape[0], bool)
    idx = np.flatnonzero(f0 > 0)
    yy, vv, t = y[idx], v[idx], start[idx]
    for _ in range(MAX_ROUNDS):
        if idx.size == 0:
            return tau2, failed
        w, _S, _mu, r = sums(yy, vv, t)
        wr2 = w * r * r
        with np.errstate(divide="ignore", invalid="ignore"):
            new = np.maximum(0.0, t + (rsum(wr2) - (k[idx] - 1)) / rsum(w * wr2))
        step = np.abs(new - t)
        t = new
        tau2[idx] = t
        go = ~(step < NEWTON_TOL * np.maximum(1.0, t))  # NaN keeps going, then fails
        idx, yy, vv, t = idx[go], yy[go], vv[go], t[go]
    tau2[idx] = np.nan
    failed[idx] = True
    return tau2, failed


def closed_forms(y, v, pad, k, likelihood=True):
    """Centred effects, Q, tr(P) at 0 (DL's c), DL and HE tau², the typical variance s²,
    and (``likelihood``) at tau² = 0 the pieces of the (RE)ML score and log-likelihood.
    ``pad`` None: no padding."""
    yc = center(y, v) if pad is None else np.where(pad, 0.0, center(y, v))  # padding stays 0
    w = 1.0 / v
    S = rsum(w)
    r = yc - (_dot(w, yc) / S)[:, None]
    wr = w * r
    Q = _dot(wr, r)
    W2 = _dot(w, w)
    trp = S - W2 / S
    bad = ~(trp >= 1e-6 * S) | (S < 1e-140)  # cancellation (a dominant weight), underflow
    if bad.any():
        wb = w[bad]
        wmax = wb.max(axis=1)  # weights scaled to 1: no underflow of w_i w_j
        u = wb / wmax[:, None]
        trp[bad] = wmax * trace_p(u, rsum(u))
    kk = np.maximum(k, 2).astype(float)
    dl = np.maximum(0.0, (Q - (kk - 1)) / trp)
    ybar = rsum(yc) / np.maximum(k, 1)
    dev = yc - ybar[:, None]
    if pad is not None:
        dev[pad] = 0.0
    rss = _dot(dev, dev)
    vsum = rsum(v) if pad is None else rsum(np.where(pad, 0.0, v))
    he = np.maximum(0.0, rss / (kk - 1) - vsum / kk)
    out = dict(yc=yc, Q=Q, c=trp, dl=dl, he=he, rss=rss, s2=(kk - 1) / trp)
    if likelihood:
        ypy = _dot(wr, wr)
        logv = rsum(np.log(v) if pad is None else np.where(pad, 0.0, np.log(np.where(pad, 1.0, v))))
        out.update(s0_reml=ypy - trp, s0_ml=ypy - S, ll0_ml=-0.5 * (logv + Q),
                   ll0_reml=-0.5 * (logv + Q + np.log(S)))
    return out


# ---- the same (RE)ML search for one meta-analysis, in scalars (rma's speed) ----
# Step for step the algorithm of ``reml_ml`` / ``_bracket`` / ``_climb`` above (same
# starts, probes, brackets, Newton steps and stopping rules), without the array
# bookkeeping that dominates the cost of a single small fit.

def score1(y, v, t, reml):
    """``score`` for one row (1-D y centred, v), as floats."""
    w = 1.0 / (v + t)
    S = w.sum()
    r = y - (w @ y) / S
    wr = w * r
    a = w @ wr
    W2 = w @ w
    yp3y = (w * wr) @ wr - a * a / S
    if reml:
        trp = S - W2 / S
        if not trp >= 1e-6 * S:  # as ``score``: the stable form where the difference cancels
            trp = 2 * (w[1:] @ np.cumsum(w[:-1])) / S
        s = wr @ wr - trp
        info = W2 - 2 * ((w * w) @ w) / S + (W2 / S) ** 2
    else:
        s = wr @ wr - S
        info = W2
    return float(s), float(2 * yp3y - info), float(info)


def loglik1(y, v, t, reml):
    w = 1.0 / (v + t)
    S = w.sum()
    r = y - (w @ y) / S
    ll = -0.5 * (np.log(v + t).sum() + (w * r) @ r)
    return float(ll - 0.5 * np.log(S) if reml else ll)


def _bracket1(y, v, t0, s0, st, info, reml, scale):
    """``_bracket`` for one row: (lo, hi, at0); None where the bracket cannot close."""
    if st > 0:
        lo, hi = t0, max(4 * t0, scale)
        for _ in range(MAX_EXPAND):
            if score1(y, v, hi, reml)[0] <= 0:
                return lo, hi, False
            lo, hi = hi, hi * 4
        return None
    if s0 > 0:
        return 0.0, t0, False
    if t0 <= 0:
        return 0.0, 0.0, True
    fisher = t0 + st / info if info > 0 else np.inf
    probes = [fisher] + [t0 / d for d in LEFT_PROBES]
    probes = sorted(p if 0 < p < t0 else t0 / 2 for p in probes)
    above = t0
    for p in reversed(probes):  # from the top: the first rising probe is the highest one
        if score1(y, v, p, reml)[0] > 0:
            return p, above, False
        above = p
    return 0.0, 0.0, True


def _climb1(y, v, t0, s0, reml, scale):
    """``_climb`` for one row: the local maximum from t0, or None (not converged)."""
    first = score1(y, v, t0, reml) if t0 > 0 else None
    st, info = (s0, 0.0) if first is None else (first[0], first[2])  # info is used only if t0 > 0
    b = _bracket1(y, v, t0, s0, st, info, reml, scale)
    if b is None:
        return None
    lo, hi, at0 = b
    if at0:
        return 0.0
    t = min(max(t0, lo), hi)
    if not hi > lo:
        return t
    for _ in range(MAX_ROUNDS):
        s, d, _info = first if first is not None and t == t0 else score1(y, v, t, reml)
        first = None
        if s == 0:
            return t
        if s > 0:
            lo = t
        else:
            hi = t
        newton = t + s / d if d != 0 else np.nan
        inside = d > 0 and lo < newton < hi
        new = newton if inside else 0.5 * (lo + hi)
        sc = max(1.0, new)
        if (inside and abs(new - t) < NEWTON_STOP * sc) or hi - lo < TOL * sc:
            return new
        t = new
    return None


def reml_ml1(y, v, cf, reml):
    """``reml_ml`` for one row (y, v 1-D; ``cf`` of that row): tau², or None where a
    search did not converge."""
    he, dl, scale = float(cf["he"][0]), float(cf["dl"][0]), float(cf["s2"][0])
    s0, ll0 = (cf["s0_reml"], cf["ll0_reml"]) if reml else (cf["s0_ml"], cf["ll0_ml"])
    s0, ll0 = float(s0[0]), float(ll0[0])
    t = _climb1(y, v, he, s0, reml, scale)
    if t is None:
        return None
    ll = loglik1(y, v, t, reml) if t > 0 else ll0
    if ll < ll0 and dl != he:  # metafor's ll0check would fire: search again from DL
        t2 = _climb1(y, v, dl, s0, reml, scale)
        if t2 is None:
            return None
        ll2 = loglik1(y, v, t2, reml)
        if ll2 > ll:
            t, ll = t2, ll2
    return 0.0 if ll0 > ll else t


def closed_forms1(y, v):
    """``closed_forms`` for one row without padding (1-D y, v), the same formulas in 1-D
    dot products; values as 1-element arrays, ``yc`` as a (1, k) array."""
    k = y.size
    yc = y - y[np.argmin(v)]
    w = 1.0 / v
    S = w.sum()
    r = yc - (w @ yc) / S
    wr = w * r
    Q = wr @ r
    W2 = w @ w
    trp = S - W2 / S
    if not (trp >= 1e-6 * S) or S < 1e-140:
        u = w / w.max()
        trp = w.max() * 2 * (u[1:] @ np.cumsum(u[:-1])) / u.sum()
    kk = max(k, 2)
    dev = yc - yc.sum() / max(k, 1)
    rss = dev @ dev
    ypy = wr @ wr
    logv = np.log(v).sum()
    vals = dict(Q=Q, c=trp, dl=max(0.0, (Q - (kk - 1)) / trp),
                he=max(0.0, rss / (kk - 1) - v.sum() / kk), rss=rss, s2=(kk - 1) / trp,
                s0_reml=ypy - trp, s0_ml=ypy - S, ll0_ml=-0.5 * (logv + Q),
                ll0_reml=-0.5 * (logv + Q + np.log(S)))
    out = {n: np.array([x], float) for n, x in vals.items()}
    out["yc"] = yc[None, :]
    return out
