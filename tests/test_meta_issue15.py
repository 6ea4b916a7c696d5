"""Issue 15's reproducers, each with metafor's answer or the documented rule.

Expected values: R metafor 3.8.1 (Debian's r-cran-metafor), each call written
beside its number, with ``ct = list(threshold = 1e-12, tol = 1e-12, maxiter = 1000)``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evidence.cli import main
from evidence.errors import DataError
from evidence.meta import batch, cumulative, egger, kernel, leave1out, rma, subgroups, trimfill


def reml_loglik(t, y, v, reml=True):
    """(Restricted) log-likelihood of the intercept-only model, up to a constant."""
    y, v = np.asarray(y), np.asarray(v)
    w = 1 / (v + t)
    mu = np.sum(w * y) / w.sum()
    return -0.5 * (np.sum(np.log(v + t)) + (np.log(w.sum()) if reml else 0) + np.sum(w * (y - mu) ** 2))


# 1. identical effects with test = "knha"

@pytest.mark.parametrize("y,v,est", [([0.5, 0.5, 0.5], [0.1, 0.2, 0.3], 0.5),
                                     ([0.3, 0.3, 0.3, 0.3], [0.1, 0.2, 0.3, 0.7], 0.3)])
def test_knha_identical_effects_scale_zero(y, v, est):
    """metafor: rma(c(.5,.5,.5), c(.1,.2,.3), method="DL", test="knha", control=ct) gives
    b 0.5, se 0, zval Inf, pval 0, CI [0.5, 0.5] (RSS.knha <= .Machine$double.eps: s2w = 0);
    the same for c(.3,.3,.3,.3), c(.1,.2,.3,.7) with REML."""
    for method in ("DL", "REML"):
        r = rma(y, v, method=method, test="knha")
        assert r.estimate == pytest.approx(est, abs=1e-15)
        assert (r.se, r.pval, r.stat) == (0.0, 0.0, np.inf)
        assert r.ci_low == r.ci_high == r.estimate
        b = batch([y], [v], method=method, test="knha")
        assert b["se"][0] == 0.0 and b["pval"][0] == 0.0 and b["ci_low"][0] == b["ci_high"][0]


def test_knha_identical_effects_in_extras_and_cli(tmp_path, capsys):
    y, v = [0.5] * 5, [0.1, 0.2, 0.3, 0.4, 0.5]
    assert (leave1out(y, v, method="DL", test="knha")["se"] == 0).all()
    assert (cumulative(y, v, method="DL", test="knha")["se"].iloc[1:] == 0).all()  # row 1: z
    assert trimfill(y, v, method="DL", test="knha").result.se == 0
    path = tmp_path / "same.csv"
    path.write_text("yi,vi\n" + "".join(f"0.5,{x}\n" for x in v))
    assert main(["meta", str(path), "--test", "knha", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["se"] == 0


# 2. (RE)ML: a maximum worse than tau² = 0 is never kept; rma and batch agree

def test_ml_k2_interior_maximum_below_zero():
    """metafor: rma(yi, vi, method="ML", control=ct) gives tau2 0, b 1.27461665870451,
    logLik -2.57986250216424 (ll0check); with ll0check=FALSE tau2 0.846192470062688,
    logLik -3.190851645041997 (our old answer)."""
    y, v = [-1.15968974886, 1.29554880141], [0.938804429655, 0.00807260262431]
    r = rma(y, v, method="ML")
    assert r.tau2 == 0.0 and r.estimate == pytest.approx(1.27461665870451, abs=1e-10)
    assert batch([y], [v], method="ML")["tau2"][0] == 0.0


def test_reml_two_interior_maxima_takes_the_global_one():
    """Restricted likelihood with maxima near 0.0088 and 0.946. metafor's Fisher scoring
    from HE reaches 0.945884319061663 (logLik -5.220646932514367), below logLik at 0
    (-4.778624193594364), so it returns 0; from tau2.init = 0.005 it reaches
    0.00883731976546082 (logLik -4.61073907280367745), the global maximum. The project's
    rule (evidence.meta.core) takes the global maximum: 0.00883731976546082, in rma and batch.
    A documented difference from metafor's 0."""
    y = [0.641088372365, 0.785253755405, 0.511284980195, 3.8105220192]
    v = [0.00659893817426, 0.0143657950546, 0.00839780634576, 0.982998579737]
    r = rma(y, v, method="REML")
    assert r.tau2 == pytest.approx(0.00883731976546082, abs=1e-10)
    assert r.estimate == pytest.approx(0.65233629517903269, abs=1e-10)
    assert batch([y], [v], method="REML")["tau2"][0] == pytest.approx(r.tau2, abs=1e-12)
    ll = [reml_loglik(t, y, v) for t in (0.0, 0.945884319061663, r.tau2)]
    assert ll[2] > ll[0] > ll[1]


