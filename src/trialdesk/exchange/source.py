"""What every exporter reads: `ExportSource`, a study read in batches of subjects.

An export of 10,000 subjects must not hold the study in memory, so a writer reads the rows
batch by batch (`ExportSource.batches()`): each `SourceBatch` holds some subjects, every row
of theirs and their audit events, and the batches come in the order of the subjects' codes
(so in USUBJID order). What a writer needs before the first subject (ODM's AdminData, a
count) is in the source itself: `study`, `subjects` (one small row each), `users` and
`signatures`.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields, replace

from trialdesk.analysis.datasets import Row, StudyExtract
from trialdesk.protocol.model import Protocol

#: The tables of a `StudyExtract` that hold rows (all but `study`).
TABLES = tuple(f.name for f in fields(StudyExtract) if f.name != "study")


@dataclass(frozen=True)
class SourceBatch:
    """Some subjects with every row of theirs (`extract`) and their audit events (`audit`)."""

    extract: StudyExtract
    audit: tuple[Row, ...] = ()


@dataclass(frozen=True)
class StoredBatches:
    """Batches already read, for a source held in memory (tests, a small study)."""

    stored: tuple[SourceBatch, ...]

    def __call__(self) -> Iterator[SourceBatch]:
        return iter(self.stored)


@dataclass(frozen=True)
class ExportSource:
    """One study as one reader may see it.

    The extract tables are the store's (`trialdesk.store.extract.extract_study`): a reader who
    may not see results by arm has allocations with `arm` None, and then `blinded` is True.
    `study` is the extract's study row (`extracted_at` the time the rows were read),
    `subjects` every subject of the reader in code order (the rows of `StudyExtract.subjects`)
    `users` everyone who wrote the reader's audit trail, in the order they first did, and
    `signatures` every signature of the reader's subjects (broken ones too; the rows of
    `StudyExtract.signatures`), which are also in the batches.
    Audit rows have the keys seq, at, by, action, subject, object_type, object_id, field,
    old_value, new_value (JSON text) and reason, in `seq` order within a batch; events of no
    subject (the study's own) are not in any batch. `exported_by` is the user name,
    `exported_at` an aware datetime (UTC).

    `read` gives the batches anew on each call, so a writer may make more than one pass.
    """

    protocol: Protocol
    study: Row
    subjects: tuple[Row, ...]
    users: tuple[str, ...]
    signatures: tuple[Row, ...]
    blinded: bool
    exported_by: str
    exported_at: dt.datetime
    read: Callable[[], Iterator[SourceBatch]] = field(repr=False, compare=False)

    def batches(self) -> Iterator[SourceBatch]:
        """The subjects' rows, a batch at a time, in the order of the subjects' codes."""
        return self.read()

    def whole(self) -> SourceBatch:
        """Every batch as one (the whole study in memory: for tests and small studies)."""
        return merged(self.study, self.batches())

    def in_memory(self) -> ExportSource:
        """The same source with its batches read once and kept (picklable)."""
        return replace(self, read=StoredBatches(tuple(self.batches())))


def by_subject(rows: Iterable[Row]) -> dict[str, list[Row]]:
    """A batch's rows of one table by subject code, each subject's in the rows' order."""
    grouped: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        grouped[row["subject"]].append(row)
    return grouped


def merged(study: Row, batches: Iterable[SourceBatch]) -> SourceBatch:
    """The batches' tables and audit events concatenated, in batch order."""
    tables: dict[str, list[Row]] = {name: [] for name in TABLES}
    audit: list[Row] = []
    for batch in batches:
        for name in TABLES:
            tables[name].extend(getattr(batch.extract, name))
        audit.extend(batch.audit)
    extract = StudyExtract(study=study, **{name: tuple(rows) for name, rows in tables.items()})
    return SourceBatch(extract, tuple(audit))
