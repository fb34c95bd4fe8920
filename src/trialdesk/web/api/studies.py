"""The user, their studies, a study's plan, its audit trail and (unblinded) allocation list."""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest
from ninja import Router
from ninja.pagination import LimitOffsetPagination, paginate

from trialdesk.store.access import is_blinded, is_study_wide, require_read, visible_subjects
from trialdesk.store.audit import study_label
from trialdesk.store.models import (
    AllocationSlot,
    AuditEvent,
    Kit,
    RoleAssignment,
    Study,
)
from trialdesk.web.api.context import refuse_blinded, studies_of, study_for, user_of
from trialdesk.web.api.errors import READ_ERRORS
from trialdesk.web.api.schemas import (
    AllocationSlotOut,
    AuditEventOut,
    ErrorOut,
    MeOut,
    StudyOut,
    StudySummaryOut,
)

router = Router(tags=["studies"])

#: Audit events that blinded readers do not get: the allocation list's block sizes and digest.
UNBLINDED_AUDIT_OBJECTS = ("AllocationList",)


@router.get("/me", response=MeOut)
def me(request: HttpRequest) -> dict:
    user = user_of(request)
    roles: dict[Study, list[dict]] = defaultdict(list)
    assignments = RoleAssignment.objects.filter(user=user).select_related("study", "site")
    for assignment in assignments.order_by("study__protocol_id", "study__version", "pk"):
        site = assignment.site.code if assignment.site else None
        roles[assignment.study].append({"role": assignment.role, "site": site})
    return {
        "user": user.username,
        "studies": [
            {
                "study": study.protocol_id,
                "version": study.version,
                "roles": study_roles,
                "blinded": is_blinded(study, user),
            }
            for study, study_roles in roles.items()
        ],
    }


@router.get("/studies", response=list[StudySummaryOut])
def list_studies(request: HttpRequest) -> list[dict]:
    user = user_of(request)
    studies = studies_of(user)
    return [
        {
            "study": study.protocol_id,
            "version": study.version,
            "locked": study.locked,
            "reopened_after_lock": study.reopened_after_lock,
            "blinded": is_blinded(study, user),
        }
        for study in studies.order_by("protocol_id", "version")
    ]


@router.get(
    "/studies/{study}",
    response={200: StudyOut, **READ_ERRORS},
    exclude_unset=True,
)
def study_detail(request: HttpRequest, study: str, version: str | None = None) -> dict:
    """The study's plan: sites, visits and their forms, treatment plan; arms if unblinded."""
    chosen = study_for(request, study, version)
    protocol = chosen.protocol()
    blinded = is_blinded(chosen, user_of(request))
    forms = list(dict.fromkeys(form for visit in protocol.visits for form in visit.forms))
    detail = {
        "study": chosen.protocol_id,
        "version": chosen.version,
        "locked": chosen.locked,
        "reopened_after_lock": chosen.reopened_after_lock,
        "blinded": blinded,
        "sites": [{"code": site.code, "name": site.name} for site in chosen.sites.order_by("code")],
        "visits": [
            {
                "id": visit.id,
                "label": visit.label,
                "day": visit.day,
                "window_before": visit.window_before,
                "window_after": visit.window_after,
                "forms": visit.forms,
            }
            for visit in protocol.visits
        ],
        "forms": forms,
        "treatment_plan": [
            {"id": step.id, "label": step.label, "day": step.day}
            for step in protocol.treatment_plan
        ],
    }
    if not blinded:
        detail["arms"] = [
            {"id": arm.id, "label": arm.label, "type": arm.type.value} for arm in protocol.arms
        ]
    return detail


@router.get("/studies/{study}/audit", response={200: list[AuditEventOut], **READ_ERRORS})
@paginate(LimitOffsetPagination)
def audit_trail(
    request: HttpRequest,
    study: str,
    version: str | None = None,
    subject: str | None = None,
    action: str | None = None,
    by: str | None = None,
) -> QuerySet[AuditEvent]:
    """The study's audit events, oldest first, for the subjects the user may read; `action`
    (e.g. form.changed) and `by` (a user name) narrow the review.

    Events about the study itself (sites, users, lists) are shown to study-wide roles only;
    blinded users never get the allocation list's events.
    """
    chosen = study_for(request, study, version)
    user = user_of(request)
    events = AuditEvent.objects.filter(study=study_label(chosen))
    if subject is not None:
        events = events.filter(subject=require_read(chosen, user, subject).code)
    elif not is_study_wide(chosen, user):
        events = events.filter(subject__in=visible_subjects(chosen, user).values("code"))
    if action is not None:
        events = events.filter(action=action)
    if by is not None:
        events = events.filter(by=by)
    if is_blinded(chosen, user):
        events = events.exclude(object_type__in=UNBLINDED_AUDIT_OBJECTS)
    return events.order_by("seq")


@router.get(
    "/studies/{study}/allocation-list",
    response={200: list[AllocationSlotOut], 403: ErrorOut, **READ_ERRORS},
)
@paginate(LimitOffsetPagination)
def allocation_list(
    request: HttpRequest, study: str, version: str | None = None
) -> QuerySet[AllocationSlot]:
    """*Unblinded.* Every slot of every stratum with its arm, block, subject and kits."""
    chosen = study_for(request, study, version)
    refuse_blinded(chosen, user_of(request), "the allocation list")
    return (
        AllocationSlot.objects.filter(stratum__study=chosen)
        .select_related("stratum", "allocation__subject")
        .prefetch_related(Prefetch("kits", Kit.objects.order_by("administration_index")))
        .order_by("stratum__number", "seq")
    )
