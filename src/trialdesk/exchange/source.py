"""What every exporter reads: `ExportSource`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from trialdesk.analysis.datasets import Row, StudyExtract
from trialdesk.protocol.model import Protocol


@dataclass(frozen=True)
class ExportSource:
    """One study as one reader may see it.

    `extract` is the store's tables (`trialdesk.store.extract.extract_study`): its
    allocations have `arm` None unless the reader may see results by arm, and then
    `blinded` is False. `audit` is the reader's audit events (`Access.audit_events()`) as
    rows with the keys seq, at, by, action, subject, object_type, object_id, field,
    old_value, new_value (JSON text) and reason, in `seq` order. `exported_by` is the user
    name, `exported_at` an aware datetime (UTC).
    """

    protocol: Protocol
    extract: StudyExtract
    audit: tuple[Row, ...]
    blinded: bool
    exported_by: str
    exported_at: dt.datetime
