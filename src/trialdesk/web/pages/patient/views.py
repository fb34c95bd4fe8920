"""The patient's pages: the start page (what is open now, the days so far), one question per
screen, and the confirmation of a saved answer.

No sign-in: the token in the URL is the key, checked (`live_link`) on every request; an
unknown or revoked one answers 404 and writes nothing. The pages name no subject, site or
study (the token is the only thing that ties a phone to a subject), speak the language stored
with the invitation (never the browser's) and give times in the patient's time zone. The
server's clock (`trialdesk.store.clock.now`) alone decides whether an entry takes an answer;
the phone's clock (`authored_at`, filled by pages/patient.js when the page is sent) is kept
beside it, never trusted. Headers keep the token out of referrers, caches and search
engines.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import wraps
from typing import Any
from zoneinfo import ZoneInfo

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from trialdesk.errors import BadInput
from trialdesk.instruments import get_instrument
from trialdesk.instruments.texts import item_texts, option_labels
from trialdesk.schedule.diary import EntryState
from trialdesk.store import clock
from trialdesk.store.errors import AlreadyExists, NotFound, SubjectStateError
from trialdesk.store.models import PatientAnswer, PatientLink
from trialdesk.store.services.patient_reports import (
    EntryClosed,
    EntryView,
    answer_entry,
    live_link,
    subject_entries,
)

#: The token is in the URL: no referrer carries it away (`strict-origin`: at most the
#: server's origin, never the path; not `no-referrer`, under which the browser sends
#: `Origin: null` with the answer's POST and Django's CSRF check refuses it), no cache or
#: search engine keeps it.
PRIVATE_HEADERS = {
    "Referrer-Policy": "strict-origin",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
}
#: The protocols' diary questions (`instrument_parameters: <form>: question:`) are protocol
#: text in English; those of the shipped protocols are translated with the pages' messages.
#: Another protocol's question shows in English (marked `lang="en"`) until it is added here.
PROTOCOL_QUESTIONS = (gettext_noop("knee pain today"),)
#: An integer item with at most this many values is asked as one radio button per value.
MAX_RADIO_VALUES = 11
SETTLED = (EntryState.ANSWERED, EntryState.LATE, EntryState.MISSED)

PatientView = Callable[..., HttpResponse]


def _private(response: HttpResponse) -> HttpResponse:
    for header, value in PRIVATE_HEADERS.items():
        response[header] = value
    return response


def _link_not_found(request: HttpRequest) -> HttpResponse:
    """An unknown or revoked token: the same page in every language (nobody knows whose link
    it was, so not its language either)."""
    return render(request, "pages/patient/link_not_found.html", status=404)


def patient_page(view: PatientView) -> PatientView:
    """A page of a live link: `view(request, link, token, ...)` in the link's language and
    time zone; 404 (nothing read, nothing written) for an unknown or revoked token."""

    @wraps(view)
    def page(request: HttpRequest, token: str, *args: Any, **kwargs: Any) -> HttpResponse:
        link = live_link(token)
        if link is None:
            return _private(_link_not_found(request))
        with translation.override(link.language), timezone.override(ZoneInfo(link.time_zone)):
            response = view(request, link, token, *args, **kwargs)
        response["Content-Language"] = link.language
        return _private(response)

    return page


def _answers(link: PatientLink) -> dict[tuple[str, int, str], Any]:
    """(schedule, day, item) -> value of the link's subject's answers (this subject's only)."""
    rows = PatientAnswer.objects.filter(subject=link.subject).values_list(
        "schedule", "day", "item", "value"
    )
    return {(schedule, day, item): value for schedule, day, item, value in rows}


def _shown_value(form: str, item: str, value: Any) -> str:
    """An answer as the patient chose it: the option's label where the item has options."""
    labels = option_labels(form, translation.get_language() or "en").get(item, {})
    return labels.get(value, str(value))


def _question_url(token: str, view: EntryView, item: str) -> str:
    return reverse("pages:patient-question", args=[token, view.schedule.id, view.day, item])


def _allowed(request: HttpRequest, *methods: str) -> HttpResponse | None:
    if request.method in (*methods, "HEAD"):
        return None
    return HttpResponseNotAllowed(methods)


# ---------------------------------------------------------------- the start page


@patient_page
def start(request: HttpRequest, link: PatientLink, token: str) -> HttpResponse:
    refused = _allowed(request, "GET")
    if refused:
        return refused
    now = clock.now()
    views = subject_entries(link.subject, link.time_zone, now)
    answers = _answers(link)
    open_now = [
        {
            "view": view,
            "url": _question_url(token, view, view.open_items[0]),
            "late": now >= view.entry.closes_at,
            # The last minute it is open (`closes` is inclusive: 23:59, not midnight).
            "open_until": view.entry.closes_at - dt.timedelta(minutes=1),
        }
        for view in views
        if view.state is EntryState.OPEN and view.open_items
    ]
    upcoming = [view.entry.opens_at for view in views if view.state is EntryState.UPCOMING]
    days = [
        {
            "view": view,
            "values": [
                _shown_value(view.schedule.form, item, answers[(view.schedule.id, view.day, item)])
                for item in view.answered
            ],
        }
        for view in views
        if view.state in SETTLED
    ]
    context = {
        "open_now": open_now,
        "next_opens_at": min(upcoming) if upcoming else None,
        "days": days,
    }
    return render(request, "pages/patient/start.html", context)


# ---------------------------------------------------------------- one question


def _entry_view(link: PatientLink, schedule: str, day: int, now: dt.datetime) -> EntryView | None:
    views = subject_entries(link.subject, link.time_zone, now, schedule_id=schedule)
    return next((view for view in views if view.day == day), None)


def _choices(form: str, item: str) -> list[tuple[str, Any, str]]:
    """(field value, item value, label) of each answer the item takes: its options, or
    every integer of its range (the NRS: 0 to 10)."""
    definition = get_instrument(form).item_map[item]
    if definition.options:
        labels = option_labels(form, translation.get_language() or "en").get(item, {})
        return [
            (str(option.value), option.value, labels.get(option.value, option.label))
            for option in definition.options
        ]
    low, high = definition.minimum, definition.maximum
    short = low is not None and high is not None and high - low + 1 <= MAX_RADIO_VALUES
    if definition.type == "integer" and short:
        return [(str(value), value, str(value)) for value in range(int(low), int(high) + 1)]
    raise BadInput(f"{form}.{item}: only items with options or a short integer range are asked")


def _question_text(link: PatientLink, form: str) -> tuple[str, bool]:
    """The protocol's question for the form ("knee pain today") in the link's language, and
    whether it had a translation (if not, the page marks it as English)."""
    parameters = link.subject.study.protocol().instrument_parameters.get(form, {})
    question = str(parameters.get("question", ""))
    if not question:
        return "", True
    shown = _(question)
    return capfirst(shown), shown != question or link.language == "en"


def _page_of_question(
    request: HttpRequest,
    link: PatientLink,
    token: str,
    view: EntryView,
    item: str,
    *,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    form = view.schedule.form
    question, translated = _question_text(link, form)
    context = {
        "view": view,
        "item": item,
        "item_text": item_texts(form, link.language).get(item, item),
        "question": question,
        "question_translated": translated,
        "choices": _choices(form, item),
        "anchors": view.schedule.kind == "daily",
        "late": clock.now() >= view.entry.closes_at,
        "error": error,
        "start_url": reverse("pages:patient-start", args=[token]),
    }
    return render(request, "pages/patient/question.html", context, status=status)


def _refusal(
    request: HttpRequest,
    token: str,
    view: EntryView | None,
    kind: str,
    status: int,
    value: str = "",
) -> HttpResponse:
    """Why an entry takes no answer: `kind` closed, upcoming, answered, not_found, stopped."""
    context = {
        "view": view,
        "kind": kind,
        "value": value,
        "start_url": reverse("pages:patient-start", args=[token]),
    }
    return render(request, "pages/patient/refused.html", context, status=status)


def _authored_at(text: str) -> dt.datetime | None:
    """The phone's clock as the page's script wrote it (ISO 8601 with an offset); None when
    absent or unreadable. Recorded beside the server's time, never used for the window."""
    try:
        instant = dt.datetime.fromisoformat(text.strip()[:40])
    except ValueError:
        return None
    return instant.astimezone(dt.UTC) if instant.tzinfo is not None else None


@patient_page
def question(
    request: HttpRequest, link: PatientLink, token: str, schedule: str, day: int, item: str
) -> HttpResponse:
    refused = _allowed(request, "GET", "POST")
    if refused:
        return refused
    now = clock.now()
    view = _entry_view(link, schedule, day, now)
    if view is None or item not in view.items:
        return _refusal(request, token, None, "not_found", 404)
    if item in view.answered:
        value = _answers(link)[(schedule, day, item)]
        return _refusal(
            request, token, view, "answered", 409, _shown_value(view.schedule.form, item, value)
        )
    if view.state is EntryState.UPCOMING:
        return _refusal(request, token, view, "upcoming", 409)
    if view.state is EntryState.MISSED:
        return _refusal(request, token, view, "closed", 409)
    if request.method != "POST":
        return _page_of_question(request, link, token, view, item)
    values = {field: value for field, value, _label in _choices(view.schedule.form, item)}
    chosen = values.get(request.POST.get("value", ""))
    if chosen is None:
        return _page_of_question(
            request, link, token, view, item, error=_("Choose one answer, then save."), status=400
        )
    try:
        answer_entry(
            link,
            schedule,
            day,
            item,
            chosen,
            authored_at=_authored_at(request.POST.get("authored_at", "")),
            now=now,
        )
    except EntryClosed:
        return _refusal(request, token, view, "closed", 409)
    except AlreadyExists:
        value = _answers(link)[(schedule, day, item)]
        return _refusal(
            request, token, view, "answered", 409, _shown_value(view.schedule.form, item, value)
        )
    except NotFound:
        return _link_not_found(request)
    except SubjectStateError:
        return _refusal(request, token, view, "stopped", 409)
    except BadInput:
        return _page_of_question(
            request, link, token, view, item, error=_("Choose one answer, then save."), status=400
        )
    return redirect("pages:patient-saved", token, schedule, day, item)


@patient_page
def saved(
    request: HttpRequest, link: PatientLink, token: str, schedule: str, day: int, item: str
) -> HttpResponse:
    refused = _allowed(request, "GET")
    if refused:
        return refused
    view = _entry_view(link, schedule, day, clock.now())
    value = _answers(link).get((schedule, day, item))
    if view is None or value is None:
        return _refusal(request, token, None, "not_found", 404)
    following = view.open_items[0] if view.open_items and view.state is EntryState.OPEN else ""
    context = {
        "view": view,
        "value": _shown_value(view.schedule.form, item, value),
        "next_url": _question_url(token, view, following) if following else "",
        "start_url": reverse("pages:patient-start", args=[token]),
    }
    return render(request, "pages/patient/saved.html", context)
