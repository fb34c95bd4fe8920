"""Queries on a subject's data: raised by monitors and data managers or by the protocol's
edit checks, answered by the site, closed or re-opened, each with its thread of messages."""

from __future__ import annotations

from trialdesk.store.audit import AuditTrail
from trialdesk.store.models import Subject


def run_edit_checks(trail: AuditTrail, subject: Subject) -> None:
    """The protocol's edit checks over the subject's data, in the caller's transaction: a
    new finding raises a query, an automatic query whose finding no longer holds is closed."""
    if not subject.study.protocol().edit_checks:
        return
    raise NotImplementedError("edit checks: issue 13, queries")
