"""The audit trail: hash-chained events written with every change, and their verification.

A write opens `audited_write(by)`: one transaction that first locks the audit head (so events
get one total order, on PostgreSQL as on SQLite), then lets the service record what it
created or changed. Each audited field becomes one event (old value, new value, reason); the
events are chained by HMAC-SHA256 with the audit key (`audit_key`: a secret outside the
database, so whoever can write the database cannot re-chain it) and appended when the
service's work is done, in the same transaction.

`verify_audit_chain()` recomputes the chain and replays the events to the state they describe,
then compares that with the tables: a value changed behind the services' back, a row without
events or an audited row that disappeared are named, as is any event that no longer matches
its hash. What an event records is the object's `audited_state`: plain fields and what the
record belongs to (its subject, visit, site, study), so a record moved elsewhere is named;
never an arm (the trail is read by blinded roles): the allocation list is covered by a digest
instead. Signed checkpoints of the head (`trialdesk.store.checkpoint`) catch a re-chaining of
history by someone who got the key later.
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import hashlib
import hmac
import json
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from trialdesk.errors import TrialdeskError
from trialdesk.records.adverse_event import ADVERSE_EVENT
from trialdesk.store.audit_key import audit_key, audit_key_source
from trialdesk.store.models import (
    AdverseEvent,
    Allocation,
    AllocationList,
    AllocationSlot,
    ApiToken,
    AuditEvent,
    AuditHead,
    Consent,
    Deviation,
    EligibilityRecord,
    FormRecord,
    ItemVerification,
    Kit,
    PatientAnswer,
    PatientLink,
    Query,
    QueryMessage,
    RecordLock,
    RoleAssignment,
    Signature,
    Site,
    Stratum,
    Study,
    StudyUser,
    Subject,
    UnblindedOutput,
    UnblindingEvent,
    Visit,
)

GENESIS_HASH = "0" * 64
HEAD_ID = 1


def canonical_json(value: Any) -> str:
    """The one JSON text of a value: sorted keys, no spaces, dates in ISO 8601."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_iso
    )


def _iso(value: Any) -> str:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def study_label(study: Study) -> str:
    return f"{study.protocol_id} v{study.version}"


# ---------------------------------------------------------------- what is audited


def allocation_list_digest(allocation_list: AllocationList) -> str:
    """SHA-256 of the seed, every slot and every kit's arm and reservation.

    The trail keeps only this digest: it proves the unblinded list unchanged without
    showing an arm to anyone who reads the trail.
    """
    slots = AllocationSlot.objects.filter(stratum__study_id=allocation_list.study_id)
    kits = Kit.objects.filter(study_id=allocation_list.study_id)
    document = {
        "seed": allocation_list.seed,
        "slots": [
            list(row)
            for row in slots.order_by("stratum__number", "seq").values_list(
                "stratum__key", "seq", "arm", "block", "block_size"
            )
        ],
        "kits": [
            list(row)
            for row in kits.order_by("kit_number").values_list(
                "kit_number", "arm", "slot__stratum__key", "slot__seq", "administration_index"
            )
        ],
    }
    return sha256_hex(canonical_json(document))


def _study_state(study: Study) -> dict[str, Any]:
    return {
        "protocol_id": study.protocol_id,
        "version": study.version,
        "protocol_sha256": sha256_hex(study.protocol_yaml),
        "locked": study.locked,
        "reopened_after_lock": study.reopened_after_lock,
        "created_at": study.created_at,
    }


def _study_of(obj: Any, via: Any = None) -> str:
    """The label of the study a record belongs to (its `study` foreign key).

    The study comes from the record, or from `via` (another record of the same study, e.g.
    the subject a kit went to) when either holds it already (the service or `select_related`
    gave it); otherwise it is fetched once without its protocol text and kept on the record.
    """
    for holder in (obj, via):
        if (
            holder is not None
            and holder.study_id == obj.study_id
            and type(holder)._meta.get_field("study").is_cached(holder)
        ):
            return study_label(holder.study)
    obj.study = Study.objects.only("protocol_id", "version").get(pk=obj.study_id)
    return study_label(obj.study)


def _site_of(obj: Any) -> str | None:
    """The site's code; a site of another study (only by tampering) also names its study."""
    site = obj.site
    if site is None:
        return None
    if site.study_id == obj.study_id:
        return site.code
    return f"{_study_of(site)}/{site.code}"


def _subject_of(obj: Any) -> str:
    return obj.subject.code


