"""What every change to a subject's data passes through besides its own service: the locks
that refuse it, and what it sets off (a signature of the data broken, the source data
verification of a changed item reset, the protocol's edit checks run again).

The services that change a subject's data (forms, visits, adverse events) call
`refuse_if_locked` before they write and `data_changed` after, inside their one audited
transaction, so a change and its consequences are written, or refused, together.
"""

from __future__ import annotations

from collections.abc import Iterable

from trialdesk.store.audit import AuditTrail
from trialdesk.store.models import FormRecord, Subject
from trialdesk.store.services import locks, queries, sdv, signatures


def refuse_if_locked(subject: Subject, visit_id: str = "", form: str = "") -> None:
    """RecordLocked if the subject's casebook, the visit or the form is locked."""
    locks.refuse_if_locked(subject, visit_id, form)


def data_changed(
    trail: AuditTrail,
    subject: Subject,
    what: str,
    *,
    visit_id: str = "",
    record: FormRecord | None = None,
    items: Iterable[str] = (),
) -> None:
    """After a change to the subject's data (`what`, as a signature's "broken by" names it,
    e.g. "visit W12, form koos: p1 changed"): the changed items' verification is reset, the
    signatures of the visit and of the casebook are broken, and the edit checks run (those
    reading the form, after a change to a form record)."""
    changed = list(items)
    if record is not None and changed:
        sdv.reset_verifications(trail, record, changed)
    signatures.break_signatures(trail, subject, visit_id, what)
    queries.run_edit_checks(trail, subject, record.form if record is not None else "")
