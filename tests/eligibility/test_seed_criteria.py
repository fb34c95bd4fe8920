"""Every computable criterion of both seed trials, at and around each boundary."""

from __future__ import annotations

import pytest

from trialdesk.eligibility import evaluate
from trialdesk.protocol import load_protocol

from .conftest import ELIGIBLE_STEMJOINT

LABS_NORMAL = {
    "neutrophils": 3.5,
    "platelets": 220,
    "albumin": 42,
    "creatinine": 80,
    "creatinine_uln": 104,
    "bilirubin": 10,
    "bilirubin_uln": 21,
    "alt": 20,
    "alt_uln": 40,
    "ast": 22,
    "ast_uln": 40,
}
SEROLOGY_NEGATIVE = dict.fromkeys(
    ["hiv_positive", "hbv_positive", "hcv_positive", "syphilis_positive"], False
)

CBM_ALAM = [  # NCT04208646
    *[
        ("AGE", {"age": age}, result)
        for age, result in [(39, "fail"), (40, "pass"), (75, "pass"), (76, "fail")]
    ],
    *[
        ("I3", {"age": age}, result)
        for age, result in [(39, "fail"), (40, "pass"), (75, "pass"), (76, "fail")]
    ],
    *[
        ("I4", {"oa_duration_months": months}, result)
        for months, result in [
            (6, "fail"),
            (6.1, "pass"),
            (119.9, "pass"),
            (120, "fail"),
            (None, "unknown"),
        ]
    ],
    *[
        ("I5", {"womac_total": total, "womac_pain": pain}, result)
        for total, pain, result in [
            (23.9, 10, "fail"),
            (24, 10, "pass"),
            (72, 10, "pass"),
            (72.5, 10, "fail"),
            (40, 6.9, "fail"),
            (40, 7, "pass"),
            (40, 17, "pass"),
            (40, 17.5, "fail"),
            (40, None, "unknown"),
            (80, None, "fail"),
        ]
    ],
    *[
        ("I6", {"kl_grade_index": grade}, result)
        for grade, result in [(1, "fail"), (2, "pass"), (3, "pass"), (4, "fail"), (None, "unknown")]
    ],
    *[
        ("E3", {"bmi": bmi}, result)
        for bmi, result in [(29.9, "pass"), (30, "pass"), (30.1, "fail"), (None, "unknown")]
    ],
    ("E4", LABS_NORMAL, "pass"),
    ("E4", LABS_NORMAL | {"neutrophils": 1.0}, "pass"),
    ("E4", LABS_NORMAL | {"neutrophils": 0.99}, "fail"),
    ("E4", LABS_NORMAL | {"platelets": 50}, "pass"),
    ("E4", LABS_NORMAL | {"platelets": 49}, "fail"),
    ("E4", LABS_NORMAL | {"albumin": 30}, "pass"),
    ("E4", LABS_NORMAL | {"albumin": 29.9}, "fail"),
    ("E4", LABS_NORMAL | {"creatinine": 104}, "pass"),
    ("E4", LABS_NORMAL | {"creatinine": 105}, "fail"),
    ("E4", LABS_NORMAL | {"bilirubin": 42}, "pass"),
    ("E4", LABS_NORMAL | {"bilirubin": 42.1}, "fail"),
    ("E4", LABS_NORMAL | {"alt": 80}, "pass"),
    ("E4", LABS_NORMAL | {"alt": 81}, "fail"),
    ("E4", LABS_NORMAL | {"ast": 80}, "pass"),
    ("E4", LABS_NORMAL | {"ast": 80.5}, "fail"),
    ("E4", LABS_NORMAL | {"creatinine_uln": None}, "unknown"),
    ("E4", {"platelets": 20}, "fail"),
    ("E18", SEROLOGY_NEGATIVE, "pass"),
    *[("E18", SEROLOGY_NEGATIVE | {test: True}, "fail") for test in SEROLOGY_NEGATIVE],
    ("E18", SEROLOGY_NEGATIVE | {"hcv_positive": None}, "unknown"),
    ("E18", {"hiv_positive": True}, "fail"),
    ("E24", {"kl_grade_index": 3, "kl_grade_contralateral": 3}, "pass"),
    ("E24", {"kl_grade_index": 4, "kl_grade_contralateral": 1}, "fail"),
    ("E24", {"kl_grade_index": 2, "kl_grade_contralateral": 4}, "fail"),
    ("E24", {"kl_grade_index": 2}, "unknown"),
    ("E24", {"kl_grade_contralateral": 4}, "fail"),
]

