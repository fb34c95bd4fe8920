"""The audit trail: complete, chained, blind, and tamper-evident (on SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from typer.testing import CliRunner

from trialdesk.cli import app
from trialdesk.store.audit import GENESIS_HASH, event_hash, verify_audit_chain
from trialdesk.store.audit_key import AUDIT_KEY_VARIABLE
from trialdesk.store.models import AuditEvent, FormRecord, Subject
from trialdesk.store.services import (
    randomize_subject,
    record_administration,
    save_form,
    unblind_subject,
    withdraw_subject,
)


def run_scenario(study: Any, eligible_subject: Any) -> str:
    code = eligible_subject()
    eligible_subject("02", kl_grade=3)
    randomize_subject(study, code, "ines")
    record_administration(study, code, "C1", dt.date(2024, 3, 10), "pia")
    save_form(study, code, "SCR", "vitals", {"height_cm": 171, "weight_kg": 70}, "ines", "typo")
    unblind_subject(study, code, "anaphylaxis, treating physician needs the arm", "ines")
    withdraw_subject(study, code, "adverse event", "ines")
    return code


def tamper(sql: str, params: list[Any]) -> None:
    """Change the database behind the services' back, as a user with SQL access could.

    On PostgreSQL the superuser first switches triggers off for the transaction.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)


@pytest.mark.django_db
def test_verify_passes_after_a_scenario(study: Any, eligible_subject: Any) -> None:
    run_scenario(study, eligible_subject)
    verification = verify_audit_chain()
    assert verification.ok, verification.problems
    events = list(AuditEvent.objects.order_by("seq"))
    assert verification.events == len(events) > 100
    assert [event.seq for event in events] == list(range(1, len(events) + 1))
    previous, key = GENESIS_HASH, os.environ[AUDIT_KEY_VARIABLE].encode()  # keyed (conftest)
    for event in events:
        assert event.previous_hash == previous and event.hash == event_hash(event, key)
        assert event.hash != event_hash(event, b"another key of at least 32 bytes.")
        previous = event.hash


@pytest.mark.django_db
def test_events_say_who_when_what_and_why(study: Any, eligible_subject: Any) -> None:
    code = run_scenario(study, eligible_subject)
    change = AuditEvent.objects.get(action="form.changed", field="values.height_cm")
    assert (change.by, change.subject, change.object_type) == ("ines", code, "FormRecord")
    assert (change.old_value, change.new_value, change.reason) == ("170", "171", "typo")
    assert change.at.utcoffset() == dt.timedelta(0)
    assert change.study == "KNEE-TEST v1.0"
    withdrawal = AuditEvent.objects.get(action="subject.withdrawn")
    assert (withdrawal.field, withdrawal.old_value, withdrawal.new_value) == (
        "status",
        '"treated"',
        '"withdrawn"',
    )
    assert AuditEvent.objects.filter(action="subject.unblinded", subject=code).exists()


@pytest.mark.django_db
def test_the_trail_never_shows_an_arm(study: Any, eligible_subject: Any) -> None:
    run_scenario(study, eligible_subject)
    for event in AuditEvent.objects.all():
        text = " ".join([event.field, event.old_value, event.new_value, event.reason])
        assert "CELLS" not in text and "SALINE" not in text, (event.action, text)


@pytest.mark.django_db
def test_a_changed_audit_event_is_named(study: Any, eligible_subject: Any) -> None:
    run_scenario(study, eligible_subject)
    event = AuditEvent.objects.get(action="form.changed", field="values.height_cm")
    tamper("UPDATE store_auditevent SET new_value = %s WHERE seq = %s", ["175", event.seq])
    problems = verify_audit_chain().problems
    assert problems[0] == (
        f"audit event {event.seq}: its content does not match its hash (it was changed)"
    )


@pytest.mark.django_db
def test_a_changed_form_value_is_named(study: Any, eligible_subject: Any) -> None:
    code = run_scenario(study, eligible_subject)
    record = FormRecord.objects.get(subject__code=code, form="vitals")
    values = json.dumps({**record.values, "weight_kg": 90})
    cast = "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"
    tamper(f'UPDATE store_formrecord SET "values" = {cast} WHERE id = %s', [values, record.pk])
    verification = verify_audit_chain()
    assert verification.problems == (
        f"FormRecord {record.pk} (subject {code}): values.weight_kg is 90 in the store "
        "but 70 in the audit trail",
    )


@pytest.mark.django_db
def test_events_removed_from_the_end_are_noticed(study: Any, eligible_subject: Any) -> None:
    run_scenario(study, eligible_subject)
    last = AuditEvent.objects.order_by("-seq").first()
    tamper("DELETE FROM store_auditevent WHERE seq = %s", [last.seq])
    problems = verify_audit_chain().problems
    assert problems[0].startswith(f"the audit trail ends at event {last.seq - 1} but its head")


@pytest.mark.django_db
def test_a_row_written_outside_the_services_is_named(study: Any) -> None:
    site = study.sites.get(code="01")
    subject = Subject.objects.create(
        study=study,
        site=site,
        code="01-099",
        status="randomized",
        year_of_birth=1960,
        age_at_screening=63,
        sex="male",
        screened_on=dt.date(2024, 3, 1),
    )
    assert verify_audit_chain().problems == (
        f"Subject {subject.pk} (subject 01-099) has no audit event: it was written outside "
        "the services",
    )


@pytest.mark.django_db
@pytest.mark.parametrize("store_backend", ["postgresql"], indirect=True)
def test_postgresql_refuses_update_and_delete_of_audit_events(study: Any) -> None:
    for statement in (
        "UPDATE store_auditevent SET reason = 'x' WHERE seq = 1",
        "DELETE FROM store_auditevent WHERE seq = 1",
    ):
        with (
            pytest.raises(DatabaseError, match="the audit trail is append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement)
    assert verify_audit_chain().ok


@pytest.mark.django_db
def test_cli_verify_and_log(study: Any, eligible_subject: Any) -> None:
    code = run_scenario(study, eligible_subject)
    runner = CliRunner()
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 0 and "audit trail intact" in result.output
    log = runner.invoke(app, ["audit", "log", code, "--json"])
    assert log.exit_code == 0, log.output
    actions = [event["action"] for event in json.loads(log.stdout)["events"]]
    assert actions[0] == "subject.screened" and actions[-1] == "subject.withdrawn"
    event = AuditEvent.objects.get(action="subject.withdrawn")
    tamper("UPDATE store_auditevent SET reason = %s WHERE seq = %s", ["none", event.seq])
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 1
    assert f"error: audit event {event.seq}: its content does not match" in result.output
