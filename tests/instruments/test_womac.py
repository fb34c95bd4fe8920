"""WOMAC LK3.1: sums, 0-100 scores and the missing-item rules, at their boundaries."""

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from trialdesk.instruments import score

PAIN = [f"P{k}" for k in range(1, 6)]
STIFFNESS = ["S1", "S2"]
FUNCTION = [f"F{k}" for k in range(1, 18)]
ITEMS = PAIN + STIFFNESS + FUNCTION
SUBSCALES = {"pain": PAIN, "stiffness": STIFFNESS, "function": FUNCTION}
MAX_MISSING = {"pain": 1, "stiffness": 0, "function": 3}
TOL = 1e-5

# A screening form of NCT04208646: pain 10, stiffness 4, function 30, total 44.
COMPLETE = (
    dict(zip(PAIN, [2, 3, 1, 2, 2], strict=True))
    | {"S1": 3, "S2": 1}
    | dict(zip(FUNCTION, [3, 3, 2, 1, 2, 1, 2, 2, 1, 2, 1, 2, 2, 1, 3, 1, 1], strict=True))
)


def test_complete_form():
    scores = score("womac", COMPLETE)
    assert scores == pytest.approx(
        {
            "pain": 10,
            "stiffness": 4,
            "function": 30,
            "total": 44,
            "pain_100": 50,
            "stiffness_100": 50,
            "function_100": 30 * 100 / 68,
            "total_100": 44 * 100 / 96,
        },
        abs=TOL,
    )


def test_one_missing_pain_item_is_replaced_by_the_mean_of_the_others():
    # P3 missing: answered 2, 3, 2, 2 -> mean 2.25 -> pain 11.25, not rounded
    scores = score("womac", COMPLETE | {"P3": None})
    assert scores["pain"] == pytest.approx(11.25, abs=TOL)
    assert scores["pain_100"] == pytest.approx(56.25, abs=TOL)
    assert scores["total"] == pytest.approx(11.25 + 4 + 30, abs=TOL)
    assert scores["total_100"] == pytest.approx(45.25 * 100 / 96, abs=TOL)


def test_absent_and_null_items_are_both_missing():
    absent = {key: value for key, value in COMPLETE.items() if key != "P3"}
    assert score("womac", absent) == score("womac", COMPLETE | {"P3": None})


def test_three_missing_function_items():
    # F1, F2, F15 (3, 3, 3) missing: 14 answered items sum 21 -> 21 / 14 x 17 = 25.5
    scores = score("womac", COMPLETE | {"F1": None, "F2": None, "F15": None})
    assert scores["function"] == pytest.approx(25.5, abs=TOL)
    assert scores["function_100"] == pytest.approx(25.5 * 100 / 68, abs=TOL)
    assert scores["total"] == pytest.approx(10 + 4 + 25.5, abs=TOL)


def test_a_fractional_imputed_pain_score_is_kept_unrounded():
    # answered 1, 2, 2, 2 -> 1.75 x 5 = 8.75 (outside an eligibility window edge if rounded)
    scores = score("womac", {"P1": 1, "P2": 2, "P4": 2, "P5": 2})
    assert scores["pain"] == 8.75
    assert scores["stiffness"] is None
    assert scores["function"] is None
    assert scores["total"] is None
    assert scores["total_100"] is None


def test_an_empty_form_scores_nothing():
    assert set(score("womac", {}).values()) == {None}


def test_floor_and_ceiling():
    assert score("womac", dict.fromkeys(ITEMS, 0))["total"] == 0
    assert score("womac", dict.fromkeys(ITEMS, 4)) == pytest.approx(
        {
            "pain": 20,
            "stiffness": 8,
            "function": 68,
            "total": 96,
            "pain_100": 100,
            "stiffness_100": 100,
            "function_100": 100,
            "total_100": 100,
        }
    )


@pytest.mark.parametrize("subscale", SUBSCALES)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_missing_item_limit_holds_exactly_at_its_boundary(subscale, data):
    items = SUBSCALES[subscale]
    limit = MAX_MISSING[subscale]
    answers = {item: data.draw(st.integers(0, 4)) for item in ITEMS}
    order = data.draw(st.permutations(items))
    at_limit = answers | dict.fromkeys(order[:limit])
    beyond = answers | dict.fromkeys(order[: limit + 1])
    at_limit_scores = score("womac", at_limit)
    beyond_scores = score("womac", beyond)
    assert at_limit_scores[subscale] is not None
    assert at_limit_scores["total"] is not None
    assert beyond_scores[subscale] is None
    assert beyond_scores[f"{subscale}_100"] is None
    assert beyond_scores["total"] is None
    assert beyond_scores["total_100"] is None
    others = [name for name in SUBSCALES if name != subscale]
    assert all(beyond_scores[name] is not None for name in others)


def answers_with_gaps() -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries({item: st.none() | st.integers(0, 4) for item in ITEMS})


@settings(max_examples=150, deadline=None)
@given(answers=answers_with_gaps(), data=st.data())
def test_a_worse_answer_never_gives_a_better_score(answers, data):
    answered = [item for item, value in answers.items() if value is not None and value < 4]
    assume(answered)
    item = data.draw(st.sampled_from(answered))
    worse = answers | {item: answers[item] + data.draw(st.integers(1, 4 - answers[item]))}
    before, after = score("womac", answers), score("womac", worse)
    for name, value in before.items():
        assert (value is None) == (after[name] is None)
        if value is not None:
            assert after[name] >= value - 1e-9, name


@settings(max_examples=150, deadline=None)
@given(answers=answers_with_gaps())
def test_imputed_subscales_stay_in_range_and_total_is_their_sum(answers):
    scores = score("womac", answers)
    for name, maximum in (("pain", 20), ("stiffness", 8), ("function", 68)):
        if scores[name] is not None:
            assert 0 <= scores[name] <= maximum
            assert scores[f"{name}_100"] == pytest.approx(scores[name] * 100 / maximum, abs=TOL)
    parts = [scores["pain"], scores["stiffness"], scores["function"]]
    if None in parts:
        assert scores["total"] is None
    else:
        assert scores["total"] == pytest.approx(sum(parts), abs=TOL)
