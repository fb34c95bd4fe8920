"""Visit windows and calendars: plain dates in, plain dates out (no Django)."""

from trialdesk.schedule.calendar import (
    CalendarStatus,
    VisitWindow,
    outside_window,
    screening_visit,
    visit_calendar,
    visit_status,
    visit_window,
)

__all__ = [
    "CalendarStatus",
    "VisitWindow",
    "outside_window",
    "screening_visit",
    "visit_calendar",
    "visit_status",
    "visit_window",
]
