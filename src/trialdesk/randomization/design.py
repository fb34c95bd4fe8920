"""What a randomization scheme is made of: arms with allocation weights, factors, strata.

Plain Python (no numpy) so the CLI can parse and check its options before loading numpy.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from trialdesk.errors import RandomizationError

#: Arm indices are stored as int8 in long lists.
MAX_ARMS = 100

#: A stratum is one combination of factor levels, as (factor id, level) pairs in factor order.
Stratum = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Arm:
    """A treatment arm and its integer allocation weight (1:1:1 -> weight 1 each)."""

    id: str
    weight: int = 1


@dataclass(frozen=True)
class Factor:
    """A stratification or minimization factor with its levels.

    `weight` is the factor's weight in the minimization imbalance score; stratified blocks
    ignore it.
    """

    id: str
    levels: tuple[str, ...]
    weight: float = 1.0


def total_weight(arms: Sequence[Arm]) -> int:
    return sum(arm.weight for arm in arms)


def ratio_text(arms: Sequence[Arm]) -> str:
    """The allocation ratio as people write it: 1:1:1, 2:1."""
    return ":".join(str(arm.weight) for arm in arms)


_DIGITS = re.compile(r"[0-9]+")


def whole_number(text: str) -> int | None:
    """The number written in `text` with the digits 0-9 only, else None.

    Not `str.isdigit`, which also accepts characters such as '²' that `int` refuses.
    """
    return int(text) if _DIGITS.fullmatch(text) else None


def check_arms(arms: Sequence[Arm], source: str = "arms") -> tuple[Arm, ...]:
    """Return the arms if they make a scheme: two or more, unique ids, positive integer weights."""
    if len(arms) < 2:
        raise RandomizationError(f"{source}: at least two arms are needed, got {len(arms)}")
    if len(arms) > MAX_ARMS:
        raise RandomizationError(f"{source}: {len(arms)} arms; at most {MAX_ARMS} are supported")
    seen: set[str] = set()
    for arm in arms:
        if not arm.id:
            raise RandomizationError(f"{source}: an arm id is empty")
        if arm.id in seen:
            raise RandomizationError(f"{source}: arm {arm.id!r} appears twice")
        seen.add(arm.id)
        if not isinstance(arm.weight, int) or isinstance(arm.weight, bool) or arm.weight < 1:
            raise RandomizationError(
                f"{source}: weight of arm {arm.id!r} is {arm.weight!r}; "
                "expected a whole number >= 1"
            )
    return tuple(arms)


def parse_arms(text: str, source: str = "--arms") -> tuple[Arm, ...]:
    """Parse `A:1,B:1,C:1` (a missing `:weight` means 1)."""
    arms = []
    for part in _items(text, source):
        arm_id, _, weight_text = part.partition(":")
        arm_id = arm_id.strip()
        weight_text = weight_text.strip() or "1"
        weight = whole_number(weight_text)
        if weight is None:
            raise RandomizationError(
                f"{source}: weight {weight_text!r} of arm {arm_id!r} is not a whole number"
            )
        arms.append(Arm(arm_id, weight))
    return check_arms(arms, source)


def parse_block_sizes(text: str, source: str = "--block-sizes") -> tuple[int, ...]:
    sizes = []
    for part in _items(text, source):
        size = whole_number(part)
        if size is None:
            raise RandomizationError(f"{source}: block size {part!r} is not a whole number")
        sizes.append(size)
    return tuple(sizes)


def check_block_sizes(
    sizes: Iterable[int], arms: Sequence[Arm], source: str = "block sizes"
) -> tuple[int, ...]:
    """Return the sizes sorted, if each is a positive multiple of the sum of the weights.

    Only such blocks can hold the exact allocation ratio.
    """
    sizes = tuple(sizes)
    if not sizes:
        raise RandomizationError(f"{source}: at least one block size is needed")
    if len(set(sizes)) != len(sizes):
        raise RandomizationError(f"{source}: {list(sizes)} lists a size twice")
    unit = total_weight(arms)
    for size in sizes:
        if size < 1 or size % unit:
            raise RandomizationError(
                f"{source}: block size {size} cannot hold the ratio {ratio_text(arms)}; "
                f"expected a multiple of {unit} (e.g. {unit}, {2 * unit}, {3 * unit})"
            )
    return tuple(sorted(sizes))


def default_block_sizes(arms: Sequence[Arm]) -> tuple[int, int]:
    """One and two times the sum of the weights (1:1 -> 2, 4; 1:1:1 -> 3, 6)."""
    unit = total_weight(arms)
    return (unit, 2 * unit)


def parse_factor(text: str, source: str = "--strata") -> Factor:
    """Parse `site=01,02,03`."""
    factor_id, equals, levels_text = text.partition("=")
    factor_id = factor_id.strip()
    if not equals or not factor_id:
        raise RandomizationError(f"{source}: {text!r} is not NAME=LEVEL,LEVEL,...")
    return Factor(factor_id, tuple(_items(levels_text, f"{source} {factor_id}")))


def check_factors(factors: Sequence[Factor], source: str = "factors") -> tuple[Factor, ...]:
    seen: set[str] = set()
    for factor in factors:
        if factor.id in seen:
            raise RandomizationError(f"{source}: factor {factor.id!r} appears twice")
        seen.add(factor.id)
        if not factor.levels:
            raise RandomizationError(f"{source}: factor {factor.id!r} has no levels")
        if len(set(factor.levels)) != len(factor.levels):
            raise RandomizationError(f"{source}: factor {factor.id!r} lists a level twice")
        if not (math.isfinite(factor.weight) and factor.weight >= 0):
            raise RandomizationError(
                f"{source}: weight of factor {factor.id!r} is {factor.weight}; expected >= 0"
            )
    return tuple(factors)


def enumerate_strata(factors: Sequence[Factor]) -> tuple[Stratum, ...]:
    """Every combination of levels, first factor varying slowest; no factors -> one stratum ()."""
    return tuple(
        tuple(zip((factor.id for factor in factors), levels, strict=True))
        for levels in itertools.product(*(factor.levels for factor in factors))
    )


def describe_stratum(stratum: Stratum) -> str:
    return ", ".join(f"{factor}={level}" for factor, level in stratum) or "(single stratum)"


def _items(text: str, source: str) -> list[str]:
    items = [item.strip() for item in text.split(",")]
    if not all(items):
        raise RandomizationError(f"{source}: {text!r} has an empty item")
    return items