def _visit_of(obj: Any) -> str | None:
    """The visit's id; a visit of another subject (only by tampering) also names its subject."""
    visit = obj.visit
    if visit is None:
        return None
    if visit.subject_id == obj.subject_id:
        return visit.visit_id
    return f"{visit.subject.code}/{visit.visit_id}"


def _form_state(record: FormRecord) -> dict[str, Any]:
    state = {"subject": _subject_of(record), "visit": _visit_of(record), "form": record.form}
    state.update({f"values.{item}": value for item, value in record.values.items()})
    state.update({f"scores.{score}": value for score, value in record.scores.items()})
    state["completed_at"] = record.completed_at
    return state


def _allocation_list_state(allocation_list: AllocationList) -> dict[str, Any]:
    study_id = allocation_list.study_id
    return {
        "study": _study_of(allocation_list),
        "algorithm": allocation_list.algorithm,
        "algorithm_version": allocation_list.algorithm_version,
        "block_sizes": allocation_list.block_sizes,
        "slots_per_stratum": allocation_list.slots_per_stratum,
        "kits_per_subject": allocation_list.kits_per_subject,
        "strata": Stratum.objects.filter(study_id=study_id).count(),
        "slots": AllocationSlot.objects.filter(stratum__study_id=study_id).count(),
        "kits": Kit.objects.filter(study_id=study_id).count(),
        "list_sha256": allocation_list_digest(allocation_list),
    }


def _allocation_state(allocation: Allocation) -> dict[str, Any]:
    stratum = allocation.slot.stratum
    return {
        "subject": _subject_of(allocation),
        "randomization_number": allocation.randomization_number,
        "stratum": stratum.key
        if stratum.study_id == allocation.subject.study_id
        else f"{_study_of(stratum)}/{stratum.key}",
        "seq": allocation.slot.seq,
        "allocated_at": allocation.allocated_at,
    }


def _kit_state(kit: Kit) -> dict[str, Any]:
    """A dispensed kit: to whom, when, and its study and slot (which the subject's allocation
    already names, so they tell nothing about the arm). A kit in stock has no audited state:
    the allocation list's digest covers it, arm included."""
    if kit.dispensed_to is None:
        return {
            "administration_id": kit.administration_id or None,
            "administered_on": kit.administered_on,
        }
    slot = kit.slot
    return {
        "study": _study_of(kit, kit.dispensed_to),
        "dispensed_to": kit.dispensed_to.code,
        "administration_id": kit.administration_id or None,
        "administered_on": kit.administered_on,
        "kit_number": kit.kit_number,
        "stratum": slot.stratum.key if slot else None,
        "seq": slot.seq if slot else None,
    }


@dataclass(frozen=True)
class Audited:
    """How one model is audited: its fields as the trail records them, and its subject.

    `related` is what verification selects with the rows (`select_related`); a study comes
    without its protocol text.
    """

    state: Callable[[Any], dict[str, Any]]
    subject: Callable[[Any], str | None]
    related: tuple[str, ...] = ()

    @property
    def of_subject(self) -> bool:
        """A record of one subject: its study is its subject's, which verification compares
        with the study its events were written in (subject codes repeat across studies)."""
        return self.subject is _subject_of


def _no_subject(obj: Any) -> None:
    return None


