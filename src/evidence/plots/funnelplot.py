"""Contour-enhanced funnel plot with Egger's line and trim-and-fill's imputed studies."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from scipy import stats

from evidence import case
from evidence.errors import EvidenceError
from evidence.plots.forestplot import fmt_p
from evidence.plots.style import ACCENT, FONT_SIZES, INK, MIN_PT, WIDTHS, check_width

CONTOURS = ((0.10, "#f2f2f2"), (0.05, "#d9d9d9"), (0.01, "#bdbdbd"))  # p between bands


def egger_line(yi, vi) -> tuple[float, float]:
    """Classical Egger regression, written as yi = b0 + b1 * sei with weights 1/vi.

    Equivalent to regressing yi/sei on 1/sei (Egger et al. 1997, BMJ 315:629):
    b1 here is that regression's intercept (the asymmetry term).
    """
    yi, sei = np.asarray(yi, float), np.sqrt(np.asarray(vi, float))
    w = 1 / sei**2
    X = np.column_stack([np.ones_like(sei), sei]) * np.sqrt(w)[:, None]
    b, *_ = np.linalg.lstsq(X, yi * np.sqrt(w), rcond=None)
    return float(b[0]), float(b[1])


def _imputed(trimfill):
    """(yi, vi) of the studies trim-and-fill added.

    Reads a TrimFillResult (``.result`` with all studies and a boolean
    ``.filled``); an object with ``yi``, ``vi`` and ``filled`` works too.
    """
    if trimfill is None:
        return np.array([]), np.array([])
    fit = getattr(trimfill, "result", trimfill)
    yi, vi = np.asarray(fit.yi, float), np.asarray(fit.vi, float)
    flag = np.asarray(trimfill.filled, bool)
    return yi[flag], vi[flag]


def _egger_coefficients(egger, yi, vi) -> tuple[float, float]:
    """(intercept, slope on sei): from an EggerResult's fields, or fitted when egger is True."""
    if hasattr(egger, "bias") and hasattr(egger, "limit_estimate"):
        return float(egger.limit_estimate), float(egger.bias)
    return egger_line(yi, vi)


def funnel(result, *, trimfill=None, egger=None, width: str = "single", title: str = "",
           xlabel: str = "SMD"):
    """Funnel plot of a result's yi against their standard errors (axis inverted).

    Shaded contours mark where a study would be significant at p < 0.10, 0.05
    and 0.01 (two-sided, around zero); the dashed triangle is the 95% region
    around the pooled estimate; Egger's line is drawn when ``egger`` is True
    or an Egger result (its ``pval`` is quoted); trim-and-fill's studies are
    open circles.
    """
    check_width(width)
    yi, vi = np.asarray(result.yi, float), np.asarray(result.vi, float)
    if yi.size < 3:
        raise EvidenceError(f"funnel: needs at least 3 studies, got {yi.size}")
    fs = FONT_SIZES[width]
    w_in = WIDTHS[width] if width == "single" else WIDTHS[width] / 2
    fig = Figure(figsize=(w_in, w_in * 0.8))
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.15, 0.13, 0.81, 0.76 if title else 0.83))
    fy, fv = _imputed(trimfill)
    se_all = np.sqrt(np.concatenate([vi, fv]))
    se_max = float(se_all.max()) * 1.1
    se = np.linspace(0, se_max, 200)
    reach = max(float(np.abs(np.concatenate([yi, fy])).max()), stats.norm.ppf(0.995) * se_max) * 1.05
    for p, colour in CONTOURS:
        z = stats.norm.ppf(1 - p / 2)
        ax.fill_betweenx(se, -reach * 2, -z * se, color=colour, lw=0, zorder=0)
        ax.fill_betweenx(se, z * se, reach * 2, color=colour, lw=0, zorder=0)
    ax.fill_betweenx(se, -stats.norm.ppf(0.95) * se, stats.norm.ppf(0.95) * se, color="white", lw=0,
                     zorder=0)
    est = float(result.estimate)
    z95 = stats.norm.ppf(0.975)
    ax.plot([est - z95 * se_max, est, est + z95 * se_max], [se_max, 0, se_max], color=INK, lw=0.6,
            ls=(0, (3, 2)), zorder=2)
    ax.axvline(est, color=INK, lw=0.7, zorder=2)
    ax.scatter(yi, np.sqrt(vi), s=14, facecolor=INK, edgecolor=INK, lw=0.6, zorder=4, label="Studies")
    if fy.size:
        ax.scatter(fy, np.sqrt(fv), s=14, facecolor="white", edgecolor=INK, lw=0.7, zorder=4,
                   label="Imputed (trim and fill)")
    if egger is not None and egger is not False:
        b0, b1 = _egger_coefficients(egger, yi, vi)
        pv = getattr(egger, "pval", None)
        lab = "Egger's line" + (f" ({fmt_p(pv)})" if isinstance(pv, float) else "")
        ax.plot(b0 + b1 * se, se, color=ACCENT, lw=0.9, zorder=3, label=lab)
    ax.set_xlim(-reach, reach)
    ax.set_ylim(se_max, 0)
    ax.set_xlabel(f"{xlabel} (positive favours {case.current().intervention})", fontsize=fs)
    ax.set_ylabel("Standard error", fontsize=fs)
    ax.tick_params(labelsize=max(fs - 0.5, MIN_PT))
    for s in ("top", "right"):
        ax.spines[s].set_visible(False)
    handles, _ = ax.get_legend_handles_labels()
    shades = [Patch(facecolor=c, label=lab) for (_p, c), lab in
              zip(CONTOURS, ("0.05 < p < 0.10", "0.01 < p < 0.05", "p < 0.01"), strict=True)]
    ax.legend(handles=handles + shades, loc="upper left", fontsize=max(fs - 1, MIN_PT), frameon=True,
              framealpha=1, edgecolor="none")
    if title:
        fig.text(0.02, 0.97, title, fontsize=fs + 0.5, fontweight="bold", va="top")
    return fig
