"""What the calendar shows: a subject's visits with their windows and status, and the serious
adverse events whose expedited report is outstanding.

Read side only, without permission checks: the API and views scope what a user may see.
Window dates come from the schedule core, so they are right whether or not a visit row exists.

`visit_state` is the one rule for how a visit is shown (the subject page, the subject matrix,
work lists); `subject_calendar` applies it to every visit of one subject.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from django.db.models import QuerySet

from trialdesk.errors import BadInput
from trialdesk.schedule import CalendarStatus, VisitWindow, visit_calendar, visit_status
from trialdesk.store.lifecycle import RANDOMIZED_STATUSES
from trialdesk.store.models import AdverseEvent, FormRecord, Study, Subject, VisitStatus


class VisitState(StrEnum):
    """How a visit is shown: `CalendarStatus` with "scheduled" told apart by whether the visit
    has dates yet."""

    NOT_SCHEDULED = "not_scheduled"  # no dates yet (day 0, or the screening date, unknown)
    UPCOMING = "upcoming"  # dated, its window has not opened
    DUE = "due"  # its window is open (or, screening and baseline, forms still due)
    OVERDUE = "overdue"  # its window has closed, neither done nor marked missed
    DONE = "done"
    MISSED = "missed"


class FormState(StrEnum):
    """Where one form of a visit stands for the user looking at it."""

    NONE = "none"  # nothing entered
    DRAFT = "draft"  # only the user's own unsaved draft (drafts are never shown to others)
    SAVED = "saved"  # saved, not marked complete
    COMPLETE = "complete"  # marked complete (`FormRecord.completed_at`)


def visit_state(
    window: VisitWindow,
    *,
    actual_date: dt.date | None,
    missed: bool,
    forms_complete: bool,
    randomized: bool,
    today: dt.date,
) -> VisitState:
    """How the visit of `window` is shown on `today`.

    - `window`: `trialdesk.schedule.visit_window(plan, subject.day0, subject.screened_on)`;
    - `actual_date`, `missed`: the visit row's date and whether its status is missed (None,
      False without a row);
    - `forms_complete`: every form the visit collects is marked complete (see
      `all_complete`);
    - `randomized`: the subject's status is one of `RANDOMIZED_STATUSES`.

    Screening and baseline visits (day <= 0) are done when their forms are complete and never
    overdue after randomization; other visits follow their window (`visit_status`).
    """
    status = visit_status(
        window.start,
        window.end,
        actual_date,
        missed,
        today,
        up_to_day0=window.day <= 0,
        forms_complete=forms_complete,
        randomized=randomized,
    )
    if status is CalendarStatus.SCHEDULED:
        return VisitState.UPCOMING if window.dated else VisitState.NOT_SCHEDULED
    return VisitState(status.value)


def all_complete(planned: Iterable[str], completed: Iterable[str]) -> bool:
    """True if the visit collects forms and every one is among `completed`."""
    planned = tuple(planned)
    return bool(planned) and set(planned) <= set(completed)


def form_state(saved: bool, completed: bool, drafted: bool) -> FormState:
    """A form's state from its record (`saved`, `completed`) and the user's own draft."""
    if completed:
        return FormState.COMPLETE
    if saved:
        return FormState.SAVED
    return FormState.DRAFT if drafted else FormState.NONE


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
    #: The entered forms marked complete, in protocol order.
    completed_forms: tuple[str, ...] = ()
    #: How the visit is shown (`visit_state`).
    state: VisitState = VisitState.NOT_SCHEDULED


def subject_calendar(subject: Subject, today: dt.date) -> list[CalendarEntry]:
    """Every protocol visit of the subject, in protocol order, as it stands on `today`."""
    protocol = subject.study.protocol()
    visits = {visit.visit_id: visit for visit in subject.visits.all()}
    entered: dict[str, set[str]] = defaultdict(set)
    completed: dict[str, set[str]] = defaultdict(set)
    for visit_id, form, completed_at in FormRecord.objects.filter(subject=subject).values_list(
        "visit__visit_id", "form", "completed_at"
    ):
        entered[visit_id].add(form)
        if completed_at is not None:
            completed[visit_id].add(form)
    randomized = subject.status in RANDOMIZED_STATUSES
    windows = visit_calendar(protocol.visits, subject.day0, subject.screened_on)
    entries = []
    for plan, window in zip(protocol.visits, windows, strict=True):
        visit = visits.get(plan.id)
        actual = visit.actual_date if visit else None
        missed = visit is not None and visit.status == VisitStatus.MISSED
        state = visit_state(
            window,
            actual_date=actual,
            missed=missed,
            forms_complete=all_complete(plan.forms, completed[plan.id]),
            randomized=randomized,
            today=today,
        )
        entries.append(
            CalendarEntry(
                visit_id=plan.id,
                label=plan.label,
                day=plan.day,
                target_date=window.target,
                window_start=window.start,
                window_end=window.end,
                status=_status_of(state),
                actual_date=actual,
                missed_reason=visit.missed_reason if missed else "",
                planned_forms=tuple(plan.forms),
                entered_forms=tuple(form for form in plan.forms if form in entered[plan.id]),
                completed_forms=tuple(form for form in plan.forms if form in completed[plan.id]),
                state=state,
            )
        )
    return entries


def _status_of(state: VisitState) -> CalendarStatus:
    if state in (VisitState.NOT_SCHEDULED, VisitState.UPCOMING):
        return CalendarStatus.SCHEDULED
    return CalendarStatus(state.value)


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
