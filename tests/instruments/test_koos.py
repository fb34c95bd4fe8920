"""KOOS subscales (2012 rule) and KOOS-derived WOMAC (WOMAC rules)."""

import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from trialdesk.instruments import score

SUBSCALES = {
    "pain": [f"P{k}" for k in range(1, 10)],
    "symptoms": [f"S{k}" for k in range(1, 8)],
    "adl": [f"A{k}" for k in range(1, 18)],
    "sport_rec": [f"SP{k}" for k in range(1, 6)],
    "qol": [f"Q{k}" for k in range(1, 5)],
}
ITEMS = [item for items in SUBSCALES.values() for item in items]
TOL = 1e-5

# awell-score's "random response" fixture (src/scores/koos/__testdata__), mapped to KOOS
# item codes by content: awell numbers symptoms stiffness first (SY1 morning stiffness ..
# SY7 bending), KOOS numbers them S1 swelling .. S7 stiffness later in the day.
RANDOM_RESPONSE = {
    "P1": 3, "P2": 2, "P3": 1, "P4": 2, "P5": 3, "P6": 4, "P7": 1, "P8": 2, "P9": 3,
    "S6": 2, "S7": 3, "S1": 1, "S2": 4, "S3": 2, "S4": 1, "S5": 3,
    "A1": 2, "A2": 3, "A3": 1, "A4": 2, "A5": 4, "A6": 1, "A7": 3, "A8": 2, "A9": 3,
    "A10": 1, "A11": 2, "A12": 3, "A13": 4, "A14": 1, "A15": 2, "A16": 3, "A17": 2,
    "SP1": 3, "SP2": 4, "SP3": 3, "SP4": 2, "SP5": 4,
    "Q1": 3, "Q2": 2, "Q3": 3, "Q4": 2,
}  # fmt: skip


def test_awell_random_fixture():
    # awell reports these rounded to 1 dp: 41.7, 42.9, 42.6, 20, 37.5
    assert score("koos", RANDOM_RESPONSE) == pytest.approx(
        {
            "pain": 100 - 25 * 21 / 9,
            "symptoms": 100 - 25 * 16 / 7,
            "adl": 100 - 25 * 39 / 17,
            "sport_rec": 20,
            "qol": 37.5,
        },
        abs=TOL,
    )


@pytest.mark.parametrize(("answer", "expected"), [(0, 100), (2, 50), (4, 0)])
def test_awell_best_median_worst_fixtures(answer, expected):
    assert score("koos", dict.fromkeys(ITEMS, answer)) == dict.fromkeys(SUBSCALES, expected)


def test_missing_items_are_left_out_of_the_mean():
    # pain with P2, P7, P9 missing: answered 3, 1, 2, 3, 4, 2 -> mean 2.5 -> 37.5
    answers = RANDOM_RESPONSE | {"P2": None, "P7": None, "P9": None}
    assert score("koos", answers)["pain"] == pytest.approx(37.5, abs=TOL)


def test_awell_fixture_with_five_pain_items_missing():
    answers = dict.fromkeys(ITEMS, 0) | dict.fromkeys(["P1", "P2", "P3", "P4", "P5"])
    scores = score("koos", answers)
    assert scores["pain"] is None
    assert all(scores[name] == 100 for name in ("symptoms", "adl", "sport_rec", "qol"))


def test_an_empty_form_scores_nothing():
    assert score("koos", {}) == dict.fromkeys(SUBSCALES)


def test_reversed_wording_items_are_not_reversed_again():
    # S4/S5 box 0 is "always can straighten/bend": the best answer, like every other box 0
    answers = dict.fromkeys(SUBSCALES["symptoms"], 0) | {"S4": 4}
    assert score("koos", answers)["symptoms"] == pytest.approx(100 - 25 * 4 / 7, abs=TOL)


