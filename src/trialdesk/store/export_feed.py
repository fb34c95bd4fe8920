"""The store's side of the exports: an `ExportSource` read through the access policy.

The rows are the reader's (`extract_study`), so a blinded reader's export has no arm; the
audit trail is the reader's events (`Access.audit_events()`), which keeps blinded fields out.
The subjects are read `BATCH_SUBJECTS` at a time, in code order, each batch with every row
and audit event of its subjects, so an export holds one batch in memory, not the study.
Whoever writes an export reads it in one snapshot (`trialdesk.store.exports`), so the
batches agree with each other.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import Min
from django.utils import timezone

from trialdesk.exchange.source import ExportSource, SourceBatch
from trialdesk.store.access import Access
from trialdesk.store.extract import (
    extract_study,
    readable_subjects,
    signature_rows,
    study_row,
    subject_rows,
)

#: Subjects a batch holds: a few thousand form records, some megabytes.
BATCH_SUBJECTS = 200

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


@dataclass(frozen=True)
class StoreBatches:
    """The reader's subjects, `size` at a time, each batch read when it is reached."""

    access: Access
    codes: tuple[str, ...]
    size: int

    def __call__(self) -> Iterator[SourceBatch]:
        for start in range(0, len(self.codes), self.size):
            codes = self.codes[start : start + self.size]
            subjects = readable_subjects(self.access).filter(code__in=codes)
            audit = (
                self.access.audit_events()
                .filter(subject__in=codes)
                .order_by("seq")
                .values(*AUDIT_FIELDS)
            )
            yield SourceBatch(extract_study(self.access, subjects), tuple(audit))


def export_source(access: Access, batch_subjects: int = BATCH_SUBJECTS) -> ExportSource:
    """The study as `access`'s user may see it, for any exporter."""
    readable = readable_subjects(access)
    subjects = subject_rows(readable.order_by("code"))
    users = access.audit_events().values("by").annotate(first=Min("seq")).order_by("first")
    return ExportSource(
        protocol=access.study.protocol(),
        study=study_row(access.study),
        subjects=subjects,
        users=tuple(row["by"] for row in users),
        signatures=signature_rows(readable),
        blinded=not access.may_see_results_by_arm,
        exported_by=access.user.username,
        exported_at=timezone.now(),
        read=StoreBatches(access, tuple(row["code"] for row in subjects), batch_subjects),
    )
