"""How guessable and how balanced a scheme is, measured by simulating many trials.

Each simulated trial enrolls `subjects` subjects whose factor levels are drawn independently
and uniformly (every site and every grade equally likely), allocates them by the scheme, and
records:

- guesses: before each allocation, an observer who has seen every earlier allocation of the
  subject's stratum guesses the arm with the fewest allocations there so far, in units of the
  allocation weight (the convergence strategy of Blackwell and Hodges, 1957). A tie counts as a
  random guess among the tied arms: 1 / (number tied) of a correct guess when the true arm is
  among them, which has the same expectation as drawing and less Monte Carlo noise.
- imbalance: max - min of the arm counts (in units of the weight; |n_A - n_B| for 1:1) at the
  end of the trial, within each stratum that received subjects, over the whole trial, and per
  factor (the largest over the factor's levels, i.e. the margins minimization balances).
- for minimization also the guess rate of an observer who knows every earlier allocation and
  factor level and guesses the arm minimization prefers.

Trials are simulated in chunks, each a few numpy arrays across all trials of the chunk: blocks
by laying out every (trial, stratum) sequence at once, minimization one subject at a time for
all trials together. Results are reproducible for a given seed and numpy version.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from math import lcm

import numpy as np

from trialdesk.errors import RandomizationError
from trialdesk.randomization.blocks import arrange_blocks
from trialdesk.randomization.design import (
    Arm,
    Factor,
    check_arms,
    check_block_sizes,
    check_factors,
)
from trialdesk.randomization.minimization import (
    MinimizationDesign,
    allocation_probabilities,
    imbalance_totals,
    pick_arm,
)
from trialdesk.randomization.streams import bit_stream, check_seed, new_seed

#: Array elements per chunk of simulated trials: bounds memory at a few hundred MB.
CHUNK_ELEMENTS = 4_000_000
PERCENTILES = (50, 90, 95, 99)

Progress = Callable[[int], None]


@dataclass(frozen=True)
class Distribution:
    """Summary of an imbalance distribution; percentiles by nearest rank."""

    mean: float
    percentiles: dict[int, float]
    max: float

    @classmethod
    def from_histogram(cls, histogram: np.ndarray, unit: int) -> Distribution:
        """histogram[v] = how often the imbalance was v / unit."""
        values = np.arange(len(histogram)) / unit
        total = histogram.sum()
        cumulative = np.cumsum(histogram)
        return cls(
            mean=float((values * histogram).sum() / total),
            percentiles={
                q: float(values[np.searchsorted(cumulative, np.ceil(q / 100 * total))])
                for q in PERCENTILES
            },
            max=float(values[np.flatnonzero(histogram)[-1]]),
        )

    def to_document(self) -> dict:
        return {
            "mean": round(self.mean, 6),
            **{f"p{q}": value for q, value in self.percentiles.items()},
            "max": self.max,
        }


@dataclass(frozen=True)
class Assessment:
    """Guess rates and imbalance distributions of a scheme over many simulated trials."""

    scheme: dict
    subjects: int
    simulations: int
    seed: int
    guess_rate: float
    guess_rate_se: float
    within_stratum: Distribution
    overall: Distribution
    marginal: dict[str, Distribution]
    preferred_arm_guess_rate: float | None = None

    def to_document(self) -> dict:
        document = {
            "scheme": self.scheme,
            "subjects": self.subjects,
            "simulations": self.simulations,
            "seed": self.seed,
            "guess_rate": round(self.guess_rate, 6),
            "guess_rate_se": round(self.guess_rate_se, 6),
            "imbalance": {
                "within_stratum": self.within_stratum.to_document(),
                "overall": self.overall.to_document(),
                "marginal": {
                    factor: distribution.to_document()
                    for factor, distribution in self.marginal.items()
                },
            },
        }
        if self.preferred_arm_guess_rate is not None:
            document["preferred_arm_guess_rate"] = round(self.preferred_arm_guess_rate, 6)
        return document


def assess_blocks(
    arms: Sequence[Arm],
    block_sizes: Sequence[int],
    factors: Sequence[Factor],
    subjects: int,
    simulations: int,
    seed: int | None = None,
    progress: Progress | None = None,
) -> Assessment:
    """Simulate stratified permuted blocks (one stratum per combination of factor levels)."""
    arms = check_arms(arms)
    sizes = np.array(check_block_sizes(block_sizes, arms), dtype=np.int64)
    factors = check_factors(factors)
    seed = new_seed() if seed is None else check_seed(seed)
    _check_counts(subjects, simulations)
    weights = np.array([arm.weight for arm in arms], dtype=np.int64)
    strata = int(np.prod([len(factor.levels) for factor in factors]))
    rng = np.random.Generator(bit_stream(seed, "assessment", {}))
    tally = _Tally(arms, factors)
    per_chunk = _chunk(simulations, subjects + strata * int(sizes.max()))
    for start in range(0, simulations, per_chunk):
        trials = min(per_chunk, simulations - start)
        stratum = _draw_strata(rng, factors, trials, subjects)
        stratum_sizes = np.bincount(
            (np.arange(trials)[:, None] * strata + stratum).ravel(), minlength=trials * strata
        )
        correct, final = _guess_blocks(rng, stratum_sizes, sizes, weights, tally.scale)
        tally.add(correct.reshape(trials, strata).sum(axis=1), final.reshape(trials, strata, -1))
        if progress:
            progress(trials)
    scheme = {"method": "blocks", "block_sizes": sizes.tolist()}
    return tally.result(_scheme(scheme, arms, factors), subjects, simulations, seed)


def assess_minimization(
    design: MinimizationDesign,
    subjects: int,
    simulations: int,
    seed: int | None = None,
    progress: Progress | None = None,
) -> Assessment:
    """Simulate Pocock-Simon minimization over the design's factors, all trials in step."""
    seed = new_seed() if seed is None else check_seed(seed)
    _check_counts(subjects, simulations)
    arms, factors = design.arms, design.factors
    weights, factor_weights = design.weights, design.factor_weights
    levels_per_factor = [len(factor.levels) for factor in factors]
    strata = int(np.prod(levels_per_factor))
    strides = _strides(levels_per_factor)
    rng = np.random.Generator(bit_stream(seed, "assessment", {}))
    tally = _Tally(arms, factors)
    per_chunk = _chunk(
        simulations,
        len(arms) * (strata + len(factors) * max(levels_per_factor)) + 3 * subjects * len(factors),
    )
    for start in range(0, simulations, per_chunk):
        trials = min(per_chunk, simulations - start)
        levels = np.stack(
            [rng.integers(0, n, size=(trials, subjects)) for n in levels_per_factor], axis=-1
        )
        every = np.arange(trials)
        # Flat row indices: margins[(trial, factor, level)] and stratum_counts[(trial, stratum)].
        margin_rows = (every[:, None, None] * len(factors) + np.arange(len(factors))) * max(
            levels_per_factor
        ) + levels
        stratum_rows = every[:, None] * strata + levels @ strides
        margins = np.zeros((trials * len(factors) * max(levels_per_factor), len(arms)), np.int64)
        stratum_counts = np.zeros((trials * strata, len(arms)), np.int64)
        correct = np.zeros(trials)
        preferred_correct = np.zeros(trials)
        for subject in range(subjects):
            rows = margin_rows[:, subject]
            totals = imbalance_totals(margins[rows], weights, factor_weights, design.measure)
            probabilities, preferred = allocation_probabilities(
                totals, weights, design.p, subject == 0
            )
            arm = pick_arm(probabilities, rng.random(trials))
            in_stratum = stratum_rows[:, subject]
            correct += _convergence_hits(stratum_counts[in_stratum] * tally.scale, arm)
            preferred_correct += preferred[every, arm] / preferred.sum(axis=1)
            margins[rows, arm[:, None]] += 1
            stratum_counts[in_stratum, arm] += 1
        stratum_counts = stratum_counts.reshape(trials, strata, len(arms))
        tally.add(correct, stratum_counts, preferred_correct)
        if progress:
            progress(trials)
    scheme = {"method": "minimization", "p": design.p, "measure": design.measure}
    return tally.result(_scheme(scheme, arms, factors), subjects, simulations, seed)


