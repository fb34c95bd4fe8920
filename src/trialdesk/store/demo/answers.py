"""The patient model: who a screened patient is and what they answer on every form.

A `Patient` carries the latent traits drawn with the eligibility synth's recipes, a
`Trajectory` their symptom level over time, and `answers_for` fills one form at one visit from
them, clipped to what each item allows. The random streams every draw of the demo comes from
(`random_stream`), the length of a year and `DemoInconsistency` live here too: the plan and the
run both build on this module, which imports neither.
"""

from __future__ import annotations

import datetime as dt
import math
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from trialdesk.errors import TrialdeskError

DAYS_PER_YEAR = 365.25

# The outcome model; WOMAC 0-100 points are 25 per step of the 0-4 item scale.
POINTS_PER_ITEM_STEP = 25.0
PLACEBO_RESPONSE = 8.0
PLACEBO_ONSET_DAYS = 28.0
VISIT_NOISE = 0.25
ITEM_OFFSET_SD = 0.35
ITEM_NOISE = 0.45
INJECTION_FLARE_NRS = 2.0
DIARY_DAY_MISSING = 0.05
KL_PROGRESSION_PER_YEAR = 0.04
DSA_SHARE = 0.06


class DemoInconsistency(TrialdeskError):
    """The store decided otherwise than the demo planned: a bug in the demo or the store."""


@dataclass(frozen=True)
class Patient:
    """One screened patient: where, when, and the latent traits every answer comes from."""

    key: int  # the patient's place in the synthetic population; keys its random streams
    traits: dict[str, Any]  # the synth recipes' values: severity, male, age, kl_grade_index...
    site: str = ""
    screened_on: dt.date = dt.date.min
    year_of_birth: int = 0

    @property
    def age(self) -> int:
        return int(self.traits["age"])

    @property
    def sex(self) -> str:
        return "male" if self.traits["male"] else "female"

    @property
    def symptoms(self) -> float:
        """The symptom level at screening on the 0-4 item scale: the mean WOMAC item."""
        parts = ("womac_pain", "womac_stiffness", "womac_function")
        return sum(self.traits[part] for part in parts) / 24


def random_stream(seed: int, *keys: int | str) -> np.random.Generator:
    """The generator of one step of the demo: the same keys give the same draws."""
    words = [zlib.crc32(key.encode()) if isinstance(key, str) else key for key in keys]
    return np.random.default_rng([seed, *words])


@dataclass(frozen=True)
class Trajectory:
    """A subject's mean symptom level over time on the 0-4 item scale.

    Improvement after day 0: a response everyone has (rising over the first weeks) plus the
    arm's effect and the patient's own, which grow to their full size at the last visit.
    """

    baseline: float
    effect: float  # arm effect + own response: WOMAC 0-100 points at the last visit
    last_day: int

    def improvement(self, day: int) -> float:
        if day <= 0:
            return 0.0
        placebo = PLACEBO_RESPONSE * (1 - math.exp(-day / PLACEBO_ONSET_DAYS))
        scale = self.last_day / 3
        growth = (1 - math.exp(-day / scale)) / (1 - math.exp(-self.last_day / scale))
        return placebo + self.effect * growth

    def symptoms(self, day: int) -> float:
        return self.baseline - self.improvement(day) / POINTS_PER_ITEM_STEP


@dataclass(frozen=True)
class Occasion:
    """One form to fill in: whose, when, how the patient is, and the random streams to use."""

    patient: Patient
    day: int  # days from day 0
    screening: bool
    symptoms: float  # the patient's symptom level at this visit
    trajectory: Trajectory
    rng: np.random.Generator  # this form at this visit
    stable: np.random.Generator  # this form of this patient: the same draws at every visit


