"""The subject's page (the hub: summary, calendar, events, next steps) and the visit page
(record the date, with a warning before saving outside the window; mark missed; the forms).

Views parse, call the store, render: the rules live in `trialdesk.store.calendar`,
`calendar_rows` and `steps`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from trialdesk.errors import TrialdeskError
from trialdesk.store.access import Access
from trialdesk.store.calendar import subject_calendar
from trialdesk.store.models import LockLevel, Subject, VisitStatus
from trialdesk.store.permissions import Step
from trialdesk.store.services.visits import record_missed_visit, record_visit
from trialdesk.web.pages.context import staff_page, study_access, study_key, subject_of
from trialdesk.web.pages.navigation import render_study_page
from trialdesk.web.pages.refusals import refusal
from trialdesk.web.pages.visits.calendar_rows import (
    adverse_events,
    calendar_rows,
    check_window,
    deviations,
    subject_summary,
    visit_row,
)
from trialdesk.web.pages.visits.sign_off import (
    active_locks,
    locked_forms,
    locked_visits,
    sign_off,
)
from trialdesk.web.pages.visits.steps import may, subject_steps

SUBJECT_TEMPLATE = "pages/visits/subject.html"
VISIT_TEMPLATE = "pages/visits/visit.html"
CHECK_TEMPLATE = "pages/visits/window_check.html"
REASON_LIMIT = 2000


def _today() -> dt.date:
    """Today in the user's time zone (the middleware activates it)."""
    return timezone.localdate()


@staff_page
@require_GET
def subject(request: HttpRequest, study: str, code: str) -> HttpResponse:
    access = study_access(request, study)
    return subject_page(request, access, subject_of(access, code))


def subject_page(
    request: HttpRequest, access: Access, found: Subject, *, status: int = 200, **extra: Any
) -> HttpResponse:
    """The subject page; `extra` adds what a refused sign-off step shows (its errors)."""
    calendar = subject_calendar(found, _today())
    locks = active_locks(access, found)
    context = {
        "subject": found,
        "summary": subject_summary(access, found),
        "rows": calendar_rows(access, found, calendar),
        "steps": subject_steps(access, found, calendar),
        "adverse_events": adverse_events(found),
        "deviations": deviations(found),
        "may_report_ae": may(access, Step.REPORT_ADVERSE_EVENT, found),
        "may_record_deviation": may(access, Step.RECORD_DEVIATION, found),
        "signoff": sign_off(access, found, locks),
        "locked_visits": locked_visits(locks),
        **extra,
    }
    return render_study_page(request, SUBJECT_TEMPLATE, access, "study-home", context, status)


def visit_plan(access: Access, visit: str) -> Any:
    for plan in access.study.protocol().visits:
        if plan.id == visit:
            return plan
    raise Http404(f"no visit {visit} in the protocol")


def visit_page(
    request: HttpRequest,
    access: Access,
    found: Subject,
    plan: Any,
    *,
    status: int = 200,
    **extra: Any,
) -> HttpResponse:
    calendar = subject_calendar(found, _today())
    [row] = [row for row in calendar_rows(access, found, calendar) if row.entry.visit_id == plan.id]
    stored = visit_row(found, plan.id)
    locks = active_locks(access, found)
    signoff = sign_off(access, found, locks, row)
    casebook_locked = any(lock.level == LockLevel.CASEBOOK for lock in locks)
    visit_locked = casebook_locked or plan.id in locked_visits(locks)
    may_record = may(access, Step.RECORD_VISIT, found) and not visit_locked
    form_locks = locked_forms(locks, plan.id)
    context = {
        "subject": found,
        "plan": plan,
        "row": row,
        "entry": row.entry,
        "deviations": deviations(found, plan.id),
        "may_record": may_record,
        "needs_reason": stored is not None
        and stored.status in (VisitStatus.DONE, VisitStatus.MISSED),
        "check": check_window(found, plan, None),
        "values": {"visit_date": "", "reason": "", "missed_reason": ""},
        "errors": {},
        "signoff": signoff,
        "casebook_locked": casebook_locked,
        "visit_locked": visit_locked,
        "form_rows": [(cell, visit_locked or cell.form in form_locks) for cell in row.forms],
        "lockable_forms": [cell.form for cell in row.forms if cell.form not in form_locks],
        **extra,
    }
    return render_study_page(request, VISIT_TEMPLATE, access, "study-home", context, status)


