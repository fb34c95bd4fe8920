"""A small protocol built in the tests, with criteria shaped like the seed trials'."""

from __future__ import annotations

import pytest

from trialdesk.protocol.model import Protocol

ITEMS = [
    {"id": "age", "label": "Age", "type": "integer", "unit": "years", "min": 0, "max": 120},
    {"id": "oa_duration_months", "label": "OA duration", "type": "number", "min": 0},
    {"id": "womac_total", "label": "WOMAC total", "type": "number", "min": 0, "max": 96},
    {"id": "womac_pain", "label": "WOMAC pain", "type": "number", "min": 0, "max": 20},
    {"id": "kl_grade_index", "label": "KL grade", "type": "integer", "min": 0, "max": 4},
    {"id": "bmi", "label": "BMI", "type": "number", "min": 10, "max": 80},
    {"id": "creatinine", "label": "Creatinine", "type": "number", "min": 0},
    {"id": "creatinine_uln", "label": "Creatinine ULN", "type": "number", "min": 0},
    {"id": "bilirubin", "label": "Bilirubin", "type": "number", "min": 0},
    {"id": "bilirubin_uln", "label": "Bilirubin ULN", "type": "number", "min": 0},
    {"id": "hiv_positive", "label": "HIV", "type": "boolean"},
    {"id": "hbv_positive", "label": "HBV", "type": "boolean"},
    {
        "id": "oa_compartment",
        "label": "Compartment",
        "type": "string",
        "codelist": ["medial", "lateral", "dual"],
    },
    {"id": "screening_date", "label": "Screening date", "type": "date"},
]

CRITERIA = [
    {"id": "AGE", "type": "inclusion", "text": "40-75 years", "expression": "40 <= age <= 75"},
    {"id": "I1", "type": "inclusion", "text": "Signed consent", "attestation": True},
    {
        "id": "I4",
        "type": "inclusion",
        "text": "more than 6 months and less than 10 years",
        "expression": "6 < oa_duration_months < 120",
    },
    {
        "id": "I5",
        "type": "inclusion",
        "text": "WOMAC 24-72, pain 7-17",
        "expression": "24 <= womac_total <= 72 and 7 <= womac_pain <= 17",
    },
    {"id": "I6", "type": "inclusion", "text": "KL 2-3", "expression": "kl_grade_index in {2, 3}"},
    {
        "id": "I7",
        "type": "inclusion",
        "text": "compartment",
        "expression": 'oa_compartment in {"medial", "lateral", "dual"}',
    },
    {"id": "E3", "type": "exclusion", "text": "BMI over 30", "expression": "bmi > 30"},
    {
        "id": "E4",
        "type": "exclusion",
        "text": "labs",
        "expression": "creatinine > creatinine_uln or bilirubin > 2 * bilirubin_uln",
    },
    {"id": "E5", "type": "exclusion", "text": "Pregnant", "attestation": True},
    {
        "id": "E18",
        "type": "exclusion",
        "text": "infections",
        "expression": "hiv_positive or hbv_positive",
    },
]


#: A patient who meets every computable criterion of NCT05933434 (STEMJOINT).
ELIGIBLE_STEMJOINT = {
    "age": 60,
    "knee_pain_duration_months": 12,
    "nrs_pain_worst": 6,
    "kl_grade_index": 2,
    "joint_space_width_mm": 2.5,
    "axial_deformity_deg": 3,
    "oa_compartment": "medial",
    "bmi": 29,
    "ap_laxity_mm": 1,
}


def protocol_with(criteria: list[dict], items: list[dict] = ITEMS) -> Protocol:
    return Protocol.model_validate(
        {
            "id": "TEST-1",
            "version": "1",
            "identifiers": {"nct_id": "NCT00000001"},
            "titles": {"brief": "A test trial"},
            "phases": ["PHASE2"],
            "status": {"overall": "RECRUITING"},
            "sponsor": {"lead": {"name": "Test sponsor"}},
            "conditions": ["Knee osteoarthritis"],
            "design": {
                "allocation": "RANDOMIZED",
                "intervention_model": "PARALLEL",
                "primary_purpose": "TREATMENT",
                "masking": "DOUBLE",
            },
            "enrollment": {"count": 10},
            "interventions": [{"id": "drug", "type": "DRUG", "name": "Drug"}],
            "arms": [
                {
                    "id": "A",
                    "label": "Arm A",
                    "type": "EXPERIMENTAL",
                    "weight": 1,
                    "interventions": [{"intervention": "drug"}],
                }
            ],
            "treatment_plan": [{"id": "C1", "label": "Cycle 1", "day": 0}],
            "visits": [{"id": "V0", "label": "Baseline", "day": 0}],
            "eligibility": {"criteria": criteria},
            "data_items": items,
            "safety": {"ae_reporting_end_day": 30, "sae_reporting_hours": 24},
        }
    )


@pytest.fixture
def protocol() -> Protocol:
    return protocol_with(CRITERIA)
