"""The table-and-axis engine behind forest-type figures.

A figure is a grid of text columns left and right of one or more plot panels
(each with its own x axis), laid out in points from measured text widths so
columns line up and nothing overlaps, from 1 row to many. Figures build a
list of ``Line`` objects per ``Panel``; ``render`` places them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Polygon, Rectangle
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from evidence import case
from evidence.plots.style import ACCENT, BAND, FONT_SIZES, GREY, INK, MIN_PT, WIDTHS, check_width

MARGIN = 5.0  # pt around the figure
GAP_EM = 0.8  # gap between columns, in font sizes
WHITE_BOX = {"facecolor": "white", "edgecolor": "none", "pad": 0.5}  # notes over the null line


@dataclass
class Column:
    key: str
    header: str
    align: str = "right"  # left | right | center
    side: str = "left"  # left or right of the plot panel
    max_frac: float | None = None  # wrap cells wider than this fraction of the figure width
    clear: bool = False  # a right column text rows' messages never cover (e.g. risk of bias)
    marks: tuple = ()  # labels of a row of marks (risk-of-bias domains), printed under the header


@dataclass(frozen=True)
class Mark:
    """One mark of a marks column: a disc (face, edge) with a white glyph (a matplotlib marker)."""

    face: str
    edge: str
    glyph: str = ""


MARK_PITCH = 1.3  # distance between the centres of two marks, in font sizes
MARK_SIZE = 1.05  # disc diameter, in font sizes


@dataclass
class Line:
    """One row: a study, a pooled diamond, a prediction bar, a heading or a note."""

    kind: str  # study | diamond | pi | header | text | note
    label: str = ""
    cells: dict = field(default_factory=dict)
    est: float | None = None
    lo: float | None = None
    hi: float | None = None
    size: float = 1.0  # relative marker area, 0..1
    open: bool = False  # open marker: flagged design or comparator
    message: str = ""  # text drawn across the plot area (kind "text")
    bold: bool = False
    color: str = INK
    cell_colors: dict = field(default_factory=dict)  # column key -> colour (grey "not assessed")
    cell_marks: dict = field(default_factory=dict)  # column key -> tuple of Mark (a marks column)
    sides: tuple = (1,)  # mirror / arrow / implied: (1, -1) draws the mark on both sides of the null


@dataclass
class Panel:
    lines: list
    title: str = ""
    log: bool = False
    xlim: tuple | None = None
    mid: float | None = None
    # the case's words ("Favours <intervention>"); None: no favours line (stacked panels)
    favours: tuple | None = field(default_factory=lambda: case.current().favours)
    axis_label: str = ""
    axis: bool = True  # False: a text-only section (nothing to plot), no axis drawn
    interrupt: bool = True  # text rows interrupt the null line and band (False: one continuous line)


class _Measure:
    """Text extents in points, from an Agg renderer at 720 dpi (hinting at 72 dpi rounds widths)."""

    def __init__(self, size: float):
        self.renderer = RendererAgg(10, 10, 720)
        self.size = size
        self._cache = {}

    def width(self, text: str, bold: bool = False, size: float | None = None) -> float:
        size = size or self.size
        key = (text, bold, size)
        if key not in self._cache:
            prop = FontProperties(family="DejaVu Sans", size=size, weight="bold" if bold else "normal")
            widths = [self.renderer.get_text_width_height_descent(part or " ", prop, ismath=False)[0] / 10
                      for part in text.split("\n")]
            self._cache[key] = max(widths) * 1.01  # a little slack for rendering differences
        return self._cache[key]

    def wrap(self, text: str, max_width: float, bold: bool = False, size: float | None = None) -> str:
        """Greedy word wrap to a width in points; breaks at hyphens, splits a word only as a last resort."""
        fits = lambda t: self.width(t, bold, size) <= max_width  # noqa: E731
        out = []
        for para in text.split("\n"):
            line = ""
            for word in [w for w in para.split(" ") if w]:  # no-break spaces hold
                pieces = [word] if fits(word) else re.findall(r"[^-]+-?|-", word)
                for j, piece in enumerate(pieces):
                    sep = "" if (j > 0 or not line) else " "
                    while not fits(piece) and len(piece) > 1:  # a piece too wide on its own
                        cut = len(piece) - 1
                        while cut > 1 and not fits(piece[:cut] + "-"):
                            cut -= 1
                        if line:
                            out.append(line)
                        out.append(piece[:cut] + "-")
                        line, sep, piece = "", "", piece[cut:]
                    if not line or fits(line + sep + piece):
                        line = line + sep + piece if line else piece
                    else:
                        out.append(line)
                        line = piece
            out.append(line)
        return "\n".join(out)


def _nice_up(x: float, steps=(1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10)) -> float:
    if not np.isfinite(x) or x <= 0:
        return 1.0
    p = 10 ** math.floor(math.log10(x))
    for s in steps:
        if s * p >= x * (1 - 1e-9):
            return s * p
    return 10 * p


def auto_xlim(panel: Panel) -> tuple[float, float]:
    """Symmetric limits about the null covering the intervals, clipping outliers.

    Point estimates and pooled intervals always fit; a study interval wider
    than three times that core range is clipped and drawn with an arrow.
    """
    core, wide = [], []
    for ln in panel.lines:
        vals = [v for v in (ln.est, ln.lo, ln.hi) if v is not None and np.isfinite(v)]
        if panel.log:
            vals = [math.log(v) for v in vals if v > 0]
        if ln.kind in ("diamond", "pi"):
            core += vals
        elif ln.kind in ("implied", "point"):
            core += [abs(v) for v in vals[:1]]
        elif ln.kind == "arrow":
            core += [1.6 * abs(v) for v in vals[:1]]  # room for the arrow beyond the value
        elif ln.kind == "mirror":  # a few reported intervals: show them whole
            core += [abs(v) for v in vals]
        elif ln.kind == "study":
            wide += vals
            if ln.est is not None and np.isfinite(ln.est):
                core.append(math.log(ln.est) if panel.log else ln.est)
    if panel.mid:  # the band's edges inside the axis, so a reader sees where the MID lies
        core.append(abs(panel.mid) * (1.1 if panel.log else 1.25))
    reach_core = max((abs(v) for v in core), default=0.0)
    reach_all = max((abs(v) for v in core + wide), default=1.0)
    reach = reach_all if reach_all <= 3 * max(reach_core, 1e-9) else max(1.5 * reach_core, 1e-9)
    reach = reach if reach > 1e-6 else 1.0  # nothing to cover (an axis of text rows only)
    if panel.log:
        ratio = _nice_up(math.exp(reach), steps=(1.5, 2, 3, 5, 10))
        return (1 / ratio, ratio)
    r = _nice_up(reach)
    return (-r, r)


def _ticks(lim: tuple[float, float], log: bool, narrow: bool = False) -> list[float]:
    lo, hi = lim
    if log:
        cands = [0.001, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 1000]
        ticks = [t for t in cands if lo * (1 - 1e-9) <= t <= hi * (1 + 1e-9)
                 and (math.isclose(t, lo) or math.isclose(t, hi) or (t / lo > 1.6 and hi / t > 1.6))]
        for t in (lo, hi):
            if not any(math.isclose(t, u) for u in ticks):
                ticks.append(t)
        ticks = sorted(ticks)
        while len(ticks) > (3 if narrow else 5):  # keep ends and the null, thin the rest symmetrically
            inner = [t for t in ticks if t not in (ticks[0], ticks[-1], 1)]
            far = min(inner, key=lambda t: abs(abs(math.log(t)) - abs(math.log(hi)) / 2))
            ticks = [t for t in ticks if not math.isclose(abs(math.log(t)), abs(math.log(far)))]
        return ticks
    r = max(abs(lo), abs(hi))
    return [-r, 0.0, r] if narrow else [-r, -r / 2, 0.0, r / 2, r]


def _fmt_tick(v: float) -> str:
    if v == 0:
        return "0"
    s = f"{v:.3g}"
    return s.replace("-", "\u2212")


@dataclass
class Layout:
    """Positions (points, from the figure's top-left) worked out before drawing."""

    width: float
    fs: float
    left_x: list
    right_x: list
    plot_x0: float
    plot_x1: float
    label_wrap: float
    message_width: float


def _line_height(text_lines: int, fs: float) -> float:
    return 1.6 * fs + max(text_lines - 1, 0) * 1.22 * fs


def render(panels: list[Panel], columns: list[Column], width: str = "single", title: str = "",
           footnotes: list[str] | None = None, label_header: str = "Study", label_frac: float = 0.3,
           strip: tuple | None = None) -> Figure:
    """Lay out and draw the panels and columns; returns a Figure (Agg canvas).

    ``label_frac``: the widest the label column may grow, as a fraction of the figure width
    (evidence maps, whose labels describe outcome, timepoint and comparison, take more).
    ``strip``: (height in points, draw(fig, (x0, y0, w, h) in figure fractions)), a full-width
    panel drawn under the last axis (a claim card's albatross strip).
    """
    check_width(width)
    fs = FONT_SIZES[width]
    W = WIDTHS[width] * 72.0
    m = _Measure(fs)
    gap = GAP_EM * fs * (0.75 if width == "single" else 1.0)
    left = [c for c in columns if c.side == "left"]
    right = [c for c in columns if c.side == "right"]
    all_lines = [ln for p in panels for ln in p.lines]

    for col in columns:
        if col.max_frac:
            for ln in all_lines:
                if ln.cells.get(col.key):
                    ln.cells[col.key] = m.wrap(ln.cells[col.key], col.max_frac * W)

    def col_width(col):
        cells = [ln.cells.get(col.key, "") for ln in all_lines]
        marks = [len(col.marks) * MARK_PITCH * fs] if col.marks else []
        return max([m.width(col.header, bold=True)] + marks + [m.width(c) for c in cells if c])

    left_w = [col_width(c) for c in left]
    right_w = [col_width(c) for c in right]
    fixed = sum(left_w) + sum(right_w) + gap * (len(left) + len(right) + 1) + 2 * MARGIN
    labels = [(ln.label, ln.bold or ln.kind == "header") for ln in all_lines if ln.kind != "note"]
    label_full = max([m.width(label_header, bold=True)] + [m.width(t, b) for t, b in labels])
    min_plot = 0.27 * W
    label_w = min(label_full, label_frac * W, max(W - fixed - min_plot, 0.15 * W))
    plot_w = max(W - fixed - label_w, 0.2 * W)
    if fixed + label_w + plot_w > W + 0.5:
        from evidence.errors import EvidenceError

        raise EvidenceError(f"the columns do not fit a {width} column figure ({WIDTHS[width]} in); "
                            "use width='double' or fewer columns")

    # x positions (points from left); left columns are right-aligned at their right edge
    x = MARGIN
    label_x = x
    x += label_w + gap
    left_x = []
    for c, w in zip(left, left_w, strict=True):
        left_x.append(x + (w if c.align == "right" else w / 2 if c.align == "center" else 0))
        x += w + gap
    plot_x0, plot_x1 = x, x + plot_w
    x = plot_x1 + gap
    right_x = []
    for c, w in zip(right, right_w, strict=True):
        right_x.append(x + (w if c.align == "right" else w / 2 if c.align == "center" else 0))
        x += w + gap
    message_w = W - MARGIN - plot_x0
    edges = [xc - (w if c.align == "right" else w / 2 if c.align == "center" else 0)
             for c, xc, w in zip(right, right_x, right_w, strict=True) if c.clear]
    if edges:
        message_w = min(edges) - gap - plot_x0
    note_w = W - 2 * MARGIN

    # wrap texts, then heights
    for ln in all_lines:
        if ln.kind == "note":
            ln._label = m.wrap(ln.label, note_w, size=max(fs - 0.5, MIN_PT))
            ln._msg = ""
        else:
            ln._label = m.wrap(ln.label, label_w, bold=ln.bold or ln.kind == "header")
            ln._msg = m.wrap(ln.message, message_w) if ln.message else ""
    foot = [m.wrap(f, note_w, size=max(fs - 1, MIN_PT)) for f in (footnotes or []) if f]

    header_lines = max([c.header.count("\n") + 1 + bool(c.marks) for c in columns] + [1])
    y = MARGIN
    title_txt = m.wrap(title, note_w, bold=True, size=fs + 0.5) if title else ""
    plan = []  # (kind, payload, y_top, height)
    if title_txt:
        h = _line_height(title_txt.count("\n") + 1, fs)
        plan.append(("title", title_txt, y, h))
        y += h
    h = _line_height(header_lines, fs)
    plan.append(("colheads", None, y, h))
    y += h + 0.2 * fs
    axes_plan = []
    for panel in panels:
        if panel.title:
            ptitle = m.wrap(panel.title, note_w, bold=True)
            h = _line_height(ptitle.count("\n") + 1, fs)
            plan.append(("ptitle", ptitle, y, h))
            y += h
        top = y
        rows = []
        for ln in panel.lines:
            n = max([ln._label.count("\n") + 1, ln._msg.count("\n") + 1 if ln._msg else 1]
                    + [c.count("\n") + 1 for c in ln.cells.values() if c])
            h = _line_height(n, fs) if ln.kind != "note" else 1.35 * (max(fs - 0.5, MIN_PT)) * n + 0.3 * fs
            rows.append((ln, y, h))
            y += h
        axes_plan.append((panel, top, y, rows))
        # tick marks, tick labels and the "favours" line
        y += ((4.6 if panel.favours else 3.0) + (1.4 if panel.axis_label else 0)) * fs if panel.axis \
            else 0.6 * fs
    strip_y = y
    if strip:
        y += strip[0]
    y += 0.3 * fs
    foot_y = y
    for f in foot:
        y += 1.25 * max(fs - 1, MIN_PT) * (f.count("\n") + 1) + 0.25 * fs
    H = y + MARGIN

    fig = Figure(figsize=(W / 72, H / 72))
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    pt = fig.dpi_scale_trans  # inches; convert points -> inches below

    def put(xp, yp, s, **kw):
        kw.setdefault("fontsize", fs)
        kw.setdefault("va", "center")
        return fig.text(xp / 72, (H - yp) / 72, s, transform=pt, **kw)

    for kind, payload, ytop, h in plan:
        if kind == "title":
            put(MARGIN, ytop + h / 2, payload, fontweight="bold", fontsize=fs + 0.5)
        elif kind == "ptitle":
            put(MARGIN, ytop + h / 2, payload, fontweight="bold")
        elif kind == "colheads":
            yb = ytop + h - 0.35 * fs
            put(label_x, yb, label_header, fontweight="bold", va="baseline")
            for c, xc in zip(left + right, left_x + right_x, strict=True):
                # a marks column: its header a line up, each mark's label under it
                put(xc, yb - (1.22 * fs if c.marks else 0), c.header, fontweight="bold", ha=c.align,
                    va="baseline", multialignment=c.align)
                for label, xm in zip(c.marks, _mark_xs(c, xc, fs), strict=True):
                    if label:
                        put(xm, yb, label, ha="center", va="baseline",
                            fontsize=max(fs - 0.5, MIN_PT))

    for panel, top, bottom, rows in axes_plan:
        if not panel.axis:
            for ln, ytop, h in rows:
                _draw_line(fig, None, put, ln, ytop, h, H, fs, label_x, left, left_x, right, right_x,
                           plot_x0, None, False)
            continue
        ax = fig.add_axes((plot_x0 / W, (H - bottom) / H, plot_w / W, (bottom - top) / H))
        xlim = panel.xlim or auto_xlim(panel)
        null = 1.0 if panel.log else 0.0
        if panel.log:
            ax.set_xscale("log")
        ax.set_xlim(*xlim)
        ax.set_ylim((H - bottom) / 72, (H - top) / 72)  # data y = figure inches
        for s in ("left", "right", "top"):
            ax.spines[s].set_visible(False)
        ax.patch.set_visible(False)
        ax.yaxis.set_major_locator(NullLocator())
        ax.xaxis.set_major_locator(FixedLocator(_ticks(xlim, panel.log, narrow=plot_w < 14 * fs)))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _fmt_tick(v)))
        ax.tick_params(axis="x", labelsize=max(fs - 0.5, MIN_PT))
        if panel.mid:
            lo_b, hi_b = (math.exp(-math.log(panel.mid)), panel.mid) if panel.log else (-panel.mid, panel.mid)
            ax.add_patch(Rectangle((lo_b, 0), hi_b - lo_b, 1, transform=ax.get_xaxis_transform(),
                                   facecolor=BAND, edgecolor="none", zorder=0))
        ax.axvline(null, color=INK, lw=0.6, zorder=1)
        for ln, ytop, h in rows:  # text rows interrupt the null line and the band: text sits on white
            if ln.kind == "text" and panel.interrupt:
                ax.add_patch(Rectangle((0, (H - ytop - h) / 72), 1, h / 72, transform=ax.get_yaxis_transform(),
                                       facecolor="white", edgecolor="none", zorder=2, label="_text_row"))
        for ln, ytop, h in rows:
            _draw_line(fig, ax, put, ln, ytop, h, H, fs, label_x, left, left_x, right, right_x,
                       plot_x0, xlim, panel.log)
        if panel.axis_label:
            put(plot_x0 + plot_w / 2, bottom + 2.75 * fs, panel.axis_label, ha="center")
        if not panel.favours:
            continue
        # favours labels beneath the tick labels (and the axis label), either side of the null line
        yfav = bottom + (4.9 if panel.axis_label else 3.5) * fs
        xnull = plot_x0 + plot_w * _frac(null, xlim, panel.log)
        f_lo, f_hi = f"\u2190 {panel.favours[0]}", f"{panel.favours[1]} \u2192"
        fsz = max(fs - 0.5, MIN_PT)
        x_lo = max(xnull - 0.4 * fs, MARGIN + m.width(f_lo, size=fsz))
        x_hi = min(xnull + 0.4 * fs, W - MARGIN - m.width(f_hi, size=fsz))
        put(x_lo, yfav, f_lo, ha="right", fontsize=fsz)
        put(x_hi, yfav, f_hi, ha="left", fontsize=fsz)

    if strip:
        strip[1](fig, (MARGIN / W, (H - strip_y - strip[0]) / H, (W - 2 * MARGIN) / W, strip[0] / H))
    yf = foot_y
    for f in foot:
        put(MARGIN, yf, f, fontsize=max(fs - 1, MIN_PT), va="top", color=INK)
        yf += 1.25 * max(fs - 1, MIN_PT) * (f.count("\n") + 1) + 0.25 * fs
    return fig


