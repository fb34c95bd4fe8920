"""One exception hierarchy for the whole project.

Every error says where (file:line, form/item, row/column) and what was expected, so the
CLI can print it as one line and exit 2 for bad input or 1 for a failed operation.
"""

from __future__ import annotations


class TrialdeskError(Exception):
    """Root of every error trialdesk raises on purpose."""

    exit_code = 1


class BadInput(TrialdeskError):
    """Input that does not meet its specification; nothing was changed."""

    exit_code = 2


class ProtocolError(BadInput):
    """A protocol file that does not validate. Holds one message per problem."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class UnknownProtocol(BadInput):
    """A protocol id that is neither shipped nor a readable file."""


class InstrumentError(BadInput):
    """Answers that do not fit an instrument definition (unknown item, bad type, out of range)."""


class EligibilityError(BadInput):
    """A criterion expression that does not parse or type-check, or a malformed cohort."""


class RandomizationError(BadInput):
    """A randomization spec or list that is inconsistent."""


class AnalysisError(TrialdeskError):
    """Data that an analysis cannot be fitted to (e.g. a singular design)."""
