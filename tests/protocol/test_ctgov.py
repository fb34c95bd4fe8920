"""ClinicalTrials.gov API v2: export validates against the official schema; import; round trip."""

from __future__ import annotations

import json

import pytest

from trialdesk.errors import BadInput, ProtocolError
from trialdesk.protocol import load_protocol, parse_protocol
from trialdesk.protocol.ctgov import export_record, import_record, read_record
from trialdesk.protocol.eligibility_text import split_criteria_text
from trialdesk.protocol.timeframes import time_points

SEEDS = ["NCT04208646", "NCT05933434"]


@pytest.mark.parametrize("identifier", SEEDS)
def test_export_validates_against_the_official_study_schema(identifier, study_validator):
    record = export_record(load_protocol(identifier))
    assert study_validator(record) == []


def test_the_schema_check_can_fail(study_validator):
    record = export_record(load_protocol("NCT05933434"))
    record["protocolSection"]["designModule"]["designInfo"]["allocation"] = "RANDOMISED"
    record["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = "eighty"
    assert len(study_validator(record)) == 2


@pytest.mark.parametrize(
    ("identifier", "enrollment", "arm_types", "phases"),
    [
        ("NCT04208646", 106, ["EXPERIMENTAL", "EXPERIMENTAL", "PLACEBO_COMPARATOR"], ["PHASE2"]),
        ("NCT05933434", 80, ["ACTIVE_COMPARATOR", "PLACEBO_COMPARATOR"], ["PHASE1", "PHASE2"]),
    ],
)
def test_export_carries_the_registry_facts(identifier, enrollment, arm_types, phases):
    protocol = load_protocol(identifier)
    section = export_record(protocol)["protocolSection"]
    design = section["designModule"]
    assert design["designInfo"]["allocation"] == "RANDOMIZED"
    assert design["designInfo"]["maskingInfo"]["masking"] == "DOUBLE"
    assert design["enrollmentInfo"]["count"] == enrollment
    assert design["phases"] == phases
    assert [arm["type"] for arm in section["armsInterventionsModule"]["armGroups"]] == arm_types
    eligibility = section["eligibilityModule"]
    assert (eligibility["minimumAge"], eligibility["maximumAge"]) == ("40 Years", "75 Years")
    assert eligibility["stdAges"] == ["ADULT", "OLDER_ADULT"]
    exported = [c["text"] for c in split_criteria_text(eligibility["eligibilityCriteria"])]
    assert exported == [c.text for c in protocol.eligibility.criteria if c.id != "AGE"]
    assert "BMI \\<35" in eligibility["eligibilityCriteria"] or protocol.id == "NCT04208646"


def test_arms_name_their_interventions_as_the_registry_does():
    section = export_record(load_protocol("NCT05933434"))["protocolSection"]
    arms = section["armsInterventionsModule"]
    assert arms["armGroups"][0]["interventionNames"] == [
        "Biological: Allogenic adipose derived mesenchymal stem cells (AD-MSC)"
    ]
    assert arms["interventions"][1]["armGroupLabels"] == ["Control"]


def reference_records(shared_dir):
    folder = shared_dir / "reference/ctgov"
    return sorted((folder / "api-v2").glob("*.json")) + sorted(
        (folder / "legacy-xml").glob("*.xml")
    )


def test_every_reference_record_imports_to_a_valid_protocol(shared_dir, study_validator):
    records = reference_records(shared_dir)
    assert len(records) >= 5
    for path in records:
        imported = import_record(read_record(path))
        again = parse_protocol(imported.to_yaml(), f"{path.name}.yaml")
        assert again == imported.protocol
        assert study_validator(export_record(imported.protocol)) == []


def test_import_keeps_registry_text_verbatim(shared_dir):
    path = shared_dir / "reference/ctgov/api-v2/NCT00763412.json"
    section = json.loads(path.read_text())["protocolSection"]
    protocol = import_record(read_record(path)).protocol
    assert protocol.id == "NCT00763412"
    assert [a.label for a in protocol.arms] == ["1 Placebo", "2. repaglinide"]
    assert protocol.arm(protocol.arms[1].id).interventions[0].intervention == "repaglinide"
    assert protocol.intervention("repaglinide").other_names == ["Prandin"]
    assert protocol.design.masking.value == "QUADRUPLE"
    assert protocol.enrollment.count == 31
    measures = [o.measure for o in protocol.outcomes]
    assert measures[:3] == ["BMI", "Body Composition", "CRP"]
    criteria = {c.id: c for c in protocol.eligibility.criteria}
    assert criteria["AGE"].expression == "12 <= age <= 24"
    assert criteria["I3"].text == (
        "Must have a glucose pattern by Oral Glucose Tolerance Test with fasting blood glucose "
        "<126 mg/dl and 2 hour: 140 - 199 mg/dl or >200 mg/dl."
    )
    assert len([c for c in protocol.eligibility.criteria if c.type == "exclusion"]) == 6
    assert "12 -24" in section["eligibilityModule"]["eligibilityCriteria"]
    assert protocol.sites[0].name == "Washington University School of Medicine"
    whats = " ".join(a.what for a in protocol.assumptions)
    assert "treatment_plan" in whats and "randomization" in whats


def test_legacy_xml_and_v2_json_of_the_same_study_agree(shared_dir):
    folder = shared_dir / "reference/ctgov"
    from_json = import_record(read_record(folder / "api-v2/NCT02513394.json")).protocol
    from_xml = import_record(read_record(folder / "legacy-xml/NCT02513394.xml")).protocol
    assert [a.label for a in from_json.arms] == [a.label for a in from_xml.arms]
    assert from_json.phases == from_xml.phases
    assert from_json.design.allocation == from_xml.design.allocation
    assert len(from_json.eligibility.criteria) == len(from_xml.eligibility.criteria)


@pytest.mark.parametrize("identifier", SEEDS)
def test_round_trip_gives_back_design_arms_outcomes_and_criteria(identifier):
    original = load_protocol(identifier)
    again = import_record(export_record(original)).protocol
    assert again.design.model_dump(exclude={"allocation_ratio"}) == original.design.model_dump(
        exclude={"allocation_ratio"}
    )
    assert again.phases == original.phases
    assert again.enrollment == original.enrollment
    assert [(a.label, a.type, a.description) for a in again.arms] == [
        (a.label, a.type, a.description) for a in original.arms
    ]
    assert [
        [again.intervention(g.intervention).name for g in arm.interventions] for arm in again.arms
    ] == [
        [original.intervention(g.intervention).name for g in arm.interventions]
        for arm in original.arms
    ]
    assert [(i.type, i.name, i.description) for i in again.interventions] == [
        (i.type, i.name, i.description) for i in original.interventions
    ]
    assert [(o.kind, o.measure, o.description, o.time_frame) for o in again.outcomes] == [
        (o.kind, o.measure, o.description, o.time_frame) for o in original.outcomes
    ]
    assert [(c.id, c.type, c.text) for c in again.eligibility.criteria if c.id != "AGE"] == [
        (c.id, c.type, c.text) for c in original.eligibility.criteria if c.id != "AGE"
    ]
    assert again.criterion("AGE").expression == original.criterion("AGE").expression


def test_a_record_with_unknown_fields_and_no_optional_modules_imports_with_warnings():
    record = {
        "protocolSection": {
            "identificationModule": {"nctId": "NCT01234567", "briefTitle": "A small study"},
            "statusModule": {"overallStatus": "RECRUITING", "brandNewField": 1},
            "futureModule": {"x": 1},
        },
        "someNewSection": {},
    }
    imported = import_record(record)
    assert imported.protocol.id == "NCT01234567"
    assert any("statusModule.brandNewField" in w for w in imported.warnings)
    assert any("futureModule" in w for w in imported.warnings)
    assert any("someNewSection" in w for w in imported.warnings)
    assert imported.protocol.arms[0].label == "to be completed"


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("{not json", "not valid JSON"),
        ('{"FullStudiesResponse": {}}', "classic API v1"),
        ('{"studies": []}', "expected one study"),
        ('{"hello": 1}', "no protocolSection"),
        ("<other/>", "expected a <clinical_study>"),
        ("<clinical_study>", "not well-formed XML"),
    ],
)
def test_bad_record_files_fail_with_one_clear_line(tmp_path, content, words):
    path = tmp_path / "record.json"
    path.write_text(content)
    with pytest.raises(BadInput, match=words):
        read_record(path)


