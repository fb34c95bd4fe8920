"""What the services share: the study re-read under the write lock, subjects, status steps."""

from __future__ import annotations

import copy

from django.db.models import F

from trialdesk.store.audit import AuditTrail, audited_state
from trialdesk.store.errors import NotFound, ReasonRequired, StudyLocked
from trialdesk.store.lifecycle import SubjectStatus, check_transition
from trialdesk.store.models import Study, Subject


def current_study(study: Study) -> Study:
    """The study with its lock flags as they are now; read inside the write transaction.

    Only the flags are read again: the protocol text and identifiers of a stored study never
    change, so the caller's copy of them (and its parsed protocol) serves.
    """
    current = copy.copy(study)
    current.locked, current.reopened_after_lock = (
        Study.objects.filter(pk=study.pk).values_list("locked", "reopened_after_lock").get()
    )
    return current


def writable_study(study: Study) -> Study:
    """The study as it is now, inside the write transaction; refused once locked.

    Read after the audit head is locked, so a concurrent `lock_study` cannot slip between
    this check and the write.
    """
    return _unless_locked(current_study(study))


def _unless_locked(current: Study) -> Study:
    if current.locked:
        raise StudyLocked(
            f"{current} is locked: the database accepts no changes (unlock it with a reason)"
        )
    return current


def find_subject(study: Study, code: str) -> Subject:
    subject = Subject.objects.select_related("site").filter(study=study, code=code).first()
    if subject is None:
        raise NotFound(f"{study}: no subject {code!r}")
    subject.study = study  # the audit trail names it: no query for it
    return subject


def writable_subject(study: Study, code: str) -> tuple[Study, Subject]:
    """`writable_study` and `find_subject` in one query: the subject with the study's lock
    flags as they are now (read inside the write transaction, after the audit head)."""
    subject = (
        Subject.objects.select_related("site")
        .annotate(_locked=F("study__locked"), _reopened=F("study__reopened_after_lock"))
        .filter(study=study, code=code)
        .first()
    )
    if subject is None:
        writable_study(study)  # a locked study says so before the missing subject
        raise NotFound(f"{study}: no subject {code!r}")
    current = copy.copy(study)
    current.locked, current.reopened_after_lock = subject._locked, subject._reopened
    subject.study = _unless_locked(current)
    return current, subject


def require_reason(reason: str, what: str) -> str:
    if not reason or not reason.strip():
        raise ReasonRequired(f"{what}: a reason is required")
    return reason.strip()


def move_subject(
    trail: AuditTrail, subject: Subject, target: SubjectStatus, step: str, reason: str = ""
) -> None:
    """Move the subject one step along the lifecycle, audited; refuse an illegal step."""
    check_transition(subject.code, subject.status, target, step)
    before = audited_state(subject)
    subject.status = target.value
    subject.save(update_fields=["status"])
    trail.changed(subject, before, f"subject.{target.value}", reason)
