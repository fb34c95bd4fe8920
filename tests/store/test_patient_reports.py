"""Patients answering at home (issue 14) through the services, on SQLite and PostgreSQL:
personal links (the token shown once and stored as its SHA-256; the contact address sealed;
reissue, revoke), answers inside the entry's window, late in the grace, refused outside it,
never twice, copied into the D30 pain diary form, audited as the patient's link; locks and
roles.

Day 0 is 10 January 2026 (Copenhagen in winter, UTC+1): day d's entry is open 18:00-23:59
local on 10 January + d, that is 17:00-23:00 UTC, and answers are taken late until 00:00 UTC
(01:00 local) the next day (STEMJOINT's protocol: 18:00-23:59, 60 minutes' grace).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.core import serializers
from django.db import connection

from support.epro import stemjoint_study, treated_subject
from trialdesk.errors import BadInput
from trialdesk.schedule.diary import EntryState
from trialdesk.store.audit import verify_audit_chain
from trialdesk.store.contact_seal import unseal
from trialdesk.store.errors import (
    AlreadyExists,
    NotFound,
    NotPermitted,
    StudyLocked,
    SubjectStateError,
)
from trialdesk.store.models import AuditEvent, FormRecord, PatientAnswer, PatientLink, Subject
from trialdesk.store.services import screen_subject, withdraw_subject
from trialdesk.store.services.locks import lock_record
from trialdesk.store.services.patient_reports import (
    EntryClosed,
    answer_entry,
    invite_patient,
    live_link,
    revoke_patient_link,
    subject_entries,
)

DAY0 = dt.date(2026, 1, 10)
ZONE = "Europe/Copenhagen"
EMAIL = "karen.patient-7731@example.org"


def utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=dt.UTC)


def evening(day: int, hour: int = 20, minute: int = 0) -> dt.datetime:
    """`hour`:`minute` UTC on the local date of entry `day` (hour 20 UTC: 21:00 local)."""
    date = DAY0 + dt.timedelta(days=day)
    return dt.datetime(date.year, date.month, date.day, hour, minute, tzinfo=dt.UTC)


@pytest.fixture
def study(django_db_setup: str) -> Any:
    return stemjoint_study()


@pytest.fixture
def code(study: Any) -> str:
    return treated_subject(study, DAY0)


@pytest.fixture
def invited(study: Any, code: str) -> tuple[PatientLink, str]:
    return invite_patient(study, code, "colin", language="da", time_zone=ZONE, email=EMAIL)


def counts() -> tuple[int, int, int]:
    return (PatientAnswer.objects.count(), AuditEvent.objects.count(), FormRecord.objects.count())


def diary_values(code: str) -> dict:
    record = FormRecord.objects.filter(subject__code=code, form="pain_diary").first()
    return {} if record is None else record.values


# ---------------------------------------------------------------- links


@pytest.mark.django_db
def test_the_token_is_shown_once_and_stored_as_its_sha256(
    study: Any, code: str, invited: tuple
) -> None:
    link, token = invited
    assert len(token) >= 43  # 32 random bytes, URL-safe base64
    assert link.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    stored = PatientLink.objects.get(pk=link.pk)
    assert (stored.language, stored.time_zone, stored.created_by.username) == ("da", ZONE, "colin")
    assert stored.revoked_at is None
    assert live_link(token) == link and live_link(token).subject.code == code
    # The token itself is kept nowhere: not in the link's row, not in the audit trail.
    assert token not in serializers.serialize("json", PatientLink.objects.all())
    assert not AuditEvent.objects.filter(new_value__contains=token).exists()
    events = AuditEvent.objects.filter(action="patient.invited")
    assert {(event.by, event.subject) for event in events} == {("colin", code)}
    assert events.get(field="token_sha256").new_value == f'"{link.token_sha256}"'
    # Another token of the same length opens nothing.
    assert live_link("x" * len(token)) is None
    assert live_link("") is None


def every_row_as_text() -> str:
    """Every row of every table of the store, serialized."""
    return "".join(
        serializers.serialize("json", model.objects.all())
        for model in apps.get_models()
        if model._meta.app_label not in ("contenttypes", "auth")
    )


@pytest.mark.django_db
def test_the_contact_address_is_sealed_nowhere_readable(study: Any, code: str) -> None:
    link, _ = invite_patient(study, code, "ines", language="en", time_zone=ZONE, email=EMAIL)
    assert link.sealed_email and EMAIL not in link.sealed_email
    assert unseal(link.sealed_email, code) == EMAIL
    text = every_row_as_text()
    assert EMAIL not in text and "karen.patient" not in text
    sealed = AuditEvent.objects.get(action="patient.invited", field="email_sealed")
    assert sealed.new_value == "true"
    if connection.vendor == "sqlite":  # the database file and its write-ahead log, as bytes
        database = Path(connection.settings_dict["NAME"])
        assert database.is_file(), database
        for path in (p for p in (database, Path(f"{database}-wal")) if p.exists()):
            assert EMAIL.encode() not in path.read_bytes(), path


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("language", "fr", "language 'fr': expected one of en, da, zh-hans"),
        ("time_zone", "Europe/Aarhus", "time zone 'Europe/Aarhus': expected an IANA zone"),
        ("time_zone", "", "time zone '': expected an IANA zone"),
        ("time_zone", "../etc/passwd", "time zone '../etc/passwd': expected an IANA zone"),
        ("email", "karen@", "email 'karen@': expected an address like name@example.org"),
    ],
)
def test_bad_invitations_are_refused_naming_the_field(
    study: Any, code: str, field: str, value: str, message: str
) -> None:
    given = {"language": "da", "time_zone": ZONE, "email": "", field: value}
    before = counts()
    with pytest.raises(BadInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        invite_patient(study, code, "colin", **given)
    assert counts() == before
    assert not PatientLink.objects.exists()


@pytest.mark.django_db
def test_a_subject_not_randomized_is_not_invited(study: Any) -> None:
    screened = screen_subject(
        study, "AUH", year_of_birth=1960, age=65, sex="female", by="ines",
        screened_on=dt.date(2026, 1, 2),
    )  # fmt: skip
    with pytest.raises(SubjectStateError, match="once randomized"):
        invite_patient(study, screened.code, "colin", language="da", time_zone=ZONE)
    assert not PatientLink.objects.exists()


@pytest.mark.django_db
def test_a_reissue_revokes_the_old_link(study: Any, code: str, invited: tuple) -> None:
    first, first_token = invited
    second, second_token = invite_patient(study, code, "ines", language="en", time_zone=ZONE)
    assert second_token != first_token and second.pk != first.pk
    assert live_link(first_token) is None
    assert live_link(second_token) == second
    first.refresh_from_db()
    assert first.revoked_at is not None and first.revoked_by.username == "ines"
    assert PatientLink.objects.filter(subject__code=code, revoked_at__isnull=True).count() == 1
    revoked = AuditEvent.objects.filter(action="patient.link_revoked")
    assert {(e.by, e.reason, e.object_id) for e in revoked} == {("ines", "reissued", str(first.pk))}


@pytest.mark.django_db
def test_a_revoke_needs_a_reason_and_then_opens_nothing(
    study: Any, code: str, invited: tuple
) -> None:
    link, token = invited
    before = counts()
    with pytest.raises(BadInput, match="reason"):
        revoke_patient_link(study, code, "colin", "   ")
    assert counts() == before and live_link(token) == link
    revoke_patient_link(study, code, "colin", "phone lost")
    assert live_link(token) is None
    revoked = AuditEvent.objects.filter(action="patient.link_revoked")
    assert {(event.by, event.reason) for event in revoked} == {("colin", "phone lost")}
    with pytest.raises(NotFound, match="no live patient link"):
        revoke_patient_link(study, code, "colin", "again")
    # An answer through the revoked link is refused and writes nothing.
    before = counts()
    with pytest.raises(NotFound, match="revoked"):
        answer_entry(link, "pain_diary", 1, "day1", 3, now=evening(1))
    assert counts() == before


@pytest.mark.django_db
@pytest.mark.parametrize("username", ["pia", "ada", "mona", "dana", "stan", "otto"])
def test_only_the_sites_coordinator_or_investigator_invites_or_revokes(
    study: Any, code: str, username: str
) -> None:
    before = counts()
    with pytest.raises(NotPermitted):
        invite_patient(study, code, username, language="da", time_zone=ZONE)
    invite_patient(study, code, "colin", language="da", time_zone=ZONE)
    with pytest.raises(NotPermitted):
        revoke_patient_link(study, code, username, "not theirs to revoke")
    assert PatientLink.objects.filter(revoked_at__isnull=True).count() == 1
    assert counts()[0] == before[0]


# ---------------------------------------------------------------- answers


def states(code: str, now: dt.datetime) -> dict[int, EntryState]:
    subject = Subject.objects.select_related("study").get(code=code)
    return {view.day: view.state for view in subject_entries(subject, ZONE, now)}


@pytest.mark.django_db
def test_answers_inside_the_window_late_in_the_grace_refused_outside(
    study: Any, code: str, invited: tuple
) -> None:
    link, _ = invited
    inside = evening(1, 20)  # 21:00 local on 11 January
    answer = answer_entry(
        link, "pain_diary", 1, "day1", 3, authored_at=utc(2026, 1, 11, 19, 58), now=inside
    )
    assert (answer.value, answer.received_at, answer.late) == (3, inside, False)
    assert answer.authored_at == utc(2026, 1, 11, 19, 58)

    before = counts()
    with pytest.raises(EntryClosed, match="opens at 2026-01-12T17:00:00"):
        answer_entry(link, "pain_diary", 2, "day2", 4, now=utc(2026, 1, 12, 16, 59, 59))
    with pytest.raises(EntryClosed, match="closed at 2026-01-13T00:00:00"):
        answer_entry(link, "pain_diary", 2, "day2", 4, now=utc(2026, 1, 13, 0, 0))
    with pytest.raises(EntryClosed):  # a week later: back-filling is refused
        answer_entry(link, "pain_diary", 2, "day2", 4, now=utc(2026, 1, 20, 20, 0))
    assert counts() == before

    late = utc(2026, 1, 13, 23, 30)  # 00:30 local on 14 January, in the grace of day 3
    assert answer_entry(link, "pain_diary", 3, "day3", 5, now=late).late is True
    last_second = utc(2026, 1, 14, 22, 59, 59)  # 23:59:59 local: in time
    assert answer_entry(link, "pain_diary", 4, "day4", 0, now=last_second).late is False

    at = utc(2026, 1, 15, 12, 0)  # noon local on day 5: day 5 not open yet
    found = states(code, at)
    assert [found[day] for day in (1, 2, 3, 4, 5, 6)] == [
        EntryState.ANSWERED,
        EntryState.MISSED,
        EntryState.LATE,
        EntryState.ANSWERED,
        EntryState.UPCOMING,
        EntryState.UPCOMING,
    ]
    assert len(found) == 30


@pytest.mark.django_db
def test_an_item_answered_twice_is_refused(study: Any, code: str, invited: tuple) -> None:
    link, _ = invited
    answer_entry(link, "pain_diary", 1, "day1", 3, now=evening(1, 19))
    before = counts()
    with pytest.raises(AlreadyExists, match="already answered"):
        answer_entry(link, "pain_diary", 1, "day1", 9, now=evening(1, 21))
    assert counts() == before
    assert diary_values(code)["day1"] == 3
    assert PatientAnswer.objects.get().value == 3


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("schedule", "day", "item", "value", "error", "message"),
    [
        ("koos_home", 1, "day1", 3, NotFound, "no patient_reported schedule 'koos_home'"),
        ("pain_diary", 31, "day31", 3, NotFound, "no entry on day 31"),
        ("pain_diary", 1, "day2", 3, NotFound, "day 1: no item 'day2'"),
        ("pain_diary", 1, "day1", 11, BadInput, "day1"),
        ("pain_diary", 1, "day1", None, BadInput, "an answer is required"),
    ],
)
def test_a_wrong_answer_is_refused_and_writes_nothing(
    invited: tuple,
    schedule: str,
    day: int,
    item: str,
    value: Any,
    error: type,
    message: str,
) -> None:
    link, _ = invited
    before = counts()
    with pytest.raises(error, match=message):
        answer_entry(link, schedule, day, item, value, now=evening(1))
    assert counts() == before


@pytest.mark.django_db
def test_answers_fill_the_d30_pain_diary_with_its_scores(
    study: Any, code: str, invited: tuple
) -> None:
    link, _ = invited
    answer_entry(link, "pain_diary", 1, "day1", 3, now=evening(1))
    answer_entry(link, "pain_diary", 3, "day3", 5, now=evening(3))
    record = FormRecord.objects.select_related("visit").get(subject__code=code, form="pain_diary")
    assert record.visit.visit_id == "D30"
    assert {item: value for item, value in record.values.items() if value is not None} == {
        "day1": 3,
        "day3": 5,
    }
    # Days 1 and 3 reported: mean 4, highest 5, one day at 4 or more; the trapezoid from
    # day 1 to day 3 bridges day 2: (3 + 5) / 2 x 2 days = 8.
    scores = record.scores
    assert scores["days_reported"] == 2
    assert scores["mean"] == pytest.approx(4.0)
    assert scores["max"] == 5
    assert scores["days_nrs_ge_4"] == 1
    assert scores["auc"] == pytest.approx(8.0)


@pytest.mark.django_db
def test_answers_are_audited_as_the_patients_link_and_the_chain_verifies(
    study: Any, code: str, invited: tuple
) -> None:
    link, _ = invited
    answer_entry(link, "pain_diary", 1, "day1", 3, now=evening(1))
    actor = f"patient:{code}#link{link.pk}"
    events = AuditEvent.objects.filter(by=actor)
    actions = set(events.values_list("action", flat=True))
    assert "patient.answered" in actions
    assert "form.entered" in actions
    assert set(events.values_list("subject", flat=True)) == {code}
    answered = events.get(action="patient.answered", field="value")
    assert answered.new_value == "3"
    result = verify_audit_chain()
    assert result.ok, result.problems
    assert result.events == AuditEvent.objects.count()


@pytest.mark.django_db
def test_a_link_never_reaches_another_subjects_entries(study: Any, code: str) -> None:
    other = treated_subject(study, DAY0)
    link, token = invite_patient(study, code, "colin", language="da", time_zone=ZONE)
    other_link, other_token = invite_patient(study, other, "colin", language="en", time_zone=ZONE)
    assert live_link(token).subject.code == code
    assert live_link(other_token).subject.code == other
    answer_entry(link, "pain_diary", 1, "day1", 7, now=evening(1))
    assert diary_values(code)["day1"] == 7
    assert diary_values(other) == {}
    assert set(PatientAnswer.objects.values_list("subject__code", flat=True)) == {code}
    assert states(other, evening(1, 21))[1] is EntryState.OPEN
    # The other patient's own answer to the same day is theirs, and does not collide.
    answer_entry(other_link, "pain_diary", 1, "day1", 2, now=evening(1, 21))
    assert (diary_values(code)["day1"], diary_values(other)["day1"]) == (7, 2)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("level", "visit_id", "form"),
    [("form", "D30", "pain_diary"), ("visit", "D30", ""), ("casebook", "", "")],
)
def test_a_locked_form_or_casebook_takes_no_answer(
    study: Any, code: str, invited: tuple, level: str, visit_id: str, form: str
) -> None:
    link, _ = invited
    answer_entry(link, "pain_diary", 1, "day1", 3, now=evening(1))
    lock_record(study, code, level=level, by="dana", visit_id=visit_id, form=form)
    before = counts()
    with pytest.raises(StudyLocked, match="locked"):
        answer_entry(link, "pain_diary", 2, "day2", 4, now=evening(2))
    assert counts() == before
    assert "day2" not in {k for k, v in diary_values(code).items() if v is not None}


@pytest.mark.django_db
def test_a_withdrawn_subject_takes_no_answer(study: Any, code: str, invited: tuple) -> None:
    link, _ = invited
    withdraw_subject(study, code, "patient's decision", "ines")
    before = counts()
    with pytest.raises(SubjectStateError, match="withdrawn: no answers are taken"):
        answer_entry(link, "pain_diary", 1, "day1", 3, now=evening(1))
    assert counts() == before
    with pytest.raises(SubjectStateError, match="is withdrawn"):
        invite_patient(study, code, "colin", language="da", time_zone=ZONE)
    assert PatientLink.objects.count() == 1


#: KOOS at home in the week before M3 (day 91), added to the protocol file alone.
KOOS_AT_HOME = """  - id: koos_home
    form: koos
    visit: M3
    kind: once
    first_day: 84
    last_day: 91
