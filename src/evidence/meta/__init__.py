"""Meta-analysis engine: ``rma`` and friends, validated against R metafor 3.8.1.

See ``evidence.meta.core`` for the conventions and for where statsmodels is
used and where the project's own code takes over.
"""

from evidence.meta.batch import batch
from evidence.meta.command import add_arguments, run
from evidence.meta.core import METHODS, TESTS, MetaResult, rma, tau2_qprofile
from evidence.meta.extras import (
    EggerResult,
    SubgroupResult,
    TrimFillResult,
    cumulative,
    egger,
    leave1out,
    subgroups,
    trimfill,
)

__all__ = [
    "METHODS", "TESTS", "MetaResult", "rma", "tau2_qprofile", "batch", "subgroups",
    "SubgroupResult", "leave1out", "cumulative", "egger", "EggerResult", "trimfill",
    "TrimFillResult", "add_arguments", "run",
]
