"""The store's data for central monitoring, as the plain frames of
`trialdesk.monitoring.kri.MonitoringData`, read through an `Access` only.

Site scope: only the subjects the reader may read (`Access.subjects()`), only their sites
(`Access.sites()`), only their audit events (`Access.audit_events()`). Blinded: no arm is
read (not `AllocationSlot.arm`, not `Kit.arm`; whether a subject has an allocation is read,
not which); the frames carry none. A fixed number of queries (nine), whatever the number of
subjects.

What the frames count (as of a date, today unless given):

- randomized: the subject has an allocation; withdrawn: randomized, and withdrawn or lost to
  follow-up; screen-failed: status screen_failed (every subject is screened).
- patient-years: from day 0 (else the allocation's date) to the earliest of the date the
  subject was withdrawn, lost to follow-up or completed (the status change in the audit
  trail) and the as-of date.
- a visit is due when done or missed, or when its window closed before the as-of date while
  the subject's participation goes on (a visit with no row yet, before screening's first
  entry, is not counted).
- data-entry lag: from the visit's date to the form's first ``form.entered`` audit event
  (its date in the store's time zone); forms of visits with a date only.
- deviations that stand (not withdrawn); AEs serious when any seriousness criterion is set.
- measured items: the numeric values (not booleans) of every form of a visit with a date;
  ``text`` is the value's JSON (as the store keeps it: 72.5, 72), read for terminal digits.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trialdesk.monitoring.kri import MonitoringData
    from trialdesk.store.access import Access

#: Statuses after which a subject's patient-time stops (the date of the change).
ENDING_ACTIONS = ("subject.withdrawn", "subject.lost_to_follow_up", "subject.completed")


def monitoring_data(access: Access, as_of: dt.date | None = None) -> MonitoringData:
    """The reader's sites' data for KRIs and statistical checks, as of `as_of` (today).

    The frames are as the module's docstring says; ``as_of`` is set on the result.
    """
    import pandas as pd
    from django.db.models import Min
    from django.utils import timezone

    from trialdesk.monitoring.kri import FRAME_COLUMNS, MonitoringData
    from trialdesk.store.lifecycle import SubjectStatus
    from trialdesk.store.matrix import ENDED_STATUSES
    from trialdesk.store.models import (
        AdverseEvent,
        Deviation,
        FormRecord,
        Query,
        Visit,
        VisitStatus,
    )

    as_of = as_of or timezone.localdate()
    subjects = access.subjects()
    countries = {site.id: site.country or "" for site in access.study.protocol().sites}
    site_rows = [
        {"site": code, "name": name, "country": countries.get(code, "")}
        for code, name in access.sites().order_by("code").values_list("code", "name")
    ]

    def frame(name: str, rows: list[dict]) -> pd.DataFrame:
        return pd.DataFrame(rows, columns=FRAME_COLUMNS[name])

    ended_on: dict[str, dt.date] = {}
    for code, at in (
        access.audit_events()
        .filter(object_type="Subject", field="status", action__in=ENDING_ACTIONS)
        .values_list("subject", "at")
    ):
        day = timezone.localdate(at)
        ended_on[code] = min(day, ended_on.get(code, day))

    people = subjects.values_list(
        "code", "site__code", "status", "screened_on", "day0", "allocation__allocated_at"
    )
    subject_rows, ended = [], set()
    for code, site, status, screened_on, day0, allocated_at in people:
        randomized = allocated_at is not None
        start = day0 or (timezone.localdate(allocated_at) if randomized else None)
        end = min(ended_on.get(code, as_of), as_of)
        years = max((end - start).days, 0) / 365.25 if start is not None else 0.0
        if status in ENDED_STATUSES:
            ended.add(code)
        subject_rows.append(
            {
                "subject": code,
                "site": site,
                "screened_on": screened_on,
                "screen_failed": status == SubjectStatus.SCREEN_FAILED,
                "randomized": randomized,
                "withdrawn": randomized
                and status in (SubjectStatus.WITHDRAWN, SubjectStatus.LOST_TO_FOLLOW_UP),
                "patient_years": years,
            }
        )

    visit_rows = []
    for code, site, visit_id, target, window_end, status, actual in Visit.objects.filter(
        subject__in=subjects
    ).values_list(
        "subject__code",
        "subject__site__code",
        "visit_id",
        "target_date",
        "window_end",
        "status",
        "actual_date",
    ):
        overdue = (
            status == VisitStatus.SCHEDULED
            and code not in ended
            and window_end is not None
            and window_end < as_of
        )
        visit_rows.append(
            {
                "subject": code,
                "site": site,
                "visit": visit_id,
                "target_date": target,
                "actual_date": actual if status == VisitStatus.DONE else None,
                "status": status,
                "due": status in (VisitStatus.DONE, VisitStatus.MISSED) or overdue,
            }
        )

    ae_rows = [
        {"subject": c, "site": s, "number": n, "onset_date": d, "serious": bool(seriousness)}
        for c, s, n, d, seriousness in AdverseEvent.objects.filter(
            subject__in=subjects
        ).values_list("subject__code", "subject__site__code", "number", "onset_date", "seriousness")
    ]
    deviation_rows = [
        {"subject": c, "site": s, "kind": k, "detected_on": d}
        for c, s, k, d in Deviation.objects.filter(
            subject__in=subjects, withdrawn_on__isnull=True
        ).values_list("subject__code", "subject__site__code", "kind", "detected_on")
    ]
    query_rows = [
        {"subject": c, "site": s, "number": n, "origin": o, "status": st, "opened_at": at}
        for c, s, n, o, st, at in Query.objects.filter(subject__in=subjects).values_list(
            "subject__code", "subject__site__code", "number", "origin", "status", "opened_at"
        )
    ]

    first_entry = {
        int(object_id): timezone.localdate(at)
        for object_id, at in access.audit_events()
        .filter(object_type="FormRecord", action="form.entered")
        .order_by()
        .values("object_id")
        .annotate(first=Min("at"))
        .values_list("object_id", "first")
    }
    entry_rows, item_rows = [], []
    for pk, code, site, visit_id, form, values, visit_date in (
        FormRecord.objects.filter(subject__in=subjects, visit__actual_date__isnull=False)
        .values_list(
            "pk",
            "subject__code",
            "subject__site__code",
            "visit__visit_id",
            "form",
            "values",
            "visit__actual_date",
        )
        .order_by("pk")
    ):
        entered = first_entry.get(pk)
        if entered is not None:
            entry_rows.append(
                {
                    "subject": code,
                    "site": site,
                    "visit": visit_id,
                    "form": form,
                    "visit_date": visit_date,
                    "entered_on": entered,
                    "lag_days": (entered - visit_date).days,
                }
            )
        for item, value in (values or {}).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                item_rows.append(
                    {
                        "subject": code,
                        "site": site,
                        "visit": visit_id,
                        "form": form,
                        "item": item,
                        "value": float(value),
                        "text": json.dumps(value),
                        "date": visit_date,
                    }
                )

    return MonitoringData(
        sites=frame("sites", site_rows),
        subjects=frame("subjects", subject_rows),
        visits=frame("visits", visit_rows),
        adverse_events=frame("adverse_events", ae_rows),
        deviations=frame("deviations", deviation_rows),
        queries=frame("queries", query_rows),
        entries=frame("entries", entry_rows),
        items=frame("items", item_rows),
        as_of=as_of,
    )
