"""Public holidays of the trials' countries, against the church calendar (Denmark) and the
State Council's published holiday notices (China)."""

from __future__ import annotations

import datetime as dt

import pytest

from trialdesk.monitoring.holidays import (
    china_working_weekend_days,
    coverage,
    easter_sunday,
    holidays,
    is_weekend_or_holiday,
)


def days(first: str, last: str) -> set[dt.date]:
    start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    return {start + dt.timedelta(days=n) for n in range((end - start).days + 1)}


def test_denmark_by_hand() -> None:
    # Easter Sunday: 2024-03-31, 2025-04-20, 2026-04-05 (church calendars)
    assert [easter_sunday(y) for y in (2024, 2025, 2026)] == [
        dt.date(2024, 3, 31),
        dt.date(2025, 4, 20),
        dt.date(2026, 4, 5),
    ]
    danish_2025 = {
        dt.date(2025, m, d)
        for m, d in [
            (1, 1),
            (4, 17),  # Maundy Thursday
            (4, 18),  # Good Friday
            (4, 20),
            (4, 21),  # Easter Monday
            (5, 29),  # Ascension
            (6, 5),  # Constitution Day
            (6, 8),
            (6, 9),  # Whit Monday
            (12, 24),
            (12, 25),
            (12, 26),
            (12, 31),
        ]
    }
    assert holidays("Denmark", 2025) == danish_2025  # no Great Prayer Day since 2024
    assert dt.date(2023, 5, 5) in holidays("Denmark", 2023)  # store bededag 2023
    assert is_weekend_or_holiday(dt.date(2025, 3, 1), "")  # a Saturday, any country
    assert not is_weekend_or_holiday(dt.date(2024, 12, 25), "China")


@pytest.mark.parametrize(
    ("first", "last", "what"),
    [
        # 国务院办公厅关于2024年部分节假日安排的通知: 春节 2月10日至17日, 国庆 10月1日至7日
        ("2024-02-10", "2024-02-17", "Spring Festival 2024"),
        ("2024-04-04", "2024-04-06", "Qingming 2024"),
        ("2024-06-08", "2024-06-10", "Dragon Boat 2024"),
        ("2024-09-15", "2024-09-17", "Mid-Autumn 2024"),
        ("2024-10-01", "2024-10-07", "National Day 2024"),
        # 2025 notice: 春节 1月28日(除夕)至2月4日, 劳动节 5月1日至5日, 端午 5月31日至6月2日,
        # 国庆节、中秋节 10月1日至8日
        ("2025-01-28", "2025-02-04", "Spring Festival 2025"),
        ("2025-05-01", "2025-05-05", "Labour Day 2025"),
        ("2025-05-31", "2025-06-02", "Dragon Boat 2025"),
        ("2025-10-01", "2025-10-08", "National Day and Mid-Autumn 2025"),
        # 2026 notice: 春节 2月15日至23日
        ("2026-02-15", "2026-02-23", "Spring Festival 2026"),
        # 2020: the Spring Festival extended to 2 February
        ("2020-01-24", "2020-02-02", "Spring Festival 2020"),
    ],
)
def test_china_days_off_of_the_published_notices(first: str, last: str, what: str) -> None:
    period = days(first, last)
    assert all(is_weekend_or_holiday(day, "China") for day in period), what
    # the working days either side are not holidays (unless a weekend)
    before = min(period) - dt.timedelta(days=1)
    after = max(period) + dt.timedelta(days=1)
    for day in (before, after):
        assert day not in holidays("China", day.year), (what, day)


def test_china_make_up_working_days_are_working_days() -> None:
    # 2024: Sunday 4 February and Sunday 18 February worked for the Spring Festival, Sunday
    # 7 April, Sunday 28 April and Saturday 11 May, Saturday 14 and Sunday 29 September,
    # Saturday 12 October; 2025: Sunday 26 January and Saturday 8 February.
    worked = ["2024-02-04", "2024-02-18", "2024-04-07", "2024-04-28", "2024-05-11"]
    worked += ["2024-09-14", "2024-09-29", "2024-10-12", "2025-01-26", "2025-02-08"]
    for day in map(dt.date.fromisoformat, worked):
        assert day.weekday() >= 5
        assert day in china_working_weekend_days(day.year)
        assert not is_weekend_or_holiday(day, "China"), day
    # an ordinary weekend stays a weekend, and Denmark has no make-up days
    assert is_weekend_or_holiday(dt.date(2024, 2, 24), "China")
    assert is_weekend_or_holiday(dt.date(2024, 2, 4), "Denmark")


def test_china_statutory_days_of_the_years_not_yet_announced() -> None:
    # 2027: lunar new year 6 February (eve 5 February), Qingming 5 April, Dragon Boat 9 June,
    # Mid-Autumn 15 September; decree no. 795: eve and days 1-3, 1-2 May, 1-3 October.
    assert holidays("China", 2027) == (
        days("2027-01-01", "2027-01-01")
        | days("2027-02-05", "2027-02-08")
        | {dt.date(2027, 4, 5), dt.date(2027, 6, 9), dt.date(2027, 9, 15)}
        | days("2027-05-01", "2027-05-02")
        | days("2027-10-01", "2027-10-03")
    )
    # 2031: Mid-Autumn falls on National Day (1 October); lunar new year 23 January
    assert days("2031-01-22", "2031-01-25") <= holidays("China", 2031)
    assert len(holidays("China", 2031)) == 1 + 4 + 1 + 2 + 1 + 3  # Mid-Autumn on 1 October
    assert china_working_weekend_days(2027) == frozenset()
    # outside the tables: the fixed-date days only
    assert holidays("China", 2035) == (
        days("2035-01-01", "2035-01-01")
        | days("2035-05-01", "2035-05-02")
        | days("2035-10-01", "2035-10-03")
    )


def test_every_year_of_the_trials_has_its_lunar_holidays() -> None:
    # 2019-2031: a Spring Festival day between 21 January and 20 February, Qingming on 4 or
    # 5 April, the Dragon Boat Festival between 28 May and 25 June.
    for year in range(2019, 2032):
        listed = holidays("China", year)
        spring = {d for d in listed if dt.date(year, 1, 21) <= d <= dt.date(year, 2, 20)}
        assert spring, year
        assert {dt.date(year, 4, 4), dt.date(year, 4, 5)} & listed, year
        assert any(dt.date(year, 5, 28) <= d <= dt.date(year, 6, 25) for d in listed), year
    assert "2019-2026" in coverage("China")
