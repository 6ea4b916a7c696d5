"""evidence.meta against R metafor 3.8.1 (tests/data/validation/README.md says where each number comes from).

The ``*_metafor.json`` references (copied from ../shared/validation, made by
its ``make_reference.R``) are fitted with ``control = list(threshold = 1e-12,
tol = 1e-12, maxiter = 1000)``, so iterative fits sit at the root. Measured
largest relative difference (2026-12-02, every field of every fit, all five
datasets): closed forms (EE, DL, HE, SJ, knha) 7.7e-15; REML 5.2e-14, ML
7.7e-14, PM 4.7e-13; leave-one-out REML 6.7e-13; Egger 8.9e-15. Tolerances
below: 1e-12 for closed forms and Egger, 1e-10 for iterative fits (a margin
of ~200x over the worst measured value for other BLAS / libm builds).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evidence import paths
from evidence.meta import egger, leave1out, rma, trimfill

HERE = Path(__file__).parent / "data" / "validation"
DATASETS = ["normand1999_smd", "normand1999_md", "normand1999_smd_k3", "bcg_logrr", "bcg_logor"]
FIELDS = ["estimate", "se", "ci_low", "ci_high", "pval", "tau2", "I2", "H2", "Q", "Q_pval",
          "pi_low", "pi_high"]
CLOSED = {"EE", "DL", "HE", "SJ"}
CLOSED_TOL = 1e-12  # measured worst 7.7e-15 (see the module docstring)
ITER_TOL = 1e-10  # measured worst 4.7e-13 (PM)
TIGHT = json.loads((HERE / "metafor_tight.json").read_text())["datasets"]


def load(name):
    df = pd.read_csv(HERE / f"{name}_input.csv")
    return df, json.loads((HERE / f"{name}_metafor.json").read_text())


def close(got, want, tol):
    if want is None:
        return got is None
    return abs(got - want) <= tol * max(1.0, abs(want))


CASES = [(n, i) for n in DATASETS for i in range(9)]


@pytest.mark.parametrize("name,i", CASES)
def test_fit_matches_metafor(name, i):
    df, ref = load(name)
    b = ref["fits"][i]
    r = rma(df.yi, df.vi, method=b["method"], test=b["test"])
    assert r.k == b["k"]
    tol = CLOSED_TOL if b["method"] in CLOSED else ITER_TOL
    bad = {f: (getattr(r, f), b[f]) for f in FIELDS if not close(getattr(r, f), b[f], tol)}
    assert not bad


@pytest.mark.parametrize("name,i", CASES)
def test_everything_derived_from_tau2_matches_at_1e10(name, i):
    df, ref = load(name)
    b = ref["fits"][i]
    r = rma(df.yi, df.vi, method=b["method"], test=b["test"], tau2=b["tau2"])
    bad = {f: (getattr(r, f), b[f]) for f in FIELDS if not close(getattr(r, f), b[f], 1e-10)}
    assert not bad


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("method", ["REML", "ML", "PM"])
def test_iterative_tau2_is_the_exact_root(name, method):
    """Against metafor_tight.json (make_tight.R, threshold 1e-10, tol 1e-12): a second,
    independent tight run, so the two reference files also check each other."""
    df, _ = load(name)
    want = TIGHT[name]["fits"][method]
    r = rma(df.yi, df.vi, method=method)
    assert close(r.tau2, want["tau2"], 1e-9)
    assert close(r.estimate, want["estimate"], 1e-9)
    assert close(r.se, want["se"], 1e-9)


@pytest.mark.parametrize("name", DATASETS)
def test_tau2_qprofile_ci(name):
    df, _ = load(name)
    want = TIGHT[name]["fits"]["REML"]
    lo, hi = rma(df.yi, df.vi).tau2_ci
    assert close(lo, want["tau2_ci_low"], 1e-9) and close(hi, want["tau2_ci_high"], 1e-9)


@pytest.mark.parametrize("name", DATASETS)
def test_egger_regtest(name):
    df, ref = load(name)
    e = egger(df.yi, df.vi)
    assert e.stat == pytest.approx(ref["egger"]["zval"], abs=CLOSED_TOL)
    assert e.pval == pytest.approx(ref["egger"]["pval"], abs=CLOSED_TOL)
    assert e.limit_estimate == pytest.approx(ref["egger"]["intercept"], rel=CLOSED_TOL, abs=CLOSED_TOL)
    assert e.df == len(df) - 2


@pytest.mark.parametrize("name", DATASETS)
def test_trimfill_reml(name):
    df, ref = load(name)
    want = ref["trimfill_REML"]
    t = trimfill(df.yi, df.vi, method="REML")
    assert (t.k0, t.side) == (want["k0"], want["side"])
    assert t.result.k == len(df) + want["k0"] and t.filled.sum() == want["k0"]
    # metafor's trimfill() refits the filled data with default controls (it does not pass
    # the model's control on: tf$control is empty), so where studies were filled (bcg_logrr)
    # its estimate sits ~2e-7 from the root; elsewhere the fit is the tight one.
    tol = 1e-6 if want["k0"] else ITER_TOL
    for f in ("estimate", "ci_low", "ci_high"):
        assert close(getattr(t.result, f), want[f], tol)


def test_trimfill_fills_a_study_on_bcg_logrr():
    """The one reference case with a missing study: the filled value mirrors the most extreme one."""
    df, _ = load("bcg_logrr")
    t = trimfill(df.yi, df.vi)
    assert t.k0 == 1 and t.result.labels[-1] == "Filled 1"
    assert t.result.vi[-1] in set(df.vi)
    # R metafor 3.8.1: tf <- trimfill(rma(yi, vi)); rma(tf$yi, tf$vi,
    # control = list(threshold = 1e-12)) gives b = -0.657082783488549, tau2 = 0.331287633438122
    assert t.result.estimate == pytest.approx(-0.657082783488549, abs=ITER_TOL)
    assert t.result.tau2 == pytest.approx(0.331287633438122, abs=ITER_TOL)


@pytest.mark.parametrize("name", DATASETS)
def test_leave1out_reml(name):
    df, ref = load(name)
    want = ref["leave1out_REML"]
    got = leave1out(df.yi, df.vi, method="REML", labels=df.study)
    assert list(got.index) == list(df.study)
    for f in ("estimate", "ci_low", "ci_high", "tau2", "I2"):
        scale = 100 if f == "I2" else 1  # I² in percent: relative to the 0-1 scale
        assert all(close(g / scale, w / scale, ITER_TOL) for g, w in zip(got[f], want[f], strict=True))
    tight = TIGHT[name]["leave1out_REML"]
    for f in ("estimate", "tau2"):
        assert all(close(g, w, 1e-8) for g, w in zip(got[f], tight[f], strict=True))


def test_local_copy_equals_shared_reference():
    shared = paths.SHARED / "validation"
    if not shared.is_dir():
        pytest.skip("../shared is absent")
    assert (HERE / "make_reference.R").read_bytes() == (shared / "make_reference.R").read_bytes()
    for name in DATASETS:
        for suffix in ("_input.csv", "_metafor.json"):
            assert (HERE / f"{name}{suffix}").read_bytes() == (shared / f"{name}{suffix}").read_bytes()


def test_weights_are_percent_and_pi_conventions():
    df, ref = load("normand1999_smd")
    r = rma(df.yi, df.vi, method="REML", labels=df.study)
    assert r.weights.sum() == pytest.approx(100)
    h = rma(df.yi, df.vi, method="REML", pi="higgins")
    from scipy import stats
    half = stats.t.ppf(0.975, len(df) - 2) * np.sqrt(h.se ** 2 + h.tau2)
    assert h.pi_high - h.estimate == pytest.approx(half, rel=1e-12)
    assert h.pi_high - h.pi_low > r.pi_high - r.pi_low  # t(k-2) wider than z
    assert rma(df.yi, df.vi, method="EE").pi_low is None
