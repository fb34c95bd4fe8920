"""Pocock-Simon minimization with a random element.

For a new subject, each arm is tried in turn: add the subject to it, and for every factor look
at the counts per arm among earlier subjects who share the subject's level of that factor.
The imbalance of those counts (range: max - min, or variance) is weighted by the factor's
weight and summed over factors. The arm with the smallest total is preferred.

- No tie: the preferred arm with probability p, the others share 1 - p.
- A tie for the smallest total: one of the tied arms at random.
- The first subject: an arm at random.

Unequal allocation (e.g. 2:1) is handled as in R's Minirand: counts are divided by the arm's
weight before the imbalance is measured, and every "at random" above (ties, the first subject,
the share of 1 - p) is in proportion to the weights. With equal weights this is the textbook
method. The overall ratio then converges to the weights, but individual allocations do not
keep the ratio exactly (Kuznetsova & Tymofyeyev 2012), so unequal weights are best checked by
simulation with `assessment.assess_minimization` before use.

Every decision uses one uniform draw derived from (seed, seq), so an allocation can be re-done
from the stored seed and the earlier allocations without replaying a random stream.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from math import lcm

import numpy as np

from trialdesk.errors import RandomizationError
from trialdesk.randomization.design import Arm, Factor, check_arms, check_factors
from trialdesk.randomization.streams import bit_stream, uniforms

ALGORITHM = "pocock-simon-minimization"
VERSION = "1"
MEASURES = ("range", "variance")

#: Relative tolerance for deciding that two weighted imbalance totals are tied.
TIE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class MinimizationDesign:
    """Arms, factors (with weights), the probability p of the preferred arm and the measure."""

    arms: tuple[Arm, ...]
    factors: tuple[Factor, ...]
    p: float = 0.8
    measure: str = "range"

    def __post_init__(self) -> None:
        check_arms(self.arms)
        check_factors(self.factors)
        if not self.factors:
            raise RandomizationError("minimization: at least one factor is needed")
        if not 1 / len(self.arms) <= self.p <= 1:
            raise RandomizationError(
                f"minimization: p = {self.p}; expected between 1/{len(self.arms)} "
                "(no preference) and 1 (always the preferred arm)"
            )
        if self.measure not in MEASURES:
            raise RandomizationError(
                f"minimization: measure {self.measure!r}; expected one of {', '.join(MEASURES)}"
            )

    @property
    def arm_ids(self) -> list[str]:
        return [arm.id for arm in self.arms]

    @property
    def weights(self) -> np.ndarray:
        return np.array([arm.weight for arm in self.arms], dtype=np.int64)

    @property
    def factor_weights(self) -> np.ndarray:
        return np.array([factor.weight for factor in self.factors], dtype=np.float64)

    def level_indices(self, levels: Mapping[str, str], where: str = "subject") -> list[int]:
        """Index of the subject's level for each factor; unknown or missing levels are errors."""
        indices = []
        for factor in self.factors:
            if factor.id not in levels:
                raise RandomizationError(f"{where}: no level for factor {factor.id!r}")
            level = levels[factor.id]
            if level not in factor.levels:
                raise RandomizationError(
                    f"{where}: factor {factor.id!r} has no level {level!r}; "
                    f"expected one of {', '.join(factor.levels)}"
                )
            indices.append(factor.levels.index(level))
        return indices


@dataclass(frozen=True)
class MinimizationDecision:
    """One allocation and how it was reached, for the audit trail and for tests."""

    seq: int
    arm: str
    totals: dict[str, float]
    preferred: tuple[str, ...]
    probabilities: dict[str, float]
    draw: float


def imbalance_totals(
    counts: np.ndarray, weights: np.ndarray, factor_weights: np.ndarray, measure: str
) -> np.ndarray:
    """Weighted imbalance total if the subject went to each arm.

    counts: (..., factors, arms), earlier subjects at the new subject's level of each factor.
    Returns (..., arms). Counts are put in units of the arm's weight (count / weight). Written
    column by column rather than as one (..., arms, arms) reduction because this runs once per
    subject across 100,000 simulated trials, and elementwise maxima are far faster there.
    """
    common = lcm(*weights.tolist())
    step = common // weights
    scaled = counts * step
    bumped = scaled + step
    arms = len(weights)
    per_factor = np.empty(scaled.shape, dtype=np.float64)
    if measure == "range":
        for arm in range(arms):
            others = [scaled[..., other] for other in range(arms) if other != arm]
            highest = np.maximum(functools.reduce(np.maximum, others), bumped[..., arm])
            lowest = np.minimum(functools.reduce(np.minimum, others), bumped[..., arm])
            per_factor[..., arm] = (highest - lowest) / common
    else:
        # Population variance after adding `step` to one arm, from sums kept in exact integers:
        # arms^2 * variance = arms * sum(y^2) - sum(y)^2.
        total = scaled.sum(axis=-1, keepdims=True)
        squares = (scaled * scaled).sum(axis=-1, keepdims=True)
        spread = arms * (squares + 2 * scaled * step + step * step) - (total + step) ** 2
        per_factor[:] = spread / (arms * common) ** 2
    return np.einsum("...fa,f->...a", per_factor, factor_weights)


