"""Errors of the study store; each names the study, site, subject or record it is about."""

from __future__ import annotations

from trialdesk.errors import BadInput, TrialdeskError


class NotFound(BadInput):
    """A study, site, user or subject that is not in the store."""


class AlreadyExists(BadInput):
    """A study, site or role assignment that is already in the store."""


class SubjectStateError(BadInput):
    """A step the subject's current status does not allow (the lifecycle state machine)."""


class VisitStateError(SubjectStateError):
    """A step a visit's recorded state does not allow (a visit with forms cannot be missed)."""


class ReasonRequired(BadInput):
    """A change to recorded data, an unlock or an unblinding without a reason."""


class NotPermitted(TrialdeskError):
    """The user's roles do not allow this step at this site."""


class StudyLocked(TrialdeskError):
    """A write to a study whose database is locked."""


class RecordLocked(StudyLocked):
    """A change to a form, visit or casebook that a data manager has locked."""


class DatabaseLockRefused(TrialdeskError):
    """A database lock while queries are open or casebooks unsigned, without an override."""


class AllocationListExhausted(TrialdeskError):
    """A stratum whose allocation list has no free slot left."""
