"""The user's work queue (`trialdesk.store.work_queues`): what waits on them, per section."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema

from trialdesk.store.matrix import WORK_LIST_LIMIT, VisitItem
from trialdesk.store.models import AdverseEvent
from trialdesk.store.work_queues import (
    LockItem,
    QueryItem,
    SdvItem,
    Section,
    SignatureItem,
    work_queue,
)
from trialdesk.web.api.context import study_for
from trialdesk.web.api.errors import READ_ERRORS
from trialdesk.web.api.schemas import codes, declared

router = Router(tags=["work queue"])


class WorkQueueFilters(Schema):
    site: str | None = Field(
        None,
        max_length=20,
        description="only this site's subjects (a site code, e.g. 01); a site the user does "
        "not read gives empty sections",
    )
    limit: int = Field(
        WORK_LIST_LIMIT,
        ge=0,
        le=WORK_LIST_LIMIT,
        description="at most this many items per section, most urgent first (0: counts only)",
    )


class WorkItemOut(Schema):
    """One thing to do; the fields that do not apply to its section are null."""

    subject: str
    site: str
    visit: str | None = Field(None, description='the protocol visit; "" for a casebook')
    visit_label: str | None = None
    form: str | None = None
    item: str | None = None
    query_number: int | None = None
    query_origin: str | None = Field(None, description="manual or rule")
    query_rule: str | None = Field(None, description="the edit check that raised the query")
    query_question: str | None = Field(None, description="what the query asks (its opening)")
    waiting_since: dt.datetime | None = Field(
        None, description="an open query: when it was opened; an answered one: when last answered"
    )
    broken_at: dt.datetime | None = Field(None, description="when the last signature was broken")
    signed_at: dt.datetime | None = None
    unverified_items: int | None = Field(
        None, description="SDV: the items the plan requires not verified as they now stand"
    )
    reset_items: int | None = Field(
        None, description="SDV: of those, the items verified once and changed since"
    )
    window_start: dt.date | None = None
    window_end: dt.date | None = None
    adverse_event: int | None = None
    report_due_at: dt.datetime | None = None


class WorkSectionOut(Schema):
    section: str = declared(description="what the items wait for", **codes(Section))
    count: int = Field(description="how many in all (the items are the first `limit`)")
    items: list[WorkItemOut]


class WorkQueueOut(Schema):
    site: str | None
    total: int
    sections: list[WorkSectionOut] = Field(
        description="the sections the user's roles give them; none for a role with no queue"
    )


def _item(found: Any) -> dict[str, Any]:
    if isinstance(found, AdverseEvent):
        return {
            "subject": found.subject.code,
            "site": found.subject.site.code,
            "adverse_event": found.number,
            "report_due_at": found.report_due_at,
        }
    row: dict[str, Any] = {"subject": found.code, "site": found.site}
    if isinstance(found, (SignatureItem, QueryItem, SdvItem, LockItem, VisitItem)):
        row.update(visit=found.visit_id, visit_label=found.label)
    if isinstance(found, SignatureItem):
        row["broken_at"] = found.broken_at
    elif isinstance(found, QueryItem):
        row.update(
            form=found.form,
            item=found.item,
            query_number=found.number,
            query_origin=found.origin,
            query_rule=found.rule,
            waiting_since=found.waiting_since,
            query_question=found.question,
        )
    elif isinstance(found, SdvItem):
        row.update(form=found.form, unverified_items=found.unverified, reset_items=found.reset)
    elif isinstance(found, LockItem):
        row["signed_at"] = found.signed_at
    elif isinstance(found, VisitItem):
        row.update(window_start=found.window_start, window_end=found.window_end)
    return row


@router.get("/studies/{study}/work-queue", response={200: WorkQueueOut, **READ_ERRORS})
def queue(
    request: HttpRequest,
    study: str,
    version: str | None = None,
    filters: Query[WorkQueueFilters] = None,  # type: ignore[assignment]
) -> dict[str, Any]:
    """What waits on the user today, by section (those their roles give them): visits and
    casebooks to sign, open queries to answer, answered queries to close, forms to verify
    (SDV), overdue visits, forms due, records ready to lock, SAE reports overdue and due;
    each section's count and its most urgent items first, of the user's sites (`site`: one)."""
    access = study_for(request, study, version)
    found = work_queue(
        access, timezone.localdate(), timezone.now(), site=filters.site or "", limit=filters.limit
    )
    return {
        "site": filters.site,
        "total": found.total,
        "sections": [
            {
                "section": section.value,
                "count": work.count,
                "items": [_item(entry) for entry in work.items],
            }
            for section, work in found.sections.items()
        ],
    }
