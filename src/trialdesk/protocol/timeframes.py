"""Outcome time frames in words -> study days and visits.

"Baseline, 3 months, 12 months" names three time points; "Week 12", "12 weeks", "Day 1 to
Day 28" and "24 hours" are read the same way. Months are 30.4375 days and years 365.25 days,
so "3 months" is day 91 and "5 years" day 1826. A time frame that names no time point is
mapped to an end-of-study visit after the last named one, and the importer says so.
"""

from __future__ import annotations

import re
from typing import Any

DAYS_PER_UNIT = {"hour": 1 / 24, "day": 1, "week": 7, "month": 30.4375, "year": 365.25}
UNIT_WORDS = {
    "hour": "hour",
    "hours": "hour",
    "hr": "hour",
    "hrs": "hour",
    "h": "hour",
    "day": "day",
    "days": "day",
    "d": "day",
    "week": "week",
    "weeks": "week",
    "wk": "week",
    "wks": "week",
    "month": "month",
    "months": "month",
    "mo": "month",
    "mos": "month",
    "year": "year",
    "years": "year",
    "yr": "year",
    "yrs": "year",
}
UNITS = "|".join(sorted(UNIT_WORDS, key=len, reverse=True))
AMOUNT_THEN_UNIT = re.compile(rf"\b([0-9]+(?:\.[0-9]+)?)[\s-]*({UNITS})\b", re.IGNORECASE)
UNIT_THEN_AMOUNT = re.compile(rf"\b({UNITS})\s*([0-9]+(?:\.[0-9]+)?)\b", re.IGNORECASE)
# "6 weeks (± 2 weeks)": the part after ± is a window, not a time point.
TOLERANCE = re.compile(rf"(±|\+/-|\+-)\s*[0-9]+(?:\.[0-9]+)?\s*(?:{UNITS})\b", re.IGNORECASE)
BASELINE = re.compile(
    r"\b(baseline|pre-?treatment|pre-?operative(ly)?|day\s*0|screening)\b", re.IGNORECASE
)
VISIT_PREFIX = {"hour": "H", "day": "D", "week": "W", "month": "M", "year": "Y"}


def time_points(time_frame: str) -> list[tuple[int, str, str]]:
    """(study day, visit id, label) for every time point the words name, in day order."""
    points: dict[int, tuple[str, str]] = {}
    time_frame = TOLERANCE.sub(" ", time_frame)
    if BASELINE.search(time_frame):
        points[0] = ("BL", "Baseline")
    for pattern, amount_group, unit_group in ((AMOUNT_THEN_UNIT, 1, 2), (UNIT_THEN_AMOUNT, 2, 1)):
        for match in pattern.finditer(time_frame):
            unit = UNIT_WORDS[match.group(unit_group).lower()]
            amount = float(match.group(amount_group))
            day = round(amount * DAYS_PER_UNIT[unit])
            number = f"{amount:g}".replace(".", "_")
            label = f"{unit.title()} {amount:g}"
            points.setdefault(day, ("BL" if day == 0 else f"{VISIT_PREFIX[unit]}{number}", label))
    return sorted((day, identifier, label) for day, (identifier, label) in points.items())


def visits_for_time_frames(
    time_frames: list[str],
) -> tuple[list[dict[str, Any]], dict[str, list[str]], list[str]]:
    """Visits covering every time frame, the visits of each time frame, and the unmapped ones."""
    by_day: dict[int, tuple[str, str]] = {}
    parsed = {}
    for time_frame in time_frames:
        points = time_points(time_frame)
        parsed[time_frame] = points
        for day, identifier, label in points:
            by_day.setdefault(day, (identifier, label))
    unmapped = [tf for tf in dict.fromkeys(time_frames) if not parsed[tf]]
    end_day = max(by_day, default=0) + 1 if unmapped else None
    if end_day is not None:
        by_day[end_day] = ("EOS", "End of study")
    if not by_day:
        by_day[0] = ("BL", "Baseline")
    visits = [
        {"id": identifier, "label": label, "day": day, "window_before": 0, "window_after": 0}
        for day, (identifier, label) in sorted(by_day.items())
    ]
    mapping = {
        tf: [by_day[day][0] for day, _, _ in points] if points else ["EOS"]
        for tf, points in parsed.items()
    }
    return visits, mapping, unmapped
