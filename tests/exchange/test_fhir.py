"""The FHIR Bundle of a locked virtual trial of each seed protocol, as an unblinded and a
blinded reader export it.

Structure is checked by parsing the written JSON back with fhir.resources' R4B models. The
code bindings it does not check are checked here against value sets copied by hand from the
FHIR R4 (4.0.1) specification's pages (research-study-status, research-subject-status, ...),
and the values against the extract's rows, the protocol file and the instrument files.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

from support.exchange_trial import store_home
from trialdesk.exchange.fhir import write
from trialdesk.exchange.source import ExportSource, StoredBatches

DEFINITIONS = Path(__file__).parents[2] / "src/trialdesk/instruments/definitions"

# ---------------------------------------------------------------- FHIR R4 value sets, by hand
#: http://hl7.org/fhir/R4/valueset-research-study-status.html (required)
RESEARCH_STUDY_STATUS = {
    "active",
    "administratively-completed",
    "approved",
    "closed-to-accrual",
    "closed-to-accrual-and-intervention",
    "completed",
    "disapproved",
    "in-review",
    "temporarily-closed-to-accrual",
    "temporarily-closed-to-accrual-and-intervention",
    "withdrawn",
}
#: http://hl7.org/fhir/R4/valueset-research-subject-status.html (required)
RESEARCH_SUBJECT_STATUS = {
    "candidate",
    "eligible",
    "follow-up",
    "ineligible",
    "not-registered",
    "off-study",
    "on-study",
    "on-study-intervention",
    "on-study-observation",
    "pending-on-study",
    "potential-candidate",
    "screening",
    "withdrawn",
}
#: valueset-adverse-event-actuality (required)
AE_ACTUALITY = {"actual", "potential"}
#: valueset-adverse-event-severity (required), system adverse-event-severity
AE_SEVERITY = {"mild", "moderate", "severe"}
#: valueset-adverse-event-outcome (required)
AE_OUTCOME = {"resolved", "recovering", "ongoing", "resolvedWithSequelae", "fatal", "unknown"}
#: codesystem-adverse-event-seriousness, level 1 (the binding is an example one)
AE_SERIOUSNESS = {"Non-serious", "Serious"}
#: valueset-questionnaire-answers-status (required)
QR_STATUS = {"in-progress", "completed", "amended", "entered-in-error", "stopped"}
#: valueset-observation-status (required)
OBSERVATION_STATUS = {
    "registered",
    "preliminary",
    "final",
    "amended",
    "corrected",
    "cancelled",
    "entered-in-error",
    "unknown",
}
#: valueset-observation-category (preferred)
OBSERVATION_CATEGORY = {
    "social-history",
    "vital-signs",
    "imaging",
    "laboratory",
    "procedure",
    "survey",
    "exam",
    "therapy",
    "activity",
}
#: valueset-publication-status (required, Questionnaire.status)
PUBLICATION_STATUS = {"draft", "active", "retired", "unknown"}
#: valueset-item-type (required, Questionnaire.item.type)
ITEM_TYPE = {
    "group",
    "display",
    "boolean",
    "decimal",
    "integer",
    "date",
    "dateTime",
    "time",
    "string",
    "text",
    "url",
    "choice",
    "open-choice",
    "attachment",
    "reference",
    "quantity",
}
#: valueset-administrative-gender (required)
ADMINISTRATIVE_GENDER = {"male", "female", "other", "unknown"}
#: The UCUM codes of the instruments' units (g/L, 10^9/L, umol/L, U/L, cm, kg, mmHg,
#: beats/min, degrees C, kg/m2), from the UCUM specification's syntax.
UCUM_OF_UNIT = {
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
UCUM = "http://unitsofmeasure.org"
#: LOINC parts of the labs and vitals items: (code, component as LOINC names it).
LOINC = {
    "haemoglobin": "718-7",
    "platelets": "777-3",
    "alt": "1742-6",
    "ast": "1920-8",
    "height_cm": "8302-2",
    "weight_kg": "29463-7",
    "temperature_c": "8310-5",
    "bmi": "39156-5",
}


# ---------------------------------------------------------------- fixtures


def _export(source: ExportSource, directory: Path) -> tuple[Path, dict[str, Any]]:
    out = directory / "study.json"
    assert write(source, out) == [out]
    return out, json.loads(out.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def unblinded_export(
    unblinded: ExportSource, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any]]:
    return _export(unblinded, tmp_path_factory.mktemp("fhir-unblinded"))


@pytest.fixture(scope="module")
def blinded_export(
    blinded: ExportSource, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any]]:
    return _export(blinded, tmp_path_factory.mktemp("fhir-blinded"))


@pytest.fixture(params=["unblinded", "blinded"])
def exported(
    request: pytest.FixtureRequest,
    unblinded: ExportSource,
    blinded: ExportSource,
    unblinded_export: tuple[Path, dict[str, Any]],
    blinded_export: tuple[Path, dict[str, Any]],
) -> tuple[ExportSource, dict[str, Any]]:
    """(source, bundle JSON) of each reader in turn."""
    if request.param == "unblinded":
        return unblinded, unblinded_export[1]
    return blinded, blinded_export[1]


def resources(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type
    ]


def references(node: Any) -> list[str]:
    """Every Reference.reference anywhere under `node`."""
    if isinstance(node, dict):
        found = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return found + [ref for value in node.values() for ref in references(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in references(value)]
    return []


def strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for value in node.values() for s in strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in strings(value)]
    return [node] if isinstance(node, str) else []


def by_patient(bundle: dict[str, Any]) -> dict[str, str]:
    """{Patient fullUrl: subject code}."""
    return {
        e["fullUrl"]: e["resource"]["identifier"][0]["value"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Patient"
    }


def definition(instrument_id: str) -> dict[str, Any]:
    return yaml.safe_load((DEFINITIONS / f"{instrument_id}.yaml").read_text(encoding="utf-8"))


# ---------------------------------------------------------------- structure


def test_every_entry_and_the_whole_bundle_parse_with_r4b(
    exported: tuple[ExportSource, dict[str, Any]],
) -> None:
    _, bundle = exported
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    for entry in bundle["entry"]:
        resource = entry["resource"]
        model = get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        assert model.id == resource["id"]
    parsed = Bundle.model_validate(bundle)
    assert len(parsed.entry) == len(bundle["entry"])


def test_references_resolve_to_full_urls_in_the_bundle(
    exported: tuple[ExportSource, dict[str, Any]],
) -> None:
    _, bundle = exported
    full_urls = [entry["fullUrl"] for entry in bundle["entry"]]
    assert len(set(full_urls)) == len(full_urls)
    for entry in bundle["entry"]:
        assert entry["fullUrl"] == "urn:uuid:" + entry["resource"]["id"]
    found = references(bundle["entry"])
    assert found and set(found) <= set(full_urls)
    canonical = {q["url"] for q in resources(bundle, "Questionnaire")}
    for response in resources(bundle, "QuestionnaireResponse"):
        assert response["questionnaire"] in canonical


def test_two_exports_of_one_source_are_identical(
    blinded: ExportSource,
    blinded_export: tuple[Path, dict[str, Any]],
    unblinded_export: tuple[Path, dict[str, Any]],
    tmp_path: Path,
) -> None:
    first, _ = blinded_export
    again, _ = _export(blinded, tmp_path)
    assert again.read_bytes() == first.read_bytes()
    # The same study read by another reader has the same resources at the same fullUrls.
    urls = {e["fullUrl"] for e in json.loads(first.read_text())["entry"]}
    assert urls == {e["fullUrl"] for e in unblinded_export[1]["entry"]}


def test_the_file_is_the_same_whatever_the_batches(
    unblinded: ExportSource, unblinded_export: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    assert len(list(unblinded.batches())) > 1
    one = dataclasses.replace(unblinded, read=StoredBatches((unblinded.whole(),)))
    path, _ = _export(one, tmp_path)
    assert path.read_bytes() == unblinded_export[0].read_bytes()


def test_one_entry_per_line_of_the_file(blinded_export: tuple[Path, dict[str, Any]]) -> None:
    """The Bundle is written entry by entry: each entry stands alone on its line."""
    path, bundle = blinded_export
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(bundle["entry"]) + 2
    assert json.loads(lines[1].rstrip(",")) == bundle["entry"][0]


# ---------------------------------------------------------------- bindings


def test_required_bindings_hold(exported: tuple[ExportSource, dict[str, Any]]) -> None:
    _, bundle = exported
    (study,) = resources(bundle, "ResearchStudy")
    assert study["status"] in RESEARCH_STUDY_STATUS
    for subject in resources(bundle, "ResearchSubject"):
        assert subject["status"] in RESEARCH_SUBJECT_STATUS
    for patient in resources(bundle, "Patient"):
        assert patient["gender"] in ADMINISTRATIVE_GENDER
    for questionnaire in resources(bundle, "Questionnaire"):
        assert questionnaire["status"] in PUBLICATION_STATUS
        assert {item["type"] for item in questionnaire["item"]} <= ITEM_TYPE
    for response in resources(bundle, "QuestionnaireResponse"):
        assert response["status"] in QR_STATUS
    for observation in resources(bundle, "Observation"):
        assert observation["status"] in OBSERVATION_STATUS
        (category,) = observation["category"]
        assert category["coding"][0]["code"] in OBSERVATION_CATEGORY
    for event in resources(bundle, "AdverseEvent"):
        assert event["actuality"] in AE_ACTUALITY
        severity = event["severity"]["coding"][0]
        assert severity["system"] == "http://terminology.hl7.org/CodeSystem/adverse-event-severity"
        assert severity["code"] in AE_SEVERITY
        outcome = event["outcome"]["coding"][0]
        assert outcome["system"] == "http://terminology.hl7.org/CodeSystem/adverse-event-outcome"
        assert outcome["code"] in AE_OUTCOME
        assert event["seriousness"]["coding"][0]["code"] in AE_SERIOUSNESS


def test_the_study_comes_from_the_protocol(exported: tuple[ExportSource, dict[str, Any]]) -> None:
    source, bundle = exported
    protocol = source.protocol
    (study,) = resources(bundle, "ResearchStudy")
    assert {"system": "https://clinicaltrials.gov", "value": protocol.id} in study["identifier"]
    # By hand from the protocol files and R4's research-study-status and -phase code systems:
    # NCT04208646 is COMPLETED, phase 2; NCT05933434 NOT_YET_RECRUITING (on the registry, so
    # approved by its review board, not yet open for accrual), phases 1 and 2 together.
    status, phase = {
        "NCT04208646": ("completed", "phase-2"),
        "NCT05933434": ("approved", "phase-1-phase-2"),
    }[protocol.id]
    assert study["status"] == status
    assert study["phase"]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/research-study-phase",
        "code": phase,
    }
    assert [c["text"] for c in study["condition"]] == protocol.conditions
    assert [arm["name"] for arm in study["arm"]] == [arm.label for arm in protocol.arms]
    (sponsor,) = resources(bundle, "Organization")
    assert sponsor["name"] == protocol.sponsor.lead.name


# ---------------------------------------------------------------- counts


def test_counts_equal_the_extract(exported: tuple[ExportSource, dict[str, Any]]) -> None:
    source, bundle = exported
    extract = source.whole().extract
    assert len(resources(bundle, "Patient")) == len(extract.subjects)
    assert len(resources(bundle, "ResearchSubject")) == len(extract.subjects)
    assert len(resources(bundle, "QuestionnaireResponse")) == len(extract.forms)
    assert len(resources(bundle, "AdverseEvent")) == len(extract.adverse_events)
    visit_forms = {form for visit in source.protocol.visits for form in visit.forms}
    assert {q["name"] for q in resources(bundle, "Questionnaire")} == visit_forms
    # Observations, counted from the records: a labs record gives one per value that is not
    # an upper limit of normal; a vitals record one per height, weight, pulse, temperature,
    # one blood pressure panel and the BMI.
    expected = 0
    for form in extract.forms:
        given = {key for key, value in form["values"].items() if value is not None}
        if form["form"] == "labs":
            expected += len({key for key in given if not key.endswith("_uln")})
        elif form["form"] == "vitals":
            expected += len(given & {"height_cm", "weight_kg", "pulse", "temperature_c"})
            expected += bool(given & {"systolic_bp", "diastolic_bp"})
            expected += form["scores"].get("bmi") is not None
    assert len(resources(bundle, "Observation")) == expected > 0


# ---------------------------------------------------------------- subjects and blinding


def test_patients_are_pseudonymous(exported: tuple[ExportSource, dict[str, Any]]) -> None:
    source, bundle = exported
    subjects = {row["code"]: row for row in source.whole().extract.subjects}
    for patient in resources(bundle, "Patient"):
        assert set(patient) <= {"resourceType", "id", "identifier", "gender", "birthDate"}
        (identifier,) = patient["identifier"]
        subject = subjects[identifier["value"]]
        assert patient["gender"] == subject["sex"]
        assert len(patient["birthDate"]) == 4
        assert int(patient["birthDate"]) in likeliest_birth_years(
            subject["age"], subject["screened_on"]
        )


def likeliest_birth_years(age: int, screened_on: dt.date) -> set[int]:
    """The year(s) holding most of the days on which someone `age` on `screened_on` may have
    been born: from the day after their (age+1)th birthday's latest date to their age-th."""
    latest = screened_on.replace(year=screened_on.year - age)
    earliest = screened_on.replace(year=screened_on.year - age - 1) + dt.timedelta(days=1)
    days = Counter(
        (earliest + dt.timedelta(days=n)).year for n in range((latest - earliest).days + 1)
    )
    most = max(days.values())
    return {year for year, count in days.items() if count == most}


