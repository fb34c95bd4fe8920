"""Request bodies and responses of the REST API; the OpenAPI document is generated from these.

Bodies carry types only: what a value means (a known site, a sex, a form's items) is checked
by the services, whose messages name the subject, visit, form or item. Fields that hold an
arm are documented as unblinded and left out of the response for blinded users.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Field, Schema
from pydantic import BaseModel, ConfigDict

from trialdesk.store.models import AllocationSlot

UNBLINDED_ONLY = (
    "present only for users unblinded at the subject's site (or, in the study plan, at some "
    "site): by the protocol's masking; pharmacist, DMC statistician, statistician after lock"
)
BLINDED = "true if the user is blinded at some site whose subjects they read"
UNBLINDED_SITES = (
    "the sites where the user is unblinded (all of the study's for a study-wide unblinded role)"
)


class ErrorOut(Schema):
    detail: str = Field(description="what was wrong and where; nothing was changed")


class BodyIn(Schema):
    """A request body. A name it does not know is refused: a misspelt optional field would
    otherwise be dropped and its default (today, no end date, no visit) used instead."""

    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- users and studies


class RoleOut(Schema):
    role: str
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
    type: str


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
    year_of_birth: int
    age: int = Field(description="age on the screening date, from the source document")
    sex: str = Field(description="female or male")
    screened_on: dt.date | None = Field(None, description="default: today")


class ConsentIn(BodyIn):
    consented_on: dt.date
    consent_version: str


class EligibilityIn(BodyIn):
    attestations: dict[str, bool] = Field(
        description="the investigator's answer to each attestation criterion, by criterion id"
    )


class ReasonIn(BodyIn):
    reason: str


class AdministrationIn(BodyIn):
    administration_id: str = Field(description="an administration of the treatment plan")
    administered_on: dt.date


class ConsentOut(Schema):
    consent_version: str
    consented_on: dt.date


class CriterionOut(Schema):
    id: str
    type: str
    result: str
    reason: str


class EligibilityOut(Schema):
    verdict: str
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
    status: str
    randomization_number: str | None


class SubjectOut(SubjectSummaryOut):
    year_of_birth: int
    age_at_screening: int
    sex: str
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


class VisitOut(Schema):
    visit_id: str
    label: str
    day: int
    target_date: dt.date | None
    window_start: dt.date | None
    window_end: dt.date | None
    status: str = Field(description="scheduled, due, overdue, done or missed (as of today)")
    actual_date: dt.date | None
    missed_reason: str = Field(description="why the visit did not take place; empty unless missed")
    planned_forms: list[str]
    entered_forms: list[str]


class FormRecordOut(Schema):
    visit: str
    form: str
    values: dict[str, Any]
    scores: dict[str, Any]


# ---------------------------------------------------------------- safety and deviations


class AdverseEventIn(BodyIn):
    term: str
    onset_date: dt.date
    end_date: dt.date | None = None
    ctcae_grade: int
    seriousness: list[str] = Field(
        description="ICH E2A criteria met (death, life_threatening, hospitalization, ...); "
        "empty for a non-serious event"
    )
    relatedness: str
    expected: bool | None
    action_taken: str
    outcome: str
    awareness_at: dt.datetime


class AdverseEventChanges(BaseModel):
    """The reported fields to change, typed; any other name is passed on for the service to
    refuse by name (a plain pydantic model: ninja's Schema would drop unknown names)."""

    model_config = ConfigDict(extra="allow")

    term: str | None = None
    onset_date: dt.date | None = None
    end_date: dt.date | None = None
    ctcae_grade: int | None = None
    seriousness: list[str] | None = None
    relatedness: str | None = None
    expected: bool | None = None
    action_taken: str | None = None
    outcome: str | None = None
    awareness_at: dt.datetime | None = None


class AdverseEventChangeIn(BodyIn):
    changes: AdverseEventChanges = Field(description="the new values, by field name")
    reason: str


class SaeReportIn(BodyIn):
    reported_at: dt.datetime
    reason: str = Field("", description="required when changing a recorded report time")


class AdverseEventOut(Schema):
    subject: str
    number: int
    term: str
    onset_date: dt.date
    end_date: dt.date | None
    ctcae_grade: int
    seriousness: list[str]
    serious: bool
    relatedness: str
    expected: bool | None
    action_taken: str
    outcome: str
    awareness_at: dt.datetime
    report_due_at: dt.datetime | None
    reported_at: dt.datetime | None


class DeviationIn(BodyIn):
    kind: str
    description: str
    detected_on: dt.date
    visit_id: str | None = None


class DeviationOut(Schema):
    id: int
    visit: str | None
    kind: str
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
