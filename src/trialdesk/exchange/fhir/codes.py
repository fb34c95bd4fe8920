"""The code systems, value maps and identifiers the FHIR Bundle uses.

Codes bound `required` in FHIR R4 (4.0.1) come from the spec's value sets: the maps below
send trialdesk's values there. Where FHIR has no code for a value, the local systems under
`LOCAL` hold it (an instrument's items and options, lab tests without a LOINC code here).

Every fullUrl is a `urn:uuid:` from uuid5 over the study, resource type and record id, so two
exports of the same study give the same fullUrls and the same references.
"""

from __future__ import annotations

import uuid

from trialdesk.errors import BadInput

#: uuid5 namespace of every fullUrl trialdesk writes (itself uuid5 of the URL namespace).
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:trialdesk:fhir")

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CLINICALTRIALS_GOV = "https://clinicaltrials.gov"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
STUDY_PHASE = "http://terminology.hl7.org/CodeSystem/research-study-phase"
STUDY_PURPOSE = "http://terminology.hl7.org/CodeSystem/research-study-prim-purp-type"
AE_SERIOUSNESS = "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness"
AE_SEVERITY = "http://terminology.hl7.org/CodeSystem/adverse-event-severity"
AE_OUTCOME = "http://terminology.hl7.org/CodeSystem/adverse-event-outcome"
#: Root of trialdesk's own code systems and identifier systems.
LOCAL = "urn:trialdesk"


def full_url(*parts: str) -> str:
    """The fullUrl of the resource named by `parts` (study, resource type, record id...)."""
    return f"urn:uuid:{resource_id(*parts)}"


def resource_id(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(parts)))


def study_system(protocol_id: str, what: str) -> str:
    """The identifier system of one kind of record of one study, e.g. its subject codes."""
    return f"{LOCAL}:study:{protocol_id}:{what}"


def instrument_system(instrument_id: str, item_id: str | None = None) -> str:
    """The code system of an instrument's items, or of one item's answer options."""
    base = f"{LOCAL}:instrument:{instrument_id}"
    return base if item_id is None else f"{base}:{item_id}"


#: ClinicalTrials.gov overall status -> ResearchStudy.status (required binding,
#: http://hl7.org/fhir/ValueSet/research-study-status).
STUDY_STATUS = {
    "NOT_YET_RECRUITING": "approved",
    "RECRUITING": "active",
    "ENROLLING_BY_INVITATION": "active",
    "ACTIVE_NOT_RECRUITING": "closed-to-accrual",
    "SUSPENDED": "temporarily-closed-to-accrual",
    "TERMINATED": "administratively-completed",
    "COMPLETED": "completed",
    "WITHDRAWN": "withdrawn",
    "AVAILABLE": "active",
    "TEMPORARILY_NOT_AVAILABLE": "temporarily-closed-to-accrual",
    "NO_LONGER_AVAILABLE": "closed-to-accrual",
    "APPROVED_FOR_MARKETING": "completed",
}


def study_status(overall: str) -> str:
    try:
        return STUDY_STATUS[overall]
    except KeyError:
        raise BadInput(
            f"protocol status.overall: {overall} has no FHIR ResearchStudy.status; "
            f"expected one of {', '.join(STUDY_STATUS)}"
        ) from None


#: ClinicalTrials.gov phases (as a set) -> the research-study-phase code.
PHASES = {
    frozenset({"NA"}): "n-a",
    frozenset({"EARLY_PHASE1"}): "early-phase-1",
    frozenset({"PHASE1"}): "phase-1",
    frozenset({"PHASE1", "PHASE2"}): "phase-1-phase-2",
    frozenset({"PHASE2"}): "phase-2",
    frozenset({"PHASE2", "PHASE3"}): "phase-2-phase-3",
    frozenset({"PHASE3"}): "phase-3",
    frozenset({"PHASE4"}): "phase-4",
}

