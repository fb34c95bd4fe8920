"""Tampering as an insider would, with SQL on the store's tables: every kind is detected and named.

Each kind builds one small trial through the services (two randomized and treated subjects,
one only consented; forms, a changed value, an SAE, a deviation, an unblinding, a revoked API
token), then changes the database behind the services' back through
`django.db.connection.cursor()`, and checks that `verify_audit_chain` (or `trialdesk audit
verify --checkpoint`) names the event or record that was changed. On PostgreSQL the audit
table's append-only trigger is switched off first (`ALTER TABLE ... DISABLE TRIGGER ALL`, as
the database's owner can) and on again after, so the chain, not the trigger, is what catches
it. Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from typer.testing import CliRunner

from trialdesk.cli import app
from trialdesk.errors import BadInput
from trialdesk.store.audit import GENESIS_HASH, event_hash, verify_audit_chain
from trialdesk.store.audit_key import AUDIT_KEY_VARIABLE, audit_key, parse_audit_key
from trialdesk.store.checkpoint import make_checkpoint, parse_checkpoint
from trialdesk.store.models import (
    AdverseEvent,
    Allocation,
    ApiToken,
    AuditEvent,
    AuditHead,
    Consent,
    Deviation,
    EligibilityRecord,
    FormRecord,
    Kit,
    RoleAssignment,
    Subject,
    UnblindingEvent,
    Visit,
)
from trialdesk.store.services import (
    add_site,
    add_user,
    create_study,
    randomize_subject,
    record_administration,
    record_deviation,
    report_adverse_event,
    save_form,
    unblind_subject,
)
from trialdesk.store.services.tokens import create_token, revoke_token, token_prefix

from .conftest import OPERATOR, PROTOCOL, make_eligible, screen_and_consent

CET = dt.timezone(dt.timedelta(hours=1))
WRONG_KEY = b"an insider's guess at the audit key, 32+ bytes"
SERIOUS = {
    "term": "Septic arthritis",
    "onset_date": dt.date(2024, 3, 12),
    "ctcae_grade": 3,
    "seriousness": ["hospitalization"],
    "relatedness": "possible",
    "expected": False,
    "action_taken": "drug_interrupted",
    "outcome": "recovering",
    "awareness_at": dt.datetime(2024, 3, 13, 8, 0, tzinfo=dt.UTC),
}


@dataclass(frozen=True)
class Trial:
    a: str  # 01-001: randomized, treated, a changed form, an SAE, a deviation, unblinded
    b: str  # 02-001: randomized, treated
    c: str  # 01-002: consented only
    revoked_token: str  # prefix of mona's revoked token


def build(study: Any) -> Trial:
    a = make_eligible(study)
    b = make_eligible(study, "02", kl_grade=3)
    c = screen_and_consent(study)
    for code in (a, b):
        randomize_subject(study, code, "ines")
        record_administration(study, code, "C1", dt.date(2024, 3, 10), "pia")
    save_form(study, a, "SCR", "vitals", {"height_cm": 171, "weight_kg": 70}, "ines", "typo")
    report_adverse_event(study, a, by="colin", **SERIOUS)
    record_deviation(
        study, a, kind="dosing_error", description="half dose", detected_on=dt.date(2024, 3, 11),
        by="colin",
    )  # fmt: skip
    unblind_subject(study, a, "anaphylaxis, treating physician needs the arm", "ines")
    revoked = token_prefix(create_token("mona", OPERATOR, "laptop"))
    revoke_token(revoked, OPERATOR)
    create_token("mona", OPERATOR, "desktop")
    return Trial(a, b, c, revoked)


# ---------------------------------------------------------------- the insider's tools


def sql(statement: str, params: list[Any] | None = None, *, audit_table: bool = False) -> None:
    """Run one statement as the database's owner (see `sql_rows`)."""
    sql_rows(statement, [params or []], audit_table=audit_table)


