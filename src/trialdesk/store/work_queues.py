"""A user's work queues (Medidata Rave's task summary): what waits on them, per role and site,
as counts with the most urgent items first, read through their `Access` only.

    needs signature   investigators: a visit done whose forms are all complete, with no
                      valid signature of it or of the casebook; the casebook of a randomized
                      subject whose participation has ended (completed, withdrawn, lost to
                      follow-up: the casebooks the database lock needs signed) without a valid
                      casebook signature. A broken signature (the data changed after signing)
                      needs signing again: those come first. What has an open query waits for
                      the site's answer first (the signature service refuses it), so it is
                      not listed.
    open queries      the site's staff who answer them (coordinator, investigator, assessor),
                      oldest first
    answered queries  monitors and data managers, who close or re-open them, longest
                      answered first
    needs SDV         monitors: saved forms with items the SDV plan requires not verified as
                      they now stand (`sdv_status.needs_sdv`); those whose verification a
                      change reset first
    overdue visits,   the site's staff, monitors and data managers (`matrix.work_list`)
    forms due
    ready to lock     data managers: a visit whose forms are all complete, with no open or
                      answered query on it, nothing to verify, signed (the visit or the
                      casebook, validly) and not locked; a casebook validly signed, with no
                      open or answered query and nothing to verify, not locked
    SAE reports       who reports adverse events, monitors and data managers
                      (`matrix.work_list`): overdue first, then due

Which sections a user sees follows their roles (`SECTION_ROLES`, the steps of
`store.permissions`), and each section counts only the subjects of the sites where the user
holds one of its roles. Every query is a fixed number per call, whatever the number of
subjects.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING

from django.db.models import (
    DateTimeField,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce

from trialdesk.store.lifecycle import SubjectStatus
from trialdesk.store.matrix import (
    WORK_LIST_LIMIT,
    WorkList,
    WorkSection,
    _with_form_counts,
    work_list,
)
from trialdesk.store.models import (
    Allocation,
    LockLevel,
    Query,
    QueryMessage,
    QueryStatus,
    RecordLock,
    Role,
    Signature,
    Subject,
    Visit,
    VisitStatus,
)
from trialdesk.store.permissions import STEP_ROLES, Step
from trialdesk.store.query_lists import readable_queries
from trialdesk.store.sdv_status import needs_sdv

if TYPE_CHECKING:
    from trialdesk.protocol.model import Visit as ProtocolVisit
    from trialdesk.store.access import Access

#: A subject whose participation ended this way has a casebook for the investigator to sign.
CASEBOOK_TO_SIGN = frozenset(
    {SubjectStatus.COMPLETED, SubjectStatus.WITHDRAWN, SubjectStatus.LOST_TO_FOLLOW_UP}
)
#: The queries still waiting on someone.
PENDING_QUERY = (QueryStatus.OPEN, QueryStatus.ANSWERED)


class Section(StrEnum):
    """The queue's sections, in the order a page shows them."""

    NEEDS_SIGNATURE = "needs_signature"
    OPEN_QUERIES = "open_queries"
    ANSWERED_QUERIES = "answered_queries"
    NEEDS_SDV = "needs_sdv"
    OVERDUE_VISITS = "overdue_visits"
    FORMS_DUE = "forms_due"
    READY_TO_LOCK = "ready_to_lock"
    SAE_REPORTS_OVERDUE = "sae_reports_overdue"
    SAE_REPORTS_DUE = "sae_reports_due"


_SITE_WORK = STEP_ROLES[Step.ENTER_FORMS] | {Role.MONITOR, Role.DATA_MANAGER}
_SAFETY_WORK = STEP_ROLES[Step.REPORT_ADVERSE_EVENT] | {Role.MONITOR, Role.DATA_MANAGER}
#: Who sees each section: who takes the step it waits for (and, for the visits and SAE
#: reports, the monitors and data managers who follow the sites up).
SECTION_ROLES: dict[Section, frozenset[Role]] = {
    Section.NEEDS_SIGNATURE: STEP_ROLES[Step.SIGN],
    Section.OPEN_QUERIES: STEP_ROLES[Step.ANSWER_QUERY],
    Section.ANSWERED_QUERIES: STEP_ROLES[Step.RAISE_QUERY],
    Section.NEEDS_SDV: STEP_ROLES[Step.VERIFY_SOURCE],
    Section.OVERDUE_VISITS: _SITE_WORK,
    Section.FORMS_DUE: _SITE_WORK,
    Section.READY_TO_LOCK: STEP_ROLES[Step.LOCK_RECORDS],
    Section.SAE_REPORTS_OVERDUE: _SAFETY_WORK,
    Section.SAE_REPORTS_DUE: _SAFETY_WORK,
}
#: The sections the work list (`matrix.work_list`) gives, by its attribute.
WORK_LIST_SECTIONS = {
    Section.OVERDUE_VISITS: "overdue_visits",
    Section.FORMS_DUE: "forms_due",
    Section.SAE_REPORTS_OVERDUE: "sae_overdue",
    Section.SAE_REPORTS_DUE: "sae_due",
}


