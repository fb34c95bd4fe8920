"""A form page's review column: beside each item its queries (open and answered, with links)
and its source data verification (verified by whom and when, or to verify again after a
change), and for the whole form the SDV status. Read from `trialdesk.store.query_lists` and
`trialdesk.store.sdv_status`, which decide what counts; this module only arranges it. (A
query on the whole form, not an item, is counted in the form's summary.)"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.urls import reverse

from trialdesk.store import query_lists, sdv_status
from trialdesk.store.access import Access
from trialdesk.store.models import FormRecord, Subject
from trialdesk.store.permissions import STEP_ROLES, Step
from trialdesk.web.pages.context import study_key
from trialdesk.web.pages.review.labels import SDV_LABELS, SDV_LOOKS, STATUS_LABELS, STATUS_LOOKS


@dataclass(frozen=True)
class QueryLink:
    number: int
    status: str
    label: str
    look: str
    url: str
    rule: str
    #: The thread's latest message, shown beside the item (who: "" for an edit check).
    last_by: str
    last_text: str


@dataclass
class ItemReview:
    """One item's column: its queries not closed, the raise link (monitors, data managers),
    and its verification ("verified", "reset": to verify again after a change, "unverified";
    "" for an item without a saved value)."""

    queries: list[QueryLink] = field(default_factory=list)
    closed: int = 0
    raise_url: str = ""
    sdv: str = ""
    required: bool = False
    verified_by: str = ""
    verified_at: dt.datetime | None = None
    reset_at: dt.datetime | None = None


@dataclass
class FormReview:
    """The review of the whole form: each item's column, the form's SDV status, and what
    the user may do (raise queries, verify)."""

    items: dict[str, ItemReview]
    may_raise: bool
    may_verify: bool
    #: The record's `sdv_status.FormSdv`, None before the form is saved.
    sdv: sdv_status.FormSdv | None = None
    sdv_label: str = ""
    sdv_look: str = ""
    open_queries: int = 0
    answered_queries: int = 0
    queries_url: str = ""
    verify_url: str = ""


def form_review(
    access: Access,
    subject: Subject,
    visit_id: str,
    form: str,
    items: list[str],
    record: FormRecord | None,
) -> FormReview:
    key = study_key(access.study)
    args = [key, subject.code, visit_id, form]
    review = FormReview(
        items={item: ItemReview() for item in items},
        may_raise=access.may(STEP_ROLES[Step.RAISE_QUERY], subject.site_id),
        may_verify=access.may(STEP_ROLES[Step.VERIFY_SOURCE], subject.site_id),
        queries_url=reverse("pages:queries", args=[key])
        + f"?status=all&subject={subject.code}&form={form}",
        verify_url=reverse("pages:form-verify", args=args),
    )
    if review.may_raise:
        for item, column in review.items.items():
            column.raise_url = reverse("pages:query-new", args=[*args, item])
    by_item = query_lists.form_queries(access, subject.code, visit_id, form)
    for query in (query for rows in by_item.values() for query in rows):
        review.open_queries += query.status == "open"
        review.answered_queries += query.status == "answered"
        column = review.items.get(query.item)
        if column is None:
            continue
        if query.status == "closed":
            column.closed += 1
            continue
        column.queries.append(
            QueryLink(
                query.number,
                query.status,
                str(STATUS_LABELS.get(query.status, query.status)),
                STATUS_LOOKS.get(query.status, "none"),
                reverse("pages:query", args=[key, subject.code, query.number]),
                query.rule,
                query.last_by or "",
                query.last_text,
            )
        )
    if record is not None:
        review.sdv = sdv_status.form_sdv(access, subject.code, visit_id, form)
        review.sdv_label = str(SDV_LABELS[review.sdv.state])
        review.sdv_look = SDV_LOOKS[review.sdv.state]
        for state in review.sdv.items:
            column = review.items.get(state.item)
            if column is None:
                continue
            column.sdv = (
                "verified" if state.verified else "reset" if state.to_verify_again else "unverified"
            )
            column.required = state.required
            column.verified_by = state.verified_by
            column.verified_at = state.verified_at
            column.reset_at = state.reset_at
    return review
