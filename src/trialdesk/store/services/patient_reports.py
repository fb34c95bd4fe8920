"""Patients answering at home (issue 14): personal links, and the answers that come through
them.

A coordinator or investigator invites a subject (`invite_patient`): a personal link, whose
random token (256 bits) is returned once and stored as its SHA-256 only, with the language
and time zone the patient answers in and, optionally, a contact address for reminders
(sealed: `trialdesk.store.contact_seal`). Inviting again (reissuing) revokes the live link;
`revoke_patient_link` revokes it. A revoked or unknown token opens nothing (`live_link`).

`answer_entry` takes one answer: the entry must take answers now (its window, or the grace
after it: `trialdesk.schedule.diary`), by the server's clock; an item is answered once and
never changed through the link. The answer is kept (`PatientAnswer`: when the phone says it
was authored, when the server received it) and copied into the form record of the
schedule's visit through the forms' own writer (`write_form`), audited with the patient's
link as the actor (`patient_actor`), blinded like any other form. Corrections are made by
site staff on the form, with a reason.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from trialdesk.errors import BadInput
from trialdesk.protocol.patient_reports import PatientSchedule
from trialdesk.schedule.diary import Entry, EntryState, entries, entry_state
from trialdesk.store import clock
from trialdesk.store.audit import audited_state, audited_write
from trialdesk.store.contact_seal import seal
from trialdesk.store.errors import AlreadyExists, NotFound, SubjectStateError
from trialdesk.store.lifecycle import SubjectStatus
from trialdesk.store.models import PatientAnswer, PatientLink, Study, Subject
from trialdesk.store.permissions import Step, require
from trialdesk.store.services.common import find_subject, require_reason, writable_study
from trialdesk.store.services.forms import as_stored, open_form_visit, write_form

#: The languages a patient answers in (the web app's).
PATIENT_LANGUAGES = ("en", "da", "zh-hans")
#: Where a personal link opens the patient's pages, below the server's address.
PATIENT_PATH = "/p/{token}/"
#: Statuses in which a subject answers at home: randomized and still taking part (not once
#: completed, withdrawn or lost to follow-up: no answer, no reminder after withdrawal).
ANSWERING_STATUSES = frozenset(
    {SubjectStatus.RANDOMIZED, SubjectStatus.TREATED, SubjectStatus.IN_FOLLOW_UP}
)


class EntryClosed(BadInput):
    """An answer for an entry that does not take answers now (not open yet, or missed)."""


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def patient_actor(link: PatientLink) -> str:
    """Who the audit trail names for answers through `link`: the subject and the link."""
    return f"patient:{link.subject.code}#link{link.pk}"


def invite_patient(
    study: Study,
    code: str,
    by: str,
    *,
    language: str,
    time_zone: str,
    email: str = "",
) -> tuple[PatientLink, str]:
    """A personal link for the subject, and its token (shown once, never stored): the
    subject's live link, if any, is revoked first (a reissue)."""
    if not study.protocol().patient_reported:
        raise BadInput(f"{study}: the protocol has no patient_reported schedule to answer")
    if language not in PATIENT_LANGUAGES:
        raise BadInput(f"language {language!r}: expected one of {', '.join(PATIENT_LANGUAGES)}")
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadInput(
            f"time zone {time_zone!r}: expected an IANA zone, e.g. Europe/Copenhagen"
        ) from None
    email = email.strip()
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise BadInput(f"email {email!r}: expected an address like name@example.org") from None
    token = secrets.token_urlsafe(32)
    with audited_write(by, study) as trail:
        study = writable_study(study)
        subject = find_subject(study, code)
        user = require(study, by, Step.INVITE_PATIENT, subject.site)
        if subject.status not in ANSWERING_STATUSES:
            raise SubjectStateError(
                f"subject {code} is {subject.status}: patients answer at home once randomized"
            )
        now = clock.now()
        for live in PatientLink.objects.filter(subject=subject, revoked_at__isnull=True):
            _revoke(trail, live, user, now, "reissued")
        link = PatientLink.objects.create(
            subject=subject,
            token_sha256=token_sha256(token),
            language=language,
            time_zone=time_zone,
            sealed_email=seal(email, subject.code),
            created_by=user,
            created_at=now,
        )
        trail.created(link, "patient.invited")
    return link, token


def revoke_patient_link(study: Study, code: str, by: str, reason: str) -> PatientLink:
    """Revoke the subject's live link: it opens nothing from now on."""
    reason = require_reason(reason, f"subject {code}: revoking the patient's link")
    with audited_write(by, study) as trail:
        study = writable_study(study)
        subject = find_subject(study, code)
        user = require(study, by, Step.INVITE_PATIENT, subject.site)
        link = PatientLink.objects.filter(subject=subject, revoked_at__isnull=True).first()
        if link is None:
            raise NotFound(f"subject {code} has no live patient link")
        link.subject = subject
        _revoke(trail, link, user, clock.now(), reason)
    return link


def _revoke(trail: Any, link: PatientLink, user: Any, now: dt.datetime, reason: str) -> None:
    before = audited_state(link)
    link.revoked_by, link.revoked_at = user, now
    link.save(update_fields=["revoked_by", "revoked_at"])
    trail.changed(link, before, "patient.link_revoked", reason)


