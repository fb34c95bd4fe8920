"""The visit calendar core: windows from day 0 or from screening, days outside, statuses."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, timedelta

import pytest

from trialdesk.errors import BadInput
from trialdesk.protocol.model import Visit
from trialdesk.schedule import (
    CalendarStatus,
    VisitWindow,
    outside_window,
    visit_calendar,
    visit_status,
    visit_window,
)

SCREENING = Visit(id="SCR", label="Screening", day=-14, window_before=14, window_after=13)
BASELINE = Visit(id="D0", label="Baseline", day=0)
WEEK3 = Visit(id="W3", label="Week 3", day=21, window_before=3, window_after=3)
DAY30 = Visit(id="D30", label="Diary return", day=30, window_after=14)
VISITS = [SCREENING, BASELINE, WEEK3, DAY30]

SCREENED_ON = date(2024, 3, 1)
DAY0 = date(2024, 3, 10)


def test_visits_from_day0_have_target_and_window_from_day0() -> None:
    assert visit_window(WEEK3, DAY0, SCREENED_ON) == VisitWindow(
        "W3", "Week 3", 21, date(2024, 3, 31), date(2024, 3, 28), date(2024, 4, 3)
    )
    diary = visit_window(DAY30, DAY0, SCREENED_ON)
    assert (diary.target, diary.start, diary.end) == (
        date(2024, 4, 9),
        date(2024, 4, 9),
        date(2024, 4, 23),
    )


def test_the_day0_visit_is_on_day0_only() -> None:
    window = visit_window(BASELINE, DAY0, SCREENED_ON)
    assert (window.target, window.start, window.end) == (DAY0, DAY0, DAY0)


def test_the_screening_window_opens_on_the_screening_date_whatever_day0() -> None:
    # Screening at day -14, 14 days before and 13 after, screened on 2024-03-01: window
    # 03-01 .. 03-01 + 27 = 03-28, target 03-01 + 14 = 03-15, while day 0 is unknown or later.
    expected = (date(2024, 3, 15), date(2024, 3, 1), date(2024, 3, 28))
    for day0 in (None, date(2024, 3, 28), date(2024, 5, 1)):
        window = visit_window(SCREENING, day0, SCREENED_ON)
        assert (window.target, window.start, window.end) == expected
        assert (window.end - window.start).days == SCREENING.last_day - SCREENING.first_day


@pytest.mark.parametrize(
    ("day0", "target", "end"),
    [
        # Day 0 on 03-10, before both the target (03-15) and the end (03-28): both cut to 03-10.
        (date(2024, 3, 10), date(2024, 3, 10), date(2024, 3, 10)),
        # Day 0 on 03-20: the target 03-15 stays, the end 03-28 is cut to 03-20.
        (date(2024, 3, 20), date(2024, 3, 15), date(2024, 3, 20)),
        # Day 0 on 03-27, one day before the end: the end is 03-27.
        (date(2024, 3, 27), date(2024, 3, 15), date(2024, 3, 27)),
        # Screened and treated on the same day: a one-day window.
        (date(2024, 3, 1), date(2024, 3, 1), date(2024, 3, 1)),
    ],
)
def test_a_screening_window_never_ends_after_day0(day0: date, target: date, end: date) -> None:
    window = visit_window(SCREENING, day0, SCREENED_ON)
    assert (window.start, window.target, window.end) == (SCREENED_ON, target, end)
    assert outside_window(SCREENING, day0, day0 + timedelta(days=2), screened_on=SCREENED_ON) == 2


def test_without_day0_only_screening_is_dated() -> None:
    calendar = visit_calendar(VISITS, None, SCREENED_ON)
    assert [window.visit_id for window in calendar] == ["SCR", "D0", "W3", "D30"]
    assert [window.dated for window in calendar] == [True, False, False, False]
    assert all(window.target is None and window.end is None for window in calendar[1:])
    assert not visit_window(SCREENING, DAY0, None).dated


@pytest.mark.parametrize(
    ("actual", "days"),
    [
        (date(2024, 3, 27), -1),  # one day before the window opens
        (date(2024, 3, 28), 0),  # first day of the window
        (date(2024, 3, 31), 0),  # target
        (date(2024, 4, 3), 0),  # last day of the window
        (date(2024, 4, 4), 1),  # one day after it closes
        (date(2024, 3, 20), -8),
        (date(2024, 4, 13), 10),
    ],
)
def test_days_outside_the_window(actual: date, days: int) -> None:
    assert outside_window(WEEK3, DAY0, actual) == days
    assert visit_window(WEEK3, DAY0, SCREENED_ON).days_outside(actual) == days


@pytest.mark.parametrize(
    ("actual", "days"),
    [
        (date(2024, 3, 1), 0),
        (date(2024, 3, 28), 0),
        (date(2024, 3, 29), 1),
        (date(2024, 4, 10), 13),
    ],
)
def test_screening_days_outside_count_from_the_screening_date(actual: date, days: int) -> None:
    assert outside_window(SCREENING, None, actual, screened_on=SCREENED_ON) == days


@pytest.mark.parametrize(
    ("actual", "days"), [(date(2024, 3, 9), -1), (DAY0, 0), (date(2024, 3, 11), 1)]
)
def test_a_day0_window_has_no_slack(actual: date, days: int) -> None:
    assert outside_window(BASELINE, DAY0, actual) == days


def test_outside_window_needs_its_anchor() -> None:
    with pytest.raises(BadInput, match="visit W3: its window counts from day 0"):
        outside_window(WEEK3, None, DAY0)
    with pytest.raises(BadInput, match="visit SCR: its window counts from the screening date"):
        outside_window(SCREENING, DAY0, DAY0)
    with pytest.raises(BadInput, match="visit D0: no window yet"):
        visit_window(BASELINE, None, SCREENED_ON).days_outside(DAY0)


START, END = date(2024, 3, 28), date(2024, 4, 3)


@pytest.mark.parametrize(
    ("today", "status"),
    [
        (START - timedelta(days=1), CalendarStatus.SCHEDULED),
        (START, CalendarStatus.DUE),
        (END, CalendarStatus.DUE),
        (END + timedelta(days=1), CalendarStatus.OVERDUE),
        (END + timedelta(days=300), CalendarStatus.OVERDUE),
    ],
)
def test_status_of_a_visit_not_done(today: date, status: CalendarStatus) -> None:
    assert visit_status(START, END, None, False, today) is status


@pytest.mark.parametrize("today", [START - timedelta(days=30), START, END + timedelta(days=30)])
def test_done_and_missed_whatever_the_day(today: date) -> None:
    assert visit_status(START, END, date(2024, 3, 20), False, today) is CalendarStatus.DONE
    assert visit_status(START, END, None, True, today) is CalendarStatus.MISSED


def test_a_visit_without_dates_is_scheduled() -> None:
    assert visit_status(None, None, None, False, date(2030, 1, 1)) is CalendarStatus.SCHEDULED


@pytest.mark.parametrize("today", [END + timedelta(days=1), END + timedelta(days=400)])
def test_screening_and_baseline_are_not_overdue_after_randomization(today: date) -> None:
    # Before randomization a closed window is overdue, for a screening visit as for any.
    assert visit_status(START, END, None, False, today, up_to_day0=True) is CalendarStatus.OVERDUE
    after = {"up_to_day0": True, "randomized": True}
    assert visit_status(START, END, None, False, today, **after) is CalendarStatus.DUE
    # A later visit still is.
    later = {"up_to_day0": False, "randomized": True}
    assert visit_status(START, END, None, False, today, **later) is CalendarStatus.OVERDUE


def test_screening_and_baseline_are_done_when_their_forms_are() -> None:
    today = END + timedelta(days=1)
    done = {"up_to_day0": True, "forms_complete": True}
    assert visit_status(START, END, None, False, today, **done) is CalendarStatus.DONE
    assert visit_status(None, None, None, False, today, **done) is CalendarStatus.DONE
    # Complete forms alone do not make a later visit done: it needs its visit date.
    later = {"up_to_day0": False, "forms_complete": True}
    assert visit_status(START, END, None, False, today, **later) is CalendarStatus.OVERDUE
    # Missed stays missed.
    assert visit_status(START, END, None, True, today, **done) is CalendarStatus.MISSED


def test_the_core_imports_no_django() -> None:
    code = (
        "import sys, trialdesk.schedule; "
        "sys.exit(any(name.split('.')[0] == 'django' for name in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_a_screening_window_without_the_screening_date_says_so() -> None:
    window = visit_window(SCREENING, DAY0, None)
    assert window.anchor == "the screening date"
    with pytest.raises(BadInput, match=r"visit SCR: no window yet \(the screening date is not"):
        window.days_outside(SCREENED_ON)
