"""Adverse events: reporting, corrections, and the expedited report of serious events.

Events are numbered 1, 2, ... per subject. Every field is checked on entry and again after a
correction: codes from the store's vocabularies (CTCAE grade, ICH E2A seriousness, WHO-UMC
relatedness, CDISC action and outcome), a fatal event consistent across grade, outcome and
seriousness, dates in order and inside the protocol's AE reporting period. A serious event's
report to the sponsor is due `sae_reporting_hours` after the site became aware of it.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from trialdesk.errors import BadInput
from trialdesk.records.adverse_event import ADVERSE_EVENT, TERM_LENGTH
from trialdesk.store.audit import audited_state, audited_write
from trialdesk.store.errors import NotFound, SubjectStateError
from trialdesk.store.models import AdverseEvent, Consent, Study, Subject
from trialdesk.store.permissions import Step, require
from trialdesk.store.services.common import find_subject, require_reason, writable_study
from trialdesk.store.services.record_changes import data_changed, refuse_if_locked
from trialdesk.store.services.visits import EARLIEST_TIMEZONE, checked_date, latest_today

if TYPE_CHECKING:
    from trialdesk.protocol.model import Safety

#: The fields a site reports and may correct (`update_adverse_event`).
REPORTED_FIELDS = ADVERSE_EVENT.reported
SERIOUSNESS = ADVERSE_EVENT["seriousness"].values


def report_adverse_event(study: Study, code: str, *, by: str, **fields: Any) -> AdverseEvent:
    """Report a new adverse event of the subject; it takes the subject's next number.

    `fields` are the reported fields of `ADVERSE_EVENT` (an optional one may be left out):
    `seriousness` lists the ICH E2A criteria met (empty for a non-serious event);
    `awareness_at` is when the site learnt of it, timezone-aware, stored in UTC.
    """
    reported = _reported(f"subject {code}, new adverse event", fields)
    with audited_write(by, study) as trail:
        study = writable_study(study)
        subject = find_subject(study, code)
        require(study, by, Step.REPORT_ADVERSE_EVENT, subject.site)
        refuse_if_locked(subject)
        last = subject.adverse_events.order_by("-number").values_list("number", flat=True).first()
        number = (last or 0) + 1
        safety = study.protocol().safety
        where = f"subject {code}, adverse event {number}"
        checked = _checked_event(where, subject, safety, reported, trail.at)
        event = AdverseEvent.objects.create(
            subject=subject,
            number=number,
            report_due_at=_report_due_at(checked, safety),
            **checked,
        )
        trail.created(event, "adverse_event.reported")
        data_changed(trail, subject, f"{where}: reported")
    return event


def update_adverse_event(
    study: Study, code: str, number: int, changes: dict[str, Any], reason: str, by: str
) -> AdverseEvent:
    """Correct or follow up an adverse event (e.g. its outcome and end date), with a reason.

    The event as changed is checked like a new one; the SAE report due time follows its
    seriousness and awareness.
    """
    where = f"subject {code}, adverse event {number}"
    reason = require_reason(reason, f"{where}: change")
    _refuse_unknown(where, changes, "cannot change")
    with audited_write(by, study) as trail:
        study = writable_study(study)
        subject = find_subject(study, code)
        require(study, by, Step.REPORT_ADVERSE_EVENT, subject.site)
        refuse_if_locked(subject)
        event = _find_event(subject, number)
        safety = study.protocol().safety
        current = {name: getattr(event, name) for name in REPORTED_FIELDS}
        checked = _checked_event(where, subject, safety, {**current, **changes}, trail.at)
        if event.reported_at is not None and event.reported_at < checked["awareness_at"]:
            raise BadInput(
                f"{where}: awareness {checked['awareness_at'].isoformat()} would be after the "
                f"SAE report sent at {event.reported_at.isoformat()}"
            )
        before = audited_state(event)
        for name, value in checked.items():
            setattr(event, name, value)
        event.report_due_at = _report_due_at(checked, safety)
        event.save()
        trail.changed(event, before, "adverse_event.changed", reason)
        data_changed(trail, subject, f"{where}: changed")
    return event


def record_sae_report(
    study: Study,
    code: str,
    number: int,
    reported_at: dt.datetime,
    by: str,
    *,
    reason: str = "",
) -> AdverseEvent:
    """When the serious event was reported to the sponsor; changing it needs a reason."""
    where = f"subject {code}, adverse event {number}"
    reported_at = _utc(where, "reported_at", reported_at)
    with audited_write(by, study) as trail:
        if reported_at > trail.at:
            raise BadInput(f"{where}: report time {reported_at.isoformat()} is in the future")
        study = writable_study(study)
        subject = find_subject(study, code)
        require(study, by, Step.REPORT_ADVERSE_EVENT, subject.site)
        refuse_if_locked(subject)
        event = _find_event(subject, number)
        if not event.serious:
            raise BadInput(
                f"{where} is not serious: only serious adverse events have an expedited report"
            )
        if reported_at < event.awareness_at:
            raise BadInput(
                f"{where}: report time {reported_at.isoformat()} is before the site became "
                f"aware of the event ({event.awareness_at.isoformat()})"
            )
        if event.reported_at == reported_at:
            return event
        if event.reported_at is not None:
            reason = require_reason(
                reason, f"{where}: change of the report time {event.reported_at.isoformat()}"
            )
        before = audited_state(event)
        event.reported_at = reported_at
        event.save(update_fields=["reported_at"])
        trail.changed(event, before, "adverse_event.sae_reported", reason.strip())
        data_changed(trail, subject, f"{where}: SAE report time")
    return event


def _find_event(subject: Subject, number: int) -> AdverseEvent:
    event = subject.adverse_events.filter(number=number).first()  # with its subject set
    if event is None:
        raise NotFound(f"subject {subject.code}: no adverse event {number}")
    return event


def _report_due_at(checked: dict[str, Any], safety: Safety) -> dt.datetime | None:
    if not checked["seriousness"]:
        return None
    return checked["awareness_at"] + dt.timedelta(hours=safety.sae_reporting_hours)


# ---------------------------------------------------------------- checks


def _refuse_unknown(where: str, fields: dict[str, Any], what: str) -> None:
    unknown = sorted(set(fields) - set(REPORTED_FIELDS))
    if unknown:
        raise BadInput(
            f"{where}: {what} {', '.join(unknown)}; expected fields among "
            f"{', '.join(REPORTED_FIELDS)}"
        )


def _reported(where: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Every reported field, an optional one left out as None; a missing one is refused."""
    _refuse_unknown(where, fields, "no field")
    missing = [
        name for name in REPORTED_FIELDS if name not in fields and not ADVERSE_EVENT[name].optional
    ]
    if missing:
        raise BadInput(f"{where}: {', '.join(missing)} missing; every one is required")
    return {name: fields.get(name) for name in REPORTED_FIELDS}