def allocation_probabilities(
    totals: np.ndarray, weights: np.ndarray, p: float, first: np.ndarray | bool
) -> tuple[np.ndarray, np.ndarray]:
    """Probability of each arm, and which arms are preferred (smallest total), from the totals.

    totals: (..., arms); first: whether this is the trial's first subject (broadcasts).
    """
    smallest = totals.min(axis=-1, keepdims=True)
    preferred = totals <= smallest + TIE_TOLERANCE * (1 + np.abs(smallest))
    first = np.asarray(first)[..., None]
    preferred = preferred | first
    w = weights.astype(np.float64)
    tied_share = preferred * w / (preferred * w).sum(axis=-1, keepdims=True)
    others = ~preferred * w
    other_total = others.sum(axis=-1, keepdims=True)
    single = np.where(preferred, p, (1 - p) * others / np.where(other_total > 0, other_total, 1))
    tied = preferred.sum(axis=-1, keepdims=True) > 1
    return np.where(tied, tied_share, single), preferred


def pick_arm(probabilities: np.ndarray, draw: np.ndarray | float) -> np.ndarray:
    """The arm whose cumulative-probability interval holds the uniform draw."""
    cumulative = np.cumsum(probabilities, axis=-1)
    cumulative[..., -1] = 1.0
    return (np.asarray(draw)[..., None] >= cumulative).sum(axis=-1)


def minimization_draw(seed: int, seq: int) -> float:
    """The uniform draw for the subject allocated as number `seq` of the trial."""
    raw = bit_stream(seed, "minimization", {"seq": str(seq)}).random_raw(1)
    return float(uniforms(raw)[0])


def allocate_next(
    design: MinimizationDesign,
    previous: Sequence[tuple[Mapping[str, str], str]],
    levels: Mapping[str, str],
    seed: int,
) -> MinimizationDecision:
    """Allocate the next subject, given the earlier subjects' levels and arms."""
    arm_ids = design.arm_ids
    counts = _empty_counts(design)
    for number, (earlier_levels, arm) in enumerate(previous, 1):
        if arm not in arm_ids:
            raise RandomizationError(f"earlier subject {number}: unknown arm {arm!r}")
        where = f"earlier subject {number}"
        _add(counts, design.level_indices(earlier_levels, where), arm_ids.index(arm))
    return _decide(design, counts, design.level_indices(levels), len(previous) + 1, seed)


def minimize(
    design: MinimizationDesign, subjects: Sequence[Mapping[str, str]], seed: int
) -> tuple[MinimizationDecision, ...]:
    """Allocate subjects in order (seq 1, 2, ...): the same arms as `allocate_next` one by one."""
    arm_ids = design.arm_ids
    counts = _empty_counts(design)
    decisions = []
    for seq, levels in enumerate(subjects, 1):
        indices = design.level_indices(levels, f"subject {seq}")
        decision = _decide(design, counts, indices, seq, seed)
        _add(counts, indices, arm_ids.index(decision.arm))
        decisions.append(decision)
    return tuple(decisions)


def _empty_counts(design: MinimizationDesign) -> np.ndarray:
    most_levels = max(len(factor.levels) for factor in design.factors)
    return np.zeros((len(design.factors), most_levels, len(design.arms)), dtype=np.int64)


def _add(counts: np.ndarray, level_indices: list[int], arm: int) -> None:
    counts[np.arange(len(level_indices)), level_indices, arm] += 1


def _decide(
    design: MinimizationDesign, counts: np.ndarray, level_indices: list[int], seq: int, seed: int
) -> MinimizationDecision:
    at_levels = counts[np.arange(len(level_indices)), level_indices]
    totals = imbalance_totals(at_levels, design.weights, design.factor_weights, design.measure)
    probabilities, preferred = allocation_probabilities(totals, design.weights, design.p, seq == 1)
    draw = minimization_draw(seed, seq)
    arm_ids = design.arm_ids
    return MinimizationDecision(
        seq=seq,
        arm=arm_ids[int(pick_arm(probabilities, draw))],
        totals=dict(zip(arm_ids, totals.tolist(), strict=True)),
        preferred=tuple(arm for arm, chosen in zip(arm_ids, preferred, strict=True) if chosen),
        probabilities=dict(zip(arm_ids, probabilities.tolist(), strict=True)),
        draw=draw,
    )
