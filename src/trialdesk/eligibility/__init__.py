"""Computable eligibility: the criteria language, three-valued evaluation with reasons, and
screening of populations compiled to SQL.

Importing this package is cheap (no pandas, DuckDB or SQLGlot): the protocol loader uses the
language (`trialdesk.eligibility.language`) while it validates a file.
"""

from trialdesk.eligibility.evaluation import EligibilityResult, ProtocolCriteria, evaluate

__all__ = ["EligibilityResult", "ProtocolCriteria", "evaluate"]
