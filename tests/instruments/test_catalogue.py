"""Every shipped definition: it loads, and its scores keep their promises on any valid answers."""

from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trialdesk.errors import InstrumentError
from trialdesk.instruments import (
    Instrument,
    Item,
    get_instrument,
    instrument_ids,
    load_definition,
    score,
)

EXPECTED = {
    "womac",
    "koos",
    "womac_from_koos",
    "nrs_pain",
    "vas_pain",
    "pain_diary",
    "kl_grade",
    "knee_exam",
    "moaks",
    "qmri",
    "hla_typing",
    "labs",
    "vitals",
    "ae_seriousness",
    "ctcae_grade",
}


def test_every_instrument_the_trials_need_is_shipped():
    assert set(instrument_ids()) >= EXPECTED
    assert instrument_ids() == sorted(instrument_ids())


def test_definitions_are_package_data():
    definitions = resources.files("trialdesk.instruments") / "definitions"
    for instrument_id in instrument_ids():
        assert (definitions / f"{instrument_id}.yaml").is_file()


@pytest.mark.parametrize("instrument_id", instrument_ids())
def test_each_definition_loads_with_its_own_id_licence_and_sources(instrument_id):
    instrument = get_instrument(instrument_id)
    assert instrument.id == instrument_id
    assert instrument.licence.name
    assert instrument.sources


def test_an_unknown_instrument_lists_the_known_ones():
    with pytest.raises(InstrumentError, match="unknown instrument 'sf36'; instruments are ae_"):
        get_instrument("sf36")


def test_a_definition_file_outside_the_package_loads(tmp_path):
    path = tmp_path / "nrs_copy.yaml"
    source = resources.files("trialdesk.instruments") / "definitions" / "nrs_pain.yaml"
    path.write_text(source.read_text(encoding="utf-8").replace("id: nrs_pain", "id: nrs_copy"))
    assert load_definition(path).score({"nrs": 7}) == {"pain": 7}


def test_a_missing_definition_file_is_bad_input(tmp_path):
    with pytest.raises(InstrumentError, match="nothing.yaml: cannot read"):
        load_definition(tmp_path / "nothing.yaml")


def item_values(item: Item) -> st.SearchStrategy:
    """Any valid answer to `item`."""
    if item.options:
        return st.sampled_from([option.value for option in item.options])
    if item.type == "boolean":
        return st.booleans()
    if item.type == "integer":
        return st.integers(int(item.minimum), int(item.maximum))
    if item.type == "number":
        return st.floats(item.minimum, item.maximum, allow_nan=False)
    assert item.pattern is None or item.example is not None, item.id
    return st.just(item.example or "text")


@st.composite
def answered_forms(draw, instrument: Instrument) -> dict:
    """Valid answers with any items left out.

    Each item's answer is drawn from its own range; where that breaks a rule across items
    (e.g. diastolic < systolic), one item of the rule is left unanswered instead.
    """
    answers = {
        item.id: draw(item_values(item))
        for item in instrument.items
        if draw(st.booleans() | st.just(True))
    }
    for constraint in instrument.constraints:
        values = {name: answers.get(name) for name in constraint.parsed.names}
        if constraint.parsed.evaluate(values) is False:
            del answers[draw(st.sampled_from(sorted(constraint.parsed.names)))]
    return answers


SCORED = [i for i in instrument_ids() if get_instrument(i).scores]
TYPES = {"boolean": (bool,), "integer": (int,), "number": (int, float)}


@pytest.mark.parametrize("instrument_id", SCORED)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_scores_stay_in_their_declared_range_and_type(instrument_id, data):
    instrument = get_instrument(instrument_id)
    answers = data.draw(answered_forms(instrument))
    scores = score(instrument_id, answers)
    assert list(scores) == [definition.id for definition in instrument.scores]
    for definition in instrument.scores:
        value = scores[definition.id]
        if value is None:
            continue
        assert isinstance(value, TYPES[definition.type]), definition.id
        assert definition.type == "boolean" or not isinstance(value, bool), definition.id
        if definition.minimum is not None:
            assert value >= definition.minimum - 1e-9, definition.id
        if definition.maximum is not None:
            assert value <= definition.maximum + 1e-9, definition.id


@pytest.mark.parametrize("instrument_id", SCORED)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_item_order_does_not_matter(instrument_id, data):
    instrument = get_instrument(instrument_id)
    answers = data.draw(answered_forms(instrument))
    shuffled = dict(data.draw(st.permutations(list(answers.items()))))
    assert score(instrument_id, shuffled) == score(instrument_id, answers)


def highest_answer(item: Item) -> object:
    if item.options:
        return max(option.value for option in item.options)
    if item.type == "boolean":
        return True
    return int(item.maximum) if item.type == "integer" else item.maximum


@pytest.mark.parametrize("instrument_id", SCORED)
def test_a_complete_form_scores_everything(instrument_id):
    instrument = get_instrument(instrument_id)
    scores = score(instrument_id, {item.id: highest_answer(item) for item in instrument.items})
    assert [name for name, value in scores.items() if value is None] == []
