import pytest

from trialdesk.errors import InstrumentError
from trialdesk.instruments import get_instrument, item_texts, load_item_texts
from trialdesk.instruments.texts import TEXTS_DIRECTORY_VARIABLE


def test_womac_ships_paraphrased_labels_only():
    womac = get_instrument("womac")
    assert womac.licence.item_wording == "licensed"
    assert item_texts("womac")["P1"] == "Pain walking on a flat surface"


def test_a_licensee_loads_the_wording_from_a_file(tmp_path):
    path = tmp_path / "womac.yaml"
    path.write_text("P1: Licensed wording of item one\nF17: Licensed wording of item 24\n")
    assert load_item_texts("womac", path) == {
        "P1": "Licensed wording of item one",
        "F17": "Licensed wording of item 24",
    }


def test_a_texts_directory_in_the_environment_overrides_the_labels(tmp_path, monkeypatch):
    (tmp_path / "womac.yaml").write_text('{"P2": "Licensed wording of item two"}')
    monkeypatch.setenv(TEXTS_DIRECTORY_VARIABLE, str(tmp_path))
    texts = item_texts("womac")
    assert texts["P2"] == "Licensed wording of item two"
    assert texts["P1"] == "Pain walking on a flat surface"
    assert item_texts("koos")["P1"] == "How often knee pain"  # no koos.yaml there


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("P9: text\n", "'P9' is not an item of womac"),
        ("P1: ''\n", "item P1: expected its text"),
        ("- P1\n", "expected a mapping from item id to text"),
        ("P1: [unclosed\n", "not valid YAML or JSON"),
    ],
)
def test_a_texts_file_that_does_not_fit_is_refused(tmp_path, content, message):
    path = tmp_path / "texts.yaml"
    path.write_text(content)
    with pytest.raises(InstrumentError, match=message):
        load_item_texts("womac", path)


def test_a_missing_texts_file_is_bad_input(tmp_path):
    with pytest.raises(InstrumentError, match="cannot read"):
        load_item_texts("womac", tmp_path / "none.yaml")


def test_a_texts_file_with_a_syntax_error_names_its_line(tmp_path):
    path = tmp_path / "womac.yaml"
    path.write_text("P1: fine\nP2: [unclosed\n")
    with pytest.raises(InstrumentError, match=r"womac\.yaml:3: not valid YAML or JSON: "):
        load_item_texts("womac", path)
