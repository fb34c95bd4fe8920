"""The study protocol as a validated data model.

One protocol file describes one version of one study. Fields whose values come from the
registry record keep the registry's words; every value the record does not state is listed in
`assumptions` with the reason it was chosen. The enumerations follow ClinicalTrials.gov API v2,
so a protocol exports to the registry format without translation tables.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from trialdesk.protocol.edit_checks import EditCheck
from trialdesk.protocol.model_base import Frozen, Identifier
from trialdesk.protocol.patient_reports import PatientSchedule
from trialdesk.protocol.sdv_plan import SdvPlan

SCHEMA_VERSION = 1

# The patterns of constrained text fields; the loader words each one for people.
CRITERION_ID_PATTERN = r"^(I[0-9]+|E[0-9]+|AGE|SEX)$"
PARTIAL_DATE_PATTERN = r"^[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?$"
AGE_PATTERN = r"^([0-9]+) (Year|Month|Week|Day|Hour)s?$"
NCT_NUMBER_PATTERN = r"^NCT[0-9]{8}$"
SITE_CODE_PATTERN = r"^[A-Z0-9]{2,6}$"
RATIO_PATTERN = r"^[1-9][0-9]*(:[1-9][0-9]*)+$"

CriterionId = Annotated[str, Field(pattern=CRITERION_ID_PATTERN)]
PartialDate = Annotated[str, Field(pattern=PARTIAL_DATE_PATTERN)]
NormalizedAge = Annotated[str, Field(pattern=AGE_PATTERN)]


class Phase(StrEnum):
    NA = "NA"
    EARLY_PHASE1 = "EARLY_PHASE1"
    PHASE1 = "PHASE1"
    PHASE2 = "PHASE2"
    PHASE3 = "PHASE3"
    PHASE4 = "PHASE4"


class OverallStatus(StrEnum):
    ACTIVE_NOT_RECRUITING = "ACTIVE_NOT_RECRUITING"
    COMPLETED = "COMPLETED"
    ENROLLING_BY_INVITATION = "ENROLLING_BY_INVITATION"
    NOT_YET_RECRUITING = "NOT_YET_RECRUITING"
    RECRUITING = "RECRUITING"
    SUSPENDED = "SUSPENDED"
    TERMINATED = "TERMINATED"
    WITHDRAWN = "WITHDRAWN"
    AVAILABLE = "AVAILABLE"
    NO_LONGER_AVAILABLE = "NO_LONGER_AVAILABLE"
    TEMPORARILY_NOT_AVAILABLE = "TEMPORARILY_NOT_AVAILABLE"
    APPROVED_FOR_MARKETING = "APPROVED_FOR_MARKETING"
    WITHHELD = "WITHHELD"
    UNKNOWN = "UNKNOWN"


class Allocation(StrEnum):
    RANDOMIZED = "RANDOMIZED"
    NON_RANDOMIZED = "NON_RANDOMIZED"
    NA = "NA"


class InterventionModel(StrEnum):
    SINGLE_GROUP = "SINGLE_GROUP"
    PARALLEL = "PARALLEL"
    CROSSOVER = "CROSSOVER"
    FACTORIAL = "FACTORIAL"
    SEQUENTIAL = "SEQUENTIAL"


class Masking(StrEnum):
    NONE = "NONE"
    SINGLE = "SINGLE"
    DOUBLE = "DOUBLE"
    TRIPLE = "TRIPLE"
    QUADRUPLE = "QUADRUPLE"


class MaskedRole(StrEnum):
    PARTICIPANT = "PARTICIPANT"
    CARE_PROVIDER = "CARE_PROVIDER"
    INVESTIGATOR = "INVESTIGATOR"
    OUTCOMES_ASSESSOR = "OUTCOMES_ASSESSOR"


class PrimaryPurpose(StrEnum):
    TREATMENT = "TREATMENT"
    PREVENTION = "PREVENTION"
    DIAGNOSTIC = "DIAGNOSTIC"
    ECT = "ECT"
    SUPPORTIVE_CARE = "SUPPORTIVE_CARE"
    SCREENING = "SCREENING"
    HEALTH_SERVICES_RESEARCH = "HEALTH_SERVICES_RESEARCH"
    BASIC_SCIENCE = "BASIC_SCIENCE"
    DEVICE_FEASIBILITY = "DEVICE_FEASIBILITY"
    OTHER = "OTHER"


class ArmType(StrEnum):
    EXPERIMENTAL = "EXPERIMENTAL"
    ACTIVE_COMPARATOR = "ACTIVE_COMPARATOR"
    PLACEBO_COMPARATOR = "PLACEBO_COMPARATOR"
    SHAM_COMPARATOR = "SHAM_COMPARATOR"
    NO_INTERVENTION = "NO_INTERVENTION"
    OTHER = "OTHER"


class InterventionType(StrEnum):
    BEHAVIORAL = "BEHAVIORAL"
    BIOLOGICAL = "BIOLOGICAL"
    COMBINATION_PRODUCT = "COMBINATION_PRODUCT"
    DEVICE = "DEVICE"
    DIAGNOSTIC_TEST = "DIAGNOSTIC_TEST"
    DIETARY_SUPPLEMENT = "DIETARY_SUPPLEMENT"
    DRUG = "DRUG"
    GENETIC = "GENETIC"
    PROCEDURE = "PROCEDURE"
    RADIATION = "RADIATION"
    OTHER = "OTHER"


class AgencyClass(StrEnum):
    NIH = "NIH"
    FED = "FED"
    OTHER_GOV = "OTHER_GOV"
    INDIV = "INDIV"
    INDUSTRY = "INDUSTRY"
    NETWORK = "NETWORK"
    AMBIG = "AMBIG"
    OTHER = "OTHER"
    UNKNOWN = "UNKNOWN"


class Sex(StrEnum):
    ALL = "ALL"
    FEMALE = "FEMALE"
    MALE = "MALE"


# ---------------------------------------------------------------- identification and status


class SecondaryId(Frozen):
    id: str = Field(min_length=1)
    type: str | None = None
    domain: str | None = None


class Identifiers(Frozen):
    nct_id: str | None = Field(None, pattern=NCT_NUMBER_PATTERN)
    org_study_id: str | None = None
    secondary_ids: list[SecondaryId] = []


class Titles(Frozen):
    brief: str = Field(min_length=1)
    official: str | None = None
    acronym: str | None = None


class DatedEvent(Frozen):
    date: PartialDate
    type: Literal["ACTUAL", "ESTIMATED"] | None = None


class Status(Frozen):
    overall: OverallStatus
    why_stopped: str | None = None
    verified: PartialDate | None = None
    start: DatedEvent | None = None
    primary_completion: DatedEvent | None = None
    completion: DatedEvent | None = None
    first_posted: DatedEvent | None = None
    last_update_posted: DatedEvent | None = None


class Organization(Frozen):
    name: str = Field(min_length=1)
    agency_class: AgencyClass | None = Field(None, alias="class")

    model_config = ConfigDict(populate_by_name=True)


class ResponsibleParty(Frozen):
    type: Literal["SPONSOR", "PRINCIPAL_INVESTIGATOR", "SPONSOR_INVESTIGATOR"]
    investigator_name: str | None = None
    investigator_title: str | None = None
    investigator_affiliation: str | None = None


class Sponsor(Frozen):
    lead: Organization
    collaborators: list[Organization] = []
    responsible_party: ResponsibleParty | None = None


# ---------------------------------------------------------------- design, arms, treatment


class Design(Frozen):
    study_type: Literal["INTERVENTIONAL", "OBSERVATIONAL", "EXPANDED_ACCESS"] = "INTERVENTIONAL"
    allocation: Allocation = Allocation.NA
    intervention_model: InterventionModel | None = None
    intervention_model_description: str | None = None
    primary_purpose: PrimaryPurpose | None = None
    masking: Masking = Masking.NONE
    who_masked: list[MaskedRole] = []
    masking_description: str | None = None
    allocation_ratio: str | None = Field(
        None,
        pattern=RATIO_PATTERN,
        description="the ratio the design states, e.g. 1:1:1, in the order of `arms`",
    )


class Enrollment(Frozen):
    count: int = Field(ge=0)
    type: Literal["ACTUAL", "ESTIMATED"] | None = None


class Intervention(Frozen):
    id: Identifier
    type: InterventionType
    name: str = Field(min_length=1, description="the registry's intervention name, verbatim")
    description: str | None = None
    other_names: list[str] = []


class ArmIntervention(Frozen):
    """What one arm receives of one intervention at each administration."""

    intervention: Identifier
    dose: str | None = Field(None, description="as the registry words it, e.g. '20 million AD-MSC'")
    volume_ml: float | None = Field(None, gt=0)
    route: str | None = None


class Arm(Frozen):
    id: Identifier
    label: str = Field(min_length=1, description="the registry's arm label, verbatim")
    type: ArmType
    description: str | None = None
    weight: int = Field(gt=0, description="allocation weight; the weights give the design ratio")
    interventions: list[ArmIntervention] = Field(
        [], description="empty only for an arm of type NO_INTERVENTION or an observational group"
    )


class Administration(Frozen):
    """One treatment administration (cycle or injection) at a day offset from day 0."""

    id: Identifier
    label: str
    day: int = Field(ge=0, description="days after the first administration (day 0)")


# ---------------------------------------------------------------- visits and outcomes


class Visit(Frozen):
    id: Identifier
    label: str
    day: int = Field(description="target day relative to day 0 (first administration)")
    window_before: int = Field(0, ge=0, description="days allowed before the target day")
    window_after: int = Field(0, ge=0, description="days allowed after the target day")
    forms: list[Identifier] = []

    @property
    def first_day(self) -> int:
        return self.day - self.window_before

    @property
    def last_day(self) -> int:
        return self.day + self.window_after


class Outcome(Frozen):
    id: Identifier
    kind: Literal["primary", "secondary", "other"]
    measure: str = Field(min_length=1, description="the registry's measure title, verbatim")
    description: str | None = None
    time_frame: str = Field(min_length=1, description="the registry's time frame, verbatim")
    visits: list[Identifier] = Field(description="the visits at which the time frame is assessed")
    instrument: Identifier | None = Field(None, description="the instrument that scores it")
    parameter: str | None = Field(None, description="the instrument's score used, e.g. 'pain'")


# ---------------------------------------------------------------- eligibility and data items


class Criterion(Frozen):
    id: CriterionId
    type: Literal["inclusion", "exclusion"]
    text: str = Field(min_length=1, description="the registry text, verbatim")
    expression: str | None = Field(None, description="a computable expression over data items")
    attestation: bool = Field(False, description="the investigator confirms it on a checkbox")

    @model_validator(mode="after")
    def _one_way_to_decide(self) -> Criterion:
        if (self.expression is None) == (not self.attestation):
            raise ValueError("needs exactly one of `expression` or `attestation: true`")
        return self


class Eligibility(Frozen):
    sex: Sex = Sex.ALL
    minimum_age: NormalizedAge | None = None
    maximum_age: NormalizedAge | None = None
    healthy_volunteers: bool | None = None
    criteria: list[Criterion] = []


class ItemType(StrEnum):
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    STRING = "string"
    DATE = "date"


class DataItem(Frozen):
    """A value eligibility and analysis read, with the form it is entered or scored on."""

    id: Identifier
    label: str
    type: ItemType
    unit: str | None = None
    min: float | None = None
    max: float | None = None
    codelist: list[str] | None = Field(None, description="allowed values of a string item")
    form: Identifier | None = Field(None, description="the instrument that provides it")
    field: str | None = Field(None, description="the item or score of that instrument")

    @model_validator(mode="after")
    def _range_fits_type(self) -> DataItem:
        numeric = self.type in (ItemType.INTEGER, ItemType.NUMBER)
        if (self.min is not None or self.max is not None) and not numeric:
            raise ValueError(f"min/max apply to integer or number items, not {self.type.value}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        if self.codelist is not None and self.type is not ItemType.STRING:
            raise ValueError("a codelist applies to string items only")
        return self


# ---------------------------------------------------------------- randomization, sites, safety


class StratificationFactor(Frozen):
    id: Identifier
    item: Identifier = Field(description="the data item whose value gives the stratum")
    levels: list[str] = Field(min_length=2)


class Randomization(Frozen):
    method: Literal["blocks", "minimization"]
    block_sizes: list[int] = []
    stratify_by_site: bool = True
    stratification_factors: list[StratificationFactor] = []
    minimization_p: float | None = Field(None, gt=0.5, le=1)

    @model_validator(mode="after")
    def _method_parameters(self) -> Randomization:
        if self.method == "blocks" and not self.block_sizes:
            raise ValueError("method 'blocks' needs block_sizes")
        if self.method == "minimization" and self.minimization_p is None:
            raise ValueError("method 'minimization' needs minimization_p")
        if any(size <= 0 for size in self.block_sizes):
            raise ValueError("block sizes must be positive integers")
        return self


class Site(Frozen):
    id: Annotated[str, Field(pattern=SITE_CODE_PATTERN, description="site code used in SITE-NNN")]
    name: str
    city: str | None = None
    country: str | None = None


class Contact(Frozen):
    name: str
    role: Literal[
        "CONTACT", "PRINCIPAL_INVESTIGATOR", "STUDY_CHAIR", "STUDY_DIRECTOR", "SUB_INVESTIGATOR"
    ]
    affiliation: str | None = None
    phone: str | None = None
    email: str | None = None


class Safety(Frozen):
    ae_reporting_start: Literal["consent", "first_administration"] = "consent"
    ae_reporting_end_day: int = Field(gt=0, description="last day (from day 0) AEs are collected")
    sae_reporting_hours: int = Field(gt=0, description="hours from awareness to the SAE report")


class Assumption(Frozen):
    what: str = Field(min_length=1, description="the protocol field or topic")
    value: str = Field(min_length=1)
    why: str = Field(min_length=1)


# ---------------------------------------------------------------- the protocol


#: Arm types of a control arm, by preference (see `Protocol.control_arm`).
CONTROL_ARM_PREFERENCE = (
    ("PLACEBO_COMPARATOR", "SHAM_COMPARATOR", "NO_INTERVENTION"),
    ("ACTIVE_COMPARATOR",),
)


class Protocol(Frozen):
    schema_version: Literal[1] = SCHEMA_VERSION
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    version: str = Field(min_length=1, description="version of this protocol file")
    identifiers: Identifiers
    titles: Titles
    phases: list[Phase] = Field(min_length=1)
    status: Status
    sponsor: Sponsor
    conditions: list[str] = Field(min_length=1)
    keywords: list[str] = []
    summary: str | None = None
    description: str | None = None
    design: Design
    enrollment: Enrollment
    interventions: list[Intervention] = []
    arms: list[Arm] = Field(min_length=1)
    treatment_plan: list[Administration] = Field(min_length=1)
    visits: list[Visit] = Field(min_length=1)
    outcomes: list[Outcome] = []
    eligibility: Eligibility
    data_items: list[DataItem] = []
    instrument_parameters: dict[str, dict[str, str | int | float]] = Field(
        {},
        description="per instrument, the settings its definition leaves to the protocol, e.g. "
        "nrs_pain: {question: ..., recall_period: ...}",
    )
    randomization: Randomization | None = None
    sites: list[Site] = []
    contacts: list[Contact] = []
    safety: Safety
    edit_checks: list[EditCheck] = Field(
        [], description="rules whose findings become queries (trialdesk.protocol.edit_checks)"
    )
    sdv_plan: SdvPlan | None = Field(
        None, description="which items monitors verify; none: every item (100% SDV)"
    )
    patient_reported: list[PatientSchedule] = Field(
        [], description="what patients answer at home, when (trialdesk.protocol.patient_reports)"
    )
    assumptions: list[Assumption] = []

    @field_validator("phases")
    @classmethod
    def _phases_unique(cls, phases: list[Phase]) -> list[Phase]:
        if len(set(phases)) != len(phases):
            raise ValueError("phases must not repeat")
        return phases

    def arm(self, arm_id: str) -> Arm:
        return next(arm for arm in self.arms if arm.id == arm_id)

    def intervention(self, intervention_id: str) -> Intervention:
        return next(i for i in self.interventions if i.id == intervention_id)

    def visit(self, visit_id: str) -> Visit:
        return next(visit for visit in self.visits if visit.id == visit_id)

    def criterion(self, criterion_id: str) -> Criterion:
        return next(c for c in self.eligibility.criteria if c.id == criterion_id)

    def control_arm(self) -> str:
        """The arm every other arm is compared with (analysis, power, the demo's effects): the
        first placebo, sham or no-intervention arm, else the first active comparator, else the
        last arm."""
        for types in CONTROL_ARM_PREFERENCE:
            for arm in self.arms:
                if str(arm.type) in types:
                    return arm.id
        return self.arms[-1].id


def is_registry_age(value: object) -> bool:
    """Whether `value` is an age as the registry writes it, e.g. '40 Years' or '6 Months'."""
    return isinstance(value, str) and re.fullmatch(AGE_PATTERN, value) is not None


def age_in_years(normalized_age: str) -> float:
    """'40 Years' -> 40.0; '6 Months' -> 0.5. Used for the computable AGE criterion."""
    match = re.fullmatch(AGE_PATTERN, normalized_age)
    if match is None:
        raise ValueError(f"not a registry age: {normalized_age!r}")
    per_year = {"Year": 1, "Month": 12, "Week": 365.25 / 7, "Day": 365.25, "Hour": 365.25 * 24}
    return int(match.group(1)) / per_year[match.group(2)]
