"""batch() equals one-at-a-time rma() fits, incl. NaN padding for unequal k."""

from __future__ import annotations

import numpy as np
import pytest

from evidence.errors import DataError
from evidence.meta import batch, rma
from evidence.meta.batch import FIELDS
from evidence.meta.core import tau2_estimate


def random_set(seed, m=60, kmax=8):
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.01, 0.5, (m, kmax))
    tau2 = rng.choice([0.0, 0.05, 0.5], m)
    yi = rng.normal(0.3, np.sqrt(vi + tau2[:, None]))
    ks = rng.integers(2, kmax + 1, m)
    pad = np.arange(kmax)[None, :] >= ks[:, None]
    yi[pad] = np.nan
    vi[pad] = np.nan
    return yi, vi, ks


TOL = {"EE": 1e-10, "DL": 1e-10, "HE": 1e-10, "SJ": 1e-10, "REML": 1e-6, "ML": 1e-6, "PM": 1e-6}


@pytest.mark.parametrize("method", list(TOL))
@pytest.mark.parametrize("test", ["z", "knha"])
def test_batch_equals_loop(method, test):
    yi, vi, ks = random_set(list(TOL).index(method) * 2 + (test == "knha"))
    out = batch(yi, vi, method=method, test=test)
    assert np.array_equal(out["k"], ks)
    for i in range(yi.shape[0]):
        r = rma(yi[i, : ks[i]], vi[i, : ks[i]], method=method, test=test)
        for f in FIELDS:
            want = getattr(r, f)
            if want is None:
                assert np.isnan(out[f][i])
            else:
                assert abs(out[f][i] - want) <= TOL[method] * max(1.0, abs(want)), (i, f)


def test_batch_higgins_pi_and_short_rows():
    yi = np.array([[0.1, 0.5, 0.9], [0.2, np.nan, np.nan]])
    vi = np.array([[0.1, 0.2, 0.1], [0.1, np.nan, np.nan]])
    out = batch(yi, vi, method="REML", pi="higgins")
    r = rma(yi[0], vi[0], method="REML", pi="higgins")
    assert out["pi_low"][0] == pytest.approx(r.pi_low, abs=1e-8)
    assert np.isnan(out["estimate"][1]) and out["k"][1] == 1  # k = 1: no random-effects fit


def test_batch_rejects_bad_input():
    with pytest.raises(DataError):
        batch([[0.1, 0.2]], [[0.1, 0.0]])
    with pytest.raises(DataError):
        batch([[0.1, np.nan]], [[0.1, 0.2]])


# Hard rows for the (RE)ML iteration. Expected values from R metafor 3.8.1,
# rma(yi, vi, method=, control=list(threshold=1e-12, maxiter=10000)) unless noted.
AT_ZERO = ([0.16, 0.28, 0.53, 0.09, 1.04], [0.065, 0.044, 0.07, 0.082, 0.16])


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_batch_maximum_at_zero(method):
    """HE = 0.064 > 0, yet the likelihood falls as tau² leaves 0: tau² is 0, set at once."""
    out = batch([AT_ZERO[0]], [AT_ZERO[1]], method=method)
    r = rma(*AT_ZERO, method=method)
    assert out["tau2"][0] == 0.0 and r.tau2 < 1e-10  # metafor: 4.3e-13 (REML), 1.4e-13 (ML)
    assert out["estimate"][0] == pytest.approx(0.338696240055, abs=1e-11)  # metafor
    assert out["se"][0] == pytest.approx(0.118809829572, abs=1e-11)  # metafor


def test_batch_ml_two_maxima_follows_rma():
    """ML with a local maximum at 0 and a higher one inside: the same one as rma and metafor."""
    y, v = [-0.305, -0.752, 1.406], [0.026, 0.202, 0.296]
    out = batch([y], [v], method="ML")
    assert out["tau2"][0] == pytest.approx(0.5092789986, abs=1e-9)  # metafor
    assert out["estimate"][0] == pytest.approx(0.02633623441, abs=1e-9)  # metafor
    assert out["tau2"][0] == pytest.approx(rma(y, v, method="ML").tau2, abs=1e-9)


def reml_loglik(t, y, v):
    """Restricted log-likelihood of the intercept-only model, up to a constant."""
    w = 1 / (v + t)
    mu = np.sum(w * y) / w.sum()
    return -0.5 * (np.sum(np.log(v + t)) + np.log(w.sum()) + np.sum(w * (y - mu) ** 2))


def test_batch_reml_where_fisher_scoring_oscillates():
    """Full Fisher steps overshoot further each round here (metafor's default stops with
    'did not converge'); rma then retries damped steps, and batch finds the same REML
    maximum, as metafor with control=list(stepadj=0.5) does."""
    y = np.array([-0.364, 0.396, 0.221, 0.336, 0.46, 0.296])
    v = np.array([0.092, 0.457, 0.412, 0.472, 0.238, 0.393])
    one = rma(y, v, method="REML")
    assert one.tau2 == pytest.approx(0.03083447224, abs=1e-9)  # metafor, stepadj = 0.5
    out = batch([y], [v], method="REML")
    t = out["tau2"][0]
    assert t == pytest.approx(0.03083447224, abs=1e-10)  # metafor, stepadj = 0.5
    assert out["estimate"][0] == pytest.approx(0.06946237291, abs=1e-10)  # metafor
    assert all(reml_loglik(t, y, v) > reml_loglik(t + d, y, v) for d in (-1e-4, 1e-4))


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_batch_tau2_many_small_rows(method):
    """tau² of 600 small meta-analyses (k = 2..5, a third with true tau² = 0) as core's
    one-at-a-time Fisher scoring, where that converges."""
    yi, vi, ks = random_set(100 + (method == "ML"), m=600, kmax=5)
    got = batch(yi, vi, method=method)["tau2"]
    compared = 0
    for i in range(yi.shape[0]):
        try:
            want = tau2_estimate(yi[i, : ks[i]], vi[i, : ks[i]], method)
        except DataError:
            continue
        compared += 1
        assert abs(got[i] - want) <= 1e-6 * max(1.0, want), (i, got[i], want)
    assert compared >= 590
    assert np.mean(got == 0) > 0.2  # the boundary path is exercised


def test_rows_that_do_not_converge_become_nan_with_a_warning(monkeypatch):
    """One hard row must not sink a whole batch: with the iteration cap forced to 1,
    rows needing more rounds are NaN (and named in a warning); the rest still equal rma."""
    from evidence.meta import kernel

    rng = np.random.default_rng(7)
    yi = rng.normal(0.3, 0.5, size=(40, 5))
    vi = rng.uniform(0.02, 0.2, size=(40, 5))
    monkeypatch.setattr(kernel, "MAX_ROUNDS", 1)
    with pytest.warns(RuntimeWarning, match="did not converge"):
        out = batch(yi, vi, method="REML")
    nan = np.isnan(out["tau2"])
    assert nan.any() and not nan.all()
    assert np.isnan(out["estimate"][nan]).all()
    for i in np.flatnonzero(~nan)[:5]:
        assert out["tau2"][i] == pytest.approx(rma(yi[i], vi[i], method="REML").tau2, abs=1e-6)
