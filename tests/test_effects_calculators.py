"""Each conversion against numbers worked by hand (arithmetic in the comments)
and against metafor's escalc on the shared validation datasets."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from evidence import effects as fx
from evidence.errors import DataError
from evidence.paths import SHARED

VALIDATION = SHARED / "validation"


def test_hedges_j_exact_gamma_form():
    # J(10) = Gamma(5) / (sqrt(5) Gamma(4.5)); Gamma(5) = 24,
    # Gamma(4.5) = 3.5*2.5*1.5*0.5*sqrt(pi) = 11.6317283966 -> 24 / 26.0093776 = 0.9227456
    assert fx.hedges_j(10) == pytest.approx(0.9227456, abs=1e-7)
    # Hedges' approximation 1 - 3/(4 df - 1) is close but not equal: 0.9230769 at df = 10
    assert abs(fx.hedges_j(10) - (1 - 3 / 39)) > 1e-4


def test_smd_metafor_by_hand():
    # m 10 vs 8, SD 2 and 2, n 5 and 5: pooled SD 2, d = 1; J(8) = 6 / (2 Gamma(3.5))
    # = 6 / (2 * 3.32335097) = 0.9027033; vi = 1/5 + 1/5 + g^2/(2*10) = 0.4 + 0.0407437
    g, v = fx.smd(10, 2, 5, 8, 2, 5)
    assert g == pytest.approx(0.9027033, abs=1e-7)
    assert v == pytest.approx(0.4407437, abs=1e-7)


def test_smd_revman_by_hand():
    # same data, RevMan 5: g = 1 * (1 - 3/(4*10 - 9)) = 28/31 = 0.9032258
    # var = 10/(5*5) + g^2 / (2 (10 - 3.94)) = 0.4 + 0.8158169/12.12 = 0.4673116
    g, v = fx.smd_revman(10, 2, 5, 8, 2, 5)
    assert g == pytest.approx(28 / 31, abs=1e-12)
    assert v == pytest.approx(0.4 + (28 / 31) ** 2 / 12.12, abs=1e-12)
    assert v == pytest.approx(0.4673116, abs=1e-7)


def test_md_by_hand():
    # 10 - 8 = 2; vi = 2^2/5 + 4^2/8 = 0.8 + 2 = 2.8
    assert fx.md(10, 2, 5, 8, 4, 8) == pytest.approx((2, 2.8))


def test_sd_from_se_and_ci():
    assert fx.sd_from_se(1.5, 16) == pytest.approx(6.0)  # 1.5 * sqrt(16)
    # Cochrane Handbook 6.5.2.2 example: n = 25 uses t(24) = 2.0639, divisor 4.128;
    # CI 10 to 14 -> SD = sqrt(25) * 4 / 4.1278 = 4.8452
    sd, how = fx.sd_from_ci(10, 14, 25)
    assert how == "t(24)"
    assert sd == pytest.approx(4.8452, abs=1e-4)
    # large sample (n = 100 >= 60): normal, divisor 3.919928; 10 * 4 / 3.919928 = 10.20427
    sd, how = fx.sd_from_ci(10, 14, 100)
    assert how == "normal"
    assert sd == pytest.approx(10.20427, abs=1e-5)


def test_se_from_ci_of_a_difference():
    # 30 per group: t on 30 + 30 - 2 = 58 df, t(0.975, 58) = 2.00172 -> SE = 4 / 4.00343 = 0.99914
    se, how = fx.se_from_ci(-1, 3, n=30, df=58)
    assert how == "t(58)"
    assert se == pytest.approx(0.99914, abs=1e-5)
    # n unknown, or a pooled estimate: normal, so a CI of +-0.392 gives SE 0.2 (0.784 / 3.92)
    se, how = fx.se_from_ci(-0.892, -0.108)
    assert how == "normal" and se == pytest.approx(0.2, abs=1e-4)


def test_smd_from_t_f_and_p():
    # t = 2.5, n 20 and 20: d = 2.5 sqrt(1/20 + 1/20) = 0.7905694; J(38) ~ 1 - 3/151 = 0.980132
    # (Hedges' approximation, 2e-5 above the exact J here) -> g = 0.774863
    g, v = fx.smd_from_t(2.5, 20, 20)
    assert g == pytest.approx(0.774863, abs=5e-5)
    assert g == pytest.approx(0.7905694 * math.exp(math.lgamma(19) - math.log(math.sqrt(19))
                                                   - math.lgamma(18.5)), rel=1e-7)
    assert v == pytest.approx(0.1 + g**2 / 80, abs=1e-12)
    assert fx.t_from_f(6.25) == 2.5
    # Handbook 6.5.2.3: two-sided p = 0.05 on 24 df is t = 2.0639; normal limit 1.96
    assert fx.t_from_p(0.05, 24) == pytest.approx(2.0639, abs=1e-4)
    assert fx.t_from_p(0.025, 1e9, sided=1) == pytest.approx(1.959964, abs=1e-6)
    with pytest.raises(ValueError):
        fx.t_from_p(0.05, 24, sided=3)


def test_log_or_and_rr_by_hand():
    # a=4, b=6, c=2, d=8: OR = 32/12, log = 0.9808293; vi = 1/4 + 1/6 + 1/2 + 1/8 = 1.0416667
    y, v = fx.log_or(4, 6, 2, 8)
    assert (y, v) == pytest.approx((math.log(32 / 12), 1.0416667), abs=1e-7)
    # RR = (4/10)/(2/10) = 2; vi = 1/4 - 1/10 + 1/2 - 1/10 = 0.55
    assert fx.log_rr(4, 6, 2, 8) == pytest.approx((math.log(2), 0.55))


def test_zero_cell_correction_only_where_a_cell_is_zero():
    # 0/10 vs 5/10: cells 0,10,5,5 -> 0.5,10.5,5.5,5.5; OR = 0.5*5.5/(10.5*5.5) = 1/21
    # vi = 2 + 1/10.5 + 2/5.5 = 2.4588745
    y, v = fx.log_or(0, 10, 5, 5)
    assert y == pytest.approx(math.log(1 / 21))
    assert v == pytest.approx(2.4588745, abs=1e-7)
    assert fx.with_zero_correction(1, 2, 3, 4) == ((1, 2, 3, 4), False)
    # RR with the zero corrected: (0.5/11)/(5.5/11) = 1/11
    assert fx.log_rr(0, 10, 5, 5)[0] == pytest.approx(math.log(1 / 11))


def test_combine_arms_equals_pooling_the_raw_data():
    # 10 at mean 5 SD 1 and 10 at mean 7 SD 1: within SS = 9 + 9 = 18, between SS =
    # 10*(5-6)^2 + 10*(7-6)^2 = 20; total 38 / 19 = 2 -> SD sqrt(2), mean 6, n 20
    n, m, sd = fx.combine_arms(10, 5, 1, 10, 7, 1)
    assert (n, m, sd) == pytest.approx((20, 6, math.sqrt(2)))
    rng = np.random.default_rng(1)
    a, b = rng.normal(3, 2, 7), rng.normal(5, 1, 12)
    n, m, sd = fx.combine_arms(7, a.mean(), a.std(ddof=1), 12, b.mean(), b.std(ddof=1))
    both = np.concatenate([a, b])
    assert (m, sd) == pytest.approx((both.mean(), both.std(ddof=1)))


def test_split_shared_n_and_within_group_change():
    assert fx.split_shared_n(20) == 10
    assert fx.split_shared_n(21, 3) == 7
    assert fx.within_group_change(-2, 0.5) == (-2, 0.25)


def test_escalc_columns_and_alternatives():
    d = pd.DataFrame({"ai": [4, 0], "bi": [6, 10], "ci": [2, 5], "di": [8, 5]})
    full = fx.escalc("OR", d)
    totals = fx.escalc("logOR", pd.DataFrame({"ai": [4, 0], "n1i": [10, 10],
                                               "ci": [2, 5], "n2i": [10, 10]}))
    np.testing.assert_allclose(full[["yi", "vi"]], totals[["yi", "vi"]], rtol=1e-14)
    assert list(full.columns) == ["ai", "bi", "ci", "di", "yi", "vi"]
    assert full.yi[1] == pytest.approx(math.log(1 / 21))


def test_escalc_errors_name_row_and_field():
    with pytest.raises(DataError, match="unknown measure"):
        fx.escalc("ROM", pd.DataFrame({"m1i": [1]}))
    with pytest.raises(DataError, match="missing sd2i"):
        fx.escalc("SMD", pd.DataFrame({c: [1] for c in ("m1i", "sd1i", "n1i", "m2i", "n2i")}))
    bad = pd.DataFrame({"m1i": [1, 1], "sd1i": [1, -1], "n1i": [5, 5],
                        "m2i": [0, 0], "sd2i": [1, 1], "n2i": [5, 5]})
    with pytest.raises(DataError) as exc:
        fx.escalc("MD", bad)
    assert (exc.value.row, exc.value.field) == (3, "sd1i")
    as_text = bad.astype(str).astype(object)
    as_text.loc[1, "sd1i"], as_text.loc[0, "n2i"] = "1", None
    with pytest.raises(DataError, match="missing value") as exc:
        fx.escalc("SMD", as_text)
    assert (exc.value.row, exc.value.field) == (2, "n2i")
    with pytest.raises(DataError, match="events exceed"):
        fx.escalc("RR", pd.DataFrame({"ai": [11], "n1i": [10], "ci": [1], "n2i": [10]}))


CASES = [("normand1999_smd", "SMD"), ("normand1999_smd_k3", "SMD"), ("normand1999_md", "MD"),
         ("bcg_logor", "OR"), ("bcg_logrr", "RR")]


@pytest.mark.shared
@pytest.mark.parametrize(("name", "measure"), CASES)
def test_escalc_matches_metafor(name, measure):
    """metafor 3.8.1 escalc yi, vi (shared/validation, make_reference.R) to 1e-10."""
    path = VALIDATION / f"{name}_input.csv"
    if not path.exists():
        pytest.skip(f"{path} absent")
    ref = pd.read_csv(path)
    got = fx.escalc(measure, ref.drop(columns=["yi", "vi"]))
    np.testing.assert_allclose(got.yi, ref.yi, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(got.vi, ref.vi, rtol=1e-10, atol=1e-10)


@pytest.mark.shared
def test_revman_differs_from_metafor_on_normand():
    """The two SMD variants differ visibly (why both exist), yet agree in sign and roughly in size."""
    path = VALIDATION / "normand1999_smd_input.csv"
    if not path.exists():
        pytest.skip(f"{path} absent")
    ref = pd.read_csv(path).drop(columns=["yi", "vi"])
    a, b = fx.escalc("SMD", ref), fx.escalc("SMD_RevMan", ref)
    assert np.all(np.sign(a.yi) == np.sign(b.yi))
    np.testing.assert_allclose(a.yi, b.yi, rtol=1e-2)
    assert np.max(np.abs(a.vi - b.vi)) > 1e-4
