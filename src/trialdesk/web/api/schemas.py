"""Request bodies and responses of the REST API; the OpenAPI document is generated from these.

Bodies carry types only: what a value means (a known site, a sex, a form's items) is checked
by the services, whose messages name the subject, visit, form or item. The document still
declares the services' rules that a schema can state (codes as enums, ranges, patterns, a
reason of at least one character that is not a space), so a client or a test generator knows
what is refused; the codes come from the store's own vocabularies. Values that would fail in
the database rather than in a service (an offset beyond 64 bits, a time whose UTC date is
off the calendar) are refused here. Fields that hold an arm are documented as unblinded and
left out of the response for blinded users.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Annotated, Any

from ninja import Field, Schema
from ninja.conf import settings as ninja_settings
from ninja.pagination import LimitOffsetPagination
from pydantic import AfterValidator, BaseModel, ConfigDict, StrictBool, StrictInt, create_model
from pydantic_core import PydanticCustomError

from trialdesk.protocol.model import ArmType
from trialdesk.records import Record, RecordField
from trialdesk.records.adverse_event import ADVERSE_EVENT
from trialdesk.schedule.calendar import CalendarStatus
from trialdesk.store.lifecycle import SubjectStatus
from trialdesk.store.models import AllocationSlot, Role, Sex
from trialdesk.store.services.safety import UTC_RANGE
from trialdesk.store.services.subjects import AGES, YEARS_OF_BIRTH
from trialdesk.store.services.visits import DEVIATION_KIND

UNBLINDED_ONLY = (
    "present only for users unblinded at the subject's site (or, in the study plan, at some "
    "site): by the protocol's masking; pharmacist, DMC statistician, statistician after lock"
)
BLINDED = "true if the user is blinded at some site whose subjects they read"
UNBLINDED_SITES = (
    "the sites where the user is unblinded (all of the study's for a study-wide unblinded role)"
)

#: The largest integer PostgreSQL and SQLite store (bigint, SQLite INTEGER).
BIGINT_MAX = 2**63 - 1
#: At least one character that is not a space: the services refuse a blank reason or text.
NOT_BLANK = {"minLength": 1, "pattern": r"\S"}


def codes(values: Iterable[str]) -> dict[str, Any]:
    """The JSON Schema of a coded field: one of `values`."""
    return {"enum": [str(value) for value in values]}


def declared(default: Any = ..., description: str | None = None, **schema: Any) -> Any:
    """A field whose rule the document declares and a service checks (with its message)."""
    return Field(default, description=description, json_schema_extra=schema)


def _whole_number(low: int, high: int, what: str = "an integer", strict: bool = True) -> Any:
    """An integer from `low` to `high`, refused otherwise as `value; expected what from ...`;
    `strict`: a JSON integer only (not 63.0, "63" or true, which pydantic would convert and
    the schema does not allow)."""

    def check(value: int) -> int:
        if not low <= value <= high:
            raise PydanticCustomError(
                "out_of_range",
                "{value}; expected {what} from {low} to {high}",
                {"value": value, "what": what, "low": low, "high": high},
            )
        return value

    bounds = Field(json_schema_extra={"minimum": low, "maximum": high})
    return Annotated[StrictInt if strict else int, AfterValidator(check), bounds]


def _storable_time(value: dt.datetime) -> dt.datetime:
    """A time whose UTC date is on the calendar (0001-01-01T00:00+01:00 is not); naive times
    are left to the services, which name them."""
    if value.utcoffset() is not None:
        try:
            value.astimezone(dt.UTC)
        except OverflowError:
            raise PydanticCustomError(
                "time_out_of_range",
                "{value}; expected {expected}",
                {"value": value.isoformat(), "expected": UTC_RANGE},
            ) from None
    return value


#: A timezone-aware date and time, refused when its UTC date is off the calendar.
StorableTime = Annotated[dt.datetime, AfterValidator(_storable_time)]
#: From a query string: the text of a number is the number.
Offset = _whole_number(0, BIGINT_MAX, strict=False)
#: The database column holds 0 to 32767; the services take the years a patient can have.
YearOfBirth = _whole_number(YEARS_OF_BIRTH.start, YEARS_OF_BIRTH.stop - 1, "a year")


class Page(LimitOffsetPagination):
    """`limit` and `offset` as django-ninja's, the offset bounded by what a database takes (a
    larger one failed as a server error)."""

    class Input(Schema):
        limit: int = Field(
            ninja_settings.PAGINATION_PER_PAGE, ge=1, le=ninja_settings.PAGINATION_MAX_LIMIT
        )
        offset: Offset = 0  # type: ignore[valid-type]


class ErrorOut(Schema):
    detail: str = Field(description="what was wrong and where; nothing was changed")


class BodyIn(Schema):
    """A request body. A name it does not know is refused: a misspelt optional field would
    otherwise be dropped and its default (today, no end date, no visit) used instead."""

    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- users and studies


class RoleOut(Schema):
    role: str = declared(**codes(Role.values))
    site: str | None = Field(description="the site the role covers; null: study-wide")


class StudyRolesOut(Schema):
    study: str
    version: str
    roles: list[RoleOut]
    blinded: bool = Field(description=BLINDED)
    unblinded_sites: list[str] = Field(description=UNBLINDED_SITES)


class MeOut(Schema):
    user: str
    studies: list[StudyRolesOut]


class StudySummaryOut(Schema):
    study: str
    version: str
    locked: bool
    reopened_after_lock: bool
    blinded: bool = Field(description=BLINDED)
    unblinded_sites: list[str] = Field(description=UNBLINDED_SITES)


class SiteOut(Schema):
    code: str
    name: str


class VisitPlanOut(Schema):
    id: str
    label: str
    day: int
    window_before: int
    window_after: int
    forms: list[str]


class AdministrationPlanOut(Schema):
    id: str
    label: str
    day: int


class ArmOut(Schema):
    id: str
    label: str
    type: str = declared(**codes(ArmType))


class StudyOut(Schema):
    study: str
    version: str
    locked: bool
    reopened_after_lock: bool
    blinded: bool = Field(description=BLINDED)
    unblinded_sites: list[str] = Field(description=UNBLINDED_SITES)
    sites: list[SiteOut]
    visits: list[VisitPlanOut]
    forms: list[str]
    treatment_plan: list[AdministrationPlanOut]
    arms: list[ArmOut] | None = Field(None, description=UNBLINDED_ONLY)


# ---------------------------------------------------------------- subjects


class ScreeningIn(BodyIn):
    site: str = Field(description="site code, e.g. 01")
    year_of_birth: YearOfBirth  # type: ignore[valid-type]
    age: StrictInt = declared(
        description="age on the screening date, from the source document; it must fit the "
        "year of birth",
        minimum=AGES.start,
        maximum=AGES.stop - 1,
    )
    sex: str = declared(description="female or male", **codes(Sex.values))
    screened_on: dt.date | None = Field(None, description="default: today")


class ConsentIn(BodyIn):
    consented_on: dt.date
    consent_version: str = declared(**NOT_BLANK)


class EligibilityIn(BodyIn):
    attestations: dict[str, StrictBool] = Field(
        description="the investigator's answer to each attestation criterion, by criterion id"
    )


class ReasonIn(BodyIn):
    reason: str = declared(**NOT_BLANK)


class AdministrationIn(BodyIn):
    administration_id: str = Field(description="an administration of the treatment plan")
    administered_on: dt.date


class ConsentOut(Schema):
    consent_version: str
    consented_on: dt.date


class CriterionOut(Schema):
    id: str
    type: str = declared(**codes(["inclusion", "exclusion"]))
    result: str = declared(**codes(["pass", "fail", "unknown"]))
    reason: str


class EligibilityOut(Schema):
    verdict: str = declared(**codes(["eligible", "ineligible", "incomplete"]))
    criteria: list[CriterionOut]


class EligibilityRecordOut(EligibilityOut):
    evaluated_at: dt.datetime


class AdministrationOut(Schema):
    administration_id: str
    kit_number: int
    administered_on: dt.date


class SubjectSummaryOut(Schema):
    code: str
    site: str
    status: str = declared(**codes(SubjectStatus))
    randomization_number: str | None


class SubjectFilters(Schema):
    """The query of the subject list: filters, then paging with the audit trail's bounds."""

    site: str | None = Field(None, description="only the subjects of this site code, e.g. 01")
    status: SubjectStatus | None = Field(None, description="only the subjects in this status")
    q: str | None = Field(
        None, max_length=100, description="only the subjects whose code contains this (any case)"
    )
    limit: int | None = Field(
        None,
        ge=1,
        le=ninja_settings.PAGINATION_MAX_LIMIT,
        description="at most this many subjects; none: all of them",
    )
    offset: Offset = Field(0, description="skip this many subjects first")  # type: ignore[valid-type]


