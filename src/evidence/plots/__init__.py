"""Figures a review board can print: forest plots, evidence maps, funnels, claim summaries."""

from evidence.plots.style import WIDTHS, house_style  # noqa: I001  (sets the Agg backend first)
from evidence.plots.forestplot import forest, sources_caption

__all__ = ["WIDTHS", "forest", "house_style", "sources_caption"]
