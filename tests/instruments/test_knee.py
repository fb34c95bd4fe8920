"""Kellgren-Lawrence grade, knee examination, MOAKS and quantitative MRI."""

import pytest

from trialdesk.errors import InstrumentError
from trialdesk.instruments import get_instrument, score, validate_answers


def test_kl_grade_labels_are_the_definitions():
    labels = {o.value: o.label for o in get_instrument("kl_grade").item_map["index_knee"].options}
    assert labels[2] == "definite osteophytes, possible joint-space narrowing"
    assert set(labels) == {0, 1, 2, 3, 4}


def test_kl_max_grade_needs_both_knees():
    assert score("kl_grade", {"index_knee": 2, "contralateral_knee": 4}) == {"max_grade": 4}
    assert score("kl_grade", {"index_knee": 3}) == {"max_grade": None}


def test_knee_exam_range_of_motion_and_alignment():
    answers = {
        "index_flexion_deg": 115,
        "index_extension_deg": 5,
        "index_alignment_deg": -4.5,
        "contralateral_flexion_deg": 130,
        "contralateral_extension_deg": -5,
        "contralateral_alignment_deg": 3,
        "index_effusion": True,
    }
    assert score("knee_exam", answers) == {
        "index_range_of_motion_deg": 110,
        "index_malalignment_deg": 4.5,
        "contralateral_range_of_motion_deg": 135,  # 5 degrees of hyperextension add to the arc
        "contralateral_malalignment_deg": 3,
    }


def test_knee_exam_flexion_below_the_extension_deficit_is_refused():
    with pytest.raises(InstrumentError, match="index_extension_deg, index_flexion_deg"):
        validate_answers("knee_exam", {"index_flexion_deg": 10, "index_extension_deg": 20})


def test_knee_exam_quadriceps_level_is_a_protocol_parameter():
    instrument = get_instrument("knee_exam")
    assert instrument.parameters["quadriceps_level_cm"].unit == "cm"
    assert instrument.resolve_parameters({"quadriceps_level_cm": 10}) == {"quadriceps_level_cm": 10}


MOAKS = get_instrument("moaks")


def moaks_reading(**answers: object) -> dict:
    """A complete MOAKS reading with no findings, changed by `answers`."""
    blank = {item.id: 0 if item.type == "integer" else False for item in MOAKS.items}
    return blank | answers


def test_moaks_has_the_reference_subregions():
    items = MOAKS.item_map
    assert sum(1 for i in items if i.startswith("bml_size_")) == 15
    assert sum(1 for i in items if i.startswith("cartilage_area_")) == 14
    assert sum(1 for i in items if i.startswith("cartilage_full_")) == 14
    assert sum(1 for i in items if i.startswith("osteophyte_")) == 12
    assert "total" not in {score.id for score in MOAKS.scores}


def test_moaks_counts_and_compartment_maxima():
    reading = moaks_reading(
        bml_size_tibia_medial_central=2,
        bml_number_tibia_medial_central=1,
        bml_size_tibia_subspinous=1,
        bml_number_tibia_subspinous=2,
        cartilage_area_femur_central_medial=3,
        cartilage_full_femur_central_medial=2,
        cartilage_area_patella_lateral=1,
        osteophyte_tibia_medial=2,
        osteophyte_patella_superior=1,
    )
    assert score("moaks", reading) == {
        "bml_subregions": 2,
        "cartilage_loss_subregions": 2,
        "full_thickness_loss_subregions": 1,
        "osteophyte_sites": 2,
        "bml_max_patellofemoral": 0,
        "cartilage_max_patellofemoral": 1,
        "bml_max_medial_tibiofemoral": 2,  # the subspinous region is in no compartment
        "cartilage_max_medial_tibiofemoral": 3,
        "bml_max_lateral_tibiofemoral": 0,
        "cartilage_max_lateral_tibiofemoral": 0,
    }


def test_moaks_summaries_need_every_subregion_read():
    reading = moaks_reading()
    del reading["bml_size_patella_medial"]
    scores = score("moaks", reading)
    assert scores["bml_subregions"] is None
    assert scores["bml_max_patellofemoral"] is None
    assert scores["bml_max_medial_tibiofemoral"] == 0
    assert scores["cartilage_loss_subregions"] == 0


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"cartilage_area_trochlea_medial": 1, "cartilage_full_trochlea_medial": 2}, "full-thick"),
        ({"bml_size_trochlea_medial": 1, "bml_number_trochlea_medial": 0}, "BML size of 0"),
        ({"bml_size_trochlea_medial": 0, "bml_number_trochlea_medial": 1}, "BML size of 0"),
    ],
)
def test_moaks_readings_must_agree_with_themselves(answers, message):
    with pytest.raises(InstrumentError, match=message):
        validate_answers("moaks", answers)


def test_qmri_femorotibial_thickness_is_plate_sum():
    answers = {
        "medial_tibia_thickness_mm": 1.6,
        "central_medial_femur_thickness_mm": 1.9,
        "lateral_tibia_thickness_mm": 2.1,
        "medial_tibia_t2_ms": 38.0,
    }
    scores = score("qmri", answers)
    assert scores["medial_tibiofemoral_thickness_mm"] == pytest.approx(3.5)
    assert scores["lateral_tibiofemoral_thickness_mm"] is None


def test_qmri_has_volume_thickness_and_t2_per_plate():
    items = get_instrument("qmri").item_map
    for plate in ("medial_tibia", "lateral_tibia", "patella", "trochlea"):
        assert {f"{plate}_volume_mm3", f"{plate}_thickness_mm", f"{plate}_t2_ms"} <= set(items)
