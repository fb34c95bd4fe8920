"""Queries to the sites: lists with filters and counts, one query's thread, and the steps of
the query services (raise, answer, comment, close, re-open, close several at once).

Reads go through the user's access (their sites only); the steps are the services', whose
roles decide who may take them (`trialdesk.store.services.queries`). Message texts are plain
text, returned as written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from trialdesk.store import query_lists
from trialdesk.store.models import QueryStatus
from trialdesk.store.query_lists import QueryRow
from trialdesk.store.services import queries as services
from trialdesk.web.api.context import SUBJECT, study_for, subject_for
from trialdesk.web.api.errors import READ_ERRORS, WRITE_ERRORS
from trialdesk.web.api.schemas import BodyIn, ErrorOut, codes, declared

router = Router(tags=["queries"])

QUERIES = "/studies/{study}/queries"
SUBJECT_QUERIES = SUBJECT + "/queries"
ONE_QUERY = SUBJECT_QUERIES + "/{number}"
LIST_ERRORS = {400: ErrorOut, **READ_ERRORS}

QueryNumber = Annotated[
    int,
    Field(ge=services.QUERY_NUMBERS.start, le=services.QUERY_NUMBERS.stop - 1),
]
STATUS_CODES = codes(query_lists.STATUSES)
#: Filter text: anything but a NUL character (which no stored value holds).
NO_NUL = r"^[^\x00]*$"
TEXT = {"minLength": 1, "maxLength": services.TEXT_LENGTH, "pattern": services.TEXT_PATTERN}


class MessageOut(Schema):
    action: str = Field(description="opened, answered, commented, closed or reopened")
    text: str = Field(description="plain text, as written")
    by: str | None = Field(description="the user; null for the edit checks")
    at: dt.datetime


class QueryOut(Schema):
    subject: str
    site: str
    number: int = Field(description="per subject: 01-003 Q1, Q2, ...")
    visit_id: str = Field(description='the visit the query is on; "" for the subject')
    form: str
    item: str = Field(description='the item; an adverse event as "AE 3" for an SAE rule')
    status: str = declared(**STATUS_CODES)
    origin: str = declared(description="manual or rule", **codes(["manual", "rule"]))
    rule: str = Field(description="the edit check that raised it (origin rule)")
    opened_by: str | None = Field(description="null for a rule's query")
    opened_at: dt.datetime
    closed_at: dt.datetime | None
    question: str = Field(description="the opening message")
    last_action: str
    last_text: str
    last_by: str | None
    last_at: dt.datetime
    messages: list[MessageOut] = Field(description="the thread (one query's endpoints only)")


class StatusCounts(Schema):
    open: int
    answered: int
    closed: int


class FormCounts(StatusCounts):
    subject: str
    visit_id: str
    form: str


class QueryCountsOut(Schema):
    total: StatusCounts
    by_site: dict[str, StatusCounts]
    by_subject: dict[str, StatusCounts]
    by_form: dict[str, StatusCounts] = Field(description="by protocol form id")
    by_subject_form: list[FormCounts]


class QueryListOut(Schema):
    queries: list[QueryOut]
    counts: QueryCountsOut = Field(description="of every query the user may read, unfiltered")


class RaiseIn(BodyIn):
    text: str = declared(description="the question to the site", **TEXT)
    visit_id: str = Field("", description="a protocol visit; needed with a form")
    form: str = Field("", description="a form of that visit; needed with an item")
    item: str = Field("", description="an item or score of that form")


class MessageIn(BodyIn):
    text: str = declared(**TEXT)


class QueryRef(BodyIn):
    subject: str
    number: QueryNumber


class BulkCloseIn(BodyIn):
    queries: list[QueryRef] = Field(min_length=1, description="closed all together, or none")
    text: str = declared(**TEXT)


def _out(row: QueryRow) -> dict:
    return asdict(row)


@router.get(QUERIES, response={200: QueryListOut, **LIST_ERRORS})
def list_queries(
    request: HttpRequest,
    study: str,
    status: QueryStatus | None = Query(None, description="open, answered or closed"),
    site: str | None = Query(None, description="a site code", pattern=NO_NUL),
    subject: str | None = Query(None, description="a subject code", pattern=NO_NUL),
    visit_id: str | None = Query(None, description="a protocol visit", pattern=NO_NUL),
    form: str | None = Query(None, description="a protocol form", pattern=NO_NUL),
    version: str | None = None,
) -> dict:
    """The queries the user may read (their sites), newest first, with the filters given;
    and the counts by status per site, subject and form."""
    access = study_for(request, study, version)
    rows = query_lists.queries(
        access,
        status=status.value if status else None,
        site=site,
        subject=subject,
        visit_id=visit_id,
        form=form,
    )
    return {
        "queries": [_out(row) for row in rows],
        "counts": query_lists.query_counts(access).to_json(),
    }


@router.get(ONE_QUERY, response={200: QueryOut, **READ_ERRORS})
def query_thread(
    request: HttpRequest, study: str, code: str, number: int, version: str | None = None
) -> dict:
    """One query with its thread of messages."""
    access, _ = subject_for(request, study, code, version)
    return _out(query_lists.query_thread(access, code, number))


@router.post(SUBJECT_QUERIES, response={201: QueryOut, **WRITE_ERRORS})
def raise_query(
    request: HttpRequest, study: str, code: str, body: RaiseIn, version: str | None = None
) -> Status:
    """Raise a query on the subject (monitor, data manager): on an item of a form of a visit,
    a form, a visit, or the subject."""
    access, _ = subject_for(request, study, code, version)
    query = services.raise_query(
        access.study,
        code,
        text=body.text,
        by=access.user.username,
        visit_id=body.visit_id,
        form=body.form,
        item=body.item,
    )
    return Status(201, _out(query_lists.query_thread(access, code, query.number)))


def _step(
    request: HttpRequest,
    study: str,
    code: str,
    number: int,
    text: str,
    version: str | None,
    step: Callable[..., object],
) -> dict:
    access, _ = subject_for(request, study, code, version)
    step(access.study, code, number, text=text, by=access.user.username)
    return _out(query_lists.query_thread(access, code, number))


@router.post(ONE_QUERY + "/answer", response={200: QueryOut, **WRITE_ERRORS})
def answer_query(
    request: HttpRequest,
    study: str,
    code: str,
    number: int,
    body: MessageIn,
    version: str | None = None,
) -> dict:
    """The site answers an open query (coordinator, investigator, assessor of its site)."""
    return _step(request, study, code, number, body.text, version, services.answer_query)


@router.post(ONE_QUERY + "/comment", response={200: QueryOut, **WRITE_ERRORS})
def comment_query(
    request: HttpRequest,
    study: str,
    code: str,
    number: int,
    body: MessageIn,
    version: str | None = None,
) -> dict:
    """A message on an open or answered query, by those who raise or answer queries."""
    return _step(request, study, code, number, body.text, version, services.comment_query)


@router.post(ONE_QUERY + "/close", response={200: QueryOut, **WRITE_ERRORS})
def close_query(
    request: HttpRequest,
    study: str,
    code: str,
    number: int,
    body: MessageIn,
    version: str | None = None,
) -> dict:
    """Close an open or answered query (monitor, data manager)."""
    return _step(request, study, code, number, body.text, version, services.close_query)


@router.post(ONE_QUERY + "/reopen", response={200: QueryOut, **WRITE_ERRORS})
def reopen_query(
    request: HttpRequest,
    study: str,
    code: str,
    number: int,
    body: MessageIn,
    version: str | None = None,
) -> dict:
    """Re-open an answered or closed query (monitor, data manager)."""
    return _step(request, study, code, number, body.text, version, services.reopen_query)


@router.post(QUERIES + "/close", response={200: list[QueryOut], **WRITE_ERRORS})
def close_queries(
    request: HttpRequest, study: str, body: BulkCloseIn, version: str | None = None
) -> list[dict]:
    """Close several queries with one text: all of them, or none (nothing is changed when
    one of them may not be closed)."""
    access = study_for(request, study, version)
    for ref in body.queries:
        access.subject(ref.subject)  # another site's subject is not found, as elsewhere
    named = [(ref.subject, ref.number) for ref in body.queries]
    services.close_queries(access.study, named, text=body.text, by=access.user.username)
    return [_out(query_lists.query_thread(access, code, number)) for code, number in named]
