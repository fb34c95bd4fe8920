"""Pocock-Simon minimization: hand-worked decisions, the random element, ties, weights."""

from __future__ import annotations

from collections import Counter

import pytest
from scipy import stats

from trialdesk.errors import RandomizationError
from trialdesk.randomization.design import Arm, Factor
from trialdesk.randomization.minimization import (
    MinimizationDesign,
    allocate_next,
    minimize,
)

TWO_ARMS = (Arm("A"), Arm("B"))
SEX = Factor("sex", ("F", "M"))
AGE = Factor("age", ("<65", ">=65"))


def subject(sex: str, age: str) -> dict[str, str]:
    return {"sex": sex, "age": age}


def test_p_1_prefers_the_arm_that_a_hand_count_gives():
    # Six earlier subjects:          sex  age    arm
    previous = [
        (subject("F", "<65"), "A"),  # 1   F    <65    A
        (subject("M", "<65"), "B"),  # 2   M    <65    B
        (subject("F", ">=65"), "A"),  # 3  F    >=65   A
        (subject("M", ">=65"), "B"),  # 4  M    >=65   B
        (subject("F", "<65"), "B"),  # 5   F    <65    B
        (subject("F", ">=65"), "A"),  # 6  F    >=65   A
    ]
    # New subject: F, >=65. Earlier subjects sharing a level:
    #   sex F:    A = 3 (1, 3, 6), B = 1 (5)
    #   age >=65: A = 2 (3, 6),    B = 1 (4)
    # Range of the counts if the subject went to
    #   A: sex 4-1 = 3, age 3-1 = 2, total 5
    #   B: sex 3-2 = 1, age 2-2 = 0, total 1   -> B is preferred; with p = 1 it is chosen.
    design = MinimizationDesign(TWO_ARMS, (SEX, AGE), p=1.0)
    for seed in range(20):
        decision = allocate_next(design, previous, subject("F", ">=65"), seed)
        assert decision.totals == {"A": 5.0, "B": 1.0}
        assert decision.preferred == ("B",)
        assert decision.arm == "B"
        assert decision.probabilities == {"A": 0.0, "B": 1.0}


def test_factor_weights_decide_between_factors_that_disagree():
    previous = [
        (subject("F", ">=65"), "A"),
        (subject("F", ">=65"), "A"),
        (subject("F", "<65"), "A"),
        (subject("M", "<65"), "B"),
        (subject("M", "<65"), "B"),
        (subject("F", "<65"), "B"),
    ]
    # New subject: F, <65.  sex F: A = 3, B = 1.  age <65: A = 1, B = 3.
    #   to A: sex 4-1 = 3, age 3-2 = 1     to B: sex 3-2 = 1, age 4-1 = 3
    # Equal weights: 4 against 4, a tie -> either arm with probability 1/2, even with p = 1.
    # Sex weighted 2: A 2*3+1 = 7, B 2*1+3 = 5 -> B.   Age weighted 2: A 3+2 = 5, B 1+6 = 7 -> A.
    new = subject("F", "<65")
    tie = allocate_next(MinimizationDesign(TWO_ARMS, (SEX, AGE), p=1.0), previous, new, 0)
    assert tie.totals == {"A": 4.0, "B": 4.0}
    assert tie.probabilities == {"A": 0.5, "B": 0.5}
    heavy_sex = MinimizationDesign(TWO_ARMS, (Factor("sex", SEX.levels, 2), AGE), p=1.0)
    assert allocate_next(heavy_sex, previous, new, 0).arm == "B"
    heavy_age = MinimizationDesign(TWO_ARMS, (SEX, Factor("age", AGE.levels, 2)), p=1.0)
    assert allocate_next(heavy_age, previous, new, 0).arm == "A"


def test_variance_and_range_agree_for_two_arms_and_differ_in_scale():
    previous = [(subject("F", "<65"), "A"), (subject("F", ">=65"), "A")]
    for measure in ("range", "variance"):
        design = MinimizationDesign(TWO_ARMS, (SEX, AGE), p=1.0, measure=measure)
        decision = allocate_next(design, previous, subject("F", "<65"), 0)
        assert decision.arm == "B"
    # With 3 in arm A and 0 in B for sex F (to A): range 3, population variance 2.25.
    design = MinimizationDesign(TWO_ARMS, (SEX,), p=1.0, measure="variance")
    decision = allocate_next(design, previous, {"sex": "F"}, 0)
    assert decision.totals == {"A": 2.25, "B": 0.25}


