"""The compiled (RE)ML search and closed forms (evidence.meta.fused) against the vector
kernel they replace in ``batch``, against ``rma``, and against metafor.

``fused`` runs the scalar algorithm of ``kernel.reml_ml1`` in numba loops; its sums are
taken in another order than numpy's, so agreement with the vector kernel is to rounding
(1e-12 relative, measured worst 2026-12-03: 2e-15 for tau², 2e-12 for S at v = 1e-10).
Against metafor the tolerances of test_meta_differential apply (1e-6, iterative).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("numba")

from evidence.meta import batch, fused, kernel, rma  # noqa: E402

REF = Path(__file__).parent / "reference" / "differential_metafor.json"


def _random_rows(seed=3):
    """Rows of the kinds the differential test found hard, in one (m, k) padded array."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in (2, 3, 4, 5, 10, 40):
        for _ in range(150):
            v = rng.uniform(0.005, 0.6, k)
            y = rng.normal(0.3, np.sqrt(v + rng.choice([0.0, 0.05, 0.5])))
            rows.append((y, v))
    rows += [
        ([0.1, 0.3, 0.5], [1e-10, 1e6, 0.05]),  # issue 15, failure 3
        ([0.1, 0.3, 0.5, 0.2], [1e-10, 0.05, 0.08, 0.1]),
        ([-1.15968974886, 1.29554880141], [0.938804429655, 0.00807260262431]),  # failure 2, ML
        ([0.641088372365, 0.785253755405, 0.511284980195, 3.8105220192],
         [0.00659893817426, 0.0143657950546, 0.00839780634576, 0.982998579737]),  # two maxima
        ([0.5, 0.5, 0.5], [0.1, 0.2, 0.3]),  # identical effects
        ([-0.321972368362, 0.0817928743816, 0.771303316567, -0.00311165316554,
          -0.0537745731914, -0.466719649052], [0.0659850093664] * 6),  # equal variances
    ]
    width = max(len(y) for y, _ in rows)
    Y = np.zeros((len(rows), width))
    V = np.full((len(rows), width), np.inf)
    for i, (y, v) in enumerate(rows):
        Y[i, :len(y)], V[i, :len(v)] = y, v
    return Y, V, np.array([len(y) for y, _ in rows])


def _rel(a, b):
    return np.abs(a - b) / np.maximum(1.0, np.abs(b))


def test_closed_forms_equal_the_vector_kernel():
    Y, V, k = _random_rows()
    want = kernel.closed_forms(np.where(np.isinf(V), 0.0, Y), V, np.isinf(V), k)
    got = fused.closed_forms(Y, V, k)
    for name in ("shift", "Q", "c", "dl", "he", "rss", "s2", "S", "mu", "s0_reml", "s0_ml", "yc"):
        assert np.nanmax(_rel(got[name], want[name])) < 1e-12, name


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_search_equals_the_vector_kernel_and_rma(method):
    Y, V, k = _random_rows()
    cf = kernel.closed_forms(np.where(np.isinf(V), 0.0, Y), V, np.isinf(V), k)
    reml = method == "REML"
    t_vec, failed_vec, fin_vec = kernel.reml_ml(cf["yc"], V, cf, reml)
    t, failed, fin = fused.reml_ml(cf["yc"], V, cf, reml)
    assert not failed.any() and not failed_vec.any()
    assert np.max(_rel(t, t_vec)) < 1e-12
    for a, b in zip(fin, fin_vec, strict=True):
        assert np.max(_rel(a, b)) < 1e-11
    assert (t == 0).sum() == (t_vec == 0).sum() > 50  # the boundary (ll0check) path is exercised
    for i in range(0, len(k), 37):
        r = rma(Y[i, :k[i]], V[i, :k[i]], method=method)
        assert t[i] == pytest.approx(r.tau2, rel=1e-12, abs=1e-12), i


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_batch_matches_metafor_on_the_differential_suite(method):
    """batch (compiled path) on the 420 pinned datasets: tau² within 1e-6 of metafor 3.8.1
    (tight control), or, where metafor stops at a lower maximum, a higher likelihood."""
    assert fused.AVAILABLE
    ref = json.loads(REF.read_text())["datasets"]
    width = max(len(d["yi"]) for d in ref)
    Y = np.full((len(ref), width), np.nan)
    V = np.full((len(ref), width), np.nan)
    for i, d in enumerate(ref):
        Y[i, :len(d["yi"])], V[i, :len(d["vi"])] = d["yi"], d["vi"]
    out = batch(Y, V, method=method)
    compared = 0
    for i, d in enumerate(ref):
        want = d["fits"].get(f"{method} z", {})
        if "tau2" not in want or want["tau2"] is None:
            continue
        y, v = np.array(d["yi"]), np.array(d["vi"])
        if abs(out["tau2"][i] - want["tau2"]) > 1e-6 * max(1.0, want["tau2"]):
            r = rma(y, v, method=method)  # documented rule: the higher maximum; rma agrees
            assert out["tau2"][i] == pytest.approx(r.tau2, rel=1e-10, abs=1e-12), i
            continue
        compared += 1
    assert compared >= 400


def test_iteration_cap_is_read_at_call_time(monkeypatch):
    """kernel.MAX_ROUNDS bounds the compiled search too (it is passed in, not compiled in)."""
    Y, V, k = _random_rows()
    cf = kernel.closed_forms(np.where(np.isinf(V), 0.0, Y), V, np.isinf(V), k)
    monkeypatch.setattr(kernel, "MAX_ROUNDS", 1)
    t, failed, _fin = fused.reml_ml(cf["yc"], V, cf, True)
    assert failed.any() and not failed.all()
    assert all(math.isnan(x) for x in t[failed])


def test_batch_without_numba_gives_the_same_answers(monkeypatch):
    Y, V, k = _random_rows()
    Yn = np.where(np.isinf(V), np.nan, Y)
    Vn = np.where(np.isinf(V), np.nan, V)
    fast = batch(Yn, Vn, method="REML", test="knha")
    monkeypatch.setattr(fused, "AVAILABLE", False)
    slow = batch(Yn, Vn, method="REML", test="knha")
    for f in ("estimate", "se", "ci_low", "ci_high", "tau2", "I2", "Q"):
        assert np.nanmax(_rel(fast[f], slow[f])) < 1e-10, f
