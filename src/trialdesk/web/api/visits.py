"""A subject's visits and forms: the calendar, visit dates, missed visits, form entry."""

from __future__ import annotations

from dataclasses import asdict

from django.http import HttpRequest
from django.utils import timezone
from ninja import Router

from trialdesk.store.calendar import subject_calendar
from trialdesk.store.errors import NotFound
from trialdesk.store.models import FormRecord, Subject
from trialdesk.store.services.forms import save_form
from trialdesk.store.services.visits import record_missed_visit, record_visit
from trialdesk.web.api.context import SUBJECT, subject_for
from trialdesk.web.api.errors import READ_ERRORS, WRITE_ERRORS
from trialdesk.web.api.schemas import (
    FormIn,
    FormPatchIn,
    FormRecordOut,
    ReasonIn,
    VisitDateIn,
    VisitOut,
)

router = Router(tags=["visits and forms"])

VISIT = SUBJECT + "/visits/{visit_id}"


def _form_row(record: FormRecord) -> dict:
    return {
        "visit": record.visit.visit_id,
        "form": record.form,
        "values": record.values,
        "scores": record.scores,
        "completed_at": record.completed_at,
    }


@router.get(SUBJECT + "/visits", response={200: list[VisitOut], **READ_ERRORS})
def visits(request: HttpRequest, study: str, code: str, version: str | None = None) -> list:
    """Every protocol visit of the subject with its window and where it stands today."""
    _, subject = subject_for(request, study, code, version)
    return [asdict(entry) for entry in subject_calendar(subject, timezone.now().date())]


@router.post(VISIT, response={200: VisitOut, **WRITE_ERRORS})
def visit_date(
    request: HttpRequest,
    study: str,
    code: str,
    visit_id: str,
    body: VisitDateIn,
    version: str | None = None,
) -> dict:
    """The visit took place on `visit_date`; changing a recorded date needs a reason."""
    access, subject = subject_for(request, study, code, version)
    chosen, user = access.study, access.user
    record_visit(chosen, code, visit_id, body.visit_date, user.username, reason=body.reason)
    return _calendar_entry(subject, visit_id)


@router.post(VISIT + "/missed", response={200: VisitOut, **WRITE_ERRORS})
def missed_visit(
    request: HttpRequest,
    study: str,
    code: str,
    visit_id: str,
    body: ReasonIn,
    version: str | None = None,
) -> dict:
    """The visit did not take place, with the reason."""
    access, subject = subject_for(request, study, code, version)
    chosen, user = access.study, access.user
    record_missed_visit(chosen, code, visit_id, body.reason, user.username)
    return _calendar_entry(subject, visit_id)


def _calendar_entry(subject: Subject, visit_id: str) -> dict:
    entries = subject_calendar(subject, timezone.now().date())
    return next(asdict(entry) for entry in entries if entry.visit_id == visit_id)


@router.get(SUBJECT + "/forms", response={200: list[FormRecordOut], **READ_ERRORS})
def forms(request: HttpRequest, study: str, code: str, version: str | None = None) -> list:
    """Every form entered for the subject, visit by visit."""
    _, subject = subject_for(request, study, code, version)
    records = FormRecord.objects.filter(subject=subject).select_related("visit")
    return [_form_row(record) for record in records.order_by("visit__target_date", "pk")]


@router.get(VISIT + "/forms/{form}", response={200: FormRecordOut, **READ_ERRORS})
def form(
    request: HttpRequest,
    study: str,
    code: str,
    visit_id: str,
    form: str,
    version: str | None = None,
) -> dict:
    access, subject = subject_for(request, study, code, version)
    chosen = access.study
    plan = next((visit for visit in chosen.protocol().visits if visit.id == visit_id), None)
    if plan is None:
        raise NotFound(f"subject {code}: no visit {visit_id!r} in the protocol")
    if form not in plan.forms:
        raise NotFound(
            f"subject {code}, visit {visit_id}: form {form!r} is not collected at this visit "
            f"({', '.join(plan.forms)})"
        )
    record = (
        FormRecord.objects.filter(subject=subject, visit__visit_id=visit_id, form=form)
        .select_related("visit")
        .first()
    )
    if record is None:
        raise NotFound(f"subject {code}, visit {visit_id}: form {form} is not entered")
    return _form_row(record)


@router.put(VISIT + "/forms/{form}", response={200: FormRecordOut, **WRITE_ERRORS})
def enter_form(
    request: HttpRequest,
    study: str,
    code: str,
    visit_id: str,
    form: str,
    body: FormIn,
    version: str | None = None,
) -> dict:
    """Enter or change a form; changing saved values needs a reason."""
    access, _ = subject_for(request, study, code, version)
    chosen, user = access.study, access.user
    record = save_form(chosen, code, visit_id, form, body.values, user.username, body.reason)
    return _form_row(record)


@router.patch(VISIT + "/forms/{form}", response={200: FormRecordOut, **WRITE_ERRORS})
def change_form(
    request: HttpRequest,
    study: str,
    code: str,
    visit_id: str,
    form: str,
    body: FormPatchIn,
    version: str | None = None,
) -> dict:
    """Enter or change some items of a form: the items not given keep their saved values.
    Changing an item's saved value needs a reason; `complete` marks the form complete."""
    access, _ = subject_for(request, study, code, version)
    chosen, user = access.study, access.user
    record = save_form(
        chosen,
        code,
        visit_id,
        form,
        body.values,
        user.username,
        body.reason,
        partial=True,
        complete=body.complete,
    )
    return _form_row(record)
