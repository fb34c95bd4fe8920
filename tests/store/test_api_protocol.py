"""The study-plan reads of the REST API: GET /studies/{study}/forms, /schedule and /criteria.

The studies are the two seed protocols as shipped; every expected value is read here from
their YAML and the instruments' definition YAML with PyYAML (or written by hand), not from
the code under test. Each read goes through the access policy: a user with no role in the
study gets 404, a blinded and an unblinded user the same plan.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

import trialdesk
from trialdesk.instruments.texts import TEXTS_DIRECTORY_VARIABLE
from trialdesk.store.services import add_site, add_user, create_study

from .conftest import OPERATOR
from .test_api import Api, detail

PACKAGE = Path(trialdesk.__file__).parent
DEFINITIONS = PACKAGE / "instruments" / "definitions"
SEEDS = {
    "NCT05933434": PACKAGE / "protocols" / "NCT05933434.yaml",
    "NCT04208646": PACKAGE / "protocols" / "NCT04208646.yaml",
}


def protocol_yaml(protocol_id: str) -> dict:
    return yaml.safe_load(SEEDS[protocol_id].read_text(encoding="utf-8"))


def definition_yaml(instrument_id: str) -> dict:
    return yaml.safe_load((DEFINITIONS / f"{instrument_id}.yaml").read_text(encoding="utf-8"))


def shipped_labels(instrument_id: str, language: str) -> dict:
    path = DEFINITIONS / "texts" / f"{instrument_id}.{language}.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(params=sorted(SEEDS))
def seed(request: pytest.FixtureRequest, django_db_setup: str) -> str:
    """A seed study with its first site, a study-wide investigator (blinded) and pharmacist
    (unblinded), and a user of another study only."""
    protocol_id = request.param
    study = create_study(SEEDS[protocol_id], OPERATOR)
    add_site(study, protocol_yaml(protocol_id)["sites"][0]["id"], OPERATOR)
    add_user(study, "ines", "investigator", OPERATOR)
    add_user(study, "pia", "pharmacist", OPERATOR)
    other = create_study(Path(__file__).parent / "protocols" / "KNEE-TEST.yaml", OPERATOR)
    add_user(other, "olga", "investigator", OPERATOR)
    return protocol_id


def path(protocol_id: str, what: str) -> str:
    return f"/api/v1/studies/{protocol_id}/{what}"


# ---------------------------------------------------------------- forms


def expected_forms(protocol_id: str) -> dict[str, list[str]]:
    """Form -> the visits that collect it, from the protocol YAML, in order of first use."""
    forms: dict[str, list[str]] = {}
    for visit in protocol_yaml(protocol_id)["visits"]:
        for form in visit.get("forms", []):
            forms.setdefault(form, []).append(visit["id"])
    return forms


@pytest.mark.django_db
def test_forms_are_the_visits_forms_with_items_and_scores_as_defined(seed: str) -> None:
    answer = Api("ines").get(path(seed, "forms"))
    assert answer.status_code == 200
    forms = answer.json()
    expected = expected_forms(seed)
    assert [form["instrument"] for form in forms] == list(expected)
    parameters = protocol_yaml(seed).get("instrument_parameters", {})
    for form in forms:
        definition = definition_yaml(form["instrument"])
        assert form["visits"] == expected[form["instrument"]]
        assert form["title"] == definition["title"]
        assert form["licence"] == definition["licence"]["name"]
        assert form["item_wording"] == definition["licence"]["item_wording"]
        defaults = {
            name: spec["default"]
            for name, spec in definition.get("parameters", {}).items()
            if spec.get("default") is not None
        }
        assert form["parameters"] == {**defaults, **parameters.get(form["instrument"], {})}
        assert form["items"] == [
            {
                "id": item["id"],
                "label": item["label"],
                "type": item["type"],
                "unit": item.get("unit"),
                "minimum": item.get("minimum"),
                "maximum": item.get("maximum"),
                "pattern": item.get("pattern"),
                "options": [
                    {"value": option["value"], "label": option["label"]}
                    for option in item.get("options", [])
                ],
                "required": item.get("required", False),
            }
            for item in definition["items"]
        ]
        assert form["scores"] == [
            {
                "id": score["id"],
                "label": score["label"],
                "type": score.get("type", SCORE_TYPE.get(score["method"], "number")),
                "unit": score.get("unit"),
                "minimum": score.get("minimum"),
                "maximum": score.get("maximum"),
                "direction": score.get("direction"),
            }
            for score in definition.get("scores", [])
        ]


#: Score methods whose type is not number unless the definition says otherwise (the schema
#: of instrument definitions, docs/instruments.md).
SCORE_TYPE = {"answered": "integer", "count": "integer", "any_true": "boolean"}


@pytest.mark.django_db
def test_no_item_is_required_as_no_definition_says_so(seed: str) -> None:
    items = [item for form in Api("ines").get(path(seed, "forms")).json() for item in form["items"]]
    assert items and not any(item["required"] for item in items)
    for instrument_id in expected_forms(seed):
        assert all("required" not in item for item in definition_yaml(instrument_id)["items"])


@pytest.mark.django_db
def test_stemjoint_forms_by_hand(django_db_setup: str) -> None:
    add_user(create_study(SEEDS["NCT05933434"], OPERATOR), "ines", "investigator", OPERATOR)
    answer = Api("ines").get(path("NCT05933434", "forms")).json()
    forms = {form["instrument"]: form for form in answer}
    # NCT05933434.yaml: KOOS at BL, M3, M12, M24, Y3, Y4, Y5; the pain diary at D30 only.
    assert forms["koos"]["visits"] == ["BL", "M3", "M12", "M24", "Y3", "Y4", "Y5"]
    assert forms["pain_diary"]["visits"] == ["D30"]
    # koos.yaml: P1 "How often knee pain", never..always; 42 items; five subscales.
    p1 = forms["koos"]["items"][0]
    assert p1["id"] == "P1" and p1["label"] == "How often knee pain"
    assert [option["label"] for option in p1["options"]] == [
        "never", "monthly", "weekly", "daily", "always"
    ]  # fmt: skip
    assert len(forms["koos"]["items"]) == 42
    # nrs_pain's parameters as the protocol sets them
    assert forms["nrs_pain"]["parameters"] == {
        "question": "knee pain when worst",
        "recall_period": "last 7 days",
    }
    # hla_typing: text items with a pattern
    assert any(item["pattern"] for item in forms["hla_typing"]["items"])


@pytest.mark.django_db
def test_forms_labels_in_a_language(seed: str) -> None:
    for language in ("da", "zh-hans"):
        forms = Api("ines").get(path(seed, "forms"), language=language).json()
        for form in forms:
            shipped = shipped_labels(form["instrument"], language)
            for item in form["items"]:
                assert item["label"] == shipped["items"][item["id"]]
                for option in item["options"]:
                    assert option["label"] == shipped["options"][item["id"]][option["value"]]
            # titles and scores stay English
            assert form["title"] == definition_yaml(form["instrument"])["title"]
    answer = Api("ines").get(path(seed, "forms"), language="fr")
    assert answer.status_code == 400
    assert detail(answer).startswith("query.language: ")


@pytest.mark.django_db
def test_a_sites_licensed_wording_reaches_the_forms(
    seed: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    instrument = next(iter(expected_forms(seed)))
    first = definition_yaml(instrument)["items"][0]["id"]
    (tmp_path / f"{instrument}.da.yaml").write_text(f"{first}: Sitets egen ordlyd\n")
    monkeypatch.setenv(TEXTS_DIRECTORY_VARIABLE, str(tmp_path))
    forms = Api("ines").get(path(seed, "forms"), language="da").json()
    assert forms[0]["items"][0]["label"] == "Sitets egen ordlyd"
    english = Api("ines").get(path(seed, "forms")).json()
    assert english[0]["items"][0]["label"] == definition_yaml(instrument)["items"][0]["label"]


# ---------------------------------------------------------------- schedule


@pytest.mark.django_db
def test_schedule_is_the_protocols_visits_and_treatment_plan(seed: str) -> None:
    document = protocol_yaml(seed)
    answer = Api("ines").get(path(seed, "schedule")).json()
    assert answer == {
        "study": seed,
        "version": str(document["version"]),
        "visits": [
            {
                "id": visit["id"],
                "label": visit["label"],
                "day": visit["day"],
                "window_before": visit.get("window_before", 0),
                "window_after": visit.get("window_after", 0),
                "forms": visit.get("forms", []),
            }
            for visit in document["visits"]
        ],
        "administrations": [
            {"id": step["id"], "label": step["label"], "day": step["day"]}
            for step in document["treatment_plan"]
        ],
    }


@pytest.mark.django_db
def test_cbm_schedule_has_two_treatment_cycles(django_db_setup: str) -> None:
    add_user(create_study(SEEDS["NCT04208646"], OPERATOR), "ines", "investigator", OPERATOR)
    schedule = Api("ines").get(path("NCT04208646", "schedule")).json()
    # The registry record: two treatment cycles, 48 weeks.
    assert len(schedule["administrations"]) == 2
    assert schedule["administrations"][0]["day"] == 0
    assert max(visit["day"] for visit in schedule["visits"]) == 48 * 7


# ---------------------------------------------------------------- criteria


@pytest.mark.django_db
def test_criteria_are_the_registry_texts_with_the_items_they_read(seed: str) -> None:
    document = protocol_yaml(seed)
    data_items = {item["id"]: item for item in document["data_items"]}
    criteria = Api("ines").get(path(seed, "criteria")).json()
    assert [c["id"] for c in criteria] == [c["id"] for c in document["eligibility"]["criteria"]]
    for answer, criterion in zip(criteria, document["eligibility"]["criteria"], strict=True):
        assert answer["type"] == criterion["type"]
        assert answer["text"] == criterion["text"]  # verbatim
        assert answer["attestation"] is criterion.get("attestation", False)
        assert answer["expression"] == criterion.get("expression")
        if answer["attestation"]:
            assert answer["reads"] == []
        for read in answer["reads"]:
            item = data_items[read["id"]]
            assert read["id"] in criterion["expression"]
            assert read["label"] == item["label"]
            assert read["form"] == item.get("form")
            assert read["field"] == (item.get("field", item["id"]) if item.get("form") else None)
        expression = criterion.get("expression") or ""
        named = {name for name in data_items if re.search(rf"\b{name}\b", expression)}
        assert {read["id"] for read in answer["reads"]} == named


@pytest.mark.django_db
def test_stemjoint_criteria_by_hand(django_db_setup: str) -> None:
    add_user(create_study(SEEDS["NCT05933434"], OPERATOR), "ines", "investigator", OPERATOR)
    criteria = {c["id"]: c for c in Api("ines").get(path("NCT05933434", "criteria")).json()}
    # NCT05933434.yaml, eligibility and data_items, by hand.
    assert criteria["AGE"]["reads"] == [
        {"id": "age", "label": "Age at screening", "form": None, "field": None}
    ]
    assert criteria["I1"]["expression"] == (
        "knee_pain_duration_months >= 6 and nrs_pain_worst >= 4"
    )
    assert [(r["id"], r["form"], r["field"]) for r in criteria["I1"]["reads"]] == [
        ("knee_pain_duration_months", "screening_history", "knee_pain_duration_months"),
        ("nrs_pain_worst", "nrs_pain", "nrs"),
    ]
    assert [(r["id"], r["form"], r["field"]) for r in criteria["I2"]["reads"]] == [
        ("kl_grade_index", "kl_grade", "index_knee"),
        ("joint_space_width_mm", "knee_exam", "index_joint_space_width_mm"),
    ]
    assert [(r["form"], r["field"]) for r in criteria["I5"]["reads"]] == [("vitals", "bmi")]
    assert criteria["I6"]["attestation"] is True and criteria["I6"]["expression"] is None
    assert criteria["E1"]["type"] == "exclusion"


# ---------------------------------------------------------------- access


@pytest.mark.django_db
def test_the_plan_is_the_same_for_blinded_and_unblinded_and_hidden_from_others(seed: str) -> None:
    version = str(protocol_yaml(seed)["version"])
    for what in ("forms", "schedule", "criteria"):
        blinded = Api("ines").get(path(seed, what))
        unblinded = Api("pia").get(path(seed, what))
        assert blinded.status_code == unblinded.status_code == 200
        assert blinded.json() == unblinded.json()
        text = blinded.content.decode().lower()
        for arm in protocol_yaml(seed)["arms"]:
            assert f'"{arm["id"].lower()}"' not in text
        outsider = Api("olga").get(path(seed, what))
        assert outsider.status_code == 404
        assert detail(outsider) == f"no study {seed} in the store"
        assert Api("ines").get(path(seed, what), version="9.9").status_code == 404
        assert Api("ines").get(path(seed, what), version=version).json() == blinded.json()


@pytest.mark.django_db
def test_a_site_bound_user_reads_the_plan(study: Any) -> None:
    """KNEE-TEST (tests/store/protocols): colin is a coordinator at site 01 only."""
    forms = Api("colin").get("/api/v1/studies/KNEE-TEST/forms").json()
    assert [form["instrument"] for form in forms] == [
        "screening_history", "vitals", "kl_grade", "womac"
    ]  # fmt: skip
    assert forms[2]["visits"] == ["SCR", "W12"]
    criteria = Api("colin").get("/api/v1/studies/KNEE-TEST/criteria").json()
    assert [(c["id"], [r["id"] for r in c["reads"]]) for c in criteria] == [
        ("AGE", ["age"]),
        ("I1", []),
        ("I2", ["kl_grade_index"]),
        ("I3", ["oa_duration_months"]),
        ("E1", ["bmi"]),
        ("E2", []),
    ]