# 3. one study ~1e9 times more precise

@pytest.mark.parametrize("y,v,method,tau2,est", [
    # metafor: rma(c(.1,.3,.5), c(1e-10,1e6,.05), method="REML", control=ct) (with its warning
    # "Ratio of largest to smallest sampling variance extremely large")
    ([0.1, 0.3, 0.5], [1e-10, 1e6, 0.05], "REML", 0.0549999906625032, 0.237499995125001),
    # metafor: rma(c(.1,.3,.5,.2), c(1e-10,.05,.08,.1), method="REML", control=ct)
    ([0.1, 0.3, 0.5, 0.2], [1e-10, 0.05, 0.08, 0.1], "REML", 0.00971234324187016,
     0.16229583733606570),
])
def test_one_dominant_study(y, v, method, tau2, est):
    r = rma(y, v, method=method)
    b = batch([y], [v], method=method)
    assert r.tau2 == pytest.approx(tau2, rel=1e-7)  # metafor's own threshold stops at ~1e-8
    assert b["tau2"][0] == pytest.approx(r.tau2, rel=1e-10)
    assert r.estimate == pytest.approx(est, abs=1e-8)


# 4. trim-and-fill with all variances equal

def test_trimfill_equal_variances_asks_for_side():
    """metafor: trimfill(rma(yi, vi, method=m)) stops with 'missing value where TRUE/FALSE
    needed' for DL and REML (the sqrt(vi) slope is NA). Documented rule: DataError asking
    for side; with side given it runs."""
    y = [-0.321972368362, 0.0817928743816, 0.771303316567, -0.00311165316554, -0.0537745731914,
         -0.466719649052]
    v = [0.0659850093664] * 6
    for method in ("EE", "DL", "REML", "ML", "PM", "HE", "SJ"):
        with pytest.raises(DataError, match="give side='left' or side='right'"):
            trimfill(y, v, method=method)
    t = trimfill(y, v, method="DL", side="left")
    assert t.side == "left" and t.result.k == 6 + t.k0


# 5. Egger on identical effects

def test_egger_perfect_fit_is_nan_with_a_warning():
    """metafor: regtest(c(.4,.4,.4,.4,.4), c(.1,.2,.3,.05,.07), model="lm", predictor="sei")
    gives zval 0.362, pval 0.741 (noise) and R's 'essentially perfect fit' warning.
    Documented rule: stat and p NaN with a RuntimeWarning."""
    with pytest.warns(RuntimeWarning, match="perfect fit"):
        e = egger([0.4] * 5, [0.1, 0.2, 0.3, 0.05, 0.07])
    assert np.isnan(e.stat) and np.isnan(e.pval) and e.limit_estimate == pytest.approx(0.4)
    rng = np.random.default_rng(3)  # 14 identical-effect sets: never a "significant" p
    for _ in range(14):
        with pytest.warns(RuntimeWarning):
            assert np.isnan(egger(np.full(8, rng.normal()), rng.uniform(0.01, 1, 8)).pval)


# Smaller items

