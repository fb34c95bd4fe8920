"""Investigators' electronic signatures of a visit or a subject's casebook (21 CFR 11.50,
11.70, 11.100, 11.200)."""

from __future__ import annotations

from django.db.models import Q

from trialdesk.store.audit import AuditTrail, audited_state
from trialdesk.store.models import Signature, Subject


def break_signatures(trail: AuditTrail, subject: Subject, visit_id: str, what: str) -> None:
    """A change to signed data (`what`) breaks the signature of its visit and of the
    subject's casebook; each broken signature keeps what broke it, audited."""
    covering = Q(visit_id="") | Q(visit_id=visit_id)
    for signature in Signature.objects.filter(
        covering, subject=subject, broken_at__isnull=True
    ).select_related("signer"):
        signature.subject = subject
        before = audited_state(signature)
        signature.broken_at = trail.at
        signature.broken_by = f"{what} by {trail.by}"
        signature.save(update_fields=["broken_at", "broken_by"])
        trail.changed(signature, before, "signature.broken")
