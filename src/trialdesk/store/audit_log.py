"""Reading the audit trail: the filters (subject, user, action, days) and the CSV columns that
`trialdesk audit log` and the data manager's audit page share.

The filters narrow a queryset of `AuditEvent` the caller chose (the CLI: a whole trail; the
pages: `Access.audit_events()`, what the reader may see), so who may read what stays in the
access policy. Days are calendar days in a time zone: UTC for the CLI, the reader's own on
the pages, where the times are shown in it too.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from django.db.models import QuerySet

from trialdesk.store.models import AuditEvent

#: The CSV's columns: every column of an event, in the table's order; `at` in UTC, ISO 8601.
CSV_COLUMNS = (
    "seq",
    "at",
    "by",
    "action",
    "study",
    "subject",
    "object_type",
    "object_id",
    "field",
    "old_value",
    "new_value",
    "reason",
    "previous_hash",
    "hash",
)


@dataclass(frozen=True)
class AuditFilter:
    """Which events to keep; None keeps all. `action` ending in `*` keeps a family
    (`subject.*`); `since` and `until` are days, both included."""

    subject: str | None = None
    user: str | None = None
    action: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None

    def apply(
        self, events: QuerySet[AuditEvent], time_zone: dt.tzinfo = dt.UTC
    ) -> QuerySet[AuditEvent]:
        """`events` narrowed to this filter, the days taken in `time_zone`."""
        if self.subject is not None:
            events = events.filter(subject=self.subject)
        if self.user is not None:
            events = events.filter(by=self.user)
        if self.action is not None:
            if self.action.endswith("*"):
                events = events.filter(action__startswith=self.action[:-1])
            else:
                events = events.filter(action=self.action)
        if self.since is not None:
            events = events.filter(at__gte=start_of(self.since, time_zone))
        if self.until is not None:
            events = events.filter(at__lt=start_of(self.until + dt.timedelta(days=1), time_zone))
        return events

    def described(self) -> list[str]:
        """The filter in words, one part per filter given: ["subject 01-003", "by ines"]."""
        parts = [
            (self.subject, f"subject {self.subject}"),
            (self.user, f"by {self.user}"),
            (self.action, f"action {self.action}"),
            (self.since, f"since {self.since}"),
            (self.until, f"until {self.until}"),
        ]
        return [words for value, words in parts if value is not None]


def start_of(day: dt.date, time_zone: dt.tzinfo) -> dt.datetime:
    """The first instant of `day` in `time_zone` (aware)."""
    return dt.datetime.combine(day, dt.time.min).replace(tzinfo=time_zone)


def csv_row(event: AuditEvent) -> list[Any]:
    """The event's values in `CSV_COLUMNS` order."""
    return [
        event.at.astimezone(dt.UTC).isoformat() if column == "at" else getattr(event, column)
        for column in CSV_COLUMNS
    ]


class _Writable(Protocol):
    def write(self, text: str, /) -> Any: ...


def write_csv(events: Iterable[AuditEvent], out: _Writable) -> None:
    """The events as CSV (RFC 4180: quoted as needed, CRLF line ends), header first."""
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for event in events:
        writer.writerow(csv_row(event))