def test_text_in_input_names_the_row():
    with pytest.raises(DataError) as exc:
        rma([0.1, "abc", 0.3], [0.1, 0.2, 0.3])
    assert (exc.value.row, exc.value.field) == (2, "yi")
    with pytest.raises(DataError) as exc:
        rma(pd.Series([0.1, 0.2, 0.3]), pd.Series(["0.1", "0.2", "x"]))
    assert (exc.value.row, exc.value.field) == (3, "vi")


def test_batch_blames_the_right_column():
    with pytest.raises(DataError) as exc:
        batch([[0.1, np.inf, 0.3]], [[0.1, 0.2, 0.3]])
    assert exc.value.field == "yi"
    with pytest.raises(DataError) as exc:
        batch([[0.1, 0.2, 0.3]], [[0.1, -0.2, 0.3]])
    assert exc.value.field == "vi"


def test_duplicated_labels_warn_in_the_api():
    with pytest.warns(UserWarning, match="duplicated study labels: \\['A'\\]"):
        rma([0.1, 0.2, 0.3], [0.1, 0.2, 0.3], labels=["A", "B", "A"])


def test_k1_i2_is_zero_as_metafor():
    """metafor: rma(0.3, 0.1, method="EE") gives I2 0, H2 1."""
    r = rma([0.3], [0.1], method="EE")
    assert (r.I2, r.H2) == (0.0, 1.0)
    assert cumulative([0.3, 0.5], [0.1, 0.2])["I2"].iloc[0] == 0.0
    b = batch([[0.3, np.nan]], [[0.1, np.nan]], method="EE")
    assert (b["estimate"][0], b["I2"][0], b["H2"][0], b["Q"][0]) == (0.3, 0.0, 1.0, 0.0)


@pytest.mark.parametrize("method,test,tau2,qm,p", [
    # metafor: rma(yi, vi, mods = ~ factor(g), method=, test=, control=ct) on bcg_logrr,
    # g = "early" for the first 6 trials, "late" for the other 7
    ("DL", "z", 0.187599984710726, 2.9604131614081, 0.0853261351835016),
    ("DL", "knha", 0.187599984710726, 2.25359166905763, 0.161452670631008),
    ("REML", "z", 0.276102945796426, 2.1924319781717, 0.13869018104166),
    ("REML", "knha", 0.276102945796426, 2.17149114442536, 0.168621767421851),
])
def test_subgroups_common_tau2_matches_metafor_mods(method, test, tau2, qm, p):
    df = pd.read_csv(Path(__file__).parent / "data" / "validation" / "bcg_logrr_input.csv")
    g = np.where(np.arange(len(df)) < 6, "early", "late")
    s = subgroups(df.yi, df.vi, g, method=method, test=test, tau2="common")
    assert s.results["early"].tau2 == pytest.approx(tau2, abs=1e-9)
    assert s.Q_between == pytest.approx(qm, abs=1e-8) and s.p_between == pytest.approx(p, abs=1e-8)
    assert s.df == 1


# Issue 17's engine items

def test_huge_variances_terminate():
    """Variances near 1e200: the information underflows; the fit must still end (tau² 0 here)."""
    for method in ("REML", "ML", "PM", "DL"):
        r = rma([0.1, 0.5, -0.2], [1e200, 3e200, 2e200], method=method)
        assert np.isfinite(r.estimate)


def test_past_the_bound_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(kernel, "MAX_ROUNDS", 1)
    with pytest.raises(DataError, match="did not converge within 1 iterations"):
        rma([0.1, 0.5, -0.2, 0.9], [0.1, 0.2, 0.05, 0.3], method="REML")


def test_ten_thousand_studies_no_k_by_k_matrix():
    """k = 10,000: a k x k float matrix alone would be 800 MB; the fit stays O(k)."""
    import tracemalloc

    rng = np.random.default_rng(0)
    v = rng.uniform(0.01, 0.5, 10_000)
    y = rng.normal(0.2, np.sqrt(v + 0.1))
    tracemalloc.start()
    for method in ("REML", "ML", "PM", "DL", "SJ", "HE"):
        r = rma(y, v, method=method, test="knha")
        r.tau2_ci  # noqa: B018 - computed on demand, must be O(k) too
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50e6 and r.k == 10_000