def occasion_maker(
    patient: Patient, seed: int, trajectory: Trajectory | None
) -> Callable[[str, int, str], Occasion]:
    """Occasions for a patient; without a trajectory, the screening visit's."""

    def occasion(visit_id: str, day: int, form: str) -> Occasion:
        screening = trajectory is None
        course = trajectory or Trajectory(patient.symptoms, 0.0, 1)
        noise = (
            0.0
            if screening
            else random_stream(seed, patient.key, "visit", visit_id).normal(0, VISIT_NOISE)
        )
        return Occasion(
            patient,
            day,
            screening,
            course.symptoms(day) + noise,
            course,
            random_stream(seed, patient.key, "form", visit_id, form),
            random_stream(seed, patient.key, "stable", form),
        )

    return occasion


def answers_for(form: str, occasion: Occasion) -> dict[str, Any]:
    """Plausible answers to `form`, clipped to what each item allows."""
    return _fitted(form, ANSWER_MODELS[form](occasion))


def _fitted(form: str, answers: Mapping[str, Any]) -> dict[str, Any]:
    """Numbers clipped to the item's range or moved to its nearest option, integers rounded;
    a code the item does not offer is left missing (the form cannot record it)."""
    from trialdesk.instruments import get_instrument

    instrument = get_instrument(form)
    unknown = set(answers) - set(instrument.item_map)
    if unknown:
        raise DemoInconsistency(f"demo answers to {form}: no items {', '.join(sorted(unknown))}")
    fitted: dict[str, Any] = {}
    for item in instrument.items:
        value = answers.get(item.id)
        if value is None:
            continue
        if item.type == "boolean":
            fitted[item.id] = bool(value)
        elif item.type == "text":
            fitted[item.id] = value
        elif item.type == "code":
            if value in {option.value for option in item.options}:
                fitted[item.id] = value
        elif item.options:
            fitted[item.id] = min((o.value for o in item.options), key=lambda v: abs(v - value))
        else:
            low = -math.inf if item.minimum is None else item.minimum
            high = math.inf if item.maximum is None else item.maximum
            number = min(max(float(value), low), high)
            # + 0.0 turns -0.0 into 0.0: PostgreSQL's jsonb keeps no negative zero, so a stored
            # -0.0 would read back as 0 and no longer match its audit event.
            rounded = round(number, 2) + 0.0
            fitted[item.id] = int(round(number)) if item.type == "integer" else rounded
    return fitted


def _item_ids(form: str) -> list[str]:
    from trialdesk.instruments import get_instrument

    return [item.id for item in get_instrument(form).items]


def _likert(o: Occasion, form: str, shifts: Mapping[str, float]) -> dict[str, float]:
    """Items on the 0-4 scale around the visit's symptom level: each item has the patient's
    own offset (the same at every visit) and its noise; `shifts` by item prefix."""
    items = _item_ids(form)
    offsets = o.stable.normal(0, ITEM_OFFSET_SD, len(items))
    noise = o.rng.normal(0, ITEM_NOISE, len(items))
    return {
        item: o.symptoms + shifts.get(item.rstrip("0123456789"), 0.0) + offset + error
        for item, offset, error in zip(items, offsets, noise, strict=True)
    }


