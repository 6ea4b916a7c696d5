"""Figures a review board can print: forest plots, claim cards, albatross and harvest plots,
evidence maps, funnels, the claims summary."""

from evidence.plots.style import WIDTHS, house_style  # noqa: I001  (sets the Agg backend first)
from evidence.plots.claimplot import claim_summary, grade_symbols
from evidence.plots.forestplot import forest, sources_caption
from evidence.plots.funnelplot import funnel
from evidence.plots.mapplot import evidence_map
from evidence.plots.albatross import albatross
from evidence.plots.harvest import harvest
from evidence.plots.card import card, condition_evidence

__all__ = ["WIDTHS", "albatross", "card", "claim_summary", "condition_evidence", "evidence_map", "forest", "funnel",
           "grade_symbols", "harvest", "house_style", "sources_caption"]