AUDITED: dict[type[models.Model], Audited] = {
    Study: Audited(_study_state, _no_subject),
    Site: Audited(
        lambda site: {"study": _study_of(site), "code": site.code, "name": site.name},
        _no_subject,
        ("study",),
    ),
    StudyUser: Audited(
        lambda user: {
            "username": user.username,
            "created_at": user.created_at,
            "deactivated_at": user.deactivated_at,
            "password_set_at": user.password_set_at,
            "totp_confirmed_at": user.totp_confirmed_at,
            "full_name": user.full_name or None,
        },
        _no_subject,
    ),
    RoleAssignment: Audited(
        lambda assignment: {
            "study": _study_of(assignment),
            "user": assignment.user.username,
            "role": assignment.role,
            "site": _site_of(assignment),
            "revoked_at": assignment.revoked_at,
        },
        _no_subject,
        ("user", "site", "study"),
    ),
    Subject: Audited(
        lambda subject: {
            "study": _study_of(subject),
            "code": subject.code,
            "site": _site_of(subject),
            "status": subject.status,
            "year_of_birth": subject.year_of_birth,
            "age_at_screening": subject.age_at_screening,
            "sex": subject.sex,
            "screened_on": subject.screened_on,
            "day0": subject.day0,
        },
        lambda subject: subject.code,
        ("site", "study"),
    ),
    Consent: Audited(
        lambda consent: {
            "subject": _subject_of(consent),
            "consent_version": consent.consent_version,
            "consented_on": consent.consented_on,
        },
        _subject_of,
        ("subject",),
    ),
    EligibilityRecord: Audited(
        lambda record: {
            "subject": _subject_of(record),
            "verdict": record.verdict,
            "items": record.items,
            "attestations": record.attestations,
            "criteria": record.criteria,
            "evaluated_at": record.evaluated_at,
        },
        _subject_of,
        ("subject",),
    ),
    AllocationList: Audited(_allocation_list_state, _no_subject, ("study",)),
    Allocation: Audited(_allocation_state, _subject_of, ("subject", "slot__stratum")),
    Kit: Audited(
        _kit_state,
        lambda kit: kit.dispensed_to.code if kit.dispensed_to else None,
        ("dispensed_to", "slot__stratum", "study"),
    ),
    Visit: Audited(
        lambda visit: {
            "subject": _subject_of(visit),
            "visit_id": visit.visit_id,
            "target_date": visit.target_date,
            "window_start": visit.window_start,
            "window_end": visit.window_end,
            "status": visit.status,
            "actual_date": visit.actual_date,
            "missed_reason": visit.missed_reason or None,
        },
        _subject_of,
        ("subject",),
    ),
    FormRecord: Audited(_form_state, _subject_of, ("subject", "visit")),
    UnblindingEvent: Audited(
        lambda event: {
            "subject": _subject_of(event),
            "user": event.user.username,
            "reason": event.reason,
            "unblinded_at": event.unblinded_at,
        },
        _subject_of,
        ("subject", "user"),
    ),
    UnblindedOutput: Audited(
        lambda output: {
            "study": _study_of(output),
            "user": output.user.username,
            "what": output.what,
            "input_sha256": output.input_sha256,
            "produced_at": output.produced_at,
        },
        _no_subject,
        ("study", "user"),
    ),
    AdverseEvent: Audited(
        lambda event: {
            "subject": _subject_of(event),
            **{name: getattr(event, name) for name in ADVERSE_EVENT.names},
        },
        _subject_of,
        ("subject",),
    ),
    Deviation: Audited(
        lambda deviation: {
            "subject": _subject_of(deviation),
            "visit": _visit_of(deviation),
            "kind": deviation.kind,
            "description": deviation.description,
            "detected_on": deviation.detected_on,
            "automatic": deviation.automatic,
            "withdrawn_on": deviation.withdrawn_on,
        },
        _subject_of,
        ("subject", "visit"),
    ),
    Query: Audited(
        lambda query: {
            "subject": _subject_of(query),
            "number": query.number,
            "visit_id": query.visit_id or None,
            "form": query.form or None,
            "item": query.item or None,
            "status": query.status,
            "origin": query.origin,
            "rule": query.rule or None,
            "opened_by": query.opened_by.username if query.opened_by else None,
            "opened_at": query.opened_at,
            "closed_at": query.closed_at,
        },
        _subject_of,
        ("subject", "opened_by"),
    ),
    QueryMessage: Audited(
        lambda message: {
            "subject": _subject_of(message),
            "query": message.query.number,
            "action": message.action,
            "text": message.text,
            "by": message.by.username if message.by else None,
            "at": message.at,
        },
        _subject_of,
        ("subject", "query", "by"),
    ),
    ItemVerification: Audited(
        lambda verification: {
            "subject": _subject_of(verification),
            "record": verification.record_id,
            "item": verification.item,
            "value": verification.value,
            "verified_by": verification.verified_by.username,
            "verified_at": verification.verified_at,
            "reset_at": verification.reset_at,
        },
        _subject_of,
        ("subject", "verified_by"),
    ),
    Signature: Audited(
        lambda signature: {
            "subject": _subject_of(signature),
            "visit_id": signature.visit_id or None,
            "signer": signature.signer.username,
            "printed_name": signature.printed_name,
            "meaning": signature.meaning,
            "signed_at": signature.signed_at,
            "content_sha256": signature.content_sha256,
            "broken_at": signature.broken_at,
            "broken_by": signature.broken_by or None,
        },
        _subject_of,
        ("subject", "signer"),
    ),
    RecordLock: Audited(
        lambda lock: {
            "subject": _subject_of(lock),
            "level": lock.level,
            "visit_id": lock.visit_id or None,
            "form": lock.form or None,
            "locked_by": lock.locked_by.username,
            "locked_at": lock.locked_at,
            "reason": lock.reason or None,
            "unlocked_by": lock.unlocked_by.username if lock.unlocked_by else None,
            "unlocked_at": lock.unlocked_at,
            "unlock_reason": lock.unlock_reason or None,
        },
        _subject_of,
        ("subject", "locked_by", "unlocked_by"),
    ),
    # A patient's link: the token's SHA-256 (of 256 random bits), never the token; whether a
    # contact address is sealed with it, never the address (no personal data in the trail).
    PatientLink: Audited(
        lambda link: {
            "subject": _subject_of(link),
            "token_sha256": link.token_sha256,
            "language": link.language,
            "time_zone": link.time_zone,
            "email_sealed": bool(link.sealed_email),
            "created_by": link.created_by.username,
            "created_at": link.created_at,
            "revoked_by": link.revoked_by.username if link.revoked_by else None,
            "revoked_at": link.revoked_at,
        },
        _subject_of,
        ("subject", "created_by", "revoked_by"),
    ),
    PatientAnswer: Audited(
        lambda answer: {
            "subject": _subject_of(answer),
            "link": answer.link_id,
            "schedule": answer.schedule,
            "day": answer.day,
            "item": answer.item,
            "value": answer.value,
            "authored_at": answer.authored_at,
            "received_at": answer.received_at,
            "late": answer.late,
        },
        _subject_of,
        ("subject",),
    ),
    # The token itself is never kept: its prefix tells tokens apart in the trail, and its
    # SHA-256 (of 256 random bits: no way back to the token) proves the stored hash unchanged.
    ApiToken: Audited(
        lambda token: {
            "user": token.user.username,
            "prefix": token.prefix,
            "key_sha256": token.key_sha256,
            "created_at": token.created_at,
            "revoked_at": token.revoked_at,
        },
        _no_subject,
        ("user",),
    ),
}