def _parse_date(text: str) -> tuple[dt.date | None, str]:
    """The date typed, or the error in the user's language."""
    text = text.strip()
    if not text:
        return None, _("Visit date: enter the date the visit took place.")
    try:
        value = dt.date.fromisoformat(text)
    except ValueError:
        return None, _("Visit date: expected a date such as 2025-03-14.")
    if value > _today():
        return None, _("Visit date: the date is in the future; enter the day the visit took place.")
    return value, ""


@staff_page
@require_http_methods(["GET", "POST"])
def visit(request: HttpRequest, study: str, code: str, visit: str) -> HttpResponse:
    access = study_access(request, study)
    found = subject_of(access, code)
    plan = visit_plan(access, visit)
    if request.method == "GET":
        return visit_page(request, access, found, plan)
    typed = request.POST.get("visit_date", "")
    reason = request.POST.get("reason", "").strip()
    values = {"visit_date": typed, "reason": reason, "missed_reason": ""}
    errors: dict[str, str] = {}
    visit_date, problem = _parse_date(typed)
    if problem:
        errors["visit_date"] = problem
    stored = visit_row(found, plan.id)
    changing = stored is not None and (
        stored.status == VisitStatus.MISSED
        or (stored.status == VisitStatus.DONE and stored.actual_date != visit_date)
    )
    if changing and not reason:
        errors["reason"] = _("Reason for the change: required to change a recorded visit.")
    if len(reason) > REASON_LIMIT:
        errors["reason"] = _("Reason for the change: at most 2000 characters.")
    if errors:
        return visit_page(request, access, found, plan, status=400, values=values, errors=errors)
    check = check_window(found, plan, visit_date)
    confirmed = request.POST.get("confirm_outside", "") == typed.strip()
    if check.verdict == "outside" and not confirmed:
        # Not refused: the user confirms the date outside the window, or corrects it.
        return visit_page(request, access, found, plan, values=values, check=check)
    try:
        record_visit(
            access.study, found.code, plan.id, visit_date, access.user.username, reason=reason
        )
    except TrialdeskError as error:
        refused = refusal(error)
        return visit_page(
            request, access, found, plan, status=refused.status, values=values, refusal=refused
        )
    if check.verdict == "outside":
        messages.warning(request, _("Saved. A protocol deviation was recorded for the date."))
    else:
        messages.success(request, _("Saved."))
    return redirect(_visit_url(access, found, plan.id))


@staff_page
@require_GET
def visit_check(request: HttpRequest, study: str, code: str, visit: str) -> HttpResponse:
    """htmx: where the typed date lies against the window, before anything is saved."""
    access = study_access(request, study)
    found = subject_of(access, code)
    plan = visit_plan(access, visit)
    typed = request.GET.get("visit_date", "")
    visit_date, problem = _parse_date(typed) if typed.strip() else (None, "")
    context = {"check": check_window(found, plan, visit_date), "date_error": problem}
    return render(request, CHECK_TEMPLATE, context)


@staff_page
@require_POST
def visit_missed(request: HttpRequest, study: str, code: str, visit: str) -> HttpResponse:
    access = study_access(request, study)
    found = subject_of(access, code)
    plan = visit_plan(access, visit)
    reason = request.POST.get("missed_reason", "").strip()
    values = {"visit_date": "", "reason": "", "missed_reason": reason}
    error = ""
    if not reason:
        error = _("Why the visit did not take place: enter the reason.")
    elif len(reason) > REASON_LIMIT:
        error = _("Why the visit did not take place: at most 2000 characters.")
    if error:
        return visit_page(
            request,
            access,
            found,
            plan,
            status=400,
            values=values,
            errors={"missed_reason": error},
        )
    try:
        record_missed_visit(access.study, found.code, plan.id, reason, access.user.username)
    except TrialdeskError as refused_error:
        refused = refusal(refused_error)
        return visit_page(
            request,
            access,
            found,
            plan,
            status=refused.status,
            values=values,
            missed_refusal=refused,
        )
    messages.success(request, _("Saved: the visit is marked missed."))
    return redirect(_visit_url(access, found, plan.id))


def _visit_url(access: Access, found: Subject, visit_id: str) -> str:
    return reverse("pages:visit", args=[study_key(access.study), found.code, visit_id])
