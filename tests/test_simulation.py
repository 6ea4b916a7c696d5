"""The small-k coverage simulation: deterministic, and it shows the known HKSJ vs DL + z behaviour."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from evidence.simulation import coverage_table, coverage_wide, plot_coverage, simulate_cell  # noqa: E402


def test_cells_are_seeded_and_independent_of_the_grid():
    a = simulate_cell(3, 0.1, reps=50, seed=7)
    b = simulate_cell(3, 0.1, reps=50, seed=7)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], simulate_cell(3, 0.1, reps=50, seed=8)[0])
    small = coverage_table(ks=(3,), tau2s=(0.1,), reps=500, seed=7)
    big = coverage_table(ks=(2, 3), tau2s=(0.0, 0.1), reps=500, seed=7)
    row = big[(big.k == 3) & (big.tau2 == 0.1)].reset_index(drop=True)
    assert small.equals(row)


def test_dl_z_undercovers_with_two_heterogeneous_trials_and_hksj_does_not():
    t = coverage_table(ks=(2,), tau2s=(0.5,), reps=4000, seed=11)
    z = t[t.method == "DL + z"].coverage.item()
    hk = t[t.method == "DL + HKSJ"].coverage.item()
    # Monte Carlo se at 4000 replicates is about 0.0035
    assert z < 0.85 and abs(hk - 0.95) < 0.015
    assert coverage_wide(t, "DL + HKSJ").shape == (1, 1)


def test_plot_has_one_panel_per_method():
    t = coverage_table(ks=(2, 3), tau2s=(0.0, 0.2), reps=200, seed=1)
    fig = plot_coverage(t, reps=200)
    assert [ax.get_title() for ax in fig.axes] == ["DL + z", "DL + HKSJ", "REML + HKSJ"]
    assert len(fig.axes[0].lines) == 3  # two tau² lines and the nominal level