@dataclass(frozen=True)
class SignatureItem:
    """A visit (`visit_id`) or a casebook (`visit_id` "") to sign; `since` the visit's date
    (or its window's end), `broken_at` when its last signature was broken by a change."""

    code: str
    site: str
    visit_id: str
    label: str
    since: dt.date | None
    broken_at: dt.datetime | None


@dataclass(frozen=True)
class QueryItem:
    """A query waiting on the user; `waiting_since` is when it was opened (open queries) or
    last answered (answered queries)."""

    code: str
    site: str
    number: int
    visit_id: str
    label: str
    form: str
    item: str
    origin: str
    rule: str
    status: str
    waiting_since: dt.datetime
    #: The opening message: what the site is asked.
    question: str


@dataclass(frozen=True)
class SdvItem:
    """A saved form with `unverified` items the SDV plan requires not verified as they stand,
    `reset` of them verified once and changed since."""

    code: str
    site: str
    visit_id: str
    label: str
    form: str
    unverified: int
    reset: int


@dataclass(frozen=True)
class LockItem:
    """A visit (`visit_id`) or a casebook (`visit_id` "") ready for the data manager's lock."""

    code: str
    site: str
    visit_id: str
    label: str
    signed_at: dt.datetime


@dataclass
class WorkQueue:
    """The sections the user's roles give them (`Section` order), each `WorkSection`."""

    site: str
    sections: dict[Section, WorkSection]

    @property
    def total(self) -> int:
        return sum(section.count for section in self.sections.values())


def sections_for(access: Access) -> list[Section]:
    """The sections the user's roles give them, in `Section` order (none: no queue)."""
    held = {grant.role for grant in access.grants}
    return [section for section in Section if held & SECTION_ROLES[section]]


def work_queue(
    access: Access,
    today: dt.date,
    now: dt.datetime,
    site: str = "",
    limit: int = WORK_LIST_LIMIT,
) -> WorkQueue:
    """The user's work queue on `today` (`now` for SAE deadlines), of one of their sites with
    `site` (a code); `limit` items per section (0: counts only)."""
    shown = sections_for(access)
    plans = access.study.protocol().visits
    labels = {plan.id: plan.label for plan in plans}
    sections: dict[Section, WorkSection] = {}
    lists: dict[frozenset[Role], WorkList] = {}
    sdv_needed: dict[frozenset[Role], list[SdvItem]] = {}

    def unverified(roles: frozenset[Role], scoped: Access) -> list[SdvItem]:
        if roles not in sdv_needed:
            sdv_needed[roles] = _needs_sdv(scoped, site, labels)
        return sdv_needed[roles]

    for section in shown:
        roles = SECTION_ROLES[section]
        scoped = _narrowed(access, roles)
        subjects = _subjects(scoped, site)
        if section is Section.NEEDS_SIGNATURE:
            sections[section] = _needs_signature(subjects, plans, labels, limit)
        elif section is Section.OPEN_QUERIES:
            sections[section] = _queries(scoped, site, QueryStatus.OPEN, labels, limit)
        elif section is Section.ANSWERED_QUERIES:
            sections[section] = _queries(scoped, site, QueryStatus.ANSWERED, labels, limit)
        elif section is Section.NEEDS_SDV:
            found = unverified(roles, scoped)
            sections[section] = WorkSection(len(found), found[:limit] if limit else [])
        elif section is Section.READY_TO_LOCK:
            pending = {(item.code, item.visit_id) for item in unverified(roles, scoped)}
            sections[section] = _ready_to_lock(subjects, plans, labels, pending, limit)
        else:
            if roles not in lists:
                lists[roles] = work_list(scoped, today, now, limit, site)
            sections[section] = getattr(lists[roles], WORK_LIST_SECTIONS[section])
    return WorkQueue(site=site, sections=sections)


