"""Views of the safety area: adverse events and the SAE clock, the SAE report list, protocol
deviations, withdrawal and loss to follow-up, emergency unblinding.

Each view reads through the user's `Access`, writes through one service with `by=` the user,
and re-renders a refused form with what was typed (status 400, or the refusal's status).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from trialdesk.errors import TrialdeskError
from trialdesk.store.access import Access
from trialdesk.store.models import AdverseEvent, Subject
from trialdesk.store.services import (
    record_deviation,
    record_lost_to_follow_up,
    record_sae_report,
    report_adverse_event,
    unblind_subject,
    update_adverse_event,
    withdraw_subject,
)
from trialdesk.store.services.accounts import verify_password
from trialdesk.web.pages.context import staff_page, study_access, study_key, subject_of
from trialdesk.web.pages.navigation import render_study_page
from trialdesk.web.pages.refusals import refusal
from trialdesk.web.pages.safety import steps

#: The pages of a subject are under the subject matrix in the navigation.
SUBJECT_NAV = "study-home"
STATUS_SERVICES = {"withdrawn": withdraw_subject, "lost_to_follow_up": record_lost_to_follow_up}


def _subject(request: HttpRequest, study: str, code: str) -> tuple[Access, Subject]:
    access = study_access(request, study)
    return access, subject_of(access, code)


def _event(subject: Subject, number: int) -> AdverseEvent:
    event = subject.adverse_events.filter(number=number).first()
    if event is None:
        raise Http404(f"subject {subject.code}: no adverse event {number}")
    event.subject = subject
    return event


def _vocabularies() -> dict[str, Any]:
    return {
        "grades": steps.CTCAE_GRADES,
        "criteria": steps.SERIOUSNESS,
        "relatedness_choices": steps.RELATEDNESS,
        "expectedness_choices": [(code, label) for code, _v, label in steps.EXPECTEDNESS],
        "action_choices": steps.ACTION_TAKEN,
        "outcome_choices": steps.OUTCOME,
    }


def _urls(access: Access, subject: Subject) -> dict[str, str]:
    args = [study_key(access.study), subject.code]
    return {
        "subject_url": reverse("pages:subject", args=args),
        "ae_list_url": reverse("pages:ae-list", args=args),
    }


def _event_facts(event: AdverseEvent) -> dict[str, Any]:
    """The saved event's coded values as labels in the user's language."""
    return {
        "grade": steps.label_of(steps.CTCAE_GRADES, event.ctcae_grade),
        "criteria": [steps.label_of(steps.SERIOUSNESS, c) for c in event.seriousness],
        "relatedness": steps.label_of(steps.RELATEDNESS, event.relatedness),
        "expected": steps.label_of(
            [(code, label) for code, _v, label in steps.EXPECTEDNESS],
            steps.expectedness_code(event.expected),
        ),
        "action_taken": steps.label_of(steps.ACTION_TAKEN, event.action_taken),
        "outcome": steps.label_of(steps.OUTCOME, event.outcome),
    }


# ---------------------------------------------------------------- adverse events


@staff_page
@require_http_methods(["GET", "POST"])
def ae_new(request: HttpRequest, study: str, code: str) -> HttpResponse:
    access, subject = _subject(request, study, code)
    entry = steps.Entry(steps.typed_adverse_event(None))
    status, problem = 200, None
    if request.method == "POST":
        entry = steps.read_adverse_event(request.POST)
        status = 400
        if entry.valid:
            try:
                event = report_adverse_event(
                    access.study, subject.code, by=access.user.username, **entry.values
                )
            except TrialdeskError as error:
                problem = refusal(error)
                status = problem.status
            else:
                messages.success(
                    request, _("Adverse event %(number)d saved.") % {"number": event.number}
                )
                return redirect("pages:ae", study_key(access.study), subject.code, event.number)
    context = {
        "subject": subject,
        "entry": entry,
        "refusal": problem,
        "may_report": steps.may_report_adverse_events(access, subject),
        **_vocabularies(),
        **_urls(access, subject),
    }
    return render_study_page(
        request, "pages/safety/ae_new.html", access, SUBJECT_NAV, context, status
    )


@staff_page
@require_http_methods(["GET"])
def ae_list(request: HttpRequest, study: str, code: str) -> HttpResponse:
    access, subject = _subject(request, study, code)
    events = list(subject.adverse_events.order_by("number"))
    rows = [
        {"event": event, "facts": _event_facts(event), "clock": steps.sae_clock(event)}
        for event in events
    ]
    context = {
        "subject": subject,
        "rows": rows,
        "may_report": steps.may_report_adverse_events(access, subject),
        **_urls(access, subject),
    }
    return render_study_page(request, "pages/safety/ae_list.html", access, SUBJECT_NAV, context)


@staff_page
@require_http_methods(["GET", "POST"])
def ae(request: HttpRequest, study: str, code: str, number: int) -> HttpResponse:
    access, subject = _subject(request, study, code)
    event = _event(subject, number)
    entry = steps.Entry(steps.typed_adverse_event(event))
    report = steps.Entry({"reported_at": steps.now_input(), "report_reason": ""})
    status, problem, report_problem, unchanged = 200, None, None, False
    step = request.POST.get("step") if request.method == "POST" else None
    if step == "change":
        entry = steps.read_adverse_event(request.POST)
        reason = steps.read_reason(request.POST, entry)
        status = 400
        if entry.valid:
            changes = steps.changed_fields(event, entry.values)
            unchanged = not changes
            if changes:
                try:
                    update_adverse_event(
                        access.study, subject.code, number, changes, reason, access.user.username
                    )
                except TrialdeskError as error:
                    problem = refusal(error)
                    status = problem.status
                else:
                    messages.success(
                        request, _("Adverse event %(number)d saved.") % {"number": number}
                    )
                    return redirect("pages:ae", study_key(access.study), subject.code, number)
    elif step == "report":
        report = steps.Entry(
            {
                "reported_at": request.POST.get("reported_at", ""),
                "report_reason": request.POST.get("report_reason", ""),
            }
        )
        reported_at = steps.parse_local_time(report.typed["reported_at"])
        if reported_at is None:
            report.errors["reported_at"] = _("Report sent: enter the date and time.")
        if event.reported_at is not None:
            steps.read_reason(request.POST, report, "report_reason")
        status = 400
        if report.valid:
            try:
                record_sae_report(
                    access.study,
                    subject.code,
                    number,
                    reported_at,
                    access.user.username,
                    reason=report.typed["report_reason"],
                )
            except TrialdeskError as error:
                report_problem = refusal(error)
                status = report_problem.status
            else:
                messages.success(request, _("The SAE report is recorded as sent."))
                return redirect("pages:ae", study_key(access.study), subject.code, number)
    elif request.method == "POST":
        raise Http404("unknown step")
    context = {
        "subject": subject,
        "event": event,
        "facts": _event_facts(event),
        "clock": steps.sae_clock(event),
        "sae_hours": access.study.protocol().safety.sae_reporting_hours,
        "entry": entry,
        "report": report,
        "refusal": problem,
        "report_refusal": report_problem,
        "unchanged": unchanged,
        "may_report": steps.may_report_adverse_events(access, subject),
        **_vocabularies(),
        **_urls(access, subject),
    }
    return render_study_page(request, "pages/safety/ae.html", access, SUBJECT_NAV, context, status)


@staff_page
@require_http_methods(["GET"])
def sae_list(request: HttpRequest, study: str) -> HttpResponse:
    access = study_access(request, study)
    rows = steps.outstanding_sae_reports(access)
    context = {
        "rows": rows,
        "overdue": sum(row.clock.overdue for row in rows),
        "sae_hours": access.study.protocol().safety.sae_reporting_hours,
    }
    return render_study_page(request, "pages/safety/sae_list.html", access, "sae-list", context)


# ---------------------------------------------------------------- deviations


@staff_page
@require_http_methods(["GET", "POST"])
def deviation_new(request: HttpRequest, study: str, code: str) -> HttpResponse:
    access, subject = _subject(request, study, code)
    visits = [(visit.id, visit.label) for visit in access.study.protocol().visits]
    entry = steps.Entry({"detected_on": steps.today_input()})
    status, problem = 200, None
    if request.method == "POST":
        entry = steps.read_deviation(request.POST, [visit_id for visit_id, _label in visits])
        status = 400
        if entry.valid:
            try:
                record_deviation(
                    access.study, subject.code, by=access.user.username, **entry.values
                )
            except TrialdeskError as error:
                problem = refusal(error)
                status = problem.status
            else:
                messages.success(request, _("Protocol deviation saved."))
                return redirect("pages:subject", study_key(access.study), subject.code)
    recorded = subject.deviations.select_related("visit").order_by("-detected_on", "-pk")
    context = {
        "subject": subject,
        "entry": entry,
        "refusal": problem,
        "kinds": steps.DEVIATION_KINDS,
        "visits": visits,
        "recorded": [
            {"deviation": d, "kind": steps.label_of(steps.DEVIATION_KINDS, d.kind)}
            for d in recorded
        ],
        "may_record": steps.may_record_deviation(access, subject),
        **_urls(access, subject),
    }
    return render_study_page(
        request, "pages/safety/deviation_new.html", access, SUBJECT_NAV, context, status
    )


# ---------------------------------------------------------------- withdrawal, loss to follow-up


@staff_page
@require_http_methods(["GET", "POST"])
def subject_status(request: HttpRequest, study: str, code: str) -> HttpResponse:
    access, subject = _subject(request, study, code)
    choices = steps.status_steps(subject)
    entry = steps.Entry({"status": "", "reason": ""})
    status, problem, confirming = 200, None, False
    if request.method == "POST":
        chosen = request.POST.get("status", "")
        entry = steps.Entry({"status": chosen})
        if chosen not in dict(choices):
            entry.errors["status"] = _("Step: choose withdrawal or loss to follow-up.")
        reason = steps.read_reason(request.POST, entry)
        status = 400
        if entry.valid and request.POST.get("confirm") == "yes":
            try:
                STATUS_SERVICES[chosen](access.study, subject.code, reason, access.user.username)
            except TrialdeskError as error:
                problem = refusal(error)
                status = problem.status
            else:
                messages.success(
                    request,
                    _("%(code)s: %(step)s recorded.")
                    % {"code": subject.code, "step": dict(choices)[chosen]},
                )
                return redirect("pages:subject", study_key(access.study), subject.code)
        elif entry.valid:  # the confirm step, or back from it to the form ("no")
            confirming, status = request.POST.get("confirm") != "no", 200
    context = {
        "subject": subject,
        "subject_status": steps.label_of(steps.SUBJECT_STATUSES, subject.status),
        "choices": choices,
        "chosen_label": dict(choices).get(entry.typed.get("status", ""), ""),
        "entry": entry,
        "confirming": confirming,
        "refusal": problem,
        "may_change": steps.may_change_status(access, subject),
        **_urls(access, subject),
    }
    return render_study_page(
        request, "pages/safety/subject_status.html", access, SUBJECT_NAV, context, status
    )


# ---------------------------------------------------------------- emergency unblinding


@staff_page
@require_http_methods(["GET", "POST"])
def unblind(request: HttpRequest, study: str, code: str) -> HttpResponse:
    access, subject = _subject(request, study, code)
    entry = steps.Entry({"reason": ""})
    status, problem = 200, None
    if request.method == "POST":
        reason = steps.read_reason(request.POST, entry)
        password = request.POST.get("password", "")
        status = 400
        if not password:
            entry.errors["password"] = _("Password: type your password again.")
        elif not verify_password(access.user, password):
            entry.errors["password"] = _(
                "Password: this is not your password. Nothing was recorded."
            )
        if entry.valid:
            try:
                unblind_subject(access.study, subject.code, reason, access.user.username)
            except TrialdeskError as error:
                problem = refusal(error)
                status = problem.status
            else:
                messages.warning(
                    request,
                    _("%(code)s is unblinded for you; this is recorded in the audit trail.")
                    % {"code": subject.code},
                )
                return redirect("pages:unblind", study_key(access.study), subject.code)
    arm = access.emergency_arm(subject)
    context = {
        "subject": subject,
        "entry": entry,
        "refusal": problem,
        "arm": arm,
        "arm_label": steps.arm_label(access, arm) if arm else "",
        "may_unblind": steps.may_unblind(access, subject),
        **_urls(access, subject),
    }
    return render_study_page(
        request, "pages/safety/unblind.html", access, SUBJECT_NAV, context, status
    )
