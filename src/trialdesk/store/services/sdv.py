"""Source data verification: per item and per form, reset when a verified value changes."""

from __future__ import annotations

from collections.abc import Iterable

from trialdesk.store.audit import AuditTrail, audited_state
from trialdesk.store.models import FormRecord, ItemVerification


def reset_verifications(trail: AuditTrail, record: FormRecord, items: Iterable[str]) -> None:
    """The verification of each changed item of `record` no longer holds: it is reset,
    audited, and the item needs verifying again."""
    for verification in ItemVerification.objects.filter(
        record=record, item__in=list(items), reset_at__isnull=True
    ).select_related("verified_by"):
        verification.subject = record.subject
        before = audited_state(verification)
        verification.reset_at = trail.at
        verification.save(update_fields=["reset_at"])
        trail.changed(verification, before, "sdv.reset")
