"""Issue 12's visit rules in the store (SQLite and PostgreSQL): screening and baseline visits
are done when their forms are, not overdue after randomization, and a screening window never
ends after day 0.

Dates by hand from tests/store/protocols/KNEE-TEST.yaml: screening (SCR, day -14, 14 days
before, 13 after) of a subject screened on 2024-03-01 runs 2024-03-01 .. 03-01 + 27 = 03-28,
target 03-01 + 14 = 03-15, until day 0 is known. With day 0 on 2024-03-10 it ends on 03-10
(target 03-10 too); D0 (day 0, no slack) is 03-10 .. 03-10; W3 (day 21, 3 before, 3 after) is
03-31 - 3 = 03-28 .. 03-31 + 3 = 04-03.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from trialdesk.schedule import visit_window
from trialdesk.store.calendar import (
    FormState,
    VisitState,
    all_complete,
    form_state,
    subject_calendar,
    visit_state,
)
from trialdesk.store.models import Deviation, Subject, Visit
from trialdesk.store.services import (
    randomize_subject,
    record_administration,
    record_visit,
    save_form,
)

from .conftest import SCREENING_FORMS

DAY0 = dt.date(2024, 3, 10)


def states(code: str, today: dt.date) -> dict[str, VisitState]:
    subject = Subject.objects.get(code=code)
    return {entry.visit_id: entry.state for entry in subject_calendar(subject, today)}


@pytest.mark.django_db
def test_screening_is_done_when_its_forms_are_complete(study: Any, eligible_subject: Any) -> None:
    code = eligible_subject()  # the three screening forms saved, none marked complete
    assert states(code, dt.date(2024, 3, 5))["SCR"] is VisitState.DUE
    for form, values in list(SCREENING_FORMS.items())[:2]:
        save_form(study, code, "SCR", form, values, "ines", complete=True)
    assert states(code, dt.date(2024, 3, 5))["SCR"] is VisitState.DUE  # kl_grade still open
    save_form(study, code, "SCR", "kl_grade", SCREENING_FORMS["kl_grade"], "ines", complete=True)
    subject = Subject.objects.get(code=code)
    [scr] = [e for e in subject_calendar(subject, dt.date(2024, 3, 5)) if e.visit_id == "SCR"]
    assert (scr.state, scr.status, scr.actual_date) == (VisitState.DONE, "done", None)
    assert scr.completed_forms == ("screening_history", "vitals", "kl_grade")
    # Long after its window (2024-03-28), still done: no visit date was needed.
    assert states(code, dt.date(2024, 6, 1))["SCR"] is VisitState.DONE


@pytest.mark.django_db
def test_screening_and_baseline_are_not_overdue_after_randomization(
    study: Any, eligible_subject: Any
) -> None:
    code = eligible_subject()
    april_15 = dt.date(2024, 4, 15)
    # Not randomized on 04-15, after the screening window's end (03-28): overdue.
    assert states(code, april_15)["SCR"] is VisitState.OVERDUE
    assert states(code, dt.date(2024, 3, 28))["SCR"] is VisitState.DUE  # its last day
    randomize_subject(study, code, "ines")
    assert states(code, april_15)["SCR"] is VisitState.DUE
    record_administration(study, code, "C1", DAY0, "pia")
    on_april_15 = states(code, april_15)
    assert on_april_15 == {
        "SCR": VisitState.DUE,  # forms still due, never late after randomization
        "D0": VisitState.DUE,  # its one day (03-10) is past, yet not overdue
        "W3": VisitState.OVERDUE,  # 03-28 .. 04-03 closed, after day 0: overdue
        "W12": VisitState.UPCOMING,  # 84 - 7 = day 77: opens 2024-05-26
    }


@pytest.mark.django_db
def test_the_stored_screening_window_ends_on_day0(study: Any, eligible_subject: Any) -> None:
    code = eligible_subject()
    scr = Visit.objects.get(subject__code=code, visit_id="SCR")  # opened by the forms
    assert (scr.window_start, scr.target_date, scr.window_end) == (
        dt.date(2024, 3, 1),
        dt.date(2024, 3, 15),
        dt.date(2024, 3, 28),
    )
    randomize_subject(study, code, "ines")
    record_administration(study, code, "C1", DAY0, "pia")
    scr.refresh_from_db()
    assert (scr.window_start, scr.target_date, scr.window_end) == (
        dt.date(2024, 3, 1),
        DAY0,
        DAY0,
    )
    # A screening date two days after day 0 (03-12) is now outside: 2 days late.
    record_visit(study, code, "SCR", dt.date(2024, 3, 12), "colin")
    [deviation] = Deviation.objects.filter(subject__code=code, kind="visit_out_of_window")
    assert deviation.description == (
        "visit SCR (Screening) on 2024-03-12 is 2 days late: "
        "window 2024-03-01..2024-03-10 (target 2024-03-10)"
    )
    # On day 0 itself it is inside, and the deviation is withdrawn.
    record_visit(study, code, "SCR", DAY0, "colin", reason="screening date typed wrong")
    deviation.refresh_from_db()
    assert deviation.withdrawn_on is not None


@pytest.mark.django_db
def test_visits_without_dates_are_not_scheduled_yet(study: Any, eligible_subject: Any) -> None:
    code = eligible_subject()
    before = states(code, dt.date(2024, 3, 5))
    assert (before["D0"], before["W3"]) == (VisitState.NOT_SCHEDULED, VisitState.NOT_SCHEDULED)
    randomize_subject(study, code, "ines")
    record_administration(study, code, "C1", DAY0, "pia")
    assert states(code, dt.date(2024, 3, 27))["W3"] is VisitState.UPCOMING  # opens 03-28
    assert states(code, dt.date(2024, 3, 28))["W3"] is VisitState.DUE
    record_visit(study, code, "W3", dt.date(2024, 3, 30), "colin")
    assert states(code, dt.date(2024, 5, 1))["W3"] is VisitState.DONE


def test_visit_state_is_the_rule_other_pages_reuse() -> None:
    from trialdesk.protocol.model import Visit as ProtocolVisit

    screening = ProtocolVisit(
        id="SCR", label="Screening", day=-14, window_before=14, window_after=13
    )
    window = visit_window(screening, None, dt.date(2024, 3, 1))
    late = {"actual_date": None, "missed": False, "today": dt.date(2024, 4, 1)}
    assert visit_state(window, forms_complete=False, randomized=False, **late) is VisitState.OVERDUE
    assert visit_state(window, forms_complete=False, randomized=True, **late) is VisitState.DUE
    assert visit_state(window, forms_complete=True, randomized=False, **late) is VisitState.DONE
    assert not all_complete([], [])  # a visit without forms is not done by its forms
    assert all_complete(["a", "b"], ["b", "a", "c"])
    assert not all_complete(["a", "b"], ["a"])
    assert [
        form_state(saved=False, completed=False, drafted=False),
        form_state(saved=False, completed=False, drafted=True),
        form_state(saved=True, completed=False, drafted=True),
        form_state(saved=True, completed=True, drafted=False),
    ] == [FormState.NONE, FormState.DRAFT, FormState.SAVED, FormState.COMPLETE]