def audited_state(obj: models.Model) -> dict[str, str]:
    """The object's audited fields as canonical JSON texts; None values are left out."""
    state = AUDITED[type(obj)].state(obj)
    return {name: canonical_json(value) for name, value in state.items() if value is not None}


# ---------------------------------------------------------------- writing


def event_content(event: AuditEvent) -> str:
    """The canonical JSON of everything in the event except its own hash."""
    content = {
        "seq": event.seq,
        "at": event.at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "by": event.by,
        "action": event.action,
        "study": event.study,
        "subject": event.subject,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "field": event.field,
        "old_value": event.old_value,
        "new_value": event.new_value,
        "reason": event.reason,
        "previous_hash": event.previous_hash,
    }
    return canonical_json(content)


def event_hash(event: AuditEvent, key: bytes | None = None) -> str:
    """HMAC-SHA256, keyed with the audit key (this process's unless given), of
    `event_content`: without the key nobody can compute the hash of a changed event."""
    mac = _keyed_mac(key if key is not None else _writer_key()).copy()
    mac.update(event_content(event).encode("utf-8"))
    return mac.hexdigest()


@lru_cache(maxsize=4)
def _keyed_mac(key: bytes) -> Any:
    """HMAC-SHA256 with this key and nothing hashed yet: copied per event, so the key's
    schedule is computed once."""
    return hmac.new(key, digestmod=hashlib.sha256)


def _writer_key() -> bytes:
    key = audit_key()
    assert key is not None  # made on first need
    return key