def _narrowed(access: Access, roles: frozenset[Role]) -> Access:
    """The access of the user's grants of `roles` only: a coordinator at 01 who monitors 02
    answers 01's queries and verifies 02's forms."""
    return replace(access, grants=tuple(g for g in access.grants if g.role in roles))


def _subjects(access: Access, site: str) -> QuerySet[Subject]:
    subjects = access.subjects()
    return subjects.filter(site__code=site) if site else subjects


# ------------------------------------------------------------------ sections


def _complete_visits(subjects: QuerySet[Subject], plans: list[ProtocolVisit]) -> QuerySet[Visit]:
    """Visits done whose planned forms are all complete (save_form takes only the
    protocol's forms of a visit, so a count of complete records is one of planned forms)."""
    rows = Visit.objects.filter(subject__in=subjects.values("pk"), status=VisitStatus.DONE)
    return _with_form_counts(rows, plans).filter(planned__gt=0, completed__gte=F("planned"))


def _valid_signature(visit: bool) -> Exists:
    """A signature standing (not broken) of the outer row's subject: of its visit or of the
    casebook (`visit`), or of the casebook alone."""
    covering = Q(visit_id="") | Q(visit_id=OuterRef("visit_id")) if visit else Q(visit_id="")
    subject = OuterRef("subject") if visit else OuterRef("pk")
    return Exists(Signature.objects.filter(covering, subject=subject, broken_at__isnull=True))


def _needs_signature(
    subjects: QuerySet[Subject],
    plans: list[ProtocolVisit],
    labels: dict[str, str],
    limit: int,
) -> WorkSection:
    broken_visit = (
        Signature.objects.filter(
            subject=OuterRef("subject"), visit_id=OuterRef("visit_id"), broken_at__isnull=False
        )
        .order_by("-broken_at")
        .values("broken_at")[:1]
    )
    open_query = Query.objects.filter(subject=OuterRef("subject"), status=QueryStatus.OPEN)
    visits = (
        _complete_visits(subjects, plans)
        .filter(~_valid_signature(visit=True))
        .exclude(Exists(open_query.filter(visit_id=OuterRef("visit_id"))))
        .annotate(broken=_subquery(broken_visit), since=Coalesce("actual_date", "window_end"))
        .values_list("subject__code", "subject__site__code", "visit_id", "since", "broken")
    )
    broken_casebook = (
        Signature.objects.filter(subject=OuterRef("pk"), visit_id="", broken_at__isnull=False)
        .order_by("-broken_at")
        .values("broken_at")[:1]
    )
    ended = Q(status__in=[s.value for s in CASEBOOK_TO_SIGN]) & Exists(
        Allocation.objects.filter(subject=OuterRef("pk"))
    )
    casebooks = (
        subjects.filter(~_valid_signature(visit=False))
        .exclude(Exists(Query.objects.filter(subject=OuterRef("pk"), status=QueryStatus.OPEN)))
        .annotate(broken=_subquery(broken_casebook))
        .filter(ended | Q(broken__isnull=False))
        .values_list("code", "site__code", "broken")
    )
    items = [
        SignatureItem(code, site, visit_id, labels.get(visit_id, visit_id), since, broken)
        for code, site, visit_id, since, broken in visits
    ] + [SignatureItem(code, site, "", "", None, broken) for code, site, broken in casebooks]
    items.sort(
        key=lambda item: (
            item.broken_at is None,
            item.broken_at or dt.datetime.max.replace(tzinfo=dt.UTC),
            item.since or dt.date.max,
            item.code,
            item.visit_id or "~",
        )
    )
    return WorkSection(len(items), items[:limit] if limit else [])


def _subquery(rows: QuerySet) -> Subquery:
    return Subquery(rows, output_field=DateTimeField())


