"""Simulated guess rates against the exact Blackwell-Hodges values, and imbalance summaries."""

from __future__ import annotations

import numpy as np
import pytest

from trialdesk.errors import RandomizationError
from trialdesk.randomization.assessment import Distribution, assess_blocks, assess_minimization
from trialdesk.randomization.design import Arm, Factor
from trialdesk.randomization.minimization import MinimizationDesign

TWO_ARMS = (Arm("A"), Arm("B"))
THREE_ARMS = (Arm("A"), Arm("B"), Arm("C"))
SITES = Factor("site", tuple(f"0{i}" for i in range(1, 8)))
KL = Factor("kl", ("2", "3"))


def test_block_of_two_is_guessed_three_times_in_four_exactly():
    result = assess_blocks(TWO_ARMS, (2,), (), subjects=240, simulations=500, seed=1)
    assert result.guess_rate == 0.75
    assert result.overall.max == 0


@pytest.mark.parametrize(
    ("sizes", "exact"),
    [
        ((4,), 17 / 24),  # Blackwell-Hodges: m + 2^(2m-1)/C(2m,m) - 1/2 per block of 2m
        ((6,), 0.6833),
        ((8,), 0.6661),
        ((4, 6), 0.6933),  # random sizes 4 or 6 with equal probability
    ],
)
def test_guess_rate_for_blocks_matches_the_exact_value_within_monte_carlo_error(sizes, exact):
    # 240 subjects is a whole number of blocks for every size, so the exact value applies.
    result = assess_blocks(TWO_ARMS, sizes, (), subjects=240, simulations=3000, seed=2)
    assert abs(result.guess_rate - exact) < 4 * result.guess_rate_se + 1e-4


def test_stratified_blocks_never_exceed_half_a_block_within_a_stratum():
    result = assess_blocks(TWO_ARMS, (2, 4, 6), (SITES, KL), 106, 2000, seed=3)
    assert result.within_stratum.max <= 3
    assert result.overall.max >= result.within_stratum.max
    assert set(result.marginal) == {"site", "kl"}


def test_minimization_balances_margins_better_than_many_small_strata():
    # NCT04208646's shape: 106 subjects, 3 arms, 7 sites x KL grade 2/3 = 14 strata.
    blocks = assess_blocks(THREE_ARMS, (3, 6), (SITES, KL), 106, 4000, seed=4)
    design = MinimizationDesign(THREE_ARMS, (SITES, KL), p=0.8)
    minimization = assess_minimization(design, 106, 4000, seed=4)
    assert minimization.overall.mean < blocks.overall.mean
    assert minimization.marginal["kl"].mean < blocks.marginal["kl"].mean
    assert 1 / 3 < minimization.preferred_arm_guess_rate < 1


def test_deterministic_minimization_alternates_and_is_guessed_like_a_block_of_two():
    # p = 1, one factor with one level: whenever the arms are level, a tie (either arm, 1/2);
    # otherwise the arm behind, for certain. Knowing the rule does not help: 3 in 4 either way.
    design = MinimizationDesign(TWO_ARMS, (Factor("all", ("x",)),), p=1.0)
    result = assess_minimization(design, subjects=100, simulations=300, seed=5)
    assert result.guess_rate == 0.75
    assert result.overall.max == 0
    assert result.preferred_arm_guess_rate == 0.75


def test_the_same_seed_gives_the_same_assessment():
    first = assess_blocks(THREE_ARMS, (3, 6), (KL,), 50, 200, seed=6).to_document()
    assert assess_blocks(THREE_ARMS, (3, 6), (KL,), 50, 200, seed=6).to_document() == first


def test_unequal_weights_measure_imbalance_in_units_of_the_weight():
    # 2:1 in blocks of 3: after every complete block the counts are 2k and k: no imbalance.
    result = assess_blocks((Arm("A", 2), Arm("B", 1)), (3,), (), 99, 200, seed=7)
    assert result.overall.max == 0
    assert 0.5 < result.guess_rate < 1


def test_distribution_summary_by_nearest_rank():
    # Imbalance 0 four times, 0.5 four times, 1.5 twice (unit 2).
    summary = Distribution.from_histogram(np.array([4, 4, 0, 2]), unit=2)
    assert summary.mean == pytest.approx((0.5 * 4 + 1.5 * 2) / 10)
    assert summary.percentiles == {50: 0.5, 90: 1.5, 95: 1.5, 99: 1.5}
    assert summary.max == 1.5


def test_assessment_document_has_the_guess_rate_and_imbalance():
    document = assess_blocks(TWO_ARMS, (2, 4), (KL,), 20, 50, seed=8).to_document()
    assert set(document) >= {"guess_rate", "guess_rate_se", "imbalance", "scheme", "seed"}
    assert set(document["imbalance"]) == {"within_stratum", "overall", "marginal"}
    assert set(document["imbalance"]["overall"]) == {"mean", "p50", "p90", "p95", "p99", "max"}


def test_counts_must_be_positive():
    with pytest.raises(RandomizationError, match="subjects: 0"):
        assess_blocks(TWO_ARMS, (2,), (), 0, 10, seed=1)
    with pytest.raises(RandomizationError, match="simulations: 0"):
        assess_blocks(TWO_ARMS, (2,), (), 10, 0, seed=1)
