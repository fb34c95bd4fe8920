import pytest
from hypothesis import given
from hypothesis import strategies as st
from statsmodels.stats.proportion import confint_proportions_2indep

from trialdesk.analysis.responder import (
    mcid_responders,
    omeract_oarsi,
    responder_rates,
    risk_difference,
)
from trialdesk.errors import BadInput

NONE = dict(global_baseline=None, global_followup=None)


def oarsi(pain=(None, None), function=(None, None), global_=(None, None)):
    return omeract_oarsi(*pain, *function, *global_)


def test_exactly_fifty_percent_and_twenty_points_is_high_improvement():
    result = oarsi(pain=(40, 20))
    assert result == {"high_improvement": True, "two_of_three": False, "responder": True}


def test_scaled_womac_function_on_the_boundary_counts():
    # WOMAC function raw x 100/68: 27.2 -> 13.6 raw is exactly 50% and 20 points.
    assert oarsi(function=(27.2 * 100 / 68 * 1.0, 13.6 * 100 / 68))["high_improvement"]


@pytest.mark.parametrize(
    ("pain", "high"),
    [((40, 20.01), False), ((30, 14), False), ((100, 80), False), ((100, 50), True)],
)
def test_high_improvement_needs_both_thresholds(pain, high):
    # 49.95%; 53% but 16 points; 20 points but 20%; both met.
    assert oarsi(pain=pain)["high_improvement"] is high


def test_two_of_three_at_exactly_twenty_percent_and_ten_points():
    result = oarsi(pain=(50, 40), global_=(50, 40), function=(50, 45))
    assert result == {"high_improvement": False, "two_of_three": True, "responder": True}
    assert not oarsi(pain=(50, 40), global_=(50, 40.5), function=(50, 45))["responder"]


def test_baseline_zero_or_missing_domains_do_not_count():
    assert not oarsi(pain=(0, 0), function=(0, 0), global_=(50, 10))["responder"]
    assert not oarsi(pain=(50, None), global_=(50, 30))["two_of_three"]


@given(st.floats(0, 100), st.floats(0, 100))
def test_no_change_or_worsening_never_responds(baseline, followup):
    worse = max(baseline, followup)
    assert not oarsi((baseline, worse), (baseline, worse), (baseline, worse))["responder"]


def test_out_of_range_and_non_numeric_scores_are_rejected():
    with pytest.raises(BadInput, match="pain_followup"):
        oarsi(pain=(50, 120))
    with pytest.raises(BadInput, match="global_baseline"):
        oarsi(global_=("high", 10))


def test_mcid_responders_treat_missing_as_non_responders():
    result = mcid_responders([60, 60, 60, 60], [50.3, 50, 51, float("nan")], mcid=10)
    assert result.tolist() == [False, True, False, False]
    assert mcid_responders([40], [50], mcid=10, higher_is_worse=False).tolist() == [True]


def test_newcombe_interval_matches_newcombe_1998_and_statsmodels():
    difference, wald, newcombe = risk_difference(56, 70, 48, 80)
    assert difference == pytest.approx(0.2)
    assert newcombe == pytest.approx((0.0524, 0.3339), abs=1e-4)  # Stat Med 1998, table II
    expected = confint_proportions_2indep(56, 70, 48, 80, method="newcomb", compare="diff")
    assert newcombe == pytest.approx(expected, abs=1e-10)
    assert wald == pytest.approx((0.0575, 0.3425), abs=1e-4)


def test_responder_rates_by_arm():
    arms = ["PBO"] * 4 + ["TRT"] * 5
    responders = [True, False, False, False, True, True, True, False, True]
    (rate,) = responder_rates(arms, responders, reference="PBO")
    assert (rate.arm, rate.responders, rate.n, rate.reference_responders) == ("TRT", 4, 5, 1)
    assert rate.difference == pytest.approx(0.8 - 0.25)
    with pytest.raises(BadInput, match="'CTRL'"):
        responder_rates(arms, responders, reference="CTRL")