class SubjectOut(SubjectSummaryOut):
    year_of_birth: int
    age_at_screening: int
    sex: str = declared(**codes(Sex.values))
    screened_on: dt.date
    day0: dt.date | None
    consent: ConsentOut | None
    eligibility: EligibilityRecordOut | None = Field(description="the last evaluation")
    kit_numbers: list[int]
    administrations: list[AdministrationOut]
    arm: str | None = Field(None, description=UNBLINDED_ONLY)


class RandomizationOut(Schema):
    subject: str
    randomization_number: str
    kit_numbers: list[int]


class UnblindingOut(Schema):
    subject: str
    arm: str
    arm_label: str


class KitOut(Schema):
    kit_number: int
    arm: str
    administration_index: int | None
    administration_id: str | None
    administered_on: dt.date | None


# ---------------------------------------------------------------- visits and forms


class VisitDateIn(BodyIn):
    visit_date: dt.date
    reason: str = Field("", description="required when changing a recorded date")


class FormIn(BodyIn):
    values: dict[str, Any] = Field(description="item values by item id")
    reason: str = Field("", description="required when changing saved values")


class FormPatchIn(BodyIn):
    values: dict[str, Any] = Field(
        default_factory=dict,
        description="the items to change, by item id (null: the item is missing); items not "
        "given keep their saved values",
    )
    reason: str = Field(
        "",
        description="required when an item that has a saved value (not null) changes, and "
        "to reopen a completed form; a first entry of an item needs none",
    )
    complete: StrictBool | None = Field(
        None,
        description="true: mark the form complete; false: reopen it (with a reason); "
        "absent or null: leave it as it is",
    )