@pytest.mark.parametrize("subscale", SUBSCALES)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_half_of_the_items_answered_is_exactly_enough(subscale, data):
    items = SUBSCALES[subscale]
    needed = math.ceil(len(items) / 2)
    answered = data.draw(st.permutations(items))[:needed]
    values = {item: data.draw(st.integers(0, 4)) for item in answered}
    assert score("koos", values)[subscale] == pytest.approx(
        100 - 25 * sum(values.values()) / needed, abs=TOL
    )
    one_fewer = dict(list(values.items())[1:])
    assert score("koos", one_fewer)[subscale] is None


def test_minimum_answers_match_the_koos_2012_table():
    expected = {"pain": 5, "symptoms": 4, "adl": 9, "sport_rec": 3, "qol": 2}
    assert {name: math.ceil(len(items) / 2) for name, items in SUBSCALES.items()} == expected


def answers_with_gaps() -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries({item: st.none() | st.integers(0, 4) for item in ITEMS})


@settings(max_examples=150, deadline=None)
@given(answers=answers_with_gaps(), data=st.data())
def test_a_worse_answer_never_gives_a_better_score(answers, data):
    answered = [item for item, value in answers.items() if value is not None and value < 4]
    assume(answered)
    item = data.draw(st.sampled_from(answered))
    worse = answers | {item: answers[item] + data.draw(st.integers(1, 4 - answers[item]))}
    for name in ("koos", "womac_from_koos"):
        before, after = score(name, answers), score(name, worse)
        for subscale, value in before.items():
            assert (value is None) == (after[subscale] is None)
            if value is None:
                continue
            if name == "koos":  # 100 = best
                assert after[subscale] <= value + 1e-9, subscale
            else:  # WOMAC: higher = worse
                assert after[subscale] >= value - 1e-9, subscale


# KOOS-derived WOMAC ---------------------------------------------------------------------


def test_womac_from_koos_uses_the_embedded_womac_items():
    # pain P5-P9: 3+4+1+2+3 = 13; stiffness S6+S7: 2+3 = 5; function A1-A17 sum 39
    assert score("womac_from_koos", RANDOM_RESPONSE) == pytest.approx(
        {
            "pain": 13,
            "stiffness": 5,
            "function": 39,
            "total": 57,
            "pain_100": 65,
            "stiffness_100": 62.5,
            "function_100": 39 * 100 / 68,
            "total_100": 57 * 100 / 96,
        },
        abs=TOL,
    )


def test_womac_from_koos_ignores_koos_items_outside_womac():
    changed = RANDOM_RESPONSE | {"P1": 0, "P2": 0, "P3": 0, "P4": 0, "S1": 0, "SP1": 0, "Q4": 0}
    assert score("womac_from_koos", changed) == score("womac_from_koos", RANDOM_RESPONSE)


def test_womac_from_koos_applies_womac_missing_rules_not_the_koos_half_rule():
    # two of P5-P9 missing: KOOS pain still has 7 of 9 answers, WOMAC pain is not computable
    answers = RANDOM_RESPONSE | {"P6": None, "P7": None}
    assert score("koos", answers)["pain"] is not None
    derived = score("womac_from_koos", answers)
    assert derived["pain"] is None
    assert derived["total"] is None
    # one missing is imputed: P5, P7, P8, P9 = 3, 1, 2, 3 -> 2.25 x 5
    assert score("womac_from_koos", RANDOM_RESPONSE | {"P6": None})["pain"] == pytest.approx(11.25)


@pytest.mark.parametrize(
    ("missing", "computable"),
    [
        (["S6"], False),
        (["A1", "A9", "A17"], True),
        (["A1", "A9", "A16", "A17"], False),
    ],
)
def test_womac_from_koos_stiffness_and_function_limits(missing, computable):
    derived = score("womac_from_koos", RANDOM_RESPONSE | dict.fromkeys(missing))
    subscale = "stiffness" if missing == ["S6"] else "function"
    assert (derived[subscale] is not None) is computable
    assert (derived["total"] is not None) is computable
