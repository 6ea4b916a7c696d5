"""Figures a review board can print: forest plots, evidence maps, funnels, claim summaries."""

from evidence.plots.style import WIDTHS, house_style  # noqa: I001  (sets the Agg backend first)
from evidence.plots.claimplot import claim_summary, grade_symbols
from evidence.plots.forestplot import forest, sources_caption
from evidence.plots.funnelplot import funnel
from evidence.plots.mapplot import evidence_map

__all__ = ["WIDTHS", "claim_summary", "evidence_map", "forest", "funnel", "grade_symbols",
           "house_style", "sources_caption"]
