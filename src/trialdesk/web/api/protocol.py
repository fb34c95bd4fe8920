"""The study's plan in detail, read-only: the forms of its visits (items, options, scores), its
schedule (visits and the treatment plan's administrations) and its eligibility criteria (the
registry text and the data items each expression reads).

What the web app's pages show from the protocol, a client can read here. Every operation
starts from `study_for`, the one access policy: a study where the user holds no live role is
"not found". The plan holds no arm, so blinded and unblinded users get the same answer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Query, Router

from trialdesk.eligibility.language import ItemRef, Node, parse
from trialdesk.errors import EligibilityError
from trialdesk.instruments.catalogue import get_instrument
from trialdesk.instruments.definition import Instrument, Item
from trialdesk.instruments.texts import item_texts, option_labels
from trialdesk.protocol.model import Protocol
from trialdesk.web.api.context import study_for
from trialdesk.web.api.errors import READ_ERRORS
from trialdesk.web.api.protocol_schemas import (
    LANGUAGE_CODES,
    CriterionPlanOut,
    FormOut,
    ScheduleOut,
)

router = Router(tags=["study plan"])

Language = Literal[tuple(LANGUAGE_CODES)]  # type: ignore[valid-type]


def visit_forms(protocol: Protocol) -> dict[str, list[str]]:
    """Each form of the protocol's visits, in order of first use, with the visits that
    collect it (in plan order)."""
    forms: dict[str, list[str]] = {}
    for visit in protocol.visits:
        for form in visit.forms:
            forms.setdefault(form, []).append(visit.id)
    return forms


def item_required(item: Item) -> bool:
    """Whether a form cannot be saved without the item: only if its definition says so (an
    instrument field `required`); no shipped definition has one, so false."""
    return bool(getattr(item, "required", False))


def form_plan(
    instrument: Instrument, visits: list[str], settings: dict[str, Any], language: str
) -> dict:
    """One form as a client draws it: items with labels in `language`, options, scores."""
    texts = item_texts(instrument.id, language)
    labels = option_labels(instrument.id, language)
    defaults = {name: parameter.default for name, parameter in instrument.parameters.items()}
    parameters = {
        name: value for name, value in {**defaults, **settings}.items() if value is not None
    }
    return {
        "instrument": instrument.id,
        "title": instrument.title,
        "version": instrument.version,
        "visits": visits,
        "licence": instrument.licence.name,
        "item_wording": instrument.licence.item_wording,
        "parameters": parameters,
        "items": [
            {
                "id": item.id,
                "label": texts[item.id],
                "type": item.type,
                "unit": item.unit,
                "minimum": item.minimum,
                "maximum": item.maximum,
                "pattern": item.pattern,
                "options": [
                    {"value": option.value, "label": labels[item.id][option.value]}
                    for option in item.options
                ],
                "required": item_required(item),
            }
            for item in instrument.items
        ],
        "scores": [
            {
                "id": score.id,
                "label": score.label,
                "type": score.type,
                "unit": score.unit,
                "minimum": score.minimum,
                "maximum": score.maximum,
                "direction": score.direction,
            }
            for score in instrument.scores
        ],
    }


@router.get("/studies/{study}/forms", response={200: list[FormOut], **READ_ERRORS})
def study_forms(
    request: HttpRequest,
    study: str,
    version: str | None = None,
    language: Language = Query(  # type: ignore[valid-type]
        "en", description="the language of the item and option labels: en, da or zh-hans"
    ),
) -> list[dict]:
    """Each form the protocol's visits collect (in order of first use): the instrument, its
    items (label, type, unit, range, pattern, options, whether required) and its scores.

    Labels come in `language`, falling back to English item by item; titles and score labels
    are in English."""
    protocol = study_for(request, study, version).study.protocol()
    return [
        form_plan(
            get_instrument(form),
            visits,
            dict(protocol.instrument_parameters.get(form, {})),
            language,
        )
        for form, visits in visit_forms(protocol).items()
    ]


@router.get("/studies/{study}/schedule", response={200: ScheduleOut, **READ_ERRORS})
def study_schedule(request: HttpRequest, study: str, version: str | None = None) -> dict:
    """The visit schedule (target day and window of each visit, relative to day 0, and its
    forms) and the treatment plan's administrations."""
    chosen = study_for(request, study, version).study
    protocol = chosen.protocol()
    return {
        "study": chosen.protocol_id,
        "version": chosen.version,
        "visits": [
            {
                "id": visit.id,
                "label": visit.label,
                "day": visit.day,
                "window_before": visit.window_before,
                "window_after": visit.window_after,
                "forms": visit.forms,
            }
            for visit in protocol.visits
        ],
        "administrations": [
            {"id": step.id, "label": step.label, "day": step.day}
            for step in protocol.treatment_plan
        ],
    }


def item_names(node: Any) -> Iterator[str]:
    """The data item names an expression tree reads, left to right (repeats included)."""
    if isinstance(node, ItemRef):
        yield node.name
    elif isinstance(node, tuple):
        for part in node:
            yield from item_names(part)
    elif isinstance(node, Node):
        for field in dataclasses.fields(node):
            yield from item_names(getattr(node, field.name))


def expression_items(expression: str) -> list[str]:
    """The distinct data items `expression` reads, in the order it first names them."""
    try:
        tree = parse(expression)
    except EligibilityError:  # the protocol was checked when the study was created
        return []
    return list(dict.fromkeys(item_names(tree)))


@router.get("/studies/{study}/criteria", response={200: list[CriterionPlanOut], **READ_ERRORS})
def study_criteria(request: HttpRequest, study: str, version: str | None = None) -> list[dict]:
    """The eligibility criteria in protocol order: the registry text verbatim, whether the
    investigator attests it, and for a computable one its expression and the data items it
    reads, each with the form and field it comes from (none: from the subject record)."""
    protocol = study_for(request, study, version).study.protocol()
    data_items = {item.id: item for item in protocol.data_items}
    criteria = []
    for criterion in protocol.eligibility.criteria:
        reads = []
        names = expression_items(criterion.expression) if criterion.expression else []
        for name in names:
            item = data_items.get(name)
            if item is None:
                continue
            reads.append(
                {
                    "id": item.id,
                    "label": item.label,
                    "form": item.form,
                    "field": (item.field or item.id) if item.form else None,
                }
            )
        criteria.append(
            {
                "id": criterion.id,
                "type": criterion.type,
                "text": criterion.text,
                "attestation": criterion.attestation,
                "expression": criterion.expression,
                "reads": reads,
            }
        )
    return criteria