"""


@pytest.mark.django_db
def test_koos_at_home_added_in_the_protocol_file_is_answered_item_by_item(
    django_db_setup: str,
) -> None:
    from trialdesk.instruments import get_instrument
    from trialdesk.protocol import protocol_source

    _, text = protocol_source("NCT05933434")
    diary_end = "    grace_minutes: 60\n"
    assert text.count(diary_end) == 1
    study = stemjoint_study(text.replace(diary_end, diary_end + KOOS_AT_HOME))
    code = treated_subject(study, DAY0)
    link, _ = invite_patient(study, code, "colin", language="en", time_zone=ZONE)
    items = [item.id for item in get_instrument("koos").items]
    # Day 84 is 4 April 2026 (summer time): open from 00:00 local, 22:00 UTC the day before,
    # to 24:00 local on day 91, 11 April: 22:00 UTC; no grace.
    with pytest.raises(EntryClosed):
        answer_entry(link, "koos_home", 84, items[0], 1, now=utc(2026, 4, 3, 21, 59, 59))
    answer_entry(link, "koos_home", 84, items[0], 1, now=utc(2026, 4, 3, 22, 0))
    answer_entry(link, "koos_home", 84, items[1], 2, now=utc(2026, 4, 11, 21, 59, 59))
    with pytest.raises(EntryClosed):
        answer_entry(link, "koos_home", 84, items[2], 2, now=utc(2026, 4, 11, 22, 0))
    subject = Subject.objects.select_related("study").get(code=code)
    (view,) = subject_entries(subject, ZONE, utc(2026, 4, 5), schedule_id="koos_home")
    assert view.items == tuple(items) and view.answered == tuple(items[:2])
    assert view.state is EntryState.OPEN  # not every item answered yet
    (missed,) = subject_entries(subject, ZONE, utc(2026, 4, 12), schedule_id="koos_home")
    assert missed.state is EntryState.MISSED
    record = FormRecord.objects.select_related("visit").get(subject=subject, form="koos")
    assert record.visit.visit_id == "M3"
    assert (record.values[items[0]], record.values[items[1]]) == (1, 2)
