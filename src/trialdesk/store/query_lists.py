"""Queries as people read them, through their `Access` (site scope): lists with filters,
counts per subject, form and site by status, the queries of one form's items, and one
query's thread. Each read is a fixed number of database queries, whatever the number of
subjects or queries. Nothing here is shown by arm.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, OuterRef, QuerySet, Subquery

from trialdesk.errors import BadInput
from trialdesk.store.access import Access
from trialdesk.store.errors import NotFound
from trialdesk.store.models import Query, QueryMessage, QueryStatus
from trialdesk.store.services.queries import QUERY_NUMBERS

STATUSES = tuple(status.value for status in QueryStatus)


@dataclass(frozen=True)
class MessageRow:
    action: str
    text: str
    by: str | None  # None: the edit checks
    at: dt.datetime


@dataclass(frozen=True)
class QueryRow:
    subject: str
    site: str
    number: int
    visit_id: str
    form: str
    item: str
    status: str
    origin: str
    rule: str
    opened_by: str | None
    opened_at: dt.datetime
    closed_at: dt.datetime | None
    #: The opening message (the question) and the latest message of the thread.
    question: str
    last_action: str
    last_text: str
    last_by: str | None
    last_at: dt.datetime
    messages: tuple[MessageRow, ...] = ()

    @property
    def label(self) -> str:
        """How people name it: 01-003 Q2."""
        return f"{self.subject} Q{self.number}"


def readable_queries(access: Access) -> QuerySet[Query]:
    """The study's queries on the subjects the user may read."""
    if not access.has_role:
        return Query.objects.none()
    queries = Query.objects.filter(subject__study=access.study)
    if not access.study_wide:
        queries = queries.filter(subject__site_id__in=access.site_ids)
    return queries


def queries(
    access: Access,
    *,
    status: str | None = None,
    site: str | None = None,
    subject: str | None = None,
    visit_id: str | None = None,
    form: str | None = None,
) -> list[QueryRow]:
    """The queries the user may read, newest first, narrowed by the filters given (one
    database query)."""
    selected = readable_queries(access)
    if status is not None:
        if status not in STATUSES:
            raise BadInput(f"query status {status!r}: expected one of {', '.join(STATUSES)}")
        selected = selected.filter(status=status)
    if site is not None:
        selected = selected.filter(subject__site__code=site)
    if subject is not None:
        selected = selected.filter(subject__code=subject)
    if visit_id is not None:
        selected = selected.filter(visit_id=visit_id)
    if form is not None:
        selected = selected.filter(form=form)
    return [_row(query) for query in _annotated(selected).order_by("-opened_at", "-pk")]


def form_queries(access: Access, code: str, visit_id: str, form: str) -> dict[str, list[QueryRow]]:
    """The queries of one form of one visit with their threads, by item ("" for those on the
    whole form), oldest first: what a form page shows beside its items (two database
    queries after the subject's)."""
    subject = access.subject(code)
    selected = Query.objects.filter(subject=subject, visit_id=visit_id, form=form)
    rows = _with_threads(list(_annotated(selected).order_by("pk")))
    by_item: dict[str, list[QueryRow]] = defaultdict(list)
    for row in rows:
        by_item[row.item].append(row)
    return dict(by_item)


def query_thread(access: Access, code: str, number: int) -> QueryRow:
    """One query with its whole thread; NotFound if the user may not read it."""
    subject = access.subject(code)
    query = None
    if number in QUERY_NUMBERS:
        query = _annotated(Query.objects.filter(subject=subject, number=number)).first()
    if query is None:
        raise NotFound(f"{access.study}, subject {code}: no query Q{number}")
    return _with_threads([query])[0]


@dataclass(frozen=True)
class QueryCounts:
    """Queries by status ({"open": n, "answered": n, "closed": n}) per subject code, per form
    (protocol form id), per (subject, visit, form), per site code, and in all."""

    by_subject: dict[str, dict[str, int]] = field(default_factory=dict)
    by_form: dict[str, dict[str, int]] = field(default_factory=dict)
    by_subject_form: dict[tuple[str, str, str], dict[str, int]] = field(default_factory=dict)
    by_site: dict[str, dict[str, int]] = field(default_factory=dict)
    total: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "by_site": self.by_site,
            "by_subject": self.by_subject,
            "by_form": self.by_form,
            "by_subject_form": [
                {"subject": code, "visit_id": visit_id, "form": form, **counts}
                for (code, visit_id, form), counts in self.by_subject_form.items()
            ],
        }


def query_counts(access: Access) -> QueryCounts:
    """Counts of the queries the user may read, by status (one database query)."""
    rows = (
        readable_queries(access)
        .values_list("subject__code", "subject__site__code", "visit_id", "form", "status")
        .annotate(n=Count("pk"))
        .order_by("subject__code", "visit_id", "form")
    )
    counts = QueryCounts(total=_zero())
    for code, site, visit_id, form, status, n in rows:
        for table, key in (
            (counts.by_subject, code),
            (counts.by_site, site),
            (counts.by_subject_form, (code, visit_id, form)),
            *([(counts.by_form, form)] if form else []),
        ):
            table.setdefault(key, _zero())[status] += n  # type: ignore[index]
        counts.total[status] += n
    return counts


def _zero() -> dict[str, int]:
    return dict.fromkeys(STATUSES, 0)


def _annotated(selected: QuerySet[Query]) -> QuerySet[Query]:
    thread = QueryMessage.objects.filter(query=OuterRef("pk"))
    first, last = thread.order_by("pk"), thread.order_by("-pk")
    return selected.select_related("subject__site", "opened_by").annotate(
        question=Subquery(first.values("text")[:1]),
        last_action=Subquery(last.values("action")[:1]),
        last_text=Subquery(last.values("text")[:1]),
        last_by=Subquery(last.values("by__username")[:1]),
        last_at=Subquery(last.values("at")[:1]),
    )


def _row(query: Any, messages: tuple[MessageRow, ...] = ()) -> QueryRow:
    return QueryRow(
        subject=query.subject.code,
        site=query.subject.site.code,
        number=query.number,
        visit_id=query.visit_id,
        form=query.form,
        item=query.item,
        status=query.status,
        origin=query.origin,
        rule=query.rule,
        opened_by=query.opened_by.username if query.opened_by else None,
        opened_at=query.opened_at,
        closed_at=query.closed_at,
        question=query.question,
        last_action=query.last_action,
        last_text=query.last_text,
        last_by=query.last_by,
        last_at=query.last_at,
        messages=messages,
    )


def _with_threads(found: list[Query]) -> list[QueryRow]:
    threads: dict[int, list[MessageRow]] = defaultdict(list)
    if found:
        rows = (
            QueryMessage.objects.filter(query__in=[query.pk for query in found])
            .order_by("pk")
            .values_list("query_id", "action", "text", "by__username", "at")
        )
        for query_id, action, text, by, at in rows:
            threads[query_id].append(MessageRow(action, text, by, at))
    return [_row(query, tuple(threads[query.pk])) for query in found]
