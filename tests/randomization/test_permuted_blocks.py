"""Stratified permuted blocks: ratio, sizes, balance, reproducibility, uniformity, strata."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from trialdesk.errors import RandomizationError
from trialdesk.randomization.blocks import BlockDesign, generate_allocation_list
from trialdesk.randomization.design import Arm, Factor

SEEDS = st.integers(min_value=0, max_value=2**128 - 1)
TWO_ARMS = (Arm("A"), Arm("B"))
THREE_ARMS = (Arm("A"), Arm("B"), Arm("C"))


@st.composite
def designs(draw, min_slots: int = 1):
    weights = draw(st.lists(st.integers(1, 3), min_size=2, max_size=4))
    arms = tuple(Arm(f"ARM{i}", weight) for i, weight in enumerate(weights))
    multipliers = draw(st.sets(st.integers(1, 4), min_size=1, max_size=3))
    factors = draw(
        st.lists(st.integers(1, 3), max_size=2).map(
            lambda sizes: tuple(
                Factor(f"f{i}", tuple(f"L{j}" for j in range(size))) for i, size in enumerate(sizes)
            )
        )
    )
    return BlockDesign(
        arms=arms,
        block_sizes=tuple(m * sum(weights) for m in multipliers),
        factors=factors,
        slots_per_stratum=draw(st.integers(min_slots, min_slots + 60)),
    )


def blocks_of(stratum_list) -> list[np.ndarray]:
    """The arm indices of each block, split on the block column."""
    boundaries = np.flatnonzero(np.diff(stratum_list.block)) + 1
    return np.split(stratum_list.arm_index, boundaries)


@settings(max_examples=150, deadline=None)
@given(design=designs(), seed=SEEDS)
def test_every_block_is_complete_with_the_exact_ratio_and_an_allowed_size(design, seed):
    allocation_list = generate_allocation_list(design, seed)
    weights = np.array([arm.weight for arm in design.arms])
    for stratum_list in allocation_list.strata:
        assert design.slots_per_stratum <= len(stratum_list)
        assert len(stratum_list) < design.slots_per_stratum + max(design.block_sizes)
        block_numbers = np.unique(stratum_list.block)
        assert block_numbers.tolist() == list(range(1, len(block_numbers) + 1))
        for arms_in_block, sizes in zip(
            blocks_of(stratum_list),
            np.split(stratum_list.block_size, np.flatnonzero(np.diff(stratum_list.block)) + 1),
            strict=True,
        ):
            size = len(arms_in_block)
            assert set(sizes.tolist()) == {size}
            assert size in design.block_sizes
            counts = np.bincount(arms_in_block, minlength=len(weights))
            assert (counts * weights.sum() == weights * size).all()


@settings(max_examples=150, deadline=None)
@given(
    multipliers=st.sets(st.integers(1, 5), min_size=1, max_size=3),
    slots=st.integers(1, 80),
    seed=SEEDS,
)
def test_one_to_one_imbalance_never_exceeds_half_the_largest_block_at_any_prefix(
    multipliers, slots, seed
):
    sizes = tuple(2 * m for m in multipliers)
    design = BlockDesign(TWO_ARMS, sizes, (Factor("site", ("01", "02")),), slots)
    for stratum_list in generate_allocation_list(design, seed).strata:
        walk = np.cumsum(np.where(stratum_list.arm_index == 0, 1, -1))
        assert np.abs(walk).max() <= max(sizes) // 2


@settings(max_examples=50, deadline=None)
@given(design=designs(min_slots=100), seed=SEEDS, other=SEEDS)
def test_the_same_seed_gives_the_same_list_and_another_seed_another(design, seed, other):
    first = generate_allocation_list(design, seed).to_document()
    assert generate_allocation_list(design, seed).to_document() == first
    if other != seed:
        changed = generate_allocation_list(design, other).to_document()
        assert changed["strata"] != first["strata"]


def test_a_longer_list_extends_the_shorter_one_slot_for_slot():
    short = generate_allocation_list(BlockDesign(THREE_ARMS, (3, 6, 9), (), 20), seed=11)
    long = generate_allocation_list(BlockDesign(THREE_ARMS, (3, 6, 9), (), 500), seed=11)
    n = len(short.strata[0])
    assert (long.strata[0].arm_index[:n] == short.strata[0].arm_index).all()
    assert (long.strata[0].block[:n] == short.strata[0].block).all()


def test_the_list_for_a_seed_is_pinned_so_algorithm_changes_bump_the_version():
    design = BlockDesign(THREE_ARMS, (3, 6), (Factor("site", ("01", "02")),), 9)
    allocation_list = generate_allocation_list(design, seed=2024)
    assert allocation_list.algorithm == "stratified-permuted-blocks"
    assert allocation_list.version == "1"
    arms = [
        "".join(allocation_list.arm_ids[i] for i in s.arm_index) for s in allocation_list.strata
    ]
    sizes = [s.block_size.tolist() for s in allocation_list.strata]
    assert (arms, sizes) == PINNED_2024


PINNED_2024 = (
    ["CBA" + "BCA" + "BACACB", "CBCABA" + "CBA"],
    [[3] * 6 + [6] * 6, [6] * 6 + [3] * 3],
)


def test_every_arrangement_of_a_block_is_equally_likely():
    # 4,000 blocks of 2:2 have 6 arrangements; 5,400 blocks of 2:2:2 have 90.
    for arms, size, blocks, kinds in ((TWO_ARMS, 4, 4000, 6), (THREE_ARMS, 6, 5400, 90)):
        design = BlockDesign(arms, (size,), (), size * blocks)
        arm_index = generate_allocation_list(design, seed=7).strata[0].arm_index
        arrangements = Counter(map(bytes, arm_index.reshape(blocks, size)))
        assert len(arrangements) == kinds
        assert stats.chisquare(list(arrangements.values())).pvalue > 0.001


def test_every_block_size_is_equally_likely():
    design = BlockDesign(TWO_ARMS, (2, 4, 6), (), 24_000)
    stratum_list = generate_allocation_list(design, seed=8).strata[0]
    starts = np.flatnonzero(np.diff(stratum_list.block, prepend=0))
    counts = Counter(stratum_list.block_size[starts].tolist())
    assert set(counts) == {2, 4, 6}
    assert stats.chisquare(list(counts.values())).pvalue > 0.001


def test_a_stratum_list_does_not_depend_on_the_other_strata_or_the_factor_order():
    site = Factor("site", ("01", "02"))
    more_sites = Factor("site", ("01", "02", "03", "04"))
    kl = Factor("kl", ("2", "3"))
    lists = [
        generate_allocation_list(BlockDesign(THREE_ARMS, (3, 6), factors, 30), seed=99)
        for factors in ((site, kl), (more_sites, kl), (kl, site))
    ]
    wanted = {("site", "02"), ("kl", "3")}
    found = [
        next(s for s in allocation_list.strata if set(s.stratum) == wanted)
        for allocation_list in lists
    ]
    for other in found[1:]:
        assert (other.arm_index == found[0].arm_index).all()
        assert (other.block_size == found[0].block_size).all()


def test_strata_are_independent_of_each_other():
    # First block (size 4, 2:2) of two strata over 720 seeds: arrangements are independent.
    design = BlockDesign(TWO_ARMS, (4,), (Factor("site", ("01", "02")),), 4)
    pairs = [
        tuple(bytes(s.arm_index) for s in generate_allocation_list(design, seed).strata)
        for seed in range(720)
    ]
    kinds = sorted({first for first, _ in pairs})
    table = np.zeros((len(kinds), len(kinds)))
    for first, second in pairs:
        table[kinds.index(first), kinds.index(second)] += 1
    assert stats.chi2_contingency(table).pvalue > 0.001


def test_without_a_seed_one_is_drawn_from_secrets():
    design = BlockDesign(TWO_ARMS, (2, 4), (), 10)
    seeds = {generate_allocation_list(design).seed for _ in range(3)}
    assert len(seeds) == 3
    assert all(0 <= seed < 2**128 for seed in seeds)


def test_no_factors_gives_one_stratum():
    allocation_list = generate_allocation_list(BlockDesign(TWO_ARMS, (2,), (), 4), seed=1)
    assert [s.stratum for s in allocation_list.strata] == [()]
    assert allocation_list.to_document()["strata"][0]["stratum"] == {}


@pytest.mark.parametrize(
    ("arms", "sizes", "message"),
    [
        (THREE_ARMS, (3, 4), "block size 4 cannot hold the ratio 1:1:1; expected a multiple of 3"),
        ((Arm("A", 2), Arm("B", 1)), (2,), "expected a multiple of 3"),
        (TWO_ARMS, (), "at least one block size"),
        (TWO_ARMS, (4, 4), "lists a size twice"),
        ((Arm("A"),), (2,), "at least two arms"),
        ((Arm("A"), Arm("A")), (2,), "arm 'A' appears twice"),
        ((Arm("A", 0), Arm("B")), (2,), "weight of arm 'A' is 0"),
    ],
)
def test_a_design_that_cannot_hold_its_ratio_is_rejected(arms, sizes, message):
    with pytest.raises(RandomizationError, match=message):
        BlockDesign(arms, sizes, (), 10)


def test_a_negative_seed_is_rejected():
    with pytest.raises(RandomizationError, match="seed: -1"):
        generate_allocation_list(BlockDesign(TWO_ARMS, (2,), (), 4), seed=-1)
