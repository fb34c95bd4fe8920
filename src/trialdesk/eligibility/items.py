"""The protocol's data item values from a patient's screening forms: what the criteria read.

The store (at eligibility and randomization), the virtual trial (planning who will pass) and
the analysis datasets (baseline characteristics) must read the same values from the same forms,
so the rule lives here once: an item with a `form` takes the form's item named by its `field`
(or its own id), else the form's score of that name; `age` and `sex` without a form come from
the subject record (sex in the criteria's words, FEMALE or MALE).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trialdesk.protocol import Protocol

#: The subject record's sex as the criteria language names it.
SEX_VALUES = {"female": "FEMALE", "male": "MALE"}


@dataclass(frozen=True)
class ScreeningForm:
    """One screening form as saved: its item values and its instrument's scores."""

    values: Mapping[str, Any]
    scores: Mapping[str, Any]


def data_item_values(
    protocol: Protocol, forms: Mapping[str, ScreeningForm], age: int | None, sex: str | None
) -> dict[str, Any]:
    """The data items that have a value, by item id; missing ones are left out."""
    from_subject = {"age": age, "sex": SEX_VALUES.get(sex) if sex else None}
    items: dict[str, Any] = {}
    for item in protocol.data_items:
        if item.form is None:
            value = from_subject.get(item.id)
        elif item.form in forms:
            form, field = forms[item.form], item.field or item.id
            value = form.values.get(field, form.scores.get(field))
        else:
            value = None
        if value is not None:
            items[item.id] = value
    return items
