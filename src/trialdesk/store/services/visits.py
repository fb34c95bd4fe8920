"""Visits on the calendar: the date a visit took place, a missed visit, protocol deviations.

A visit date outside the visit's window records an automatic `visit_out_of_window` deviation
in the same transaction; correcting the date (with a reason) reviews it: the deviation is
revised, or withdrawn when the corrected date is inside the window. Target and window dates
come from the schedule core (`trialdesk.schedule`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.utils import timezone

from trialdesk.errors import BadInput
from trialdesk.schedule import VisitWindow, visit_window
from trialdesk.store.audit import audited_state, audited_write
from trialdesk.store.errors import SubjectStateError, VisitStateError
from trialdesk.store.lifecycle import RANDOMIZED_STATUSES, SubjectStatus
from trialdesk.store.models import Deviation, FormRecord, Study, Subject, Visit, VisitStatus
from trialdesk.store.permissions import Step, require
from trialdesk.store.services.common import find_subject, require_reason, writable_study
from trialdesk.store.services.record_changes import data_changed, refuse_if_locked

if TYPE_CHECKING:
    from trialdesk.protocol import Protocol
    from trialdesk.protocol.model import Visit as ProtocolVisit
    from trialdesk.store.audit import AuditTrail

VISIT_OUT_OF_WINDOW = "visit_out_of_window"
DEVIATION_KIND = re.compile(r"[a-z][a-z0-9_]{0,39}")


def record_visit(
    study: Study, code: str, visit_id: str, visit_date: dt.date, by: str, *, reason: str = ""
) -> Visit:
    """The visit took place on `visit_date`: it is done. Changing a recorded date (or a visit
    marked missed) needs a reason; recording the same date again changes nothing."""
    where = f"subject {code}, visit {visit_id}"
    visit_date = checked_past_date(where, "visit date", visit_date)
    with audited_write(by, study) as trail:
        study = writable_study(study)
        subject = find_subject(study, code)
        require(study, by, Step.RECORD_VISIT, subject.site)
        plan = protocol_visit(study.protocol(), code, visit_id)
        _check_visit_date(subject, plan, visit_date)
        window = visit_window(plan, subject.day0, subject.screened_on)
        refuse_if_locked(subject, visit_id)
        visit = schedule_visit(trail, subject, window, "visit.opened")
        if visit.status == VisitStatus.DONE and visit.actual_date == visit_date:
            return visit
        if visit.status == VisitStatus.DONE:
            reason = require_reason(reason, f"{where}: change of the date {visit.actual_date}")
        elif visit.status == VisitStatus.MISSED:
            reason = require_reason(reason, f"{where}: a visit marked missed recorded as done")
        else:
            reason = reason.strip()
        before = audited_state(visit)
        visit.status = VisitStatus.DONE
        visit.actual_date = visit_date
        visit.missed_reason = ""
        visit.save(update_fields=["status", "actual_date", "missed_reason"])
        trail.changed(visit, before, "visit.done", reason)
        review_visit_window(trail, subject, visit, window, reason)
        data_changed(trail, subject, f"{where}: visit date {visit_date}", visit_id=visit_id)
    return visit


def record_missed_visit(study: Study, code: str, visit_id: str, reason: str, by: str) -> Visit:
    """The visit did not take place, with the reason. Its window must have opened; a visit
    done with forms entered cannot be marked missed."""
    where = f"subject {code}, visit {visit_id}"
    reason = require_reason(reason, f"{where}: marking the visit missed")
    with audited_write(by, study) as trail:
        study = writable_study(study)
        subject = find_subject(study, code)
        require(study, by, Step.RECORD_VISIT, subject.site)
        plan = protocol_visit(study.protocol(), code, visit_id)
        if subject.status == SubjectStatus.SCREENED:
            raise SubjectStateError(f"subject {code} has not consented: no visits before consent")
        window = visit_window(plan, subject.day0, subject.screened_on)
        if window.start is None:
            raise SubjectStateError(
                f"{where}: the visit has no window before day 0 (the first administration) "
                "is recorded, so it cannot be missed yet"
            )
        if window.start > latest_today():
            raise BadInput(
                f"{where}: its window opens on {window.start}; a visit cannot be missed before"
            )
        refuse_if_locked(subject, visit_id)
        visit = schedule_visit(trail, subject, window, "visit.opened")
        if visit.status == VisitStatus.MISSED:
            return visit
        forms = sorted(FormRecord.objects.filter(visit=visit).values_list("form", flat=True))
        if forms:
            raise VisitStateError(
                f"{where}: the visit has forms entered ({', '.join(forms)}), so it took place; "
                "it cannot be marked missed"
            )
        before = audited_state(visit)
        visit.status = VisitStatus.MISSED
        visit.actual_date = None
        visit.missed_reason = reason
        visit.save(update_fields=["status", "actual_date", "missed_reason"])
        trail.changed(visit, before, "visit.missed", reason)
        review_visit_window(trail, subject, visit, window, reason)
        data_changed(trail, subject, f"{where}: marked missed", visit_id=visit_id)
    return visit


def record_deviation(
    study: Study,
    code: str,
    *,
    kind: str,
    description: str,
    detected_on: dt.date,
    by: str,
    visit_id: str | None = None,
) -> Deviation:
    """A protocol deviation found by site staff or in data review, optionally at a visit.

    `kind` is a short code in lower case with underscores (e.g. `dosing_error`).
    """
    where = f"subject {code}, deviation"
    if not isinstance(kind, str) or not DEVIATION_KIND.fullmatch(kind):
        raise BadInput(
            f"{where}: kind {kind!r}; expected a code of lower-case letters, digits and _ "
            "starting with a letter, at most 40 characters (e.g. dosing_error)"
        )
    if not isinstance(description, str) or not description.strip():
        raise BadInput(f"{where}: a description of what happened is required")
    detected_on = checked_past_date(where, "detection date", detected_on)
    with audited_write(by, study) as trail:
        study = writable_study(study)
        subject = find_subject(study, code)
        require(study, by, Step.RECORD_DEVIATION, subject.site)
        if detected_on < subject.screened_on:
            raise BadInput(
                f"{where}: detection date {detected_on} is before screening ({subject.screened_on})"
            )
        visit = None
        if visit_id is not None:
            plan = protocol_visit(study.protocol(), code, visit_id)
            window = visit_window(plan, subject.day0, subject.screened_on)
            visit = schedule_visit(trail, subject, window, "visit.opened")
        deviation = Deviation.objects.create(
            subject=subject,
            visit=visit,
            kind=kind,
            description=description.strip(),
            detected_on=detected_on,
            automatic=False,
        )
        trail.created(deviation, "deviation.recorded")
    return deviation


# ---------------------------------------------------------------- shared with the other services


def checked_date(where: str, name: str, value: object) -> dt.date:
    """`value` if it is a calendar date (a datetime is not one), else BadInput."""
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise BadInput(f"{where}: {name} {value!r}; expected a date")
    return value


#: Where a calendar day begins first (the Line Islands, UTC+14).
EARLIEST_TIMEZONE = dt.timezone(dt.timedelta(hours=14))


def latest_today(now: dt.datetime | None = None) -> dt.date:
    """The latest calendar date anywhere at `now` (default: now). The store does not keep the
    sites' time zones, so a date is in the future only once it has not begun anywhere: at
    07:00 in Beijing (23:00 UTC the day before) the site's today is not refused."""
    return (now or timezone.now()).astimezone(EARLIEST_TIMEZONE).date()