class VisitOut(Schema):
    visit_id: str
    label: str
    day: int
    target_date: dt.date | None
    window_start: dt.date | None
    window_end: dt.date | None
    status: str = declared(
        description="scheduled, due, overdue, done or missed (as of today)",
        **codes(CalendarStatus),
    )
    actual_date: dt.date | None
    missed_reason: str = Field(description="why the visit did not take place; empty unless missed")
    planned_forms: list[str]
    entered_forms: list[str]


class FormRecordOut(Schema):
    visit: str
    form: str
    values: dict[str, Any]
    scores: dict[str, Any]
    completed_at: dt.datetime | None = Field(
        description="when the form was marked complete; null while it is being entered"
    )


# ---------------------------------------------------------------- safety and deviations


#: How a declared field of a record is typed in a request body and in a response.
BODY_TYPES: dict[str, Any] = {
    "text": str,
    "date": dt.date,
    "datetime": StorableTime,
    "integer": StrictInt,
    "boolean": StrictBool,
    "code": str,
    "codes": list[str],
}
OUT_TYPES = {**BODY_TYPES, "datetime": dt.datetime, "integer": int, "boolean": bool}


def _field_schema(field: RecordField) -> dict[str, Any]:
    """The JSON Schema a declared field adds to its type: its codes, length, bounds."""
    values = list(field.values)
    if field.kind == "codes":
        return {"items": {"type": "string", "enum": values}, "uniqueItems": True}
    if field.kind == "code" and all(isinstance(value, int) for value in values):
        return {"enum": values, "minimum": min(values), "maximum": max(values)}
    if field.kind == "code":
        return {"enum": values}
    if field.kind == "text":
        return {**NOT_BLANK, "maxLength": field.max_length}
    return {}


