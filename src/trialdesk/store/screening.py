"""What the eligibility engine and the strata read from a subject's screening forms.

The screening visit is the protocol's earliest visit. A data item with `form` and `field` is
read from that form at the screening visit (an item of the form, else one of its scores);
`age` and `sex` without a form come from the subject record. Any other item without a form
has no source in the store and stays missing, which the eligibility result reports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trialdesk.store.models import FormRecord, Subject

if TYPE_CHECKING:
    from trialdesk.protocol import Protocol
    from trialdesk.protocol.model import Visit

SEX_VALUES = {"female": "FEMALE", "male": "MALE"}


def screening_visit(protocol: Protocol) -> Visit:
    return min(protocol.visits, key=lambda visit: visit.day)


def screening_items(protocol: Protocol, subject: Subject) -> dict[str, Any]:
    """The protocol's data item values for `subject`, from its screening forms and record."""
    records = {
        record.form: record
        for record in FormRecord.objects.filter(
            subject=subject, visit__visit_id=screening_visit(protocol).id
        )
    }
    from_subject = {"age": subject.age_at_screening, "sex": SEX_VALUES[subject.sex]}
    items: dict[str, Any] = {}
    for item in protocol.data_items:
        if item.form is None:
            if item.id in from_subject:
                items[item.id] = from_subject[item.id]
            continue
        record = records.get(item.form)
        field = item.field or item.id
        if record is None:
            continue
        value = record.values.get(field, record.scores.get(field))
        if value is not None:
            items[item.id] = value
    return items
