"""Visits in the store: recording dates, automatic out-of-window deviations and their review,
missed visits, manual deviations and the subject's calendar (on SQLite and PostgreSQL).

KNEE-TEST with day 0 on 2024-03-10: W3 is due 2024-03-28..2024-04-03 (target 2024-03-31),
W12 2024-05-26..2024-06-09; screening (2024-03-01) runs 2024-03-01..2024-03-28 until day 0
is known, then 2024-03-01..2024-03-10 (a screening window never ends after day 0).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from trialdesk.errors import BadInput
from trialdesk.schedule import CalendarStatus
from trialdesk.store.audit import verify_audit_chain
from trialdesk.store.calendar import subject_calendar
from trialdesk.store.errors import (
    NotPermitted,
    ReasonRequired,
    StudyLocked,
    SubjectStateError,
    VisitStateError,
)
from trialdesk.store.models import AuditEvent, Deviation, Subject, Visit
from trialdesk.store.services import (
    add_user,
    lock_study,
    randomize_subject,
    record_administration,
    record_deviation,
    record_missed_visit,
    record_visit,
    save_form,
    screen_subject,
)

from .conftest import OPERATOR, WOMAC_ALL_ONES, first_future_date

DAY0 = dt.date(2024, 3, 10)


def treated(study: Any, eligible_subject: Any, day0: dt.date = DAY0) -> str:
    code = eligible_subject()
    randomize_subject(study, code, "ines")
    record_administration(study, code, "C1", day0, "pia")
    return code


def out_of_window(code: str) -> list[Deviation]:
    return list(
        Deviation.objects.filter(
            subject__code=code, kind="visit_out_of_window", withdrawn_on__isnull=True
        ).order_by("pk")
    )


def visit(code: str, visit_id: str) -> Visit:
    return Visit.objects.get(subject__code=code, visit_id=visit_id)


def audit_ok() -> None:
    verification = verify_audit_chain()
    assert verification.ok, verification.problems


@pytest.mark.django_db
@pytest.mark.parametrize("visit_date", [dt.date(2024, 3, 28), dt.date(2024, 4, 3)])
def test_a_date_inside_the_window_is_done_without_deviation(
    study: Any, eligible_subject: Any, visit_date: dt.date
) -> None:
    code = treated(study, eligible_subject)
    recorded = record_visit(study, code, "W3", visit_date, "ada")
    assert (recorded.status, recorded.actual_date) == ("done", visit_date)
    assert (recorded.target_date, recorded.window_start, recorded.window_end) == (
        dt.date(2024, 3, 31),
        dt.date(2024, 3, 28),
        dt.date(2024, 4, 3),
    )
    assert out_of_window(code) == []
    audit_ok()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("visit_date", "days"),
    [(dt.date(2024, 3, 27), "1 day early"), (dt.date(2024, 4, 6), "3 days late")],
)
def test_a_date_outside_the_window_records_an_automatic_deviation(
    study: Any, eligible_subject: Any, visit_date: dt.date, days: str
) -> None:
    code = treated(study, eligible_subject)
    record_visit(study, code, "W3", visit_date, "colin")
    [deviation] = out_of_window(code)
    assert deviation.automatic and deviation.visit == visit(code, "W3")
    assert deviation.description == (
        f"visit W3 (Week 3, treatment cycle 2) on {visit_date} is {days}: "
        "window 2024-03-28..2024-04-03 (target 2024-03-31)"
    )
    assert deviation.detected_on == timezone.now().date()
    assert AuditEvent.objects.filter(action="deviation.recorded", subject=code).exists()
    audit_ok()


@pytest.mark.django_db
def test_a_corrected_date_reviews_the_deviation(study: Any, eligible_subject: Any) -> None:
    code = treated(study, eligible_subject)
    record_visit(study, code, "W3", dt.date(2024, 4, 6), "colin")
    events = AuditEvent.objects.count()
    record_visit(study, code, "W3", dt.date(2024, 4, 6), "colin")  # the same date again
    assert AuditEvent.objects.count() == events
    with pytest.raises(ReasonRequired, match="visit W3: change of the date 2024-04-06"):
        record_visit(study, code, "W3", dt.date(2024, 4, 8), "colin")
    assert visit(code, "W3").actual_date == dt.date(2024, 4, 6)

    record_visit(study, code, "W3", dt.date(2024, 4, 8), "colin", reason="wrong month")
    [deviation] = out_of_window(code)
    assert "on 2024-04-08 is 5 days late" in deviation.description

    record_visit(study, code, "W3", dt.date(2024, 4, 1), "colin", reason="diary date")
    assert out_of_window(code) == []
    [withdrawn] = Deviation.objects.filter(subject__code=code, withdrawn_on__isnull=False)
    assert "on 2024-04-08 is 5 days late" in withdrawn.description  # kept, not deleted
    [event] = AuditEvent.objects.filter(action="deviation.withdrawn", subject=code)
    assert (event.field, event.reason) == ("withdrawn_on", "diary date")

    record_visit(study, code, "W3", dt.date(2024, 3, 25), "colin", reason="source checked")
    [deviation] = out_of_window(code)
    assert "on 2024-03-25 is 3 days early" in deviation.description
    audit_ok()


@pytest.mark.django_db
def test_bad_visit_dates_are_refused_and_change_nothing(
    study: Any, eligible_subject: Any, consented_subject: Any
) -> None:
    code = treated(study, eligible_subject)
    eligible = eligible_subject()
    randomized = eligible_subject()
    randomize_subject(study, randomized, "ines")
    screened = screen_subject(
        study,
        "01",
        year_of_birth=1960,
        age=63,
        sex="male",
        by="ines",
        screened_on=dt.date(2024, 3, 1),
    )
    tomorrow = first_future_date()
    events = AuditEvent.objects.count()
    refusals = [
        (code, "W3", tomorrow, BadInput, f"visit W3: visit date {tomorrow} is in the future"),
        (code, "W3", "2024-03-31", BadInput, "visit W3: visit date '2024-03-31'; expected a date"),
        (code, "SCR", dt.date(2024, 2, 29), BadInput, "is before screening \\(2024-03-01\\)"),
        (code, "W4", DAY0, BadInput, "no visit 'W4' in the protocol \\(SCR, D0, W3, W12\\)"),
        (code, "W3", dt.date(2024, 3, 9), BadInput, "is before day 0 \\(2024-03-10\\)"),
        (eligible, "W3", DAY0, SubjectStateError, "is eligible: visit W3 comes after day 0"),
        (randomized, "W12", DAY0, SubjectStateError, "record the first administration first"),
        (screened.code, "SCR", screened.screened_on, SubjectStateError, "has not consented"),
    ]
    for subject, visit_id, visit_date, error, message in refusals:
        with pytest.raises(error, match=message):
            record_visit(study, subject, visit_id, visit_date, "colin")
    assert AuditEvent.objects.count() == events
    assert not Visit.objects.filter(actual_date__isnull=False).exists()


@pytest.mark.django_db
def test_screening_and_baseline_before_day0(study: Any, eligible_subject: Any) -> None:
    code = eligible_subject()
    record_visit(study, code, "SCR", dt.date(2024, 3, 29), "colin")  # window closed 03-28
    [late] = out_of_window(code)
    assert "visit SCR (Screening) on 2024-03-29 is 1 day late" in late.description
    record_visit(study, code, "D0", dt.date(2024, 3, 9), "colin")  # day 0 not known yet
    assert len(out_of_window(code)) == 1
    randomize_subject(study, code, "ines")
    record_administration(study, code, "C1", DAY0, "pia")
    early = out_of_window(code)[1]
    assert early.visit == visit(code, "D0")
    assert "visit D0 (Baseline and treatment cycle 1) on 2024-03-09 is 1 day early" in (
        early.description
    )
    # A screening window never ends after day 0: 2024-03-01 + 14 + 13 = 03-28 is cut back to
    # day 0 (03-10), target 03-15 with it, and the late screening visit's deviation is revised
    # (03-29 - 03-10 = 19 days late).
    scr = visit(code, "SCR")
    assert (scr.window_start, scr.target_date, scr.window_end) == (
        dt.date(2024, 3, 1),
        dt.date(2024, 3, 10),
        dt.date(2024, 3, 10),
    )
    late = out_of_window(code)[0]
    assert late.visit == scr
    assert late.description == (
        "visit SCR (Screening) on 2024-03-29 is 19 days late: "
        "window 2024-03-01..2024-03-10 (target 2024-03-10)"
    )
    audit_ok()


@pytest.mark.django_db
def test_forms_after_day0_need_the_visit_date(study: Any, eligible_subject: Any) -> None:
    code = treated(study, eligible_subject)
    with pytest.raises(BadInput, match="visit W3: no visit date; record the visit date first"):
        save_form(study, code, "W3", "womac", WOMAC_ALL_ONES, "ada")
    record_visit(study, code, "W3", dt.date(2024, 3, 31), "ada")
    save_form(study, code, "W3", "womac", WOMAC_ALL_ONES, "ada")
    record_missed_visit(study, code, "W12", "patient in hospital", "colin")
    with pytest.raises(BadInput, match="visit W12: no visit date \\(it is marked missed\\)"):
        save_form(study, code, "W12", "womac", WOMAC_ALL_ONES, "ada")


@pytest.mark.django_db
def test_missed_visits(study: Any, eligible_subject: Any) -> None:
    code = treated(study, eligible_subject)
    with pytest.raises(ReasonRequired, match="visit W3: marking the visit missed"):
        record_missed_visit(study, code, "W3", " ", "colin")
    missed = record_missed_visit(study, code, "W3", "patient travelling", "colin")
    assert (missed.status, missed.actual_date) == ("missed", None)
    event = AuditEvent.objects.get(action="visit.missed", field="status")
    assert (event.new_value, event.reason) == ('"missed"', "patient travelling")
    subject = Subject.objects.get(code=code)
    [entry] = [e for e in subject_calendar(subject, dt.date(2024, 5, 1)) if e.visit_id == "W3"]
    assert (entry.status, entry.missed_reason) == ("missed", "patient travelling")

    with pytest.raises(ReasonRequired, match="a visit marked missed recorded as done"):
        record_visit(study, code, "W3", dt.date(2024, 4, 6), "colin")
    record_visit(study, code, "W3", dt.date(2024, 4, 6), "colin", reason="came late after all")
    assert len(out_of_window(code)) == 1
    assert visit(code, "W3").missed_reason == ""
    # Done without forms: marking it missed is a correction, and its deviation goes.
    record_missed_visit(study, code, "W3", "visit date was entered for the wrong patient", "ines")
    assert out_of_window(code) == []

    record_visit(study, code, "W12", dt.date(2024, 6, 1), "ada")
    save_form(study, code, "W12", "womac", WOMAC_ALL_ONES, "ada")
    # A conflict with the visit's state (the API's 409), not bad input.
    with pytest.raises(VisitStateError, match="has forms entered \\(womac\\), so it took place"):
        record_missed_visit(study, code, "W12", "no show", "colin")
    assert visit(code, "W12").status == "done"
    audit_ok()


@pytest.mark.django_db
def test_a_visit_cannot_be_missed_before_its_window(study: Any, eligible_subject: Any) -> None:
    today = timezone.now().date()
    code = treated(study, eligible_subject, day0=today)
    with pytest.raises(
        BadInput, match=f"visit W12: its window opens on {today + dt.timedelta(77)}"
    ):
        record_missed_visit(study, code, "W12", "patient moved", "colin")
    before_day0 = eligible_subject()
    with pytest.raises(SubjectStateError, match="no window before day 0"):
        record_missed_visit(study, before_day0, "W3", "patient moved", "colin")


@pytest.mark.django_db
def test_manual_deviations(study: Any, eligible_subject: Any) -> None:
    code = treated(study, eligible_subject)
    add_user(study, "dora", "data_manager", OPERATOR)
    deviation = record_deviation(
        study,
        code,
        kind="dosing_error",
        description="  injected 2 ml instead of 3 ml  ",
        detected_on=dt.date(2024, 3, 12),
        by="dora",
        visit_id="D0",
    )
    assert (deviation.kind, deviation.description, deviation.automatic) == (
        "dosing_error",
        "injected 2 ml instead of 3 ml",
        False,
    )
    assert deviation.visit == visit(code, "D0")
    events = AuditEvent.objects.count()
    tomorrow = first_future_date()
    refusals = [
        ({"kind": "Dosing error"}, "kind 'Dosing error'; expected a code of lower-case"),
        ({"kind": "x" * 41}, "at most 40 characters"),
        ({"description": " "}, "a description of what happened is required"),
        ({"detected_on": tomorrow}, f"detection date {tomorrow} is in the future"),
        ({"detected_on": dt.date(2024, 2, 1)}, "is before screening \\(2024-03-01\\)"),
        ({"visit_id": "W4"}, "no visit 'W4' in the protocol"),
    ]
    for change, message in refusals:
        arguments = {
            "kind": "consent",
            "description": "consent form version 1 used",
            "detected_on": dt.date(2024, 3, 12),
            "by": "ines",
            **change,
        }
        with pytest.raises(BadInput, match=message):
            record_deviation(study, code, **arguments)
    with pytest.raises(NotPermitted, match="mona may not record protocol deviations"):
        record_deviation(study, code, kind="consent", description="x", detected_on=DAY0, by="mona")
    assert AuditEvent.objects.count() == events
    audit_ok()


@pytest.mark.django_db
def test_roles_and_lock(study: Any, eligible_subject: Any) -> None:
    code = treated(study, eligible_subject)
    with pytest.raises(NotPermitted, match="mona may not record visits"):
        record_visit(study, code, "W3", dt.date(2024, 3, 31), "mona")
    with pytest.raises(NotPermitted, match="pia may not record visits"):
        record_missed_visit(study, code, "W3", "no show", "pia")
    lock_study(study, OPERATOR, override_reason="lock test: casebook not signed")
    with pytest.raises(StudyLocked):
        record_visit(study, code, "W3", dt.date(2024, 3, 31), "ada")
    assert visit(code, "W3").actual_date is None


@pytest.mark.django_db
def test_the_subject_calendar(study: Any, eligible_subject: Any) -> None:
    code = eligible_subject()
    subject = Subject.objects.get(code=code)
    before = subject_calendar(subject, dt.date(2024, 3, 5))
    assert [(e.visit_id, e.status) for e in before] == [
        ("SCR", "due"),  # screening forms alone do not make the visit done
        ("D0", "scheduled"),  # no dates before day 0
        ("W3", "scheduled"),
        ("W12", "scheduled"),
    ]
    assert (before[0].window_start, before[0].window_end) == (
        dt.date(2024, 3, 1),
        dt.date(2024, 3, 28),
    )
    assert (before[1].target_date, before[1].window_start) == (None, None)
    assert before[0].entered_forms == ("screening_history", "vitals", "kl_grade")

    randomize_subject(study, code, "ines")
    record_administration(study, code, "C1", DAY0, "pia")
    record_visit(study, code, "SCR", dt.date(2024, 3, 1), "colin")
    record_missed_visit(study, code, "D0", "assessments forgotten", "colin")
    subject.refresh_from_db()
    on_april_1 = subject_calendar(subject, dt.date(2024, 4, 1))
    assert [(e.visit_id, e.status, e.actual_date) for e in on_april_1] == [
        ("SCR", CalendarStatus.DONE, dt.date(2024, 3, 1)),
        ("D0", CalendarStatus.MISSED, None),
        ("W3", CalendarStatus.DUE, None),
        ("W12", CalendarStatus.SCHEDULED, None),
    ]
    w3 = on_april_1[2]
    assert (w3.label, w3.target_date, w3.window_start, w3.window_end) == (
        "Week 3, treatment cycle 2",
        dt.date(2024, 3, 31),
        dt.date(2024, 3, 28),
        dt.date(2024, 4, 3),
    )
    assert (w3.planned_forms, w3.entered_forms) == (("womac",), ())
    statuses = {
        day: subject_calendar(subject, day)[2].status
        for day in (dt.date(2024, 3, 27), dt.date(2024, 4, 3), dt.date(2024, 4, 4))
    }
    assert statuses == {
        dt.date(2024, 3, 27): CalendarStatus.SCHEDULED,
        dt.date(2024, 4, 3): CalendarStatus.DUE,
        dt.date(2024, 4, 4): CalendarStatus.OVERDUE,
    }
    record_visit(study, code, "W12", dt.date(2024, 6, 3), "ada")
    save_form(study, code, "W12", "kl_grade", {"index_knee": 2, "contralateral_knee": 1}, "ada")
    w12 = subject_calendar(subject, dt.date(2024, 6, 3))[3]
    assert (w12.status, w12.planned_forms, w12.entered_forms) == (
        CalendarStatus.DONE,
        ("womac", "kl_grade"),
        ("kl_grade",),
    )
    audit_ok()