STEMJOINT = [  # NCT05933434
    *[
        ("AGE", {"age": age}, result)
        for age, result in [(39, "fail"), (40, "pass"), (75, "pass"), (76, "fail")]
    ],
    *[
        ("I1", {"knee_pain_duration_months": months, "nrs_pain_worst": nrs}, result)
        for months, nrs, result in [
            (5.9, 6, "fail"),
            (6, 6, "pass"),
            (24, 3, "fail"),
            (24, 4, "pass"),
            (24, None, "unknown"),
            (3, None, "fail"),
        ]
    ],
    *[
        ("I2", {"kl_grade_index": grade, "joint_space_width_mm": width}, result)
        for grade, width, result in [
            (1, 2, "fail"),
            (2, 2, "pass"),
            (3, 2, "pass"),
            (4, 2, "fail"),
            (2, 0.9, "fail"),
            (2, 1, "pass"),
            (2, 3, "pass"),
            (2, 3.1, "fail"),
            (None, 2, "unknown"),
            (4, None, "fail"),
        ]
    ],
    *[
        ("I3", {"axial_deformity_deg": degrees}, result)
        for degrees, result in [(4.9, "pass"), (5, "pass"), (5.1, "fail"), (None, "unknown")]
    ],
    *[
        ("I4", {"oa_compartment": compartment}, result)
        for compartment, result in [
            ("medial", "pass"),
            ("lateral", "pass"),
            ("dual", "pass"),
            (None, "unknown"),
        ]
    ],
    *[
        ("I5", {"bmi": bmi}, result)
        for bmi, result in [(34.9, "pass"), (35, "fail"), (None, "unknown")]
    ],
    *[
        ("E1", {"kl_grade_index": grade}, result)
        for grade, result in [(3, "pass"), (4, "fail"), (None, "unknown")]
    ],
    *[
        ("E11", {"ap_laxity_mm": laxity}, result)
        for laxity, result in [(2.9, "pass"), (3, "fail"), (None, "unknown")]
    ],
]


@pytest.fixture(scope="module")
def protocols():
    return {nct: load_protocol(nct) for nct in ("NCT04208646", "NCT05933434")}


def result_of(protocol, criterion_id, items):
    items = {name: value for name, value in items.items() if value is not None}
    result = evaluate(protocol, items, {})
    return next(c for c in result.criteria if c.id == criterion_id)


@pytest.mark.parametrize(("criterion_id", "items", "expected"), CBM_ALAM)
def test_nct04208646(protocols, criterion_id, items, expected):
    assert result_of(protocols["NCT04208646"], criterion_id, items).result == expected


@pytest.mark.parametrize(("criterion_id", "items", "expected"), STEMJOINT)
def test_nct05933434(protocols, criterion_id, items, expected):
    assert result_of(protocols["NCT05933434"], criterion_id, items).result == expected


@pytest.mark.parametrize(
    ("nct", "computable"),
    [
        ("NCT04208646", {"AGE", "I3", "I4", "I5", "I6", "E3", "E4", "E18", "E24"}),
        ("NCT05933434", {"AGE", "I1", "I2", "I3", "I4", "I5", "E1", "E11"}),
    ],
)
def test_every_other_criterion_is_an_attestation(protocols, nct, computable):
    criteria = protocols[nct].eligibility.criteria
    assert {c.id for c in criteria if c.expression is not None} == computable
    assert all(c.attestation for c in criteria if c.id not in computable)


def test_reason_names_the_upper_limit_of_normal(protocols):
    reason = result_of(protocols["NCT04208646"], "E4", LABS_NORMAL | {"creatinine": 105}).reason
    assert reason == "creatinine 105 > ULN 104"
    reason = result_of(protocols["NCT04208646"], "E4", LABS_NORMAL | {"alt": 81}).reason
    assert reason == "alt 81 > 2 * ULN 40 (= 80)"


def test_a_fully_answered_patient_is_eligible(protocols):
    protocol = protocols["NCT05933434"]
    items = ELIGIBLE_STEMJOINT
    answers = {c.id: c.type == "inclusion" for c in protocol.eligibility.criteria if c.attestation}
    result = evaluate(protocol, items, answers)
    assert result.verdict == "eligible", [c for c in result.criteria if c.result != "pass"]
