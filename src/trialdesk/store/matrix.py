"""A study's home, read side: the subject matrix (subjects x protocol visits, where each
visit's forms stand) and the work list (what is overdue or due), both from an `Access` only.

Where a visit stands is the subject calendar's rule, `trialdesk.store.calendar.visit_state`
(the window from the schedule core's `visit_calendar`: day 0, or the screening date before day
0; screening and baseline visits done when their forms are complete and never overdue after
randomization). A matrix cell adds what the visit's forms say:

    missed       the visit is marked missed
    complete     every form the protocol collects at the visit is marked complete (a visit
                 that collects none: it took place)
    overdue      its window has closed; it was neither done nor marked missed (whatever is
                 saved: the work list lists it among the overdue visits)
    in progress  some form is saved (not all complete), or the user has a draft of one, or
                 the visit took place and its forms are not all complete
    no data      it is due (its window is open) and nothing is entered yet
    not due      its window has not opened (or has no dates: day 0 is not known yet)
    not expected the subject's participation has ended (screen failure, withdrawn, lost to
                 follow-up, completed) and nothing was entered: no visit is awaited

The work list reads the same rules in SQL over the visit rows, so it counts by aggregate at
any size: a visit row carries the window the services set from the schedule core; a visit
before day 0 without a row yet (screening, before anything is entered) has the window the
core gives from the screening date, found with the same function. Every query here is a
fixed number per call, whatever the number of subjects (no query per row).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from trialdesk.schedule import visit_calendar, visit_window
from trialdesk.store.calendar import (
    VisitState,
    open_sae_reports,
    overdue_sae_reports,
    visit_state,
)
from trialdesk.store.diary_compliance import diary_alerts
from trialdesk.store.lifecycle import RANDOMIZED_STATUSES, SubjectStatus
from trialdesk.store.models import (
    AdverseEvent,
    EligibilityRecord,
    FormDraft,
    FormRecord,
    Subject,
    Visit,
    VisitStatus,
)
from trialdesk.store.sdv_status import SdvState, visit_states

if TYPE_CHECKING:
    from trialdesk.protocol.model import Protocol
    from trialdesk.protocol.model import Visit as ProtocolVisit
    from trialdesk.store.access import Access

#: Rows of the subject matrix per page.
PAGE_SIZE = 50
#: Items of each work list section shown (the counts are of all of them).
WORK_LIST_LIMIT = 100
#: Statuses of a subject whose participation has ended: no visit is awaited any more.
ENDED_STATUSES = frozenset(
    {
        SubjectStatus.SCREEN_FAILED,
        SubjectStatus.WITHDRAWN,
        SubjectStatus.LOST_TO_FOLLOW_UP,
        SubjectStatus.COMPLETED,
    }
)
#: The matrix's sort orders: the name in the URL and the columns it orders by.
SORTS: dict[str, tuple[str, ...]] = {
    "code": ("code",),
    "site": ("site__code", "code"),
    "status": ("status", "code"),
    "screened": ("screened_on", "code"),
}


class CellState(StrEnum):
    """Where one visit of one subject stands in the matrix (see the module's docstring)."""

    MISSED = "missed"
    COMPLETE = "complete"
    IN_PROGRESS = "in_progress"
    OVERDUE = "overdue"
    NO_DATA = "no_data"
    NOT_DUE = "not_due"
    NOT_EXPECTED = "not_expected"


def cell_state(
    state: VisitState,
    planned_forms: int,
    saved_forms: int,
    completed_forms: int,
    drafted: bool,
    ended: bool,
) -> CellState:
    """The cell of a visit: its `visit_state` with what its forms say (how many the protocol
    collects, are saved, are complete; whether the user has a draft of one); `ended` is True
    for a subject whose participation has ended (`ENDED_STATUSES`)."""
    if state is VisitState.MISSED:
        return CellState.MISSED
    if planned_forms and completed_forms >= planned_forms:
        return CellState.COMPLETE
    if state is VisitState.DONE and not planned_forms:
        return CellState.COMPLETE
    entered = bool(saved_forms or drafted or state is VisitState.DONE)
    if ended:
        return CellState.IN_PROGRESS if entered else CellState.NOT_EXPECTED
    if state is VisitState.OVERDUE:
        return CellState.OVERDUE
    if entered:
        return CellState.IN_PROGRESS
    if state is VisitState.DUE:
        return CellState.NO_DATA
    return CellState.NOT_DUE


# ------------------------------------------------------------------ the subject matrix


@dataclass(frozen=True)
class MatrixQuery:
    """What the matrix shows: filters (site code, subject status, text in the code), the
    sort (a key of `SORTS`, `-` first for descending) and the page (from 1)."""

    site: str = ""
    status: str = ""
    text: str = ""
    sort: str = "code"
    page: int = 1

    @classmethod
    def from_params(cls, params: Mapping[str, str], site_codes: list[str]) -> MatrixQuery:
        """The query of a URL's parameters; what is not one of the choices is ignored (the
        site must be one of `site_codes`, the user's)."""
        site = params.get("site", "").strip()
        status = params.get("status", "").strip()
        sort = params.get("sort", "").strip()
        try:
            page = max(1, int(params.get("page", "1")))
        except ValueError:
            page = 1
        return cls(
            site=site if site in site_codes else "",
            status=status if status in {s.value for s in SubjectStatus} else "",
            text=params.get("q", "").strip()[:40],
            sort=sort if sort.removeprefix("-") in SORTS else "code",
            page=page,
        )

    def params(self, **changes: object) -> dict[str, str]:
        """The URL parameters of this query with `changes` (only those that are not the
        defaults, so a plain URL stays plain)."""
        values = {
            "site": self.site,
            "status": self.status,
            "q": self.text,
            "sort": self.sort,
            "page": self.page,
        }
        values.update(changes)
        defaults = {"sort": "code", "page": 1}
        return {
            name: str(value)
            for name, value in values.items()
            if value not in ("", None) and defaults.get(name) != value
        }

    def filter(self, subjects: QuerySet[Subject]) -> QuerySet[Subject]:
        if self.site:
            subjects = subjects.filter(site__code=self.site)
        if self.status:
            subjects = subjects.filter(status=self.status)
        if self.text:
            subjects = subjects.filter(code__icontains=self.text)
        return subjects

    def ordering(self) -> list[str]:
        columns = SORTS[self.sort.removeprefix("-")]
        if self.sort.startswith("-"):
            return [f"-{column}" for column in columns]
        return list(columns)


@dataclass(frozen=True)
class MatrixCell:
    visit_id: str
    label: str
    state: CellState
    window_start: dt.date | None
    window_end: dt.date | None
    actual_date: dt.date | None
    #: Source data verification of the visit's saved forms (`trialdesk.store.sdv_status`).
    sdv: SdvState = SdvState.NOT_REQUIRED


@dataclass(frozen=True)
class MatrixRow:
    code: str
    site: str
    status: str
    screened_on: dt.date
    cells: tuple[MatrixCell, ...]


@dataclass(frozen=True)
class VisitColumn:
    visit_id: str
    label: str
    day: int


@dataclass(frozen=True)
class SubjectMatrix:
    """One page of the matrix: `rows` of `matched` subjects (the filters') of the `total`
    the user may read."""

    query: MatrixQuery
    visits: tuple[VisitColumn, ...]
    rows: tuple[MatrixRow, ...]
    matched: int
    total: int
    page: int
    pages: int

    @property
    def first(self) -> int:
        """The 1-based number of the page's first row (0 when there is none)."""
        return (self.page - 1) * PAGE_SIZE + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return (self.page - 1) * PAGE_SIZE + len(self.rows)


def subject_matrix(access: Access, query: MatrixQuery, today: dt.date) -> SubjectMatrix:
    """The page of the matrix `query` asks for, as it stands on `today`, in six queries (seven
    when the SDV plan verifies each site's first subjects): the counts (one aggregate), the
    page's subjects, their visits, their form records, the records' item verifications (and
    the plan's first subjects), the user's drafts."""
    protocol = access.study.protocol()
    plans = protocol.visits
    readable = access.subjects()
    counts = readable.aggregate(total=Count("pk"), matched=Count("pk", filter=_filter_q(query)))
    total, matched = counts["total"], counts["matched"]
    pages = max(1, -(-matched // PAGE_SIZE))
    page = min(query.page, pages)
    start = (page - 1) * PAGE_SIZE
    subjects = list(
        query.filter(readable)
        .order_by(*query.ordering())
        .only("pk", "code", "status", "screened_on", "day0", "site__code")[
            start : start + PAGE_SIZE
        ]
    )
    ids = [subject.pk for subject in subjects]
    visits, sdv = _visit_rows(
        access, {subject.pk: (subject.code, subject.site.code) for subject in subjects}
    )
    drafted = set(
        FormDraft.objects.filter(user=access.user, subject_id__in=ids).values_list(
            "subject_id", "visit_id"
        )
    )
    rows = []
    for subject in subjects:
        windows = visit_calendar(plans, subject.day0, subject.screened_on)
        ended = subject.status in ENDED_STATUSES
        randomized = subject.status in RANDOMIZED_STATUSES
        cells = []
        for plan, window in zip(plans, windows, strict=True):
            row = visits.get((subject.pk, plan.id))
            missed = row is not None and row.status == VisitStatus.MISSED
            actual = row.actual_date if row else None
            completed = row.completed if row else 0
            # save_form takes only the forms the protocol collects at the visit, so a count
            # of completed records is the count of completed planned forms.
            state = visit_state(
                window,
                actual_date=actual,
                missed=missed,
                forms_complete=bool(plan.forms) and completed >= len(plan.forms),
                randomized=randomized,
                today=today,
            )
            state = cell_state(
                state,
                len(plan.forms),
                row.saved if row else 0,
                completed,
                (subject.pk, plan.id) in drafted,
                ended,
            )
            cells.append(
                MatrixCell(
                    plan.id,
                    plan.label,
                    state,
                    window.start,
                    window.end,
                    actual,
                    sdv.get((subject.pk, plan.id), SdvState.NOT_REQUIRED),
                )
            )
        rows.append(
            MatrixRow(
                subject.code, subject.site.code, subject.status, subject.screened_on, tuple(cells)
            )
        )
    return SubjectMatrix(
        query=query,
        visits=tuple(VisitColumn(plan.id, plan.label, plan.day) for plan in plans),
        rows=tuple(rows),
        matched=matched,
        total=total,
        page=page,
        pages=pages,
    )


def _filter_q(query: MatrixQuery) -> Q:
    q = Q()
    if query.site:
        q &= Q(site__code=query.site)
    if query.status:
        q &= Q(status=query.status)
    if query.text:
        q &= Q(code__icontains=query.text)
    return q


@dataclass(frozen=True)
class _VisitRow:
    status: str
    actual_date: dt.date | None
    saved: int
    completed: int


def _visit_rows(
    access: Access, subjects: dict[int, tuple[str, str]]
) -> tuple[dict[tuple[int, str], _VisitRow], dict[tuple[int, str], SdvState]]:
    """The visit rows of these subjects (pk -> code, site code) with `saved` and `completed`
    form counts, and the SDV state of each visit's forms: the visits, and the form records
    with the names of their saved items, each on an index of `subject`, then the records'
    verifications (and the values of the records verified). (One
    query joining visits to their form records makes PostgreSQL's planner hash the whole form
    record table: 18 ms against 2 ms at 5,000 subjects, bench/web.py.)"""
    ids = list(subjects)
    rows = list(
        Visit.objects.filter(subject_id__in=ids).values_list(
            "pk", "subject_id", "visit_id", "status", "actual_date"
        )
    )
    records = list(
        FormRecord.objects.filter(subject_id__in=ids)
        .annotate(
            complete=ExpressionWrapper(Q(completed_at__isnull=False), output_field=BooleanField())
        )
        .values_list("pk", "visit_id", "form", "saved_items", "complete")
    )
    counts: dict[int, list[int]] = {}
    for _, visit, _, _, complete in records:
        count = counts.setdefault(visit, [0, 0])
        count[0] += 1
        count[1] += bool(complete)
    visit_ids = {pk: (subject_id, visit_id) for pk, subject_id, visit_id, _, _ in rows}
    sdv = visit_states(
        access.study,
        subjects,
        [(pk, visit, form, saved) for pk, visit, form, saved, _ in records],
        visit_ids,
    )
    visits = {
        (subject_id, visit_id): _VisitRow(status, actual, *counts.get(pk, (0, 0)))
        for pk, subject_id, visit_id, status, actual in rows
    }
    return visits, sdv


# ------------------------------------------------------------------ the work list


@dataclass(frozen=True)
class VisitItem:
    """A visit to act on: overdue, or open with forms not complete."""

    code: str
    site: str
    visit_id: str
    label: str
    window_start: dt.date | None
    window_end: dt.date | None


@dataclass(frozen=True)
class EligibilityItem:
    """A consented subject whose eligibility is to be confirmed; `verdict` is the last
    evaluation's ("" when never evaluated)."""

    code: str
    site: str
    screened_on: dt.date
    verdict: str


@dataclass
class WorkSection:
    """`items` (at most `WORK_LIST_LIMIT`, most urgent first) of `count` in all."""

    count: int = 0
    items: list = field(default_factory=list)


@dataclass
class WorkList:
    overdue_visits: WorkSection
    forms_due: WorkSection
    eligibility: WorkSection
    sae_overdue: WorkSection
    sae_due: WorkSection
    #: Subjects whose diary has two missed days in a row (`diary_compliance.diary_alerts`).
    diary_missed: WorkSection = field(default_factory=WorkSection)

    @property
    def total(self) -> int:
        return sum(
            section.count
            for section in (
                self.overdue_visits,
                self.forms_due,
                self.eligibility,
                self.sae_overdue,
                self.sae_due,
                self.diary_missed,
            )
        )


def work_list(
    access: Access,
    today: dt.date,
    now: dt.datetime,
    limit: int = WORK_LIST_LIMIT,
    site: str = "",
) -> WorkList:
    """What the user's subjects need, as it stands on `today` (`now` for SAE deadlines):
    overdue visits, open visits whose forms are not complete, consented subjects whose
    eligibility is to be confirmed, SAE reports overdue and due, subjects whose diary has
    two missed days in a row at `now`. Only subjects of `access.subjects()` (of `site` when
    given). `limit=0` counts without listing."""
    subjects = access.subjects()
    if site:
        subjects = subjects.filter(site__code=site)
    awaiting = subjects.exclude(status__in=[status.value for status in ENDED_STATUSES])
    plans = access.study.protocol().visits
    labels = {plan.id: plan.label for plan in plans}
    return WorkList(
        overdue_visits=_visit_section(
            _overdue_rows(awaiting, plans, today),
            _unrecorded(awaiting, plans, today, overdue=True),
            labels,
            limit,
        ),
        forms_due=_visit_section(
            _due_rows(awaiting, plans, today),
            _unrecorded(awaiting, plans, today, overdue=False),
            labels,
            limit,
        ),
        eligibility=_eligibility_section(subjects, limit),
        sae_overdue=_sae_section(overdue_sae_reports(access.study, now), access, site, limit),
        sae_due=_sae_section(open_sae_reports(access.study, now), access, site, limit),
        diary_missed=_diary_section(awaiting, access.study.protocol(), now, limit),
    )


def _with_form_counts(rows: QuerySet[Visit], plans: list[ProtocolVisit]) -> QuerySet[Visit]:
    """Visit rows with `planned` (the forms the protocol collects there) and `completed`."""
    planned = Case(
        *[When(visit_id=plan.id, then=Value(len(plan.forms))) for plan in plans],
        default=Value(0),
        output_field=IntegerField(),
    )
    # A correlated count on the (visit, completed_at) index (migration 0007): no join and
    # grouping of every visit's form records.
    completed = (
        FormRecord.objects.filter(visit=OuterRef("pk"), completed_at__isnull=False)
        .values("visit")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return rows.annotate(
        planned=planned,
        completed=Coalesce(Subquery(completed, output_field=IntegerField()), 0),
    )


def _early_ids(plans: list[ProtocolVisit]) -> list[str]:
    """The visits on or before day 0 (screening, baseline), which `visit_state` treats apart."""
    return [plan.id for plan in plans if plan.day <= 0]


def _randomized_q() -> Q:
    return Q(subject__status__in=[status.value for status in RANDOMIZED_STATUSES])


def _overdue_rows(
    awaiting: QuerySet[Subject], plans: list[ProtocolVisit], today: dt.date
) -> QuerySet[Visit]:
    """Visit rows `visit_state` calls overdue: the window closed, neither done nor missed;
    screening and baseline visits are done once their forms are complete, and never overdue
    once the subject is randomized."""
    rows = Visit.objects.filter(
        subject__in=awaiting.values("pk"),
        status=VisitStatus.SCHEDULED,
        actual_date__isnull=True,
        window_end__lt=today,
    )
    early = Q(visit_id__in=_early_ids(plans))
    return (
        _with_form_counts(rows, plans)
        .exclude(early & _randomized_q())
        .exclude(early & Q(planned__gt=0, completed__gte=F("planned")))
    )


def _due_rows(
    awaiting: QuerySet[Subject], plans: list[ProtocolVisit], today: dt.date
) -> QuerySet[Visit]:
    """Visit rows whose forms are due: not missed, fewer forms complete than the protocol
    collects, and either the visit took place or it is due (`visit_state`: its window is
    open, or, screening and baseline of a randomized subject, it has opened)."""
    early = Q(visit_id__in=_early_ids(plans))
    opened = Q(window_start__lte=today)
    due = opened & (Q(window_end__gte=today) | (early & _randomized_q()))
    rows = (
        Visit.objects.filter(subject__in=awaiting.values("pk"))
        .exclude(status=VisitStatus.MISSED)
        .filter(Q(actual_date__isnull=False) | due)
    )
    return _with_form_counts(rows, plans).filter(completed__lt=F("planned"))


def _screening_offsets(plan: ProtocolVisit) -> tuple[int, int] | None:
    """Days from the screening date to the window's first and last day of a visit whose
    window counts from screening (before day 0); None for a visit that needs day 0."""
    anchor = dt.date(2000, 1, 1)
    window = visit_window(plan, None, anchor)
    if window.start is None or window.end is None:
        return None
    return (window.start - anchor).days, (window.end - anchor).days


def _unrecorded(
    awaiting: QuerySet[Subject], plans: list[ProtocolVisit], today: dt.date, *, overdue: bool
) -> list[tuple[str, tuple[int, int], QuerySet[Subject]]]:
    """Per visit dated from the screening date: the subjects without a row for it (nothing is
    entered) whose window has closed (`overdue`, not for randomized subjects) or is due today
    (then only visits with forms; for a randomized subject, once the window has opened)."""
    found = []
    for plan in plans:
        offsets = _screening_offsets(plan)
        if offsets is None or (not overdue and not plan.forms):
            continue
        first, last = offsets
        without_row = awaiting.filter(
            ~Exists(Visit.objects.filter(subject=OuterRef("pk"), visit_id=plan.id))
        )
        randomized = Q(status__in=[status.value for status in RANDOMIZED_STATUSES])
        closed = Q(screened_on__lt=today - dt.timedelta(days=last))
        opened = Q(screened_on__lte=today - dt.timedelta(days=first))
        if overdue:
            chosen = without_row.filter(closed).exclude(randomized)
        else:
            chosen = without_row.filter(opened & (~closed | randomized))
        found.append((plan.id, offsets, chosen))
    return found


def _visit_section(
    rows: QuerySet[Visit],
    unrecorded: list[tuple[str, tuple[int, int], QuerySet[Subject]]],
    labels: dict[str, str],
    limit: int,
) -> WorkSection:
    count = rows.count() + sum(subjects.count() for _, _, subjects in unrecorded)
    if not limit or not count:
        return WorkSection(count)
    items = [
        VisitItem(code, site, visit_id, labels.get(visit_id, visit_id), start, end)
        for code, site, visit_id, start, end in rows.order_by(
            "window_end", "subject__code", "visit_id"
        ).values_list(
            "subject__code", "subject__site__code", "visit_id", "window_start", "window_end"
        )[:limit]
    ]
    for visit_id, (first, last), subjects in unrecorded:
        for code, site, screened_on in subjects.order_by("screened_on", "code").values_list(
            "code", "site__code", "screened_on"
        )[:limit]:
            items.append(
                VisitItem(
                    code,
                    site,
                    visit_id,
                    labels[visit_id],
                    screened_on + dt.timedelta(days=first),
                    screened_on + dt.timedelta(days=last),
                )
            )
    items.sort(key=lambda item: (item.window_end or dt.date.max, item.code, item.visit_id))
    return WorkSection(count, items[:limit])


def _eligibility_section(subjects: QuerySet[Subject], limit: int) -> WorkSection:
    """Consented subjects (the status eligibility moves on from), with their last verdict."""
    consented = subjects.filter(status=SubjectStatus.CONSENTED)
    count = consented.count()
    if not limit or not count:
        return WorkSection(count)
    last_verdict = Subquery(
        EligibilityRecord.objects.filter(subject=OuterRef("pk"))
        .order_by("-evaluated_at", "-pk")
        .values("verdict")[:1]
    )
    rows = (
        consented.annotate(last_verdict=last_verdict)
        .order_by("screened_on", "code")
        .values_list("code", "site__code", "screened_on", "last_verdict")[:limit]
    )
    return WorkSection(
        count,
        [
            EligibilityItem(code, site, screened, verdict or "")
            for code, site, screened, verdict in rows
        ],
    )


def _sae_section(events: list[AdverseEvent], access: Access, site: str, limit: int) -> WorkSection:
    """The events of subjects the user reads (the calendar's lists are study-wide)."""
    mine = [
        event
        for event in events
        if (access.study_wide or event.subject.site_id in access.site_ids)
        and (not site or event.subject.site.code == site)
    ]
    return WorkSection(len(mine), mine[:limit] if limit else [])


def _diary_section(
    awaiting: QuerySet[Subject], protocol: Protocol, now: dt.datetime, limit: int
) -> WorkSection:
    """Subjects taking part whose live link's diary has two missed days in a row (two
    queries, none without a patient_reported schedule)."""
    alerts = diary_alerts(awaiting, protocol, now)
    return WorkSection(len(alerts), alerts[:limit] if limit else [])


def readable_subject_counts(accesses: list[Access]) -> dict[int, int]:
    """Study pk -> how many of its subjects the user may read, for every access at once (one
    query)."""
    if not accesses:
        return {}
    q = Q(pk__in=[])
    for access in accesses:
        if access.study_wide:
            q |= Q(study=access.study)
        else:
            q |= Q(study=access.study, site_id__in=access.site_ids)
    rows = Subject.objects.filter(q).values("study_id").annotate(n=Count("pk"))
    return {row["study_id"]: row["n"] for row in rows}
