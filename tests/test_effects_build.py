"""effects.csv from the handmade fixture sheets: one row per outcomes row, signs,
formulas, determinism, and the ``evidence extract`` command."""

from __future__ import annotations

import csv
import math
import shutil
from pathlib import Path

import pytest

from evidence import effects as fx
from evidence.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "extraction"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("derived") / "effects.csv"
    fx.build_effects(FIXTURES, out)
    with open(out, newline="") as fh:
        rows = {r["row_id"]: r for r in csv.DictReader(fh)}
    return out, rows


def num(row, name):
    return float(row[name])


def test_one_effect_per_outcomes_row_sorted_with_contract_columns(built):
    out, rows = built
    with open(FIXTURES / "outcomes.csv", newline="") as fh:
        ids = [r["row_id"] for r in csv.DictReader(fh)]
    assert sorted(rows) == sorted(ids)
    with open(out, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        order = [(r[1], r[0]) for r in reader]
    assert tuple(header) == fx.COLUMNS and header[:26][-1] == "label"
    assert order == sorted(order)
    assert all(r["favours_int_positive"] == "True" for r in rows.values())


def test_post_means_flipped_for_a_higher_worse_scale(built):
    r = built[1]["alpha-post"]
    # means 8 vs 10, SDs 2: raw g = -0.9027033 (see test_smd_metafor_by_hand); HARS higher = worse
    assert r["measure"] == "SMD" and r["estimable"] == "True"
    assert num(r, "yi") == pytest.approx(0.9027033, abs=1e-7)
    assert num(r, "vi") == pytest.approx(0.4407437, abs=1e-7)
    assert num(r, "se") == pytest.approx(math.sqrt(0.4407437), abs=1e-7)
    assert num(r, "ci_low") == pytest.approx(0.9027033 - 1.959964 * math.sqrt(0.4407437), abs=1e-6)
    assert "sign flipped (higher_worse)" in r["derived"] and "from post means" in r["derived"]
    assert r["label"] == "Alpha 2001" and r["condition"] == "anxiety" and r["pmid"] == "1"


def test_change_scores_with_sem(built):
    r = built[1]["alpha-change-se"]
    # SD = 1.5 sqrt(16) = 6 in both arms; d = (-6 - -2)/6 = -0.6667; J(30) = 0.97475 -> flip +0.64984
    assert num(r, "yi") == pytest.approx(0.6498, abs=1e-4)
    assert "SD massage = SE*sqrt(n)" in r["derived"]


def test_t_f_and_p_rows(built):
    rows = built[1]
    # t = 2.5, n 20/20, massage minus control on a higher_better scale: g = 0.77485 (kept)
    assert num(rows["alpha-t"], "yi") == pytest.approx(0.77485, abs=1e-5)
    # F = 6.25 is t = 2.5; direction from means 12 > 10 on a higher_better scale
    assert rows["alpha-f"]["yi"] == rows["alpha-t"]["yi"]
    # p = 0.05 two-sided, n 13/13: t(24) = 2.0639, d = 2.0639 sqrt(2/13) = 0.80952,
    # J(24) ~ 1 - 3/95 -> g ~ 0.7840; massage mean lower on a higher_worse scale -> positive
    assert num(rows["alpha-p"], "yi") == pytest.approx(0.7840, abs=2e-4)
    nodir = rows["alpha-p-nodir"]
    assert nodir["estimable"] == "False" and nodir["yi"] == ""
    assert "direction" in nodir["not_estimable_reason"]


def test_reported_differences_and_pooled_estimates(built):
    rows = built[1]
    md = rows["alpha-md-ci"]  # diff 1 as control minus massage, CI -1..3, n 30/30, higher_better
    assert md["measure"] == "MD" and num(md, "yi") == -1.0
    # SE = 4 / (2 t(0.975, 58)) = 4 / 4.00343 = 0.99914
    assert num(md, "se") == pytest.approx(0.99914, abs=1e-5)
    assert num(rows["alpha-md-se"], "yi") == 3.0 and num(rows["alpha-md-se"], "vi") == pytest.approx(1.44)
    pooled = rows["gamma-pain"]  # -0.5 [-0.892, -0.108] massage minus control, pain higher_worse
    assert (pooled["measure"], num(pooled, "yi")) == ("SMD", 0.5)
    assert num(pooled, "se") == pytest.approx(0.2, abs=1e-4)  # 0.784 / 3.92
    assert (pooled["k_studies"], pooled["i2"]) == ("5", "40")
    assert num(rows["gamma-qol-md"], "yi") == 4.0
    assert num(rows["delta-smd"], "yi") == 0.3  # 0.3 as control minus massage, then flipped


def test_counts_uncontrolled_and_not_reported(built):
    rows = built[1]
    # 4/10 vs 2/10 adverse events: log OR = log(32/12) = 0.98083, events are bad -> negative
    assert rows["alpha-counts"]["measure"] == "logOR"
    assert num(rows["alpha-counts"], "yi") == pytest.approx(-0.9808293, abs=1e-7)
    # single arm: change -2 [-4, 0], n 25 -> SE = 4/(2*2.0639) = 0.96904, VAS pain -> +2
    beta = rows["beta-change"]
    assert (beta["measure"], num(beta, "yi"), beta["comparator_type"]) == ("MD", 2.0, "none")
    assert num(beta, "se") == pytest.approx(0.96904, abs=1e-5)
    assert "within-group change" in beta["derived"]
    nr = rows["alpha-nr"]
    assert nr["estimable"] == "False" and "unchanged" in nr["not_estimable_reason"]


def test_shared_control_is_split(built):
    rows = built[1]
    a, b = rows["delta-a"], rows["delta-b"]
    assert a["n_ctl"] == b["n_ctl"] == "10" and a["n_int"] == "20"
    assert "control arm shared by 2 comparisons" in a["derived"]
    # d = (-3 - -1)/2 = -1 with n 20 and 10: J(28) ~ 1 - 3/111 = 0.97297 -> flipped +0.9730
    assert num(a, "yi") == pytest.approx(0.9730, abs=1e-4)
    assert num(a, "vi") == pytest.approx(1 / 20 + 1 / 10 + num(a, "yi") ** 2 / 60, rel=1e-12)


def test_keep_shared_and_revman_options(tmp_path):
    rows = {r["row_id"]: r for r in fx.build_effects(FIXTURES, tmp_path / "e.csv",
                                                       smd_measure="SMD_RevMan",
                                                       split_shared=False)}
    assert rows["delta-a"]["n_ctl"] == 20
    assert rows["alpha-post"]["yi"] == pytest.approx(28 / 31)  # RevMan: 1 - 3/(4*10 - 9)


def test_deterministic_and_read_only(tmp_path):
    src = tmp_path / "extraction"
    shutil.copytree(FIXTURES, src)
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    fx.build_effects(src, tmp_path / "a.csv")
    fx.build_effects(src, tmp_path / "b.csv")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before


def _sheet_with(tmp_path, row_id, **values):
    src = tmp_path / "extraction"
    shutil.copytree(FIXTURES, src)
    with open(src / "outcomes.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        fields, rows = reader.fieldnames, list(reader)
    for r in rows:
        if r["row_id"] == row_id:
            r.update(values)
    with open(src / "outcomes.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fields, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return src


def test_blank_n_baseline_and_pooled_without_comparator_type(tmp_path):
    src = _sheet_with(tmp_path, "alpha-post", n_int="", n_ctl="")
    rows = {r["row_id"]: r for r in fx.build_effects(src, tmp_path / "e.csv")}
    assert not rows["alpha-post"]["estimable"]
    assert "n per arm" in rows["alpha-post"]["not_estimable_reason"]
    src = _sheet_with(tmp_path / "b", "alpha-post", timepoint="baseline")
    rows = {r["row_id"]: r for r in fx.build_effects(src, tmp_path / "e.csv")}
    assert "baseline" in rows["alpha-post"]["not_estimable_reason"]
    src = _sheet_with(tmp_path / "c", "gamma-pain", comparator_type="")
    rows = {r["row_id"]: r for r in fx.build_effects(src, tmp_path / "e.csv")}
    assert rows["gamma-pain"]["estimable"]


def test_diff_that_contradicts_the_means_is_an_error(tmp_path):
    src = _sheet_with(tmp_path, "alpha-post", diff="2", diff_direction="int_minus_ctl")
    with pytest.raises(fx.SheetErrors) as exc:
        fx.build_effects(src, tmp_path / "e.csv")
    assert [(e.row, e.field) for e in exc.value.errors] == [(2, "diff")]


def test_cli_extract(tmp_path, capsys):
    out = tmp_path / "effects.csv"
    assert main(["extract", "--extraction", str(FIXTURES), "--out", str(out)]) == 0
    assert "16 rows, 14 estimable" in capsys.readouterr().err
    bad = _sheet_with(tmp_path, "alpha-post", sd_int="-2")
    assert main(["extract", "--extraction", str(bad), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "outcomes.csv, row 2, field 'sd_int'" in err


def test_estimate_without_ci_is_kept_not_estimable(tmp_path):
    src = _sheet_with(tmp_path, "gamma-pain", estimate_ci_low="", estimate_ci_high="")
    rows = {r["row_id"]: r for r in fx.build_effects(src, tmp_path / "e.csv")}
    r = rows["gamma-pain"]
    assert not r["estimable"] and r["yi"] is None
    assert "-0.5 reported without a CI" in r["not_estimable_reason"] and "+0.5" in r["not_estimable_reason"]


def test_symptom_on_higher_better_scale_warns(tmp_path, capsys):
    src = _sheet_with(tmp_path, "gamma-pain", scale_direction="higher_better")
    assert main(["extract", "--extraction", str(src), "--out", str(tmp_path / "e.csv")]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "row 13, field 'scale_direction'" in err
    assert not fx.warnings_for(fx.load_sheets(FIXTURES)[1])


def test_change_scores_without_n_give_an_md(tmp_path):
    # Fixture alpha-change-se: HARS change -6 (SE 1.5) with massage, -2 (SE 1.5) with control,
    # higher_worse. Without n no SD (so no SMD) exists, but the MD of the changes does:
    # massage minus control = -4, flipped to +4 (favours massage); SE = sqrt(1.5^2 + 1.5^2).
    src = _sheet_with(tmp_path, "alpha-change-se", n_int="", n_ctl="")
    rows = {r["row_id"]: r for r in fx.build_effects(src, tmp_path / "e.csv")}
    row = rows["alpha-change-se"]
    assert row["estimable"] and row["measure"] == "MD"
    assert row["yi"] == pytest.approx(4.0, abs=1e-12)
    assert row["vi"] == pytest.approx(1.5**2 + 1.5**2, abs=1e-12)
    assert "n per arm not reported" in row["derived"]


def test_difference_without_a_stated_direction_is_kept_not_estimable(tmp_path):
    # A between-group difference whose source does not say which arm it favours
    # cannot be signed; the row stays, with the value in the reason.
    src = _sheet_with(tmp_path, "alpha-md-se", diff_direction="")
    rows = {r["row_id"]: r for r in fx.build_effects(src, tmp_path / "e.csv")}
    row = rows["alpha-md-se"]
    assert not row["estimable"]
    assert "diff_direction blank" in row["not_estimable_reason"]


def test_reported_ci_is_kept_as_printed(tmp_path):
    # gamma-pain, made asymmetric as a rounded printed CI is: pooled SMD -0.5
    # (-0.9 to -0.2), massage minus control on a higher_worse scale. Signed to
    # favour massage: 0.5 (0.2 to 0.9) -- the printed bounds, not 0.5 +/- 1.96 SE.
    src = _sheet_with(tmp_path, "gamma-pain", estimate_ci_low="-0.9", estimate_ci_high="-0.2")
    row = {r["row_id"]: r for r in fx.build_effects(src, tmp_path / "e.csv")}["gamma-pain"]
    assert row["yi"] == pytest.approx(0.5, abs=1e-12)
    assert (row["ci_low"], row["ci_high"]) == (pytest.approx(0.2), pytest.approx(0.9))
    assert row["se"] == pytest.approx(0.7 / (2 * 1.959963984540054), rel=1e-9)
    assert "95% CI as reported" in row["derived"]


def test_computed_cis_say_they_are_computed(built):
    """A CI the source gives is kept as printed; one the step computes (yi +- 1.959964 SE, from a
    reported SE) is flagged in ci_computed and said in derived."""
    rows = built[1]
    given, computed = rows["gamma-pain"], rows["alpha-md-se"]
    assert given["ci_computed"] == "False" and "computed" not in given["derived"]
    assert computed["ci_computed"] == "True"
    assert "95% CI computed as yi +- 1.959964 SE" in computed["derived"]
    assert num(computed, "ci_low") == pytest.approx(3.0 - 1.959963984540054 * 1.2, abs=1e-12)
    assert rows["alpha-nr"]["ci_computed"] == ""  # no effect, no CI
    assert "(2*1.959964)" in given["derived"]


def test_rows_without_an_effect_keep_what_they_report_for_the_figures():
    """A sign-unknown difference keeps its value and CI as printed (figures draw it mirrored);
    an estimate without CI keeps its value signed to favour the intervention; others nothing."""
    from evidence.effects.build import reported
    from evidence.effects.calculators import Z95  # qnorm(0.975), as the effects step uses

    base = {"data_type": "mean_diff_ci", "diff": 0.07, "diff_ci_low": -0.23, "diff_ci_high": 0.37,
            "diff_se": None, "estimate": None, "estimate_ci_low": None, "estimate_ci_high": None,
            "diff_direction": "", "scale_direction": "higher_worse"}
    assert reported(base, "effect_sign_unknown") == (0.07, -0.23, 0.37)
    se_only = dict(base, diff_ci_low=None, diff_ci_high=None, diff_se=0.1)
    v, lo, hi = reported(se_only, "effect_sign_unknown")
    assert v == 0.07 and abs(lo - (0.07 - Z95 * 0.1)) < 1e-12 and abs(hi - (0.07 + Z95 * 0.1)) < 1e-12
    pooled = dict(base, data_type="pooled_smd_ci", diff=None, diff_ci_low=None, diff_ci_high=None,
                  estimate=-0.55, diff_direction="int_minus_ctl")
    assert reported(pooled, "estimate_only") == (0.55, None, None)  # lower is better: flipped
    assert reported(dict(pooled, scale_direction="higher_better"), "estimate_only") == (-0.55, None, None)
    assert reported(base, "effect") == (None, None, None)
    assert reported(base, "p_only") == (None, None, None)
