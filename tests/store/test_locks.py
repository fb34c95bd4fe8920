"""Form, visit and casebook locks by the data manager, and the database lock's refusal while
queries are open or casebooks unsigned, on both backends."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from typer.testing import CliRunner

from trialdesk.cli import app
from trialdesk.errors import BadInput
from trialdesk.store.access import access_for
from trialdesk.store.audit import verify_audit_chain
from trialdesk.store.errors import (
    AlreadyExists,
    DatabaseLockRefused,
    NotFound,
    NotPermitted,
    ReasonRequired,
    RecordLocked,
)
from trialdesk.store.models import AuditEvent, RecordLock, Study, StudyUser
from trialdesk.store.services import (
    add_user,
    lock_study,
    randomize_subject,
    record_visit,
    report_adverse_event,
    save_form,
    unlock_study,
    withdraw_subject,
)
from trialdesk.store.services.accounts import set_password
from trialdesk.store.services.locks import NotLocked, lock_record, subject_locks, unlock_record
from trialdesk.store.services.queries import answer_query, close_query, raise_query
from trialdesk.store.services.setup import set_full_name
from trialdesk.store.services.signatures import sign

from .conftest import OPERATOR

VITALS = {"height_cm": 170, "weight_kg": 70}
ADVERSE_EVENT = {
    "term": "Knee effusion",
    "onset_date": dt.date(2024, 3, 5),
    "ctcae_grade": 1,
    "seriousness": [],
    "relatedness": "unlikely",
    "expected": True,
    "action_taken": "not_applicable",
    "outcome": "recovered",
    "awareness_at": dt.datetime(2024, 3, 6, 10, tzinfo=dt.UTC),
}


#: MD5 instead of Argon2 for the passwords set and checked here (tests/store/conftest.py).
pytestmark = pytest.mark.usefixtures("fast_password_hashing")


@pytest.fixture
def data_manager(study: Study) -> str:
    add_user(study, "dana", "data_manager", OPERATOR)
    return "dana"


def lock_reasons(action: str) -> list[tuple[str, str]]:
    return [
        (event.by, event.reason)
        for event in AuditEvent.objects.filter(action=action, field="level").order_by("seq")
    ]


@pytest.mark.django_db
def test_form_visit_and_casebook_locks_refuse_changes_until_unlocked_with_a_reason(
    study: Study, eligible_subject: Any, data_manager: str
) -> None:
    code = eligible_subject()
    record_visit(study, code, "SCR", dt.date(2024, 3, 1), "ines")

    # A form lock: that form refuses, the visit's other forms do not.
    lock_record(
        study, code, level="form", visit_id="SCR", form="vitals", by="dana", reason="reviewed"
    )
    with pytest.raises(RecordLocked, match=f"subject {code}, visit SCR, form vitals is locked"):
        save_form(study, code, "SCR", "vitals", {**VITALS, "pulse": 70}, "colin")
    save_form(study, code, "SCR", "kl_grade", {"index_knee": 2, "contralateral_knee": 1}, "colin")
    with pytest.raises(AlreadyExists, match="form vitals is already locked since"):
        lock_record(study, code, level="form", visit_id="SCR", form="vitals", by="dana")
    with pytest.raises(ReasonRequired, match="a reason is required"):
        unlock_record(
            study, code, level="form", visit_id="SCR", form="vitals", by="dana", reason=" "
        )
    unlock_record(
        study, code, level="form", visit_id="SCR", form="vitals", by="dana", reason="query on pulse"
    )
    save_form(study, code, "SCR", "vitals", {**VITALS, "pulse": 70}, "colin")

    # A visit lock: its date and every form of it refuse; a form in it is covered already.
    lock_record(study, code, level="visit", visit_id="SCR", by="dana")
    with pytest.raises(RecordLocked, match=f"subject {code}, visit SCR is locked"):
        record_visit(study, code, "SCR", dt.date(2024, 3, 2), "ines", reason="wrong date")
    with pytest.raises(RecordLocked, match="visit SCR is locked"):
        save_form(
            study,
            code,
            "SCR",
            "kl_grade",
            {"index_knee": 3, "contralateral_knee": 1},
            "colin",
            reason="re-read",
        )
    with pytest.raises(AlreadyExists, match=f"by the lock of subject {code}, visit SCR"):
        lock_record(study, code, level="form", visit_id="SCR", form="kl_grade", by="dana")

    # A casebook lock: adverse events too.
    lock_record(study, code, level="casebook", by="dana", reason="ready for database lock")
    with pytest.raises(RecordLocked, match=f"the casebook of subject {code} is locked"):
        report_adverse_event(study, code, by="colin", **ADVERSE_EVENT)
    live = subject_locks(access_for(study, StudyUser.objects.get(username="mona")), code)
    assert [(lock.level, lock.visit_id, lock.form) for lock in live] == [
        ("visit", "SCR", ""),
        ("casebook", "", ""),
    ]
    unlock_record(study, code, level="casebook", by="dana", reason="late adverse event")
    report_adverse_event(study, code, by="colin", **ADVERSE_EVENT)
    with pytest.raises(RecordLocked, match="visit SCR is locked"):  # the visit lock stays
        save_form(study, code, "SCR", "vitals", {**VITALS, "pulse": 72}, "colin", reason="x")

    assert lock_reasons("record.locked") == [
        ("dana", "reviewed"),
        ("dana", ""),
        ("dana", "ready for database lock"),
    ]
    unlocked = [
        (event.reason, json.loads(event.new_value))
        for event in AuditEvent.objects.filter(
            action="record.unlocked", field="unlocked_by"
        ).order_by("seq")
    ]
    assert unlocked == [("query on pulse", "dana"), ("late adverse event", "dana")]
    history = subject_locks(
        access_for(study, StudyUser.objects.get(username="dana")), code, active_only=False
    )
    assert [lock.active for lock in history] == [False, True, False]
    assert verify_audit_chain().ok


@pytest.mark.django_db
def test_locks_are_the_data_managers_of_what_exists(
    study: Study, eligible_subject: Any, data_manager: str
) -> None:
    code = eligible_subject()
    events = AuditEvent.objects.count()
    with pytest.raises(NotPermitted, match="colin may not lock and unlock records at site 01"):
        lock_record(study, code, level="casebook", by="colin")
    with pytest.raises(NotFound, match="form womac is not entered; nothing to lock"):
        lock_record(study, code, level="form", visit_id="D0", form="womac", by="dana")
    with pytest.raises(NotFound, match="visit W12 is not in the store yet"):
        lock_record(study, code, level="visit", visit_id="W12", by="dana")
    with pytest.raises(NotFound, match="no visit 'W99' in the protocol"):
        lock_record(study, code, level="visit", visit_id="W99", by="dana")
    with pytest.raises(NotFound, match="form 'koos' is not collected at this visit"):
        lock_record(study, code, level="form", visit_id="SCR", form="koos", by="dana")
    with pytest.raises(BadInput, match="lock level 'site'; expected form, visit, casebook"):
        lock_record(study, code, level="site", by="dana")
    with pytest.raises(BadInput, match="a visit lock names a visit and no form"):
        lock_record(study, code, level="visit", visit_id="SCR", form="vitals", by="dana")
    with pytest.raises(BadInput, match="a casebook lock names no visit and no form"):
        lock_record(study, code, level="casebook", visit_id="SCR", by="dana")
    with pytest.raises(NotFound, match="no subject '01-999'"):
        lock_record(study, "01-999", level="casebook", by="dana")
    with pytest.raises(NotLocked, match="is not locked .at the casebook level.: nothing to unlock"):
        unlock_record(study, code, level="casebook", by="dana", reason="no lock")
    assert AuditEvent.objects.count() == events and not RecordLock.objects.exists()


@pytest.mark.django_db
def test_the_database_lock_is_refused_with_open_queries_unless_overridden(
    study: Study, eligible_subject: Any, data_manager: str
) -> None:
    randomized = eligible_subject()
    randomize_subject(study, randomized, "ines")
    ended = eligible_subject()
    record_visit(study, ended, "SCR", dt.date(2024, 3, 1), "ines")
    withdraw_subject(study, ended, "patient's decision", "ines")
    first = raise_query(study, ended, text="Visit date: please check.", by="mona", visit_id="SCR")
    second = raise_query(
        study,
        randomized,
        text="Height 170 cm?",
        by="dana",
        visit_id="SCR",
        form="vitals",
        item="height_cm",
    )
    answer_query(study, randomized, second.number, text="Confirmed.", by="colin")
    events = AuditEvent.objects.count()
    with pytest.raises(DatabaseLockRefused) as refused:
        lock_study(study, OPERATOR, "final database lock")
    assert str(refused.value) == (
        "KNEE-TEST v1.0 cannot be locked: 1 open query, 1 answered query not closed, "
        "1 casebook of randomized subjects without a valid investigator's signature; close the "
        "queries and have the casebooks signed, or lock with an override reason"
    )
    assert AuditEvent.objects.count() == events

    # Closing the queries leaves the unsigned casebook of the randomized subject.
    answer_query(study, ended, first.number, text="Date is right.", by="colin")
    close_query(study, ended, first.number, text="Thank you.", by="mona")
    close_query(study, randomized, second.number, text="Thank you.", by="dana")
    with pytest.raises(DatabaseLockRefused, match="cannot be locked: 1 casebook of randomized"):
        lock_study(study, OPERATOR)
    lock_study(
        study, OPERATOR, "interim lock", override_reason="interim analysis: follow-up goes on"
    )
    [locked] = AuditEvent.objects.filter(action="study.locked", field="locked")
    assert locked.reason == (
        "interim lock; override of 1 casebook of randomized subjects without a valid "
        "investigator's signature: interim analysis: follow-up goes on"
    )
    assert Study.objects.get(pk=study.pk).locked


@pytest.mark.django_db
def test_signed_casebooks_and_closed_queries_let_the_database_lock(
    study: Study, eligible_subject: Any
) -> None:
    set_full_name("ines", "Ines Holm, MD", OPERATOR)
    set_password("ines", "ines-signs-with-this-77", OPERATOR)
    code = eligible_subject()
    randomize_subject(study, code, "ines")
    withdraw_subject(study, code, "patient's decision", "ines")
    sign(study, code, meaning="casebook_approval", password="ines-signs-with-this-77", by="ines")
    lock_study(study, OPERATOR, "final database lock")
    unlock_study(study, "late query", OPERATOR)
    # A change after signing breaks the signature: the database lock is refused again.
    save_form(
        study,
        code,
        "SCR",
        "vitals",
        {"height_cm": 171, "weight_kg": 70},
        "colin",
        reason="re-measured",
    )
    with pytest.raises(DatabaseLockRefused, match="1 casebook of randomized subjects"):
        lock_study(study, OPERATOR)


@pytest.mark.django_db
def test_the_study_lock_command_says_why_it_is_refused_and_takes_an_override(
    study: Study, eligible_subject: Any
) -> None:
    randomize_subject(study, eligible_subject(), "ines")
    refused = CliRunner().invoke(app, ["study", "lock", "--reason", "final database lock"])
    assert refused.exit_code == 1
    assert "error: KNEE-TEST v1.0 cannot be locked: 1 casebook of randomized subjects" in (
        refused.output
    )
    assert not Study.objects.get(pk=study.pk).locked
    locked = CliRunner().invoke(
        app, ["study", "lock", "--override-reason", "interim analysis", "--reason", "interim"]
    )
    assert locked.exit_code == 0 and "locked KNEE-TEST v1.0 (override recorded)" in locked.output
    [event] = AuditEvent.objects.filter(action="study.locked", field="locked")
    assert event.reason.startswith("interim; override of 1 casebook") and event.by.startswith(
        "operator:"
    )
