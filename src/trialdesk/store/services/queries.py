"""Queries on a subject's data: raised by monitors and data managers or by the protocol's
edit checks, answered by the site, closed or re-opened, each with its thread of messages.

Statuses: open (the site's turn) -> answered (the monitor's turn) -> closed; an answered or
closed query can be re-opened (open again). Every step writes a message to the thread, with
its text; the text is plain (never read as HTML), at most `TEXT_LENGTH` characters, without
control characters other than line breaks and tabs.

Who may take which step (at the subject's site, `trialdesk.store.permissions`):

- raise, close, re-open: RAISE_QUERY (monitor, data manager);
- answer: ANSWER_QUERY (coordinator, investigator, assessor);
- comment: either of them, on an open or answered query. Other readers (a statistician, a
  pharmacist) read queries but do not take part: a comment asks something of someone, and
  they are not the ones the site or the monitor answer to. A closed query takes no comment:
  re-open it, so that the site sees it is their turn again.

Automatic queries (origin "rule", opened by nobody: the audit trail names the user whose save
ran the checks) follow the findings of `trialdesk.monitoring.edit_checks`, one query per
finding's place (rule, visit, form, item), on every save (`run_edit_checks`) and by
`trialdesk checks run` (`run_checks`):

- a finding with no query of its place, raises one;
- an open or answered query whose finding no longer holds is closed, saying the data changed;
- a finding whose query was closed that way (the data had been corrected) re-opens it: the
  finding is back;
- a finding whose query a person closed (they accepted the value) stays closed while the
  finding is the one they saw; a different finding (other values) re-opens it;
- an open or answered query whose finding changed (other values, still a finding) gets a
  message with the new finding.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.db.models import Max

from trialdesk.errors import BadInput
from trialdesk.monitoring.edit_checks import (
    AdverseEventData,
    Finding,
    FormData,
    SubjectData,
    VisitData,
    evaluate,
    form_fields,
)
from trialdesk.protocol.edit_checks import EditCheck
from trialdesk.store.audit import AuditTrail, audited_state, audited_write
from trialdesk.store.errors import NotFound, NotPermitted, SubjectStateError
from trialdesk.store.models import (
    AdverseEvent,
    Consent,
    FormRecord,
    Query,
    QueryMessage,
    QueryOrigin,
    QueryStatus,
    Study,
    StudyUser,
    Subject,
    Visit,
)
from trialdesk.store.permissions import Step, require
from trialdesk.store.services.common import find_subject, writable_study

#: The numbers a query can have (the column's range); any other is no query.
QUERY_NUMBERS = range(1, 2**31)
#: The longest message text a query takes.
TEXT_LENGTH = 2000
#: Control characters a message may not hold (line breaks and tabs it may); the API's schema
#: declares the same (`TEXT_PATTERN`).
CONTROL_CHARACTERS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
_CONTROL = re.compile(f"[{CONTROL_CHARACTERS}]")
#: A message text as a JSON Schema pattern: no control character, one that is not a space.
TEXT_PATTERN = f"^[^{CONTROL_CHARACTERS}]*[^\\s{CONTROL_CHARACTERS}][^{CONTROL_CHARACTERS}]*$"

#: The statuses each step starts from, and where it leads (None: the status stays).
STEPS: dict[str, tuple[frozenset[str], str | None]] = {
    "answered": (frozenset({QueryStatus.OPEN}), QueryStatus.ANSWERED),
    "commented": (frozenset({QueryStatus.OPEN, QueryStatus.ANSWERED}), None),
    "closed": (frozenset({QueryStatus.OPEN, QueryStatus.ANSWERED}), QueryStatus.CLOSED),
    "reopened": (frozenset({QueryStatus.ANSWERED, QueryStatus.CLOSED}), QueryStatus.OPEN),
}

CLOSED_AS_CORRECTED = "Closed automatically: the data changed and the finding no longer holds."
REOPENED_AS_BACK = "Re-opened automatically: the finding holds again: "
REOPENED_AS_NEW = "Re-opened automatically: a different finding: "
CHANGED_FINDING = "The data changed and the finding is now: "


class QueryStateError(SubjectStateError):
    """A step the query's status does not allow (answering a closed query)."""


# ---------------------------------------------------------------- steps of people


def raise_query(
    study: Study,
    code: str,
    *,
    text: str,
    by: str,
    visit_id: str = "",
    form: str = "",
    item: str = "",
) -> Query:
    """A monitor's or data manager's question to the site on the subject's data: on an item
    of a form of a visit, a form, a visit, or the subject (leave the narrower places out)."""
    where = f"{study}, subject {code}"
    checked = _text(where, text)
    _check_place(study, where, visit_id, form, item)
    with audited_write(by, study) as trail:
        study = writable_study(study)
        subject = find_subject(study, code)
        user = require(study, by, Step.RAISE_QUERY, subject.site)
        query = _open(trail, subject, visit_id, form, item, checked, user=user)
    return query


