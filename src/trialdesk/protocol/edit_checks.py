"""Edit checks of a protocol file (`edit_checks:`): rules over a subject's data whose
findings become queries to the site, evaluated on every save and by `trialdesk checks run`.

Each rule has an `id` (EC1, EC2, ...), the `text` the site reads in the query, and a `kind`
with its parameters:

    visit_before_consent   a visit dated before the subject's consent
    change_between_visits  an item changing by more than `max_relative_change` (0.10: 10%)
                           from one visit to the next
    sae_without_report     a serious adverse event whose report is not recorded by its due time
    item_missing           items of a form (all when `items` is empty) left without a value in
                           a form marked complete, at `visits` (all when empty); a form still
                           being entered is not queried for the items still to come
    range                  a value outside a plausible range (`min`, `max`) that the
                           instrument's own range allows
    expression             a condition over the items of one form, in the criteria language
                           of `eligibility:`, that must hold (a query when it is false)

Evaluation is `trialdesk.monitoring.edit_checks`; this module is the schema only.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from trialdesk.protocol.model_base import Frozen, Identifier

EditCheckId = Annotated[str, Field(pattern=r"^EC[0-9]+$", description="EC1, EC2, ...")]


class _Rule(Frozen):
    id: EditCheckId
    text: str = Field(min_length=1, description="the query's text, as the site reads it")


class VisitBeforeConsent(_Rule):
    kind: Literal["visit_before_consent"]


class ChangeBetweenVisits(_Rule):
    kind: Literal["change_between_visits"]
    form: Identifier
    item: str = Field(min_length=1)
    max_relative_change: float = Field(gt=0, description="0.10 is a change of 10%")


class SaeWithoutReport(_Rule):
    kind: Literal["sae_without_report"]


class ItemMissing(_Rule):
    kind: Literal["item_missing"]
    form: Identifier
    items: list[str] = Field([], description="the items checked; all of the form when empty")
    visits: list[Identifier] = Field([], description="the visits checked; all when empty")


class ItemRange(_Rule):
    kind: Literal["range"]
    form: Identifier
    item: str = Field(min_length=1)
    min: float | None = None
    max: float | None = None


class FormExpression(_Rule):
    kind: Literal["expression"]
    form: Identifier
    expression: str = Field(min_length=1, description="must hold; a query when it is false")
    item: str = Field("", description="the item the query is put on (optional)")


EditCheck = Annotated[
    VisitBeforeConsent
    | ChangeBetweenVisits
    | SaeWithoutReport
    | ItemMissing
    | ItemRange
    | FormExpression,
    Field(discriminator="kind"),
]
