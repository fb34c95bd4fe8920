"""Synthetic screening populations for demos, tests and benchmarks.

Knee osteoarthritis items have clinical recipes: a latent disease severity drives the
Kellgren-Lawrence grades, WOMAC scores, pain ratings, joint space and deformity, and age and
BMI lean on it, so criteria are correlated as in a clinic. Laboratory values follow the usual
adult reference distributions with a small abnormal tail. Items without a recipe are drawn
from their type, range and codelist. Data go missing by panel (labs, serology, imaging,
questionnaire), as in real screening records, and the investigator's attestations are
answered for a part of the patients only. Everything derives from the seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from trialdesk.eligibility.sql import attestation_column
from trialdesk.errors import EligibilityError

if TYPE_CHECKING:
    from trialdesk.protocol.model import DataItem, Protocol

Recipe = Callable[["Population"], np.ndarray]


@dataclass
class Population:
    """The draws of one synthetic population; each item's values are drawn once, on demand."""

    rng: np.random.Generator
    n: int
    drawn: dict[str, np.ndarray] = field(default_factory=dict)

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.drawn:
            self.drawn[name] = RECIPES[name](self)
        return self.drawn[name]

    def normal(self, mean: float, sd: float) -> np.ndarray:
        return self.rng.normal(mean, sd, self.n)

    def lognormal(self, median: float, sigma: float) -> np.ndarray:
        return median * np.exp(self.rng.normal(0.0, sigma, self.n))

    def chance(self, probability: float | np.ndarray) -> np.ndarray:
        return self.rng.random(self.n) < probability


def _kl_grade(population: Population) -> np.ndarray:
    propensity = (
        population["severity"] + 0.03 * (population["age"] - 62) + population.normal(0, 0.5)
    )
    return np.digitize(propensity, [-1.8, -1.0, 0.05, 0.95]).astype(np.int64)


def _contralateral(population: Population) -> np.ndarray:
    drop = population.rng.choice([0, 1, 2], size=population.n, p=[0.45, 0.35, 0.20])
    rise = population.chance(0.1).astype(np.int64)
    return np.clip(population["kl_grade_index"] - drop + rise, 0, 4)


def _womac_pain(population: Population) -> np.ndarray:
    return np.rint(np.clip(5 + 2.2 * population["kl_grade_index"] + population.normal(0, 3), 0, 20))


def _womac_stiffness(population: Population) -> np.ndarray:
    return np.rint(np.clip(0.35 * population["womac_pain"] + population.normal(0, 1.2), 0, 8))


def _womac_function(population: Population) -> np.ndarray:
    return np.rint(np.clip(3.1 * population["womac_pain"] + population.normal(0, 7), 0, 68))


def _womac_total(population: Population) -> np.ndarray:
    parts = ("womac_pain", "womac_stiffness", "womac_function")
    return sum(population[part] for part in parts)  # type: ignore[return-value]


def _uln(value: float) -> Recipe:
    return lambda population: np.full(population.n, value)


RECIPES: dict[str, Recipe] = {
    "severity": lambda p: p.normal(0, 1),
    "male": lambda p: p.chance(0.35),
    "age": lambda p: np.rint(np.clip(p.normal(61, 9) + 2.5 * p["severity"], 25, 95)).astype(
        np.int64
    ),
    "oa_duration_months": lambda p: np.rint(np.clip(p.lognormal(40, 0.9), 1, 480)),
    "knee_pain_duration_months": lambda p: np.rint(np.clip(p.lognormal(30, 1.0), 1, 480)),
    "kl_grade_index": _kl_grade,
    "kl_grade_contralateral": _contralateral,
    "womac_pain": _womac_pain,
    "womac_stiffness": _womac_stiffness,
    "womac_function": _womac_function,
    "womac_total": _womac_total,
    "nrs_pain_worst": lambda p: np.clip(
        np.rint(0.45 * p["womac_pain"] + 1 + p.normal(0, 1.3)), 0, 10
    ).astype(np.int64),
    "bmi": lambda p: np.round(np.clip(p.normal(28, 4.5) + 0.8 * p["severity"], 16, 55), 1),
    "joint_space_width_mm": lambda p: np.round(
        np.clip(5.6 - 1.15 * p["kl_grade_index"] + p.normal(0, 0.7), 0, 8), 1
    ),
    "axial_deformity_deg": lambda p: np.round(
        np.clip(np.abs(p.normal(1.5 + 1.4 * p["kl_grade_index"], 2.5)), 0, 25), 1
    ),
    "oa_compartment": lambda p: np.where(
        p.chance(0.05 + 0.06 * p["kl_grade_index"]),
        "dual",
        p.rng.choice(["medial", "lateral", "patellofemoral"], p.n, p=[0.72, 0.18, 0.10]),
    ),
    "ap_laxity_mm": lambda p: np.round(np.clip(p.lognormal(1.4, 0.55), 0, 15), 1),
    "neutrophils": lambda p: np.round(np.clip(p.lognormal(3.8, 0.35), 0.1, 30), 2),
    "platelets": lambda p: np.rint(np.clip(p.normal(245, 65), 5, 900)),
    "albumin": lambda p: np.round(np.clip(p.normal(42, 4), 15, 60), 1),
    "creatinine": lambda p: np.rint(
        np.clip(p.lognormal(68, 0.22) * np.where(p["male"], 1.2, 1), 20, 900)
    ),
    "creatinine_uln": lambda p: np.where(p["male"], 104.0, 84.0),
    "bilirubin": lambda p: np.round(np.clip(p.lognormal(10, 0.45), 1, 300), 1),
    "bilirubin_uln": _uln(21.0),
    "alt": lambda p: np.rint(np.clip(p.lognormal(21, 0.5), 3, 2000)),
    "alt_uln": _uln(40.0),
    "ast": lambda p: np.rint(np.clip(p.lognormal(23, 0.4), 5, 2000)),
    "ast_uln": _uln(40.0),
    "hiv_positive": lambda p: p.chance(0.003),
    "hbv_positive": lambda p: p.chance(0.05),
    "hcv_positive": lambda p: p.chance(0.01),
    "syphilis_positive": lambda p: p.chance(0.005),
}

