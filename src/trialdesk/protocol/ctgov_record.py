"""The part of a ClinicalTrials.gov API v2 `Study` that the importer reads, with its types.

A record is checked against this before anything is drafted, so a hand-edited record with,
say, a number where the eligibility text belongs is refused with the field's path instead of
failing half-way through the draft. Every field may be absent or null, as in the registry's
own schema; fields not named here are not checked (the importer warns about unknown ones).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

Text = str | None
Texts = list[str] | None


class _Id(BaseModel):
    id: Text = None
    type: Text = None
    domain: Text = None


class _Identification(BaseModel):
    nctId: Text = None
    orgStudyIdInfo: _Id | None = None
    secondaryIdInfos: list[_Id] | None = None
    briefTitle: Text = None
    officialTitle: Text = None
    acronym: Text = None


class _Dated(BaseModel):
    date: Text = None
    type: Text = None


class _Status(BaseModel):
    overallStatus: Text = None
    whyStopped: Text = None
    statusVerifiedDate: Text = None
    startDateStruct: _Dated | None = None
    primaryCompletionDateStruct: _Dated | None = None
    completionDateStruct: _Dated | None = None
    studyFirstPostDateStruct: _Dated | None = None
    lastUpdatePostDateStruct: _Dated | None = None


class _Organization(BaseModel):
    name: Text = None
    agency_class: Text = Field(None, alias="class")


class _ResponsibleParty(BaseModel):
    type: Text = None
    investigatorFullName: Text = None
    investigatorTitle: Text = None
    investigatorAffiliation: Text = None


class _Sponsors(BaseModel):
    leadSponsor: _Organization | None = None
    collaborators: list[_Organization] | None = None
    responsibleParty: _ResponsibleParty | None = None


class _Description(BaseModel):
    briefSummary: Text = None
    detailedDescription: Text = None


class _Conditions(BaseModel):
    conditions: Texts = None
    keywords: Texts = None


class _Masking(BaseModel):
    masking: Text = None
    whoMasked: Texts = None
    maskingDescription: Text = None


class _DesignInfo(BaseModel):
    allocation: Text = None
    interventionModel: Text = None
    interventionModelDescription: Text = None
    primaryPurpose: Text = None
    maskingInfo: _Masking | None = None


class _Enrollment(BaseModel):
    count: int | None = None
    type: Text = None


class _Design(BaseModel):
    studyType: Text = None
    phases: Texts = None
    designInfo: _DesignInfo | None = None
    enrollmentInfo: _Enrollment | None = None


class _ArmGroup(BaseModel):
    label: Text = None
    type: Text = None
    description: Text = None
    interventionNames: Texts = None


class _Intervention(BaseModel):
    type: Text = None
    name: Text = None
    description: Text = None
    armGroupLabels: Texts = None
    otherNames: Texts = None


class _ArmsInterventions(BaseModel):
    armGroups: list[_ArmGroup] | None = None
    interventions: list[_Intervention] | None = None


class _Outcome(BaseModel):
    measure: Text = None
    description: Text = None
    timeFrame: Text = None


class _Outcomes(BaseModel):
    primaryOutcomes: list[_Outcome] | None = None
    secondaryOutcomes: list[_Outcome] | None = None
    otherOutcomes: list[_Outcome] | None = None


class _Eligibility(BaseModel):
    eligibilityCriteria: Text = None
    healthyVolunteers: bool | None = None
    sex: Text = None
    minimumAge: Text = None
    maximumAge: Text = None


class _Contact(BaseModel):
    name: Text = None
    role: Text = None
    affiliation: Text = None
    phone: Text = None
    email: Text = None


class _Location(BaseModel):
    facility: Text = None
    city: Text = None
    country: Text = None


class _ContactsLocations(BaseModel):
    centralContacts: list[_Contact] | None = None
    overallOfficials: list[_Contact] | None = None
    locations: list[_Location] | None = None


class _ProtocolSection(BaseModel):
    identificationModule: _Identification | None = None
    statusModule: _Status | None = None
    sponsorCollaboratorsModule: _Sponsors | None = None
    descriptionModule: _Description | None = None
    conditionsModule: _Conditions | None = None
    designModule: _Design | None = None
    armsInterventionsModule: _ArmsInterventions | None = None
    outcomesModule: _Outcomes | None = None
    eligibilityModule: _Eligibility | None = None
    contactsLocationsModule: _ContactsLocations | None = None


class StudyRecord(BaseModel):
    """What the importer reads of a `Study`: its protocol section."""

    protocolSection: _ProtocolSection