def _typed(field: RecordField, types: dict[str, Any], *, optional: bool) -> tuple[Any, Any]:
    """(annotation, Field) of a declared field; an `optional` one is nullable, default None."""
    numbered = field.kind == "code" and all(isinstance(value, int) for value in field.values)
    annotation = types["integer" if numbered else field.kind]
    default: Any = ...
    if optional:
        annotation, default = annotation | None, None
    return annotation, declared(default, field.label, **_field_schema(field))


def record_body(record: Record, model: str, *, changes: bool = False) -> type[BaseModel]:
    """A request body of the record's reported fields, as declared (`trialdesk.records`).

    `changes`: every field may be left out; a name not declared is kept for the service to
    refuse by name (a plain pydantic model: ninja's Schema would drop unknown names)."""
    fields = {
        name: _typed(record[name], BODY_TYPES, optional=changes or record[name].optional)
        for name in record.reported
    }
    if changes:
        return create_model(model, __config__=ConfigDict(extra="allow"), **fields)
    return create_model(model, __base__=BodyIn, **fields)


def record_out(record: Record, model: str, **more: Any) -> type[Schema]:
    """A response of every declared field of the record, then `more` (name=(type, Field))."""
    fields = {field.name: _typed(field, OUT_TYPES, optional=field.optional) for field in record}
    return create_model(model, __base__=Schema, **fields, **more)


AdverseEventIn = record_body(ADVERSE_EVENT, "AdverseEventIn")
AdverseEventChanges = record_body(ADVERSE_EVENT, "AdverseEventChanges", changes=True)


class AdverseEventChangeIn(BodyIn):
    changes: AdverseEventChanges = Field(  # type: ignore[valid-type]
        description="the new values, by field name"
    )
    reason: str = declared(**NOT_BLANK)


class SaeReportIn(BodyIn):
    reported_at: StorableTime
    reason: str = Field("", description="required when changing a recorded report time")


AdverseEventOut = record_out(
    ADVERSE_EVENT,
    "AdverseEventOut",
    subject=(str, Field(description="the subject's code")),
    serious=(bool, Field(description="true when any seriousness criterion is met")),
)


#: A deviation's kind: an open set of short codes, e.g. dosing_error.
DEVIATION_KIND_SCHEMA = {"pattern": f"^{DEVIATION_KIND.pattern}$", "maxLength": 40}


class DeviationIn(BodyIn):
    kind: str = declared(
        description="a code of lower-case letters, digits and _ starting with a letter, e.g. "
        "dosing_error",
        **DEVIATION_KIND_SCHEMA,
    )
    description: str = declared(**NOT_BLANK)
    detected_on: dt.date
    visit_id: str | None = None


class DeviationOut(Schema):
    id: int
    visit: str | None
    kind: str = declared(**DEVIATION_KIND_SCHEMA)
    description: str
    detected_on: dt.date
    automatic: bool
    withdrawn_on: dt.date | None = Field(description="set when the deviation no longer applies")


# ---------------------------------------------------------------- audit and allocation list


class AuditEventOut(Schema):
    seq: int
    at: dt.datetime
    by: str
    action: str
    subject: str
    object_type: str
    object_id: str
    field: str
    old_value: str = Field(description="canonical JSON")
    new_value: str = Field(description="canonical JSON")
    reason: str


class AllocationSlotOut(Schema):
    """*Unblinded.* One slot of the allocation list, read from an `AllocationSlot`."""

    stratum: str
    seq: int
    arm: str
    block: int | None
    block_size: int | None
    randomization_number: str | None
    subject: str | None
    kit_numbers: list[int]

    @staticmethod
    def resolve_stratum(slot: AllocationSlot) -> str:
        return slot.stratum.key

    @staticmethod
    def resolve_randomization_number(slot: AllocationSlot) -> str | None:
        allocation = getattr(slot, "allocation", None)
        return allocation.randomization_number if allocation else None

    @staticmethod
    def resolve_subject(slot: AllocationSlot) -> str | None:
        allocation = getattr(slot, "allocation", None)
        return allocation.subject.code if allocation else None

    @staticmethod
    def resolve_kit_numbers(slot: AllocationSlot) -> list[int]:
        return [kit.kit_number for kit in slot.kits.all()]
