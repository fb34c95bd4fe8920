"""Adverse events, their expedited reports and protocol deviations of a subject."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import timezone
from ninja import Router, Status

from trialdesk.records.adverse_event import ADVERSE_EVENT
from trialdesk.store.calendar import overdue_sae_reports
from trialdesk.store.models import AdverseEvent, Deviation
from trialdesk.store.services.safety import (
    record_sae_report,
    report_adverse_event,
    update_adverse_event,
)
from trialdesk.store.services.visits import record_deviation
from trialdesk.web.api.context import SUBJECT, study_for, subject_for
from trialdesk.web.api.errors import READ_ERRORS, WRITE_ERRORS
from trialdesk.web.api.schemas import (
    AdverseEventChangeIn,
    AdverseEventIn,
    AdverseEventOut,
    DeviationIn,
    DeviationOut,
    SaeReportIn,
)

router = Router(tags=["safety and deviations"])

EVENT = SUBJECT + "/adverse-events/{number}"


def _event_row(event: AdverseEvent) -> dict:
    return {
        "subject": event.subject.code,
        "serious": event.serious,
        **{name: getattr(event, name) for name in ADVERSE_EVENT.names},
    }


def _deviation_row(deviation: Deviation) -> dict:
    return {
        "id": deviation.pk,
        "visit": deviation.visit.visit_id if deviation.visit else None,
        "kind": deviation.kind,
        "description": deviation.description,
        "detected_on": deviation.detected_on,
        "automatic": deviation.automatic,
        "withdrawn_on": deviation.withdrawn_on,
    }


@router.get("/studies/{study}/sae-overdue", response={200: list[AdverseEventOut], **READ_ERRORS})
def sae_overdue(request: HttpRequest, study: str, version: str | None = None) -> list[dict]:
    """Serious adverse events of the user's subjects whose report is overdue, oldest first."""
    access = study_for(request, study, version)
    visible = set(access.subjects().values_list("pk", flat=True))
    return [
        _event_row(event)
        for event in overdue_sae_reports(access.study, timezone.now())
        if event.subject_id in visible
    ]


@router.get(SUBJECT + "/adverse-events", response={200: list[AdverseEventOut], **READ_ERRORS})
def adverse_events(
    request: HttpRequest, study: str, code: str, version: str | None = None
) -> list[dict]:
    _, subject = subject_for(request, study, code, version)
    return [_event_row(event) for event in subject.adverse_events.order_by("number")]


@router.post(SUBJECT + "/adverse-events", response={201: AdverseEventOut, **WRITE_ERRORS})
def report(
    request: HttpRequest, study: str, code: str, body: AdverseEventIn, version: str | None = None
) -> Status:
    """Report a new adverse event; it takes the subject's next number."""
    access, _ = subject_for(request, study, code, version)
    chosen, user = access.study, access.user
    event = report_adverse_event(chosen, code, by=user.username, **body.model_dump())
    return Status(201, _event_row(event))


@router.patch(EVENT, response={200: AdverseEventOut, **WRITE_ERRORS})
def change(
    request: HttpRequest,
    study: str,
    code: str,
    number: int,
    body: AdverseEventChangeIn,
    version: str | None = None,
) -> dict:
    """Correct or follow up an adverse event, with a reason."""
    access, _ = subject_for(request, study, code, version)
    chosen, user = access.study, access.user
    changes = body.changes.model_dump(exclude_unset=True)
    event = update_adverse_event(chosen, code, number, changes, body.reason, user.username)
    return _event_row(event)


@router.post(EVENT + "/report", response={200: AdverseEventOut, **WRITE_ERRORS})
def sae_report(
    request: HttpRequest,
    study: str,
    code: str,
    number: int,
    body: SaeReportIn,
    version: str | None = None,
) -> dict:
    """When the serious event was reported to the sponsor."""
    access, _ = subject_for(request, study, code, version)
    chosen, user = access.study, access.user
    event = record_sae_report(
        chosen, code, number, body.reported_at, user.username, reason=body.reason
    )
    return _event_row(event)


@router.get(SUBJECT + "/deviations", response={200: list[DeviationOut], **READ_ERRORS})
def deviations(
    request: HttpRequest, study: str, code: str, version: str | None = None
) -> list[dict]:
    """The subject's protocol deviations, automatic (visit out of window) and manual."""
    _, subject = subject_for(request, study, code, version)
    found = subject.deviations.select_related("visit").order_by("detected_on", "pk")
    return [_deviation_row(deviation) for deviation in found]


@router.post(SUBJECT + "/deviations", response={201: DeviationOut, **WRITE_ERRORS})
def deviation(
    request: HttpRequest, study: str, code: str, body: DeviationIn, version: str | None = None
) -> Status:
    """Record a protocol deviation found by site staff or in data review."""
    access, _ = subject_for(request, study, code, version)
    chosen, user = access.study, access.user
    recorded = record_deviation(chosen, code, by=user.username, **body.model_dump())
    return Status(201, _deviation_row(recorded))