def test_research_subjects_follow_the_subjects(
    exported: tuple[ExportSource, dict[str, Any]],
) -> None:
    source, bundle = exported
    patients = by_patient(bundle)
    statuses = {row["code"]: row["status"] for row in source.whole().extract.subjects}
    # By hand from the R4 definitions: a screen failure "did not meet one or more criteria"
    # (ineligible); a subject who completed, withdrew after randomization or was lost is no
    # longer on study (off-study).
    expected = {
        "screen_failed": "ineligible",
        "completed": "off-study",
        "lost_to_follow_up": "off-study",
        "withdrawn": "off-study",
    }
    for subject in resources(bundle, "ResearchSubject"):
        code = patients[subject["individual"]["reference"]]
        assert subject["identifier"][0]["value"] == code
        assert subject["status"] == expected[statuses[code]]


def test_an_unblinded_export_names_each_subjects_arm(
    unblinded: ExportSource, unblinded_export: tuple[Path, dict[str, Any]]
) -> None:
    _, bundle = unblinded_export
    labels = {arm.id: arm.label for arm in unblinded.protocol.arms}
    arms = {row["subject"]: labels[row["arm"]] for row in unblinded.whole().extract.allocations}
    patients = by_patient(bundle)
    written = {
        patients[s["individual"]["reference"]]: s.get("assignedArm")
        for s in resources(bundle, "ResearchSubject")
        if "assignedArm" in s
    }
    assert written == arms and len(set(arms.values())) > 1