#: ClinicalTrials.gov primary purpose -> research-study-prim-purp-type (extensible).
PURPOSES = {
    "TREATMENT": "treatment",
    "PREVENTION": "prevention",
    "DIAGNOSTIC": "diagnostic",
    "SUPPORTIVE_CARE": "supportive-care",
    "SCREENING": "screening",
    "HEALTH_SERVICES_RESEARCH": "health-services-research",
    "BASIC_SCIENCE": "basic-science",
    "DEVICE_FEASIBILITY": "device-feasibility",
}


def subject_status(status: str, randomized: bool) -> str:
    """The subject's lifecycle status -> ResearchSubject.status (required binding,
    http://hl7.org/fhir/ValueSet/research-subject-status).

    FHIR's `withdrawn` is a withdrawal before registration; a subject who withdraws after
    randomization is `off-study`, as is one who completed or was lost to follow-up.
    """
    if status == "withdrawn":
        return "off-study" if randomized else "withdrawn"
    return {
        "screened": "screening",
        "consented": "screening",
        "eligible": "eligible",
        "screen_failed": "ineligible",
        "randomized": "on-study",
        "treated": "on-study-intervention",
        "in_follow_up": "follow-up",
        "completed": "off-study",
        "lost_to_follow_up": "off-study",
    }[status]


def ae_severity(ctcae_grade: int) -> str:
    """CTCAE grade -> AdverseEvent.severity (required, adverse-event-severity): grade 1 mild,
    2 moderate, 3 to 5 severe (CTCAE v5: 3 severe, 4 life-threatening, 5 death)."""
    return "mild" if ctcae_grade <= 1 else "moderate" if ctcae_grade == 2 else "severe"


#: CDISC AEOUT (the store's outcome) -> AdverseEvent.outcome (required, adverse-event-outcome).
AE_OUTCOMES = {
    "recovered": "resolved",
    "recovering": "recovering",
    "not_recovered": "ongoing",
    "recovered_with_sequelae": "resolvedWithSequelae",
    "fatal": "fatal",
    "unknown": "unknown",
}

#: Instrument units -> UCUM codes, for Observation.valueQuantity.
UCUM_CODES = {
    "g/L": "g/L",
    "10^9/L": "10*9/L",
    "umol/L": "umol/L",
    "U/L": "U/L",
    "cm": "cm",
    "kg": "kg",
    "mmHg": "mm[Hg]",
    "beats/min": "/min",
    "degrees C": "Cel",
    "kg/m2": "kg/m2",
}

#: LOINC codes of the lab and vital-sign items whose test they name exactly (specimen,
#: property and scale as the instrument has them); the other items get only a local code.
LOINC_CODES = {
    ("labs", "haemoglobin"): ("718-7", "Hemoglobin [Mass/volume] in Blood"),
    ("labs", "leukocytes"): ("6690-2", "Leukocytes [#/volume] in Blood by Automated count"),
    ("labs", "neutrophils"): ("751-8", "Neutrophils [#/volume] in Blood by Automated count"),
    ("labs", "platelets"): ("777-3", "Platelets [#/volume] in Blood by Automated count"),
    ("labs", "albumin"): ("1751-7", "Albumin [Mass/volume] in Serum or Plasma"),
    ("labs", "creatinine"): ("14682-9", "Creatinine [Moles/volume] in Serum or Plasma"),
    ("labs", "bilirubin"): ("14631-6", "Bilirubin.total [Moles/volume] in Serum or Plasma"),
    ("labs", "alt"): (
        "1742-6",
        "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
    ),
    ("labs", "ast"): (
        "1920-8",
        "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
    ),
    ("vitals", "height_cm"): ("8302-2", "Body height"),
    ("vitals", "weight_kg"): ("29463-7", "Body weight"),
    ("vitals", "bmi"): ("39156-5", "Body mass index (BMI) [Ratio]"),
    ("vitals", "systolic_bp"): ("8480-6", "Systolic blood pressure"),
    ("vitals", "diastolic_bp"): ("8462-4", "Diastolic blood pressure"),
    ("vitals", "pulse"): ("8867-4", "Heart rate"),
    ("vitals", "temperature_c"): ("8310-5", "Body temperature"),
}
#: The blood pressure panel the systolic and diastolic pressures are components of.
BLOOD_PRESSURE_PANEL = ("85354-9", "Blood pressure panel with all children optional")
