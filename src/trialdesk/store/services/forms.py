"""Form entry: one record per (subject, visit, form), validated and scored by its instrument.

Forms of a visit after day 0 need the visit's date recorded first (`record_visit`), so every
follow-up value has the date it was collected on; screening and baseline forms do not.

Reasons for change only where they are due: an item's first entry needs none; changing an
item that already has a saved value (not null) does, whether or not the form is complete
(`items_needing_reason`). A partial save changes only the items it gives. Marking a form
complete (and reopening it) is part of the form's audited state (`completed_at`); reopening
a completed form is a change and needs a reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from trialdesk.errors import BadInput
from trialdesk.schedule import visit_window
from trialdesk.store.audit import AuditTrail, audited_state, audited_write, canonical_json
from trialdesk.store.errors import ReasonRequired, SubjectStateError
from trialdesk.store.lifecycle import RANDOMIZED_STATUSES, SubjectStatus
from trialdesk.store.models import FormDraft, FormRecord, Study, Subject, Visit, VisitStatus
from trialdesk.store.permissions import Step, require
from trialdesk.store.services.common import writable_subject
from trialdesk.store.services.record_changes import data_changed, refuse_if_locked
from trialdesk.store.services.visits import protocol_visit, schedule_visit

if TYPE_CHECKING:
    from trialdesk.protocol.model import Visit as ProtocolVisit

#: Visits on or before day 0 (screening, baseline) may be entered before randomization.
LAST_PRE_RANDOMIZATION_DAY = 0

#: A reason for the whole save, or one per item (item id -> reason) whose saved value changes.
Reasons = str | Mapping[str, str]


def save_form(
    study: Study,
    code: str,
    visit_id: str,
    form: str,
    values: dict[str, Any],
    by: str,
    reason: Reasons = "",
    *,
    partial: bool = False,
    complete: bool | None = None,
) -> FormRecord:
    """Enter or change one form.

    `partial=False` (the API's PUT): `values` is the whole form, an item left out is missing.
    `partial=True`: only the items in `values` change; the others keep their saved values.
    Changing an item's saved value needs a reason: one `reason` for the save, or a mapping
    item id -> reason with one for each such item (each item's audit event carries its own).
    `complete=True` marks the form complete (it stays so through later changes),
    `complete=False` reopens a completed form (with a reason), None leaves it as it is.

    The values are checked by the instrument definition and the scores recomputed; saving
    the same values again changes nothing and writes no audit event. The saving user's draft
    of the form (`drafts.save_draft`) is discarded.
    """
    from trialdesk.instruments import get_instrument, values_and_scores

    # What needs only the protocol (whose text never changes) and the values is checked
    # before the write lock is taken, so the lock is held for the database work alone.
    visit_plan = protocol_visit(study.protocol(), code, visit_id)
    if form not in visit_plan.forms:
        raise BadInput(
            f"subject {code}, visit {visit_id}: form {form!r} is not collected at this "
            f"visit ({', '.join(visit_plan.forms)})"
        )
    entered: dict[str, Any] | tuple[dict[str, Any], dict[str, Any]]
    if partial:
        given = as_stored(get_instrument(form).item_values(values))
        entered = {item: given[item] for item in values}
    else:
        checked, scores = values_and_scores(form, values)
        entered = as_stored(checked), as_stored(scores)
    with audited_write(by, study) as trail:
        study, subject = writable_subject(study, code)
        user = require(study, by, Step.ENTER_FORMS, subject.site)
        if subject.status == SubjectStatus.SCREENED:
            raise SubjectStateError(f"subject {code} has not consented: no data before consent")
        visit = open_form_visit(trail, subject, visit_plan, form)
        if needs_visit_date(visit_plan) and visit.actual_date is None:
            missed = " (it is marked missed)" if visit.status == VisitStatus.MISSED else ""
            raise BadInput(
                f"subject {code}, visit {visit_id}: no visit date{missed}; record the visit "
                "date first (visits after day 0 need it before their forms)"
            )
        FormDraft.objects.filter(user=user, subject=subject, visit_id=visit_id, form=form).delete()
        return write_form(
            trail, subject, visit, form, entered, reason, partial=partial, complete=complete
        )


def open_form_visit(
    trail: AuditTrail, subject: Subject, visit_plan: ProtocolVisit, form: str
) -> Visit:
    """The visit row a form of `visit_plan` is written to (opened if it has none), once the
    subject's status and the locks allow it."""
    if visit_plan.day > LAST_PRE_RANDOMIZATION_DAY and subject.status not in RANDOMIZED_STATUSES:
        raise SubjectStateError(
            f"subject {subject.code} is {subject.status}: visit {visit_plan.id} data need "
            "randomization first (only screening and baseline visits come before it)"
        )
    refuse_if_locked(subject, visit_plan.id, form)
    window = visit_window(visit_plan, subject.day0, subject.screened_on)
    return schedule_visit(trail, subject, window, "visit.opened")


def write_form(
    trail: AuditTrail,
    subject: Subject,
    visit: Visit,
    form: str,
    values: dict[str, Any] | tuple[dict[str, Any], dict[str, Any]],
    reason: Reasons = "",
    *,
    partial: bool,
    complete: bool | None = None,
) -> FormRecord:
    """Write one form record in the caller's audited transaction: `values` are the given
    items (checked, as stored) of a partial save, or the whole form's (values, scores)."""
    from trialdesk.instruments import values_and_scores

    place = f"subject {subject.code}, visit {visit.visit_id}, form {form}"
    visit_id = visit.visit_id
    record = visit.forms.filter(form=form).first()
    if partial:
        assert isinstance(values, dict)
        saved = record.values if record is not None else {}
        checked, scores = values_and_scores(form, {**saved, **values})
        checked, scores = as_stored(checked), as_stored(scores)
    else:
        assert isinstance(values, tuple)
        checked, scores = values
    now = timezone.now()
    if record is None:
        record = FormRecord.objects.create(
            subject=subject,
            visit=visit,
            form=form,
            values=checked,
            scores=scores,
            completed_at=now if complete else None,
        )
        trail.created(record, "form.entered", _joined(reason))
        data_changed(trail, subject, f"{place}: entered", visit_id=visit_id, record=record)
        return record
    completed_at = record.completed_at
    if complete is True and completed_at is None:
        completed_at = now
    elif complete is False:
        completed_at = None
    if (record.values, record.scores, record.completed_at) == (checked, scores, completed_at):
        return record
    changed = items_needing_reason(record.values, checked)
    reasons = _reasons_for(place, changed, reason)
    if record.completed_at is not None and completed_at is None and not _joined(reason):
        raise ReasonRequired(f"{place}: reopening the completed form: a reason is required")
    record.subject = subject  # the audit trail names it; the visit's manager set the visit
    per_item = reasons if isinstance(reason, Mapping) else {}
    differing = [item for item, value in checked.items() if record.values.get(item) != value]
    _change_values(trail, record, checked, scores, per_item, _joined(reason))
    if completed_at != record.completed_at:
        before = audited_state(record)
        action = "form.completed" if completed_at is not None else "form.reopened"
        record.completed_at = completed_at
        trail.changed(record, before, action, _joined(reason))
    record.save(update_fields=["values", "scores", "completed_at"])
    what = f"{place}: {', '.join(differing)} changed" if differing else f"{place}: status"
    data_changed(trail, subject, what, visit_id=visit_id, record=record, items=differing)
    return record


def needs_visit_date(visit_plan: ProtocolVisit) -> bool:
    """True for a visit after day 0: its forms need the visit's date recorded first."""
    return visit_plan.day > LAST_PRE_RANDOMIZATION_DAY


def items_needing_reason(saved: Mapping[str, Any], entered: Mapping[str, Any]) -> list[str]:
    """The items of `entered` whose saved value (not null) it changes, in the form's order:
    each needs a reason. An item saved as missing (null) takes its first value without one."""
    return [
        item
        for item, old in saved.items()
        if old is not None and item in entered and entered[item] != old
    ]


def _reasons_for(place: str, changed: list[str], reason: Reasons) -> dict[str, str]:
    """Each changed item's reason; ReasonRequired naming the items that have none."""
    if isinstance(reason, Mapping):
        reasons = {item: str(reason.get(item) or "").strip() for item in changed}
    else:
        reasons = dict.fromkeys(changed, str(reason or "").strip())
    missing = [item for item, text in reasons.items() if not text]
    if missing:
        items = ", ".join(missing)
        raise ReasonRequired(
            f"{place}: change: a reason is required (item{'s' if len(missing) > 1 else ''} "
            f"{items} had a saved value)"
        )
    return reasons


def _joined(reason: Reasons) -> str:
    """The save's reason for what is not one item's change (scores, completion)."""
    if isinstance(reason, Mapping):
        texts = [f"{item}: {text.strip()}" for item, text in reason.items() if text.strip()]
        return "; ".join(texts)
    return (reason or "").strip()


def _change_values(
    trail: AuditTrail,
    record: FormRecord,
    checked: dict[str, Any],
    scores: dict[str, Any],
    reasons: dict[str, str],
    reason: str,
) -> None:
    """Audit each item of `reasons` (a changed saved value) with its own reason, then the rest
    (first entries, scores) with the save's reason; all in the caller's one transaction."""
    values = dict(record.values)
    for item, item_reason in reasons.items():
        before = audited_state(record)
        values[item] = checked[item]
        record.values = dict(values)
        trail.changed(record, before, "form.changed", item_reason)
    before = audited_state(record)
    record.values, record.scores = checked, scores
    trail.changed(record, before, "form.changed", reason)


def as_stored(values: dict[str, Any]) -> dict[str, Any]:
    """Item values as they come back from the JSON column (dates as ISO text), so a stored
    record compares equal to a fresh entry of the same answers.

    -0.0 becomes 0.0: PostgreSQL's jsonb keeps no negative zero, and the audit trail must hold
    the value the table holds.
    """
    return json.loads(canonical_json(values), parse_float=_float_without_negative_zero)


def _float_without_negative_zero(text: str) -> float:
    return float(text) + 0.0
