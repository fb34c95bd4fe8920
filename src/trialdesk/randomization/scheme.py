"""A randomization scheme as the CLI assembles it, from a protocol or from options.

Plain Python (no numpy): the protocol is read through its attributes only (arms, sites,
randomization, treatment_plan, enrollment), so this module does not import the protocol
package either.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from trialdesk.errors import RandomizationError
from trialdesk.randomization.design import (
    Arm,
    Factor,
    check_arms,
    check_block_sizes,
    check_factors,
    default_block_sizes,
)

METHODS = ("blocks", "minimization")
SITE_FACTOR = "site"


@dataclass(frozen=True)
class Scheme:
    """Arms, factors and method parameters; `enrollment` and `administrations` when known."""

    arms: tuple[Arm, ...]
    factors: tuple[Factor, ...]
    method: str = "blocks"
    block_sizes: tuple[int, ...] = ()
    p: float = 0.8
    enrollment: int | None = None
    administrations: int | None = None

    def __post_init__(self) -> None:
        check_arms(self.arms)
        check_factors(self.factors)
        if self.method not in METHODS:
            raise RandomizationError(
                f"method: {self.method!r}; expected one of {', '.join(METHODS)}"
            )
        sizes = self.block_sizes or default_block_sizes(self.arms)
        object.__setattr__(self, "block_sizes", check_block_sizes(sizes, self.arms))


def scheme_from_protocol(protocol: Any) -> Scheme:
    """The protocol's arms, strata (site first, if stratified by site) and method."""
    where = f"protocol {protocol.id}"
    randomization = protocol.randomization
    if randomization is None:
        raise RandomizationError(f"{where}: no 'randomization' section")
    factors = []
    if randomization.stratify_by_site:
        if not protocol.sites:
            raise RandomizationError(
                f"{where}: randomization.stratify_by_site is true but 'sites' is empty"
            )
        factors.append(Factor(SITE_FACTOR, tuple(site.id for site in protocol.sites)))
    factors += [
        Factor(factor.id, tuple(factor.levels)) for factor in randomization.stratification_factors
    ]
    arms = tuple(Arm(arm.id, arm.weight) for arm in protocol.arms)
    check_arms(arms, f"{where}: arms")
    check_factors(factors, f"{where}: randomization")
    if randomization.block_sizes:
        check_block_sizes(randomization.block_sizes, arms, f"{where}: randomization.block_sizes")
    return Scheme(
        arms=arms,
        factors=tuple(factors),
        method=randomization.method,
        block_sizes=tuple(randomization.block_sizes),
        p=randomization.minimization_p if randomization.minimization_p is not None else 0.8,
        enrollment=protocol.enrollment.count,
        administrations=len(protocol.treatment_plan),
    )


def with_factor_weights(scheme: Scheme, weights: dict[str, float]) -> Scheme:
    """The scheme with minimization weights set for the named factors (others keep 1)."""
    known = {factor.id for factor in scheme.factors}
    for factor_id in weights:
        if factor_id not in known:
            raise RandomizationError(
                f"--factors: no factor {factor_id!r}; the factors are "
                f"{', '.join(sorted(known)) or '(none)'}"
            )
    return replace(
        scheme,
        factors=tuple(
            replace(factor, weight=weights.get(factor.id, factor.weight))
            for factor in scheme.factors
        ),
    )


def parse_factor_weights(text: str, source: str = "--factors") -> dict[str, float]:
    """Parse `site:1,kl_grade:2` (a missing `:weight` means 1)."""
    weights = {}
    for part in text.split(","):
        factor_id, _, weight_text = (piece.strip() for piece in part.partition(":"))
        try:
            weight = float(weight_text or "1")
        except ValueError:
            raise RandomizationError(
                f"{source}: weight {weight_text!r} of factor {factor_id!r} is not a number"
            ) from None
        if not factor_id:
            raise RandomizationError(f"{source}: {text!r} has an empty factor name")
        weights[factor_id] = weight
    return weights
