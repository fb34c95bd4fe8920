"""A subject's diary as site staff and monitors see it: the compliance grid (each entry of
each `patient_reported` schedule with its state, local date and when it was received), the
counts, the alert after two missed days in a row; for a coordinator or investigator, the
patient's personal link (invite, reissue, revoke).

A new link's token is shown once: the invitation stores it in the session for the page the
browser is sent to, which takes it out as it shows it (a reload shows it no more), and that
page is not cached. "Now" is the store's clock (`trialdesk.store.clock`), which decides the
windows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import segno
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from trialdesk.errors import TrialdeskError
from trialdesk.schedule.diary import EntryState, compliance, missed_in_a_row
from trialdesk.store import clock
from trialdesk.store.access import Access
from trialdesk.store.diary_compliance import ALERT_RUN
from trialdesk.store.models import PatientAnswer, PatientLink, Subject
from trialdesk.store.permissions import Step
from trialdesk.store.reminders import email_invitation
from trialdesk.store.services.patient_reports import (
    PATIENT_LANGUAGES,
    PATIENT_PATH,
    invite_patient,
    revoke_patient_link,
    subject_entries,
)
from trialdesk.web.pages.context import staff_page, study_access, study_key, subject_of
from trialdesk.web.pages.navigation import render_study_page
from trialdesk.web.pages.refusals import refusal
from trialdesk.web.pages.visits.steps import may

TEMPLATE = "pages/diary/subject_diary.html"
#: The session key holding a new link until its page shows it.
NEW_LINK = "diary_new_link"
DEFAULT_TIME_ZONE = "Europe/Copenhagen"
#: The patient's language the invitation proposes for a site's country (the protocol's).
COUNTRY_LANGUAGES = {"Denmark": "da", "China": "zh-hans"}
#: Each language in its own words, as the language picker shows them.
LANGUAGE_NAMES = {"en": "English", "da": "Dansk", "zh-hans": "中文（简体）"}
REASON_LIMIT = 2000

#: An entry's state in words, with a symbol and a badge class (never colour alone).
STATES: dict[EntryState, tuple[Any, str, str]] = {
    EntryState.ANSWERED: (gettext_lazy("Answered"), "✓", "ok"),
    EntryState.LATE: (gettext_lazy("Late"), "◷", "warn"),
    EntryState.MISSED: (gettext_lazy("Missed"), "✗", "late"),
    EntryState.OPEN: (gettext_lazy("Open now"), "●", "info"),
    EntryState.UPCOMING: (gettext_lazy("Upcoming"), "○", "none"),
}


@dataclass(frozen=True)
class GridRow:
    day: int
    local_date: Any
    state: str
    label: str
    symbol: str
    css: str
    received_at: Any


@dataclass(frozen=True)
class ScheduleGrid:
    schedule: str
    form: str
    opens: str
    closes: str
    rows: tuple[GridRow, ...]
    counts: tuple[tuple[str, str, str, str, int], ...]
    share: float | None
    missed_in_a_row: int


def _latest_link(subject: Subject) -> PatientLink | None:
    return (
        PatientLink.objects.filter(subject=subject)
        .select_related("created_by", "revoked_by")
        .order_by("-created_at", "-pk")
        .first()
    )


def _default_time_zone(access: Access) -> str:
    zone = access.user.time_zone or DEFAULT_TIME_ZONE
    try:
        ZoneInfo(zone)
    except (ValueError, KeyError):
        return DEFAULT_TIME_ZONE
    return zone


def _default_language(access: Access, subject: Subject) -> str:
    site = next((s for s in access.study.protocol().sites if s.id == subject.site.code), None)
    return COUNTRY_LANGUAGES.get((site.country or "") if site else "", "en")


def _grids(subject: Subject, time_zone: str) -> list[ScheduleGrid]:
    """Each schedule's entries at the store's "now", in the patient's zone."""
    now = clock.now()
    views = subject_entries(subject, time_zone, now)
    received: dict[tuple[str, int], Any] = {}
    for schedule, day, at in PatientAnswer.objects.filter(subject=subject).values_list(
        "schedule", "day", "received_at"
    ):
        received[(schedule, day)] = max(at, received.get((schedule, day), at))
    grids = []
    for schedule in subject.study.protocol().patient_reported:
        mine = [view for view in views if view.schedule.id == schedule.id]
        states = [view.state for view in mine]
        rows = tuple(
            GridRow(
                view.day,
                view.entry.local_date,
                str(view.state),
                str(STATES[view.state][0]),
                STATES[view.state][1],
                STATES[view.state][2],
                received.get((schedule.id, view.day)),
            )
            for view in mine
        )
        counted = compliance(states)
        counts = tuple(
            (str(state), str(label), symbol, css, states.count(state))
            for state, (label, symbol, css) in STATES.items()
        )
        grids.append(
            ScheduleGrid(
                schedule.id,
                schedule.form,
                schedule.opens,
                schedule.closes,
                rows,
                counts,
                counted.share,
                missed_in_a_row(states),
            )
        )
    return grids


