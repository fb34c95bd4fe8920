"""A subject's visit calendar: target dates, windows, and where each visit stands.

Visits on and after day 0 count from day 0, the date of the first administration: a visit at
day `d` with window `b` before and `a` after has its target on day0 + d and its window from
day0 + d - b to day0 + d + a, both ends inside. Until day 0 is known these visits have no
dates.

Visits before day 0 (screening) count from the screening date instead, because day 0 is not
known while they take place: the window opens on the screening date and keeps the length the
protocol gives it, with the target at its place inside (screening at day -14, 14 days before
and 13 after: window from the screening date to 27 days later, target 14 days after it). The
window never ends after day 0: once day 0 is known, a later end (and target) moves back to day
0, because screening is over when the first administration is given. The opening does not
move, so a screening visit recorded on or before day 0 stays judged as it was.

Where a visit stands (`visit_status`) follows its window, with two rules for the visits on or
before day 0 (screening and baseline): they are done when all their forms are complete, even
without a visit date, and once the subject is randomized they are never overdue (their forms
are still due, but the visit cannot be late any more).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from trialdesk.errors import BadInput

if TYPE_CHECKING:
    from trialdesk.protocol import Protocol
    from trialdesk.protocol.model import Visit


class CalendarStatus(StrEnum):
    """Where a visit stands on a given day."""

    SCHEDULED = "scheduled"  # its window has not opened (or has no dates yet)
    DUE = "due"  # today is inside its window
    OVERDUE = "overdue"  # its window has closed, it was neither done nor marked missed
    DONE = "done"
    MISSED = "missed"


@dataclass(frozen=True)
class VisitWindow:
    """The dates of one protocol visit for one subject; all None until they are known."""

    visit_id: str
    label: str
    day: int
    target: dt.date | None
    start: dt.date | None
    end: dt.date | None

    @property
    def dated(self) -> bool:
        return self.start is not None

    @property
    def anchor(self) -> str:
        """What the window counts from: the screening date before day 0, else day 0."""
        return "the screening date" if self.day < 0 else "day 0"

    def days_outside(self, actual_date: dt.date) -> int:
        """Days early (negative) or late (positive) of `actual_date`; 0 inside the window."""
        if self.start is None or self.end is None:
            raise BadInput(f"visit {self.visit_id}: no window yet ({self.anchor} is not known)")
        if actual_date < self.start:
            return (actual_date - self.start).days
        if actual_date > self.end:
            return (actual_date - self.end).days
        return 0

    def describe(self) -> str:
        """'2024-03-28..2024-04-03 (target 2024-03-31)' for messages and deviations."""
        return f"{self.start}..{self.end} (target {self.target})"


def visit_window(visit: Visit, day0: dt.date | None, screened_on: dt.date | None) -> VisitWindow:
    """The target and window dates of `visit`: from day 0, or from screening before day 0."""
    if visit.day < 0:
        if screened_on is None:
            return VisitWindow(visit.id, visit.label, visit.day, None, None, None)
        start = screened_on
        target = start + dt.timedelta(days=visit.window_before)
        end = target + dt.timedelta(days=visit.window_after)
        if day0 is not None and end > day0:
            end = max(start, day0)
            target = min(target, end)
        return VisitWindow(visit.id, visit.label, visit.day, target, start, end)
    if day0 is None:
        return VisitWindow(visit.id, visit.label, visit.day, None, None, None)
    return VisitWindow(
        visit.id,
        visit.label,
        visit.day,
        day0 + dt.timedelta(days=visit.day),
        day0 + dt.timedelta(days=visit.first_day),
        day0 + dt.timedelta(days=visit.last_day),
    )


def visit_calendar(
    visits: Iterable[Visit], day0: dt.date | None, screened_on: dt.date | None
) -> tuple[VisitWindow, ...]:
    """Every visit's window, in protocol order."""
    return tuple(visit_window(visit, day0, screened_on) for visit in visits)


def visit_status(
    window_start: dt.date | None,
    window_end: dt.date | None,
    actual_date: dt.date | None,
    missed: bool,
    today: dt.date,
    *,
    up_to_day0: bool = False,
    forms_complete: bool = False,
    randomized: bool = False,
) -> CalendarStatus:
    """Where a visit stands on `today`; a visit without window dates is scheduled.

    `up_to_day0` says the visit is on or before day 0 (screening, baseline): such a visit is
    done when `forms_complete` (every form it collects is marked complete; False for a visit
    that collects none), and is due rather than overdue once the subject is `randomized`.
    """
    if missed:
        return CalendarStatus.MISSED
    if actual_date is not None or (up_to_day0 and forms_complete):
        return CalendarStatus.DONE
    if window_start is None or window_end is None or today < window_start:
        return CalendarStatus.SCHEDULED
    if today <= window_end or (up_to_day0 and randomized):
        return CalendarStatus.DUE
    return CalendarStatus.OVERDUE


def outside_window(
    visit: Visit,
    day0: dt.date | None,
    actual_date: dt.date,
    *,
    screened_on: dt.date | None = None,
) -> int:
    """Days `actual_date` lies before (negative) or after (positive) the window; 0 inside.

    A visit before day 0 needs `screened_on`, a later one `day0`.
    """
    window = visit_window(visit, day0, screened_on)
    if not window.dated:
        raise BadInput(
            f"visit {visit.id}: its window counts from {window.anchor}, which is not given"
        )
    return window.days_outside(actual_date)


def screening_visit(protocol: Protocol) -> Visit:
    """The protocol's earliest visit: where the screening forms are entered."""
    return min(protocol.visits, key=lambda visit: visit.day)
