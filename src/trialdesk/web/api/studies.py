"""The user, their studies, a study's plan, its audit trail and (unblinded) allocation list."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest
from ninja import Router
from ninja.pagination import paginate

from trialdesk.store.access import Access, accesses_of
from trialdesk.store.models import AllocationSlot, AuditEvent, Kit
from trialdesk.web.api.context import study_for, user_of
from trialdesk.web.api.errors import READ_ERRORS
from trialdesk.web.api.schemas import (
    AllocationSlotOut,
    AuditEventOut,
    ErrorOut,
    MeOut,
    Page,
    StudyOut,
    StudySummaryOut,
)

router = Router(tags=["studies"])


def blinding(access: Access) -> dict:
    """How the user is blinded in the study: `blinded` if some site whose subjects they read
    is one where they are blinded, and the sites where they are not."""
    return {
        "blinded": access.blinded_anywhere,
        "unblinded_sites": access.unblinded_site_codes(),
    }


@router.get("/me", response=MeOut)
def me(request: HttpRequest) -> dict:
    """The user's live roles in each study, and where they are blinded."""
    user = user_of(request)
    return {
        "user": user.username,
        "studies": [
            {
                "study": access.study.protocol_id,
                "version": access.study.version,
                "roles": [
                    {"role": grant.role.value, "site": grant.site_code} for grant in access.grants
                ],
                **blinding(access),
            }
            for access in accesses_of(user)
        ],
    }


@router.get("/studies", response=list[StudySummaryOut])
def list_studies(request: HttpRequest) -> list[dict]:
    return [
        {
            "study": access.study.protocol_id,
            "version": access.study.version,
            "locked": access.study.locked,
            "reopened_after_lock": access.study.reopened_after_lock,
            **blinding(access),
        }
        for access in accesses_of(user_of(request))
    ]


@router.get(
    "/studies/{study}",
    response={200: StudyOut, **READ_ERRORS},
    exclude_unset=True,
)
def study_detail(request: HttpRequest, study: str, version: str | None = None) -> dict:
    """The study's plan: sites, visits and their forms, treatment plan; arms if unblinded."""
    access = study_for(request, study, version)
    chosen, protocol = access.study, access.study.protocol()
    forms = list(dict.fromkeys(form for visit in protocol.visits for form in visit.forms))
    detail = {
        "study": chosen.protocol_id,
        "version": chosen.version,
        "locked": chosen.locked,
        "reopened_after_lock": chosen.reopened_after_lock,
        **blinding(access),
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
    arms = access.arms()
    if arms is not None:
        detail["arms"] = arms
    return detail


@router.get("/studies/{study}/audit", response={200: list[AuditEventOut], **READ_ERRORS})
@paginate(Page)
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
    the allocation list's events only to a user unblinded at every site (`access.audit_events`).
    """
    access = study_for(request, study, version)
    events = access.audit_events()
    if subject is not None:
        events = events.filter(subject=access.subject(subject).code)
    if action is not None:
        events = events.filter(action=action)
    if by is not None:
        events = events.filter(by=by)
    return events.order_by("seq")


@router.get(
    "/studies/{study}/allocation-list",
    response={200: list[AllocationSlotOut], 403: ErrorOut, **READ_ERRORS},
)
@paginate(Page)
def allocation_list(
    request: HttpRequest, study: str, version: str | None = None
) -> QuerySet[AllocationSlot]:
    """*Unblinded.* The slots of the strata the user is unblinded for (every stratum for a
    study-wide unblinded role, else their unblinded sites'), with arm, block, subject and kits;
    403 for a user blinded at every site."""
    return (
        study_for(request, study, version)
        .allocation_slots()
        .select_related("stratum", "allocation__subject")
        .prefetch_related(Prefetch("kits", Kit.objects.order_by("administration_index")))
        .order_by("stratum__number", "seq")
    )
