"""The pain diary's entry windows as UTC instants (`trialdesk.schedule.diary`), hand-computed.

STEMJOINT (NCT05933434.yaml, `patient_reported`): the pain diary daily on days 1-30, open
18:00-23:59 local time (23:59 inclusive: closing at midnight), 60 minutes' grace.
Europe/Copenhagen is UTC+1 (CET) in winter and UTC+2 (CEST) in summer; in 2026 the clocks go
forward on 29 March at 02:00 CET (to 03:00 CEST) and back on 25 October at 03:00 CEST (to
02:00 CET) (EU Directive 2000/84/EC: the last Sundays of March and October, at 01:00 UTC).
So an evening's window is 17:00-23:00 UTC in winter, answers late until 00:00 UTC; in summer
16:00-22:00 UTC, late until 23:00 UTC.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from trialdesk.protocol import load_protocol
from trialdesk.protocol.patient_reports import PatientSchedule
from trialdesk.schedule.diary import (
    Compliance,
    Entry,
    EntryState,
    compliance,
    entries,
    entry_state,
    missed_in_a_row,
)

COPENHAGEN = ZoneInfo("Europe/Copenhagen")
S = EntryState


def utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=dt.UTC)


def pain_diary() -> PatientSchedule:
    (schedule,) = load_protocol("NCT05933434").patient_reported
    return schedule


def entry_on(day0: dt.date, day: int, schedule: PatientSchedule | None = None) -> Entry:
    found = [e for e in entries(schedule or pain_diary(), day0, COPENHAGEN) if e.day == day]
    assert len(found) == 1
    return found[0]


def test_stemjoint_schedule_is_days_1_to_30_from_18_to_23_59_with_an_hour_of_grace() -> None:
    schedule = pain_diary()
    assert (schedule.kind, schedule.first_day, schedule.last_day) == ("daily", 1, 30)
    assert (schedule.opens, schedule.closes, schedule.grace_minutes) == ("18:00", "23:59", 60)
    assert (schedule.form, schedule.visit) == ("pain_diary", "D30")
    days = entries(schedule, dt.date(2026, 1, 10), COPENHAGEN)
    assert [e.day for e in days] == list(range(1, 31))
    # Day 1 is the day after day 0; day 30 is 30 days after it.
    assert days[0].local_date == dt.date(2026, 1, 11)
    assert days[-1].local_date == dt.date(2026, 2, 9)
    assert all(e.schedule == "pain_diary" for e in days)


def test_winter_window_is_17_to_23_utc_late_until_midnight_utc() -> None:
    entry = entry_on(dt.date(2026, 1, 10), 1)
    assert entry.local_date == dt.date(2026, 1, 11)
    assert entry.opens_at == utc(2026, 1, 11, 17, 0)
    assert entry.closes_at == utc(2026, 1, 11, 23, 0)
    assert entry.late_until == utc(2026, 1, 12, 0, 0)


def test_summer_window_is_16_to_22_utc_late_until_23_utc() -> None:
    entry = entry_on(dt.date(2026, 6, 30), 1)
    assert entry.local_date == dt.date(2026, 7, 1)
    assert entry.opens_at == utc(2026, 7, 1, 16, 0)
    assert entry.closes_at == utc(2026, 7, 1, 22, 0)
    assert entry.late_until == utc(2026, 7, 1, 23, 0)


def test_the_night_the_clocks_go_forward() -> None:
    # Day 0 on 20 March: day 8 is Saturday 28 March (CET), day 9 Sunday 29 March (CEST).
    day0 = dt.date(2026, 3, 20)
    saturday, sunday = entry_on(day0, 8), entry_on(day0, 9)
    assert (saturday.local_date, sunday.local_date) == (dt.date(2026, 3, 28), dt.date(2026, 3, 29))
    assert (saturday.opens_at, saturday.closes_at) == (utc(2026, 3, 28, 17), utc(2026, 3, 28, 23))
    # The grace runs to 01:00 CET on the 29th, an hour before the clocks change.
    assert saturday.late_until == utc(2026, 3, 29, 0)
    assert (sunday.opens_at, sunday.closes_at) == (utc(2026, 3, 29, 16), utc(2026, 3, 29, 22))
    assert sunday.late_until == utc(2026, 3, 29, 23)
    # Each window stays 6 hours long in UTC: the change falls in neither.
    assert saturday.closes_at - saturday.opens_at == dt.timedelta(hours=6)
    assert sunday.closes_at - sunday.opens_at == dt.timedelta(hours=6)


def test_the_night_the_clocks_go_back() -> None:
    # Day 0 on 15 October: day 9 is Saturday 24 October (CEST), day 10 Sunday 25 (CET).
    day0 = dt.date(2026, 10, 15)
    saturday, sunday = entry_on(day0, 9), entry_on(day0, 10)
    assert (saturday.local_date, sunday.local_date) == (
        dt.date(2026, 10, 24),
        dt.date(2026, 10, 25),
    )
    assert (saturday.opens_at, saturday.closes_at) == (utc(2026, 10, 24, 16), utc(2026, 10, 24, 22))
    assert saturday.late_until == utc(2026, 10, 24, 23)
    assert (sunday.opens_at, sunday.closes_at) == (utc(2026, 10, 25, 17), utc(2026, 10, 25, 23))
    assert sunday.late_until == utc(2026, 10, 26, 0)


def night_schedule(opens: str, closes: str) -> PatientSchedule:
    return PatientSchedule(
        id="night",
        form="pain_diary",
        visit="D30",
        kind="daily",
        first_day=1,
        last_day=30,
        item="day{day}",
        opens=opens,
        closes=closes,
        grace_minutes=0,
    )


def test_a_local_time_skipped_by_the_clocks_reads_as_the_wall_time_before_the_change() -> None:
    # 02:30 on 29 March does not exist in Copenhagen; with the offset before the change
    # (CET, +01:00) it is 01:30 UTC (PEP 495, fold=0). 04:00 that morning is CEST: 02:00 UTC.
    entry = entry_on(dt.date(2026, 3, 20), 9, night_schedule("02:30", "03:59"))
    assert entry.opens_at == utc(2026, 3, 29, 1, 30)
    assert entry.closes_at == utc(2026, 3, 29, 2, 0)


def test_a_local_time_repeated_by_the_clocks_is_its_first_occurrence() -> None:
    # 02:30 on 25 October happens twice: first in CEST (00:30 UTC), then in CET (01:30 UTC);
    # fold=0 is the first. 03:59 is CET only: 02:59 UTC, closing at 03:00 UTC.
    entry = entry_on(dt.date(2026, 10, 15), 10, night_schedule("02:30", "03:59"))
    assert entry.opens_at == utc(2026, 10, 25, 0, 30)
    assert entry.closes_at == utc(2026, 10, 25, 3, 0)


def test_another_zone_has_its_own_evening() -> None:
    # Shanghai is UTC+8 all year: 18:00-24:00 local is 10:00-16:00 UTC.
    (entry,) = [
        e
        for e in entries(pain_diary(), dt.date(2026, 7, 1), ZoneInfo("Asia/Shanghai"))
        if e.day == 1
    ]
    assert (entry.opens_at, entry.closes_at, entry.late_until) == (
        utc(2026, 7, 2, 10),
        utc(2026, 7, 2, 16),
        utc(2026, 7, 2, 17),
    )


def test_a_once_schedule_is_one_entry_from_its_first_day_to_its_last() -> None:
    # KOOS at home in the week before M3 (day 91): days 84 to 91, all day, 2 hours' grace.
    koos = PatientSchedule(
        id="koos_home", form="koos", visit="M3", kind="once", first_day=84, last_day=91,
        grace_minutes=120,
    )  # fmt: skip
    (entry,) = entries(koos, dt.date(2026, 1, 10), COPENHAGEN)
    # Day 84 is 4 April 2026 (CEST), day 91 is 11 April (CEST).
    assert (entry.day, entry.local_date) == (84, dt.date(2026, 4, 4))
    assert entry.opens_at == utc(2026, 4, 3, 22, 0)  # 00:00 CEST on 4 April
    assert entry.closes_at == utc(2026, 4, 11, 22, 0)  # 24:00 CEST on 11 April
    assert entry.late_until == utc(2026, 4, 12, 0, 0)


# ---------------------------------------------------------------- states


WINTER = entry_on(dt.date(2026, 1, 10), 1)  # 17:00-23:00 UTC on 11 January, late to 00:00
SECOND = dt.timedelta(seconds=1)


@pytest.mark.parametrize(
    ("now", "state"),
    [
        (utc(2026, 1, 11, 16, 59, 59), S.UPCOMING),  # 17:59:59 local
        (utc(2026, 1, 11, 17, 0), S.OPEN),  # 18:00 local
        (utc(2026, 1, 11, 22, 59, 59), S.OPEN),  # 23:59:59 local, the last second
        (utc(2026, 1, 11, 23, 0), S.OPEN),  # midnight: closed, in the grace
        (utc(2026, 1, 11, 23, 59, 59), S.OPEN),  # the grace's last second
        (utc(2026, 1, 12, 0, 0), S.MISSED),  # 01:00 local: the grace is over
        (utc(2026, 1, 20), S.MISSED),
    ],
)
def test_an_unanswered_entry_by_the_clock(now: dt.datetime, state: EntryState) -> None:
    assert entry_state(WINTER, None, now) is state


@pytest.mark.parametrize(
    ("now", "takes"),
    [
        (utc(2026, 1, 11, 16, 59, 59), False),
        (utc(2026, 1, 11, 17, 0), True),
        (utc(2026, 1, 11, 23, 30), True),
        (utc(2026, 1, 11, 23, 59, 59), True),
        (utc(2026, 1, 12, 0, 0), False),
    ],
)
def test_answers_are_taken_from_opening_to_the_end_of_the_grace(
    now: dt.datetime, takes: bool
) -> None:
    assert WINTER.takes_answers(now) is takes


def test_an_answer_before_midnight_is_in_time_and_after_it_late() -> None:
    later = utc(2026, 1, 20)
    assert entry_state(WINTER, utc(2026, 1, 11, 17, 0), later) is S.ANSWERED
    assert entry_state(WINTER, utc(2026, 1, 11, 22, 59, 59), later) is S.ANSWERED
    assert not WINTER.is_late(utc(2026, 1, 11, 22, 59, 59))
    assert entry_state(WINTER, utc(2026, 1, 11, 23, 0), later) is S.LATE
    assert WINTER.is_late(utc(2026, 1, 11, 23, 0))
    assert entry_state(WINTER, utc(2026, 1, 11, 23, 59, 59), later) is S.LATE
    # The state of an answered entry does not change with the clock.
    assert entry_state(WINTER, utc(2026, 1, 11, 20), utc(2026, 1, 11, 20, 0, 1)) is S.ANSWERED


# ---------------------------------------------------------------- missed in a row, compliance


@pytest.mark.parametrize(
    ("states", "run"),
    [
        ([], 0),
        ([S.UPCOMING, S.UPCOMING], 0),
        ([S.ANSWERED, S.MISSED, S.MISSED], 2),
        ([S.MISSED, S.MISSED, S.ANSWERED], 0),
        ([S.MISSED, S.MISSED, S.LATE], 0),  # a late answer ends a run too
        ([S.MISSED, S.LATE, S.MISSED], 1),
        ([S.MISSED, S.MISSED, S.OPEN, S.UPCOMING], 2),  # tonight's open entry is passed over
        ([S.MISSED, S.MISSED, S.MISSED, S.OPEN], 3),
        ([S.ANSWERED, S.OPEN, S.UPCOMING], 0),
    ],
)
def test_missed_in_a_row_counts_back_from_the_last_settled_entry(
    states: list[EntryState], run: int
) -> None:
    assert missed_in_a_row(states) == run
    assert missed_in_a_row(iter(states)) == run  # any iterable, read once


def test_compliance_counts_only_entries_due() -> None:
    states = [S.ANSWERED] * 5 + [S.LATE] * 2 + [S.MISSED] * 3 + [S.OPEN] + [S.UPCOMING] * 19
    result = compliance(states)
    assert result == Compliance(answered=5, late=2, missed=3)
    assert result.due == 10
    assert result.share == pytest.approx(7 / 10)


def test_compliance_before_any_entry_is_due_has_no_share() -> None:
    result = compliance([S.OPEN] + [S.UPCOMING] * 29)
    assert (result.due, result.share) == (0, None)
    assert compliance([]).share is None
    assert compliance([S.MISSED, S.MISSED]).share == 0.0
