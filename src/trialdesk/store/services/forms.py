"""Form entry: one record per (subject, visit, form), validated and scored by its instrument.

Forms of a visit after day 0 need the visit's date recorded first (`record_visit`), so every
follow-up value has the date it was collected on; screening and baseline forms do not.
"""

from __future__ import annotations

import json
from typing import Any

from trialdesk.errors import BadInput
from trialdesk.schedule import visit_window
from trialdesk.store.audit import audited_state, audited_write, canonical_json
from trialdesk.store.errors import SubjectStateError
from trialdesk.store.lifecycle import RANDOMIZED_STATUSES, SubjectStatus
from trialdesk.store.models import FormRecord, Study, VisitStatus
from trialdesk.store.permissions import Step, require
from trialdesk.store.services.common import find_subject, require_reason, writable_study
from trialdesk.store.services.visits import protocol_visit, schedule_visit

#: Visits on or before day 0 (screening, baseline) may be entered before randomization.
LAST_PRE_RANDOMIZATION_DAY = 0


def save_form(
    study: Study,
    code: str,
    visit_id: str,
    form: str,
    values: dict[str, Any],
    by: str,
    reason: str = "",
) -> FormRecord:
    """Enter or change one form; changing a saved value needs a reason.

    The values are checked by the instrument definition and the scores recomputed; saving
    the same values again changes nothing and writes no audit event.
    """
    from trialdesk.instruments import values_and_scores

    # What needs only the protocol (whose text never changes) and the values is checked
    # before the write lock is taken, so the lock is held for the database work alone.
    visit_plan = protocol_visit(study.protocol(), code, visit_id)
    if form not in visit_plan.forms:
        raise BadInput(
            f"subject {code}, visit {visit_id}: form {form!r} is not collected at this "
            f"visit ({', '.join(visit_plan.forms)})"
        )
    checked, scores = values_and_scores(form, values)
    checked, scores = as_stored(checked), as_stored(scores)
    with audited_write(by, study) as trail:
        study = writable_study(study)
        subject = find_subject(study, code)
        require(study, by, Step.ENTER_FORMS, subject.site)
        if subject.status == SubjectStatus.SCREENED:
            raise SubjectStateError(f"subject {code} has not consented: no data before consent")
        if (
            visit_plan.day > LAST_PRE_RANDOMIZATION_DAY
            and subject.status not in RANDOMIZED_STATUSES
        ):
            raise SubjectStateError(
                f"subject {code} is {subject.status}: visit {visit_id} data need randomization "
                "first (only screening and baseline visits come before it)"
            )
        window = visit_window(visit_plan, subject.day0, subject.screened_on)
        visit = schedule_visit(trail, subject, window, "visit.opened")
        if visit_plan.day > LAST_PRE_RANDOMIZATION_DAY and visit.actual_date is None:
            missed = " (it is marked missed)" if visit.status == VisitStatus.MISSED else ""
            raise BadInput(
                f"subject {code}, visit {visit_id}: no visit date{missed}; record the visit "
                "date first (visits after day 0 need it before their forms)"
            )
        record = visit.forms.filter(form=form).first()
        if record is None:
            record = FormRecord.objects.create(
                subject=subject, visit=visit, form=form, values=checked, scores=scores
            )
            trail.created(record, "form.entered", reason.strip())
            return record
        if (record.values, record.scores) == (checked, scores):
            return record
        reason = require_reason(reason, f"subject {code}, visit {visit_id}, form {form}: change")
        record.subject = subject  # the audit trail names it; the visit's manager set the visit
        before = audited_state(record)
        record.values, record.scores = checked, scores
        record.save(update_fields=["values", "scores"])
        trail.changed(record, before, "form.changed", reason)
    return record


def as_stored(values: dict[str, Any]) -> dict[str, Any]:
    """Item values as they come back from the JSON column (dates as ISO text), so a stored
    record compares equal to a fresh entry of the same answers.

    -0.0 becomes 0.0: PostgreSQL's jsonb keeps no negative zero, and the audit trail must hold
    the value the table holds.
    """
    return json.loads(canonical_json(values), parse_float=_float_without_negative_zero)


def _float_without_negative_zero(text: str) -> float:
    return float(text) + 0.0