@dataclass
class AuditTrail:
    """The events of one write transaction, chained onto the locked head."""

    by: str
    head: AuditHead
    study: str = ""
    at: dt.datetime = field(default_factory=timezone.now)
    events: list[AuditEvent] = field(default_factory=list)
    key: bytes = field(default_factory=_writer_key, repr=False)

    def created(self, obj: models.Model, action: str, reason: str = "") -> None:
        """One event per audited field of a new object (old value: none)."""
        self.changed(obj, {}, action, reason)

    def changed(
        self, obj: models.Model, before: dict[str, str], action: str, reason: str = ""
    ) -> None:
        """One event per audited field that differs from `before` (an `audited_state`)."""
        after = audited_state(obj)
        subject = AUDITED[type(obj)].subject(obj) or ""
        for name in sorted(before.keys() | after.keys()):
            old, new = before.get(name, "null"), after.get(name, "null")
            if old != new:
                self._append(action, subject, obj, name, old, new, reason)

    def _append(
        self,
        action: str,
        subject: str,
        obj: models.Model,
        name: str,
        old: str,
        new: str,
        reason: str,
    ) -> None:
        previous = self.events[-1] if self.events else None
        event = AuditEvent(
            seq=(previous.seq if previous else self.head.seq) + 1,
            at=self.at,
            by=self.by,
            action=action,
            study=self.study,
            subject=subject,
            object_type=type(obj).__name__,
            object_id=str(obj.pk),
            field=name,
            old_value=old,
            new_value=new,
            reason=reason,
            previous_hash=previous.hash if previous else self.head.hash,
        )
        event.hash = event_hash(event, self.key)
        self.events.append(event)

    def append(self) -> None:
        """Write the events and move the head to the last one."""
        if not self.events:
            return
        AuditEvent.objects.bulk_create(self.events)
        self.head.seq = self.events[-1].seq
        self.head.hash = self.events[-1].hash
        self.head.save(update_fields=["seq", "hash"])


def _locked_head() -> AuditHead:
    head = AuditHead.objects.select_for_update().filter(pk=HEAD_ID).first()
    if head is None:
        # Concurrent first writers: one inserts, the others' inserts are ignored.
        AuditHead.objects.bulk_create(
            [AuditHead(pk=HEAD_ID, seq=0, hash=GENESIS_HASH)], ignore_conflicts=True
        )
        head = AuditHead.objects.select_for_update().get(pk=HEAD_ID)
    return head


@contextmanager
def audited_write(by: str, study: Study | None = None) -> Iterator[AuditTrail]:
    """One write transaction with its audit trail; the events are appended on success.

    The head is locked first, before any other row, so writers always take locks in the same
    order and never deadlock.
    """
    if not by:
        raise ValueError("an audited write needs the user who makes it")
    key = _writer_key()  # read (or made) before the write lock is taken
    with _write_turn(), transaction.atomic():
        trail = AuditTrail(by, _locked_head(), study_label(study) if study else "", key=key)
        yield trail
        trail.append()


@contextmanager
def _write_turn() -> Iterator[None]:
    """On SQLite, wait for the write lock in the kernel, not in SQLite's busy handler.

    A writer that finds SQLite locked sleeps for growing intervals (up to 100 ms) before it
    tries again, so under contention the database sits idle between short transactions. An
    exclusive `flock` on a file beside the database queues the writers of every process and
    thread and wakes the next one as soon as the lock is released. PostgreSQL queues row locks
    itself; an in-memory database has no file to lock and no other process.
    """
    name = str(connection.settings_dict["NAME"])
    if connection.vendor != "sqlite" or name == ":memory:" or name.startswith("file:"):
        yield
        return
    lock = _open_write_lock(f"{name}.write-lock")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    finally:
        os.close(lock)