def _spread(rng: np.random.Generator, total: int, count: int) -> list[int]:
    """`count` items of 0-4 that sum to `total`, unevenly."""
    values = np.full(count, total // count)
    values[rng.choice(count, total % count, replace=False)] += 1
    for giver, taker in rng.integers(count, size=(count, 2)):
        if values[giver] > 0 and values[taker] < 4:
            values[giver] -= 1
            values[taker] += 1
    return values.tolist()


def _womac(o: Occasion) -> dict[str, Any]:
    """At screening the subscale sums are the patient's drawn WOMAC; later, items per visit."""
    if not o.screening:
        return _likert(o, "womac", {})
    answers: dict[str, Any] = {}
    for prefix, trait, count in (
        ("P", "womac_pain", 5),
        ("S", "womac_stiffness", 2),
        ("F", "womac_function", 17),
    ):
        values = _spread(o.rng, int(o.patient.traits[trait]), count)
        answers |= {f"{prefix}{number}": value for number, value in enumerate(values, 1)}
    return answers


def _koos(o: Occasion) -> dict[str, Any]:
    """Sport and quality-of-life items run worse than daily living, stiffness a little better."""
    return _likert(o, "koos", {"SP": 0.9, "Q": 0.5, "S": -0.2})


def _nrs_pain(o: Occasion) -> dict[str, Any]:
    if o.screening:
        return {"nrs": o.patient.traits["nrs_pain_worst"]}
    return {"nrs": 2.5 * o.symptoms + 1 + o.rng.normal(0, 0.8)}


def _vas_pain(o: Occasion) -> dict[str, Any]:
    return {"vas": POINTS_PER_ITEM_STEP * o.symptoms + o.rng.normal(0, 8)}


def _pain_diary(o: Occasion) -> dict[str, Any]:
    """Days 1-30 after the injection: a flare over the first days, a few days not entered."""
    days = np.arange(1, 31)
    level = np.array([o.trajectory.symptoms(int(day)) for day in days])
    nrs = 2.5 * level + 1 + INJECTION_FLARE_NRS * np.exp(-days / 3) + o.rng.normal(0, 0.7, 30)
    missing = o.rng.random(30) < DIARY_DAY_MISSING
    return {
        f"day{day}": None if gap else value
        for day, value, gap in zip(days, nrs, missing, strict=True)
    }


def _knee_exam(o: Occasion) -> dict[str, Any]:
    """Both knees; the index knee's laxity, alignment and joint space at screening are the
    patient's drawn values (its OA compartment sets varus or valgus)."""
    traits, stable, rng = o.patient.traits, o.stable, o.rng
    years = max(o.day, 0) / DAYS_PER_YEAR
    later = 0.0 if o.screening else 1.0
    varus = -1.0 if traits["oa_compartment"] == "lateral" else 1.0
    index = {
        "ap_laxity_mm": traits["ap_laxity_mm"] + later * rng.normal(0, 0.2),
        "alignment_deg": varus * traits["axial_deformity_deg"] + later * rng.normal(0, 0.3),
        "joint_space_width_mm": traits["joint_space_width_mm"]
        - 0.1 * years
        + later * rng.normal(0, 0.1),
    }
    contralateral = {
        "ap_laxity_mm": stable.lognormal(np.log(1.4), 0.4),
        "alignment_deg": stable.normal(1.0, 2.0),
        "joint_space_width_mm": stable.normal(5.0 - 0.8 * traits["kl_grade_contralateral"], 0.5),
    }
    answers: dict[str, Any] = {}
    for side, grade, pain, measured in (
        ("index", traits["kl_grade_index"], o.symptoms, index),
        ("contralateral", traits["kl_grade_contralateral"], o.symptoms / 2, contralateral),
    ):
        flexion = stable.normal(132, 5) - 6 * (grade - 2) - 4 * (pain - 2) + rng.normal(0, 3)
        extension = max(stable.normal(2 + 1.5 * grade, 2), 0) + rng.normal(0, 1)
        answers |= {
            f"{side}_flexion_deg": round(flexion),
            f"{side}_extension_deg": round(min(extension, flexion)),
            f"{side}_effusion": bool(rng.random() < 0.08 + 0.08 * pain),
            f"{side}_knee_circumference_cm": round(
                stable.normal(38, 1.5)
                + 0.35 * (traits["bmi"] - 28)
                + 0.3 * pain
                + rng.normal(0, 0.4),
                1,
            ),
            f"{side}_quadriceps_circumference_cm": round(
                stable.normal(47, 2) + 0.6 * (traits["bmi"] - 28) + rng.normal(0, 0.5), 1
            ),
        } | {f"{side}_{name}": round(value, 1) for name, value in measured.items()}
    return answers


def _vitals(o: Occasion) -> dict[str, Any]:
    """Height by sex, weight from the patient's BMI."""
    traits, stable, rng = o.patient.traits, o.stable, o.rng
    height = round(stable.normal(176, 7) if traits["male"] else stable.normal(163, 6.5), 1)
    weight = traits["bmi"] * (height / 100) ** 2 + (0.0 if o.screening else rng.normal(0, 1))
    systolic = round(stable.normal(132, 14) + rng.normal(0, 6))
    diastolic = min(round(0.6 * systolic + stable.normal(0, 5) + rng.normal(0, 3)), systolic - 15)
    return {
        "height_cm": height,
        "weight_kg": round(weight, 1),
        "systolic_bp": systolic,
        "diastolic_bp": diastolic,
        "pulse": round(stable.normal(72, 8) + rng.normal(0, 5)),
        "temperature_c": round(36.7 + rng.normal(0, 0.25), 1),
    }


LAB_ANALYTES = {
    "neutrophils": 2,
    "platelets": 0,
    "albumin": 1,
    "creatinine": 0,
    "bilirubin": 1,
    "alt": 0,
    "ast": 0,
}
LAB_CONSTANTS = (
    "creatinine_uln",
    "bilirubin_uln",
    "alt_uln",
    "ast_uln",
    "hiv_positive",
    "hbv_positive",
    "hcv_positive",
    "syphilis_positive",
)


def _labs(o: Occasion) -> dict[str, Any]:
    """At screening the patient's drawn values; later within-person variation around them."""
    traits, stable, rng = o.patient.traits, o.stable, o.rng
    answers: dict[str, Any] = {
        name: round(traits[name] * (1.0 if o.screening else math.exp(rng.normal(0, 0.08))), digits)
        for name, digits in LAB_ANALYTES.items()
    }
    answers |= {name: traits[name] for name in LAB_CONSTANTS}
    answers["haemoglobin"] = round(
        stable.normal(150 if traits["male"] else 135, 9) + rng.normal(0, 3)
    )
    answers["leukocytes"] = round(answers["neutrophils"] + stable.normal(2.3, 0.4), 2)
    childbearing = not traits["male"] and o.patient.age < 55
    answers["pregnancy_test"] = "negative" if childbearing else "not_applicable"
    return answers


def _kl_grade(o: Occasion) -> dict[str, Any]:
    years = max(o.day, 0) / DAYS_PER_YEAR
    progressed = o.stable.random(2) < KL_PROGRESSION_PER_YEAR * years
    return {
        "index_knee": o.patient.traits["kl_grade_index"] + int(progressed[0]),
        "contralateral_knee": o.patient.traits["kl_grade_contralateral"] + int(progressed[1]),
    }


def _screening_history(o: Occasion) -> dict[str, Any]:
    traits = o.patient.traits
    return {
        "index_knee_side": "right" if o.stable.random() < 0.55 else "left",
        "oa_duration_months": traits["oa_duration_months"],
        "knee_pain_duration_months": traits["knee_pain_duration_months"],
        "oa_compartment": traits["oa_compartment"],
    }


MOAKS_CUTS = (0.4, 1.3, 2.2)
MOAKS_FULL_THICKNESS_SHIFT = 0.9
MOAKS_SYNOVITIS = frozenset({"hoffa_synovitis", "effusion_synovitis"})


def _moaks(o: Occasion) -> dict[str, Any]:
    """Each item has the patient's latent value (the same at every reading) plus the knee's
    structural level, from the KL grade and slow progression; a BML count goes with a BML,
    full-thickness cartilage loss with loss of at least that area; synovitis follows pain."""
    from trialdesk.instruments import get_instrument

    level = 0.6 * (o.patient.traits["kl_grade_index"] - 2) + 0.08 * max(o.day, 0) / DAYS_PER_YEAR
    inflammation = 0.5 * (o.symptoms - 2)
    answers: dict[str, Any] = {}
    latent: dict[str, float] = {}
    for item in get_instrument("moaks").items:
        own, count = o.stable.normal(), o.stable.random()
        name = item.id
        latent[name] = own + (inflammation if name in MOAKS_SYNOVITIS else level)
        if name.startswith(("bml_number_", "bml_edema_")):
            size = answers["bml_size_" + name.split("_", 2)[2]]
            answers[name] = 0 if size == 0 else 1 + int(count * 3)
            continue
        if name.startswith("cartilage_full_"):
            area = "cartilage_area_" + name.removeprefix("cartilage_full_")
            latent[name] = latent[area] - MOAKS_FULL_THICKNESS_SHIFT
        if item.type == "boolean":
            answers[name] = bool(latent[name] > MOAKS_CUTS[-1] - 0.6)
        else:
            answers[name] = int(np.digitize(latent[name], MOAKS_CUTS))
    return answers


def _qmri(o: Occasion) -> dict[str, Any]:
    """Cartilage thinner with the KL grade and over time, T2 longer; volume = thickness x area."""
    grade = o.patient.traits["kl_grade_index"]
    years = max(o.day, 0) / DAYS_PER_YEAR
    answers: dict[str, Any] = {}
    for item in _item_ids("qmri"):
        if not item.endswith("_thickness_mm"):
            continue
        region = item.removesuffix("_thickness_mm")
        thickness = (o.stable.normal(2.2, 0.25) - 0.15 * (grade - 2)) * (1 - 0.015 * years)
        thickness *= 1 + o.rng.normal(0, 0.02)
        answers[item] = round(thickness, 2)
        answers[f"{region}_volume_mm3"] = round(thickness * o.stable.normal(900, 120))
        answers[f"{region}_t2_ms"] = round(
            o.stable.normal(42, 3) + 1.5 * (grade - 2) + o.rng.normal(0, 1.2), 1
        )
    return answers


HLA_ALLELES = {
    "a": ("A*01:01", "A*02:01", "A*03:01", "A*11:01", "A*24:02"),
    "b": ("B*07:02", "B*08:01", "B*15:01", "B*35:01", "B*44:02"),
    "c": ("C*03:04", "C*04:01", "C*07:01", "C*07:02"),
    "drb1": ("DRB1*01:01", "DRB1*03:01", "DRB1*04:01", "DRB1*07:01", "DRB1*15:01"),
    "dqb1": ("DQB1*02:01", "DQB1*03:01", "DQB1*05:01", "DQB1*06:02"),
}


def _hla_typing(o: Occasion) -> dict[str, Any]:
    """The patient's alleles; donor-specific antibodies in a few patients after day 0."""
    answers: dict[str, Any] = {
        f"hla_{locus}_{copy}": alleles[int(o.stable.integers(len(alleles)))]
        for locus, alleles in HLA_ALLELES.items()
        for copy in (1, 2)
    }
    sensitized = o.stable.random() < DSA_SHARE and o.day > 0
    peak = o.stable.uniform(1200, 6000)
    answers["dsa_present"] = bool(sensitized)
    answers["dsa_max_mfi"] = round(peak if sensitized else o.rng.uniform(0, 600))
    answers["dsa_specificities"] = "A2, DR15" if sensitized else None
    return answers


ANSWER_MODELS: dict[str, Callable[[Occasion], dict[str, Any]]] = {
    "hla_typing": _hla_typing,
    "kl_grade": _kl_grade,
    "knee_exam": _knee_exam,
    "koos": _koos,
    "labs": _labs,
    "moaks": _moaks,
    "nrs_pain": _nrs_pain,
    "pain_diary": _pain_diary,
    "qmri": _qmri,
    "screening_history": _screening_history,
    "vas_pain": _vas_pain,
    "vitals": _vitals,
    "womac": _womac,
}