def _frac(v, lim, log):
    if log:
        return (math.log(v) - math.log(lim[0])) / (math.log(lim[1]) - math.log(lim[0]))
    return (v - lim[0]) / (lim[1] - lim[0])


def _mid_of(a, b, log):
    return math.sqrt(a * b) if log else (a + b) / 2


def _draw_line(fig, ax, put, ln, ytop, h, H, fs, label_x, left, left_x, right, right_x,
               plot_x0, xlim, log):
    yc = ytop + h / 2
    yd = (H - yc) / 72  # data y of the row centre
    if ln.kind == "note":
        put(label_x, yc, ln._label, fontsize=max(fs - 0.5, MIN_PT), color=INK, bbox=WHITE_BOX, zorder=6)
        return
    weight = "bold" if (ln.bold or ln.kind == "header") else "normal"
    put(label_x, yc, ln._label, fontweight=weight, color=ln.color)
    for c, xc in zip(left + right, left_x + right_x, strict=True):
        text = ln.cells.get(c.key, "")
        if text:
            put(xc, yc, text, ha=c.align, fontweight=weight if ln.kind == "diamond" else "normal",
                color=ln.cell_colors.get(c.key, INK))
        elif c.marks and ln.cell_marks.get(c.key):
            _draw_marks(fig, ln.cell_marks[c.key], _mark_xs(c, xc, fs), yd, fs)
    if ln.kind == "text" and ln._msg:
        put(plot_x0, yc, ln._msg, color=GREY, style="italic", bbox=WHITE_BOX, zorder=6)
    if ax is None or ln.lo is None or ln.hi is None or not (np.isfinite(ln.lo) and np.isfinite(ln.hi)):
        return
    if ln.kind in ("mirror", "arrow", "implied", "point"):
        _draw_special(ax, ln, yd, xlim)
        return
    lo_c, hi_c = max(ln.lo, xlim[0]), min(ln.hi, xlim[1])
    hh = h / 72  # row height in inches
    if ln.kind == "diamond":
        est = min(max(ln.est, xlim[0]), xlim[1])
        ax.add_patch(Polygon([(lo_c, yd), (est, yd + 0.28 * 1.6 * fs / 72), (hi_c, yd),
                              (est, yd - 0.28 * 1.6 * fs / 72)], closed=True,
                             facecolor=ACCENT if ln.bold else "white", edgecolor=ACCENT,
                             lw=0.8, zorder=4, clip_on=False))
    elif ln.kind == "pi":
        ax.plot([lo_c, hi_c], [yd, yd], color=ACCENT, lw=1.6, solid_capstyle="butt", zorder=3)
        for xv, clipped in ((lo_c, ln.lo < xlim[0]), (hi_c, ln.hi > xlim[1])):
            if not clipped:
                ax.plot([xv, xv], [yd - 0.15 * hh, yd + 0.15 * hh], color=ACCENT, lw=0.8, zorder=3)
    else:  # study
        ax.plot([lo_c, hi_c], [yd, yd], color=INK, lw=0.8, zorder=3, solid_capstyle="butt")
        if ln.est is not None and xlim[0] <= ln.est <= xlim[1]:
            side = 2.2 + 4.3 * math.sqrt(max(min(ln.size, 1.0), 0.0))  # marker side in points
            ax.plot([ln.est], [yd], marker="s", markersize=side,
                    markerfacecolor="white" if ln.open else INK, markeredgecolor=INK,
                    markeredgewidth=0.7, zorder=5, linestyle="none")
    for xv, clipped, mk in ((xlim[0], ln.lo < xlim[0], "<"), (xlim[1], ln.hi > xlim[1], ">")):
        if clipped:
            ax.plot([xv], [yd], marker=mk, markersize=3.2, color=INK, zorder=5, clip_on=False)


