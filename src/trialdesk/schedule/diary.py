"""When a patient may answer at home: each entry of a `patient_reported` schedule
(`trialdesk.protocol.patient_reports`) with its window as instants (UTC), and where an entry
stands at a given moment.

A daily schedule has one entry per day d from `first_day` to `last_day`, on the local date
day 0 + d, open from `opens` to `closes` of that date in the patient's time zone (`closes`
is inclusive to the end of its minute, so 23:59 closes at midnight). A `once` schedule has
one entry, open from `opens` on its first day to `closes` on its last (every hour between).
An answer is taken until `grace_minutes` after closing (late); then the entry is missed.

Local times are made instants with the zone's rules of that date (`zoneinfo`), so a window
of 18:00-23:59 in Copenhagen is 17:00-23:00 UTC in winter and 16:00-22:00 UTC in summer.
A local time that does not exist on a date (the hour skipped when clocks go forward) is
read as the same wall time before the change (`fold=0`, Python's rule).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo

from trialdesk.protocol.patient_reports import PatientSchedule


class EntryState(StrEnum):
    UPCOMING = "upcoming"  # not open yet
    OPEN = "open"  # open now, not answered
    ANSWERED = "answered"  # answered while open
    LATE = "late"  # answered after closing, within the grace minutes
    MISSED = "missed"  # closed (and the grace past) without an answer


@dataclass(frozen=True)
class Entry:
    """One entry of a schedule: `day` (relative to day 0) and its window as UTC instants,
    `opens_at` <= t < `closes_at`, and answers taken late until `late_until`."""

    schedule: str
    day: int
    local_date: dt.date
    opens_at: dt.datetime
    closes_at: dt.datetime
    late_until: dt.datetime

    def takes_answers(self, now: dt.datetime) -> bool:
        return self.opens_at <= now < self.late_until

    def is_late(self, received_at: dt.datetime) -> bool:
        return received_at >= self.closes_at


def _instant(date: dt.date, time: dt.time, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(date, time, tzinfo=zone).astimezone(dt.UTC)


def entries(schedule: PatientSchedule, day0: dt.date, zone: ZoneInfo) -> list[Entry]:
    """The schedule's entries for a subject whose day 0 is `day0`, in the patient's `zone`."""
    grace = dt.timedelta(minutes=schedule.grace_minutes)
    minute = dt.timedelta(minutes=1)
    if schedule.kind == "once":
        first = day0 + dt.timedelta(days=schedule.first_day)
        last = day0 + dt.timedelta(days=schedule.last_day)
        closes = _instant(last, schedule.closing_time, zone) + minute
        opens = _instant(first, schedule.opening_time, zone)
        return [Entry(schedule.id, schedule.first_day, first, opens, closes, closes + grace)]
    found = []
    for day in schedule.days:
        date = day0 + dt.timedelta(days=day)
        closes = _instant(date, schedule.closing_time, zone) + minute
        opens = _instant(date, schedule.opening_time, zone)
        found.append(Entry(schedule.id, day, date, opens, closes, closes + grace))
    return found


def entry_state(entry: Entry, received_at: dt.datetime | None, now: dt.datetime) -> EntryState:
    """Where `entry` stands at `now`, answered at `received_at` (None: not answered)."""
    if received_at is not None:
        return EntryState.LATE if entry.is_late(received_at) else EntryState.ANSWERED
    if now < entry.opens_at:
        return EntryState.UPCOMING
    if now < entry.late_until:
        return EntryState.OPEN
    return EntryState.MISSED


def missed_in_a_row(states: Iterable[EntryState]) -> int:
    """How many of the last entries that stand settled (answered, late or missed, in day
    order) are missed, counting back from the most recent one; open and upcoming entries are
    passed over. The work list alerts at 2."""
    run = 0
    for state in states:
        if state is EntryState.MISSED:
            run += 1
        elif state in (EntryState.ANSWERED, EntryState.LATE):
            run = 0
    return run


@dataclass(frozen=True)
class Compliance:
    """Of the entries due so far (answered, late or missed): how many of each."""

    answered: int
    late: int
    missed: int

    @property
    def due(self) -> int:
        return self.answered + self.late + self.missed

    @property
    def share(self) -> float | None:
        """Answered (in time or late) of those due; None when none is due yet."""
        return (self.answered + self.late) / self.due if self.due else None


def compliance(states: Iterable[EntryState]) -> Compliance:
    counts = dict.fromkeys(EntryState, 0)
    for state in states:
        counts[state] += 1
    return Compliance(
        counts[EntryState.ANSWERED], counts[EntryState.LATE], counts[EntryState.MISSED]
    )