def _checked_event(
    where: str, subject: Subject, safety: Safety, reported: dict[str, Any], now: dt.datetime
) -> dict[str, Any]:
    """The reported fields checked one by one, then together; awareness normalised to UTC."""
    checked = {
        "term": _term(where, reported["term"]),
        "onset_date": checked_date(where, "onset_date", reported["onset_date"]),
        "end_date": (
            None
            if reported["end_date"] is None
            else checked_date(where, "end_date", reported["end_date"])
        ),
        "ctcae_grade": _grade(where, reported["ctcae_grade"]),
        "seriousness": _seriousness(where, reported["seriousness"]),
        "expected": _expected(where, reported["expected"]),
        "awareness_at": _utc(where, "awareness_at", reported["awareness_at"]),
    }
    for declared in ADVERSE_EVENT.coded:
        value = reported[declared.name]
        if value not in declared.values:
            raise BadInput(
                f"{where}: {declared.name} {value!r}; expected one of {', '.join(declared.values)}"
            )
        checked[declared.name] = value
    _check_fatal(where, checked)
    _check_dates(where, subject, safety, checked, now)
    return checked


def _term(where: str, term: Any) -> str:
    if not isinstance(term, str) or not term.strip():
        raise BadInput(f"{where}: term is required (the event as the investigator names it)")
    if len(term.strip()) > TERM_LENGTH:
        raise BadInput(f"{where}: term is {len(term.strip())} characters; at most {TERM_LENGTH}")
    return term.strip()


#: The times a timezone-aware value can be stored as: its UTC time must be a calendar date.
UTC_RANGE = "a time between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z"


def _utc(where: str, name: str, value: Any) -> dt.datetime:
    if not isinstance(value, dt.datetime) or value.utcoffset() is None:
        raise BadInput(f"{where}: {name} {value!r}; expected a timezone-aware date and time")
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is in year 0 in UTC
        raise BadInput(f"{where}: {name} {value.isoformat()}; expected {UTC_RANGE}") from None


