"""Public holidays of the trial's countries, for the weekend-and-holiday visit check.

A small documented list, not a calendar service:

- **Denmark** (complete for the days clinics close): the public holidays (helligdage) of the
  Danish church calendar: New Year's Day, Maundy Thursday, Good Friday, Easter Sunday and
  Monday, Great Prayer Day (store bededag, the 4th Friday after Easter, until 2023: abolished
  from 2024 by Act no. 1254 of 2023), Ascension Day, Whit Sunday and Monday, Christmas Day and
  Boxing Day; and the days most clinics close although they are not helligdage: Constitution
  Day (5 June), Christmas Eve (24 December) and New Year's Eve (31 December).
- **China** (2019-2031): the statutory holidays (法定节假日) and the State Council's yearly
  arrangement of them (国务院办公厅关于...部分节假日安排的通知): the days off, which bridge
  to a weekend, and the make-up working days (调休: a Saturday or Sunday worked, which counts
  as a working day here). For 2019-2026 the days are those of the published notices
  (`CHINA_NOTICES`; 2020's Spring Festival as extended to 2 February by the State Council
  in January 2020). For 2027-2031, not yet announced, only the statutory days are listed
  (`china_statutory`: the rules of State Council decree no. 795 of 12 November 2024, in
  force from 2025: New Year's Day, the Spring Festival's eve and first three days, Qingming,
  1-2 May, the Dragon Boat Festival, Mid-Autumn, 1-3 October), on the dates of the lunar
  calendar and the Qingming solar term (`CHINA_LUNAR`); the bridging days and the make-up
  working days of those years are not known until their notice. Outside 2019-2031 only the
  fixed-date statutory days are listed.
- Any other country: weekends only.
"""

from __future__ import annotations

import datetime as dt
from functools import cache


def easter_sunday(year: int) -> dt.date:
    """Western (Gregorian) Easter Sunday: the anonymous Gregorian algorithm (Meeus/Jones/
    Butcher), as in J. Meeus, "Astronomical Algorithms", 1991, chapter 8."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month, day = divmod(h + el - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


def _denmark(year: int) -> set[dt.date]:
    easter = easter_sunday(year)
    offsets = [-3, -2, 0, 1, 39, 49, 50] + ([26] if year <= 2023 else [])
    days = {easter + dt.timedelta(days=offset) for offset in offsets}
    days |= {dt.date(year, month, day) for month, day in [(1, 1), (6, 5), (12, 24), (12, 25)]}
    return days | {dt.date(year, 12, 26), dt.date(year, 12, 31)}


#: The State Council's notices, per year: the holiday periods (first and last day off,
#: weekends within included) and the make-up working days (a weekend day worked). Checked
#: against the notices and, day by day, against the data of the `holidays` package (0.109,
#: `holidays.China`), which lists the same days off and make-up days for these years.
CHINA_NOTICES: dict[int, tuple[list[tuple[str, str]], list[str]]] = {
    2019: (
        [("01-01", "01-01"), ("02-04", "02-10"), ("04-05", "04-07"), ("05-01", "05-04")]
        + [("06-07", "06-09"), ("09-13", "09-15"), ("10-01", "10-07")],
        ["02-02", "02-03", "04-28", "05-05", "09-29", "10-12"],
    ),
    2020: (
        [("01-01", "01-01"), ("01-24", "02-02"), ("04-04", "04-06"), ("05-01", "05-05")]
        + [("06-25", "06-27"), ("10-01", "10-08")],
        ["01-19", "04-26", "05-09", "06-28", "09-27", "10-10"],
    ),
    2021: (
        [("01-01", "01-03"), ("02-11", "02-17"), ("04-03", "04-05"), ("05-01", "05-05")]
        + [("06-12", "06-14"), ("09-19", "09-21"), ("10-01", "10-07")],
        ["02-07", "02-20", "04-25", "05-08", "09-18", "09-26", "10-09"],
    ),
    2022: (
        [("01-01", "01-03"), ("01-31", "02-06"), ("04-03", "04-05"), ("04-30", "05-04")]
        + [("06-03", "06-05"), ("09-10", "09-12"), ("10-01", "10-07")],
        ["01-29", "01-30", "04-02", "04-24", "05-07", "10-08", "10-09"],
    ),
    2023: (
        [("01-01", "01-02"), ("01-21", "01-27"), ("04-05", "04-05"), ("04-29", "05-03")]
        + [("06-22", "06-24"), ("09-29", "10-06")],
        ["01-28", "01-29", "04-23", "05-06", "06-25", "10-07", "10-08"],
    ),
    2024: (
        [("01-01", "01-01"), ("02-10", "02-17"), ("04-04", "04-06"), ("05-01", "05-05")]
        + [("06-08", "06-10"), ("09-15", "09-17"), ("10-01", "10-07")],
        ["02-04", "02-18", "04-07", "04-28", "05-11", "09-14", "09-29", "10-12"],
    ),
    2025: (
        [("01-01", "01-01"), ("01-28", "02-04"), ("04-04", "04-06"), ("05-01", "05-05")]
        + [("05-31", "06-02"), ("10-01", "10-08")],
        ["01-26", "02-08", "04-27", "09-28", "10-11"],
    ),
    2026: (
        [("01-01", "01-03"), ("02-15", "02-23"), ("04-04", "04-06"), ("05-01", "05-05")]
        + [("06-19", "06-21"), ("09-25", "09-27"), ("10-01", "10-07")],
        ["01-04", "02-14", "02-28", "05-09", "09-20", "10-10"],
    ),
}

#: Years not yet announced: the first day of the lunar year (Spring Festival), Qingming
#: (the solar term), the Dragon Boat Festival (5th day of the 5th lunar month) and
#: Mid-Autumn (15th of the 8th), dates of the Chinese calendar (农历), checked day by day
#: against the lunar dates of the `holidays` package (0.109, `holidays.China`).
CHINA_LUNAR: dict[int, tuple[str, str, str, str]] = {
    2027: ("02-06", "04-05", "06-09", "09-15"),
    2028: ("01-26", "04-04", "05-28", "10-03"),
    2029: ("02-13", "04-04", "06-16", "09-22"),
    2030: ("02-03", "04-05", "06-05", "09-12"),
    2031: ("01-23", "04-05", "06-24", "10-01"),
}


def _days(year: int, first: str, last: str) -> set[dt.date]:
    start = dt.date.fromisoformat(f"{year}-{first}")
    end = dt.date.fromisoformat(f"{year}-{last}")
    return {start + dt.timedelta(days=n) for n in range((end - start).days + 1)}


def china_working_weekend_days(year: int) -> frozenset[dt.date]:
    """The make-up working days (调休) of `year`'s notice: Saturdays and Sundays worked."""
    notice = CHINA_NOTICES.get(year)
    days = notice[1] if notice else []
    return frozenset(dt.date.fromisoformat(f"{year}-{day}") for day in days)


