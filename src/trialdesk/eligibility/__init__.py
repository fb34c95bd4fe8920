"""Computable eligibility: the criteria language, three-valued evaluation with reasons, and
screening of populations compiled to SQL.

Importing this package is cheap (no pandas, DuckDB or SQLGlot): the protocol loader uses the
language while it validates a file.
"""

from trialdesk.eligibility.evaluation import (
    CriterionResult,
    EligibilityResult,
    ProtocolCriteria,
    evaluate,
)
from trialdesk.eligibility.language import expression_problems, parse

__all__ = [
    "CriterionResult",
    "EligibilityResult",
    "ProtocolCriteria",
    "evaluate",
    "expression_problems",
    "parse",
]