def test_a_blinded_export_has_no_arm(
    blinded: ExportSource,
    unblinded: ExportSource,
    blinded_export: tuple[Path, dict[str, Any]],
) -> None:
    path, bundle = blinded_export
    assert blinded.blinded
    for subject in resources(bundle, "ResearchSubject"):
        assert "assignedArm" not in subject and "actualArm" not in subject
    arm_values = {row["arm"] for row in unblinded.whole().extract.allocations}
    names = {arm.id for arm in blinded.protocol.arms} | {arm.label for arm in blinded.protocol.arms}
    assert arm_values and arm_values <= names
    # Grep the file: only the ResearchStudy line (the protocol's public arm list) may name an arm.
    lines = path.read_text(encoding="utf-8").splitlines()
    study_lines = [line for line in lines if '"resourceType":"ResearchStudy"' in line]
    assert len(study_lines) == 1
    for line in lines:
        if line not in study_lines:
            for name in names | arm_values:
                assert f'"{name}"' not in line
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] != "ResearchStudy":
            assert not names & set(strings(entry))


# ---------------------------------------------------------------- forms, labs, events


def test_a_womac_or_koos_response_equals_its_record(
    exported: tuple[ExportSource, dict[str, Any]],
) -> None:
    """The first record of the protocol's primary questionnaire (WOMAC in NCT04208646, KOOS
    in NCT05933434), item by item, against the instrument file's options."""
    source, bundle = exported
    instrument_id = "womac" if source.protocol.id == "NCT04208646" else "koos"
    record = next(form for form in source.whole().extract.forms if form["form"] == instrument_id)
    items = {item["id"]: item for item in definition(instrument_id)["items"]}
    (questionnaire,) = [q for q in resources(bundle, "Questionnaire") if q["name"] == instrument_id]
    identifier = f"{record['subject']}/{record['visit_id']}/{instrument_id}"
    (response,) = [
        r
        for r in resources(bundle, "QuestionnaireResponse")
        if r["identifier"]["value"] == identifier
    ]
    assert response["questionnaire"] == questionnaire["url"]
    assert by_patient(bundle)[response["subject"]["reference"]] == record["subject"]
    answered = {key: value for key, value in record["values"].items() if value is not None}
    assert [item["linkId"] for item in response["item"]] == [
        key for key in items if key in answered
    ]
    for item in response["item"]:
        (answer,) = item["answer"]
        value = answered[item["linkId"]]
        labels = {option["value"]: option["label"] for option in items[item["linkId"]]["options"]}
        assert answer["valueCoding"]["code"] == str(value)
        assert answer["valueCoding"]["display"] == labels[value]
    if instrument_id == "womac":
        # WOMAC LK3.1: every item a box 0-4 none, mild, moderate, severe, extreme.
        p1 = next(item for item in questionnaire["item"] if item["linkId"] == "P1")
        assert [
            (o["valueCoding"]["code"], o["valueCoding"]["display"]) for o in p1["answerOption"]
        ] == [("0", "none"), ("1", "mild"), ("2", "moderate"), ("3", "severe"), ("4", "extreme")]
        assert questionnaire["version"] == "LK3.1" and len(questionnaire["item"]) == 24
    audit = [
        row["at"]
        for row in source.whole().audit
        if row["object_type"] == "FormRecord" and row["object_id"] == str(record["id"])
    ]
    assert dt.datetime.fromisoformat(response["authored"]) == audit[-1]


