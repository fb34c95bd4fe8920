"""The study store read into a `StudyExtract` for the analysis datasets (read only).

What a reader's extract holds is the access policy's (`trialdesk.store.access`): the subjects
of `Access.subjects()` (a site-bound reader's sites only) and every row of those subjects, and
the arms only for a reader who may see results by arm (`Access.may_see_results_by_arm`);
anyone else's allocations have `arm` None. Even so, whoever shows an extract to a blinded
reader blinds the datasets (`trialdesk.analysis.datasets.blind`).

One query per table, each a `values()` over the rows of those subjects with the joins it
needs (the subjects a subquery), so the number of queries does not grow with the number of
subjects.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from trialdesk.analysis.datasets import StudyExtract
from trialdesk.records.adverse_event import ADVERSE_EVENT
from trialdesk.store.audit import study_label
from trialdesk.store.models import (
    AdverseEvent,
    Allocation,
    AuditEvent,
    Deviation,
    EligibilityRecord,
    FormRecord,
    Kit,
    PatientAnswer,
    PatientLink,
    Signature,
    Study,
    Subject,
    UnblindingEvent,
    Visit,
)

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from trialdesk.store.access import Access


def _rows(queryset: Any, **renamed: str) -> tuple[dict[str, Any], ...]:
    """`values()` rows with the lookups in `renamed` (new name -> lookup) renamed."""
    out = []
    for row in queryset.values(*renamed.values()):
        out.append({new: row[old] for new, old in renamed.items()})
    return tuple(out)


#: A subject's row: extract name -> lookup.
SUBJECT_FIELDS = {
    "id": "pk",
    "code": "code",
    "site": "site__code",
    "status": "status",
    "age": "age_at_screening",
    "sex": "sex",
    "screened_on": "screened_on",
    "day0": "day0",
}


def subject_rows(subjects: QuerySet[Subject]) -> tuple[dict[str, Any], ...]:
    return _rows(subjects, **SUBJECT_FIELDS)


#: A signature's row: extract name -> lookup.
SIGNATURE_FIELDS = {
    "id": "pk",
    "subject": "subject__code",
    "visit_id": "visit_id",
    "signer": "signer__username",
    "printed_name": "printed_name",
    "meaning": "meaning",
    "signed_at": "signed_at",
    "broken_at": "broken_at",
    "broken_by": "broken_by",
}


def signature_rows(subjects: QuerySet[Subject]) -> tuple[dict[str, Any], ...]:
    """The signatures of `subjects` (broken ones too), in the order they were made."""
    return _rows(
        Signature.objects.filter(subject__in=subjects.values("pk")).order_by("pk"),
        **SIGNATURE_FIELDS,
    )


def readable_subjects(access: Access) -> QuerySet[Subject]:
    """The subjects of the study the reader may read (none without a role)."""
    return access.subjects() if access.has_role else Subject.objects.none()


def study_row(study: Study) -> dict[str, Any]:
    """The extract's row of the study itself, `extracted_at` now."""
    return {
        "protocol_id": study.protocol_id,
        "version": study.version,
        "protocol_sha256": study.protocol_sha256,
        "locked": study.locked,
        "reopened_after_lock": study.reopened_after_lock,
        "extracted_at": timezone.now(),
    }


def extract_study(access: Access, subjects: QuerySet[Subject] | None = None) -> StudyExtract:
    """Every table the analysis reads, for the study's subjects the reader may read (or
    those of `subjects`, a part of them); with arms only if the reader may see results by
    arm."""
    study = access.study
    if subjects is None:
        subjects = readable_subjects(access)
    of_study = {"subject__in": subjects.values("pk")}
    allocations = _rows(
        Allocation.objects.filter(**of_study).order_by("pk"),
        id="pk",
        subject="subject__code",
        randomization_number="randomization_number",
        stratum="slot__stratum__key",
        **({"arm": "slot__arm"} if access.may_see_results_by_arm else {}),
    )
    if not access.may_see_results_by_arm:
        allocations = tuple({**row, "arm": None} for row in allocations)
    return StudyExtract(
        study=study_row(study),
        subjects=subject_rows(subjects.order_by("pk")),
        status_changes=_status_changes(study, subjects),
        eligibility=_rows(
            EligibilityRecord.objects.filter(**of_study).order_by("pk"),
            id="pk",
            subject="subject__code",
            verdict="verdict",
            criteria="criteria",
        ),
        allocations=allocations,
        administrations=_rows(
            Kit.objects.filter(study=study, dispensed_to__in=subjects.values("pk")).order_by(
                "dispensed_to", "administration_index"
            ),
            id="pk",
            subject="dispensed_to__code",
            administration_id="administration_id",
            administered_on="administered_on",
            kit_number="kit_number",
        ),
        visits=_rows(
            Visit.objects.filter(**of_study).order_by("pk"),
            id="pk",
            subject="subject__code",
            visit_id="visit_id",
            status="status",
            actual_date="actual_date",
            window_start="window_start",
            window_end="window_end",
        ),
        forms=_rows(
            FormRecord.objects.filter(**of_study).order_by("pk"),
            id="pk",
            subject="subject__code",
            visit_id="visit__visit_id",
            form="form",
            values="values",
            scores="scores",
        ),
        adverse_events=_rows(
            AdverseEvent.objects.filter(**of_study).order_by("pk"),
            id="pk",
            subject="subject__code",
            **{name: name for name in ADVERSE_EVENT.names},
        ),
        deviations=_rows(
            Deviation.objects.filter(**of_study).order_by("pk"),
            id="pk",
            subject="subject__code",
            visit_id="visit__visit_id",
            kind="kind",
            description="description",
            detected_on="detected_on",
            automatic="automatic",
        ),
        unblindings=_rows(
            UnblindingEvent.objects.filter(**of_study).order_by("pk"),
            id="pk",
            subject="subject__code",
            user="user__username",
            reason="reason",
            unblinded_at="unblinded_at",
        ),
        signatures=signature_rows(subjects),
        patient_links=_rows(
            PatientLink.objects.filter(**of_study).order_by("pk"),
            id="pk",
            subject="subject__code",
            time_zone="time_zone",
            created_at="created_at",
        ),
        patient_answers=_rows(
            PatientAnswer.objects.filter(**of_study).order_by("pk"),
            id="pk",
            subject="subject__code",
            schedule="schedule",
            day="day",
            item="item",
            received_at="received_at",
            late="late",
        ),
    )


def _status_changes(study: Study, subjects: Any) -> tuple[dict[str, Any], ...]:
    """Every change of these subjects' status with its reason, from the audit trail, in order.

    Reasons (a screen failure's, a withdrawal's) live only in the trail: the subject row
    keeps the current status.
    """
    events = AuditEvent.objects.filter(
        study=study_label(study),
        object_type="Subject",
        field="status",
        subject__in=subjects.values("code"),
    ).order_by("seq")
    return tuple(
        {
            "id": event["pk"],
            "subject": event["subject"],
            "status": json.loads(event["new_value"]),
            "reason": event["reason"],
        }
        for event in events.values("pk", "subject", "new_value", "reason")
    )
