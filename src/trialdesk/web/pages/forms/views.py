"""A visit form's page: entry from the instrument definition, live checks and score preview
(htmx), autosaved drafts, save / mark complete (reasons where a saved value changes), and each
item's history from the audit trail.

A form under a data manager's lock (its own, its visit's or its casebook's) is shown read-only
with the lock: who locked it, when, why, and that a data manager unlocks it with a reason. The
lock service still decides: a save posted anyway is refused by `save_form` and shown."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from trialdesk.errors import TrialdeskError
from trialdesk.instruments import get_instrument
from trialdesk.instruments.definition import Instrument
from trialdesk.store.access import Access
from trialdesk.store.errors import RecordLocked
from trialdesk.store.models import AuditEvent, FormRecord, LockLevel, Subject, Visit
from trialdesk.store.permissions import STEP_ROLES, Step
from trialdesk.store.services import sdv
from trialdesk.store.services.drafts import draft_of, save_draft
from trialdesk.store.services.forms import items_needing_reason, needs_visit_date, save_form
from trialdesk.store.services.locks import LockEntry, subject_locks
from trialdesk.web.pages.context import staff_page, study_access, study_key, subject_of
from trialdesk.web.pages.forms import entry
from trialdesk.web.pages.forms.review import FormReview, form_review
from trialdesk.web.pages.navigation import render_study_page
from trialdesk.web.pages.refusals import refusal

REASON_PREFIX = "reason."


@dataclass
class FormPage:
    """Everything a view of one form reads: the access, subject, protocol visit, instrument,
    the visit's row and the saved record (None until entered)."""

    access: Access
    subject: Subject
    visit_plan: Any
    instrument: Instrument
    visit: Visit | None
    record: FormRecord | None

    @property
    def saved(self) -> dict[str, Any]:
        return self.record.values if self.record is not None else {}

    @property
    def may_enter(self) -> bool:
        return self.access.may(STEP_ROLES[Step.ENTER_FORMS], self.subject.site_id)

    @cached_property
    def locks(self) -> tuple[LockEntry, ...]:
        """The live locks that cover this form: the casebook's, the visit's, its own (in that
        order: the widest is the one that must go first)."""
        visit_id, form = self.visit_plan.id, self.instrument.id
        order = {LockLevel.CASEBOOK: 0, LockLevel.VISIT: 1, LockLevel.FORM: 2}
        covering = [
            lock
            for lock in subject_locks(self.access, self.subject.code)
            if lock.level == LockLevel.CASEBOOK
            or (lock.visit_id == visit_id and lock.form in ("", form))
        ]
        return tuple(sorted(covering, key=lambda lock: order[LockLevel(lock.level)]))

    @property
    def editable(self) -> bool:
        """The user enters this form and no lock holds it: the inputs and Save are offered."""
        return self.may_enter and not self.locks

    @property
    def visit_date_missing(self) -> bool:
        return needs_visit_date(self.visit_plan) and (
            self.visit is None or self.visit.actual_date is None
        )


def _form_page(request: HttpRequest, study: str, code: str, visit: str, form: str) -> FormPage:
    access = study_access(request, study)
    subject = subject_of(access, code)
    plan = next((v for v in access.study.protocol().visits if v.id == visit), None)
    if plan is None or form not in plan.forms:
        raise Http404(f"no form {form} at visit {visit}")
    record = (
        FormRecord.objects.select_related("visit")
        .filter(subject=subject, visit__visit_id=visit, form=form)
        .first()
    )
    row = record.visit if record else Visit.objects.filter(subject=subject, visit_id=visit).first()
    return FormPage(access, subject, plan, get_instrument(form), row, record)


def _language() -> str:
    return get_language() or "en"


# ---------------------------------------------------------------- the page