def _grade(where: str, grade: Any) -> int:
    if isinstance(grade, bool) or grade not in ADVERSE_EVENT["ctcae_grade"].values:
        raise BadInput(f"{where}: ctcae_grade {grade!r}; expected a CTCAE grade 1 to 5")
    return grade


def _seriousness(where: str, criteria: Any) -> list[str]:
    """The criteria in the vocabulary's order, so an unchanged list compares equal."""
    if not isinstance(criteria, list | tuple) or not all(isinstance(c, str) for c in criteria):
        raise BadInput(
            f"{where}: seriousness {criteria!r}; expected a list of ICH E2A criteria "
            "(empty for a non-serious event)"
        )
    unknown = [c for c in criteria if c not in SERIOUSNESS]
    if unknown:
        raise BadInput(
            f"{where}: seriousness {', '.join(unknown)}; expected criteria among "
            f"{', '.join(SERIOUSNESS)}"
        )
    if len(set(criteria)) != len(criteria):
        raise BadInput(f"{where}: seriousness lists a criterion twice: {', '.join(criteria)}")
    return [c for c in SERIOUSNESS if c in criteria]


def _expected(where: str, expected: Any) -> bool | None:
    if expected is not None and not isinstance(expected, bool):
        raise BadInput(f"{where}: expected {expected!r}; expected true, false or none (unknown)")
    return expected


def _check_fatal(where: str, checked: dict[str, Any]) -> None:
    """CTCAE grade 5 is death: grade 5, outcome fatal and seriousness death go together."""
    grade5 = checked["ctcae_grade"] == 5
    fatal = checked["outcome"] == "fatal"
    death = "death" in checked["seriousness"]
    if grade5 == fatal == death:
        return
    raise BadInput(
        f"{where}: CTCAE grade 5, outcome fatal and seriousness death go together; got grade "
        f"{checked['ctcae_grade']}, outcome {checked['outcome']}, seriousness "
        f"{', '.join(checked['seriousness']) or 'none'}"
    )


def _check_dates(
    where: str, subject: Subject, safety: Safety, checked: dict[str, Any], now: dt.datetime
) -> None:
    """Onset inside the reporting period, end after onset, awareness between onset and now;
    the onset and end dates not after today anywhere (`latest_today`).

    The onset date is a calendar date at the site, whose timezone the store does not keep;
    awareness is refused as before the onset only when it is before that date began anywhere
    (UTC+14), so an event known at 01:00 local time on its onset day is never refused.
    """
    onset, end, awareness = checked["onset_date"], checked["end_date"], checked["awareness_at"]
    today = latest_today(now)
    if onset > today:
        raise BadInput(f"{where}: onset date {onset} is in the future")
    if end is not None and end < onset:
        raise BadInput(f"{where}: end date {end} is before the onset date {onset}")
    if end is not None and end > today:
        raise BadInput(f"{where}: end date {end} is in the future")
    if awareness > now:
        raise BadInput(f"{where}: awareness {awareness.isoformat()} is in the future")
    if awareness < dt.datetime.combine(onset, dt.time(), EARLIEST_TIMEZONE):
        raise BadInput(
            f"{where}: awareness {awareness.isoformat()} is before the onset date {onset}"
        )
    start, start_name = _reporting_start(subject, safety)
    if onset < start:
        raise BadInput(
            f"{where}: onset date {onset} is before the AE reporting period, which starts at "
            f"{start_name} ({start})"
        )
    if subject.day0 is not None:
        last = subject.day0 + dt.timedelta(days=safety.ae_reporting_end_day)
        if onset > last:
            raise BadInput(
                f"{where}: onset date {onset} is after the AE reporting period, which ends on "
                f"day {safety.ae_reporting_end_day} ({last})"
            )


def _reporting_start(subject: Subject, safety: Safety) -> tuple[dt.date, str]:
    if safety.ae_reporting_start == "consent":
        consent = Consent.objects.filter(subject=subject).order_by("consented_on").first()
        if consent is None:
            raise SubjectStateError(
                f"subject {subject.code} has not consented: adverse events are collected from "
                "consent on"
            )
        return consent.consented_on, "consent"
    if subject.day0 is None:
        raise SubjectStateError(
            f"subject {subject.code} has no first administration: adverse events are "
            "collected from day 0 on"
        )
    return subject.day0, "the first administration"
