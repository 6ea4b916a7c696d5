"""Where statsmodels' combine_effects agrees with evidence.meta, and where (and why) we take over."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.meta_analysis import combine_effects

from evidence.meta import rma

HERE = Path(__file__).parent / "data" / "validation"


def bcg():
    return pd.read_csv(HERE / "bcg_logrr_input.csv")


def test_agrees_on_equal_effects_and_dl_when_q_exceeds_df():
    df = bcg()
    sm = combine_effects(df.yi.to_numpy(), df.vi.to_numpy(), method_re="chi2")
    ee, dl = rma(df.yi, df.vi, method="EE"), rma(df.yi, df.vi, method="DL")
    assert sm.mean_effect_fe == pytest.approx(ee.estimate, rel=1e-12)
    assert sm.q == pytest.approx(ee.Q, rel=1e-12)
    assert sm.tau2 == pytest.approx(dl.tau2, rel=1e-12)
    assert sm.mean_effect_re == pytest.approx(dl.estimate, rel=1e-12)
    assert sm.sd_eff_w_re == pytest.approx(dl.se, rel=1e-12)
    # HKSJ: statsmodels' scale-adjusted variance equals metafor's knha se
    knha = rma(df.yi, df.vi, method="DL", test="knha")
    assert np.sqrt(sm.var_hksj_re) == pytest.approx(knha.se, rel=1e-12)


def test_dl_not_floored_in_statsmodels():
    """Homogeneous studies (Q < k - 1): statsmodels' DL tau² is negative, ours is 0."""
    yi = np.array([0.0, 0.3, 0.6, 0.2])
    vi = np.array([0.1, 0.1, 0.1, 0.1])  # Q = 1.875 < 3: DL tau² = (1.875 - 3) / 30
    sm = combine_effects(yi, vi, method_re="chi2")
    ours = rma(yi, vi, method="DL")
    assert sm.tau2 == pytest.approx(-0.0375) and ours.tau2 == 0
    # a negative tau² inflates the weights: statsmodels' se is below the EE se, which is impossible
    assert sm.sd_eff_w_re < rma(yi, vi, method="EE").se == pytest.approx(ours.se)


def test_pm_stops_early_in_statsmodels():
    """statsmodels stops Paule-Mandel at |Q - (k-1)| < 1e-5; we solve the equation (metafor tight refit)."""
    df = bcg()
    tight = json.loads((HERE / "metafor_tight.json").read_text())["datasets"]["bcg_logrr"]["fits"]["PM"]
    sm = combine_effects(df.yi.to_numpy(), df.vi.to_numpy(), method_re="iterated")
    ours = rma(df.yi, df.vi, method="PM")
    assert abs(ours.tau2 - tight["tau2"]) < 1e-10
    assert abs(sm.tau2 - tight["tau2"]) < 1e-4  # close, but not at closed-form precision
    assert abs(sm.tau2 - tight["tau2"]) > 100 * abs(ours.tau2 - tight["tau2"])


def test_what_statsmodels_lacks():
    """No REML option and no prediction interval: the reasons rma computes them itself."""
    df = bcg()
    with pytest.raises(ValueError):
        combine_effects(df.yi.to_numpy(), df.vi.to_numpy(), method_re="reml")
    sm = combine_effects(df.yi.to_numpy(), df.vi.to_numpy(), method_re="chi2")
    assert not any("predict" in name for name in dir(sm))
    assert rma(df.yi, df.vi).pi_low is not None
