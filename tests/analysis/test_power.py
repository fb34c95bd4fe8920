import numpy as np
import pytest
from statsmodels.stats.power import TTestIndPower

from trialdesk.analysis.power import TrialDesign, simulate_power, simulate_trials, split_by_weights
from trialdesk.errors import BadInput


def test_two_arms_d_07_with_33_per_arm_has_80_percent_power():
    design = TrialDesign(
        arms=("PBO", "TRT"),
        n_per_arm=(33, 33),
        visits=("W12",),
        effect=0.7,
        sd=1.0,
        correlation=0.0,
    )
    (comparison,) = simulate_power(design, trials=10_000, seed=7).comparisons
    analytic = TTestIndPower().power(0.7, 33, 0.05)  # 33.02 per arm for 0.80
    assert abs(comparison.power - analytic) < 3 * comparison.power_mcse
    assert abs(comparison.type1_error - 0.05) < 3 * comparison.type1_mcse


def test_baseline_adjustment_and_dropout_move_power_the_right_way():
    common = dict(
        arms=("PBO", "TRT"),
        n_per_arm=(33, 33),
        visits=("W4", "W12"),
        effect=0.7,
        sd=1.0,
        correlation=0.6,
    )
    adjusted = simulate_power(TrialDesign(**common), 4000, seed=1).comparisons[0]
    lossy = simulate_power(TrialDesign(**common, dropout=0.3), 4000, seed=1).comparisons[0]
    assert adjusted.power > 0.9  # ANCOVA variance ~ (1 - rho^2)
    assert lossy.power < adjusted.power - 0.03
    assert abs(lossy.type1_error - 0.05) < 3 * lossy.type1_mcse


def test_dropout_share_by_the_primary_visit():
    design = TrialDesign(
        arms=("A", "B"),
        n_per_arm=(500, 500),
        visits=("V1", "V2", "V3"),
        effect=0.0,
        sd=1.0,
        correlation=0.3,
        dropout=0.2,
    )
    values = simulate_trials(design, 20, 0.0, np.random.default_rng(3)).values
    assert np.isnan(values[:, :, -1]).mean() == pytest.approx(0.2, abs=0.01)
    assert not np.isnan(values[:, :, 0]).any()
    # Monotone: once missing, missing at every later visit.
    assert not (np.isnan(values[:, :, 1]) & ~np.isnan(values[:, :, 2])).any()


def test_mmrm_analysis_runs_and_rejects_a_large_effect():
    design = TrialDesign(
        arms=("PBO", "TRT"),
        n_per_arm=(30, 30),
        visits=("W4", "W12"),
        effect=1.5,
        sd=1.0,
        correlation=0.5,
        dropout=0.1,
        analysis="mmrm",
    )
    (comparison,) = simulate_power(design, trials=10, seed=2).comparisons
    assert comparison.power == 1.0


def test_split_by_weights_and_bad_designs():
    assert split_by_weights(106, [1, 1, 1]) == (36, 35, 35)
    assert split_by_weights(80, [1, 1]) == (40, 40)
    with pytest.raises(BadInput, match="--dropout"):
        TrialDesign(
            arms=("A", "B"),
            n_per_arm=(5, 5),
            visits=("V",),
            effect=1,
            sd=1,
            correlation=0,
            dropout=1.0,
        )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"arms": ("PBO", "PBO")}, "expected each arm once"),
        ({"visits": ("W4", "W4")}, "expected each visit once"),
        ({"effect": float("nan")}, "--effect nan"),
        ({"sd": float("nan")}, "--sd nan"),
        ({"sd": float("inf")}, "--sd inf"),
    ],
)
def test_a_bad_design_names_the_option(change, message):
    common = dict(
        arms=("PBO", "TRT"),
        n_per_arm=(10, 10),
        visits=("W4", "W12"),
        effect=0.5,
        sd=1.0,
        correlation=0.5,
    )
    with pytest.raises(BadInput, match=message):
        TrialDesign(**(common | change))


def test_a_negative_seed_is_bad_input():
    design = TrialDesign(
        arms=("PBO", "TRT"), n_per_arm=(10, 10), visits=("W4",), effect=0.5, sd=1, correlation=0
    )
    with pytest.raises(BadInput, match="--seed -1"):
        simulate_power(design, trials=10, seed=-1)