def test_labs_and_vital_signs_are_observations_in_ucum(
    exported: tuple[ExportSource, dict[str, Any]],
) -> None:
    source, bundle = exported
    observations = resources(bundle, "Observation")
    quantities = [o["valueQuantity"] for o in observations if "valueQuantity" in o]
    quantities += [c["valueQuantity"] for o in observations for c in o.get("component", [])]
    quantities += [r["high"] for o in observations for r in o.get("referenceRange", [])]
    assert quantities
    for quantity in quantities:
        assert quantity["system"] == UCUM
        assert quantity["code"] == UCUM_OF_UNIT[quantity["unit"]]

    record = next(form for form in source.whole().extract.forms if form["form"] == "labs")
    visit = next(
        v
        for v in source.whole().extract.visits
        if v["subject"] == record["subject"] and v["visit_id"] == record["visit_id"]
    )
    prefix = f"{record['subject']}/{record['visit_id']}/labs/"
    of_record = {
        o["identifier"][0]["value"].removeprefix(prefix): o
        for o in observations
        if o["identifier"][0]["value"].startswith(prefix)
    }
    for item in ("haemoglobin", "platelets", "alt", "ast"):
        observation = of_record[item]
        assert observation["code"]["coding"][0] == {
            "system": "http://loinc.org",
            "code": LOINC[item],
            "display": observation["code"]["coding"][0]["display"],
        }
        assert observation["valueQuantity"]["value"] == record["values"][item]
        assert observation["effectiveDateTime"] == visit["actual_date"].isoformat()
        assert observation["category"][0]["coding"][0]["code"] == "laboratory"
    assert of_record["alt"]["referenceRange"][0]["high"]["value"] == record["values"]["alt_uln"]
    assert not any(key.endswith("_uln") for key in of_record)
    assert of_record["hiv_positive"]["valueBoolean"] is record["values"]["hiv_positive"]

    vitals = next(form for form in source.whole().extract.forms if form["form"] == "vitals")
    prefix = f"{vitals['subject']}/{vitals['visit_id']}/vitals/"
    of_vitals = {
        o["identifier"][0]["value"].removeprefix(prefix): o
        for o in observations
        if o["identifier"][0]["value"].startswith(prefix)
    }
    panel = of_vitals["blood_pressure"]
    assert panel["code"]["coding"][0]["code"] == "85354-9"
    assert [
        (c["code"]["coding"][0]["code"], c["valueQuantity"]["value"]) for c in panel["component"]
    ] == [("8480-6", vitals["values"]["systolic_bp"]), ("8462-4", vitals["values"]["diastolic_bp"])]
    for item in ("height_cm", "weight_kg", "temperature_c"):
        assert of_vitals[item]["code"]["coding"][0]["code"] == LOINC[item]
        assert of_vitals[item]["valueQuantity"]["value"] == vitals["values"][item]
    height_m = vitals["values"]["height_cm"] / 100
    assert of_vitals["bmi"]["code"]["coding"][0]["code"] == LOINC["bmi"]
    assert of_vitals["bmi"]["valueQuantity"]["value"] == pytest.approx(
        vitals["values"]["weight_kg"] / height_m**2
    )


