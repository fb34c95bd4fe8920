"""Labs, vitals and HLA typing."""

import pytest

from trialdesk.errors import InstrumentError
from trialdesk.instruments import get_instrument, score, validate_answers


def test_lab_multiples_of_uln_and_flags():
    answers = {
        "creatinine": 100,
        "creatinine_uln": 100,
        "bilirubin": 41,
        "bilirubin_uln": 20,
        "alt": 80,
        "alt_uln": 40,
        "ast": 30,
        "ast_uln": 40,
    }
    assert score("labs", answers) == pytest.approx(
        {
            "creatinine_x_uln": 1.0,
            "bilirubin_x_uln": 2.05,
            "alt_x_uln": 2.0,
            "ast_x_uln": 0.75,
            "creatinine_above_uln": False,  # equal to ULN is not above it
            "bilirubin_above_2_uln": True,
            "alt_above_2_uln": False,  # exactly 2 x ULN is not above it
            "ast_above_2_uln": False,
            "infection_serology_positive": None,
        }
    )


def test_lab_flag_is_missing_without_its_uln():
    assert score("labs", {"alt": 500})["alt_above_2_uln"] is None


def test_any_positive_serology():
    negative = dict.fromkeys(["hiv_positive", "hbv_positive", "hcv_positive"], False)
    assert score("labs", negative)["infection_serology_positive"] is None
    assert (
        score("labs", negative | {"syphilis_positive": False})["infection_serology_positive"]
        is False
    )
    assert score("labs", {"hcv_positive": True})["infection_serology_positive"] is True


def test_lab_units_are_declared():
    items = get_instrument("labs").item_map
    assert items["neutrophils"].unit == "10^9/L"
    assert items["platelets"].unit == "10^9/L"
    assert items["albumin"].unit == "g/L"
    assert items["creatinine"].unit == items["creatinine_uln"].unit == "umol/L"


def test_bmi_is_weight_over_height_squared_unrounded():
    scores = score("vitals", {"height_cm": 165, "weight_kg": 81.7})
    assert scores["bmi"] == pytest.approx(81.7 / 1.65**2, abs=1e-5)
    assert score("vitals", {"height_cm": 165})["bmi"] is None


@pytest.mark.parametrize(
    ("item", "allele"),
    [
        ("hla_a_1", "A*02:01"),
        ("hla_a_2", "A*02:101"),
        ("hla_b_1", "B*44:02:01"),
        ("hla_c_2", "C*07:01:01:02"),
        ("hla_drb1_1", "DRB1*15:01"),
        ("hla_dqb1_2", "DQB1*06:02:01:01N"),
    ],
)
def test_hla_alleles_in_who_nomenclature_are_accepted(item, allele):
    assert validate_answers("hla_typing", {item: allele})[item] == allele


@pytest.mark.parametrize(
    ("item", "allele"),
    [
        ("hla_a_1", "A*02"),  # one field
        ("hla_a_1", "A*2:01"),  # one-digit allele group
        ("hla_a_1", "B*07:02"),  # wrong locus
        ("hla_a_1", "A*02:01:01:01:01"),  # five fields
        ("hla_drb1_1", "DRB1 15:01"),
        ("hla_a_1", "A2"),  # serological, not an allele
    ],
)
def test_malformed_hla_alleles_are_refused(item, allele):
    with pytest.raises(InstrumentError, match=f"hla_typing item {item}: .* such as"):
        validate_answers("hla_typing", {item: allele})


def test_donor_specific_antibodies():
    answers = {"dsa_present": True, "dsa_specificities": "A2, DR15", "dsa_max_mfi": 3400.0}
    assert validate_answers("hla_typing", answers)["dsa_max_mfi"] == 3400.0
