"""Benchmark: allocation lists and scheme assessment against straightforward per-slot Python.

    .venv/bin/python bench/randomization.py [--strata 1000] [--slots 1000]
        [--simulations 100000] [--baseline-simulations 5000]

1. Lists: 1,000 strata x 1,000 slots (3 arms 1:1:1, blocks of 3 or 6), vectorised per
   stratum, against a loop that draws a block size, shuffles the block and appends slot by
   slot with `random.Random`.
2. Assessment: 100,000 simulated trials of NCT04208646's shape (106 subjects, 3 arms, 7 sites x
   KL grade 2/3) under stratified blocks and under minimization (p = 0.8), against a loop
   over trials and subjects. The loop is timed on `--baseline-simulations` trials and its
   time per trial scaled to the full count (a full run would take minutes); the printed guess
   rates of both should agree within Monte Carlo error.
"""

from __future__ import annotations

import argparse
import random
import time

from trialdesk.randomization.assessment import assess_blocks, assess_minimization
from trialdesk.randomization.blocks import BlockDesign, generate_allocation_list
from trialdesk.randomization.design import Arm, Factor
from trialdesk.randomization.minimization import MinimizationDesign

ARMS = (Arm("LOW"), Arm("HIGH"), Arm("PBO"))
BLOCK_SIZES = (3, 6)
SITES = Factor("site", tuple(f"{i:02d}" for i in range(1, 8)))
KL_GRADE = Factor("kl_grade", ("2", "3"))
SUBJECTS = 106


def baseline_list(strata: int, slots: int, seed: int) -> list[list[tuple[int, int, int, int]]]:
    """Per stratum: (seq, arm, block, block size) slot by slot."""
    lists = []
    for stratum in range(strata):
        rng = random.Random(f"{seed}/{stratum}")
        stratum_slots: list[tuple[int, int, int, int]] = []
        block = 0
        while len(stratum_slots) < slots:
            size = rng.choice(BLOCK_SIZES)
            block += 1
            arms = [arm for arm in range(len(ARMS)) for _ in range(size // len(ARMS))]
            rng.shuffle(arms)
            for arm in arms:
                stratum_slots.append((len(stratum_slots) + 1, arm, block, size))
        lists.append(stratum_slots)
    return lists


def baseline_guess_rate(simulations: int, seed: int, minimization: bool) -> float:
    """Convergence-strategy guess rate, one trial and one subject at a time."""
    rng = random.Random(seed)
    arms = range(len(ARMS))
    levels = (len(SITES.levels), len(KL_GRADE.levels))
    hits = 0.0
    for _ in range(simulations):
        in_stratum: dict[tuple[int, int], list[int]] = {}
        pending: dict[tuple[int, int], list[int]] = {}
        margins = [[[0] * len(ARMS) for _ in range(n)] for n in levels]
        for subject in range(SUBJECTS):
            stratum = (rng.randrange(levels[0]), rng.randrange(levels[1]))
            counts = in_stratum.setdefault(stratum, [0] * len(ARMS))
            fewest = [arm for arm in arms if counts[arm] == min(counts)]
            if minimization:
                arm = _minimize(rng, margins, stratum, subject == 0)
            else:
                queue = pending.setdefault(stratum, [])
                if not queue:
                    size = rng.choice(BLOCK_SIZES)
                    queue.extend(arm for arm in arms for _ in range(size // len(ARMS)))
                    rng.shuffle(queue)
                arm = queue.pop()
            hits += (arm in fewest) / len(fewest)
            counts[arm] += 1
            for factor, level in enumerate(stratum):
                margins[factor][level][arm] += 1
    return hits / (simulations * SUBJECTS)


def _minimize(rng: random.Random, margins, stratum: tuple[int, int], first: bool) -> int:
    arms = range(len(ARMS))
    if first:
        return rng.randrange(len(ARMS))
    totals = []
    for candidate in arms:
        total = 0
        for factor, level in enumerate(stratum):
            counts = list(margins[factor][level])
            counts[candidate] += 1
            total += max(counts) - min(counts)
        totals.append(total)
    preferred = [arm for arm in arms if totals[arm] == min(totals)]
    if len(preferred) > 1:
        return rng.choice(preferred)
    if rng.random() < 0.8:
        return preferred[0]
    return rng.choice([arm for arm in arms if arm != preferred[0]])


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strata", type=int, default=1000)
    parser.add_argument("--slots", type=int, default=1000)
    parser.add_argument("--simulations", type=int, default=100_000)
    parser.add_argument("--baseline-simulations", type=int, default=5_000)
    options = parser.parse_args()

    sites = Factor("site", tuple(f"S{i:04d}" for i in range(options.strata)))
    design = BlockDesign(ARMS, BLOCK_SIZES, (sites,), options.slots)
    allocation_list, vectorised = timed(generate_allocation_list, design, 1)
    _, loop = timed(baseline_list, options.strata, options.slots, 1)
    slots = sum(len(stratum_list) for stratum_list in allocation_list.strata)
    print(f"lists: {options.strata} strata x {options.slots} slots ({slots} slots)")
    ratio = loop / vectorised
    print(f"  vectorised {vectorised:.3f} s, per-slot loop {loop:.3f} s, ratio {ratio:.1f}x")

    factors = (SITES, KL_GRADE)
    scale = options.simulations / options.baseline_simulations
    for method in ("blocks", "minimization"):
        if method == "blocks":
            result, vectorised = timed(
                assess_blocks, ARMS, BLOCK_SIZES, factors, SUBJECTS, options.simulations, 1
            )
        else:
            design_min = MinimizationDesign(ARMS, factors, p=0.8)
            result, vectorised = timed(
                assess_minimization, design_min, SUBJECTS, options.simulations, 1
            )
        rate, loop = timed(
            baseline_guess_rate, options.baseline_simulations, 1, method == "minimization"
        )
        print(
            f"assessment ({method}): {options.simulations} trials of {SUBJECTS} subjects, "
            f"7 sites x KL grade"
        )
        print(
            f"  vectorised {vectorised:.3f} s (guess rate {result.guess_rate:.4f}); per-subject "
            f"loop {loop:.3f} s for {options.baseline_simulations} trials (guess rate {rate:.4f}),"
            f" scaled {loop * scale:.1f} s; ratio {loop * scale / vectorised:.1f}x"
        )


if __name__ == "__main__":
    main()
