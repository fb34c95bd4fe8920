"""The virtual trial's simulated clock: each step is taken at the moment the plan sets for it.

The services stamp every write with `django.utils.timezone.now()` (the audit events' `at`, a
form's completion, an allocation's time...). A virtual trial entered in one run would
otherwise show every form entered on the day of the run, months after its visit, and no site
could be told to enter late. On the simulated clock the run takes the steps of all patients
in the order of their moments (`run`), and `timezone.now()` answers the moment of the step
being taken, so the audit trail's times are those of a trial run over its real calendar and
still rise with its sequence numbers.

The clock replaces the `datetime` class that `django.utils.timezone` reads the time from, for
as long as `running` lasts, in this process: it is for the demo's own command and tests, never
a server. It only ever moves forward and never past the real time.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class SimulatedClock:
    """The moment of the step being taken (aware, UTC)."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def move_to(self, moment: dt.datetime) -> None:
        """Forward to `moment` (a moment already passed leaves the clock where it is)."""
        real = dt.datetime.now(dt.UTC)
        if moment > real:
            raise ValueError(f"simulated clock: {moment.isoformat()} is after the real time")
        self.now = max(self.now, moment)

    @contextmanager
    def running(self) -> Iterator[SimulatedClock]:
        """`django.utils.timezone.now()` answers this clock's time while the block runs."""
        from django.utils import timezone

        clock = self
        real = timezone.datetime

        class _Meta(type):
            def __instancecheck__(cls, obj: object) -> bool:
                return isinstance(obj, real)

        class SimulatedDatetime(real, metaclass=_Meta):
            @classmethod
            def now(cls, tz: dt.tzinfo | None = None) -> dt.datetime:  # type: ignore[override]
                moment = clock.now
                return moment.astimezone(tz) if tz is not None else moment.replace(tzinfo=None)

        timezone.datetime = SimulatedDatetime
        try:
            yield self
        finally:
            timezone.datetime = real

    def run(
        self, courses: list[Iterator[dt.datetime]], finished: Callable[[int], None] | None = None
    ) -> None:
        """Take the steps of all `courses` in the order of their moments.

        A course is a generator that yields the moment of its next step and takes the step
        when resumed; a step due before the clock's time (a site catching up) is taken at the
        clock's time. Ties go to the earlier course. `finished(count)` is called each time a
        course ends.
        """
        due: list[tuple[dt.datetime, int, Iterator[dt.datetime]]] = []
        done = 0
        for index, course in enumerate(courses):
            done += _schedule(due, index, course)
        if finished is not None and done:
            finished(done)
        while due:
            moment, index, course = heapq.heappop(due)
            self.move_to(moment)
            if _schedule(due, index, course):
                done += 1
                if finished is not None:
                    finished(done)


def _schedule(
    due: list[tuple[dt.datetime, int, Iterator[dt.datetime]]],
    index: int,
    course: Iterator[dt.datetime],
) -> bool:
    """Take the course's current step and queue its next; True when the course has ended."""
    moment = next(course, None)
    if moment is None:
        return True
    heapq.heappush(due, (moment, index, course))
    return False