def _queries(
    access: Access, site: str, status: QueryStatus, labels: dict[str, str], limit: int
) -> WorkSection:
    """The queries the user reads (`query_lists.readable_queries`) in `status`, of `site`
    when given, longest waiting first."""
    rows = readable_queries(access).filter(status=status)
    if site:
        rows = rows.filter(subject__site__code=site)
    if status is QueryStatus.ANSWERED:
        answered = QueryMessage.objects.filter(query=OuterRef("pk"), action="answered")
        rows = rows.annotate(
            waiting=Coalesce(_subquery(answered.order_by("-at").values("at")[:1]), "opened_at")
        )
    else:
        rows = rows.annotate(waiting=F("opened_at"))
    count = rows.count()
    if not limit or not count:
        return WorkSection(count)
    opening = QueryMessage.objects.filter(query=OuterRef("pk")).order_by("pk").values("text")
    rows = rows.annotate(question=Subquery(opening[:1]))
    found = rows.order_by("waiting", "subject__code", "number").values_list(
        "subject__code",
        "subject__site__code",
        "number",
        "visit_id",
        "form",
        "item",
        "origin",
        "rule",
        "status",
        "waiting",
        "question",
    )[:limit]
    return WorkSection(
        count,
        [
            QueryItem(code, site, number, visit, labels.get(visit, visit), *rest)
            for code, site, number, visit, *rest in found
        ],
    )


def _needs_sdv(access: Access, site: str, labels: dict[str, str]) -> list[SdvItem]:
    """The forms `sdv_status.needs_sdv` finds, those changed since their verification first
    (their SDV no longer holds), then by site, subject and visit."""
    items = [
        SdvItem(
            form.code,
            form.site,
            form.visit_id,
            labels.get(form.visit_id, form.visit_id),
            form.form,
            len(form.required) - len(form.verified),
            len(form.reset),
        )
        for form in needs_sdv(access, site)
    ]
    return sorted(items, key=lambda item: not item.reset)


def _ready_to_lock(
    subjects: QuerySet[Subject],
    plans: list[ProtocolVisit],
    labels: dict[str, str],
    unverified: set[tuple[str, str]],
    limit: int,
) -> WorkSection:
    locks = RecordLock.objects.filter(unlocked_at__isnull=True)
    casebook_locked = Exists(locks.filter(subject=OuterRef("subject"), level=LockLevel.CASEBOOK))
    visit_locked = Exists(
        locks.filter(
            subject=OuterRef("subject"), level=LockLevel.VISIT, visit_id=OuterRef("visit_id")
        )
    )
    pending = Exists(
        Query.objects.filter(
            subject=OuterRef("subject"), visit_id=OuterRef("visit_id"), status__in=PENDING_QUERY
        )
    )
    signed = Signature.objects.filter(
        Q(visit_id="") | Q(visit_id=OuterRef("visit_id")),
        subject=OuterRef("subject"),
        broken_at__isnull=True,
    )
    visits = (
        _complete_visits(subjects, plans)
        .filter(~casebook_locked, ~visit_locked, ~pending)
        .annotate(signed_at=_subquery(signed.order_by("signed_at").values("signed_at")[:1]))
        .filter(signed_at__isnull=False)
        .values_list("subject__code", "subject__site__code", "visit_id", "signed_at")
    )
    casebook_signed = Signature.objects.filter(
        subject=OuterRef("pk"), visit_id="", broken_at__isnull=True
    )
    casebooks = (
        subjects.filter(
            ~Exists(locks.filter(subject=OuterRef("pk"), level=LockLevel.CASEBOOK)),
            ~Exists(Query.objects.filter(subject=OuterRef("pk"), status__in=PENDING_QUERY)),
        )
        .annotate(
            signed_at=_subquery(casebook_signed.order_by("signed_at").values("signed_at")[:1])
        )
        .filter(signed_at__isnull=False)
        .values_list("code", "site__code", "signed_at")
    )
    waiting = {code for code, _ in unverified}
    items = [
        LockItem(code, site, visit_id, labels.get(visit_id, visit_id), signed_at)
        for code, site, visit_id, signed_at in visits
        if (code, visit_id) not in unverified
    ] + [
        LockItem(code, site, "", "", signed_at)
        for code, site, signed_at in casebooks
        if code not in waiting
    ]
    items.sort(key=lambda item: (item.signed_at, item.code, item.visit_id or "~"))
    return WorkSection(len(items), items[:limit] if limit else [])
