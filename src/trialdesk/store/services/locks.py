"""Form, visit and casebook locks by the data manager: a locked record refuses changes until
it is unlocked with a reason."""

from __future__ import annotations

from django.db.models import Q

from trialdesk.store.errors import RecordLocked
from trialdesk.store.models import LockLevel, RecordLock, Subject


def refuse_if_locked(subject: Subject, visit_id: str = "", form: str = "") -> None:
    """RecordLocked if the subject's casebook is locked, or the visit `visit_id`, or the form
    `form` of that visit (one query)."""
    covering = Q(level=LockLevel.CASEBOOK)
    if visit_id:
        covering |= Q(level=LockLevel.VISIT, visit_id=visit_id)
        if form:
            covering |= Q(level=LockLevel.FORM, visit_id=visit_id, form=form)
    lock = (
        RecordLock.objects.filter(covering, subject=subject, unlocked_at__isnull=True)
        .order_by("locked_at")
        .first()
    )
    if lock is None:
        return
    what = {
        LockLevel.CASEBOOK: f"the casebook of subject {subject.code}",
        LockLevel.VISIT: f"subject {subject.code}, visit {lock.visit_id}",
        LockLevel.FORM: f"subject {subject.code}, visit {lock.visit_id}, form {lock.form}",
    }[LockLevel(lock.level)]
    raise RecordLocked(
        f"{what} is locked since {lock.locked_at.isoformat()}: it accepts no changes "
        "(a data manager unlocks it with a reason)"
    )