def sql_rows(statement: str, rows: list[list[Any]], *, audit_table: bool = False) -> None:
    """Run a statement once per row of parameters as the database's owner; on PostgreSQL with
    the audit table's append-only trigger off meanwhile (the owner may do that), on after."""
    switch = audit_table and connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        if switch:
            cursor.execute("ALTER TABLE store_auditevent DISABLE TRIGGER ALL")
        cursor.executemany(statement, rows)
        if switch:
            cursor.execute("ALTER TABLE store_auditevent ENABLE TRIGGER ALL")


def db_time(value: dt.datetime) -> Any:
    """A time as this backend's column takes it in raw SQL."""
    return connection.ops.adapt_datetimefield_value(value)


def as_json(value: Any) -> str:
    """`value` as the audit trail writes it: JSON (RFC 8259), ISO 8601 for a time."""
    return json.dumps(value.isoformat() if isinstance(value, dt.datetime) else value)


def move_event(seq: int, to: int) -> None:
    sql("UPDATE store_auditevent SET seq = %s WHERE seq = %s", [to, seq], audit_table=True)


def rechain(from_seq: int, key: bytes) -> None:
    """Recompute every hash from event `from_seq` on with `key`, and the head: what someone
    who can write the database does to hide an edit (with the key, or a guess at it)."""
    previous = AuditEvent.objects.get(seq=from_seq - 1).hash if from_seq > 1 else GENESIS_HASH
    rows = []
    for event in AuditEvent.objects.filter(seq__gte=from_seq).order_by("seq"):
        event.previous_hash = previous
        previous = event_hash(event, key)
        rows.append([event.previous_hash, previous, event.seq])
    sql_rows(
        "UPDATE store_auditevent SET previous_hash = %s, hash = %s WHERE seq = %s",
        rows,
        audit_table=True,
    )
    sql("UPDATE store_audithead SET seq = %s, hash = %s", [rows[-1][2], previous])


def edit_height_everywhere() -> tuple[int, FormRecord]:
    """The corrected height (171) becomes 181 in the form and in its audit event."""
    event = AuditEvent.objects.get(action="form.changed", field="values.height_cm")
    record = FormRecord.objects.get(pk=event.object_id)
    set_values(record, {**record.values, "height_cm": 181})
    sql(
        "UPDATE store_auditevent SET new_value = '181' WHERE seq = %s",
        [event.seq],
        audit_table=True,
    )
    return event.seq, record


def set_values(record: FormRecord, values: dict[str, Any]) -> None:
    cast = "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"
    sql(
        f'UPDATE store_formrecord SET "values" = {cast} WHERE id = %s',
        [json.dumps(values), record.pk],
    )


def first_problem() -> str:
    problems = verify_audit_chain().problems
    assert problems, "the tampering went unnoticed"
    return problems[0]


def vitals(code: str) -> FormRecord:
    return FormRecord.objects.get(subject__code=code, form="vitals")


def sae(code: str) -> AdverseEvent:
    return AdverseEvent.objects.get(subject__code=code, number=1)


def subject_pk(code: str) -> int:
    return Subject.objects.get(code=code).pk


def event_where(**lookup: Any) -> AuditEvent:
    return AuditEvent.objects.filter(**lookup).order_by("seq").first()


# ---------------------------------------------------------------- the kinds of tampering
# Each takes the trial, tampers, and returns the first problem verification must report.


def form_value(t: Trial) -> str:
    record = vitals(t.a)
    set_values(record, {**record.values, "weight_kg": 90})
    return (
        f"FormRecord {record.pk} (subject {t.a}): values.weight_kg is 90 in the store but 70 "
        "in the audit trail"
    )


def year_of_birth(t: Trial) -> str:
    pk = subject_pk(t.a)
    sql("UPDATE store_subject SET year_of_birth = 1950 WHERE id = %s", [pk])
    return (
        f"Subject {pk} (subject {t.a}): year_of_birth is 1950 in the store but 1960 in the "
        "audit trail"
    )


