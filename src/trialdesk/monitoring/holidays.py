"""Public holidays of the trial's countries, for the weekend-and-holiday visit check.

A small documented list, not a calendar service:

- **Denmark** (complete for the days clinics close): the public holidays (helligdage) of the
  Danish church calendar: New Year's Day, Maundy Thursday, Good Friday, Easter Sunday and
  Monday, Great Prayer Day (store bededag, the 4th Friday after Easter, until 2023: abolished
  from 2024 by Act no. 1254 of 2023), Ascension Day, Whit Sunday and Monday, Christmas Day and
  Boxing Day; and the days most clinics close although they are not helligdage: Constitution
  Day (5 June), Christmas Eve (24 December) and New Year's Eve (31 December).
- **China** (partial): the fixed-date statutory holidays only: New Year's Day (1 January),
  Labour Day (1 May; 1-2 May from 2025), National Day (1-3 October). The lunar and solar-term
  holidays (Spring Festival, Qingming, Dragon Boat, Mid-Autumn) and the State Council's yearly
  bridging days and make-up working weekends (调休) are not computed: a visit on a make-up
  working Saturday counts as a weekend visit, a visit in Spring Festival week does not count.
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


def _china(year: int) -> set[dt.date]:
    labour = [(5, 1), (5, 2)] if year >= 2025 else [(5, 1)]
    fixed = [(1, 1), *labour, (10, 1), (10, 2), (10, 3)]
    return {dt.date(year, month, day) for month, day in fixed}


_COUNTRIES = {"denmark": _denmark, "dk": _denmark, "china": _china, "cn": _china}

#: Countries whose holiday list is partial (said in the report).
PARTIAL = {
    "china": "fixed-date holidays only (no Spring Festival, Qingming, Dragon Boat, "
    "Mid-Autumn or make-up working days)"
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
    """Whether `day` is a Saturday, Sunday or a holiday of `country`."""
    return day.weekday() >= 5 or day in holidays(country, day.year)
