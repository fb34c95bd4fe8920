"""Instrument texts in Danish and Simplified Chinese: shipped labels and a licensee's files.

Expected items and options come from the protocol YAML (each visit's `forms`) and the
instrument definition YAML, read here with PyYAML, not from trialdesk's own loaders.
"""

from pathlib import Path

import pytest
import yaml

import trialdesk
from trialdesk.errors import InstrumentError
from trialdesk.instruments.texts import TEXTS_DIRECTORY_VARIABLE, item_texts, option_labels

PACKAGE = Path(trialdesk.__file__).parent
DEFINITIONS = PACKAGE / "instruments" / "definitions"
SHIPPED = DEFINITIONS / "texts"
LANGUAGES = ("da", "zh-hans")


def _visit_forms() -> list[str]:
    forms: set[str] = set()
    for protocol in sorted((PACKAGE / "protocols").glob("*.yaml")):
        for visit in yaml.safe_load(protocol.read_text(encoding="utf-8"))["visits"]:
            forms.update(visit.get("forms") or [])
    return sorted(forms)


def _definition_items(instrument_id: str) -> list[dict]:
    document = yaml.safe_load((DEFINITIONS / f"{instrument_id}.yaml").read_text(encoding="utf-8"))
    if "items_from" in document:
        return _definition_items(document["items_from"])
    return document["items"]


def _shipped(instrument_id: str, language: str) -> dict:
    return yaml.safe_load(
        (SHIPPED / f"{instrument_id}.{language}.yaml").read_text(encoding="utf-8")
    )


VISIT_FORMS = _visit_forms()


def test_the_seed_protocols_visits_use_these_instruments():
    # From the two protocols' visits (NCT05933434 and NCT04208646): a guard that the list
    # the next tests walk is the one the protocols name.
    expected = {
        "screening_history", "vitals", "labs", "kl_grade", "knee_exam", "nrs_pain",
        "koos", "moaks", "qmri", "hla_typing", "pain_diary", "womac", "vas_pain",
    }  # fmt: skip
    assert set(VISIT_FORMS) == expected


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("instrument_id", VISIT_FORMS)
def test_every_item_and_option_has_a_label_in_the_language(instrument_id, language):
    shipped = _shipped(instrument_id, language)
    english_items = {item["id"]: item["label"] for item in _definition_items(instrument_id)}
    texts = item_texts(instrument_id, language)
    labels = option_labels(instrument_id, language)
    assert set(shipped["items"]) == set(english_items)
    for item in _definition_items(instrument_id):
        text = shipped["items"][item["id"]]
        assert isinstance(text, str) and text.strip(), item["id"]
        assert texts[item["id"]] == text
        options = {option["value"]: option["label"] for option in item.get("options", [])}
        if options:
            assert set(shipped["options"][item["id"]]) == set(options), item["id"]
            assert labels[item["id"]] == shipped["options"][item["id"]]
            assert all(label.strip() for label in labels[item["id"]].values())
        else:
            assert item["id"] not in (shipped.get("options") or {})
            assert labels[item["id"]] == {}


def test_the_labels_are_in_the_language_not_english():
    # Hand-picked: the WOMAC and KOOS items of the issue, in Danish and Chinese.
    assert item_texts("koos", "da")["P5"] == "Smerter ved gang på plant underlag"
    assert option_labels("koos", "da")["P5"] == {
        0: "ingen",
        1: "let",
        2: "moderat",
        3: "svær",
        4: "ekstrem",
    }
    assert item_texts("womac", "zh-hans")["P1"] == "平地行走时疼痛"
    assert option_labels("womac", "zh-hans")["P1"][4] == "极重度"
    assert option_labels("screening_history", "zh-hans")["index_knee_side"] == {
        "left": "左侧",
        "right": "右侧",
    }
    # Chinese characters, not Latin letters, in every Chinese KOOS item
    for text in item_texts("koos", "zh-hans").values():
        assert any("\u4e00" <= character <= "\u9fff" for character in text), text


@pytest.mark.parametrize("instrument_id", ["koos", "womac"])
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_questionnaire_files_say_they_are_paraphrases_with_the_licence(instrument_id, language):
    header = (SHIPPED / f"{instrument_id}.{language}.yaml").read_text(encoding="utf-8")
    header = " ".join(line.removeprefix("# ") for line in header.splitlines() if line[:1] == "#")
    assert "PARAPHRASE" in header
    assert "NOT" in header and "official" in header
    licence = yaml.safe_load((DEFINITIONS / f"{instrument_id}.yaml").read_text())["licence"]
    assert licence["name"] in header
    assert licence["url"] in header
    assert TEXTS_DIRECTORY_VARIABLE in header