def test_the_first_subject_is_allocated_at_random():
    design = MinimizationDesign(TWO_ARMS + (Arm("C"),), (SEX,), p=1.0)
    arms = Counter(allocate_next(design, [], {"sex": "M"}, seed).arm for seed in range(600))
    assert set(arms) == {"A", "B", "C"}
    assert stats.chisquare(list(arms.values())).pvalue > 0.001


def cohort(subjects: int) -> list[dict[str, str]]:
    """A fixed, unevenly mixed cohort: more subjects under 65 than over."""
    return [
        subject("FM"[i % 2], ("<65", ">=65")[(i // 2) % 2 if i % 7 else 0]) for i in range(subjects)
    ]


def run_trial(design: MinimizationDesign, subjects: int, seed: int):
    return minimize(design, cohort(subjects), seed)


def test_with_p_0_8_the_preferred_arm_is_chosen_in_80_percent_of_untied_allocations():
    decisions = run_trial(MinimizationDesign(TWO_ARMS, (SEX, AGE), p=0.8), 3000, seed=5)
    untied = [d for d in decisions if len(d.preferred) == 1]
    chosen = sum(d.arm in d.preferred for d in untied)
    assert len(untied) > 1000
    assert stats.binomtest(chosen, len(untied), 0.8).pvalue > 0.001


def test_ties_are_resolved_with_equal_frequency():
    decisions = run_trial(MinimizationDesign(TWO_ARMS, (SEX, AGE), p=0.8), 3000, seed=6)
    tied = [d for d in decisions if len(d.preferred) == 2]
    assert len(tied) > 500
    chose_a = sum(d.arm == "A" for d in tied)
    assert stats.binomtest(chose_a, len(tied), 0.5).pvalue > 0.001


def test_minimize_gives_the_same_arms_as_allocating_one_subject_at_a_time():
    design = MinimizationDesign(TWO_ARMS + (Arm("C"),), (SEX, AGE), p=0.75)
    decisions = run_trial(design, 40, seed=3)
    previous = []
    for decision, subject_levels in zip(decisions, cohort(40), strict=True):
        assert allocate_next(design, previous, subject_levels, seed=3) == decision
        previous.append((subject_levels, decision.arm))


def test_unequal_weights_converge_to_the_allocation_ratio():
    design = MinimizationDesign((Arm("A", 2), Arm("B", 1)), (SEX, AGE), p=0.8)
    arms = Counter(d.arm for d in run_trial(design, 1500, seed=4))
    assert arms["A"] / 1500 == pytest.approx(2 / 3, abs=0.02)


def test_marginal_balance_is_tight_with_p_1():
    decisions = run_trial(MinimizationDesign(TWO_ARMS, (SEX, AGE), p=1.0), 400, seed=2)
    arms = Counter(d.arm for d in decisions)
    assert abs(arms["A"] - arms["B"]) <= 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"p": 0.4}, r"p = 0.4; expected between 1/2"),
        ({"p": 1.2}, r"p = 1.2"),
        ({"measure": "sd"}, "measure 'sd'; expected one of range, variance"),
        ({"factors": ()}, "at least one factor"),
    ],
)
def test_a_bad_design_is_rejected(kwargs, message):
    with pytest.raises(RandomizationError, match=message):
        MinimizationDesign(**{"arms": TWO_ARMS, "factors": (SEX,), **kwargs})


def test_an_unknown_level_names_the_factor_and_the_levels():
    design = MinimizationDesign(TWO_ARMS, (SEX, AGE))
    with pytest.raises(RandomizationError, match="factor 'age' has no level '70'; expected one of"):
        allocate_next(design, [], subject("F", "70"), 0)
    with pytest.raises(RandomizationError, match="earlier subject 1: unknown arm 'Z'"):
        allocate_next(design, [(subject("F", "<65"), "Z")], subject("F", "<65"), 0)
