"""Kit lists: one kit per administration and slot, spares per arm, numbers that reveal nothing."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from scipy import stats

from trialdesk.errors import RandomizationError
from trialdesk.randomization.blocks import BlockDesign, generate_allocation_list
from trialdesk.randomization.design import Arm, Factor
from trialdesk.randomization.kits import assign_kits

THREE_ARMS = (Arm("LOW"), Arm("HIGH"), Arm("PBO"))
SITES = Factor("site", ("01", "02", "03"))


def allocation(slots: int = 12, seed: int = 1):
    return generate_allocation_list(BlockDesign(THREE_ARMS, (3, 6), (SITES,), slots), seed)


def test_every_slot_gets_one_kit_of_its_arm_per_administration_and_each_arm_its_spares():
    allocation_list = allocation()
    kit_list = assign_kits(allocation_list, 2, 3, seed=5, first_kit_number=1001)
    slots = sum(len(s) for s in allocation_list.strata)
    total = slots * 2 + 3 * 3
    assert [kit.kit_number for kit in kit_list.kits] == list(range(1001, 1001 + total))
    by_number = {kit.kit_number: kit for kit in kit_list.kits}
    for stratum_list in allocation_list.strata:
        for slot in stratum_list.slots(allocation_list.arm_ids):
            numbers = kit_list.kit_numbers(stratum_list.stratum, slot.seq)
            assert len(numbers) == 2
            assert [by_number[n].administration for n in numbers] == [1, 2]
            assert {by_number[n].arm for n in numbers} == {slot.arm}
            assert {by_number[n].seq for n in numbers} == {slot.seq}
    spares = Counter(kit.arm for kit in kit_list.kits if kit.seq is None)
    assert spares == {"LOW": 3, "HIGH": 3, "PBO": 3}


def test_kit_numbers_are_reproducible_from_the_seed():
    allocation_list = allocation()
    assert assign_kits(allocation_list, 2, 1, seed=9) == assign_kits(allocation_list, 2, 1, seed=9)
    assert assign_kits(allocation_list, 2, 1, seed=9) != assign_kits(allocation_list, 2, 1, seed=10)


def test_kit_numbers_follow_neither_the_arm_nor_the_slot_order():
    allocation_list = allocation(slots=300)
    kit_list = assign_kits(allocation_list, 2, 0, seed=3)
    # Slot order (stratum by stratum, seq by seq) against kit number: no correlation.
    order = [
        (s_index, kit.seq, kit.administration, kit.kit_number)
        for kit in kit_list.kits
        for s_index, s in enumerate(allocation_list.strata)
        if kit.stratum == s.stratum
    ]
    order.sort()
    assert abs(stats.spearmanr(range(len(order)), [row[3] for row in order]).statistic) < 0.05
    # A subject's two kits are not neighbours more often than chance.
    pairs = [kit_list.kit_numbers(s.stratum, seq) for s in allocation_list.strata for seq in (1, 2)]
    assert sum(abs(a - b) == 1 for a, b in pairs) <= 1
    # Over many seeds, the lowest kit number belongs to each arm a third of the time.
    small = allocation(slots=6)
    lowest = Counter(assign_kits(small, 1, 0, seed=seed).kits[0].arm for seed in range(600))
    assert stats.chisquare(list(lowest.values())).pvalue > 0.001
    # Within one list, runs of the same arm in kit-number order look like a random sequence.
    arms = np.array([kit.arm for kit in kit_list.kits])
    same_as_next = (arms[1:] == arms[:-1]).mean()
    assert same_as_next == pytest.approx(1 / 3, abs=0.05)


@pytest.mark.parametrize(
    ("kits", "spares", "first", "message"),
    [
        (0, 0, 1, "kits per subject: 0"),
        (1, -1, 1, "spare kits per arm: -1"),
        (1, 0, -5, "first kit number: -5"),
    ],
)
def test_bad_kit_parameters_are_rejected(kits, spares, first, message):
    with pytest.raises(RandomizationError, match=message):
        assign_kits(allocation(), kits, spares, seed=1, first_kit_number=first)