def changed_event(column: str, value: Callable[[AuditEvent], Any]) -> Callable[[Trial], str]:
    def tamper(t: Trial) -> str:
        event = event_where(action="form.changed", field="values.height_cm")
        sql(
            f'UPDATE store_auditevent SET "{column}" = %s WHERE seq = %s',
            [value(event), event.seq],
            audit_table=True,
        )
        return f"audit event {event.seq}: its content does not match its hash (it was changed)"

    tamper.__name__ = f"event_{column}"
    return tamper


event_new_value = changed_event("new_value", lambda event: "175")
event_reason = changed_event("reason", lambda event: "requested by sponsor")
event_by = changed_event("by", lambda event: "colin")
event_at = changed_event("at", lambda event: db_time(event.at - dt.timedelta(days=3)))


def deleted_middle_event(t: Trial) -> str:
    middle = AuditEvent.objects.count() // 2
    sql("DELETE FROM store_auditevent WHERE seq = %s", [middle], audit_table=True)
    return f"audit event {middle + 1}: expected event {middle} here; event {middle} is missing"


def deleted_last_event(t: Trial) -> str:
    last = AuditHead.objects.get().seq
    sql("DELETE FROM store_auditevent WHERE seq = %s", [last], audit_table=True)
    return (
        f"the audit trail ends at event {last - 1} but its head records event {last}: "
        "events were removed from the end or the head was changed"
    )


def reordered_events(t: Trial) -> str:
    seq = event_where(action="subject.unblinded").seq  # swapped with the event after it
    move_event(seq, 10**9)
    move_event(seq + 1, seq)
    move_event(10**9, seq + 1)
    return f"audit event {seq}: its previous hash does not match event {seq - 1}"


def inserted_event(t: Trial) -> str:
    """A forged event at the end (the head moved to it) approving a form value, its hash
    computed as before the key (plain SHA-256): its hash cannot be right without the key."""
    head = AuditHead.objects.get()
    record = vitals(t.a)
    forged = AuditEvent(
        seq=head.seq + 1, at=dt.datetime.now(dt.UTC), by="ines", action="form.changed",
        study="KNEE-TEST v1.0", subject=t.a, object_type="FormRecord", object_id=str(record.pk),
        field="values.weight_kg", old_value="70", new_value="90", reason="typo",
        previous_hash=head.hash,
    )  # fmt: skip
    content = {
        name: getattr(forged, name)
        for name in ("seq", "by", "action", "study", "subject", "object_type", "object_id")
        + ("field", "old_value", "new_value", "reason", "previous_hash")
    }
    content["at"] = forged.at.isoformat(timespec="microseconds")
    forged_hash = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    sql(
        'INSERT INTO store_auditevent (seq, "at", "by", action, study, subject, object_type, '
        "object_id, field, old_value, new_value, reason, previous_hash, hash) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        [forged.seq, db_time(forged.at), forged.by, forged.action, forged.study, forged.subject]
        + [forged.object_type, forged.object_id, forged.field, forged.old_value]
        + [forged.new_value, forged.reason, forged.previous_hash, forged_hash],
        audit_table=True,
    )
    set_values(record, {**record.values, "weight_kg": 90})
    sql("UPDATE store_audithead SET seq = %s, hash = %s", [forged.seq, forged_hash])
    return f"audit event {forged.seq}: its content does not match its hash (it was changed)"


def moved(model: type, table: str, pick: Callable[[Trial], Any], to: str) -> Callable[[Trial], str]:
    """The record `pick` gives moved (its subject_id) to the subject `to` names."""

    def tamper(t: Trial) -> str:
        record, target = pick(t), getattr(t, to)
        owner = record.subject.code
        sql(f"UPDATE {table} SET subject_id = %s WHERE id = %s", [subject_pk(target), record.pk])
        return (
            f'{model.__name__} {record.pk} (subject {target}): subject is "{target}" in the '
            f'store but "{owner}" in the audit trail'
        )

    tamper.__name__ = f"{model.__name__}_moved_to_another_subject"
    return tamper


