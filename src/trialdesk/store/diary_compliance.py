"""What staff read of the patients' diaries across subjects (issue 14): the work list's alert
"two missed days in a row" and compliance by site for the monitoring dashboard.

Both read the subjects' links and answers in a fixed number of queries (not one per subject)
and compute each entry's state in Python with `trialdesk.schedule.diary`, in the patient's
time zone (the one of the subject's latest link):

- the alert lists subjects still taking part whose link is live and whose last two settled
  entries of a schedule (answered, late or missed: `missed_in_a_row`) are missed;
- compliance counts, for every subject ever invited, the entries due so far (answered, late,
  missed); for a subject whose latest link is revoked, as they stood when it was revoked (the
  patient could answer nothing after that). A subject never invited has no diary to count.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from django.db.models import QuerySet

from trialdesk.schedule.diary import (
    Compliance,
    EntryState,
    compliance,
    entries,
    entry_state,
    missed_in_a_row,
)
from trialdesk.store.models import PatientAnswer, PatientLink, Subject
from trialdesk.store.services.patient_reports import _schedule_items

if TYPE_CHECKING:
    from trialdesk.protocol.model import Protocol
    from trialdesk.store.access import Access

#: The run of missed entries at which the work list alerts.
ALERT_RUN = 2


@dataclass(frozen=True)
class DiaryAlert:
    """A subject whose last `missed` settled entries of `schedule` are missed, the last of them
    on `last_missed` (the patient's local date)."""

    code: str
    site: str
    schedule: str
    missed: int
    last_missed: dt.date


@dataclass(frozen=True)
class SiteCompliance:
    site: str
    subjects: int
    compliance: Compliance


@dataclass(frozen=True)
class _Diary:
    subject_id: int
    code: str
    site: str
    status: str
    day0: dt.date
    time_zone: str
    revoked_at: dt.datetime | None


def _diaries(subjects: QuerySet[Subject]) -> list[_Diary]:
    """Each invited subject of `subjects` whose day 0 is known, with its latest link (one
    query)."""
    latest: dict[int, _Diary] = {}
    rows = (
        PatientLink.objects.filter(subject__in=subjects.values("pk"), subject__day0__isnull=False)
        .order_by("subject_id", "created_at", "pk")
        .values_list(
            "subject_id",
            "subject__code",
            "subject__site__code",
            "subject__status",
            "subject__day0",
            "time_zone",
            "revoked_at",
        )
    )
    for row in rows:
        latest[row[0]] = _Diary(*row)
    return list(latest.values())


def _received(subject_ids: list[int]) -> dict[tuple[int, str, int], dict[str, dt.datetime]]:
    """(subject, schedule, day) -> item -> when it was received (one query)."""
    found: dict[tuple[int, str, int], dict[str, dt.datetime]] = defaultdict(dict)
    if not subject_ids:
        return found
    for subject_id, schedule, day, item, at in PatientAnswer.objects.filter(
        subject_id__in=subject_ids
    ).values_list("subject_id", "schedule", "day", "item", "received_at"):
        found[(subject_id, schedule, day)][item] = at
    return found


def _states(
    protocol: Protocol,
    diary: _Diary,
    received: dict[tuple[int, str, int], dict[str, dt.datetime]],
    at: dt.datetime,
) -> dict[str, list[tuple[dt.date, EntryState]]]:
    """Schedule id -> (local date, state) of each of its entries at `at`, in day order (the
    rule of `services.patient_reports.subject_entries`: answered once all its items are)."""
    zone = ZoneInfo(diary.time_zone)
    found = {}
    for schedule in protocol.patient_reported:
        states = []
        for entry in entries(schedule, diary.day0, zone):
            items = _schedule_items(schedule, entry.day)
            got = received.get((diary.subject_id, schedule.id, entry.day), {})
            last = max(got[item] for item in items) if all(i in got for i in items) else None
            if last is not None and last > at:
                last = None  # received after `at`: not yet at that moment
            states.append((entry.local_date, entry_state(entry, last, at)))
        found[schedule.id] = states
    return found


def diary_alerts(
    subjects: QuerySet[Subject], protocol: Protocol, now: dt.datetime
) -> list[DiaryAlert]:
    """The subjects of `subjects` taking part (the query set says which statuses) whose link
    is live and whose last two settled entries of a schedule are missed, longest run first."""
    if not protocol.patient_reported:
        return []
    diaries = [diary for diary in _diaries(subjects) if diary.revoked_at is None]
    received = _received([diary.subject_id for diary in diaries])
    alerts = []
    for diary in diaries:
        for schedule, states in _states(protocol, diary, received, now).items():
            run = missed_in_a_row(state for _, state in states)
            if run >= ALERT_RUN:
                last = max(date for date, state in states if state is EntryState.MISSED)
                alerts.append(DiaryAlert(diary.code, diary.site, schedule, run, last))
    alerts.sort(key=lambda alert: (-alert.missed, alert.last_missed, alert.code, alert.schedule))
    return alerts


def compliance_by_site(access: Access, now: dt.datetime) -> list[SiteCompliance]:
    """Per site the reader reads (by code): how many subjects were invited and their entries
    due so far, answered, late and missed."""
    protocol = access.study.protocol()
    sites = list(access.sites().order_by("code").values_list("code", flat=True))
    if not protocol.patient_reported:
        return []
    diaries = _diaries(access.subjects())
    received = _received([diary.subject_id for diary in diaries])
    states: dict[str, list[EntryState]] = {site: [] for site in sites}
    invited: dict[str, int] = dict.fromkeys(sites, 0)
    for diary in diaries:
        at = min(now, diary.revoked_at) if diary.revoked_at else now
        invited[diary.site] = invited.get(diary.site, 0) + 1
        for found in _states(protocol, diary, received, at).values():
            states.setdefault(diary.site, []).extend(state for _, state in found)
    return [SiteCompliance(site, invited[site], compliance(states[site])) for site in sites]