def _qr_svg(url: str) -> SafeString:
    """The link as a QR code, inline SVG markup (segno draws it with presentation attributes
    only: nothing the pages' CSP refuses)."""
    label = escape(_("QR code of the personal link shown beside it"))
    svg = segno.make(url, error="m").svg_inline(scale=4, border=2, svgclass="qr-code")
    return mark_safe(svg.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1))


def diary_page(
    request: HttpRequest,
    access: Access,
    found: Subject,
    *,
    status: int = 200,
    new_link: dict[str, str] | None = None,
    **extra: Any,
) -> HttpResponse:
    protocol = access.study.protocol()
    link = _latest_link(found)
    live = link if link is not None and link.revoked_at is None else None
    time_zone = link.time_zone if link is not None else _default_time_zone(access)
    grids = _grids(found, time_zone)
    context = {
        "subject": found,
        "has_diary": bool(protocol.patient_reported),
        "grids": grids,
        "alert": any(grid.missed_in_a_row >= ALERT_RUN for grid in grids),
        "alert_run": max((grid.missed_in_a_row for grid in grids), default=0),
        "time_zone": time_zone,
        "link": link,
        "live_link": live,
        "link_language": LANGUAGE_NAMES.get(link.language, link.language) if link else "",
        "may_invite": bool(protocol.patient_reported) and may(access, Step.INVITE_PATIENT, found),
        "languages": [(code, LANGUAGE_NAMES[code]) for code in PATIENT_LANGUAGES],
        "values": {
            "language": _default_language(access, found),
            "time_zone": time_zone,
            "email": "",
            "reason": "",
        },
        "new_link": new_link,
        "qr_code": _qr_svg(new_link["url"]) if new_link else "",
        **extra,
    }
    response = render_study_page(request, TEMPLATE, access, "study-home", context, status)
    if new_link:
        response["Cache-Control"] = "private, no-store"
    return response


def _page_url(access: Access, found: Subject) -> str:
    return reverse("pages:subject-diary", args=[study_key(access.study), found.code])


@staff_page
@require_GET
def subject_diary(request: HttpRequest, study: str, code: str) -> HttpResponse:
    access = study_access(request, study)
    found = subject_of(access, code)
    shown = request.session.get(NEW_LINK)
    new_link = None
    if shown and shown.get("study") == access.study.pk and shown.get("code") == found.code:
        new_link = request.session.pop(NEW_LINK)
    return diary_page(request, access, found, new_link=new_link)


@staff_page
@require_POST
def invite(request: HttpRequest, study: str, code: str) -> HttpResponse:
    """Invite the patient (or reissue the link: the live one is revoked)."""
    access = study_access(request, study)
    found = subject_of(access, code)
    values = {
        "language": request.POST.get("language", ""),
        "time_zone": request.POST.get("time_zone", "").strip(),
        "email": request.POST.get("email", "").strip(),
        "reason": "",
    }
    try:
        link, token = invite_patient(
            access.study,
            found.code,
            access.user.username,
            language=values["language"],
            time_zone=values["time_zone"],
            email=values["email"],
        )
    except TrialdeskError as error:
        refused = refusal(error)
        return diary_page(
            request,
            access,
            found,
            status=refused.status,
            values=values,
            invite_refusal=refused,
        )
    emailed, email_refusal = email_invitation(link, token, request.build_absolute_uri("/"))
    request.session[NEW_LINK] = {
        "study": access.study.pk,
        "code": found.code,
        "url": request.build_absolute_uri(PATIENT_PATH.format(token=token)),
        "emailed": emailed,
        "email_refusal": email_refusal,
    }
    return redirect(_page_url(access, found))


@staff_page
@require_POST
def revoke(request: HttpRequest, study: str, code: str) -> HttpResponse:
    access = study_access(request, study)
    found = subject_of(access, code)
    reason = request.POST.get("reason", "").strip()
    errors = {}
    if not reason:
        errors["reason"] = _("Reason: say why the link is revoked.")
    elif len(reason) > REASON_LIMIT:
        errors["reason"] = _("Reason: at most 2000 characters.")
    if errors:
        return diary_page(request, access, found, status=400, errors=errors, reason=reason)
    try:
        revoke_patient_link(access.study, found.code, access.user.username, reason)
    except TrialdeskError as error:
        refused = refusal(error)
        return diary_page(
            request, access, found, status=refused.status, revoke_refusal=refused, reason=reason
        )
    return redirect(_page_url(access, found))