form_moved = moved(FormRecord, "store_formrecord", lambda t: vitals(t.a), "c")
sae_moved = moved(AdverseEvent, "store_adverseevent", lambda t: sae(t.a), "b")
deviation_moved = moved(
    Deviation, "store_deviation", lambda t: Deviation.objects.get(kind="dosing_error"), "b"
)
consent_moved = moved(
    Consent, "store_consent", lambda t: Consent.objects.get(subject__code=t.a), "c"
)
unblinding_moved = moved(
    UnblindingEvent, "store_unblindingevent", lambda t: UnblindingEvent.objects.get(), "b"
)


def form_moved_to_another_subjects_visit(t: Trial) -> str:
    """Only the visit changes: to the other subject's visit of the same id (SCR)."""
    record = vitals(t.a)
    other = Visit.objects.get(subject__code=t.b, visit_id="SCR")
    sql("UPDATE store_formrecord SET visit_id = %s WHERE id = %s", [other.pk, record.pk])
    return (
        f'FormRecord {record.pk} (subject {t.a}): visit is "{t.b}/SCR" in the store but '
        '"SCR" in the audit trail'
    )


def form_moved_to_another_visit(t: Trial) -> str:
    record = vitals(t.a)
    other = Visit.objects.get(subject__code=t.a, visit_id="W12")
    sql("UPDATE store_formrecord SET visit_id = %s WHERE id = %s", [other.pk, record.pk])
    return (
        f'FormRecord {record.pk} (subject {t.a}): visit is "W12" in the store but "SCR" '
        "in the audit trail"
    )


def swapped_allocations(t: Trial) -> str:
    """The two randomized subjects' allocations swapped (through the third subject: the
    column is unique)."""
    first, second = (
        Allocation.objects.get(subject__code=t.a),
        Allocation.objects.get(subject__code=t.b),
    )
    sql("UPDATE store_allocation SET subject_id = %s WHERE id = %s", [subject_pk(t.c), first.pk])
    sql("UPDATE store_allocation SET subject_id = %s WHERE id = %s", [subject_pk(t.a), second.pk])
    sql("UPDATE store_allocation SET subject_id = %s WHERE id = %s", [subject_pk(t.b), first.pk])
    return (
        f'Allocation {first.pk} (subject {t.b}): subject is "{t.b}" in the store but '
        f'"{t.a}" in the audit trail'
    )


def kit_given_to_another_subject(t: Trial) -> str:
    kit = Kit.objects.get(dispensed_to__code=t.a)
    sql("UPDATE store_kit SET dispensed_to_id = %s WHERE id = %s", [subject_pk(t.c), kit.pk])
    return (
        f'Kit {kit.pk} (subject {t.c}): dispensed_to is "{t.c}" in the store but "{t.a}" in '
        "the audit trail"
    )


def role_moved_to_another_site(t: Trial) -> str:
    role = RoleAssignment.objects.get(user__username="colin")
    site = role.study.sites.get(code="02")
    sql("UPDATE store_roleassignment SET site_id = %s WHERE id = %s", [site.pk, role.pk])
    return f'RoleAssignment {role.pk}: site is "02" in the store but "01" in the audit trail'


def token_hash_replaced(t: Trial) -> str:
    token = ApiToken.objects.get(revoked_at__isnull=True)
    planted = hashlib.sha256(b"td_the-insider-knows-this-one").hexdigest()
    sql("UPDATE store_apitoken SET key_sha256 = %s WHERE id = %s", [planted, token.pk])
    return (
        f'ApiToken {token.pk}: key_sha256 is "{planted}" in the store but '
        f'"{token.key_sha256}" in the audit trail'
    )


def token_revocation_undone(t: Trial) -> str:
    token = ApiToken.objects.get(prefix=t.revoked_token)
    sql("UPDATE store_apitoken SET revoked_at = NULL WHERE id = %s", [token.pk])
    return (
        f"ApiToken {token.pk}: revoked_at is null in the store but {as_json(token.revoked_at)} "
        "in the audit trail"
    )


