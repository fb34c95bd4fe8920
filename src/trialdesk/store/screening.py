"""What the eligibility engine and the strata read from a subject's screening forms.

The screening visit is the protocol's earliest visit. A data item with `form` and `field` is
read from that form at the screening visit (an item of the form, else one of its scores);
`age` and `sex` without a form come from the subject record. Any other item without a form
has no source in the store and stays missing, which the eligibility result reports.

The criteria are compiled once per process for each protocol text (`study_criteria`), as the
protocol itself is parsed once (`Study.protocol`): evaluating a subject compiles nothing.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from trialdesk.eligibility.items import ScreeningForm, data_item_values
from trialdesk.schedule import screening_visit
from trialdesk.store.models import FormRecord, Study, Subject

if TYPE_CHECKING:
    from trialdesk.eligibility import ProtocolCriteria
    from trialdesk.protocol import Protocol


def study_criteria(study: Study) -> ProtocolCriteria:
    """The study's eligibility criteria, parsed and type-checked once per protocol text."""
    return _compiled_criteria(study.protocol_yaml, study)


@lru_cache(maxsize=16)
def _compiled_criteria(text: str, study: Study) -> ProtocolCriteria:
    # The text is the key; the study (hashed by its pk) gives the protocol parsed from it.
    from trialdesk.eligibility import ProtocolCriteria

    return ProtocolCriteria.of(study.protocol())


def screening_items(protocol: Protocol, subject: Subject) -> dict[str, Any]:
    """The protocol's data item values for `subject`, from its screening forms and record."""
    forms = {
        record.form: ScreeningForm(record.values, record.scores)
        for record in FormRecord.objects.filter(
            subject=subject, visit__visit_id=screening_visit(protocol).id
        )
    }
    return data_item_values(protocol, forms, subject.age_at_screening, subject.sex)