def answer_query(study: Study, code: str, number: int, *, text: str, by: str) -> Query:
    """The site's answer to an open query."""
    return _step(study, code, number, "answered", text, by)


def comment_query(study: Study, code: str, number: int, *, text: str, by: str) -> Query:
    """A message in the thread that leaves the status as it is."""
    return _step(study, code, number, "commented", text, by)


def close_query(study: Study, code: str, number: int, *, text: str, by: str) -> Query:
    """The monitor or data manager closes the query: answered, or raised in error."""
    return _step(study, code, number, "closed", text, by)


def reopen_query(study: Study, code: str, number: int, *, text: str, by: str) -> Query:
    """An answered or closed query goes back to the site, with what is still wanted."""
    return _step(study, code, number, "reopened", text, by)


def close_queries(
    study: Study, queries: Sequence[tuple[str, int]], *, text: str, by: str
) -> list[Query]:
    """Close several queries (subject code, query number) with one text: all of them, or
    none if any one may not be closed (one transaction)."""
    checked = _text(f"{study}: closing queries", text)
    if not queries:
        raise BadInput(f"{study}: closing queries: no query named")
    repeated = [f"{code} Q{number}" for (code, number), n in Counter(queries).items() if n > 1]
    if repeated:
        raise BadInput(f"{study}: closing queries: named twice: {', '.join(repeated)}")
    closed = []
    with audited_write(by, study) as trail:
        study = writable_study(study)
        for code, number in queries:
            closed.append(_take_step(trail, study, code, number, "closed", checked, by))
    return closed


def _step(study: Study, code: str, number: int, action: str, text: str, by: str) -> Query:
    checked = _text(f"{study}, subject {code}, query Q{number}", text)
    with audited_write(by, study) as trail:
        study = writable_study(study)
        query = _take_step(trail, study, code, number, action, checked, by)
    return query


def _take_step(
    trail: AuditTrail, study: Study, code: str, number: int, action: str, text: str, by: str
) -> Query:
    subject = find_subject(study, code)
    user = _permitted(study, by, action, subject)
    query = None
    if number in QUERY_NUMBERS:
        query = Query.objects.filter(subject=subject, number=number).first()
    if query is None:
        raise NotFound(f"{study}, subject {code}: no query Q{number}")
    query.subject = subject
    starts, leads_to = STEPS[action]
    if query.status not in starts:
        raise QueryStateError(
            f"{study}, subject {code}, query Q{number} is {query.status}: it cannot be "
            f"{action} (only a query that is {' or '.join(sorted(starts))} can)"
        )
    _move(trail, query, action, leads_to)
    _message(trail, query, action, text, user)
    return query


def _permitted(study: Study, by: str, action: str, subject: Subject) -> StudyUser:
    if action == "answered":
        return require(study, by, Step.ANSWER_QUERY, subject.site)
    if action != "commented":
        return require(study, by, Step.RAISE_QUERY, subject.site)
    try:
        return require(study, by, Step.RAISE_QUERY, subject.site)
    except NotPermitted:
        try:
            return require(study, by, Step.ANSWER_QUERY, subject.site)
        except NotPermitted:
            raise NotPermitted(
                f"user {by} may not comment on queries at site {subject.site.code} of "
                f"{study}: a comment is for those who raise queries or answer them"
            ) from None


def _text(where: str, text: object) -> str:
    if not isinstance(text, str) or not text.strip():
        raise BadInput(f"{where}: the message text is required")
    if len(text) > TEXT_LENGTH:
        raise BadInput(
            f"{where}: the message text has {len(text)} characters; at most {TEXT_LENGTH}"
        )
    if _CONTROL.search(text):
        raise BadInput(f"{where}: the message text has control characters; plain text only")
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def _check_place(study: Study, where: str, visit_id: str, form: str, item: str) -> None:
    """The visit, form and item of the protocol a query is put on; a narrower place needs the
    wider one (an item its form, a form its visit)."""
    if item and not form:
        raise BadInput(f"{where}: item {item!r} needs its form")
    if form and not visit_id:
        raise BadInput(f"{where}: form {form!r} needs its visit")
    if not visit_id:
        return
    visits = {visit.id: visit for visit in study.protocol().visits}
    if visit_id not in visits:
        raise BadInput(f"{where}: no visit {visit_id!r} in the protocol ({', '.join(visits)})")
    if not form:
        return
    forms = visits[visit_id].forms
    if form not in forms:
        raise BadInput(
            f"{where}, visit {visit_id}: form {form!r} is not collected at this visit "
            f"({', '.join(forms)})"
        )
    if item and item not in form_fields(form):
        raise BadInput(f"{where}, visit {visit_id}, form {form}: no item {item!r}")


