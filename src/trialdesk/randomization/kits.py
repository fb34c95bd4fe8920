"""Kit lists for double-blind dispensing.

Every slot of an allocation list gets one kit per administration (two for a two-cycle
treatment plan), and each arm gets some spare kits for replacements. Kit numbers are a
uniformly random permutation of a number range laid over all kits, so a kit number says
nothing about its arm: numbers are neither grouped by arm, nor in block or slot order, nor
consecutive within a subject.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trialdesk.errors import RandomizationError
from trialdesk.randomization.blocks import AllocationList
from trialdesk.randomization.design import Stratum
from trialdesk.randomization.streams import bit_stream


@dataclass(frozen=True)
class Kit:
    """A labelled kit: its number, its arm (unblinded), and the slot it is reserved for.

    Spare kits have no stratum, seq or administration.
    """

    kit_number: int
    arm: str
    stratum: Stratum | None
    seq: int | None
    administration: int | None


@dataclass(frozen=True)
class KitList:
    """All kits by kit number, and the kit numbers of each slot in administration order."""

    kits: tuple[Kit, ...]
    slot_kits: dict[tuple[Stratum, int], tuple[int, ...]]

    def kit_numbers(self, stratum: Stratum, seq: int) -> tuple[int, ...]:
        return self.slot_kits[(stratum, seq)]


def assign_kits(
    allocation_list: AllocationList,
    kits_per_subject: int,
    spare_kits_per_arm: int,
    seed: int,
    first_kit_number: int = 1001,
) -> KitList:
    """Number the kits for every slot and the spares, from the range starting at
    `first_kit_number`, in an order drawn from `seed` (normally the list's own seed)."""
    if kits_per_subject < 1:
        raise RandomizationError(f"kits per subject: {kits_per_subject}; expected >= 1")
    if spare_kits_per_arm < 0:
        raise RandomizationError(f"spare kits per arm: {spare_kits_per_arm}; expected >= 0")
    if first_kit_number < 0:
        raise RandomizationError(f"first kit number: {first_kit_number}; expected >= 0")
    arm_ids = allocation_list.arm_ids
    # Kits in slot order, then the spares: (arm, stratum, seq, administration).
    demand: list[tuple[str, Stratum | None, int | None, int | None]] = [
        (arm_ids[arm], stratum_list.stratum, seq, administration)
        for stratum_list in allocation_list.strata
        for seq, arm in enumerate(stratum_list.arm_index.tolist(), 1)
        for administration in range(1, kits_per_subject + 1)
    ]
    demand += [(arm, None, None, None) for arm in arm_ids for _ in range(spare_kits_per_arm)]
    keys = bit_stream(seed, "kits", {}).random_raw(len(demand))
    numbers = (first_kit_number + np.argsort(keys, kind="stable")).tolist()
    kits = [
        Kit(number, arm, stratum, seq, administration)
        for number, (arm, stratum, seq, administration) in zip(numbers, demand, strict=True)
    ]
    slot_kits: dict[tuple[Stratum, int], tuple[int, ...]] = {}
    for kit in kits:  # in slot order, administrations ascending
        if kit.stratum is not None and kit.seq is not None:
            slot = (kit.stratum, kit.seq)
            slot_kits[slot] = (*slot_kits.get(slot, ()), kit.kit_number)
    return KitList(kits=tuple(sorted(kits, key=lambda kit: kit.kit_number)), slot_kits=slot_kits)