@staff_page
def form(request: HttpRequest, study: str, code: str, visit: str, form: str) -> HttpResponse:
    page = _form_page(request, study, code, visit, form)
    if request.method == "POST":
        return _save(request, page)
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET", "POST"])
    raw = _saved_text(page)
    reasons: dict[str, str] = {}
    draft = draft_of(page.access.user, page.subject, visit, form) if page.editable else None
    restored_at = None
    saved_at = _last_saved(page)
    if (
        draft is not None
        and _draft_differs(draft.values, raw)
        and (saved_at is None or draft.saved_at > saved_at)
    ):
        raw.update({k: v for k, v in draft.values.items() if not k.startswith(REASON_PREFIX)})
        reasons = {
            k.removeprefix(REASON_PREFIX): v
            for k, v in draft.values.items()
            if k.startswith(REASON_PREFIX)
        }
        restored_at = draft.saved_at
    read = entry.read_entry(page.instrument, raw)
    return _render(request, page, read, reasons, restored_at=restored_at, saved_at=saved_at)


def _saved_text(page: FormPage) -> dict[str, str]:
    """The saved values as the inputs show them."""
    return {item.id: entry.as_text(item, page.saved.get(item.id)) for item in page.instrument.items}


def _draft_differs(draft: dict[str, str], saved: dict[str, str]) -> bool:
    """True if the draft holds something the saved form does not (a reason being typed, an
    item typed differently)."""
    return any(
        text.strip() != saved.get(name, "").strip()
        if not name.startswith(REASON_PREFIX)
        else bool(text.strip())
        for name, text in draft.items()
    )


def _save(request: HttpRequest, page: FormPage) -> HttpResponse:
    """Save what is entered (only the items that differ from the saved values); "complete"
    also marks the form complete. Refused input comes back with its messages (400)."""
    if not page.may_enter:
        raise Http404("this user does not enter forms")
    read = entry.read_entry(page.instrument, request.POST)
    reasons = _typed_reasons(request.POST, page.instrument)
    complete = request.POST.get("action") == "complete"
    if read.errors:
        return _render(request, page, read, reasons, status=400, summary=True)
    changes = {item: value for item, value in read.values.items() if page.saved.get(item) != value}
    due = items_needing_reason(page.saved, changes)
    missing = [item for item in due if not reasons.get(item)]
    if missing:
        return _render(request, page, read, reasons, status=400, missing_reasons=missing)
    try:
        save_form(
            page.access.study,
            page.subject.code,
            page.visit_plan.id,
            page.instrument.id,
            changes,
            page.access.user.username,
            {item: reasons[item] for item in due},
            partial=True,
            complete=True if complete else None,
        )
    except TrialdeskError as error:
        refused = refusal(error)
        if isinstance(error, RecordLocked):
            # Read-only now: the inputs show what the record holds, not what was refused.
            read, reasons = entry.read_entry(page.instrument, _saved_text(page)), {}
        return _render(request, page, read, reasons, status=refused.status, refused=refused)
    messages.success(request, _("Saved and marked complete.") if complete else _("Saved."))
    return redirect(request.path)


def _typed_reasons(data: Any, instrument: Instrument) -> dict[str, str]:
    return {
        item.id: str(data.get(REASON_PREFIX + item.id, "")).strip()[: entry.MAX_INPUT_LENGTH]
        for item in instrument.items
        if str(data.get(REASON_PREFIX + item.id, "")).strip()
    }


def _last_saved(page: FormPage) -> Any:
    """When the record last changed (its latest audit event), None if never saved."""
    if page.record is None:
        return None
    event = (
        page.access.audit_events()
        .filter(object_type="FormRecord", object_id=str(page.record.pk))
        .order_by("-seq")
        .first()
    )
    return event.at if event is not None else None


