"""batch() equals one-at-a-time rma() fits, incl. NaN padding for unequal k."""

from __future__ import annotations

import numpy as np
import pytest

from evidence.errors import DataError
from evidence.meta import batch, rma
from evidence.meta.batch import FIELDS


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
