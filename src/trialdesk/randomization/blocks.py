"""Stratified permuted blocks: one allocation list per stratum, slot by slot.

Each stratum's list is a run of blocks. A block's size is drawn uniformly from the allowed
sizes; its arms are the allocation ratio repeated to fill it (1:1, size 4 -> A A B B) and put
in a uniformly random order. Every block is complete: a stratum gets at least the requested
number of slots, rounded up to the end of its last block, so every block holds the exact
ratio and the within-stratum imbalance never exceeds half the largest block.

The block sizes and the orders come from two separate streams per stratum, each consumed in
slot order, so a longer list for the same seed extends the shorter one slot for slot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from trialdesk.errors import RandomizationError
from trialdesk.randomization.design import (
    Arm,
    Factor,
    Stratum,
    check_arms,
    check_block_sizes,
    check_factors,
    enumerate_strata,
)
from trialdesk.randomization.streams import bit_stream, check_seed, indices_below, new_seed

ALGORITHM = "stratified-permuted-blocks"
#: Bump whenever a change could alter the list or its kits drawn for a given seed and spec.
VERSION = "1"


@dataclass(frozen=True)
class BlockDesign:
    """Everything besides the seed that determines a stratified permuted block list."""

    arms: tuple[Arm, ...]
    block_sizes: tuple[int, ...]
    factors: tuple[Factor, ...] = ()
    slots_per_stratum: int = 100

    def __post_init__(self) -> None:
        check_arms(self.arms)
        object.__setattr__(self, "block_sizes", check_block_sizes(self.block_sizes, self.arms))
        check_factors(self.factors)
        if self.slots_per_stratum < 1:
            raise RandomizationError(
                f"slots per stratum: {self.slots_per_stratum}; expected a whole number >= 1"
            )


@dataclass(frozen=True)
class Slot:
    """One line of a stratum's list. `block` and `block_size` are for unblinded eyes only."""

    seq: int
    arm: str
    block: int | None
    block_size: int | None


@dataclass(frozen=True, eq=False)
class StratumList:
    """A stratum's slots as arrays (position i holds seq i + 1), compact for long lists."""

    stratum: Stratum
    arm_index: np.ndarray
    block: np.ndarray | None
    block_size: np.ndarray | None

    def __len__(self) -> int:
        return len(self.arm_index)

    def slots(self, arm_ids: Sequence[str]) -> tuple[Slot, ...]:
        arms = [arm_ids[i] for i in self.arm_index.tolist()]
        blocks = self.block.tolist() if self.block is not None else [None] * len(arms)
        sizes = self.block_size.tolist() if self.block_size is not None else [None] * len(arms)
        return tuple(
            Slot(seq, arm, block, size)
            for seq, (arm, block, size) in enumerate(zip(arms, blocks, sizes, strict=True), 1)
        )


@dataclass(frozen=True, eq=False)
class AllocationList:
    """An unblinded allocation list: the arms and, per stratum, its slots.

    `seed` is None for a list imported from a statistician's file.
    """

    algorithm: str
    version: str
    seed: int | None
    arms: tuple[Arm, ...]
    factor_ids: tuple[str, ...]
    strata: tuple[StratumList, ...]

    @property
    def arm_ids(self) -> tuple[str, ...]:
        return tuple(arm.id for arm in self.arms)

    def to_document(self) -> dict:
        """The JSON form: algorithm, version, seed, arms and every stratum's slots."""
        return {
            "algorithm": self.algorithm,
            "version": self.version,
            "seed": self.seed,
            "arms": [{"id": arm.id, "weight": arm.weight} for arm in self.arms],
            "strata": [
                {
                    "stratum": dict(stratum_list.stratum),
                    "slots": [
                        {
                            "seq": slot.seq,
                            "arm": slot.arm,
                            "block": slot.block,
                            "block_size": slot.block_size,
                        }
                        for slot in stratum_list.slots(self.arm_ids)
                    ],
                }
                for stratum_list in self.strata
            ],
        }


def generate_allocation_list(design: BlockDesign, seed: int | None = None) -> AllocationList:
    """Draw the list for every stratum of `design`; a seed from `secrets` when none is given."""
    seed = new_seed() if seed is None else check_seed(seed)
    weights = np.array([arm.weight for arm in design.arms], dtype=np.int64)
    sizes = np.array(design.block_sizes, dtype=np.int64)
    strata = enumerate_strata(design.factors)
    # Draw each stratum from its own streams, then arrange all strata's blocks in one pass.
    block_sizes, keys = [], []
    for stratum in strata:
        key = dict(stratum)
        stratum_sizes = draw_block_sizes(
            bit_stream(seed, "blocks/sizes", key), sizes, design.slots_per_stratum
        )
        block_sizes.append(stratum_sizes)
        keys.append(bit_stream(seed, "blocks/order", key).random_raw(int(stratum_sizes.sum())))
    every_size = np.concatenate(block_sizes)
    arm_index = arrange_blocks(every_size, np.concatenate(keys), weights)
    blocks_per_stratum = np.array([len(stratum_sizes) for stratum_sizes in block_sizes])
    first_block = np.cumsum(blocks_per_stratum) - blocks_per_stratum
    block_number = np.arange(len(every_size)) + 1 - np.repeat(first_block, blocks_per_stratum)
    bounds = np.cumsum([int(stratum_sizes.sum()) for stratum_sizes in block_sizes])[:-1]
    stratum_lists = tuple(
        StratumList(stratum, arms, blocks, sizes_of_slots)
        for stratum, arms, blocks, sizes_of_slots in zip(
            strata,
            np.split(arm_index, bounds),
            np.split(np.repeat(block_number, every_size), bounds),
            np.split(np.repeat(every_size, every_size), bounds),
            strict=True,
        )
    )
    return AllocationList(
        algorithm=ALGORITHM,
        version=VERSION,
        seed=seed,
        arms=design.arms,
        factor_ids=tuple(factor.id for factor in design.factors),
        strata=stratum_lists,
    )


def draw_block_sizes(stream: np.random.PCG64, sizes: np.ndarray, slots: int) -> np.ndarray:
    """Sizes of the first blocks of a stratum, just enough to cover `slots` slots."""
    most_blocks = -(-slots // int(sizes.min()))
    drawn = sizes[indices_below(stream.random_raw(most_blocks), len(sizes))]
    blocks_needed = int(np.searchsorted(np.cumsum(drawn), slots)) + 1
    return drawn[:blocks_needed]


def arrange_blocks(block_sizes: np.ndarray, keys: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Arm index of every slot of consecutive blocks, each a uniformly random arrangement.

    A block of size b holds arm k b * w_k / sum(w) times. Its slots are ranked by their random
    64-bit keys and the sorted pattern (0 0 1 1 for 1:1, size 4) is laid out in that rank
    order, which makes every arrangement equally likely. Vectorised per distinct block size.
    """
    unit = int(weights.sum())
    starts = np.cumsum(block_sizes) - block_sizes
    arm_index = np.empty(len(keys), dtype=np.int8)
    for size in np.unique(block_sizes).tolist():
        block_starts = starts[block_sizes == size]
        positions = block_starts[:, None] + np.arange(size)
        ranks = np.argsort(keys[positions], axis=1, kind="stable")
        pattern = np.repeat(np.arange(len(weights), dtype=np.int8), weights * (size // unit))
        arranged = np.empty(positions.shape, dtype=np.int8)
        np.put_along_axis(arranged, ranks, np.broadcast_to(pattern, positions.shape), axis=1)
        arm_index[positions] = arranged
    return arm_index