def _mark_xs(col: Column, xc: float, fs: float) -> list[float]:
    """x (points) of each mark of a marks column drawn at ``xc`` (its anchor for ``col.align``)."""
    span = len(col.marks) * MARK_PITCH * fs
    x0 = xc - span if col.align == "right" else xc - span / 2 if col.align == "center" else xc
    return [x0 + (i + 0.5) * MARK_PITCH * fs for i in range(len(col.marks))]


def _draw_marks(fig, marks, xs, yd, fs):
    """Discs with white glyphs at (xs in points, yd in figure inches): the same in PNG, SVG, PDF."""
    pt = fig.dpi_scale_trans
    for mark, xp in zip(marks, xs, strict=True):
        if mark is None:
            continue
        fig.add_artist(Line2D([xp / 72], [yd], transform=pt, marker="o", ms=MARK_SIZE * fs,
                              mfc=mark.face, mec=mark.edge, mew=0.6, ls="none", zorder=5))
        if mark.glyph:
            fig.add_artist(Line2D([xp / 72], [yd], transform=pt, marker=mark.glyph, ms=0.55 * fs,
                                  mfc="white", mec="white", mew=0.9, ls="none", zorder=6))


def _draw_special(ax, ln, yd, xlim):
    """Marks for results that are not an effect with a CI (linear axes only).

    mirror: an interval whose sign is not reported, drawn at +x and -x (open, dashed);
    arrow: a bound, from the smallest value it implies outwards; implied: the SMD an exact P
    implies (open diamond); point: an estimate without CI (open circle, no whiskers).
    """
    for s in ln.sides:
        if ln.kind == "mirror":
            lo, hi = sorted((s * ln.lo, s * ln.hi))
            ax.plot([max(lo, xlim[0]), min(hi, xlim[1])], [yd, yd], color=INK, lw=0.8, ls=(0, (2, 1)),
                    zorder=3)
            ax.plot([s * ln.est], [yd], marker="s", ms=3.6, mfc="white", mec=INK, mew=0.7, zorder=5, ls="none")
        elif ln.kind == "arrow":
            start = min(max(s * ln.est, xlim[0]), xlim[1])
            end = xlim[1] if s > 0 else xlim[0]
            ax.annotate("", xy=(end, yd), xytext=(start, yd), zorder=4,
                        arrowprops={"arrowstyle": "-|>", "color": INK, "lw": 0.8, "shrinkA": 0, "shrinkB": 0})
            ax.plot([start], [yd], marker="|", ms=5, color=INK, zorder=5, ls="none")
        elif ln.kind == "implied":
            ax.plot([min(max(s * ln.est, xlim[0]), xlim[1])], [yd], marker="D", ms=3.4, mfc="white",
                    mec=INK, mew=0.7, zorder=5, ls="none")
        else:
            ax.plot([min(max(ln.est, xlim[0]), xlim[1])], [yd], marker="o", ms=3.6, mfc="white", mec=INK,
                    mew=0.7, zorder=5, ls="none")
    if ln.kind == "mirror" and len(ln.sides) == 2:
        ax.plot([-abs(ln.est), abs(ln.est)], [yd, yd], color=GREY, lw=0.4, ls=":", zorder=2)
