"""Signed checkpoints of the audit trail's head, to be kept in another system.

The keyed chain stops whoever can write the database but lacks the audit key. A checkpoint
also covers the case where someone later gets the key and re-chains history: it records the
head at one moment (sequence number, hash, UTC time, store and studies), signed with HMAC-SHA256
under the audit key. `trialdesk audit verify --checkpoint FILE` checks the signature and that
the trail still holds that event with that hash at that place; a rewrite of any event up to
it changes that hash. A checkpoint is no secret (hashes only, no clinical data), but it only
helps if it is kept where the database's users cannot change it: a copy in another system.

`make_checkpoint` and `checkpoint_problems` are pure; `take_checkpoint` and
`check_checkpoint` read the store (Django set up).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trialdesk.errors import BadInput, TrialdeskError

CHECKPOINT_FORMAT = "trialdesk audit checkpoint 1"
#: Put in front of what is signed, so a checkpoint's signature is never an event's hash.
_SIGNED_PREFIX = b"trialdesk audit checkpoint\n"
_FIELDS = ("format", "store", "studies", "seq", "hash", "time", "signature")
_HEX64 = re.compile(r"[0-9a-f]{64}")


def _canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def checkpoint_signature(document: dict[str, Any], key: bytes) -> str:
    """HMAC-SHA256 under `key` of every field of the checkpoint but its signature."""
    signed = {name: value for name, value in document.items() if name != "signature"}
    return hmac.new(key, _SIGNED_PREFIX + _canonical(signed), hashlib.sha256).hexdigest()


def make_checkpoint(
    *, seq: int, hash: str, time: dt.datetime, store: str, studies: list[str], key: bytes
) -> dict[str, Any]:
    """The signed checkpoint of the head (`seq`, `hash`) at `time` (made UTC)."""
    document: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "store": store,
        "studies": sorted(studies),
        "seq": seq,
        "hash": hash,
        "time": time.astimezone(dt.UTC).isoformat(timespec="seconds"),
    }
    document["signature"] = checkpoint_signature(document, key)
    return document


def checkpoint_problems(
    document: dict[str, Any],
    key: bytes,
    *,
    store: str,
    studies: list[str],
    hash_at: Callable[[int], str | None],
) -> list[str]:
    """What does not hold of a checkpoint now: its signature under `key`, its store, the
    event it records (`hash_at(seq)`: the trail's hash of event `seq`, None if there is
    none) and its studies. A checkpoint that fails its signature is checked no further."""
    seq, when = document["seq"], document["time"]
    name = f"checkpoint of audit event {seq} ({when})"
    if not hmac.compare_digest(checkpoint_signature(document, key), document["signature"]):
        return [
            f"{name}: its signature does not verify with this audit key: the checkpoint was "
            "changed, or signed with another key"
        ]
    if document["store"] != store:
        return [f"{name} is of store {document['store']}; this store is {store}"]
    problems = []
    if seq > 0:
        found = hash_at(seq)
        if found is None:
            problems.append(
                f"audit event {seq}: not in the trail, but the {name} records it: "
                "events were removed"
            )
        elif found != document["hash"]:
            problems.append(
                f"audit event {seq}: its hash is not the one the {name} records: the trail "
                f"up to event {seq} was rewritten"
            )
    for label in document["studies"]:
        if label not in studies:
            problems.append(f"study {label}: in the {name} but not in the store")
    return problems


def parse_checkpoint(text: str, where: str) -> dict[str, Any]:
    """A checkpoint document from its JSON text; refused, naming `where`, unless well formed."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise BadInput(
            f"{where}: not JSON ({error.msg} at line {error.lineno}); expected a checkpoint "
            "written by trialdesk audit checkpoint"
        ) from None
    if not isinstance(document, dict) or document.get("format") != CHECKPOINT_FORMAT:
        raise BadInput(f"{where}: not a trialdesk audit checkpoint (format {CHECKPOINT_FORMAT!r})")
    missing = [name for name in _FIELDS if name not in document]
    if missing:
        raise BadInput(f"{where}: the checkpoint has no {', '.join(missing)}")
    seq, studies = document["seq"], document["studies"]
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise BadInput(f"{where}: seq {seq!r}; expected an event number")
    for name in ("hash", "signature"):
        if not isinstance(document[name], str) or not _HEX64.fullmatch(document[name]):
            raise BadInput(f"{where}: {name} {document[name]!r}; expected 64 hex digits")
    if not isinstance(document["time"], str) or not isinstance(document["store"], str):
        raise BadInput(f"{where}: time and store must be text")
    if not isinstance(studies, list) or not all(isinstance(label, str) for label in studies):
        raise BadInput(f"{where}: studies {studies!r}; expected a list of study labels")
    return document


def read_checkpoint(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise BadInput(f"{path}: cannot read the checkpoint ({reason})") from None
    return parse_checkpoint(text, str(path))


# ---------------------------------------------------------------- on the store


def store_identity() -> str:
    """Which store this is: the database engine and name (not the host or folder, so a store
    moved or restored elsewhere keeps its checkpoints)."""
    from django.db import connection

    name = str(connection.settings_dict["NAME"])
    return f"{connection.vendor}:{Path(name).name if connection.vendor == 'sqlite' else name}"


def _study_labels() -> list[str]:
    from trialdesk.store.audit import study_label
    from trialdesk.store.models import Study

    return [study_label(study) for study in Study.objects.only("protocol_id", "version")]


def _key() -> bytes:
    from trialdesk.store.audit_key import audit_key, audit_key_source

    key = audit_key(create=False)
    if key is None:
        raise BadInput(f"no audit key here ({audit_key_source()} is missing)")
    return key


def take_checkpoint() -> dict[str, Any]:
    """The signed checkpoint of the head now; refused while the trail does not verify."""
    from trialdesk.store.audit import GENESIS_HASH, HEAD_ID, verify_audit_chain
    from trialdesk.store.models import AuditHead

    key = _key()
    # The head first: the verification that follows covers it, even if writes go on.
    head = AuditHead.objects.filter(pk=HEAD_ID).first()
    seq, hash_ = (head.seq, head.hash) if head else (0, GENESIS_HASH)
    verification = verify_audit_chain(key)
    if not verification.ok:
        raise TrialdeskError(
            f"the audit trail does not verify, so no checkpoint is signed: "
            f"{verification.problems[0]}"
        )
    return make_checkpoint(
        seq=seq,
        hash=hash_,
        time=dt.datetime.now(dt.UTC),
        store=store_identity(),
        studies=_study_labels(),
        key=key,
    )


def check_checkpoint(document: dict[str, Any]) -> list[str]:
    """`checkpoint_problems` of a checkpoint against this store's trail, with its key."""
    from trialdesk.store.audit_key import audit_key, audit_key_source
    from trialdesk.store.models import AuditEvent

    key = audit_key(create=False)
    if key is None:
        return [
            f"checkpoint of audit event {document['seq']} ({document['time']}): cannot be "
            f"checked: there is no audit key here ({audit_key_source()} is missing)"
        ]

    def hash_at(seq: int) -> str | None:
        return AuditEvent.objects.filter(seq=seq).values_list("hash", flat=True).first()

    return checkpoint_problems(
        document, key, store=store_identity(), studies=_study_labels(), hash_at=hash_at
    )
