"""Form, visit and casebook locks by the data manager: a locked record refuses changes until
it is unlocked with a reason.

A lock covers its record and what is in it: a casebook lock every visit, form and adverse
event of the subject, a visit lock the visit's date and forms, a form lock that form
(`refuse_if_locked`, which every service that changes a subject's data calls). Locks are kept
after unlocking, with who unlocked, when and why (`record.locked`, `record.unlocked` in the
audit trail). Only what the store holds can be locked (the subject, a visit row, an entered
form), and a record already covered by a live lock (its own, or its visit's or casebook's) is
not locked again. A lock changes no data: it breaks no signature, and a locked record may
still be signed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q

from trialdesk.errors import BadInput, TrialdeskError
from trialdesk.store.access import Access
from trialdesk.store.audit import audited_state, audited_write
from trialdesk.store.errors import AlreadyExists, NotFound, RecordLocked
from trialdesk.store.models import (
    FormRecord,
    LockLevel,
    RecordLock,
    Study,
    Subject,
    Visit,
)
from trialdesk.store.permissions import Step, require
from trialdesk.store.services.common import find_subject, require_reason, writable_study

LEVELS = tuple(level.value for level in LockLevel)


class NotLocked(TrialdeskError):
    """An unlock of a record that holds no live lock at that level (a conflict with the
    store's state, not bad input: the same request is right once the record is locked)."""


def _covering(visit_id: str = "", form: str = "") -> Q:
    """The live locks that cover the casebook, the visit `visit_id`, the form `form`."""
    covering = Q(level=LockLevel.CASEBOOK)
    if visit_id:
        covering |= Q(level=LockLevel.VISIT, visit_id=visit_id)
        if form:
            covering |= Q(level=LockLevel.FORM, visit_id=visit_id, form=form)
    return covering


def _what(code: str, level: str, visit_id: str, form: str) -> str:
    return {
        LockLevel.CASEBOOK: f"the casebook of subject {code}",
        LockLevel.VISIT: f"subject {code}, visit {visit_id}",
        LockLevel.FORM: f"subject {code}, visit {visit_id}, form {form}",
    }[LockLevel(level)]


def refuse_if_locked(subject: Subject, visit_id: str = "", form: str = "") -> None:
    """RecordLocked if the subject's casebook is locked, or the visit `visit_id`, or the form
    `form` of that visit (one query)."""
    lock = (
        RecordLock.objects.filter(
            _covering(visit_id, form), subject=subject, unlocked_at__isnull=True
        )
        .order_by("locked_at")
        .first()
    )
    if lock is None:
        return
    raise RecordLocked(
        f"{_what(subject.code, lock.level, lock.visit_id, lock.form)} is locked since "
        f"{lock.locked_at.isoformat()}: it accepts no changes (a data manager unlocks it "
        "with a reason)"
    )


def _checked_target(study: Study, code: str, level: str, visit_id: str, form: str) -> str:
    """The place the lock is of, once the level and its visit and form make sense."""
    if level not in LEVELS:
        raise BadInput(f"subject {code}: lock level {level!r}; expected {', '.join(LEVELS)}")
    if not isinstance(visit_id, str) or not isinstance(form, str):
        raise BadInput(f"subject {code}: the visit and form of a lock are ids (text)")
    needs_visit = level != LockLevel.CASEBOOK
    needs_form = level == LockLevel.FORM
    if bool(visit_id) != needs_visit or bool(form) != needs_form:
        expected = {
            LockLevel.CASEBOOK: "no visit and no form",
            LockLevel.VISIT: "a visit and no form",
            LockLevel.FORM: "a visit and a form",
        }[LockLevel(level)]
        raise BadInput(
            f"subject {code}: a {level} lock names {expected} (got visit {visit_id!r}, form "
            f"{form!r})"
        )
    if visit_id:
        plan = next((visit for visit in study.protocol().visits if visit.id == visit_id), None)
        if plan is None:
            raise NotFound(f"subject {code}: no visit {visit_id!r} in the protocol")
        if form and form not in plan.forms:
            raise NotFound(
                f"subject {code}, visit {visit_id}: form {form!r} is not collected at this "
                f"visit ({', '.join(plan.forms)})"
            )
    return _what(code, level, visit_id, form)


def lock_record(
    study: Study,
    code: str,
    *,
    level: str,
    by: str,
    visit_id: str = "",
    form: str = "",
    reason: str = "",
) -> RecordLock:
    """The data manager `by` locks the subject's casebook, a visit or a form; the reason
    ("data review done", "ready for database lock") is optional and kept."""
    place = _checked_target(study, code, level, visit_id, form)
    if not isinstance(reason, str):
        raise BadInput(f"{place}: the reason of a lock is text")
    with audited_write(by, study) as trail:
        study = writable_study(study)
        subject = find_subject(study, code)
        user = require(study, by, Step.LOCK_RECORDS, subject.site)
        if (
            level == LockLevel.VISIT
            and not Visit.objects.filter(subject=subject, visit_id=visit_id).exists()
        ):
            raise NotFound(f"{place} is not in the store yet; nothing to lock")
        if (
            level == LockLevel.FORM
            and not FormRecord.objects.filter(
                subject=subject, visit__visit_id=visit_id, form=form
            ).exists()
        ):
            raise NotFound(f"{place} is not entered; nothing to lock")
        held = (
            RecordLock.objects.filter(
                _covering(visit_id, form), subject=subject, unlocked_at__isnull=True
            )
            .select_related("locked_by")
            .order_by("locked_at")
            .first()
        )
        if held is not None:
            by_lock = _what(code, held.level, held.visit_id, held.form)
            raise AlreadyExists(
                f"{place} is already locked"
                + (f" (by the lock of {by_lock})" if by_lock != place else "")
                + f" since {held.locked_at.isoformat()}, by {held.locked_by.username}"
            )
        lock = RecordLock(
            subject=subject,
            level=level,
            visit_id=visit_id,
            form=form,
            locked_by=user,
            locked_at=trail.at,
            reason=reason.strip(),
        )
        lock.save()
        trail.created(lock, "record.locked", lock.reason)
    return lock


def unlock_record(
    study: Study,
    code: str,
    *,
    level: str,
    by: str,
    visit_id: str = "",
    form: str = "",
    reason: str,
) -> RecordLock:
    """The data manager `by` unlocks a locked casebook, visit or form, with a reason."""
    place = _checked_target(study, code, level, visit_id, form)
    reason = require_reason(reason if isinstance(reason, str) else "", f"unlock {place}")
    with audited_write(by, study) as trail:
        study = writable_study(study)
        subject = find_subject(study, code)
        user = require(study, by, Step.LOCK_RECORDS, subject.site)
        lock = (
            RecordLock.objects.filter(
                subject=subject,
                level=level,
                visit_id=visit_id,
                form=form,
                unlocked_at__isnull=True,
            )
            .select_related("locked_by")
            .first()
        )
        if lock is None:
            raise NotLocked(f"{place} is not locked (at the {level} level): nothing to unlock")
        lock.subject = subject
        before = audited_state(lock)
        lock.unlocked_by = user
        lock.unlocked_at = trail.at
        lock.unlock_reason = reason
        lock.save(update_fields=["unlocked_by", "unlocked_at", "unlock_reason"])
        trail.changed(lock, before, "record.unlocked", reason)
    return lock


# ---------------------------------------------------------------- reads for pages


@dataclass(frozen=True)
class LockEntry:
    """One lock of a subject's record, live or lifted."""

    id: int
    subject: str
    level: str
    visit_id: str
    form: str
    locked_by: str
    locked_at: datetime
    reason: str
    unlocked_by: str | None
    unlocked_at: datetime | None
    unlock_reason: str

    @property
    def active(self) -> bool:
        return self.unlocked_at is None

    @property
    def what(self) -> str:
        return _what(self.subject, self.level, self.visit_id, self.form)


def subject_locks(access: Access, code: str, *, active_only: bool = True) -> list[LockEntry]:
    """The locks of the subject `code` the reader may read (`Access.subject`), oldest first:
    the live ones, or with `active_only=False` the lifted ones too."""
    subject = access.subject(code)
    locks = RecordLock.objects.filter(subject=subject).select_related("locked_by", "unlocked_by")
    if active_only:
        locks = locks.filter(unlocked_at__isnull=True)
    return [
        LockEntry(
            id=lock.pk,
            subject=subject.code,
            level=lock.level,
            visit_id=lock.visit_id,
            form=lock.form,
            locked_by=lock.locked_by.username,
            locked_at=lock.locked_at,
            reason=lock.reason,
            unlocked_by=lock.unlocked_by.username if lock.unlocked_by else None,
            unlocked_at=lock.unlocked_at,
            unlock_reason=lock.unlock_reason,
        )
        for lock in locks.order_by("locked_at", "pk")
    ]