def checked_past_date(where: str, name: str, value: object) -> dt.date:
    """`value` if it is a calendar date not after today anywhere (`latest_today`), else
    BadInput."""
    checked = checked_date(where, name, value)
    if checked > latest_today():
        raise BadInput(f"{where}: {name} {checked} is in the future")
    return checked


def protocol_visit(protocol: Protocol, code: str, visit_id: str) -> ProtocolVisit:
    """The protocol's visit `visit_id`, or BadInput naming the visits there are."""
    for visit in protocol.visits:
        if visit.id == visit_id:
            return visit
    known = ", ".join(visit.id for visit in protocol.visits)
    raise BadInput(f"subject {code}: no visit {visit_id!r} in the protocol ({known})")


def schedule_visit(trail: AuditTrail, subject: Subject, window: VisitWindow, action: str) -> Visit:
    """The subject's row for the visit, created if needed, its dates set from `window`."""
    return schedule_visits(trail, subject, [window], action)[0]


def schedule_visits(
    trail: AuditTrail, subject: Subject, windows: Sequence[VisitWindow], action: str
) -> list[Visit]:
    """The subject's rows for these visits, in the windows' order: read in one query, the
    missing ones created with their dates, the others' dates set from the windows.

    The audit head the transaction holds serializes every write, so a row found missing here
    cannot be created meanwhile by another writer.
    """
    rows = {
        visit.visit_id: visit
        for visit in subject.visits.filter(visit_id__in=[window.visit_id for window in windows])
    }
    created = Visit.objects.bulk_create(
        Visit(
            subject=subject,
            visit_id=window.visit_id,
            target_date=window.target,
            window_start=window.start,
            window_end=window.end,
        )
        for window in windows
        if window.visit_id not in rows
    )
    rows.update((visit.visit_id, visit) for visit in created)
    new = {visit.visit_id for visit in created}
    for window in windows:
        visit = rows[window.visit_id]
        dates = (window.target, window.start, window.end)
        if visit.visit_id in new:
            trail.created(visit, action)
        elif (visit.target_date, visit.window_start, visit.window_end) != dates:
            before = audited_state(visit)
            visit.target_date, visit.window_start, visit.window_end = dates
            visit.save(update_fields=["target_date", "window_start", "window_end"])
            trail.changed(visit, before, action)
    return [rows[window.visit_id] for window in windows]


