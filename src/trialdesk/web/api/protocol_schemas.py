"""Responses of the study-plan reads (`trialdesk.web.api.protocol`): the forms of the protocol's
visits with their items and scores, the visit schedule and treatment plan, and the eligibility
criteria with the data items they read.

None of these holds an arm: they describe the protocol, which every member of the study may
read, blinded or not.
"""

from __future__ import annotations

from django.conf import settings
from ninja import Field, Schema
from pydantic import StrictInt

from trialdesk.web.api.schemas import (
    AdministrationPlanOut,
    VisitPlanOut,
    codes,
    declared,
)

#: The languages of the web app (Django codes), which the forms' labels come in.
LANGUAGE_CODES = [code for code, _name in settings.LANGUAGES]
ITEM_TYPES = ["integer", "number", "boolean", "text", "code"]
SCORE_TYPES = ["number", "integer", "boolean"]
DIRECTIONS = ["higher_is_worse", "higher_is_better"]
ITEM_WORDING = ["licensed", "free", "not_applicable"]

REQUIRED = (
    "true only where the instrument's definition marks the item required. No shipped "
    "instrument does, so it is false for every item: a form may be saved, and marked complete, "
    "with any item missing (stored as missing, never as 0), and each score applies its own "
    "missing-data rule (computable or null)"
)
LABEL = (
    "in the language asked for (`language`): a site's licensed wording where it loaded one "
    "(TRIALDESK_ITEM_TEXTS), else trialdesk's short label, which for KOOS and WOMAC is a "
    "paraphrase, not the questionnaire's wording"
)


class FormOptionOut(Schema):
    value: StrictInt | str = Field(description="the value stored for this answer")
    label: str = Field(description=LABEL)


class FormItemOut(Schema):
    id: str
    label: str = Field(description=LABEL)
    type: str = declared(
        description="integer, number, boolean, text, or code (a text one of the options)",
        **codes(ITEM_TYPES),
    )
    unit: str | None
    minimum: float | None = Field(description="smallest allowed value of a numeric item")
    maximum: float | None = Field(description="largest allowed value of a numeric item")
    pattern: str | None = Field(description="regular expression a text answer must match")
    options: list[FormOptionOut] = Field(
        description="the allowed values and their labels; empty: any value of the type"
    )
    required: bool = Field(description=REQUIRED)


class FormScoreOut(Schema):
    id: str
    label: str = Field(description="in English")
    type: str = declared(**codes(SCORE_TYPES))
    unit: str | None
    minimum: float | None
    maximum: float | None
    direction: str | None = declared(
        description="which way is worse; null: not stated", enum=[*DIRECTIONS, None]
    )


class FormOut(Schema):
    instrument: str = Field(description="the instrument id, as in the visits' `forms`")
    title: str = Field(description="in English")
    version: str | None
    visits: list[str] = Field(description="the visits that collect this form, in plan order")
    licence: str
    item_wording: str = declared(
        description="licensed: the wording needs a licence (only paraphrased labels ship); "
        "free: free to use, wording to be kept unchanged; not_applicable: not a questionnaire",
        **codes(ITEM_WORDING),
    )
    parameters: dict[str, str | int | float] = Field(
        description="the instrument's parameters as this protocol sets them (e.g. recall "
        "period), else the instrument's defaults"
    )
    items: list[FormItemOut]
    scores: list[FormScoreOut] = Field(description="computed when the form is saved")


class ScheduleOut(Schema):
    study: str
    version: str
    visits: list[VisitPlanOut] = Field(
        description="in plan order; `day` is relative to day 0 (the first administration), "
        "the window is `day - window_before` to `day + window_after`"
    )
    administrations: list[AdministrationPlanOut] = Field(
        description="the treatment plan: each administration (injection, cycle) and its day"
    )


class CriterionItemOut(Schema):
    id: str = Field(description="the data item, as the expression names it")
    label: str
    form: str | None = Field(
        description="the form (instrument) it is entered or scored on; null: it comes from "
        "the subject record (age, sex)"
    )
    field: str | None = Field(
        description="the form's item, or score, that gives the value; null with `form`"
    )


class CriterionPlanOut(Schema):
    id: str
    type: str = declared(**codes(["inclusion", "exclusion"]))
    text: str = Field(description="the registry's text, verbatim")
    attestation: bool = Field(
        description="true: decided by the investigator's yes or no at eligibility"
    )
    expression: str | None = Field(description="the computable rule; null for an attestation")
    reads: list[CriterionItemOut] = Field(
        description="the data items the expression reads, in the order it names them"
    )
