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
found by Newton's method on G = T / y'PPy - 1 (the same root; nearly linear in
tau², so 2-3 steps from Hedges' start) safeguarded by bisection inside a
bracket where the score changes sign from + to -, so the search cannot
oscillate. Where the score still rises at the start the bracket's upper end is
open until a Newton step (or, where Newton is unusable, an expansion to
max(4 tau², s²)) lands where the score falls. The likelihoods are compared as
ll(tau²) - ll(0) = -(sum log1p(tau² / v) + Q(tau²) - Q(0) [+ log S(tau²) / S(0)]) / 2,
whose sign cheap bounds on the log1p sum settle for most rows (``_dll``).

Numerically stable forms: ``S - w_i`` for the heaviest study is summed
without it, and that study's weighted residual is minus the sum of the
others' (sum w r = 0), so one study ~1e9 times more precise than the others
does not cancel the trace term of the REML score.
"""

from __future__ import annotations

import math

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
    """Effects minus the most precise study's effect (the heaviest weight at every tau²),
    and that effect (the shift) per row.

    Then that study's residual is minus the weighted mean of the others'
    differences, with no cancellation, even when it is ~1e9 times more precise.
    """
    j = np.argmin(v, axis=1)
    shift = y[np.arange(y.shape[0]), j]
    return y - shift[:, None], shift


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


def _dot3(a, b, c):
    """Row sums of a * b * c without a temporary array."""
    return np.einsum("ij,ij,ij->i", a, b, c)


def score(y, v, t, reml):
    """(RE)ML score (times 2) s = y'PPy - T at t (T = tr(P) for REML, sum w for ML), the
    Newton step on G = T / y'PPy - 1 (same root; NaN where G does not increase) and the
    expected information -dT/dt (Fisher scoring); y centred. tr(P) by the difference form
    where it keeps at least 6 digits, else by ``trace_p``.

    Newton on the ratio G rather than on s: for large tau² y'PPy ~ A / tau² and T ~ (k - 1) /
    tau², so G is nearly linear in tau² while s is not, and Newton needs fewer steps."""
    w = v + t[:, None]
    np.reciprocal(w, out=w)
    S = rsum(w)
    wr = y - (_dot(w, y) / S)[:, None]
    wr *= w
    ypy = _dot(wr, wr)
    a = _dot(w, wr)
    W2 = _dot(w, w)
    yp3y = _dot3(w, wr, wr) - a * a / S
    if reml:
        T = S - W2 / S
        bad = T < 1e-6 * S
        if bad.any():
            T[bad] = trace_p(w[bad], S[bad])
        info = W2 - 2 * _dot3(w, w, w) / S + (W2 / S) ** 2
    else:
        T = S
        info = W2
    return _step(ypy, T, yp3y, info)


def _step(ypy, T, yp3y, info):
    """s = y'PPy - T and the Newton step -G / G' on G = T / y'PPy - 1 (dG/dt =
    (2 T y'P³y - info y'PPy) / y'PPy²), NaN where G' <= 0."""
    s = ypy - T
    den = 2 * T * yp3y - info * ypy
    with np.errstate(divide="ignore", invalid="ignore"):
        step = np.where(den > 0, s * ypy / np.where(den > 0, den, 1.0), np.nan)
    return s, step, info


def loglik(y, v, t, reml):
    """(Restricted) log-likelihood up to a constant, per row."""
    w, S, _mu, r = sums(y, v, t)
    with np.errstate(divide="ignore"):
        logv = np.where(w > 0, -np.log(w), 0.0)
    ll = -0.5 * (rsum(logv) + rsum(w * r * r))
    return ll - 0.5 * np.log(S) if reml else ll


LEFT_PROBES = (2, 8)  # t0 / 2, t0 / 8: where a falling start looks for a rise nearer 0
PREDICT_TOL = 1e-12  # (RE)ML: stop when the predicted error after a Newton step is below this


def _bracket(y, v, t0, s0, st, info0, reml):
    """Brackets [lo, hi] around a + to - sign change of the score, from start t0.

    Where the score rises at t0 the bracket is [t0, inf): its upper end is found by the
    climb itself (the first Newton step or expansion where the score falls). Where it
    falls at t0 and at 0, the likelihood may still have a maximum in between (ML at
    k = 2-3 often does): the score is probed at metafor's Fisher-scoring step
    from t0 and at t0 / 2 and t0 / 8, and the highest probe where it rises
    opens a bracket with the next probe above it; with none, the search ends at
    the boundary 0. Returns lo, hi, at0.
    """
    lo = np.where(st > 0, t0, 0.0)
    hi = np.where(st > 0, np.inf, t0)
    at0 = (st <= 0) & (s0 <= 0)
    idx = np.flatnonzero(at0 & (t0 > 0))
    if idx.size:
        n = idx.size
        fisher = t0[idx] + st[idx] / np.where(info0[idx] > 0, info0[idx], np.inf)
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
    return lo, hi, at0


def final_sums(y, v, t):
    """Sum of weights, weighted mean and weighted residual sum of squares (Q at tau² t)."""
    w = v + t[:, None]
    np.reciprocal(w, out=w)
    S = rsum(w)
    mu = _dot(w, y) / S
    r = y - mu[:, None]
    return S, mu, _dot3(w, r, r)


def _dll(y, v, t, S, Q, cf, reml, exact=False):
    """ll(t) - ll(0) of the (restricted) likelihood per row, exact in sign:
    -(sum log1p(t / v) + Q(t) - Q(0) [+ log(S(t) / S(0))]) / 2. The sum of log1p is
    bounded by t S(t) <= sum <= k log1p(t S(0) / k) (x / (1 + x) <= log1p(x); Jensen);
    where the bounds already fix the sign the bound is returned, elsewhere (and
    everywhere with ``exact``) the sum itself."""
    rest = Q - cf["Q"]
    if reml:
        rest = rest + np.log(S / cf["S"])
    n = cf["n"]
    up = n * np.log1p(t * cf["S"] / n) + rest
    low = t * S + rest
    d = np.where(up < 0, -0.5 * up, np.where(low > 0, -0.5 * low, np.nan))
    amb = np.flatnonzero(np.isnan(d) | exact)
    if amb.size:
        d[amb] = -0.5 * (rsum(np.log1p(t[amb, None] / v[amb])) + rest[amb])
    d[t == 0] = 0.0
    return d


def reml_ml(y, v, cf, reml):
    """(RE)ML tau² per row by the rule in the module doc; ``cf`` from ``closed_forms``
    (centred y, the starts HE and DL, the scale s², the score at 0, and S, mu, Q at 0).
    Returns (tau2, failed, (S, mu, Q) at tau2)."""
    he, dl, scale = cf["he"], cf["dl"], cf["s2"]
    s0 = cf["s0_reml"] if reml else cf["s0_ml"]
    st, step0, info0 = score(y, v, he, reml)
    t, ok = _climb(y, v, he, s0, st, step0, info0, reml, scale)
    t0 = np.where(ok, t, 0.0)
    S, mu, Q = final_sums(y, v, t0)
    d = _dll(y, v, t0, S, Q, cf, reml)
    again = np.flatnonzero(ok & (d < 0) & (dl != he))  # metafor's ll0check would fire
    if again.size:
        sub = {n: a[again] for n, a in cf.items()}
        Y, V, start = y[again], v[again], dl[again]
        d[again] = _dll(Y, V, t0[again], S[again], Q[again], sub, reml, exact=True)
        st2, step2, info2 = score(Y, V, start, reml)
        t2, ok2 = _climb(Y, V, start, s0[again], st2, step2, info2, reml, scale[again])
        t2 = np.where(ok2, t2, 0.0)
        S2, mu2, Q2 = final_sums(Y, V, t2)
        d2 = _dll(Y, V, t2, S2, Q2, sub, reml, exact=True)
        better = ok2 & (d2 > d[again])
        b = again[better]
        t[b], d[b], S[b], mu[b], Q[b] = t2[better], d2[better], S2[better], mu2[better], Q2[better]
        ok[again[~ok2]] = False
    zero = d < 0  # metafor's ll0check: the likelihood at 0 is higher
    t[zero], S[zero], mu[zero], Q[zero] = 0.0, cf["S"][zero], cf["mu"][zero], cf["Q"][zero]
    t[~ok] = S[~ok] = mu[~ok] = Q[~ok] = np.nan
    return t, ~ok, (S, mu, Q)


def _climb(y, v, t0, s0, st, step0, info0, reml, scale):
    """Local maximum from t0: safeguarded Newton (on G, see ``score``) inside a sign-change
    bracket; while the bracket has no upper end, a step that is not a usable Newton step
    expands it (to max(4 t, s²)).

    ``st``, ``step0``, ``info0``: score, Newton step and information at t0 (the first
    round reuses them where it starts at t0). A row stops at a root, after a Newton step
    below NEWTON_STOP, after a Newton step whose predicted error (quadratic convergence:
    step³ / previous step²) is below PREDICT_TOL, or when the bracket is narrower than TOL
    (all relative to max(1, tau²))."""
    lo, hi, at0 = _bracket(y, v, t0, s0, st, info0, reml)
    t = np.where(at0, 0.0, np.clip(t0, lo, hi))
    ok = np.ones(t0.shape, bool)
    idx = np.flatnonzero(~at0 & (hi > lo))
    yy, vv, tt, lo, hi, sc = y[idx], v[idx], t[idx], lo[idx], hi[idx], scale[idx]
    first = (t0[idx], st[idx], step0[idx])
    prev = np.full(idx.size, np.nan)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for _ in range(MAX_ROUNDS):
            if idx.size == 0:
                return t, ok
            if first is not None:
                s, stp = first[1].copy(), first[2].copy()
                moved = tt != first[0]
                if moved.any():
                    s[moved], stp[moved], _info = score(yy[moved], vv[moved], tt[moved], reml)
                first = None
            else:
                s, stp, _info = score(yy, vv, tt, reml)
            pos = s > 0
            lo = np.where(pos, tt, lo)
            hi = np.where(pos, hi, tt)
            newton = tt + stp
            inside = (newton > lo) & (newton < hi)  # False where the step is NaN
            other = np.where(hi < np.inf, 0.5 * (lo + hi), np.maximum(4 * tt, sc))
            new = np.where(s == 0, tt, np.where(inside, newton, other))
            scale_t = np.maximum(1.0, new)
            size = np.abs(new - tt)
            done = ((s == 0) | (inside & ((size < NEWTON_STOP * scale_t)
                                          | (size ** 3 < PREDICT_TOL * scale_t * prev ** 2)))
                    | (hi - lo < TOL * scale_t))
            prev = np.where(inside, size, np.nan)
            bad = ~np.isfinite(new)  # expanded past double precision: not converged
            t[idx] = new
            if bad.any():
                ok[idx[bad]] = False
                t[idx[bad]] = np.nan
            keep = ~(done | bad)
            if keep.all():
                tt = new
            else:
                idx, yy, vv, tt, lo, hi, sc, prev = (idx[keep], yy[keep], vv[keep], new[keep],
                                                     lo[keep], hi[keep], sc[keep], prev[keep])
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
    """Centred effects and their shift, Q, tr(P) at 0 (DL's c), DL and HE tau², the typical
    variance s², the sum of weights S and the weighted mean mu (centred) at 0, k as a
    float (n), and (``likelihood``) the (RE)ML scores at tau² = 0. ``pad`` None: no padding."""
    yc, shift = center(y, v)
    if pad is not None:
        yc[pad] = 0.0  # padding stays 0
    w = 1.0 / v
    S = rsum(w)
    mu = _dot(w, yc) / S
    r = yc - mu[:, None]
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
    out = dict(yc=yc, shift=shift, Q=Q, c=trp, dl=dl, he=he, rss=rss, s2=(kk - 1) / trp, S=S,
               mu=mu, n=np.asarray(k, float))
    if likelihood:
        ypy = _dot(wr, wr)
        out.update(s0_reml=ypy - trp, s0_ml=ypy - S)
    return out


# ---- the same (RE)ML search for one meta-analysis, in scalars (rma's speed) ----
# Step for step the algorithm of ``reml_ml`` / ``_bracket`` / ``_climb`` above (same
# starts, probes, brackets, Newton steps and stopping rules), without the array
# bookkeeping that dominates the cost of a single small fit.

def score1(y, v, t, reml):
    """``score`` for one row (1-D y centred, v), as floats: (s, Newton step on G, info)."""
    w = 1.0 / (v + t)
    S = w.sum()
    r = y - (w @ y) / S
    wr = w * r
    a = w @ wr
    W2 = w @ w
    yp3y = (w * wr) @ wr - a * a / S
    ypy = wr @ wr
    if reml:
        T = S - W2 / S
        if not T >= 1e-6 * S:  # as ``score``: the stable form where the difference cancels
            T = 2 * (w[1:] @ np.cumsum(w[:-1])) / S
        info = W2 - 2 * ((w * w) @ w) / S + (W2 / S) ** 2
    else:
        T = S
        info = W2
    s = ypy - T
    den = 2 * T * yp3y - info * ypy
    step = s * ypy / den if den > 0 else math.nan
    return float(s), float(step), float(info)


def dll1(y, v, t, cf, reml):
    """``_dll`` for one row, exact: ll(t) - ll(0)."""
    if t == 0:
        return 0.0
    w = 1.0 / (v + t)
    S = w.sum()
    r = y - (w @ y) / S
    rest = (w * r) @ r - cf["Q"][0]
    if reml:
        rest += math.log(S / cf["S"][0])
    return float(-0.5 * (np.log1p(t / v).sum() + rest))


def _bracket1(y, v, t0, s0, st, info, reml):
    """``_bracket`` for one row: (lo, hi, at0)."""
    if st > 0:
        return t0, math.inf, False
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
    lo, hi, at0 = _bracket1(y, v, t0, s0, st, info, reml)
    if at0:
        return 0.0
    t = min(max(t0, lo), hi)
    if not hi > lo:
        return t
    prev = math.nan
    for _ in range(MAX_ROUNDS):
        s, stp, _info = first if first is not None and t == t0 else score1(y, v, t, reml)
        first = None
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
            new = max(4 * t, scale)
        if not math.isfinite(new):
            return None
        sc = max(1.0, new)
        size = abs(new - t)
        if (inside and (size < NEWTON_STOP * sc or size ** 3 < PREDICT_TOL * sc * prev ** 2)
                or hi - lo < TOL * sc):
            return new
        prev = size if inside else math.nan
        t = new
    return None


def reml_ml1(y, v, cf, reml):
    """``reml_ml`` for one row (y, v 1-D; ``cf`` of that row): tau², or None where a
    search did not converge."""
    he, dl, scale = float(cf["he"][0]), float(cf["dl"][0]), float(cf["s2"][0])
    s0 = float((cf["s0_reml"] if reml else cf["s0_ml"])[0])
    t = _climb1(y, v, he, s0, reml, scale)
    if t is None:
        return None
    d = dll1(y, v, t, cf, reml)
    if d < 0 and dl != he:  # metafor's ll0check would fire: search again from DL
        t2 = _climb1(y, v, dl, s0, reml, scale)
        if t2 is None:
            return None
        d2 = dll1(y, v, t2, cf, reml)
        if d2 > d:
            t, d = t2, d2
    return 0.0 if d < 0 else t


def closed_forms1(y, v):
    """``closed_forms`` for one row without padding (1-D y, v), the same formulas in 1-D
    dot products; values as 1-element arrays, ``yc`` as a (1, k) array."""
    k = y.size
    shift = y[np.argmin(v)]
    yc = y - shift
    w = 1.0 / v
    S = w.sum()
    mu = (w @ yc) / S
    r = yc - mu
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
    vals = dict(Q=Q, c=trp, dl=max(0.0, (Q - (kk - 1)) / trp),
                he=max(0.0, rss / (kk - 1) - v.sum() / kk), rss=rss, s2=(kk - 1) / trp,
                s0_reml=ypy - trp, s0_ml=ypy - S, S=S, mu=mu, shift=shift, n=k)
    out = {n: np.array([x], float) for n, x in vals.items()}
    out["yc"] = yc[None, :]
    return out