def changed_time(
    model: type, table: str, column: str, pick: Callable[[Trial], Any]
) -> Callable[[Trial], str]:
    def tamper(t: Trial) -> str:
        record = pick(t)
        then = getattr(record, column)
        now = then + dt.timedelta(days=-2, hours=5)
        sql(f"UPDATE {table} SET {column} = %s WHERE id = %s", [db_time(now), record.pk])
        return (
            f"{model.__name__} {record.pk} (subject {record.subject.code}): {column} is "
            f"{as_json(now)} in the store but {as_json(then)} in the audit trail"
        )

    tamper.__name__ = f"{column}_changed"
    return tamper


allocated_at = changed_time(
    Allocation,
    "store_allocation",
    "allocated_at",
    lambda t: Allocation.objects.get(subject__code=t.a),
)
unblinded_at = changed_time(
    UnblindingEvent,
    "store_unblindingevent",
    "unblinded_at",
    lambda t: UnblindingEvent.objects.get(),
)
evaluated_at = changed_time(
    EligibilityRecord,
    "store_eligibilityrecord",
    "evaluated_at",
    lambda t: EligibilityRecord.objects.get(subject__code=t.b),
)
awareness_at = changed_time(AdverseEvent, "store_adverseevent", "awareness_at", lambda t: sae(t.a))


def row_inserted(t: Trial) -> str:
    """A deviation added for the other subject without the services (so without events)."""
    sql(
        "INSERT INTO store_deviation (subject_id, kind, description, detected_on, automatic) "
        "VALUES (%s, 'dosing_error', 'double dose', %s, %s)",
        [subject_pk(t.b), connection.ops.adapt_datefield_value(dt.date(2024, 3, 11)), False],
    )
    pk = Deviation.objects.get(description="double dose").pk
    return f"Deviation {pk} (subject {t.b}) has no audit event: it was written outside the services"


def row_deleted(t: Trial) -> str:
    event = sae(t.a)
    sql("DELETE FROM store_adverseevent WHERE id = %s", [event.pk])
    return f"AdverseEvent {event.pk} is in the audit trail but not in the store"


def head_changed(t: Trial) -> str:
    head = AuditHead.objects.get()
    sql("UPDATE store_audithead SET hash = %s", ["f" * 64])
    return (
        f"the audit head records event {head.seq} with another hash than audit event "
        f"{head.seq} has: the head or the event was changed"
    )


def rechained_with_a_wrong_key(t: Trial) -> str:
    """The height edited in the form and in its event, every later hash and the head
    recomputed: with a guess at the key, the first rewritten event no longer verifies."""
    seq, _ = edit_height_everywhere()
    rechain(seq, WRONG_KEY)
    return f"audit event {seq}: its content does not match its hash (it was changed)"


KINDS = [
    form_value,
    year_of_birth,
    event_new_value,
    event_reason,
    event_by,
    event_at,
    deleted_middle_event,
    deleted_last_event,
    reordered_events,
    inserted_event,
    form_moved,
    form_moved_to_another_subjects_visit,
    form_moved_to_another_visit,
    sae_moved,
    deviation_moved,
    consent_moved,
    unblinding_moved,
    swapped_allocations,
    kit_given_to_another_subject,
    role_moved_to_another_site,
    token_hash_replaced,
    token_revocation_undone,
    allocated_at,
    unblinded_at,
    evaluated_at,
    awareness_at,
    row_inserted,
    row_deleted,
    head_changed,
    rechained_with_a_wrong_key,
]


@pytest.mark.django_db
@pytest.mark.parametrize("kind", KINDS, ids=[kind.__name__ for kind in KINDS])
def test_tampering_is_detected_and_named(study: Any, kind: Callable[[Trial], str]) -> None:
    trial = build(study)  # intact: see test_a_rechaining_with_the_key_is_caught_by_...
    expected = kind(trial)
    assert first_problem() == expected


