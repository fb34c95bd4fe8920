"""NRS, VAS and the 30-day pain diary."""

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from trialdesk.errors import InstrumentError
from trialdesk.instruments import get_instrument, score

DAYS = [f"day{k}" for k in range(1, 31)]


def test_nrs_is_its_single_item():
    assert score("nrs_pain", {"nrs": 6}) == {"pain": 6}
    assert score("nrs_pain", {"nrs": None}) == {"pain": None}


def test_nrs_is_never_rounded_into_range():
    with pytest.raises(InstrumentError, match="nrs_pain item nrs: 6.5 is not allowed"):
        score("nrs_pain", {"nrs": 6.5})


def test_nrs_recall_period_is_set_by_the_protocol():
    instrument = get_instrument("nrs_pain")
    with pytest.raises(InstrumentError, match="must set parameter 'question'"):
        instrument.resolve_parameters({"recall_period": "last 24 hours"})
    settings_ = {"question": "knee pain when worst", "recall_period": "last 7 days"}
    assert instrument.resolve_parameters(settings_) == settings_


def test_vas_is_integer_millimetres():
    assert score("vas_pain", {"vas": 73}) == {"pain": 73}
    with pytest.raises(InstrumentError, match="expected an integer from 0 to 100 mm"):
        score("vas_pain", {"vas": 73.5})


def test_diary_summary_with_gaps():
    # days 1, 2, 5, 6 reported: 5, 3, 6, 2
    answers = {"day1": 5, "day2": 3, "day5": 6, "day6": 2}
    assert score("pain_diary", answers) == {
        "days_reported": 4,
        "mean": 4.0,
        "max": 6,
        # (5+3)/2 + 3 x (3+6)/2 + (6+2)/2 = 4 + 13.5 + 4
        "auc": 21.5,
        "days_nrs_ge_4": 2,
    }


def test_a_complete_diary():
    values = [k % 11 for k in range(30)]  # 0..10, 0..10, 0..7
    answers = dict(zip(DAYS, values, strict=True))
    scores = score("pain_diary", answers)
    assert scores["days_reported"] == 30
    assert scores["mean"] == pytest.approx(sum(values) / 30)
    assert scores["max"] == 10
    trapezoids = sum((a + b) / 2 for a, b in zip(values, values[1:], strict=False))
    assert scores["auc"] == pytest.approx(trapezoids)
    assert scores["days_nrs_ge_4"] == sum(1 for v in values if v >= 4)


def test_one_day_has_no_area():
    assert score("pain_diary", {"day3": 7}) == {
        "days_reported": 1,
        "mean": 7.0,
        "max": 7,
        "auc": None,
        "days_nrs_ge_4": 1,
    }


def test_an_empty_diary():
    assert score("pain_diary", {}) == {
        "days_reported": 0,
        "mean": None,
        "max": None,
        "auc": None,
        "days_nrs_ge_4": None,
    }


def test_a_day_outside_the_first_thirty_is_refused():
    with pytest.raises(InstrumentError, match="'day31' is not an item.*day1-day30"):
        score("pain_diary", {"day31": 2})


@settings(max_examples=150, deadline=None)
@given(
    answers=st.fixed_dictionaries({day: st.none() | st.integers(0, 10) for day in DAYS}),
    data=st.data(),
)
def test_a_worse_day_never_gives_a_better_summary(answers, data):
    answered = [day for day, value in answers.items() if value is not None and value < 10]
    assume(answered)
    day = data.draw(st.sampled_from(answered))
    worse = answers | {day: answers[day] + data.draw(st.integers(1, 10 - answers[day]))}
    before, after = score("pain_diary", answers), score("pain_diary", worse)
    assert after["days_reported"] == before["days_reported"]
    for name in ("mean", "max", "auc", "days_nrs_ge_4"):
        assert (before[name] is None) == (after[name] is None)
        if before[name] is not None:
            assert after[name] >= before[name] - 1e-9, name
