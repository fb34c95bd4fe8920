"""Observations of the lab and vital-sign form records, each derived from its
QuestionnaireResponse.

One Observation per value entered: quantities in UCUM (`codes.UCUM_CODES`), a lab value's site
upper limit of normal as its reference range's high end (not an Observation of its own), a
positive/negative serology as a boolean, a coded result as a Coding of the item's system. The
systolic and diastolic pressures are the two components of one blood pressure panel; the body
mass index is the vitals form's derived score. Codes are LOINC where `codes.LOINC_CODES` has
one, always beside the instrument's own item code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from fhir.resources.R4B.observation import Observation

from trialdesk.analysis.datasets import Row
from trialdesk.exchange.fhir import codes
from trialdesk.instruments.definition import Instrument
from trialdesk.protocol.model import Protocol

#: The instruments whose records become Observations, with their observation category.
CATEGORIES = {"labs": "laboratory", "vitals": "vital-signs"}
#: The lab items that hold another item's upper limit of normal: `<item>_uln`.
ULN_SUFFIX = "_uln"
BLOOD_PRESSURE = ("systolic_bp", "diastolic_bp")


def quantity(value: float, unit: str | None) -> dict[str, Any]:
    if unit in codes.UCUM_CODES:
        return {"value": value, "unit": unit, "system": codes.UCUM, "code": codes.UCUM_CODES[unit]}
    return {"value": value, **({"unit": unit} if unit else {})}


def concept(instrument_id: str, item_id: str, label: str) -> dict[str, Any]:
    coding = [{"system": codes.instrument_system(instrument_id), "code": item_id, "display": label}]
    loinc = codes.LOINC_CODES.get((instrument_id, item_id))
    if loinc is not None:
        coding.insert(0, {"system": codes.LOINC, "code": loinc[0], "display": loinc[1]})
    return {"coding": coding, "text": label}


def observations(
    protocol: Protocol,
    instrument: Instrument,
    form: Row,
    effective: dt.date | None,
    response: str,
) -> Iterator[tuple[str, Observation]]:
    """The Observations of one labs or vitals form record; `response` is the fullUrl of the
    record's QuestionnaireResponse."""
    values = form["values"]

    def observation(key: str, code: dict[str, Any], **value: Any) -> tuple[str, Observation]:
        fullurl = codes.full_url(protocol.id, "Observation", str(form["id"]), key)
        return fullurl, Observation(
            id=fullurl.removeprefix("urn:uuid:"),
            identifier=[
                {
                    "system": codes.study_system(protocol.id, "observation"),
                    "value": f"{form['subject']}/{form['visit_id']}/{form['form']}/{key}",
                }
            ],
            status="final",
            category=[
                {
                    "coding": [
                        {
                            "system": codes.OBSERVATION_CATEGORY,
                            "code": CATEGORIES[instrument.id],
                        }
                    ]
                }
            ],
            code=code,
            subject={"reference": codes.full_url(protocol.id, "Patient", form["subject"])},
            effectiveDateTime=effective.isoformat() if effective is not None else None,
            derivedFrom=[{"reference": response}],
            **value,
        )

    for item in instrument.items:
        value = values.get(item.id)
        if value is None or item.id.endswith(ULN_SUFFIX) or item.id in BLOOD_PRESSURE:
            continue
        code = concept(instrument.id, item.id, item.label)
        if item.type == "boolean":
            yield observation(item.id, code, valueBoolean=bool(value))
        elif item.options:
            label = next(o.label for o in item.options if o.value == value)
            system = codes.instrument_system(instrument.id, item.id)
            yield observation(
                item.id,
                code,
                valueCodeableConcept={
                    "coding": [{"system": system, "code": str(value), "display": label}],
                    "text": label,
                },
            )
        else:
            uln = values.get(item.id + ULN_SUFFIX)
            reference = (
                {"referenceRange": [{"high": quantity(uln, item.unit), "text": "site ULN"}]}
                if uln is not None
                else {}
            )
            yield observation(item.id, code, valueQuantity=quantity(value, item.unit), **reference)

    pressures = [item for item in instrument.items if item.id in BLOOD_PRESSURE]
    components = [
        {
            "code": concept(instrument.id, item.id, item.label),
            "valueQuantity": quantity(values[item.id], item.unit),
        }
        for item in pressures
        if values.get(item.id) is not None
    ]
    if components:
        panel = codes.BLOOD_PRESSURE_PANEL
        yield observation(
            "blood_pressure",
            {
                "coding": [{"system": codes.LOINC, "code": panel[0], "display": panel[1]}],
                "text": "Blood pressure",
            },
            component=components,
        )

    for score in instrument.scores:
        value = form["scores"].get(score.id)
        if (instrument.id, score.id) in codes.LOINC_CODES and value is not None:
            yield observation(
                score.id,
                concept(instrument.id, score.id, score.label),
                valueQuantity=quantity(value, score.unit),
            )
