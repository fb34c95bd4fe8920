"""What an investigator's electronic signature is of: the canonical content of a visit or of a
subject's casebook, and its SHA-256 (`Signature.content_sha256`).

The content is plain JSON, written with the audit trail's `canonical_json` (sorted keys, no
spaces, UTF-8) and hashed with SHA-256, so anyone can rebuild it from the records:

- a visit: ``{"study": "KNEE-TEST v1.0", "subject": "01-001", "visit": VISIT}`` where VISIT is
  ``{"visit_id", "status", "actual_date" (ISO date or null), "missed_reason" (text or null),
  "forms": [{"form", "values", "complete"}, ...]}`` with the forms in form-name order, `values`
  as stored (item -> value) and `complete` true once the form was marked complete;
- a casebook: ``{"study", "subject", "status", "visits": [VISIT, ...], "adverse_events":
  [AE, ...]}`` with the visits the store holds in visit-id order and the adverse events in
  number order, AE ``{"number", "term", "onset_date", "end_date", "ctcae_grade",
  "seriousness", "relatedness", "expected", "action_taken", "outcome", "awareness_at",
  "reported_at"}`` (dates ISO, instants ISO 8601 in UTC with microseconds).

Scores are left out: they are computed from the values. Every change to these data goes
through `services.record_changes.data_changed`, which breaks the signatures over them; a
signature whose stored hash no longer matches the recomputed one (`content_sha256`) shows a
change made behind the services' back.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from trialdesk.store.audit import canonical_json, sha256_hex, study_label
from trialdesk.store.models import AdverseEvent, FormRecord, Subject, Visit


def _instant(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds") if value else None


def _visit(visit: Visit, forms: list[FormRecord]) -> dict[str, Any]:
    return {
        "visit_id": visit.visit_id,
        "status": visit.status,
        "actual_date": visit.actual_date.isoformat() if visit.actual_date else None,
        "missed_reason": visit.missed_reason or None,
        "forms": [
            {"form": record.form, "values": record.values, "complete": bool(record.completed_at)}
            for record in sorted(forms, key=lambda record: record.form)
        ],
    }


def _forms_by_visit(subject: Subject, visit_id: str | None = None) -> dict[int, list[FormRecord]]:
    records = FormRecord.objects.filter(subject=subject).only(
        "visit_id", "form", "values", "completed_at"
    )
    if visit_id is not None:
        records = records.filter(visit__visit_id=visit_id)
    by_visit: dict[int, list[FormRecord]] = {}
    for record in records:
        by_visit.setdefault(record.visit_id, []).append(record)
    return by_visit


def visit_content(subject: Subject, visit_id: str) -> dict[str, Any]:
    """The signed content of the subject's visit `visit_id` (which the store must hold)."""
    visit = Visit.objects.get(subject=subject, visit_id=visit_id)
    forms = _forms_by_visit(subject, visit_id).get(visit.pk, [])
    return {
        "study": study_label(subject.study),
        "subject": subject.code,
        "visit": _visit(visit, forms),
    }


def casebook_content(subject: Subject) -> dict[str, Any]:
    """The signed content of the subject's whole casebook."""
    forms = _forms_by_visit(subject)
    visits = Visit.objects.filter(subject=subject).order_by("visit_id")
    events = AdverseEvent.objects.filter(subject=subject).order_by("number")
    return {
        "study": study_label(subject.study),
        "subject": subject.code,
        "status": subject.status,
        "visits": [_visit(visit, forms.get(visit.pk, [])) for visit in visits],
        "adverse_events": [
            {
                "number": event.number,
                "term": event.term,
                "onset_date": event.onset_date.isoformat(),
                "end_date": event.end_date.isoformat() if event.end_date else None,
                "ctcae_grade": event.ctcae_grade,
                "seriousness": event.seriousness,
                "relatedness": event.relatedness,
                "expected": event.expected,
                "action_taken": event.action_taken,
                "outcome": event.outcome,
                "awareness_at": _instant(event.awareness_at),
                "reported_at": _instant(event.reported_at),
            }
            for event in events
        ],
    }


def signed_content(subject: Subject, visit_id: str = "") -> dict[str, Any]:
    """The content a signature of the visit (`visit_id`) or of the casebook ("") covers."""
    return visit_content(subject, visit_id) if visit_id else casebook_content(subject)


def content_sha256(subject: Subject, visit_id: str = "") -> str:
    """SHA-256 of the canonical JSON of `signed_content`."""
    return sha256_hex(canonical_json(signed_content(subject, visit_id)))