def test_adverse_events_carry_seriousness_severity_and_outcome(
    exported: tuple[ExportSource, dict[str, Any]],
) -> None:
    source, bundle = exported
    patients = by_patient(bundle)
    written = {
        (patients[e["subject"]["reference"]], e["identifier"]["value"].split("/AE")[1]): e
        for e in resources(bundle, "AdverseEvent")
    }
    # By hand: CTCAE grade 1 is mild, 2 moderate, 3 severe, 4 life-threatening and 5 death
    # (both beyond "severe", FHIR's highest); CDISC AEOUT to FHIR's outcome codes.
    severity = {1: "mild", 2: "moderate", 3: "severe", 4: "severe", 5: "severe"}
    outcome = {
        "recovered": "resolved",
        "recovering": "recovering",
        "not_recovered": "ongoing",
        "recovered_with_sequelae": "resolvedWithSequelae",
        "fatal": "fatal",
        "unknown": "unknown",
    }
    assert source.whole().extract.adverse_events
    for row in source.whole().extract.adverse_events:
        event = written[(row["subject"], str(row["number"]))]
        assert event["event"]["text"] == row["term"]
        assert event["date"] == row["onset_date"].isoformat()
        assert event["severity"]["coding"][0]["code"] == severity[row["ctcae_grade"]]
        assert event["outcome"]["coding"][0]["code"] == outcome[row["outcome"]]
        serious = "Serious" if row["seriousness"] else "Non-serious"
        assert event["seriousness"]["coding"][0]["code"] == serious


