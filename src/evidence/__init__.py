"""evidence: audit the claims of a health article by rebuilding the evidence it cites.

Data flow, one module per step: ``pubmed`` (fetch and parse records) ->
``effects`` (sourced extraction to effect sizes) -> ``meta`` (meta-analysis)
-> ``grading`` (claim verdicts) -> ``plots`` / ``figures`` (forest plots and
exports) -> ``report``.
"""

__version__ = "0.1.0"
