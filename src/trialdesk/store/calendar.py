"""What the calendar shows: a subject's visits with their windows and status, and the serious
adverse events whose expedited report is outstanding.

Read side only, without permission checks: the API and views scope what a user may see.
Window dates come from the schedule core, so they are right whether or not a visit row exists.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import QuerySet

from trialdesk.errors import BadInput
from trialdesk.schedule import CalendarStatus, visit_calendar, visit_status
from trialdesk.store.models import AdverseEvent, FormRecord, Study, Subject, VisitStatus


@dataclass(frozen=True)
class CalendarEntry:
    """One protocol visit of a subject on the calendar."""

    visit_id: str
    label: str
    day: int
    target_date: dt.date | None
    window_start: dt.date | None
    window_end: dt.date | None
    status: CalendarStatus
    actual_date: dt.date | None
    #: Why the visit did not take place ("" unless missed).
    missed_reason: str
    #: The forms the protocol collects at the visit, and those with a record, in that order.
    planned_forms: tuple[str, ...]
    entered_forms: tuple[str, ...]


def subject_calendar(subject: Subject, today: dt.date) -> list[CalendarEntry]:
    """Every protocol visit of the subject, in protocol order, as it stands on `today`."""
    protocol = subject.study.protocol()
    visits = {visit.visit_id: visit for visit in subject.visits.all()}
    entered: dict[str, set[str]] = defaultdict(set)
    for visit_id, form in FormRecord.objects.filter(subject=subject).values_list(
        "visit__visit_id", "form"
    ):
        entered[visit_id].add(form)
    windows = visit_calendar(protocol.visits, subject.day0, subject.screened_on)
    entries = []
    for plan, window in zip(protocol.visits, windows, strict=True):
        visit = visits.get(plan.id)
        actual = visit.actual_date if visit else None
        missed = visit is not None and visit.status == VisitStatus.MISSED
        entries.append(
            CalendarEntry(
                visit_id=plan.id,
                label=plan.label,
                day=plan.day,
                target_date=window.target,
                window_start=window.start,
                window_end=window.end,
                status=visit_status(window.start, window.end, actual, missed, today),
                actual_date=actual,
                missed_reason=visit.missed_reason if missed else "",
                planned_forms=tuple(plan.forms),
                entered_forms=tuple(form for form in plan.forms if form in entered[plan.id]),
            )
        )
    return entries


def overdue_sae_reports(study: Study, now: dt.datetime) -> list[AdverseEvent]:
    """Serious adverse events not reported whose report was due before `now`, oldest first."""
    return list(
        _unreported(study).filter(report_due_at__lt=_aware(now)).order_by("report_due_at", "pk")
    )


def open_sae_reports(study: Study, now: dt.datetime) -> list[AdverseEvent]:
    """Serious adverse events not reported whose report is due at or after `now`, soonest
    first (with `overdue_sae_reports`, every outstanding report)."""
    return list(
        _unreported(study).filter(report_due_at__gte=_aware(now)).order_by("report_due_at", "pk")
    )


def _unreported(study: Study) -> QuerySet[AdverseEvent]:
    return AdverseEvent.objects.select_related("subject__site").filter(
        subject__study=study, report_due_at__isnull=False, reported_at__isnull=True
    )


def _aware(now: dt.datetime) -> dt.datetime:
    if now.utcoffset() is None:
        raise BadInput(f"now {now.isoformat()}: expected a timezone-aware date and time")
    return now