def test_the_command_exports_what_write_writes(
    blinded: ExportSource,
    blinded_export: tuple[Path, dict[str, Any]],
    shared_dir: Path,
    tmp_path: Path,
) -> None:
    """`trialdesk export --format fhir` as the blinded data manager: the same entries as the
    fixture's source gives, no arm."""
    # The virtual trial randomizes the patients it was made with (tests/exchange/conftest.py).
    patients = len(blinded.whole().extract.allocations)
    home = tmp_path / "store"
    shutil.copytree(store_home(shared_dir, blinded.protocol.id, patients), home)
    environment = {
        **os.environ,
        "TRIALDESK_HOME": str(home),
        "TRIALDESK_SECRET_KEY": "tests-only-" + "k" * 40,
        "TRIALDESK_AUDIT_KEY": "tests-only-audit-key-" + "a" * 32,
    }
    out = tmp_path / "export" / "study.json"
    done = subprocess.run(
        [sys.executable, "-m", "trialdesk.cli", "export", blinded.protocol.id]
        + ["--format", "fhir", "--out", str(out), "--user", "data_manager", "--json"],
        env=environment,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["blinded"] is True
    bundle = json.loads(out.read_text(encoding="utf-8"))
    assert bundle["entry"] == blinded_export[1]["entry"]
