"""The shipped protocol files are faithful to the registry records in shared/seeds/."""

from __future__ import annotations

import re

import pytest

from trialdesk.protocol import load_protocol

SEED_FILES = {"NCT04208646": "000_51703b8323fab20c.txt", "NCT05933434": "002_23ebd350d09445d8.txt"}

COMPUTABLE = {
    "NCT04208646": {
        "AGE": "40 <= age <= 75",
        "I3": "40 <= age <= 75",
        "I4": "6 < oa_duration_months < 120",
        "I5": "24 <= womac_total <= 72 and 7 <= womac_pain <= 17",
        "I6": "kl_grade_index in {2, 3}",
        "E3": "bmi > 30",
        "E4": "neutrophils < 1.0 or platelets < 50 or albumin < 30 or creatinine > creatinine_uln"
        " or bilirubin > 2 * bilirubin_uln or alt > 2 * alt_uln or ast > 2 * ast_uln",
        "E18": "hiv_positive or hbv_positive or hcv_positive or syphilis_positive",
        "E24": "kl_grade_index == 4 or kl_grade_contralateral == 4",
    },
    "NCT05933434": {
        "AGE": "40 <= age <= 75",
        "I1": "knee_pain_duration_months >= 6 and nrs_pain_worst >= 4",
        "I2": "kl_grade_index in {2, 3} and 1 <= joint_space_width_mm <= 3",
        "I3": "axial_deformity_deg <= 5",
        "I4": 'oa_compartment in {"medial", "lateral", "dual"}',
        "I5": "bmi < 35",
        "E1": "kl_grade_index == 4",
        "E11": "ap_laxity_mm >= 3",
    },
}


@pytest.fixture(params=sorted(SEED_FILES))
def seed(request, shared_dir):
    identifier = request.param
    text = (shared_dir / "seeds" / SEED_FILES[identifier]).read_text(encoding="utf-8")
    return load_protocol(identifier), text


def test_criteria_are_the_registry_lines_in_registry_order(seed):
    protocol, text = seed
    criteria = [c for c in protocol.eligibility.criteria if c.id != "AGE"]
    inclusion = [c for c in criteria if c.type == "inclusion"]
    exclusion = [c for c in criteria if c.type == "exclusion"]
    expected_counts = {"NCT04208646": (7, 24), "NCT05933434": (7, 14)}[protocol.id]
    assert (len(inclusion), len(exclusion)) == expected_counts
    assert [c.id for c in inclusion] == [f"I{n}" for n in range(1, len(inclusion) + 1)]
    assert [c.id for c in exclusion] == [f"E{n}" for n in range(1, len(exclusion) + 1)]
    lines = [line.strip() for line in text.splitlines()]
    if protocol.id == "NCT04208646":
        # Numbered lists: "  3. Age: 40-75..." and the stray "24.The Kellgren..." line.
        for criterion in criteria:
            number = criterion.id[1:]
            assert f"{number}. {criterion.text}" in lines or f"{number}.{criterion.text}" in lines
    else:
        for criterion in criteria:
            assert f"- {criterion.text}" in lines
    positions = [text.index(c.text) for c in criteria]
    assert positions == sorted(positions)


def test_the_last_exclusion_of_nct04208646_is_the_kl_grade_iv_line(shared_dir):
    protocol = load_protocol("NCT04208646")
    assert protocol.criterion("E24").text == (
        "The Kellgren Lawrence grade (X-ray axial position of knee joint) of any knee joint "
        "of the subjects was grade IV."
    )


def test_computable_criteria_are_exactly_the_specified_ones(seed):
    protocol, _ = seed
    computable = {c.id: c.expression for c in protocol.eligibility.criteria if c.expression}
    assert computable == COMPUTABLE[protocol.id]
    attested = [c for c in protocol.eligibility.criteria if c.expression is None]
    assert all(c.attestation for c in attested)


def test_age_limits_and_population(seed):
    protocol, text = seed
    assert protocol.eligibility.minimum_age == "40 Years"
    assert protocol.eligibility.maximum_age == "75 Years"
    assert protocol.eligibility.sex.value == "ALL"
    assert protocol.eligibility.healthy_volunteers is False
    assert protocol.criterion("AGE").text in text


def test_design_arms_and_interventions_follow_the_record(seed):
    protocol, text = seed
    expected = {
        "NCT04208646": (106, ["PHASE2"], 3, "1:1:1", "COMPLETED", 7),
        "NCT05933434": (80, ["PHASE1", "PHASE2"], 2, "1:1", "NOT_YET_RECRUITING", 1),
    }[protocol.id]
    enrollment, phases, arms, ratio, status, sites = expected
    assert protocol.enrollment.count == enrollment
    assert [p.value for p in protocol.phases] == phases
    assert len(protocol.arms) == arms
    assert protocol.design.allocation.value == "RANDOMIZED"
    assert protocol.design.masking.value == "DOUBLE"
    assert protocol.design.allocation_ratio == ratio
    assert protocol.status.overall.value == status
    assert len(protocol.sites) == sites
    for arm in protocol.arms:
        assert arm.label in text
        assert arm.description in text
    for intervention in protocol.interventions:
        assert intervention.name in text
        if intervention.description:
            assert intervention.description in text
    assert protocol.titles.brief in text
    if protocol.titles.official:
        assert protocol.titles.official in text
    assert protocol.identifiers.org_study_id in text


def test_arm_types_are_the_registry_types():
    low, high, placebo = load_protocol("NCT04208646").arms
    assert (low.type.value, high.type.value, placebo.type.value) == (
        "EXPERIMENTAL",
        "EXPERIMENTAL",
        "PLACEBO_COMPARATOR",
    )
    msc, saline = load_protocol("NCT05933434").arms
    assert (msc.type.value, saline.type.value) == ("ACTIVE_COMPARATOR", "PLACEBO_COMPARATOR")
    assert msc.interventions[0].dose == "20 million AD-MSC"
    assert msc.interventions[0].volume_ml == 10
    assert saline.interventions[0].volume_ml == 10


def test_stemjoint_outcomes_are_the_registry_lines(shared_dir):
    protocol = load_protocol("NCT05933434")
    text = (shared_dir / "seeds" / SEED_FILES["NCT05933434"]).read_text(encoding="utf-8")
    registry_lines = re.findall(r"^- (.+?) \[ Time Frame: (.+?) \](.*)$", text, re.MULTILINE)
    assert len(registry_lines) == len(protocol.outcomes) == 10
    for outcome, (measure, time_frame, description) in zip(
        protocol.outcomes, registry_lines, strict=True
    ):
        assert (outcome.measure, outcome.time_frame, outcome.description) == (
            measure,
            time_frame,
            description,
        )
        named = [part.strip() for part in time_frame.split(",")]
        assert len(outcome.visits) == len(named)


def test_two_treatment_cycles_and_one_injection():
    assert [a.day for a in load_protocol("NCT04208646").treatment_plan] == [0, 21]
    assert [a.day for a in load_protocol("NCT05933434").treatment_plan] == [0]


def test_what_the_record_does_not_state_is_an_assumption(seed):
    protocol, _ = seed
    topics = " ".join(a.what for a in protocol.assumptions)
    for topic in ("visits", "randomization", "safety", "sites"):
        assert topic in topics
    if protocol.id == "NCT04208646":
        assert "treatment_plan C2 day" in topics
        assert "outcomes" in topics
    else:
        assert "outcomes kind" in topics
