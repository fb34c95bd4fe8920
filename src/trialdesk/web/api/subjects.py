"""Subjects: screening, consent, eligibility, randomization, administrations, status steps,
emergency unblinding and (unblinded) kits.

Every subject endpoint first checks that the user may read the subject (`subject_for`), so a
site-bound user gets 404 for a subject of another site, for writes as for reads. Writes go
through the services, which check the role for the step. Arms and kits enter a response only
through the user's `Access` (`access.unblinded`, `access.kits`), which knows, per site, whether
the user is blinded there; emergency unblinding is the one exception, on purpose.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Status

from trialdesk.store.access import Access
from trialdesk.store.models import Allocation, Kit, Subject
from trialdesk.store.services.allocation import (
    randomize_subject,
    record_administration,
    unblind_subject,
)
from trialdesk.store.services.subjects import (
    complete_subject,
    evaluate_eligibility,
    record_consent,
    record_lost_to_follow_up,
    record_screen_failure,
    screen_subject,
    withdraw_subject,
)
from trialdesk.web.api.context import SUBJECT, study_for, subject_for
from trialdesk.web.api.errors import READ_ERRORS, WRITE_ERRORS
from trialdesk.web.api.schemas import (
    AdministrationIn,
    AdministrationOut,
    ConsentIn,
    EligibilityIn,
    EligibilityOut,
    ErrorOut,
    KitOut,
    RandomizationOut,
    ReasonIn,
    ScreeningIn,
    SubjectFilters,
    SubjectOut,
    SubjectSummaryOut,
    UnblindingOut,
)

router = Router(tags=["subjects"])


def reserved_kits(subject: Subject) -> QuerySet[Kit]:
    """The kits of the subject's allocation slot, one per administration, in plan order."""
    return Kit.objects.filter(slot__allocation__subject=subject).order_by("administration_index")


def subject_detail(access: Access, subject: Subject) -> dict:
    """What the user may see of a subject (one they may read); its arm only if they are
    unblinded at the subject's site."""
    allocation = Allocation.objects.select_related("slot").filter(subject=subject).first()
    consent = subject.consents.order_by("-pk").first()
    eligibility = subject.eligibility.order_by("-pk").first()
    # No kits before randomization; those dispensed are the subject's own (only
    # `record_administration` dispenses, from the subject's slot).
    kits = list(reserved_kits(subject)) if allocation else []
    detail = {
        "code": subject.code,
        "site": subject.site.code,
        "status": subject.status,
        "randomization_number": allocation.randomization_number if allocation else None,
        "year_of_birth": subject.year_of_birth,
        "age_at_screening": subject.age_at_screening,
        "sex": subject.sex,
        "screened_on": subject.screened_on,
        "day0": subject.day0,
        "consent": None,
        "eligibility": None,
        "kit_numbers": [kit.kit_number for kit in kits],
        "administrations": [
            {
                "administration_id": kit.administration_id,
                "kit_number": kit.kit_number,
                "administered_on": kit.administered_on,
            }
            for kit in kits
            if kit.dispensed_to_id == subject.pk
        ],
    }
    if consent is not None:
        detail["consent"] = {
            "consent_version": consent.consent_version,
            "consented_on": consent.consented_on,
        }
    if eligibility is not None:
        detail["eligibility"] = {
            "verdict": eligibility.verdict,
            "criteria": eligibility.criteria,
            "evaluated_at": eligibility.evaluated_at,
        }
    if allocation:
        detail.update(access.unblinded(subject.site_id, arm=allocation.slot.arm))
    return detail


@router.get("/studies/{study}/subjects", response={200: list[SubjectSummaryOut], **READ_ERRORS})
def list_subjects(
    request: HttpRequest,
    response: HttpResponse,
    study: str,
    version: str | None = None,
    filters: Query[SubjectFilters] = None,  # type: ignore[assignment]
) -> list[dict]:
    """The subjects of the user's sites (all of them for a study-wide role), by code.

    `site`, `status` and `q` (the code contains it, any case) narrow the list; a site the user
    does not read, or that the study does not have, gives an empty list. `limit` and `offset`
    page it as the audit trail's do; without `limit` every subject is listed (as before the
    paging). The answer stays a JSON list; its `X-Total-Count` header gives how many subjects
    match the filters before paging."""
    subjects = study_for(request, study, version).subjects().select_related("allocation", "site")
    if filters.site is not None:
        subjects = subjects.filter(site__code=filters.site)
    if filters.status is not None:
        subjects = subjects.filter(status=filters.status)
    if filters.q:
        subjects = subjects.filter(code__icontains=filters.q)
    subjects = subjects.order_by("code")
    response["X-Total-Count"] = str(subjects.count())
    end = None if filters.limit is None else filters.offset + filters.limit
    rows = []
    for subject in subjects[filters.offset : end]:
        allocation = getattr(subject, "allocation", None)  # None before randomization
        rows.append(
            {
                "code": subject.code,
                "site": subject.site.code,
                "status": subject.status,
                "randomization_number": allocation.randomization_number if allocation else None,
            }
        )
    return rows


@router.post(
    "/studies/{study}/subjects",
    response={201: SubjectOut, **WRITE_ERRORS},
    exclude_unset=True,
)
def screen(
    request: HttpRequest, study: str, body: ScreeningIn, version: str | None = None
) -> Status:
    """Register a patient at screening; the site's next SITE-NNN code is given."""
    access = study_for(request, study, version)
    subject = screen_subject(
        access.study,
        body.site,
        year_of_birth=body.year_of_birth,
        age=body.age,
        sex=body.sex,
        by=access.user.username,
        screened_on=body.screened_on,
    )
    return Status(201, subject_detail(access, subject))