def _open_write_lock(path: str) -> int:
    """The write-lock file beside the database, 0600, never through a symbolic link: whoever
    could plant one (or open the file) could otherwise make every writer wait on a file of
    theirs. The store folder being 0700, only its owner can put anything there."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        lock = os.open(path, flags, 0o600)
    except OSError as error:
        why = "a symbolic link" if error.errno == errno.ELOOP else error.strerror
        raise TrialdeskError(
            f"cannot open the write-lock file {path} ({why}); expected a regular file of "
            "this user beside the database (remove what is there)"
        ) from None
    if not stat.S_ISREG(os.fstat(lock).st_mode):
        os.close(lock)
        raise TrialdeskError(
            f"the write-lock file {path} is not a regular file; expected a regular file of "
            "this user beside the database (remove what is there)"
        )
    return lock


# ---------------------------------------------------------------- verification


@dataclass(frozen=True)
class AuditVerification:
    """The result of `verify_audit_chain`: counts and every problem found, first first."""

    events: int
    objects: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_audit_chain(key: bytes | None = None) -> AuditVerification:
    """Recompute the hash chain, then compare the audited tables with the replayed events.

    The hashes are checked with `key`, by default this process's audit key; verification
    never makes a key: without one, the trail is reported as not verifiable here.
    """
    if key is None:
        key = audit_key(create=False)
    problems: list[str] = []
    replayed: dict[tuple[str, str], dict[str, str]] = {}
    previous_hash, expected_seq, count, matching = GENESIS_HASH, 1, 0, 0
    first_seq: int | None = None
    chain_problem: str | None = None
    written_in: dict[tuple[str, str], str] = {}  # the study of each record's last event
    for event in AuditEvent.objects.order_by("seq").iterator(chunk_size=2000):
        count += 1
        if first_seq is None:
            first_seq = event.seq
        hash_matches = key is None or event_hash(event, key) == event.hash
        matching += hash_matches
        if chain_problem is None:
            chain_problem = _chain_problem(event, expected_seq, previous_hash, hash_matches)
        previous_hash, expected_seq = event.hash, event.seq + 1
        fields = replayed.setdefault((event.object_type, event.object_id), {})
        written_in[event.object_type, event.object_id] = event.study
        if event.new_value == "null":
            fields.pop(event.field, None)
        else:
            fields[event.field] = event.new_value
    if count and key is None:
        problems.append(
            f"audit event {first_seq}: cannot be checked: there is no audit key here "
            f"({audit_key_source()} is missing); verify where the trail's key is"
        )
    elif count and not matching:
        problems.append(
            f"audit event {first_seq}: the audit trail does not verify with this audit key "
            f"({audit_key_source()}): no event's hash matches it; the key is not the one the "
            "trail was written with, or the whole trail was rewritten"
        )
        chain_problem = None  # the first event's, said above
    if chain_problem:
        problems.append(chain_problem)
    head = AuditHead.objects.filter(pk=HEAD_ID).first()
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS_HASH)
    if chain_problem is None:
        problem = _head_problem(expected_seq - 1, previous_hash, head_seq, head_hash)
        if problem:
            problems.append(problem)
    objects = 0
    labels = {
        study.pk: study_label(study) for study in Study.objects.only("protocol_id", "version")
    }
    for model, audited in AUDITED.items():
        rows = model.objects.select_related(*audited.related)
        if "study" in audited.related:
            rows = rows.defer("study__protocol_yaml")
        for obj in rows.order_by("pk").iterator():
            key_of = (model.__name__, str(obj.pk))
            current, expected = audited_state(obj), replayed.pop(key_of, {})
            if current or expected:
                objects += 1
            if audited.of_subject and expected:
                current["study"] = canonical_json(labels.get(obj.subject.study_id))
                expected["study"] = canonical_json(written_in.get(key_of))
            problem = _state_problem(obj, audited, current, expected)
            if problem:
                problems.append(problem)
    for (object_type, object_id), fields in sorted(replayed.items()):
        if fields:
            problems.append(f"{object_type} {object_id} is in the audit trail but not in the store")
    return AuditVerification(count, objects, tuple(problems))


def _chain_problem(
    event: AuditEvent, expected_seq: int, previous_hash: str, hash_matches: bool
) -> str | None:
    if event.seq != expected_seq:
        missing = (
            f"event {expected_seq} is missing"
            if event.seq == expected_seq + 1
            else f"events {expected_seq}..{event.seq - 1} are missing"
        )
        return f"audit event {event.seq}: expected event {expected_seq} here; {missing}"
    if event.previous_hash != previous_hash:
        return f"audit event {event.seq}: its previous hash does not match event {event.seq - 1}"
    if not hash_matches:
        return f"audit event {event.seq}: its content does not match its hash (it was changed)"
    return None


def _head_problem(last_seq: int, last_hash: str, head_seq: int, head_hash: str) -> str | None:
    if head_seq != last_seq:
        return (
            f"the audit trail ends at event {last_seq} but its head records event "
            f"{head_seq}: events were removed from the end or the head was changed"
        )
    if head_hash != last_hash:
        return (
            f"the audit head records event {head_seq} with another hash than audit event "
            f"{last_seq} has: the head or the event was changed"
        )
    return None


def _state_problem(
    obj: models.Model, audited: Audited, current: dict[str, str], expected: dict[str, str]
) -> str | None:
    if current == expected:
        return None
    subject = audited.subject(obj)
    name = f"{type(obj).__name__} {obj.pk}" + (f" (subject {subject})" if subject else "")
    if not expected:
        return f"{name} has no audit event: it was written outside the services"
    for field_name in sorted(current.keys() | expected.keys()):
        now, then = current.get(field_name, "null"), expected.get(field_name, "null")
        if now != then:
            return f"{name}: {field_name} is {now} in the store but {then} in the audit trail"
    raise AssertionError("states differ in no field")
