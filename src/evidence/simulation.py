"""Small-k coverage simulation: DerSimonian-Laird with z intervals vs Hartung-Knapp-Sidik-Jonkman (DL and REML).

Why: most meta-analyses of such interventions pool 2 to 5 small trials. This asks how
often a nominal 95% interval for the pooled effect covers the true effect
(and so how often a "significant" result appears when the true effect is 0).

Model: true pooled effect 0; study i of a meta-analysis has a total sample
size N_i drawn uniformly from 20..100 (small trials), within-study variance
v_i = 4 / N_i (the large-sample variance of an SMD near 0 with equal arms),
and observed effect y_i ~ Normal(0, v_i + tau²). Every cell (k, tau²) has its
own seed derived from the base seed, so results are deterministic and a cell
does not change when the grid does. Fits use ``evidence.meta.batch``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evidence.meta import batch

KS = tuple(range(2, 11))
TAU2S = (0.0, 0.02, 0.05, 0.1, 0.2, 0.5)  # typical v_i is 0.04-0.2: from none to large heterogeneity
# DL + z: what RevMan and many reviews report; REML + HKSJ: what this project's analyses use
METHODS = {"DL + z": ("DL", "z"), "DL + HKSJ": ("DL", "knha"), "REML + HKSJ": ("REML", "knha")}


def simulate_cell(k: int, tau2: float, reps: int = 10_000, seed: int = 2024):
    """Draw ``reps`` meta-analyses of ``k`` studies; returns (yi, vi) arrays of shape (reps, k)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, k, round(tau2 * 1e6)]))
    n = rng.integers(20, 101, size=(reps, k))
    vi = 4.0 / n
    yi = rng.normal(0.0, np.sqrt(vi + tau2))
    return yi, vi


def coverage_table(ks=KS, tau2s=TAU2S, reps: int = 10_000, seed: int = 2024, level: float = 0.95):
    """Long table: one row per (k, tau², method) with coverage and median interval width."""
    rows = []
    for tau2 in tau2s:
        for k in ks:
            yi, vi = simulate_cell(k, tau2, reps, seed)
            for label, (method, test) in METHODS.items():
                out = batch(yi, vi, method=method, test=test, level=level)
                covered = (out["ci_low"] <= 0) & (out["ci_high"] >= 0)
                rows.append({"k": k, "tau2": tau2, "method": label, "coverage": covered.mean(),
                             "false_positive": 1 - covered.mean(),
                             "median_width": float(np.median(out["ci_high"] - out["ci_low"]))})
    return pd.DataFrame(rows)


def coverage_wide(table: pd.DataFrame, method: str) -> pd.DataFrame:
    """Coverage of one method as a k x tau² grid (rounded to 3 decimals for display)."""
    t = table[table["method"] == method].pivot(index="k", columns="tau2", values="coverage")
    t.columns = [f"tau²={c:g}" for c in t.columns]
    return t.round(3)


def plot_coverage(table: pd.DataFrame, level: float = 0.95, reps: int | None = None):
    """Coverage against k, one panel per method, one line per tau²; returns the Figure."""
    import matplotlib.pyplot as plt

    methods = list(dict.fromkeys(table["method"]))
    fig, axes = plt.subplots(1, len(methods), figsize=(5 * len(methods), 4), sharey=True)
    axes = np.atleast_1d(axes)
    tau2s = sorted(table["tau2"].unique())
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(tau2s)))
    for ax, method in zip(axes, methods, strict=True):
        sub = table[table["method"] == method]
        for tau2, colour in zip(tau2s, colours, strict=True):
            s = sub[sub["tau2"] == tau2].sort_values("k")
            ax.plot(s["k"], s["coverage"], marker="o", color=colour, label=f"τ² = {tau2:g}")
        ax.axhline(level, color="black", linestyle="--", linewidth=1)
        ax.set_title(method)
        ax.set_xlabel("number of studies k")
        ax.set_xticks(sorted(sub["k"].unique()))
    axes[0].set_ylabel(f"coverage of nominal {level:.0%} interval")
    axes[0].set_ylim(min(0.5, float(table["coverage"].min()) - 0.02), 1.0)
    axes[-1].legend(title="between-study variance", loc="lower right")
    note = f"{reps:,} simulated meta-analyses per point" if reps else ""
    fig.suptitle(f"Does the 95% interval cover the true effect? {note}".strip())
    fig.tight_layout()
    return fig
