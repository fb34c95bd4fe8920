"""Seeds and the random streams that lists are drawn from.

A list must be rebuilt bit for bit from (seed, algorithm version, spec) years later, on another
machine and another numpy. numpy promises stable output only for its bit generators, not for
`Generator` methods (NEP 19), so lists use the raw 64-bit output of PCG64 and turn it into
choices with the integer arithmetic below, which this module owns.

Each (purpose, stratum) gets its own stream, keyed by a SHA-256 of its canonical name through
`SeedSequence.spawn_key`: strata are independent, and adding a stratum or a level changes no
other stratum's list.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping

import numpy as np

from trialdesk.errors import RandomizationError

SEED_BITS = 128


def new_seed() -> int:
    """A fresh seed from the operating system's CSPRNG."""
    return secrets.randbits(SEED_BITS)


def check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise RandomizationError(f"seed: {seed!r} is not a whole number >= 0")
    return seed


def bit_stream(seed: int, purpose: str, key: Mapping[str, str]) -> np.random.PCG64:
    """The PCG64 stream for one purpose (e.g. "blocks/order") and key (e.g. a stratum).

    The key's items are sorted, so the order in which factors are declared does not matter.
    """
    name = json.dumps([purpose, sorted(key.items())], ensure_ascii=False)
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    spawn_key = tuple(int(word) for word in np.frombuffer(digest, dtype="<u4"))
    return np.random.PCG64(np.random.SeedSequence(check_seed(seed), spawn_key=spawn_key))


def indices_below(raw: np.ndarray, n: int) -> np.ndarray:
    """Map raw 64-bit draws to integers in [0, n) by multiply-shift on their top 53 bits.

    The bias is below n / 2**53, far under anything a trial could detect; n must be < 2**11 so
    the product fits in 64 bits.
    """
    if not 0 < n < 2**11:
        raise ValueError(f"indices_below needs 0 < n < 2048, got {n}")
    return ((raw >> np.uint64(11)) * np.uint64(n)) >> np.uint64(53)


def uniforms(raw: np.ndarray) -> np.ndarray:
    """Map raw 64-bit draws to floats in [0, 1) with 53 random bits."""
    return (raw >> np.uint64(11)).astype(np.float64) * 2.0**-53
