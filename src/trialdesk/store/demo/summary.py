"""What a demo run left in the store, counted from the store itself rather than from the plan,
so the figures are what the services recorded. Arms appear only as counts.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trialdesk.store.models import Study


@dataclass(frozen=True)
class TrialSummary:
    """What a demo run left in the store, counted from the store once it is locked.

    `screen_failures` counts by reason: `ineligible: <the first criterion failed>`, or the
    reason recorded with the screen failure (e.g. a declined consent). `randomized` counts
    per arm id; no subject's arm is shown.
    """

    study: str
    seed: int
    first_screening: dt.date
    last_visit: dt.date
    screened: int
    screen_failures: dict[str, int]
    in_screening: int
    randomized: dict[str, int]
    treated: int
    completed: int
    withdrawn: int
    lost_to_follow_up: int
    visits_done: int
    visits_missed: int
    forms_saved: int
    adverse_events: int
    serious_adverse_events: int
    late_sae_reports: int
    deviations_automatic: int
    deviations_manual: int
    audit_events: int
    audit_verified: bool
    locked: bool
    elapsed_seconds: float
    #: site id -> how it misbehaves (the demo's choice, not read from the store); {} for none
    misbehaving_sites: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document["first_screening"] = self.first_screening.isoformat()
        document["last_visit"] = self.last_visit.isoformat()
        return document


def _screen_failures(study: Study) -> dict[str, int]:
    """Screen failures by reason: `ineligible: <the first criterion failed>` from the last
    eligibility record, otherwise the reason recorded with the status change."""
    from trialdesk.store.audit import study_label
    from trialdesk.store.lifecycle import SubjectStatus
    from trialdesk.store.models import AuditEvent, EligibilityRecord

    failed = SubjectStatus.SCREEN_FAILED
    records = {
        record.subject_id: record
        for record in EligibilityRecord.objects.filter(
            subject__study=study, subject__status=failed
        ).order_by("pk")
    }
    recorded = dict(
        AuditEvent.objects.filter(
            study=study_label(study), action=f"subject.{failed}", field="status"
        ).values_list("subject", "reason")
    )
    reasons: Counter[str] = Counter()
    for pk, code in study.subjects.filter(status=failed).values_list("pk", "code"):
        record = records.get(pk)
        if record is not None and record.verdict == "ineligible":
            first = next(c["id"] for c in record.criteria if c["result"] == "fail")
            reasons[f"ineligible: {first}"] += 1
        else:
            reasons[recorded[code]] += 1
    return dict(sorted(reasons.items()))


def trial_summary(
    study: Study, seed: int, started: float, misbehaving_sites: dict[str, str] | None = None
) -> TrialSummary:
    """The run's figures as the store holds them; the time includes verifying the trail."""
    from django.db.models import Max, Min

    from trialdesk.store.audit import study_label, verify_audit_chain
    from trialdesk.store.lifecycle import SubjectStatus
    from trialdesk.store.models import (
        AdverseEvent,
        Allocation,
        AuditEvent,
        Deviation,
        FormRecord,
        Study,
        Subject,
        Visit,
        VisitStatus,
    )

    label = study_label(study)
    subjects = Subject.objects.filter(study=study)
    statuses = Counter(subjects.values_list("status", flat=True))
    arms = Counter(
        Allocation.objects.filter(subject__study=study).values_list("slot__arm", flat=True)
    )
    visits = Visit.objects.filter(subject__study=study)
    visit_statuses = Counter(visits.values_list("status", flat=True))
    events = list(AdverseEvent.objects.filter(subject__study=study))
    serious = [event for event in events if event.serious]
    in_force = Deviation.objects.filter(subject__study=study, withdrawn_on__isnull=True)
    automatic = Counter(in_force.values_list("automatic", flat=True))
    screening = (SubjectStatus.SCREENED, SubjectStatus.CONSENTED, SubjectStatus.ELIGIBLE)
    return TrialSummary(
        study=label,
        seed=seed,
        first_screening=subjects.aggregate(first=Min("screened_on"))["first"],
        last_visit=visits.aggregate(last=Max("actual_date"))["last"],
        screened=subjects.count(),
        screen_failures=_screen_failures(study),
        in_screening=sum(statuses[status] for status in screening),
        randomized={arm.id: arms[arm.id] for arm in study.protocol().arms},
        treated=subjects.filter(day0__isnull=False).count(),
        completed=statuses[SubjectStatus.COMPLETED],
        withdrawn=statuses[SubjectStatus.WITHDRAWN],
        lost_to_follow_up=statuses[SubjectStatus.LOST_TO_FOLLOW_UP],
        visits_done=visit_statuses[VisitStatus.DONE],
        visits_missed=visit_statuses[VisitStatus.MISSED],
        forms_saved=FormRecord.objects.filter(subject__study=study).count(),
        adverse_events=len(events),
        serious_adverse_events=len(serious),
        late_sae_reports=sum(
            event.reported_at is not None and event.reported_at > event.report_due_at
            for event in serious
        ),
        deviations_automatic=automatic[True],
        deviations_manual=automatic[False],
        audit_events=AuditEvent.objects.filter(study=label).count(),
        audit_verified=verify_audit_chain().ok,
        locked=Study.objects.get(pk=study.pk).locked,
        elapsed_seconds=round(time.perf_counter() - started, 1),
        misbehaving_sites=dict(sorted((misbehaving_sites or {}).items())),
    )
