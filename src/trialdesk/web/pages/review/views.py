"""The query list (filters by status, site, subject and form; the counts; bulk close), a
query's page (the item and its current value, the thread, the steps the user's roles allow)
and raising a query on an item of a form.

The views parse, call `trialdesk.store.query_lists` (reads through the user's `Access`) or
`trialdesk.store.services.queries` (the writes and their rules), and render."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _

from trialdesk.errors import TrialdeskError
from trialdesk.instruments import get_instrument
from trialdesk.store import query_lists
from trialdesk.store.access import Access
from trialdesk.store.errors import NotFound
from trialdesk.store.models import FormRecord, Subject
from trialdesk.store.permissions import STEP_ROLES, Step
from trialdesk.store.query_lists import QueryRow
from trialdesk.store.services import queries as query_services
from trialdesk.web.pages.context import staff_page, study_access, study_key, subject_of
from trialdesk.web.pages.forms import entry
from trialdesk.web.pages.navigation import render_study_page
from trialdesk.web.pages.refusals import refusal
from trialdesk.web.pages.review.labels import (
    ACTION_LABELS,
    DONE_LABELS,
    STATUS_LABELS,
    STATUS_LOOKS,
)

#: At most this many queries are listed at once (the filters narrow a longer list).
SHOWN = 200
#: The longest message a page takes (the services keep the text as typed).
MAX_TEXT = 4000
#: A selected query in the list's bulk close: "<subject code>#<number>".
SELECTED = "#"


def may_raise(access: Access, subject: Subject) -> bool:
    return may_raise_at(access, subject.site_id)


def may_raise_at(access: Access, site_id: int) -> bool:
    return access.may(STEP_ROLES[Step.RAISE_QUERY], site_id)


def may_answer(access: Access, subject: Subject) -> bool:
    return access.may(STEP_ROLES[Step.ANSWER_QUERY], subject.site_id)


# ---------------------------------------------------------------- the list


@dataclass(frozen=True)
class Filters:
    status: str
    site: str
    subject: str
    form: str

    @classmethod
    def of(cls, data: Any) -> Filters:
        def field(name: str) -> str:
            return str(data.get(name, "")).strip()[:100]

        status = field("status")
        return cls(
            status if status in STATUS_LABELS or status == "all" else "",
            field("site"),
            field("subject"),
            field("form"),
        )

    @property
    def status_read(self) -> str | None:
        """The status asked of the read; None for all, and for the list's default, open and
        answered (the queries still to handle), which leaves out the closed ones."""
        return self.status if self.status in STATUS_LABELS else None

    def query_string(self) -> str:
        shown = {name: value for name, value in vars(self).items() if value}
        return "?" + urlencode(shown) if shown else ""


@staff_page
def query_list(request: HttpRequest, study: str) -> HttpResponse:
    """The study's queries the user may read, newest first, with the counts per status;
    monitors and data managers select several and close them with one message."""
    access = study_access(request, study)
    filters = Filters.of(request.GET)
    refused = None
    if request.method == "POST":
        selected = [s for s in request.POST.getlist("query") if SELECTED in s][:SHOWN]
        text = str(request.POST.get("text", "")).strip()[:MAX_TEXT]
        pairs = [_pair(s) for s in selected]
        if not pairs:
            messages.error(request, _("Select the queries to close."))
        elif not text:
            messages.error(request, _("Write the closing message."))
        else:
            try:
                query_services.close_queries(
                    access.study, pairs, text=text, by=access.user.username
                )
            except TrialdeskError as error:
                refused = refusal(error)
            else:
                closed = ngettext(
                    "%(count)d query closed.", "%(count)d queries closed.", len(pairs)
                )
                messages.success(request, closed % {"count": len(pairs)})
                return redirect(request.path + filters.query_string())
    listed = query_lists.queries(
        access,
        status=filters.status_read,
        site=filters.site or None,
        subject=filters.subject or None,
        form=filters.form or None,
    )
    if not filters.status:
        listed = [row for row in listed if row.status != "closed"]
    raisers = {site.code for site in access.sites() if may_raise_at(access, site.pk)}
    rows = [_row(access, query, query.site in raisers) for query in listed[:SHOWN]]
    context = {
        "filters": filters,
        "rows": rows,
        "total": len(listed),
        "shown": len(rows),
        "counts": query_lists.query_counts(access),
        "status_order": list(STATUS_LABELS.items()),
        "status_choices": list(STATUS_LABELS.items()),
        "sites": list(access.sites().order_by("code")),
        "forms": _forms(access),
        "may_close": access.may(STEP_ROLES[Step.RAISE_QUERY]),
        "refusal": refused,
    }
    return render_study_page(
        request,
        "pages/review/query_list.html",
        access,
        "queries",
        context,
        status=refused.status if refused else 200,
    )


def _pair(selected: str) -> tuple[str, int]:
    code, _separator, number = selected.rpartition(SELECTED)
    try:
        return code, int(number)
    except ValueError:
        return code, 0


def _forms(access: Access) -> list[str]:
    """The protocol's forms, each once, in the order the visits first ask them."""
    seen: dict[str, None] = {}
    for visit in access.study.protocol().visits:
        seen.update(dict.fromkeys(visit.forms))
    return list(seen)


