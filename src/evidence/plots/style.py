"""One house style for every figure: journal column widths, DejaVu Sans, fixed bytes.

Widths follow common journal columns (single ~89 mm, double ~183 mm). The
font is DejaVu Sans as shipped with matplotlib, so a figure renders the same
on every machine; SVG ids are salted with a fixed string so reruns give the
same bytes.
"""

from __future__ import annotations

import matplotlib as mpl

WIDTHS = {"single": 3.5, "double": 7.2}  # inches: 89 mm and 183 mm
FONT_SIZES = {"single": 6.0, "double": 7.5}  # points: journals ask for 6 pt or more
MIN_PT = 6.0  # no text smaller, footnotes and tick labels included
INK = "#1a1a1a"
GREY = "#6b6b6b"
BAND = "#dcdcdc"
ACCENT = "#1f4e79"  # pooled diamonds


def check_width(width: str) -> str:
    """Return the width name or fail with the allowed names."""
    if width not in WIDTHS:
        from evidence.errors import EvidenceError

        raise EvidenceError(f"width must be one of {sorted(WIDTHS)}, not {width!r}")
    return width


def rc_params(width: str = "single") -> dict:
    """The rcParams of the house style for a column width."""
    fs = FONT_SIZES[check_width(width)]
    return {
        "font.family": "sans-serif",
        "font.sans-serif": ["DejaVu Sans"],
        "font.size": fs,
        "axes.titlesize": fs,
        "axes.labelsize": fs,
        "xtick.labelsize": fs,
        "ytick.labelsize": fs,
        "legend.fontsize": max(fs - 0.5, MIN_PT),
        "axes.linewidth": 0.6,
        "lines.linewidth": 0.8,
        "xtick.major.width": 0.6,
        "xtick.major.size": 2.5,
        "xtick.major.pad": 1.5,
        "text.color": INK,
        "axes.edgecolor": INK,
        "xtick.color": INK,
        "mathtext.default": "regular",
        "svg.hashsalt": "evidence-figures",
        "svg.fonttype": "none",  # text as text: small files; DejaVu Sans named
        "pdf.fonttype": 42,
        "figure.dpi": 100,
        "savefig.dpi": 300,
        "path.simplify": False,
        # hinting snaps glyphs to the pixel grid, so text widths would change with dpi and
        # a layout measured once could overflow at another resolution
        "text.hinting": "no_hinting",
    }


def house_style(width: str = "single"):
    """Context manager applying the house style: ``with house_style("double"): ...``."""
    return mpl.rc_context(rc_params(width))
