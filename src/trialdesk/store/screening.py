"""What the eligibility engine and the strata read from a subject's screening forms.

The screening visit is the protocol's earliest visit. A data item with `form` and `field` is
read from that form at the screening visit (an item of the form, else one of its scores);
`age` and `sex` without a form come from the subject record. Any other item without a form
has no source in the store and stays missing, which the eligibility result reports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trialdesk.eligibility.items import ScreeningForm, data_item_values
from trialdesk.schedule import screening_visit
from trialdesk.store.models import FormRecord, Subject

if TYPE_CHECKING:
    from trialdesk.protocol import Protocol


def screening_items(protocol: Protocol, subject: Subject) -> dict[str, Any]:
    """The protocol's data item values for `subject`, from its screening forms and record."""
    forms = {
        record.form: ScreeningForm(record.values, record.scores)
        for record in FormRecord.objects.filter(
            subject=subject, visit__visit_id=screening_visit(protocol).id
        )
    }
    return data_item_values(protocol, forms, subject.age_at_screening, subject.sex)