def review_visit_window(
    trail: AuditTrail, subject: Subject, visit: Visit, window: VisitWindow, reason: str = ""
) -> None:
    """Keep the visit's automatic out-of-window deviation in step with its recorded date.

    A visit whose window is not known yet (a baseline visit before day 0) is reviewed again
    when the first administration schedules the calendar.
    """
    existing = visit.deviation_set.filter(
        kind=VISIT_OUT_OF_WINDOW, automatic=True, withdrawn_on__isnull=True
    ).first()
    if existing is not None:
        existing.subject = subject  # the audit trail names it; the visit's manager set the visit
    days = 0
    if visit.actual_date is not None and window.dated:
        days = window.days_outside(visit.actual_date)
    if days == 0:
        if existing is not None:
            _withdraw_deviation(trail, existing, reason)
        return
    early_or_late = "early" if days < 0 else "late"
    plural = "" if abs(days) == 1 else "s"
    description = (
        f"visit {window.visit_id} ({window.label}) on {visit.actual_date} is {abs(days)} "
        f"day{plural} {early_or_late}: window {window.describe()}"
    )
    if existing is None:
        deviation = Deviation.objects.create(
            subject=subject,
            visit=visit,
            kind=VISIT_OUT_OF_WINDOW,
            description=description,
            detected_on=trail.at.date(),
            automatic=True,
        )
        trail.created(deviation, "deviation.recorded", reason)
    elif existing.description != description:
        before = audited_state(existing)
        existing.description = description
        existing.detected_on = trail.at.date()
        existing.save(update_fields=["description", "detected_on"])
        trail.changed(existing, before, "deviation.revised", reason)


def _withdraw_deviation(trail: AuditTrail, deviation: Deviation, reason: str) -> None:
    """Mark an automatic deviation that no longer applies as withdrawn; it is never deleted."""
    before = audited_state(deviation)
    deviation.withdrawn_on = trail.at.date()
    deviation.save(update_fields=["withdrawn_on"])
    trail.changed(deviation, before, "deviation.withdrawn", reason)


def _check_visit_date(subject: Subject, plan: ProtocolVisit, visit_date: dt.date) -> None:
    where = f"subject {subject.code}, visit {plan.id}"
    if subject.status == SubjectStatus.SCREENED:
        raise SubjectStateError(
            f"subject {subject.code} has not consented: no visits before consent"
        )
    if visit_date < subject.screened_on:
        raise BadInput(
            f"{where}: visit date {visit_date} is before screening ({subject.screened_on})"
        )
    if plan.day <= 0:
        return
    if subject.status not in RANDOMIZED_STATUSES:
        raise SubjectStateError(
            f"subject {subject.code} is {subject.status}: visit {plan.id} comes after day 0 "
            "and needs randomization first"
        )
    if subject.day0 is None:
        raise SubjectStateError(
            f"{where}: the visit comes after day 0; record the first administration first"
        )
    if visit_date < subject.day0:
        raise BadInput(f"{where}: visit date {visit_date} is before day 0 ({subject.day0})")