def live_link(token: str) -> PatientLink | None:
    """The live link of a token (its subject and study with it); None for a revoked or
    unknown one, which the pages answer 404."""
    if not token or len(token) > 100:
        return None
    return (
        PatientLink.objects.select_related("subject__study", "subject__site")
        .filter(token_sha256=token_sha256(token), revoked_at__isnull=True)
        .first()
    )


# ---------------------------------------------------------------- the entries


@dataclass(frozen=True)
class EntryView:
    """One entry of a subject's schedule as it stands at a moment: its window, state, and
    the items it asks (`answered`: those the patient has answered)."""

    schedule: PatientSchedule
    entry: Entry
    state: EntryState
    items: tuple[str, ...]
    answered: tuple[str, ...]

    @property
    def day(self) -> int:
        return self.entry.day

    @property
    def open_items(self) -> tuple[str, ...]:
        return tuple(item for item in self.items if item not in self.answered)


def _schedule_items(schedule: PatientSchedule, day: int) -> tuple[str, ...]:
    from trialdesk.instruments import get_instrument

    if schedule.kind == "daily":
        return (schedule.item_of_day(day),)
    return tuple(item.id for item in get_instrument(schedule.form).items)


def subject_entries(
    subject: Subject, time_zone: str, now: dt.datetime, schedule_id: str = ""
) -> list[EntryView]:
    """Every entry of the subject's schedules (of `schedule_id` alone when given) as they
    stand at `now`, in the patient's `time_zone`; none before day 0 is known. One query for
    the answers."""
    protocol = subject.study.protocol()
    if subject.day0 is None:
        return []
    zone = ZoneInfo(time_zone)
    schedules = [s for s in protocol.patient_reported if not schedule_id or s.id == schedule_id]
    received: dict[tuple[str, int], dict[str, dt.datetime]] = {}
    for schedule, day, item, at in PatientAnswer.objects.filter(subject=subject).values_list(
        "schedule", "day", "item", "received_at"
    ):
        received.setdefault((schedule, day), {})[item] = at
    views = []
    for schedule in schedules:
        for entry in entries(schedule, subject.day0, zone):
            items = _schedule_items(schedule, entry.day)
            got = received.get((schedule.id, entry.day), {})
            answered = tuple(item for item in items if item in got)
            # An entry stands answered once all its items are; when the last came is when.
            last = max(got[item] for item in answered) if len(answered) == len(items) else None
            views.append(EntryView(schedule, entry, entry_state(entry, last, now), items, answered))
    return views


def answer_entry(
    link: PatientLink,
    schedule_id: str,
    day: int,
    item: str,
    value: Any,
    *,
    authored_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> PatientAnswer:
    """Take one answer through a live link: refused (EntryClosed) when the entry does not
    take answers at `now` (the server's clock), AlreadyExists when the item is answered."""
    from trialdesk.instruments import get_instrument

    now = now or clock.now()
    subject = link.subject
    study = subject.study
    protocol = study.protocol()
    schedule = next((s for s in protocol.patient_reported if s.id == schedule_id), None)
    if schedule is None:
        raise NotFound(f"{study}: no patient_reported schedule {schedule_id!r}")
    if subject.day0 is None:
        raise EntryClosed(f"subject {subject.code}: day 0 is not recorded; nothing is open yet")
    entry = next(
        (e for e in entries(schedule, subject.day0, ZoneInfo(link.time_zone)) if e.day == day),
        None,
    )
    if entry is None:
        raise NotFound(f"{schedule_id}: no entry on day {day}")
    if item not in _schedule_items(schedule, day):
        raise NotFound(f"{schedule_id}, day {day}: no item {item!r}")
    if not entry.takes_answers(now):
        when = "opens" if now < entry.opens_at else "closed"
        at = entry.opens_at if now < entry.opens_at else entry.late_until
        raise EntryClosed(
            f"{schedule_id}, day {day}: the entry {when} at {at.isoformat()}; it takes no "
            "answer now"
        )
    checked = as_stored(get_instrument(schedule.form).item_values({item: value}))
    if checked.get(item) is None:
        raise BadInput(f"{schedule_id}, day {day}, {item}: an answer is required")
    visit_plan = protocol.visit(schedule.visit)
    with audited_write(patient_actor(link), study) as trail:
        study = writable_study(study)
        current = PatientLink.objects.filter(pk=link.pk, revoked_at__isnull=True).exists()
        if not current:
            raise NotFound("this link was revoked")
        subject = Subject.objects.select_related("site").get(pk=subject.pk)
        subject.study = study
        if subject.status not in ANSWERING_STATUSES:
            raise SubjectStateError(
                f"subject {subject.code} is {subject.status}: no answers are taken"
            )
        if PatientAnswer.objects.filter(
            subject=subject, schedule=schedule_id, day=day, item=item
        ).exists():
            raise AlreadyExists(
                f"{schedule_id}, day {day}, {item}: already answered; site staff correct it"
            )
        visit = open_form_visit(trail, subject, visit_plan, schedule.form)
        answer = PatientAnswer.objects.create(
            link=link,
            subject=subject,
            schedule=schedule_id,
            day=day,
            item=item,
            value=checked[item],
            authored_at=authored_at,
            received_at=now,
            late=entry.is_late(now),
        )
        trail.created(answer, "patient.answered")
        write_form(trail, subject, visit, schedule.form, {item: checked[item]}, partial=True)
    return answer
