import math

import pytest

from trialdesk.errors import BadInput, InstrumentError
from trialdesk.instruments import get_instrument, score, validate_answers, values_and_scores
from trialdesk.instruments.answers import describe_item_ids


def error_for(instrument_id: str, answers: object) -> str:
    with pytest.raises(InstrumentError) as error:
        validate_answers(instrument_id, answers)
    message = str(error.value)
    assert "\n" not in message
    return message


def test_instrument_errors_are_bad_input():
    assert issubclass(InstrumentError, BadInput)


def test_every_item_comes_back_missing_ones_as_none():
    values = validate_answers("vitals", {"height_cm": 170, "weight_kg": None})
    assert values == {
        "height_cm": 170,
        "weight_kg": None,
        "systolic_bp": None,
        "diastolic_bp": None,
        "pulse": None,
        "temperature_c": None,
    }


def test_an_unknown_item_is_named_with_the_items_there_are():
    assert error_for("womac", {"P1": 1, "P6": 2}) == (
        "womac: 'P6' is not an item of this instrument; items are P1-P5, S1-S2, F1-F17"
    )


def test_a_long_item_list_is_cut_short():
    message = error_for("moaks", {"bml": 1})
    assert message.endswith("more (trialdesk instrument show moaks)")


def test_an_out_of_range_answer_names_the_item_and_the_range():
    assert error_for("womac", {"P1": 5}) == (
        "womac item P1: 5 is not allowed; expected an integer from 0 to 4"
    )
    assert error_for("nrs_pain", {"nrs": -1}) == (
        "nrs_pain item nrs: -1 is not allowed; expected an integer from 0 to 10"
    )


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (True, "true (a boolean)"),
        (False, "false (a boolean)"),
        (2.0, "2.0"),
        (2.5, "2.5"),
        ("2", "'2' (text)"),
        ([2], "a list"),
    ],
)
def test_only_integers_answer_an_integer_item(value, shown):
    assert error_for("koos", {"P1": value}) == (
        f"koos item P1: {shown} is not allowed; expected an integer from 0 to 4"
    )


def test_a_number_item_takes_integers_and_floats_but_not_nan_or_booleans():
    assert validate_answers("vitals", {"weight_kg": 80})["weight_kg"] == 80
    assert validate_answers("vitals", {"weight_kg": 80.5})["weight_kg"] == 80.5
    for value in (math.nan, math.inf, True):
        assert "vitals item weight_kg" in error_for("vitals", {"weight_kg": value})


def test_range_limits_are_inclusive():
    assert validate_answers("vas_pain", {"vas": 0})["vas"] == 0
    assert validate_answers("vas_pain", {"vas": 100})["vas"] == 100
    assert "0 to 100 mm" in error_for("vas_pain", {"vas": 101})


def test_a_boolean_item_takes_only_booleans():
    assert error_for("ae_seriousness", {"disability": 1}) == (
        "ae_seriousness item disability: 1 is not allowed; expected true or false"
    )


def test_a_code_item_takes_only_its_codes():
    assert validate_answers("labs", {"pregnancy_test": "negative"})["pregnancy_test"] == "negative"
    assert "one of 'negative', 'positive'" in error_for("labs", {"pregnancy_test": "no"})


def test_a_constraint_across_items_names_them():
    assert error_for("vitals", {"systolic_bp": 80, "diastolic_bp": 90}) == (
        "vitals items diastolic_bp, systolic_bp: diastolic pressure must be below systolic "
        "(diastolic_bp < systolic_bp)"
    )


def test_a_constraint_is_not_checked_while_an_item_is_missing():
    assert validate_answers("vitals", {"diastolic_bp": 90})["diastolic_bp"] == 90


def test_answers_must_be_a_mapping():
    assert error_for("womac", [1, 2, 3]) == (
        "womac: answers must be an object from item id to value, not list"
    )


def test_item_runs_are_shortened_only_when_consecutive():
    assert describe_item_ids(get_instrument("kl_grade")) == "index_knee, contralateral_knee"
    assert describe_item_ids(get_instrument("pain_diary")) == "day1-day30"


def test_values_and_scores_come_together_as_the_two_calls_give_them():
    answers = {"P1": 1, "P2": 2, "P4": 2, "P5": 2, "S1": 3, "S2": 1}
    assert values_and_scores("womac", answers) == (
        validate_answers("womac", answers),
        score("womac", answers),
    )
    with pytest.raises(InstrumentError, match="womac item P1"):
        values_and_scores("womac", {"P1": 9})