def _render(
    request: HttpRequest,
    page: FormPage,
    read: entry.Entry,
    reasons: dict[str, str],
    status: int = 200,
    summary: bool = False,
    missing_reasons: list[str] | None = None,
    refused: Any = None,
    restored_at: Any = None,
    saved_at: Any = None,
) -> HttpResponse:
    key = study_key(page.access.study)
    args = [key, page.subject.code, page.visit_plan.id, page.instrument.id]
    due = set(items_needing_reason(page.saved, _changes(page, read)))
    review = form_review(
        page.access,
        page.subject,
        page.visit_plan.id,
        page.instrument.id,
        [item.id for item in page.instrument.items],
        page.record,
    )
    if page.locks:
        review.may_verify = False  # the SDV service verifies no locked record
    groups = _rows(page, read, reasons, due, set(missing_reasons or []), review)
    local_key = ":".join(["trialdesk.draft", page.access.user.username, key, *args[1:]])
    context = {
        "subject": page.subject,
        "visit_plan": page.visit_plan,
        "instrument": page.instrument,
        "record": page.record,
        "groups": groups,
        "preview": entry.preview(page.instrument, _valid(read)),
        "may_enter": page.may_enter,
        "editable": page.editable,
        "locks": page.locks,
        "visit_date_missing": page.visit_date_missing,
        "visit_url": reverse("pages:visit", args=args[:3]),
        "subject_url": reverse("pages:subject", args=args[:2]),
        "check_url": reverse("pages:form-check", args=args),
        "draft_url": reverse("pages:form-draft", args=args),
        "errors": [row for group in groups for row in group["rows"] if row["error"]]
        if summary
        else [],
        "missing_reasons": missing_reasons or [],
        "refusal": refused,
        "restored_at": restored_at,
        "saved_at": saved_at,
        "local_key": local_key,
        "posted": request.method == "POST",
        "review": review,
    }
    return render_study_page(
        request, "pages/forms/form.html", page.access, "study-home", context, status=status
    )


def _changes(page: FormPage, read: entry.Entry) -> dict[str, Any]:
    return {
        item: value
        for item, value in read.values.items()
        if item not in read.errors and page.saved.get(item) != value
    }


def _valid(read: entry.Entry) -> dict[str, Any]:
    return {item: value for item, value in read.values.items() if item not in read.errors}


def _rows(
    page: FormPage,
    read: entry.Entry,
    reasons: dict[str, str],
    due: set[str],
    missing: set[str],
    review: FormReview,
) -> list[dict[str, Any]]:
    key = study_key(page.access.study)
    groups = []
    for group in entry.questions(page.instrument, _language()):
        rows = []
        for question in group.questions:
            args = [key, page.subject.code, page.visit_plan.id, page.instrument.id, question.id]
            rows.append(
                {
                    "q": question,
                    "value": read.raw.get(question.id, ""),
                    "error": read.errors.get(question.id),
                    "needs_reason": question.id in due,
                    "reason": reasons.get(question.id, ""),
                    "reason_missing": question.id in missing,
                    "saved": entry.as_text(
                        page.instrument.item_map[question.id], page.saved.get(question.id)
                    ),
                    "history_url": reverse("pages:item-history", args=args),
                    "review": review.items[question.id],
                }
            )
        groups.append({"label": group.label, "rows": rows})
    return groups


# ---------------------------------------------------------------- source data verification


@staff_page
@require_POST
def form_verify(request: HttpRequest, study: str, code: str, visit: str, form: str) -> HttpResponse:
    """A monitor verifies one item (`item`) or the whole form (`action` "form") against the
    source; back to the form (POST/redirect/GET), at the item verified."""
    page = _form_page(request, study, code, visit, form)
    item = str(request.POST.get("item", ""))
    whole = request.POST.get("action") == "form"
    if not whole and item not in page.instrument.item_map:
        raise Http404(f"no item {item!r} in {form}")
    by = page.access.user.username
    try:
        if whole:
            sdv.verify_form(page.access.study, code, visit, form, by=by)
        else:
            sdv.verify_items(page.access.study, code, visit, form, [item], by=by)
    except TrialdeskError as error:
        refused = refusal(error)
        messages.error(request, f"{refused.heading} {refused.detail}")
    else:
        messages.success(
            request,
            _("Form verified against the source.")
            if whole
            else _("%(item)s verified against the source.") % {"item": item},
        )
    return redirect(request.path.removesuffix("verify") + ("" if whole else f"#item-{item}"))


# ---------------------------------------------------------------- live check (htmx)