def test_languages_fall_back_to_english_and_accept_django_spellings():
    english = {item["id"]: item["label"] for item in _definition_items("womac")}
    assert item_texts("womac") == english
    assert item_texts("womac", "fr") == english  # no French labels ship
    assert item_texts("womac", "zh_Hans") == item_texts("womac", "zh-hans")
    assert item_texts("womac", "da-DK") == item_texts("womac", "da")
    assert option_labels("womac", "fr")["P1"][0] == "none"


def test_a_licensee_file_per_language_overrides_item_by_item(tmp_path, monkeypatch):
    (tmp_path / "koos.da.yaml").write_text(
        "P1: Officiel dansk formulering af P1\n", encoding="utf-8"
    )
    (tmp_path / "womac.zh-hans.yaml").write_text(
        "items:\n  P2: 官方中文措辞P2\noptions:\n  P2: {0: 官方无, 4: 官方极重度}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv(TEXTS_DIRECTORY_VARIABLE, str(tmp_path))
    shipped_da = _shipped("koos", "da")
    koos_da = item_texts("koos", "da")
    assert koos_da["P1"] == "Officiel dansk formulering af P1"
    assert koos_da["P2"] == shipped_da["items"]["P2"]  # not in the licensee's file
    assert item_texts("koos", "en")["P1"] == "How often knee pain"  # Danish file only
    assert item_texts("koos", "zh-hans")["P1"] == _shipped("koos", "zh-hans")["items"]["P1"]

    shipped_zh = _shipped("womac", "zh-hans")
    assert item_texts("womac", "zh-hans")["P2"] == "官方中文措辞P2"
    assert item_texts("womac", "zh-hans")["P1"] == shipped_zh["items"]["P1"]
    assert option_labels("womac", "zh-hans")["P2"] == {
        0: "官方无",
        1: shipped_zh["options"]["P2"][1],
        2: shipped_zh["options"]["P2"][2],
        3: shipped_zh["options"]["P2"][3],
        4: "官方极重度",
    }
    assert option_labels("womac", "da")["P2"] == _shipped("womac", "da")["options"]["P2"]


def test_a_json_licensee_file_names_integer_options_as_strings(tmp_path, monkeypatch):
    (tmp_path / "koos.da.yaml").write_text(
        '{"items": {"Q1": "Q1 officiel"}, "options": {"Q1": {"4": "hele tiden"}}}',
        encoding="utf-8",
    )
    monkeypatch.setenv(TEXTS_DIRECTORY_VARIABLE, str(tmp_path))
    assert option_labels("koos", "da")["Q1"][4] == "hele tiden"
    assert item_texts("koos", "da")["Q1"] == "Q1 officiel"


def test_the_english_licensee_file_still_applies_to_english_only(tmp_path, monkeypatch):
    (tmp_path / "womac.yaml").write_text("P1: Licensed English wording\n", encoding="utf-8")
    monkeypatch.setenv(TEXTS_DIRECTORY_VARIABLE, str(tmp_path))
    assert item_texts("womac")["P1"] == "Licensed English wording"
    assert item_texts("womac", "da")["P1"] == _shipped("womac", "da")["items"]["P1"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("P10: tekst\n", r"koos\.da\.yaml: 'P10' is not an item of koos"),
        ("P1: ''\n", r"koos\.da\.yaml: item P1: expected its text"),
        ("options:\n  P1: {7: aldrig}\n", r"koos\.da\.yaml: item P1: 7 is not one of its options"),
        ("options:\n  P1: {0: ''}\n", r"koos\.da\.yaml: item P1: option 0: expected its label"),
        ("options:\n  X1: {0: a}\n", r"koos\.da\.yaml: 'X1' is not an item of koos"),
        ("options:\n  P1: [aldrig]\n", r"koos\.da\.yaml: item P1: expected a mapping"),
        ("items: [P1]\n", r"koos\.da\.yaml: items: expected a mapping"),
        ("P1: [unclosed\n", r"koos\.da\.yaml:2: not valid YAML or JSON"),
    ],
)
def test_a_bad_language_file_is_refused_naming_file_and_item(
    tmp_path, monkeypatch, content, message
):
    (tmp_path / "koos.da.yaml").write_text(content, encoding="utf-8")
    monkeypatch.setenv(TEXTS_DIRECTORY_VARIABLE, str(tmp_path))
    with pytest.raises(InstrumentError, match=message):
        item_texts("koos", "da")
    assert item_texts("koos", "zh-hans")  # only the Danish file is read for Danish


def test_options_for_an_item_without_options_are_refused(tmp_path, monkeypatch):
    (tmp_path / "vitals.zh-hans.yaml").write_text(
        "options:\n  height_cm: {1: 一}\n", encoding="utf-8"
    )
    monkeypatch.setenv(TEXTS_DIRECTORY_VARIABLE, str(tmp_path))
    with pytest.raises(
        InstrumentError, match=r"vitals\.zh-hans\.yaml: item height_cm: has no options"
    ):
        option_labels("vitals", "zh-hans")