def _row(access: Access, query: QueryRow, may_close: bool) -> dict[str, Any]:
    return {
        "query": query,
        "url": reverse("pages:query", args=[study_key(access.study), query.subject, query.number]),
        "status": STATUS_LABELS.get(query.status, query.status),
        "look": STATUS_LOOKS.get(query.status, "none"),
        "selectable": query.status != "closed" and may_close,
    }


# ---------------------------------------------------------------- one query


@staff_page
def query_page(request: HttpRequest, study: str, code: str, number: int) -> HttpResponse:
    """A query: its item with the current value, its thread (who, when in the user's time
    zone), and answer / comment / close / re-open as the user's roles and its status allow."""
    access = study_access(request, study)
    subject = subject_of(access, code)
    try:
        query = query_lists.query_thread(access, code, number)
    except NotFound:
        raise Http404(f"no query {number} on {code}") from None
    refused = None
    typed = ""
    if request.method == "POST":
        action = str(request.POST.get("action", ""))
        typed = str(request.POST.get("text", "")).strip()[:MAX_TEXT]
        if action not in STEPS:
            raise Http404(f"no step {action!r}")
        if not typed:
            messages.error(request, _("Write the message."))
        else:
            step = getattr(query_services, STEPS[action])
            try:
                step(access.study, code, number, text=typed, by=access.user.username)
            except TrialdeskError as error:
                refused = refusal(error)
            else:
                messages.success(request, str(DONE_LABELS[action]))
                return redirect(request.path)
    context = {
        "subject": subject,
        "query": query,
        "status": STATUS_LABELS.get(query.status, query.status),
        "look": STATUS_LOOKS.get(query.status, "none"),
        "thread": [
            {"message": message, "did": ACTION_LABELS.get(message.action, message.action)}
            for message in query.messages
        ],
        "item": _item(access, subject, query),
        "steps": _steps(access, subject, query),
        "typed": typed,
        "refusal": refused,
        "list_url": reverse("pages:queries", args=[study_key(access.study)])
        + Filters("all", "", subject.code, "").query_string(),
    }
    return render_study_page(
        request,
        "pages/review/query.html",
        access,
        "queries",
        context,
        status=refused.status if refused else 200,
    )


#: Each step of the page and the service that takes it.
STEPS = {
    "answer": "answer_query",
    "comment": "comment_query",
    "close": "close_query",
    "reopen": "reopen_query",
}


def _steps(access: Access, subject: Subject, query: QueryRow) -> list[dict[str, str]]:
    """The steps the user's roles allow on the query in its status, in the order offered."""
    site, monitor = may_answer(access, subject), may_raise(access, subject)
    steps = []
    if query.status == "open" and site:
        steps.append(("answer", _("Answer"), "primary"))
    if query.status == "answered" and monitor:
        steps.append(("close", _("Close the query"), "primary"))
        steps.append(("reopen", _("Re-open: the answer does not resolve it"), ""))
    if query.status == "open" and monitor:
        steps.append(("close", _("Close the query"), ""))
    if query.status == "closed" and monitor:
        steps.append(("reopen", _("Re-open the query"), "primary"))
    if query.status != "closed" and (site or monitor):
        steps.append(("comment", _("Add a comment"), ""))
    return [{"action": action, "label": label, "look": look} for action, label, look in steps]