@staff_page
@require_POST
def form_check(request: HttpRequest, study: str, code: str, visit: str, form: str) -> HttpResponse:
    """Each item's message and the score preview for what is typed so far (htmx: the preview,
    and each item's message swapped out of band)."""
    page = _form_page(request, study, code, visit, form)
    read = entry.read_entry(page.instrument, request.POST)
    due = set(items_needing_reason(page.saved, _changes(page, read)))
    checks = [
        {
            "id": item.id,
            "error": read.errors.get(item.id),
            "needs_reason": item.id in due and page.may_enter,
        }
        for item in page.instrument.items
    ]
    context = {
        "preview": entry.preview(page.instrument, _valid(read)),
        "checks": checks,
        "instrument": page.instrument,
    }
    return render(request, "pages/forms/check.html", context)


# ---------------------------------------------------------------- drafts


@staff_page
@require_POST
def form_draft(request: HttpRequest, study: str, code: str, visit: str, form: str) -> HttpResponse:
    """Keep what is typed as the user's draft; answers the time it was kept ("Draft saved
    hh:mm") with the header `X-Trialdesk-Draft: saved`, which forms.js waits for."""
    page = _form_page(request, study, code, visit, form)
    names = {item.id for item in page.instrument.items}
    names |= {REASON_PREFIX + item for item in names}
    values = {name: str(text) for name, text in request.POST.items() if name in names}
    try:
        draft = save_draft(
            page.access.study,
            page.subject.code,
            page.visit_plan.id,
            page.instrument.id,
            values,
            page.access.user.username,
        )
    except TrialdeskError as error:
        refused = refusal(error)
        return HttpResponse(refused.heading, status=200, headers={"X-Trialdesk-Draft": "refused"})
    when = formats.time_format(timezone.localtime(draft.saved_at), "H:i")
    response = HttpResponse(_("Draft saved %(time)s") % {"time": when})
    response["X-Trialdesk-Draft"] = "saved"
    response["X-Trialdesk-Draft-At"] = draft.saved_at.isoformat()
    return response


# ---------------------------------------------------------------- item history


@staff_page
def item_history(
    request: HttpRequest, study: str, code: str, visit: str, form: str, item: str
) -> HttpResponse:
    """The item's audit events: when (the user's time zone), who, old -> new, reason. A
    fragment for htmx, a page of its own otherwise."""
    page = _form_page(request, study, code, visit, form)
    definition = page.instrument.item_map.get(item)
    if definition is None:
        raise Http404(f"no item {item} in {form}")
    labels = {
        str(value): label
        for value, label in entry.option_labels(page.instrument.id, _language())
        .get(item, {})
        .items()
    }
    events: list[AuditEvent] = []
    if page.record is not None:
        events = list(
            page.access.audit_events()
            .filter(object_type="FormRecord", object_id=str(page.record.pk), field=f"values.{item}")
            .order_by("seq")
        )
    texts = entry.item_texts(page.instrument.id, _language())
    context = {
        "item": definition,
        "item_label": texts.get(item, definition.label),
        "events": [
            {
                "at": event.at,
                "by": event.by,
                "action": event.action,
                "old": _shown_value(event.old_value, labels),
                "new": _shown_value(event.new_value, labels),
                "reason": event.reason,
            }
            for event in events
        ],
        "subject": page.subject,
        "visit_plan": page.visit_plan,
        "instrument": page.instrument,
        "form_url": reverse(
            "pages:form",
            args=[study_key(page.access.study), code, page.visit_plan.id, form],
        ),
        "subject_url": reverse("pages:subject", args=[study_key(page.access.study), code]),
    }
    if getattr(request, "htmx", False):
        return render(request, "pages/forms/history_table.html", context)
    return render_study_page(
        request, "pages/forms/history.html", page.access, "study-home", context
    )


def _shown_value(stored: str, labels: dict[str, str]) -> str | None:
    """An audited value (canonical JSON) as the user reads it; None for no value."""
    try:
        value = json.loads(stored)
    except ValueError:
        return stored
    if value is None:
        return None
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    text = str(value)
    return f"{text} · {labels[text]}" if text in labels else text
