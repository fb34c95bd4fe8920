import pytest
from hypothesis import given
from hypothesis import strategies as st

from trialdesk.instruments import scoring


def test_prorated_sum_replaces_a_missing_item_by_the_mean_of_the_answered():
    # mean(1, 2, 2, 2) = 1.75, times 5 items
    assert scoring.prorated_sum([1, 2, None, 2, 2], required=4) == 8.75


def test_prorated_sum_of_a_complete_form_is_the_plain_sum():
    assert scoring.prorated_sum([0, 4, 3, 1], required=4) == 8


def test_prorated_sum_needs_the_required_answers():
    assert scoring.prorated_sum([1, None, None, 2, 2], required=4) is None
    assert scoring.prorated_sum([None, None], required=0) is None


@given(st.lists(st.one_of(st.none(), st.integers(0, 4)), min_size=1, max_size=20))
def test_prorated_sum_lies_between_n_times_the_smallest_and_largest_answer(values):
    total = scoring.prorated_sum(values, required=1)
    present = [v for v in values if v is not None]
    if not present:
        assert total is None
    else:
        assert min(present) * len(values) - 1e-9 <= total <= max(present) * len(values) + 1e-9


def test_mean_0_100_is_the_koos_transform():
    # awell-score's random fixture, KOOS pain: mean 21/9, 100 - 25 x mean = 41.666...
    values = [3, 2, 1, 2, 3, 4, 1, 2, 3]
    assert scoring.mean_0_100(values, 5, 0, 4, higher_item_is_worse=True) == pytest.approx(
        41.6666667, abs=1e-5
    )


def test_mean_0_100_when_higher_items_are_better():
    assert scoring.mean_0_100([1, 2, None], 2, 1, 5, higher_item_is_worse=False) == 12.5


def test_mean_0_100_needs_the_required_answers():
    assert scoring.mean_0_100([1, None, None], 2, 0, 4, higher_item_is_worse=True) is None


def test_plain_mean_and_maximum_use_answered_items():
    assert scoring.plain_mean([2, None, 5], required=1) == 3.5
    assert scoring.maximum([2, None, 5], required=2) == 5
    assert scoring.maximum([2, None, None], required=2) is None
    assert scoring.plain_mean([None], required=0) is None


def test_count_meeting_a_threshold_or_a_value():
    assert scoring.count_meeting([4, 3, None, 7], required=1, at_least=4) == 2
    assert scoring.count_meeting([True, False, None], required=0, equals=True) == 1
    assert scoring.count_meeting([1, 0], required=0, equals=True) == 0  # 1 is not True
    assert scoring.count_meeting([None, None], required=1, at_least=4) is None


def test_trapezoid_area_bridges_gaps_and_does_not_extrapolate():
    # days 1-2: (5 + 3) / 2 = 4; days 2-5: 3 x (3 + 6) / 2 = 13.5
    values = [None, 5, 3, None, None, 6, None]
    times = [0, 1, 2, 3, 4, 5, 6]
    assert scoring.trapezoid_area(values, times, required=2) == 17.5


def test_trapezoid_area_needs_two_points():
    assert scoring.trapezoid_area([None, 4], [1, 2], required=1) is None


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([False, True, None], True),
        ([False, False], False),
        ([False, None], None),
        ([], False),
    ],
)
def test_any_true_is_a_three_valued_or(values, expected):
    assert scoring.any_true(values) is expected
