"""subgroups, cumulative, input checks: hand-checkable properties (no external reference)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from evidence.errors import DataError
from evidence.meta import cumulative, rma, subgroups

HERE = Path(__file__).parent / "data" / "validation"


def bcg():
    return pd.read_csv(HERE / "bcg_logrr_input.csv")


def test_subgroups_fit_each_group_and_test_difference():
    df = bcg()
    groups = np.where(np.arange(len(df)) < 6, "early", "late")
    s = subgroups(df.yi, df.vi, groups, method="DL")
    early = rma(df.yi[:6], df.vi[:6], method="DL")
    assert s.results["early"].estimate == pytest.approx(early.estimate, rel=1e-14)
    est = np.array([s.results[g].estimate for g in ("early", "late")])
    w = 1 / np.array([s.results[g].se for g in ("early", "late")]) ** 2
    qb = np.sum(w * (est - np.sum(w * est) / w.sum()) ** 2)
    # two groups: Q_between = (est1 - est2)² / (se1² + se2²)
    assert s.Q_between == pytest.approx(qb) == pytest.approx(
        (est[0] - est[1]) ** 2 / (1 / w[0] + 1 / w[1]))
    assert s.df == 1 and s.p_between == pytest.approx(stats.chi2.sf(qb, 1))
    assert s.overall.k == len(df) and list(s.summary_frame().index) == ["early", "late"]


def test_subgroup_of_one_study_keeps_its_own_estimate():
    s = subgroups([0.1, 0.3, 0.5], [0.1, 0.1, 0.2], ["a", "a", "b"], method="REML")
    assert s.results["b"].estimate == 0.5 and s.results["b"].se == pytest.approx(np.sqrt(0.2))


def test_cumulative_last_row_is_the_full_fit_and_first_is_one_study():
    df = bcg()
    c = cumulative(df.yi, df.vi, method="REML", labels=df.study)
    assert c["k"].tolist() == list(range(1, len(df) + 1))
    assert c["estimate"].iloc[0] == df.yi[0]
    assert c["estimate"].iloc[-1] == pytest.approx(rma(df.yi, df.vi).estimate, rel=1e-12)
    order = -np.arange(len(df))  # reverse order
    cr = cumulative(df.yi, df.vi, labels=df.study, order=order)
    assert cr.index[0] == df.study.iloc[-1]


def test_summary_frame_and_to_dict():
    df = bcg()
    r = rma(df.yi, df.vi, labels=df.study)
    f = r.summary_frame()
    assert list(f.index[:-1]) == list(df.study) and f["weight"].iloc[:-1].sum() == pytest.approx(100)
    assert f.loc["REML model (z)", "estimate"] == r.estimate
    d = rma(df.yi, df.vi, method="EE").to_dict()
    assert d["pi_low"] is None and len(d["weights"]) == len(df) and d["k"] == 13


@pytest.mark.parametrize("yi,vi,field", [([0.1, np.nan], [0.1, 0.1], "yi"), ([0.1, 0.2], [0.1, -0.1], "vi"),
                                         ([0.1, 0.2], [0.1, np.inf], "vi")])
def test_rma_rejects_bad_values_naming_row_and_field(yi, vi, field):
    with pytest.raises(DataError) as exc:
        rma(yi, vi)
    assert exc.value.field == field and exc.value.row == 2


def test_rma_needs_two_studies_for_random_effects():
    with pytest.raises(DataError, match="at least 2 studies"):
        rma([0.1], [0.1], method="DL")