@router.get(SUBJECT, response={200: SubjectOut, **READ_ERRORS}, exclude_unset=True)
def subject(request: HttpRequest, study: str, code: str, version: str | None = None) -> dict:
    return subject_detail(*subject_for(request, study, code, version))


@router.post(SUBJECT + "/consent", response={200: SubjectOut, **WRITE_ERRORS}, exclude_unset=True)
def consent(
    request: HttpRequest, study: str, code: str, body: ConsentIn, version: str | None = None
) -> dict:
    access, _ = subject_for(request, study, code, version)
    recorded = record_consent(
        access.study,
        code,
        consented_on=body.consented_on,
        consent_version=body.consent_version,
        by=access.user.username,
    )
    return subject_detail(access, recorded.subject)


@router.post(SUBJECT + "/eligibility", response={200: EligibilityOut, **WRITE_ERRORS})
def eligibility(
    request: HttpRequest, study: str, code: str, body: EligibilityIn, version: str | None = None
) -> dict:
    """Evaluate the criteria on the screening forms and the investigator's attestations."""
    access, _ = subject_for(request, study, code, version)
    result = evaluate_eligibility(access.study, code, body.attestations, access.user.username)
    return {
        "verdict": result.verdict,
        "criteria": [criterion.to_json() for criterion in result.criteria],
    }


@router.post(SUBJECT + "/randomize", response={200: RandomizationOut, **WRITE_ERRORS})
def randomize(request: HttpRequest, study: str, code: str, version: str | None = None) -> dict:
    """Allocate the subject: its randomization number and kit numbers, never its arm."""
    access, _ = subject_for(request, study, code, version)
    randomization = randomize_subject(access.study, code, access.user.username)
    return {
        "subject": randomization.subject,
        "randomization_number": randomization.randomization_number,
        "kit_numbers": list(randomization.kit_numbers),
    }


@router.post(SUBJECT + "/administrations", response={201: AdministrationOut, **WRITE_ERRORS})
def administer(
    request: HttpRequest, study: str, code: str, body: AdministrationIn, version: str | None = None
) -> Status:
    """Record a treatment administration with the subject's kit for it."""
    access, _ = subject_for(request, study, code, version)
    kit_number = record_administration(
        access.study, code, body.administration_id, body.administered_on, access.user.username
    )
    return Status(
        201,
        {
            "administration_id": body.administration_id,
            "kit_number": kit_number,
            "administered_on": body.administered_on,
        },
    )


@router.post(SUBJECT + "/withdraw", response={200: SubjectOut, **WRITE_ERRORS}, exclude_unset=True)
def withdraw(
    request: HttpRequest, study: str, code: str, body: ReasonIn, version: str | None = None
) -> dict:
    access, _ = subject_for(request, study, code, version)
    withdrawn = withdraw_subject(access.study, code, body.reason, access.user.username)
    return subject_detail(access, withdrawn)


@router.post(
    SUBJECT + "/lost-to-follow-up", response={200: SubjectOut, **WRITE_ERRORS}, exclude_unset=True
)
def lost_to_follow_up(
    request: HttpRequest, study: str, code: str, body: ReasonIn, version: str | None = None
) -> dict:
    access, _ = subject_for(request, study, code, version)
    lost = record_lost_to_follow_up(access.study, code, body.reason, access.user.username)
    return subject_detail(access, lost)


@router.post(SUBJECT + "/complete", response={200: SubjectOut, **WRITE_ERRORS}, exclude_unset=True)
def complete(request: HttpRequest, study: str, code: str, version: str | None = None) -> dict:
    access, _ = subject_for(request, study, code, version)
    completed = complete_subject(access.study, code, access.user.username)
    return subject_detail(access, completed)


@router.post(
    SUBJECT + "/screen-failure", response={200: SubjectOut, **WRITE_ERRORS}, exclude_unset=True
)
def screen_failure(
    request: HttpRequest, study: str, code: str, body: ReasonIn, version: str | None = None
) -> dict:
    access, _ = subject_for(request, study, code, version)
    failed = record_screen_failure(access.study, code, body.reason, access.user.username)
    return subject_detail(access, failed)


@router.post(SUBJECT + "/unblind", response={200: UnblindingOut, **WRITE_ERRORS})
def unblind(
    request: HttpRequest, study: str, code: str, body: ReasonIn, version: str | None = None
) -> dict:
    """Emergency unblinding of this one subject by an investigator, with the reason (audited).

    The one response that gives a blinded user an arm: this subject's, and only here.
    """
    access, _ = subject_for(request, study, code, version)
    arm = unblind_subject(access.study, code, body.reason, access.user.username)
    labels = {candidate.id: candidate.label for candidate in access.study.protocol().arms}
    return {"subject": code, "arm": arm, "arm_label": labels[arm]}


@router.get(SUBJECT + "/kits", response={200: list[KitOut], 403: ErrorOut, **READ_ERRORS})
def kits(request: HttpRequest, study: str, code: str, version: str | None = None) -> list[dict]:
    """*Unblinded.* The kits reserved for the subject's slot, with their arm: for a user
    unblinded at the subject's site (403 otherwise)."""
    access, subject = subject_for(request, study, code, version)
    return [
        {
            "kit_number": kit.kit_number,
            "arm": kit.arm,
            "administration_index": kit.administration_index,
            "administration_id": kit.administration_id or None,
            "administered_on": kit.administered_on,
        }
        for kit in access.kits(subject)
    ]
