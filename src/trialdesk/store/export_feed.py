"""The store's side of the exports: an `ExportSource` read through the access policy.

The rows are the reader's (`extract_study`), so a blinded reader's export has no arm; the
audit trail is the reader's events (`Access.audit_events()`), which keeps blinded fields out.
"""

from __future__ import annotations

from django.utils import timezone

from trialdesk.exchange.source import ExportSource
from trialdesk.store.access import Access
from trialdesk.store.extract import extract_study

AUDIT_FIELDS = (
    "seq",
    "at",
    "by",
    "action",
    "subject",
    "object_type",
    "object_id",
    "field",
    "old_value",
    "new_value",
    "reason",
)


def export_source(access: Access) -> ExportSource:
    """The study as `access`'s user may see it, for any exporter."""
    return ExportSource(
        protocol=access.study.protocol(),
        extract=extract_study(access),
        audit=tuple(access.audit_events().order_by("seq").values(*AUDIT_FIELDS)),
        blinded=not access.may_see_results_by_arm,
        exported_by=access.user.username,
        exported_at=timezone.now(),
    )