@pytest.mark.django_db
def test_a_record_moved_to_the_same_code_in_another_study_is_named(
    study: Any, tmp_path: Path
) -> None:
    """Subject codes repeat across studies: 01-001 of a second version of the protocol."""
    trial = build(study)
    text = PROTOCOL.read_text(encoding="utf-8").replace('version: "1.0"', 'version: "1.0-b"')
    (tmp_path / "KNEE-TEST.yaml").write_text(text, encoding="utf-8")
    other = create_study(tmp_path / "KNEE-TEST.yaml", OPERATOR)
    add_site(other, "01", OPERATOR)
    add_user(other, "ines", "investigator", OPERATOR)
    namesake = Subject.objects.get(study=other, code=screen_and_consent(other))
    assert namesake.code == trial.a
    record = vitals(trial.a)
    sql("UPDATE store_formrecord SET subject_id = %s WHERE id = %s", [namesake.pk, record.pk])
    assert first_problem() == (
        f'FormRecord {record.pk} (subject {trial.a}): study is "KNEE-TEST v1.0-b" in the store '
        'but "KNEE-TEST v1.0" in the audit trail'
    )


@pytest.mark.django_db
def test_a_rechaining_with_the_key_is_caught_by_a_checkpoint_taken_before(
    study: Any, tmp_path: Path
) -> None:
    build(study)
    runner = CliRunner()
    checkpoint = tmp_path / "checkpoint.json"
    made = runner.invoke(app, ["audit", "checkpoint", "--out", str(checkpoint)])
    assert made.exit_code == 0, made.output
    document = json.loads(checkpoint.read_text())
    head = AuditHead.objects.get()
    assert (document["seq"], document["hash"]) == (head.seq, head.hash)
    held = runner.invoke(app, ["audit", "verify", "--checkpoint", str(checkpoint)])
    assert held.exit_code == 0 and f"checkpoint of audit event {head.seq}" in held.output

    seq, _ = edit_height_everywhere()
    rechain(seq, os.environ[AUDIT_KEY_VARIABLE].encode())  # whoever did this has the key
    assert verify_audit_chain().ok  # the chain alone cannot tell

    result = runner.invoke(app, ["audit", "verify", "--checkpoint", str(checkpoint)])
    assert result.exit_code == 1
    assert (
        f"error: audit event {head.seq}: its hash is not the one the checkpoint of audit event "
        f"{head.seq} ({document['time']}) records: the trail up to event {head.seq} was "
        "rewritten"
    ) in result.output


@pytest.mark.django_db
def test_a_changed_checkpoint_fails_its_signature(study: Any, tmp_path: Path) -> None:
    build(study)
    runner = CliRunner()
    made = runner.invoke(app, ["audit", "checkpoint"])
    assert made.exit_code == 0, made.output
    document = json.loads(made.stdout)
    # An insider who rewrote history makes the checkpoint point at the rewritten hash.
    document["hash"] = AuditEvent.objects.get(seq=document["seq"] - 1).hash
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(document))
    result = runner.invoke(app, ["audit", "verify", "--checkpoint", str(forged)])
    assert result.exit_code == 1
    assert (
        f"error: checkpoint of audit event {document['seq']} ({document['time']}): its "
        "signature does not verify with this audit key"
    ) in result.output


def test_checkpoint_signature_is_hmac_sha256_of_the_other_fields() -> None:
    key = b"k" * 32
    document = make_checkpoint(
        seq=7, hash="a" * 64, time=dt.datetime(2024, 3, 1, 13, 0, tzinfo=CET),
        store="sqlite:trialdesk.sqlite3", studies=["KNEE-TEST v1.0"], key=key,
    )  # fmt: skip
    assert document["time"] == "2024-03-01T12:00:00+00:00"
    signed = (
        '{"format":"trialdesk audit checkpoint 1","hash":"' + "a" * 64 + '","seq":7,'
        '"store":"sqlite:trialdesk.sqlite3","studies":["KNEE-TEST v1.0"],'
        '"time":"2024-03-01T12:00:00+00:00"}'
    )
    expected = hmac.new(key, b"trialdesk audit checkpoint\n" + signed.encode(), "sha256")
    assert document["signature"] == expected.hexdigest()
    assert parse_checkpoint(json.dumps(document), "cp.json") == document
    with pytest.raises(BadInput, match="cp.json: seq -1; expected an event number"):
        parse_checkpoint(json.dumps({**document, "seq": -1}), "cp.json")


