"""The scoring methods an instrument definition can name, as pure functions.

Each takes the item values of one form (None = missing) and returns the score or None
when the instrument's missing-data rule says it cannot be computed. Nothing is rounded:
rounding is for display only.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

Number = int | float


def answered(values: Sequence[object | None]) -> list:
    """The answered values, in order."""
    return [value for value in values if value is not None]


def prorated_sum(values: Sequence[Number | None], required: int) -> float | None:
    """Sum in which each missing item is replaced by the mean of the answered items.

    Equivalent to mean(answered) x number of items (WOMAC user guide, PROscorerTools
    `type='sum'` with proration). Multiplying before dividing keeps complete forms exact.
    """
    present = answered(values)
    if not present or len(present) < required:
        return None
    return math.fsum(present) * len(values) / len(present)


def mean_0_100(
    values: Sequence[Number | None],
    required: int,
    lowest: Number,
    highest: Number,
    higher_item_is_worse: bool,
) -> float | None:
    """Mean of the answered items mapped linearly onto 0-100, 100 = the best state.

    With items 0-4 where higher is worse this is KOOS: 100 - mean x 100 / 4.
    """
    present = answered(values)
    if not present or len(present) < required:
        return None
    span = (highest - lowest) * len(present)
    share = 100 * (math.fsum(present) - lowest * len(present)) / span
    return 100 - share if higher_item_is_worse else share


def plain_mean(values: Sequence[Number | None], required: int) -> float | None:
    """Mean of the answered items."""
    present = answered(values)
    if not present or len(present) < required:
        return None
    return math.fsum(present) / len(present)


def maximum(values: Sequence[Number | None], required: int) -> Number | None:
    """Largest answered value."""
    present = answered(values)
    if not present or len(present) < required:
        return None
    return max(present)


def count_meeting(
    values: Sequence[object | None],
    required: int,
    at_least: Number | None = None,
    equals: object | None = None,
) -> int | None:
    """Number of answered items that are >= `at_least`, or equal to `equals`."""
    present = answered(values)
    if len(present) < required:
        return None
    if at_least is not None:
        return sum(1 for value in present if value >= at_least)
    return sum(1 for value in present if value == equals and type(value) is type(equals))


def trapezoid_area(
    values: Sequence[Number | None], times: Sequence[Number], required: int
) -> float | None:
    """Area under the curve by the trapezoid rule over the answered points only.

    Consecutive answered points are joined by straight lines, so a gap is bridged by
    linear interpolation; nothing is extrapolated before the first or after the last
    answered point. Needs at least two points (and `required`) to have an area.
    """
    points = [(time, value) for time, value in zip(times, values, strict=True) if value is not None]
    if len(points) < max(2, required):
        return None
    return math.fsum((t1 - t0) * (y0 + y1) / 2 for (t0, y0), (t1, y1) in itertools.pairwise(points))


def any_true(values: Sequence[bool | None]) -> bool | None:
    """Three-valued OR: True if any value is True, False if all are False, else unknown."""
    if any(value is True for value in values):
        return True
    if all(value is False for value in values):
        return False
    return None