def test_criteria_text_splitting_handles_registry_shapes():
    text = (
        "Key Inclusion Criteria:\n\n1. Adults\n2. Knee pain\n   for 6 months\n\n"
        "Note between items.\n\nExclusion Criteria:\n\n* Pregnancy\n  * nested item\n- BMI \\>35"
    )
    criteria = split_criteria_text(text)
    assert [(c["id"], c["text"]) for c in criteria] == [
        ("I1", "Adults"),
        ("I2", "Knee pain for 6 months"),
        ("I3", "Note between items."),
        ("E1", "Pregnancy"),
        ("E2", "nested item"),
        ("E3", "BMI >35"),
    ]


@pytest.mark.parametrize(
    ("time_frame", "days"),
    [
        (
            "Baseline, 3 months, 12 months, 24 months, 3 years, 4 years, 5 years",
            [0, 91, 365, 730, 1096, 1461, 1826],
        ),
        ("Week 12", [84]),
        ("Day 1 to Day 28", [1, 28]),
        ("2 year/end of study", [730]),
        ("6 weeks (± 2 weeks) postoperatively", [42]),
        ("24 hours after injection", [1]),
        ("through study completion", []),
    ],
)
def test_time_frames_give_study_days(time_frame, days):
    assert [day for day, _, _ in time_points(time_frame)] == days


@pytest.mark.parametrize(
    ("module", "field", "value", "problem"),
    [
        ("eligibilityModule", "eligibilityCriteria", 5, "eligibilityCriteria: must be text"),
        ("contactsLocationsModule", "locations", 3, "locations: must be a list"),
        (
            "identificationModule",
            "orgStudyIdInfo",
            "X-1",
            "orgStudyIdInfo: must be a mapping of fields",
        ),
        ("designModule", "phases", [["PHASE1"]], "phases[0]: must be text"),
    ],
)
def test_a_record_whose_fields_have_the_wrong_shape_is_refused_by_path(
    module, field, value, problem
):
    record = export_record(load_protocol("NCT05933434"))
    record["protocolSection"][module][field] = value
    with pytest.raises(ProtocolError) as caught:
        import_record(record)
    assert caught.value.problems == [f"NCT05933434: protocolSection.{module}.{problem}"]