def _guess_blocks(
    rng: np.random.Generator,
    stratum_sizes: np.ndarray,
    block_sizes: np.ndarray,
    weights: np.ndarray,
    scale: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Correct guesses and final arm counts of every (trial, stratum) row.

    Rows are taken longest first, so the rows still enrolling at step r are a prefix.
    """
    rows = len(stratum_sizes)
    correct = np.zeros(rows)
    final = np.zeros((rows, len(weights)), dtype=np.int64)
    order = np.argsort(-stratum_sizes, kind="stable")
    lengths = stratum_sizes[order]
    lengths = lengths[lengths > 0]
    if not len(lengths):
        return correct, final
    blocks_per_row = -(-lengths // int(block_sizes.min()))
    sizes = block_sizes[rng.integers(0, len(block_sizes), size=int(blocks_per_row.sum()))]
    arm_index = arrange_blocks(sizes, rng.bit_generator.random_raw(int(sizes.sum())), weights)
    block_starts = np.cumsum(sizes) - sizes
    row_starts = block_starts[np.cumsum(blocks_per_row) - blocks_per_row]
    enrolling = np.searchsorted(-lengths, -np.arange(int(lengths[0])), side="left")
    counts = np.zeros((len(lengths), len(weights)), dtype=np.int64)
    hits = np.zeros(len(lengths))
    for step, active in enumerate(enrolling.tolist()):
        arm = arm_index[row_starts[:active] + step]
        hits[:active] += _convergence_hits(counts[:active], arm)
        counts[np.arange(active), arm] += scale[arm]
    correct[order[: len(lengths)]] = hits
    final[order[: len(lengths)]] = counts // scale
    return correct, final


def _convergence_hits(scaled_counts: np.ndarray, arm: np.ndarray) -> np.ndarray:
    """Expected correct guesses when guessing among the arms with the fewest allocations."""
    fewest = scaled_counts == scaled_counts.min(axis=1, keepdims=True)
    return fewest[np.arange(len(arm)), arm] / fewest.sum(axis=1)


@dataclass
class _Tally:
    """Running totals over chunks: guess counts and imbalance histograms (in 1/unit steps)."""

    arms: Sequence[Arm]
    factors: Sequence[Factor]
    unit: int = field(init=False)
    scale: np.ndarray = field(init=False)
    rates: list[np.ndarray] = field(default_factory=list)
    preferred_rates: list[np.ndarray] = field(default_factory=list)
    histograms: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        weights = [arm.weight for arm in self.arms]
        self.unit = lcm(*weights)
        self.scale = np.array([self.unit // weight for weight in weights], dtype=np.int64)

    def add(
        self,
        correct: np.ndarray,
        stratum_counts: np.ndarray,
        preferred_correct: np.ndarray | None = None,
    ) -> None:
        """Record one chunk: correct guesses per trial and final counts (trial, stratum, arm)."""
        subjects = stratum_counts[0].sum()
        self.rates.append(correct / subjects)
        if preferred_correct is not None:
            self.preferred_rates.append(preferred_correct / subjects)
        enrolled = stratum_counts.sum(axis=2) > 0
        self._count("within_stratum", self._imbalance(stratum_counts)[enrolled])
        self._count("overall", self._imbalance(stratum_counts.sum(axis=1)))
        grid = stratum_counts.reshape(
            len(stratum_counts), *(len(factor.levels) for factor in self.factors), len(self.arms)
        )
        for axis, factor in enumerate(self.factors, 1):
            others = tuple(a for a in range(1, len(self.factors) + 1) if a != axis)
            margin = grid.sum(axis=others)
            self._count(factor.id, self._imbalance(margin).max(axis=1))

    def result(self, scheme: dict, subjects: int, simulations: int, seed: int) -> Assessment:
        rates = np.concatenate(self.rates)
        return Assessment(
            scheme=scheme,
            subjects=subjects,
            simulations=simulations,
            seed=seed,
            guess_rate=float(rates.mean()),
            guess_rate_se=float(rates.std() / np.sqrt(len(rates))),
            within_stratum=Distribution.from_histogram(
                self.histograms["within_stratum"], self.unit
            ),
            overall=Distribution.from_histogram(self.histograms["overall"], self.unit),
            marginal={
                factor.id: Distribution.from_histogram(self.histograms[factor.id], self.unit)
                for factor in self.factors
            },
            preferred_arm_guess_rate=(
                float(np.concatenate(self.preferred_rates).mean()) if self.preferred_rates else None
            ),
        )

    def _imbalance(self, counts: np.ndarray) -> np.ndarray:
        scaled = counts * self.scale
        return scaled.max(axis=-1) - scaled.min(axis=-1)

    def _count(self, name: str, imbalances: np.ndarray) -> None:
        histogram = np.bincount(imbalances.ravel().astype(np.int64))
        previous = self.histograms.get(name, np.zeros(0, dtype=np.int64))
        if len(previous) < len(histogram):
            previous, histogram = histogram, previous
        previous = previous.copy()
        previous[: len(histogram)] += histogram
        self.histograms[name] = previous


def _draw_strata(
    rng: np.random.Generator, factors: Sequence[Factor], trials: int, subjects: int
) -> np.ndarray:
    """Stratum index of every subject, first factor varying slowest (as `enumerate_strata`)."""
    levels_per_factor = [len(factor.levels) for factor in factors]
    stratum = np.zeros((trials, subjects), dtype=np.int64)
    for levels, stride in zip(levels_per_factor, _strides(levels_per_factor), strict=True):
        stratum += rng.integers(0, levels, size=(trials, subjects)) * stride
    return stratum


def _strides(levels_per_factor: list[int]) -> np.ndarray:
    return np.array(
        [int(np.prod(levels_per_factor[i + 1 :])) for i in range(len(levels_per_factor))],
        dtype=np.int64,
    )


def _chunk(simulations: int, elements_per_trial: int) -> int:
    return max(1, min(simulations, CHUNK_ELEMENTS // max(1, elements_per_trial)))


def _check_counts(subjects: int, simulations: int) -> None:
    if subjects < 1:
        raise RandomizationError(f"subjects: {subjects}; expected a whole number >= 1")
    if simulations < 1:
        raise RandomizationError(f"simulations: {simulations}; expected a whole number >= 1")


def _scheme(scheme: dict, arms: Sequence[Arm], factors: Sequence[Factor]) -> dict:
    return {
        **scheme,
        "arms": {arm.id: arm.weight for arm in arms},
        "factors": {factor.id: list(factor.levels) for factor in factors},
    }