@dataclass(frozen=True)
class ItemShown:
    """The item a query is on, as the page shows it (empty strings where it is wider)."""

    visit_id: str
    visit_label: str
    form: str
    item: str
    label: str
    value: str | None  # None: no value recorded
    form_url: str


def _item(access: Access, subject: Subject, query: QueryRow) -> ItemShown | None:
    if not query.form:
        return None
    visit = next((v for v in access.study.protocol().visits if v.id == query.visit_id), None)
    key = study_key(access.study)
    form_url = ""
    if visit is not None and query.form in visit.forms:
        form_url = reverse("pages:form", args=[key, subject.code, visit.id, query.form])
        if query.item:
            form_url += f"#item-{query.item}"
    label, value = "", None
    if query.item:
        label, value = item_value(subject, query.visit_id, query.form, query.item)
    return ItemShown(
        query.visit_id,
        visit.label if visit else query.visit_id,
        query.form,
        query.item,
        label,
        value,
        form_url,
    )


def item_value(subject: Subject, visit_id: str, form: str, item: str) -> tuple[str, str | None]:
    """The item's label in the user's language and its current value as the form shows it
    (with a coded answer's label); None where nothing is recorded."""
    language = get_language() or "en"
    try:
        instrument = get_instrument(form)
    except TrialdeskError:
        return "", None
    definition = instrument.item_map.get(item)
    label = entry.item_texts(form, language).get(item, definition.label if definition else "")
    record = FormRecord.objects.filter(subject=subject, visit__visit_id=visit_id, form=form).first()
    saved = record.values.get(item) if record is not None else None
    if definition is None or saved is None:
        return label, None
    text = entry.as_text(definition, saved)
    if isinstance(saved, bool):
        return label, _("Yes") if saved else _("No")
    options = entry.option_labels(form, language).get(item, {})
    named = {str(value): name for value, name in options.items()}
    return label, f"{text} · {named[text]}" if text in named else text


# ---------------------------------------------------------------- raising a query


@staff_page
def query_new(
    request: HttpRequest, study: str, code: str, visit: str, form: str, item: str
) -> HttpResponse:
    """Raise a query on an item of a form (monitors and data managers): the item and its
    current value, and the question to the site."""
    access = study_access(request, study)
    subject = subject_of(access, code)
    plan = next((v for v in access.study.protocol().visits if v.id == visit), None)
    if plan is None or form not in plan.forms:
        raise Http404(f"no form {form} at visit {visit}")
    if item not in get_instrument(form).item_map:
        raise Http404(f"no item {item} in {form}")
    key = study_key(access.study)
    form_url = reverse("pages:form", args=[key, code, visit, form])
    refused = None
    typed = ""
    if request.method == "POST":
        typed = str(request.POST.get("text", "")).strip()[:MAX_TEXT]
        if not typed:
            messages.error(request, _("Write the question to the site."))
        else:
            try:
                raised = query_services.raise_query(
                    access.study,
                    code,
                    text=typed,
                    by=access.user.username,
                    visit_id=visit,
                    form=form,
                    item=item,
                )
            except TrialdeskError as error:
                refused = refusal(error)
            else:
                messages.success(request, _("Query raised: the site sees it on the form."))
                return redirect(reverse("pages:query", args=[key, code, raised.number]))
    label, value = item_value(subject, visit, form, item)
    context = {
        "subject": subject,
        "item": ItemShown(visit, plan.label, form, item, label, value, form_url + f"#item-{item}"),
        "may_raise": may_raise(access, subject),
        "typed": typed,
        "refusal": refused,
        "subject_url": reverse("pages:subject", args=[key, code]),
    }
    return render_study_page(
        request,
        "pages/review/query_new.html",
        access,
        "queries",
        context,
        status=refused.status if refused else 200,
    )
