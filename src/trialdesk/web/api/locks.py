"""The data manager's locks of a subject's casebook, a visit or a form
(`trialdesk.store.services.locks`): the list, lock (an optional reason) and unlock (a reason).

A locked record refuses changes: saving a form, a visit date or an adverse event under a lock
is answered 409 by those endpoints.
"""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest
from ninja import Field, Router, Schema

from trialdesk.store.access import Access
from trialdesk.store.models import LockLevel
from trialdesk.store.services.locks import (
    LockEntry,
    lock_record,
    subject_locks,
    unlock_record,
)
from trialdesk.web.api.context import SUBJECT, subject_for
from trialdesk.web.api.errors import READ_ERRORS, WRITE_ERRORS
from trialdesk.web.api.schemas import NOT_BLANK, BodyIn, codes, declared

router = Router(tags=["locks"])

VISIT = SUBJECT + "/visits/{visit_id}"
FORM = VISIT + "/forms/{form}"


class LockOut(Schema):
    id: int
    level: str = declared(**codes(LockLevel.values))
    visit: str = Field(description="the visit of a visit or form lock; empty for a casebook")
    form: str = Field(description="the form of a form lock; empty above it")
    locked_by: str
    locked_at: dt.datetime
    reason: str = Field(description="why it was locked; may be empty")
    active: bool = Field(description="the lock holds (not unlocked)")
    unlocked_by: str | None
    unlocked_at: dt.datetime | None
    unlock_reason: str


class LockIn(BodyIn):
    reason: str = Field("", description="why the record is locked (optional, audited)")


class UnlockIn(BodyIn):
    reason: str = declared(description="why the record is unlocked (audited)", **NOT_BLANK)


def _out(lock: LockEntry) -> dict:
    return {
        "id": lock.id,
        "level": lock.level,
        "visit": lock.visit_id,
        "form": lock.form,
        "locked_by": lock.locked_by,
        "locked_at": lock.locked_at,
        "reason": lock.reason,
        "active": lock.active,
        "unlocked_by": lock.unlocked_by,
        "unlocked_at": lock.unlocked_at,
        "unlock_reason": lock.unlock_reason,
    }


def _answer(access: Access, code: str, lock_id: int) -> dict:
    entries = subject_locks(access, code, active_only=False)
    return next(_out(entry) for entry in entries if entry.id == lock_id)


@router.get(SUBJECT + "/locks", response={200: list[LockOut], **READ_ERRORS})
def locks(
    request: HttpRequest,
    study: str,
    code: str,
    lifted: bool = False,
    version: str | None = None,
) -> list:
    """The subject's live locks, oldest first; `lifted=true` adds the unlocked ones."""
    access, _ = subject_for(request, study, code, version)
    return [_out(entry) for entry in subject_locks(access, code, active_only=not lifted)]


def _lock(
    request: HttpRequest,
    study: str,
    code: str,
    version: str | None,
    reason: str,
    *,
    level: str,
    visit_id: str = "",
    form: str = "",
    unlock: bool = False,
) -> dict:
    access, _ = subject_for(request, study, code, version)
    step = unlock_record if unlock else lock_record
    lock = step(
        access.study,
        code,
        level=level,
        by=access.user.username,
        visit_id=visit_id,
        form=form,
        reason=reason,
    )
    return _answer(access, code, lock.pk)


@router.post(SUBJECT + "/lock", response={200: LockOut, **WRITE_ERRORS})
def lock_casebook(
    request: HttpRequest, study: str, code: str, body: LockIn, version: str | None = None
) -> dict:
    """A data manager locks the subject's casebook: no visit, form or adverse event of the
    subject changes until it is unlocked (409 when locked already)."""
    return _lock(request, study, code, version, body.reason, level=LockLevel.CASEBOOK)


@router.post(SUBJECT + "/unlock", response={200: LockOut, **WRITE_ERRORS})
def unlock_casebook(
    request: HttpRequest, study: str, code: str, body: UnlockIn, version: str | None = None
) -> dict:
    """A data manager unlocks the subject's casebook, with a reason."""
    return _lock(request, study, code, version, body.reason, level=LockLevel.CASEBOOK, unlock=True)


@router.post(VISIT + "/lock", response={200: LockOut, **WRITE_ERRORS})
def lock_visit(
    request: HttpRequest,
    study: str,
    code: str,
    visit_id: str,
    body: LockIn,
    version: str | None = None,
) -> dict:
    """A data manager locks a visit the store holds: its date and forms."""
    return _lock(
        request, study, code, version, body.reason, level=LockLevel.VISIT, visit_id=visit_id
    )


@router.post(VISIT + "/unlock", response={200: LockOut, **WRITE_ERRORS})
def unlock_visit(
    request: HttpRequest,
    study: str,
    code: str,
    visit_id: str,
    body: UnlockIn,
    version: str | None = None,
) -> dict:
    """A data manager unlocks a locked visit, with a reason."""
    return _lock(
        request,
        study,
        code,
        version,
        body.reason,
        level=LockLevel.VISIT,
        visit_id=visit_id,
        unlock=True,
    )


@router.post(FORM + "/lock", response={200: LockOut, **WRITE_ERRORS})
def lock_form(
    request: HttpRequest,
    study: str,
    code: str,
    visit_id: str,
    form: str,
    body: LockIn,
    version: str | None = None,
) -> dict:
    """A data manager locks an entered form."""
    return _lock(
        request,
        study,
        code,
        version,
        body.reason,
        level=LockLevel.FORM,
        visit_id=visit_id,
        form=form,
    )


@router.post(FORM + "/unlock", response={200: LockOut, **WRITE_ERRORS})
def unlock_form(
    request: HttpRequest,
    study: str,
    code: str,
    visit_id: str,
    form: str,
    body: UnlockIn,
    version: str | None = None,
) -> dict:
    """A data manager unlocks a locked form, with a reason."""
    return _lock(
        request,
        study,
        code,
        version,
        body.reason,
        level=LockLevel.FORM,
        visit_id=visit_id,
        form=form,
        unlock=True,
    )
