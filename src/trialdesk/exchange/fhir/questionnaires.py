"""Questionnaire per instrument the protocol's visits use, QuestionnaireResponse per form record.

Items keep the instrument's ids as linkIds and its labels as text (for a licensed instrument
such as WOMAC or KOOS, the shipped paraphrase, not the official wording). An item with options
is a `choice` whose answerOptions are Codings in the item's own code system (code = the stored
value, display = its label); the others map by type: integer, number -> decimal, boolean,
text -> string. A Questionnaire's url is its fullUrl, made from the instrument id and version
alone, so the same instrument has the same Questionnaire in every study's export; a response
names it by that url without a `|version` suffix (the url already holds the version, and a
version such as "KOOS 2012 scoring" would not fit a URI).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from trialdesk.analysis.datasets import Row
from trialdesk.exchange.fhir import codes
from trialdesk.instruments.definition import Instrument, Item
from trialdesk.protocol.model import Protocol

ITEM_TYPES = {
    "integer": "integer",
    "number": "decimal",
    "boolean": "boolean",
    "text": "string",
    "code": "choice",
}


def used_instruments(protocol: Protocol) -> list[str]:
    """The instruments the protocol's visits and patient-reported schedules fill, in order."""
    seen: dict[str, None] = {}
    for visit in protocol.visits:
        seen.update(dict.fromkeys(visit.forms))
    seen.update(dict.fromkeys(schedule.form for schedule in protocol.patient_reported))
    return list(seen)


def questionnaire_url(instrument: Instrument) -> str:
    return codes.full_url("Questionnaire", instrument.id, instrument.version or "")


def questionnaire(instrument: Instrument) -> tuple[str, Questionnaire]:
    url = questionnaire_url(instrument)
    return url, Questionnaire(
        id=url.removeprefix("urn:uuid:"),
        url=url,
        version=instrument.version,
        name=instrument.id,
        title=instrument.title,
        status="active",
        subjectType=["Patient"],
        description=instrument.description,
        copyright=instrument.licence.notice or instrument.licence.name,
        item=[_question(instrument, item) for item in instrument.items],
    )


def _question(instrument: Instrument, item: Item) -> dict[str, Any]:
    question: dict[str, Any] = {
        "linkId": item.id,
        "text": item_text(item),
        "type": "choice" if item.options else ITEM_TYPES[item.type],
    }
    if item.options:
        system = codes.instrument_system(instrument.id, item.id)
        question["answerOption"] = [
            {"valueCoding": {"system": system, "code": str(o.value), "display": o.label}}
            for o in item.options
        ]
    return question


def item_text(item: Item) -> str:
    return item.label + (f" ({item.unit})" if item.unit else "")


def answer(instrument: Instrument, item: Item, value: Any) -> dict[str, Any]:
    """One stored value as a QuestionnaireResponse answer of the item's type."""
    if item.options:
        label = next(o.label for o in item.options if o.value == value)
        system = codes.instrument_system(instrument.id, item.id)
        return {"valueCoding": {"system": system, "code": str(value), "display": label}}
    if item.type == "boolean":
        return {"valueBoolean": bool(value)}
    if item.type == "integer":
        return {"valueInteger": int(value)}
    if item.type == "number":
        return {"valueDecimal": value}
    return {"valueString": str(value)}


def questionnaire_response(
    protocol: Protocol, instrument: Instrument, form: Row, authored: dt.datetime | dt.date | None
) -> tuple[str, QuestionnaireResponse]:
    """The form record's stored item values, unanswered items left out. `authored` is when
    the record was last changed (its latest audit event)."""
    fullurl = codes.full_url(protocol.id, "QuestionnaireResponse", str(form["id"]))
    values = form["values"]
    items = [
        {"linkId": item.id, "text": item_text(item), "answer": [answer(instrument, item, value)]}
        for item in instrument.items
        if (value := values.get(item.id)) is not None
    ]
    return fullurl, QuestionnaireResponse(
        id=fullurl.removeprefix("urn:uuid:"),
        identifier={
            "system": codes.study_system(protocol.id, "form-record"),
            "value": f"{form['subject']}/{form['visit_id']}/{form['form']}",
        },
        questionnaire=questionnaire_url(instrument),
        status="completed",
        subject={"reference": codes.full_url(protocol.id, "Patient", form["subject"])},
        authored=authored.isoformat() if authored is not None else None,
        item=items or None,
    )