# ---------------------------------------------------------------- writing queries


def _open(
    trail: AuditTrail,
    subject: Subject,
    visit_id: str,
    form: str,
    item: str,
    text: str,
    *,
    user: StudyUser | None = None,
    rule: str = "",
    number: int | None = None,
) -> Query:
    number = number or _next_number(subject)
    query = Query.objects.create(
        subject=subject,
        number=number,
        visit_id=visit_id,
        form=form,
        item=item,
        status=QueryStatus.OPEN,
        origin=QueryOrigin.RULE if rule else QueryOrigin.MANUAL,
        rule=rule,
        opened_by=user,
        opened_at=trail.at,
    )
    trail.created(query, "query.raised")
    _message(trail, query, "opened", text, user)
    return query


def _move(trail: AuditTrail, query: Query, action: str, status: str | None) -> None:
    if status is None:
        return
    before = audited_state(query)
    query.status = status
    query.closed_at = trail.at if status == QueryStatus.CLOSED else None
    query.save(update_fields=["status", "closed_at"])
    trail.changed(query, before, f"query.{action}")


def _message(
    trail: AuditTrail, query: Query, action: str, text: str, user: StudyUser | None
) -> QueryMessage:
    message = QueryMessage.objects.create(
        query=query, subject=query.subject, action=action, text=text, by=user, at=trail.at
    )
    trail.created(message, f"query.{action}" if action != "opened" else "query.raised")
    return message


# ---------------------------------------------------------------- automatic queries


@dataclass
class CheckOutcome:
    """What a run of the edit checks did on one subject, by rule."""

    raised: Counter[str] = field(default_factory=Counter)
    closed: Counter[str] = field(default_factory=Counter)
    reopened: Counter[str] = field(default_factory=Counter)


def run_edit_checks(trail: AuditTrail, subject: Subject, form: str = "") -> CheckOutcome:
    """The protocol's edit checks over the subject's data, in the caller's transaction: a
    new finding raises a query, an automatic query whose finding no longer holds is closed.

    After a change to one `form` only the rules that read that form run: no other rule's
    finding can have changed with it (a time-dependent one, an SAE report now overdue, waits
    for the subject's next change of another kind or for `trialdesk checks run`).

    Cheap enough for every save: at most six reads of this subject's rows (of what the rules
    read), whatever the study's size, and a write per query that changes."""
    protocol = subject.study.protocol()
    outcome = CheckOutcome()
    running = [rule for rule in protocol.edit_checks if not form or _form_read(rule) == form]
    if not running:
        return outcome
    data = subject_data(subject, running)
    findings = {f.place: f for f in evaluate(protocol, data, trail.at, running)}
    rules = {rule.id: rule for rule in running}
    queries = list(
        Query.objects.filter(
            subject=subject, origin=QueryOrigin.RULE, rule__in=list(rules)
        ).order_by("pk")
    )
    latest: dict[tuple[str, str, str, str], Query] = {}
    for query in queries:
        latest[(query.rule, query.visit_id, query.form, query.item)] = query
    threads = _threads(latest.values())
    next_number = 0
    for place, finding in findings.items():
        query = latest.get(place)
        if query is None:
            next_number = next_number or _next_number(subject)
            text = f"{finding.message}. {rules[finding.rule].text}"
            _open(trail, subject, *place[1:], text, rule=finding.rule, number=next_number)
            next_number += 1
            outcome.raised[finding.rule] += 1
            continue
        query.subject = subject
        thread = threads.get(query.pk, [])
        if query.status == QueryStatus.CLOSED:
            reopening = _reopening(thread, finding)
            if reopening:
                _move(trail, query, "reopened", QueryStatus.OPEN)
                _message(trail, query, "reopened", reopening + finding.message, None)
                outcome.reopened[finding.rule] += 1
        elif finding.message not in _stated(thread):
            _message(trail, query, "commented", CHANGED_FINDING + finding.message, None)
    for place, query in latest.items():
        if place not in findings and query.status != QueryStatus.CLOSED:
            query.subject = subject
            _move(trail, query, "closed", QueryStatus.CLOSED)
            _message(trail, query, "closed", CLOSED_AS_CORRECTED, None)
            outcome.closed[query.rule] += 1
    return outcome