# ---------------------------------------------------------------- the key


@pytest.mark.django_db
def test_event_hashes_are_hmac_sha256_with_the_audit_key(study: Any) -> None:
    """The study's first event, hashed by hand as docs/store.md describes it."""
    event = AuditEvent.objects.get(seq=1)
    content = (
        '{"action":"study.created","at":"' + event.at.isoformat(timespec="microseconds") + '",'
        '"by":"operator:tests","field":"' + event.field + '","new_value":'
        + json.dumps(event.new_value) + ',"object_id":"' + event.object_id + '",'
        '"object_type":"Study","old_value":"null","previous_hash":"' + "0" * 64 + '",'
        '"reason":"","seq":1,"study":"KNEE-TEST v1.0","subject":""}'
    )  # fmt: skip
    key = os.environ[AUDIT_KEY_VARIABLE].encode()  # text, not 64 hex digits: its UTF-8 bytes
    assert event.hash == hmac.new(key, content.encode(), hashlib.sha256).hexdigest()
    assert event.hash != hashlib.sha256(content.encode()).hexdigest()


@pytest.mark.django_db
def test_verifying_with_another_key_names_the_first_event(
    study: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(AUDIT_KEY_VARIABLE, WRONG_KEY.decode())
    result = CliRunner().invoke(app, ["audit", "verify"])
    assert result.exit_code == 1
    assert (
        "error: audit event 1: the audit trail does not verify with this audit key "
        f"({AUDIT_KEY_VARIABLE}): no event's hash matches it"
    ) in result.output


@pytest.mark.django_db
def test_verifying_without_a_key_says_so_and_makes_none(
    study: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(AUDIT_KEY_VARIABLE)
    monkeypatch.setattr(settings, "TRIALDESK_HOME", tmp_path)
    assert verify_audit_chain().problems[0] == (
        f"audit event 1: cannot be checked: there is no audit key here "
        f"({tmp_path / 'audit_key'} is missing); verify where the trail's key is"
    )
    assert not (tmp_path / "audit_key").exists()


def test_the_key_file_is_made_once_private(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(AUDIT_KEY_VARIABLE)
    monkeypatch.setattr(settings, "TRIALDESK_HOME", tmp_path / "home")
    key = audit_key()
    path = tmp_path / "home" / "audit_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert key == bytes.fromhex(path.read_text().strip()) and len(key) == 32
    assert audit_key() == key and audit_key(create=False) == key
    assert os.listdir(tmp_path / "home") == ["audit_key"]  # no draft left behind


def test_a_key_file_others_can_read_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(AUDIT_KEY_VARIABLE)
    monkeypatch.setattr(settings, "TRIALDESK_HOME", tmp_path)
    (tmp_path / "audit_key").write_text("ab" * 32)
    (tmp_path / "audit_key").chmod(0o644)
    with pytest.raises(BadInput, match="the audit key file has mode 0644; expected 0600"):
        audit_key()


def test_key_text_rules() -> None:
    assert parse_audit_key("00ff" * 16, "v") == bytes([0, 255] * 16)  # 64 hex digits
    assert parse_audit_key(" " + "x" * 32 + "\n", "v") == b"x" * 32  # text, 32 bytes
    assert parse_audit_key("ab" * 20, "v") == b"ab" * 20  # 40 hex digits: too few, so text
    with pytest.raises(BadInput, match="v: the audit key is 31 bytes; expected at least 32"):
        parse_audit_key("y" * 31, "v")