def china_statutory(year: int) -> set[dt.date]:
    """The statutory days of `year` under decree no. 795 (from 2025), lunar dates from
    `CHINA_LUNAR`; only the fixed-date days for a year outside it."""
    fixed = _days(year, "01-01", "01-01") | _days(year, "05-01", "05-02")
    fixed |= _days(year, "10-01", "10-03")
    lunar = CHINA_LUNAR.get(year)
    if lunar is None:
        return fixed
    spring, qingming, dragon_boat, mid_autumn = (
        dt.date.fromisoformat(f"{year}-{day}") for day in lunar
    )
    spring_days = {spring + dt.timedelta(days=n) for n in range(-1, 3)}  # eve and days 1-3
    return fixed | spring_days | {qingming, dragon_boat, mid_autumn}


def _china(year: int) -> set[dt.date]:
    notice = CHINA_NOTICES.get(year)
    if notice is None:
        return china_statutory(year)
    return set().union(*(_days(year, first, last) for first, last in notice[0]))


_COUNTRIES = {"denmark": _denmark, "dk": _denmark, "china": _china, "cn": _china}

#: Countries whose holiday list is partial (said in the report).
PARTIAL = {
    "china": "the State Council's published arrangements for 2019-2026; for 2027-2031 the "
    "statutory days only (no bridging days or make-up working days until announced); "
    "outside 2019-2031 the fixed-date holidays only"
}


@cache
def holidays(country: str, year: int) -> frozenset[dt.date]:
    """The holidays of `country` (name or ISO code, any case) in `year`; empty if unknown."""
    rule = _COUNTRIES.get((country or "").strip().lower())
    return frozenset(rule(year)) if rule else frozenset()


def coverage(country: str) -> str:
    """How complete the holiday list of `country` is, in English words."""
    key = (country or "").strip().lower()
    if key in ("denmark", "dk"):
        return "weekends and Danish public holidays"
    if key in ("china", "cn"):
        return f"weekends and Chinese holidays, partial: {PARTIAL['china']}"
    return "weekends only (no holiday list for this country)"


def is_weekend_or_holiday(day: dt.date, country: str) -> bool:
    """Whether `day` is a Saturday, Sunday or a holiday of `country`, and not a make-up
    working day (China's 调休: a weekend day worked in exchange for a bridging day off)."""
    china = (country or "").strip().lower() in ("china", "cn")
    if china and day in china_working_weekend_days(day.year):
        return False
    return day.weekday() >= 5 or day in holidays(country, day.year)