def _reopening(thread: list[QueryMessage], finding: Finding) -> str:
    """The re-opening note of a closed automatic query whose finding holds, or "" if it stays
    closed: closed by the checks (the data had been corrected), the finding is back; closed by
    a person, only a finding other than the one they saw re-opens it."""
    if not thread:
        return ""
    last = thread[-1]
    if last.action == "closed" and last.by_id is None:
        return REOPENED_AS_BACK
    return "" if finding.message in _stated(thread) else REOPENED_AS_NEW


def _stated(thread: list[QueryMessage]) -> str:
    """The checks' last statement of the finding in a thread."""
    return next((m.text for m in reversed(thread) if m.by_id is None and m.action != "closed"), "")


def _threads(queries: Iterable[Query]) -> dict[int, list[QueryMessage]]:
    """The threads of the queries, in order (one read)."""
    threads: dict[int, list[QueryMessage]] = defaultdict(list)
    wanted = [query.pk for query in queries]
    if wanted:
        for message in QueryMessage.objects.filter(query_id__in=wanted).order_by("pk"):
            threads[message.query_id].append(message)
    return threads


def _next_number(subject: Subject) -> int:
    return (Query.objects.filter(subject=subject).aggregate(n=Max("number"))["n"] or 0) + 1


def _form_read(rule: EditCheck) -> str:
    """The form a rule reads ("" for the rules on visits, consent and adverse events)."""
    return getattr(rule, "form", "")


def subject_data(subject: Subject, rules: Sequence[EditCheck]) -> SubjectData:
    """What the `rules` read of the subject, in four reads at most: its consent and visits
    for a visit-before-consent rule, the records of the forms the rules name, its adverse
    events for an SAE-report rule (what no rule reads is left empty)."""
    kinds = {rule.kind for rule in rules}
    forms_read = {_form_read(rule) for rule in rules} - {""}
    consent, visits, forms, events = None, (), (), ()
    if "visit_before_consent" in kinds:
        consent = (
            Consent.objects.filter(subject=subject)
            .order_by("consented_on")
            .values_list("consented_on", flat=True)
            .first()
        )
        visits = tuple(
            VisitData(visit_id, date, status)
            for visit_id, date, status in Visit.objects.filter(subject=subject).values_list(
                "visit_id", "actual_date", "status"
            )
        )
    if forms_read:
        forms = tuple(
            FormData(visit_id, form, values, scores, completed_at is not None)
            for visit_id, form, values, scores, completed_at in FormRecord.objects.filter(
                subject=subject, form__in=sorted(forms_read)
            ).values_list("visit__visit_id", "form", "values", "scores", "completed_at")
        )
    if "sae_without_report" in kinds:
        events = tuple(
            AdverseEventData(number, term, bool(seriousness), due, reported)
            for number, term, seriousness, due, reported in AdverseEvent.objects.filter(
                subject=subject
            ).values_list("number", "term", "seriousness", "report_due_at", "reported_at")
        )
    return SubjectData(subject.code, consent, visits, forms, events)


# ---------------------------------------------------------------- the whole study


@dataclass(frozen=True)
class RuleSummary:
    rule: str
    text: str
    raised: int
    closed: int
    reopened: int
    open: int
    answered: int


def run_checks(study: Study, by: str) -> list[RuleSummary]:
    """Every edit check over every subject (`trialdesk checks run`), one transaction per
    subject; what each rule raised, closed and re-opened, and its queries open and answered
    after the run. Time-dependent findings (an SAE report now overdue) are found here or by
    the subject's next save."""
    totals = CheckOutcome()
    study = writable_study(study)
    for subject_id in (
        Subject.objects.filter(study=study).order_by("pk").values_list("pk", flat=True)
    ):
        with audited_write(by, study) as trail:
            writable_study(study)
            subject = Subject.objects.select_related("site").get(pk=subject_id)
            subject.study = study
            outcome = run_edit_checks(trail, subject)
        totals.raised.update(outcome.raised)
        totals.closed.update(outcome.closed)
        totals.reopened.update(outcome.reopened)
    standing = Counter(
        Query.objects.filter(subject__study=study, origin=QueryOrigin.RULE)
        .exclude(status=QueryStatus.CLOSED)
        .values_list("rule", "status")
    )
    return [
        RuleSummary(
            rule.id,
            rule.text,
            totals.raised[rule.id],
            totals.closed[rule.id],
            totals.reopened[rule.id],
            standing[(rule.id, QueryStatus.OPEN)],
            standing[(rule.id, QueryStatus.ANSWERED)],
        )
        for rule in study.protocol().edit_checks
    ]