# Items recorded together go missing together; the rate is the share of patients without them.
PANELS: dict[str, tuple[float, tuple[str, ...]]] = {
    "questionnaire": (0.06, ("womac_pain", "womac_stiffness", "womac_function", "womac_total")),
    "imaging": (
        0.08,
        ("kl_grade_index", "kl_grade_contralateral", "joint_space_width_mm", "axial_deformity_deg"),
    ),
    "laboratory": (
        0.12,
        (
            "neutrophils",
            "platelets",
            "albumin",
            "creatinine",
            "creatinine_uln",
            "bilirubin",
            "bilirubin_uln",
            "alt",
            "alt_uln",
            "ast",
            "ast_uln",
        ),
    ),
    "serology": (0.18, ("hiv_positive", "hbv_positive", "hcv_positive", "syphilis_positive")),
}
ITEM_MISSING_RATE = 0.04  # any other item, except age, which screening always records
ATTESTATIONS_ANSWERED = 0.6  # share of patients an investigator has reviewed
ATTESTED_INCLUSION, ATTESTED_EXCLUSION = 0.95, 0.01


def _generic(population: Population, item: DataItem) -> np.ndarray:
    kind = str(item.type)
    if kind == "boolean":
        return population.chance(0.2)
    if kind == "string":
        codes = item.codelist or ["A", "B", "C"]
        return population.rng.choice(np.array(codes, dtype=object), population.n)
    if kind == "date":
        days = population.rng.integers(0, 3650, population.n)
        return np.datetime64("2015-01-01") + days.astype("timedelta64[D]")
    low = item.min if item.min is not None else 0.0
    high = item.max if item.max is not None else max(low * 2, low + 100.0)
    values = population.rng.uniform(low, high, population.n)
    return np.rint(values).astype(np.int64) if kind == "integer" else np.round(values, 1)


def _bounded(values: np.ndarray, item: DataItem) -> np.ndarray:
    if str(item.type) not in ("integer", "number"):
        if item.codelist is not None:
            allowed = np.isin(values, item.codelist)
            return np.where(allowed, values, item.codelist[0])
        return values
    low = -np.inf if item.min is None else item.min
    high = np.inf if item.max is None else item.max
    values = np.clip(values, low, high)
    return np.rint(values).astype(np.int64) if str(item.type) == "integer" else values.astype(float)


def synthetic_patients(protocol: Protocol, n: int, seed: int) -> pa.Table:
    """A population of `n` patients for `protocol`: `patient_id`, its items, `attest_` answers."""
    if n < 1:
        raise EligibilityError(f"--n: expected at least 1 patient, got {n}")
    population = Population(np.random.default_rng(seed), n)
    panel_of = {item: panel for panel, (_, items) in PANELS.items() for item in items}
    panel_missing = {panel: population.chance(rate) for panel, (rate, _) in PANELS.items()}
    width = len(str(n))
    columns: dict[str, pa.Array] = {
        "patient_id": pa.array([f"P{number:0{width}d}" for number in range(1, n + 1)])
    }
    types = {"integer": pa.int64(), "number": pa.float64(), "boolean": pa.bool_()}
    types |= {"string": pa.string(), "date": pa.date32()}
    for item in protocol.data_items:
        recipe = item.id in RECIPES
        values = population[item.id] if recipe else _generic(population, item)
        values = _bounded(values, item)
        if item.id in panel_of:
            missing = panel_missing[panel_of[item.id]]
        elif item.id == "age":
            missing = np.zeros(n, dtype=bool)
        else:
            missing = population.chance(ITEM_MISSING_RATE)
        columns[item.id] = pa.array(values, type=types[str(item.type)], mask=missing)
    reviewed = population.chance(ATTESTATIONS_ANSWERED)
    for criterion in protocol.eligibility.criteria:
        if criterion.attestation:
            rate = ATTESTED_INCLUSION if criterion.type == "inclusion" else ATTESTED_EXCLUSION
            answers = population.chance(rate)
            columns[attestation_column(criterion.id)] = pa.array(answers, mask=~reviewed)
    return pa.table(columns)


def write_cohort(cohort: pa.Table, out: Path) -> None:
    """CSV (booleans true/false, missing empty) or Parquet, chosen by the extension."""
    import duckdb

    from trialdesk.eligibility.screen import write_results

    connection = duckdb.connect()
    connection.execute("SET enable_progress_bar = false")
    try:
        connection.register("synthetic", cohort)
        write_results(connection, "SELECT * FROM synthetic", out)
    finally:
        connection.close()
