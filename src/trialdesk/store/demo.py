"""A virtual trial driven from the first screening to database lock through the store's services.

`run_virtual_trial` plans the whole trial in memory first, then takes every step with the
service and the role a site would use. Planning writes nothing, so a protocol the demo cannot
run is refused before the store changes.

The plan:
- a screening log of synthetic knee-osteoarthritis patients drawn with the eligibility synth's
  recipes (a latent severity drives KL grades, WOMAC, pain, BMI, joint space...). Patients whose
  screening data could not decide eligibility are not invited; of the invited, some decline
  consent, some fail a computable criterion on their screening forms or an investigator's
  attestation (INELIGIBLE_SHARE, whatever the criteria), the others are randomized until
  `patients` are;
- recruitment over a plausible period, placed in the past so that the last subject's last
  visit, adverse events included, ends before `today`;
- each subject's course: visit dates mostly inside their windows, a few late (the store records
  an automatic deviation), missed visits, prohibited medication (a manual deviation),
  withdrawals and losses to follow-up, adverse events (mild knee events, more often after an
  injection; a few serious ones with their expedited reports, one reported after its deadline).
  Each of these shows at least once when the run has enough subjects: one that did not happen
  is forced onto a subject (a withdrawal or loss only onto a completer, and one completer is
  always left);
- the answers to every form from one patient model: a symptom level on the 0-4 item scale of
  WOMAC and KOOS that improves after day 0 (a response everyone has, the patient's own, and the
  arm's effect, in WOMAC 0-100 points at the last visit), shared by the items and forms of a
  visit so that they correlate, and clipped to each item's allowed values.

Randomness derives from `seed` through numpy generators keyed by the patient and the step, and
no draw depends on the arm, so a seed gives the same counts whatever the allocation list (whose
seed the store draws itself). The arm enters only the outcome values; it is read as the
unblinded pharmacist sees it (Allocation -> AllocationSlot.arm), and the summary shows counts
per arm only.

Demo users, created when missing (user names are global in the store, so studies share the
study-wide ones): at each protocol site S `coordinator-S` (coordinator) and `investigator-S`
(investigator); study-wide `pharmacist`, `assessor`, `monitor`, `statistician` and
`data_manager`. The operator's steps (study, sites, users) are audited as `operator:demo`.
"""

from __future__ import annotations

import datetime as dt
import math
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from trialdesk.errors import BadInput, TrialdeskError

if TYPE_CHECKING:
    from trialdesk.eligibility import ProtocolCriteria
    from trialdesk.protocol import Protocol
    from trialdesk.store.models import Study

DEMO_OPERATOR = "operator:demo"
CONSENT_VERSION = "1.0"
STUDY_WIDE_ROLES = ("pharmacist", "assessor", "monitor", "statistician", "data_manager")
#: Forms the site staff enter after screening; the blinded assessor enters the outcomes.
COORDINATOR_FORMS = frozenset({"screening_history", "vitals", "labs", "hla_typing", "pain_diary"})
CONTROL_ARM_TYPES = frozenset({"PLACEBO_COMPARATOR", "SHAM_COMPARATOR", "NO_INTERVENTION"})
MAX_EFFECT = 100.0

# The screening log.
DECLINE_SHARE = 0.07  # invited patients who do not sign the consent
INELIGIBLE_SHARE = 0.25  # invited patients who fail a criterion
ATTESTATION_FAILURE = 0.004  # per attested criterion
POPULATION_BATCH = 256
MAX_POPULATION_BATCHES = 100

# The calendar: recruitment of 1.5 subjects per site and month, 4 to 24 months; screening
# 7-21 days before day 0; late visits 1-10 days after their window; adverse events last at most
# 30 days; database lock 60 days after the last visit.
RANDOMIZED_PER_SITE_MONTH = 1.5
RECRUITMENT_DAYS = (120, 730)
SCREENING_LAG_DAYS = (7, 22)
LATE_VISIT_DAYS = (1, 11)
AE_LONGEST_DAYS = 30
CLOSE_OUT_DAYS = 60
DAYS_PER_MONTH = 30.44
DAYS_PER_YEAR = 365.25

# A subject's course.
LATE_VISIT_RATE = 0.03
MISSED_VISIT_RATE = 0.03
PROHIBITED_MEDICATION_RATE = 0.03
WITHDRAWAL_PER_YEAR = 0.06
LOSS_PER_YEAR = 0.04
INJECTION_AE_RATE = 0.3
BACKGROUND_AES_PER_YEAR = 0.5
SERIOUS_AES_PER_YEAR = 0.03
SAE_REPORT_HOURS = (2.0, 20.0)
LATE_SAE_REPORT_HOURS = (30.0, 70.0)

# The outcome model; WOMAC 0-100 points are 25 per step of the 0-4 item scale.
POINTS_PER_ITEM_STEP = 25.0
DEFAULT_ACTIVE_EFFECT = 8.0
PLACEBO_RESPONSE = 8.0
PLACEBO_ONSET_DAYS = 28.0
RESPONSE_SD = 6.0
VISIT_NOISE = 0.25
ITEM_OFFSET_SD = 0.35
ITEM_NOISE = 0.45
INJECTION_FLARE_NRS = 2.0
DIARY_DAY_MISSING = 0.05
KL_PROGRESSION_PER_YEAR = 0.04
DSA_SHARE = 0.06

WITHDRAWAL_REASONS = (
    "withdrew consent: no longer wishes to attend the visits",
    "moved away from the site's region",
    "knee replacement surgery scheduled",
)
LOSS_REASON = "no contact after three attempts (telephone, letter, e-mail)"
MISSED_VISIT_REASONS = (
    "patient ill during the whole window",
    "patient travelling during the whole window",
)
LATE_VISIT_REASONS = ("rescheduled at the patient's request", "site closed on the planned dates")
DECLINED_CONSENT_REASONS = (
    "declined consent: does not want an injection",
    "declined consent: too many visits",
    "declined consent: travel to the site too long",
)
PROHIBITED_MEDICATION = "prohibited_medication"
PROHIBITED_MEDICATIONS = (
    "intra-articular corticosteroid injection in the index knee at another clinic",
    "oral prednisolone for 10 days for an asthma exacerbation",
)
INJECTION_AES = ("Injection site pain", "Joint swelling", "Arthralgia")
BACKGROUND_AES = ("Arthralgia", "Back pain", "Nasopharyngitis", "Headache", "Hypertension")
#: term, ICH E2A criteria, CTCAE grade, relatedness, expected, outcome
SERIOUS_AES = (
    ("Pneumonia", ("hospitalization",), 3, "not_related", None, "recovered"),
    ("Femur fracture", ("hospitalization",), 3, "not_related", None, "recovered_with_sequelae"),
    (
        "Septic arthritis",
        ("hospitalization", "medically_important"),
        3,
        "possible",
        False,
        "recovered",
    ),
    (
        "Myocardial infarction",
        ("hospitalization", "life_threatening"),
        4,
        "not_related",
        None,
        "recovered",
    ),
)


class DemoInconsistency(TrialdeskError):
    """The store decided otherwise than the demo planned: a bug in the demo or the store."""


# ---------------------------------------------------------------- the summary


@dataclass(frozen=True)
class TrialSummary:
    """What a demo run left in the store, counted from the store once it is locked.

    `screen_failures` counts by reason: `ineligible: <the first criterion failed>`, or the
    reason recorded with the screen failure (e.g. a declined consent). `randomized` counts
    per arm id; no subject's arm is shown.
    """

    study: str
    seed: int
    first_screening: dt.date
    last_visit: dt.date
    screened: int
    screen_failures: dict[str, int]
    in_screening: int
    randomized: dict[str, int]
    treated: int
    completed: int
    withdrawn: int
    lost_to_follow_up: int
    visits_done: int
    visits_missed: int
    forms_saved: int
    adverse_events: int
    serious_adverse_events: int
    late_sae_reports: int
    deviations_automatic: int
    deviations_manual: int
    audit_events: int
    audit_verified: bool
    locked: bool
    elapsed_seconds: float

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document["first_screening"] = self.first_screening.isoformat()
        document["last_visit"] = self.last_visit.isoformat()
        return document


# ---------------------------------------------------------------- the plan


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


@dataclass(frozen=True)
class VisitStep:
    """A visit of a subject's course: its date (None when missed) and why, if unusual."""

    visit_id: str
    day: int
    date: dt.date | None
    reason: str = ""
    administrations: tuple[str, ...] = ()


@dataclass(frozen=True)
class AdverseEventPlan:
    term: str
    onset_day: int
    days: int
    ctcae_grade: int
    seriousness: tuple[str, ...]
    relatedness: str
    expected: bool | None
    outcome: str
    awareness_hours: float  # after the onset date began (UTC)
    report_hours: float = 0.0  # from awareness to the expedited report of a serious event


@dataclass(frozen=True)
class Course:
    """A randomized subject's course from day 0 to its end."""

    day0: dt.date
    visits: tuple[VisitStep, ...]
    ending: str  # completed, withdrawn or lost_to_follow_up
    ending_reason: str
    adverse_events: tuple[AdverseEventPlan, ...]
    prohibited_medication: str  # found at the subject's last visit; "" for none
    response: float  # the patient's own improvement at the last visit, WOMAC points

    @property
    def done(self) -> list[VisitStep]:
        return [step for step in self.visits if step.date is not None]


@dataclass(frozen=True)
class ScreeningEntry:
    """One line of the screening log and what becomes of the patient."""

    patient: Patient
    declined_consent: str = ""  # the reason, for a patient who does not consent
    screening_forms: dict[str, dict[str, Any]] = field(default_factory=dict)
    attestations: dict[str, bool] = field(default_factory=dict)
    verdict: str = ""
    course: Course | None = None


@dataclass(frozen=True)
class TrialPlan:
    protocol: Protocol
    log: tuple[ScreeningEntry, ...]
    effects: dict[str, float]
    seed: int


def _stream(seed: int, *keys: int | str) -> np.random.Generator:
    """The generator of one step of the demo: the same keys give the same draws."""
    words = [zlib.crc32(key.encode()) if isinstance(key, str) else key for key in keys]
    return np.random.default_rng([seed, *words])


def plan_trial(
    protocol: Protocol, patients: int, seed: int, effects: Mapping[str, float], today: dt.date
) -> TrialPlan:
    """The whole virtual trial in memory: screening log, dates, courses, adverse events."""
    from trialdesk.eligibility import ProtocolCriteria

    _check_demo_fits(protocol)
    log = _screening_log(protocol, ProtocolCriteria.of(protocol), patients, seed)
    sites = [site.id for site in protocol.sites]
    calendar = _stream(seed, "calendar")
    weights = calendar.gamma(4.0, size=len(sites))
    months = patients / (len(sites) * RANDOMIZED_PER_SITE_MONTH)
    recruitment = int(np.clip(months * DAYS_PER_MONTH, *RECRUITMENT_DAYS))
    follow_up = max(visit.last_day for visit in protocol.visits) + LATE_VISIT_DAYS[1]
    tail = SCREENING_LAG_DAYS[1] + follow_up + AE_LONGEST_DAYS + CLOSE_OUT_DAYS
    start = today - dt.timedelta(days=recruitment + tail)
    offsets = np.sort(calendar.integers(0, recruitment, len(log)))
    site_of = calendar.choice(len(sites), size=len(log), p=weights / weights.sum())
    dated = []
    for entry, offset, site in zip(log, offsets, site_of, strict=True):
        screened_on = start + dt.timedelta(days=int(offset))
        birthday_passed = _stream(seed, entry.patient.key, "birthday").random() < 0.5
        patient = replace(
            entry.patient,
            site=sites[site],
            screened_on=screened_on,
            year_of_birth=screened_on.year - entry.patient.age - (0 if birthday_passed else 1),
        )
        course = _course(protocol, patient, seed) if entry.verdict == "eligible" else None
        dated.append(replace(entry, patient=patient, course=course))
    return TrialPlan(protocol, _with_variety(dated, protocol, seed), dict(effects), seed)


def _check_demo_fits(protocol: Protocol) -> None:
    """What the demo needs of a protocol beyond its validity."""
    if not protocol.sites:
        raise BadInput(f"{protocol.id}: the protocol lists no sites; the demo recruits at them")
    days = {visit.day for visit in protocol.visits}
    for administration in protocol.treatment_plan:
        if administration.day not in days:
            raise BadInput(
                f"{protocol.id}: treatment plan {administration.id} (day {administration.day}) "
                "has no visit on its day; the demo gives each administration at a visit"
            )
    for visit in protocol.visits:
        unknown = [form for form in visit.forms if form not in ANSWER_MODELS]
        if unknown:
            raise BadInput(
                f"{protocol.id}: visit {visit.id}: the demo has no answer model for "
                f"{', '.join(unknown)}; it fills {', '.join(sorted(ANSWER_MODELS))}"
            )


def _screening_log(
    protocol: Protocol, criteria: ProtocolCriteria, patients: int, seed: int
) -> list[ScreeningEntry]:
    """Invited patients in screening order until `patients` are eligible.

    Drawn patients are sorted into eligible and ineligible by their screening forms and
    attestations, as the store will judge them; the log takes an ineligible one with the
    probability INELIGIBLE_SHARE, so the failure rate does not depend on how selective the
    criteria are, as when a site invites patients it has pre-screened from their records.
    """
    population = _population(seed)
    queues: dict[str, deque[ScreeningEntry]] = {"eligible": deque(), "ineligible": deque()}
    undecided: list[str] = []
    stream = _stream(seed, "log")
    log: list[ScreeningEntry] = []
    eligible = 0
    while eligible < patients:
        draw, choice = stream.random(2)
        if draw < DECLINE_SHARE:
            patient = next(population, None)
            if patient is not None:
                reason = DECLINED_CONSENT_REASONS[int(choice * len(DECLINED_CONSENT_REASONS))]
                log.append(ScreeningEntry(patient, declined_consent=reason))
                continue
        wanted = "ineligible" if draw < DECLINE_SHARE + INELIGIBLE_SHARE else "eligible"
        while not queues[wanted]:
            patient = next(population, None)
            if patient is None:
                never = f" (never known: {', '.join(undecided)})" if undecided else ""
                raise BadInput(
                    f"{protocol.id}: none of {MAX_POPULATION_BATCHES * POPULATION_BATCH} "
                    f"synthetic patients came out {wanted} on their screening forms{never}"
                )
            entry, missing = _screen_on_paper(protocol, criteria, patient, seed)
            if entry.verdict in queues:
                queues[entry.verdict].append(entry)
            else:
                undecided = missing
        log.append(queues[wanted].popleft())
        eligible += wanted == "eligible"
    return log


def _population(seed: int) -> Iterator[Patient]:
    """Synthetic patients from the eligibility synth's recipes, batch after batch."""
    from trialdesk.eligibility.synth import RECIPES, Population

    for batch in range(MAX_POPULATION_BATCHES):
        population = Population(_stream(seed, "population", batch), POPULATION_BATCH)
        columns = {name: population[name] for name in RECIPES}
        for row in range(POPULATION_BATCH):
            traits = {name: column[row].item() for name, column in columns.items()}
            yield Patient(batch * POPULATION_BATCH + row, traits)


def _screen_on_paper(
    protocol: Protocol, criteria: ProtocolCriteria, patient: Patient, seed: int
) -> tuple[ScreeningEntry, list[str]]:
    """The patient's screening forms and attestations, the verdict they will get and the
    items or attestations that leave it undecided."""
    from trialdesk.store.screening import screening_visit

    visit = screening_visit(protocol)
    occasion = _occasion_maker(patient, seed, None)
    forms = {form: answers_for(form, occasion(visit.id, visit.day, form)) for form in visit.forms}
    stream = _stream(seed, patient.key, "attestations")
    attestations = {
        criterion.id: bool(stream.random() < ATTESTATION_FAILURE) != (criterion.type == "inclusion")
        for criterion in protocol.eligibility.criteria
        if criterion.attestation
    }
    result = criteria.evaluate(_protocol_items(protocol, patient, forms), attestations)
    return ScreeningEntry(patient, "", forms, attestations, result.verdict), result.missing


def _protocol_items(
    protocol: Protocol, patient: Patient, forms: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """The data items as `trialdesk.store.screening.screening_items` reads them from the
    saved screening forms."""
    from trialdesk.instruments import score, validate_answers
    from trialdesk.store.screening import SEX_VALUES

    records = {form: (validate_answers(form, v), score(form, v)) for form, v in forms.items()}
    from_subject = {"age": patient.age, "sex": SEX_VALUES[patient.sex]}
    items: dict[str, Any] = {}
    for item in protocol.data_items:
        if item.form is None:
            if item.id in from_subject:
                items[item.id] = from_subject[item.id]
            continue
        if item.form not in records:
            continue
        values, scores = records[item.form]
        name = item.field or item.id
        value = values.get(name, scores.get(name))
        if value is not None:
            items[item.id] = value
    return items


def _course(protocol: Protocol, patient: Patient, seed: int) -> Course:
    """Visit dates, end of follow-up and adverse events of a randomized subject.

    The draws are the same whatever happens, so one subject's events never shift another's.
    """
    stream = _stream(seed, patient.key, "course")
    day0 = patient.screened_on + dt.timedelta(days=int(stream.integers(*SCREENING_LAG_DAYS)))
    last_day = max(visit.day for visit in protocol.visits)
    given_on = {
        day: tuple(a.id for a in protocol.treatment_plan if a.day == day)
        for day in {a.day for a in protocol.treatment_plan}
    }
    screening = min(protocol.visits, key=lambda visit: visit.day)
    steps = [VisitStep(screening.id, screening.day, patient.screened_on)]
    for visit in sorted(protocol.visits, key=lambda visit: visit.day):
        missed, late, spread = stream.random(3)
        late_by = int(stream.integers(*LATE_VISIT_DAYS))
        reason = int(stream.integers(2))
        administrations = given_on.get(visit.day, ())
        if visit is screening:
            continue
        if visit.day <= 0:
            date = day0 + dt.timedelta(days=visit.day)
            steps.append(VisitStep(visit.id, visit.day, date, "", administrations))
        elif missed < MISSED_VISIT_RATE and not administrations and visit.day < last_day:
            steps.append(VisitStep(visit.id, visit.day, None, MISSED_VISIT_REASONS[reason]))
        elif late < LATE_VISIT_RATE:
            date = day0 + dt.timedelta(days=visit.last_day + late_by)
            steps.append(
                VisitStep(visit.id, visit.day, date, LATE_VISIT_REASONS[reason], administrations)
            )
        else:
            # Triangular around the target, inside the window.
            width = visit.window_before + visit.window_after
            offset = round(-visit.window_before + width * (spread + stream.random()) / 2)
            date = day0 + dt.timedelta(days=visit.day + offset)
            steps.append(VisitStep(visit.id, visit.day, date, "", administrations))
    withdrawal, loss = stream.exponential(
        DAYS_PER_YEAR / np.array([WITHDRAWAL_PER_YEAR, LOSS_PER_YEAR])
    )
    withdrawal_reason = WITHDRAWAL_REASONS[int(stream.integers(len(WITHDRAWAL_REASONS)))]
    medication = PROHIBITED_MEDICATIONS[int(stream.integers(len(PROHIBITED_MEDICATIONS)))]
    has_medication = stream.random() < PROHIBITED_MEDICATION_RATE
    response = float(stream.normal(0, RESPONSE_SD))
    ending, reason, visits = "completed", "", tuple(steps)
    if min(withdrawal, loss) < last_day:
        ending, reason = (
            ("withdrawn", withdrawal_reason)
            if withdrawal < loss
            else ("lost_to_follow_up", LOSS_REASON)
        )
        visits = _ended_at(visits, int(min(withdrawal, loss)), ending)
    events = _adverse_events(protocol, stream, visits, day0)
    return Course(
        day0, visits, ending, reason, events, medication if has_medication else "", response
    )


def _ended_at(steps: tuple[VisitStep, ...], end: int, ending: str) -> tuple[VisitStep, ...]:
    """The visits before day `end`; a subject lost to follow-up misses the next one."""
    kept = tuple(step for step in steps if step.day <= 0 or step.day < end)
    if ending == "lost_to_follow_up" and len(kept) < len(steps):
        following = steps[len(kept)]
        kept = (*kept, replace(following, date=None, reason=LOSS_REASON, administrations=()))
    return kept


def _adverse_events(
    protocol: Protocol, stream: np.random.Generator, visits: tuple[VisitStep, ...], day0: dt.date
) -> tuple[AdverseEventPlan, ...]:
    """Mild knee events after injections, background events, now and then a serious one,
    inside the subject's participation and the protocol's AE reporting period."""
    done = [step for step in visits if step.date is not None]
    last = min((done[-1].date - day0).days, protocol.safety.ae_reporting_end_day)
    events = []
    for step in done:
        for _ in step.administrations:
            happens, kind, delay, length = stream.random(4)
            if happens < INJECTION_AE_RATE:
                term = INJECTION_AES[int(kind * len(INJECTION_AES))]
                relatedness = "probable" if term == INJECTION_AES[0] else "possible"
                events.append(
                    AdverseEventPlan(
                        term,
                        (step.date - day0).days + int(delay * 3),
                        1 + int(length * 7),
                        1 + int(length < 0.2),
                        (),
                        relatedness,
                        True,
                        "recovered",
                        8 + 24 * delay,
                    )
                )
    years = max(last, 0) / DAYS_PER_YEAR
    for _ in range(int(stream.poisson(BACKGROUND_AES_PER_YEAR * years))):
        kind, onset, length, grade = stream.random(4)
        events.append(
            AdverseEventPlan(
                BACKGROUND_AES[int(kind * len(BACKGROUND_AES))],
                int(onset * last),
                2 + int(length * 20),
                1 + int(grade < 0.25),
                (),
                "unlikely" if grade < 0.5 else "not_related",
                None,
                "recovered",
                24 + 144 * length,
            )
        )
    serious = stream.random(4)
    if serious[0] < 1 - math.exp(-SERIOUS_AES_PER_YEAR * years):
        events.append(_serious_event(serious, last))
    return tuple(sorted((e for e in events if e.onset_day <= last), key=lambda e: e.onset_day))


def _serious_event(draws: np.ndarray, last: int) -> AdverseEventPlan:
    term, seriousness, grade, relatedness, expected, outcome = SERIOUS_AES[
        int(draws[1] * len(SERIOUS_AES))
    ]
    low, high = SAE_REPORT_HOURS
    return AdverseEventPlan(
        term,
        int(draws[2] * last),
        5 + int(draws[3] * 20),
        grade,
        seriousness,
        relatedness,
        expected,
        outcome,
        6 + 40 * float(draws[3]),
        low + (high - low) * float(draws[3]),
    )


def _with_variety(
    log: list[ScreeningEntry], protocol: Protocol, seed: int
) -> tuple[ScreeningEntry, ...]:
    """The log with a withdrawal, a loss to follow-up, a missed and a late visit, prohibited
    medication and a serious adverse event reported late: each missing one is forced onto a
    subject, preferably one not changed yet. Endings change only for completers, of whom one
    is always left to complete."""
    stream = _stream(seed, "variety")
    courses = {i: entry.course for i, entry in enumerate(log) if entry.course is not None}
    order = stream.permutation(sorted(courses)).tolist()
    last_day = max(visit.day for visit in protocol.visits)
    changed: set[int] = set()

    def force(change: Callable[[Course], Course], fits: Callable[[Course], bool]) -> None:
        candidates = [i for i in order if fits(courses[i])]
        fresh = [i for i in candidates if i not in changed] or candidates
        if fresh:
            courses[fresh[0]] = change(courses[fresh[0]])
            changed.add(fresh[0])

    def ends(course: Course) -> bool:
        completers = sum(c.ending == "completed" for c in courses.values())
        follow_up = any(0 < step.day < last_day for step in course.visits)
        return course.ending == "completed" and completers > 1 and follow_up

    for ending, reason in (
        ("withdrawn", WITHDRAWAL_REASONS[0]),
        ("lost_to_follow_up", LOSS_REASON),
    ):
        if not any(course.ending == ending for course in courses.values()):
            force(lambda course, e=ending, r=reason: _ended_early(course, e, r, last_day), ends)
    if not any(step.date is None for course in courses.values() for step in course.visits):
        force(
            lambda course: _with_missed_visit(course, last_day),
            lambda course: bool(_skippable(course, last_day)),
        )
    if not any(_late_visits(protocol, course) for course in courses.values()):
        force(
            lambda course: _with_late_last_visit(course, protocol),
            lambda course: course.done[-1].day > 0,
        )
    if not any(course.prohibited_medication for course in courses.values()):
        force(
            lambda course: replace(course, prohibited_medication=PROHIBITED_MEDICATIONS[0]),
            lambda course: True,
        )
    serious = [(i, e) for i in order for e in courses[i].adverse_events if e.seriousness]
    if order and not serious:
        index = order[0]
        course = courses[index]
        event = _serious_event(stream.random(4), (course.done[-1].date - course.day0).days)
        courses[index] = replace(course, adverse_events=(*course.adverse_events, event))
        serious = [(index, event)]
    if serious:
        index, event = serious[int(stream.integers(len(serious)))]
        low, high = LATE_SAE_REPORT_HOURS
        late_event = replace(event, report_hours=low + (high - low) * stream.random())
        events = tuple(late_event if e is event else e for e in courses[index].adverse_events)
        courses[index] = replace(courses[index], adverse_events=events)
    return tuple(replace(entry, course=courses.get(i)) for i, entry in enumerate(log))


def _skippable(course: Course, last_day: int) -> list[VisitStep]:
    """Follow-up visits done that give no treatment, before the subject's last one."""
    return [s for s in course.done[:-1] if 0 < s.day < last_day and not s.administrations]


def _ended_early(course: Course, ending: str, reason: str, last_day: int) -> Course:
    """The course cut before its last follow-up visit; later adverse events dropped."""
    end = max(step.day for step in course.visits if 0 < step.day < last_day)
    visits = _ended_at(course.visits, end, ending)
    last = max((step.date - course.day0).days for step in visits if step.date is not None)
    events = tuple(event for event in course.adverse_events if event.onset_day <= last)
    return replace(
        course, ending=ending, ending_reason=reason, visits=visits, adverse_events=events
    )


def _with_missed_visit(course: Course, last_day: int) -> Course:
    """The course with its first skippable visit missed."""
    missed = _skippable(course, last_day)[0]
    step = replace(missed, date=None, reason=MISSED_VISIT_REASONS[0])
    return replace(course, visits=tuple(step if s is missed else s for s in course.visits))


def _with_late_last_visit(course: Course, protocol: Protocol) -> Course:
    """The course with its last visit done 3 days after the visit's window."""
    step = course.done[-1]
    date = course.day0 + dt.timedelta(days=protocol.visit(step.visit_id).last_day + 3)
    late = replace(step, date=date, reason=LATE_VISIT_REASONS[0])
    return replace(course, visits=tuple(late if s is step else s for s in course.visits))


def _late_visits(protocol: Protocol, course: Course) -> list[VisitStep]:
    return [
        step
        for step in course.done
        if step.day > 0 and (step.date - course.day0).days > protocol.visit(step.visit_id).last_day
    ]


# ---------------------------------------------------------------- answers


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


def _occasion_maker(
    patient: Patient, seed: int, trajectory: Trajectory | None
) -> Callable[[str, int, str], Occasion]:
    """Occasions for a patient; without a trajectory, the screening visit's."""

    def occasion(visit_id: str, day: int, form: str) -> Occasion:
        screening = trajectory is None
        course = trajectory or Trajectory(patient.symptoms, 0.0, 1)
        noise = (
            0.0
            if screening
            else _stream(seed, patient.key, "visit", visit_id).normal(0, VISIT_NOISE)
        )
        return Occasion(
            patient,
            day,
            screening,
            course.symptoms(day) + noise,
            course,
            _stream(seed, patient.key, "form", visit_id, form),
            _stream(seed, patient.key, "stable", form),
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


# ---------------------------------------------------------------- running it in the store


def run_virtual_trial(
    protocol_ref: str | Path,
    *,
    patients: int | None = None,
    seed: int = 0,
    effects: Mapping[str, float] | None = None,
    today: dt.date | None = None,
    progress: Callable[[int, int], None] | None = None,
    lock: bool = True,
) -> TrialSummary:
    """Run a whole virtual trial of `protocol_ref` (a shipped id or a file) in the store.

    `patients` to randomize (default: the protocol's enrollment); `effects` maps arm ids to the
    arm's improvement beyond the common response, in WOMAC 0-100 points at the last visit
    (default DEFAULT_ACTIVE_EFFECT for active arms, 0 for control arms); the trial ends before
    `today` (default: today, UTC). `progress(done, total)` is called after each screened
    patient. The store must not hold the study yet, or hold it without subjects. `lock=False`
    leaves the database open at the end (e.g. for a blinded interim report).
    """
    from django.utils import timezone

    from trialdesk.protocol import parse_protocol, protocol_source
    from trialdesk.store.services import lock_study

    started = time.perf_counter()
    name, text = protocol_source(protocol_ref)
    protocol = parse_protocol(text, name)
    now = timezone.now().date()
    today = today or now
    if today > now:
        raise BadInput(f"today {today}: the virtual trial must end in the past (now is {now})")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise BadInput(f"seed {seed!r}: expected a whole number >= 0")
    plan = plan_trial(
        protocol, _patients(protocol, patients), seed, _effects(protocol, effects), today
    )
    study = _set_up_study(protocol, protocol_ref, text)
    for done, entry in enumerate(plan.log, 1):
        _run_entry(study, plan, entry)
        if progress is not None:
            progress(done, len(plan.log))
    if lock:
        lock_study(study, "data_manager")
    return _summary(study, seed, started)


def _patients(protocol: Protocol, patients: int | None) -> int:
    enrollment = protocol.enrollment.count
    if patients is None:
        patients = enrollment
    if (
        isinstance(patients, bool)
        or not isinstance(patients, int)
        or not 1 <= patients <= enrollment
    ):
        raise BadInput(
            f"patients {patients!r}: expected 1 to {enrollment} (the enrollment of {protocol.id})"
        )
    return patients


def _effects(protocol: Protocol, effects: Mapping[str, float] | None) -> dict[str, float]:
    chosen = {
        arm.id: 0.0 if arm.type in CONTROL_ARM_TYPES else DEFAULT_ACTIVE_EFFECT
        for arm in protocol.arms
    }
    for arm, points in (effects or {}).items():
        if arm not in chosen:
            raise BadInput(f"effect of arm {arm!r}: {protocol.id} has arms {', '.join(chosen)}")
        number = isinstance(points, int | float) and not isinstance(points, bool)
        if not number or not -MAX_EFFECT <= points <= MAX_EFFECT:
            raise BadInput(
                f"effect of arm {arm}: {points!r}; expected WOMAC 0-100 points from "
                f"{-MAX_EFFECT:g} to {MAX_EFFECT:g}"
            )
        chosen[arm] = float(points)
    return chosen


def _set_up_study(protocol: Protocol, protocol_ref: str | Path, text: str) -> Study:
    """The study with the protocol's sites and the demo users, created where missing."""
    from trialdesk.store.audit import sha256_hex
    from trialdesk.store.errors import StudyLocked
    from trialdesk.store.models import RoleAssignment, Study
    from trialdesk.store.services import add_site, add_user, create_study

    study = Study.objects.filter(protocol_id=protocol.id, version=protocol.version).first()
    if study is None:
        study = create_study(protocol_ref, DEMO_OPERATOR)
    elif study.protocol_sha256 != sha256_hex(text):
        raise BadInput(f"{study}: the store holds another text of this protocol version")
    elif study.subjects.exists():
        raise BadInput(
            f"{study} already has subjects: a demo runs a trial from its first patient "
            "(use an empty store, e.g. another TRIALDESK_HOME)"
        )
    elif study.locked:
        raise StudyLocked(f"{study} is locked: the demo cannot run in it")
    opened = set(study.sites.values_list("code", flat=True))
    for site in protocol.sites:
        if site.id not in opened:
            add_site(study, site.id, DEMO_OPERATOR)
    held = set(
        RoleAssignment.objects.filter(study=study).values_list(
            "user__username", "role", "site__code"
        )
    )
    wanted = [
        (f"{role}-{site.id}", role, site.id)
        for site in protocol.sites
        for role in ("coordinator", "investigator")
    ]
    wanted += [(role, role, None) for role in STUDY_WIDE_ROLES]
    for username, role, site_code in wanted:
        if (username, role, site_code) not in held:
            add_user(study, username, role, DEMO_OPERATOR, site_code)
    return study


def _run_entry(study: Study, plan: TrialPlan, entry: ScreeningEntry) -> None:
    """One patient of the screening log, from screening to the end of follow-up."""
    from trialdesk.store.screening import screening_visit
    from trialdesk.store.services import (
        evaluate_eligibility,
        record_consent,
        record_screen_failure,
        record_visit,
        save_form,
        screen_subject,
    )

    patient = entry.patient
    coordinator = f"coordinator-{patient.site}"
    code = screen_subject(
        study,
        patient.site,
        year_of_birth=patient.year_of_birth,
        age=patient.age,
        sex=patient.sex,
        by=coordinator,
        screened_on=patient.screened_on,
    ).code
    if entry.declined_consent:
        record_screen_failure(study, code, entry.declined_consent, coordinator)
        return
    record_consent(
        study,
        code,
        consented_on=patient.screened_on,
        consent_version=CONSENT_VERSION,
        by=coordinator,
    )
    screening = screening_visit(plan.protocol).id
    record_visit(study, code, screening, patient.screened_on, coordinator)
    for form, values in entry.screening_forms.items():
        save_form(study, code, screening, form, values, coordinator)
    result = evaluate_eligibility(study, code, entry.attestations, f"investigator-{patient.site}")
    if result.verdict != entry.verdict:
        raise DemoInconsistency(
            f"subject {code}: the store found the subject {result.verdict}, the demo planned "
            f"{entry.verdict}"
        )
    if entry.course is not None:
        _follow(study, plan, code, patient, entry.course)


def _follow(study: Study, plan: TrialPlan, code: str, patient: Patient, course: Course) -> None:
    """A randomized subject: treatment, visits and forms, adverse events, end of the study."""
    from trialdesk.store.services import (
        complete_subject,
        randomize_subject,
        record_administration,
        record_deviation,
        record_lost_to_follow_up,
        record_missed_visit,
        record_visit,
        save_form,
        withdraw_subject,
    )

    coordinator = f"coordinator-{patient.site}"
    randomize_subject(study, code, coordinator)
    last_day = max(visit.day for visit in plan.protocol.visits)
    effect = plan.effects[_arm_as_pharmacist(study, code)] + course.response
    occasion = _occasion_maker(patient, plan.seed, Trajectory(patient.symptoms, effect, last_day))
    for step in course.visits[1:]:
        if step.date is None:
            record_missed_visit(study, code, step.visit_id, step.reason, coordinator)
            continue
        record_visit(study, code, step.visit_id, step.date, coordinator, reason=step.reason)
        day = (step.date - course.day0).days
        for form in plan.protocol.visit(step.visit_id).forms:
            by = coordinator if form in COORDINATOR_FORMS else "assessor"
            values = answers_for(form, occasion(step.visit_id, day, form))
            save_form(study, code, step.visit_id, form, values, by)
        for administration in step.administrations:
            record_administration(study, code, administration, step.date, "pharmacist")
    last_visit = course.done[-1]
    if course.prohibited_medication:
        record_deviation(
            study,
            code,
            kind=PROHIBITED_MEDICATION,
            description=f"prohibited medication: {course.prohibited_medication}",
            detected_on=last_visit.date,
            by=coordinator,
            visit_id=last_visit.visit_id,
        )
    _report_adverse_events(study, code, patient, course)
    if course.ending == "completed":
        complete_subject(study, code, coordinator)
    elif course.ending == "withdrawn":
        withdraw_subject(study, code, course.ending_reason, coordinator)
    else:
        record_lost_to_follow_up(study, code, course.ending_reason, coordinator)


def _arm_as_pharmacist(study: Study, code: str) -> str:
    """The subject's arm as the unblinded pharmacist sees it (Allocation -> slot's arm); it
    only sets the size of the outcome effect and is never shown."""
    from trialdesk.store.models import Allocation

    allocation = Allocation.objects.select_related("slot").get(
        subject__study=study, subject__code=code
    )
    return allocation.slot.arm


def _report_adverse_events(study: Study, code: str, patient: Patient, course: Course) -> None:
    """The investigator reports each event; serious ones get their expedited report."""
    from trialdesk.store.services import record_sae_report, report_adverse_event

    investigator = f"investigator-{patient.site}"
    doses = [(step.date - course.day0).days for step in course.done if step.administrations]
    for event in course.adverse_events:
        onset = course.day0 + dt.timedelta(days=event.onset_day)
        awareness = dt.datetime.combine(onset, dt.time(), dt.UTC) + dt.timedelta(
            hours=event.awareness_hours
        )
        after_treatment = event.onset_day > max(doses)
        reported = report_adverse_event(
            study,
            code,
            term=event.term,
            onset_date=onset,
            ctcae_grade=event.ctcae_grade,
            seriousness=list(event.seriousness),
            relatedness=event.relatedness,
            expected=event.expected,
            action_taken="not_applicable" if after_treatment else "dose_not_changed",
            outcome=event.outcome,
            awareness_at=awareness,
            by=investigator,
            end_date=onset + dt.timedelta(days=event.days),
        )
        if event.seriousness:
            sent = awareness + dt.timedelta(hours=event.report_hours)
            record_sae_report(study, code, reported.number, sent, investigator)


# ---------------------------------------------------------------- counting


def _screen_failures(study: Study) -> dict[str, int]:
    """Screen failures by reason: `ineligible: <the first criterion failed>` from the last
    eligibility record, otherwise the reason recorded with the status change."""
    from trialdesk.store.audit import study_label
    from trialdesk.store.lifecycle import SubjectStatus
    from trialdesk.store.models import AuditEvent, EligibilityRecord

    failed = SubjectStatus.SCREEN_FAILED
    records = {
        record.subject_id: record
        for record in EligibilityRecord.objects.filter(
            subject__study=study, subject__status=failed
        ).order_by("pk")
    }
    recorded = dict(
        AuditEvent.objects.filter(
            study=study_label(study), action=f"subject.{failed}", field="status"
        ).values_list("subject", "reason")
    )
    reasons: Counter[str] = Counter()
    for pk, code in study.subjects.filter(status=failed).values_list("pk", "code"):
        record = records.get(pk)
        if record is not None and record.verdict == "ineligible":
            first = next(c["id"] for c in record.criteria if c["result"] == "fail")
            reasons[f"ineligible: {first}"] += 1
        else:
            reasons[recorded[code]] += 1
    return dict(sorted(reasons.items()))


def _summary(study: Study, seed: int, started: float) -> TrialSummary:
    """The run's figures as the store holds them; the time includes verifying the trail."""
    from django.db.models import Max, Min

    from trialdesk.store.audit import study_label, verify_audit_chain
    from trialdesk.store.lifecycle import SubjectStatus
    from trialdesk.store.models import (
        AdverseEvent,
        Allocation,
        AuditEvent,
        Deviation,
        FormRecord,
        Study,
        Subject,
        Visit,
        VisitStatus,
    )

    label = study_label(study)
    subjects = Subject.objects.filter(study=study)
    statuses = Counter(subjects.values_list("status", flat=True))
    arms = Counter(
        Allocation.objects.filter(subject__study=study).values_list("slot__arm", flat=True)
    )
    visits = Visit.objects.filter(subject__study=study)
    visit_statuses = Counter(visits.values_list("status", flat=True))
    events = list(AdverseEvent.objects.filter(subject__study=study))
    serious = [event for event in events if event.serious]
    in_force = Deviation.objects.filter(subject__study=study, withdrawn_on__isnull=True)
    automatic = Counter(in_force.values_list("automatic", flat=True))
    screening = (SubjectStatus.SCREENED, SubjectStatus.CONSENTED, SubjectStatus.ELIGIBLE)
    return TrialSummary(
        study=label,
        seed=seed,
        first_screening=subjects.aggregate(first=Min("screened_on"))["first"],
        last_visit=visits.aggregate(last=Max("actual_date"))["last"],
        screened=subjects.count(),
        screen_failures=_screen_failures(study),
        in_screening=sum(statuses[status] for status in screening),
        randomized={arm.id: arms[arm.id] for arm in study.protocol().arms},
        treated=subjects.filter(day0__isnull=False).count(),
        completed=statuses[SubjectStatus.COMPLETED],
        withdrawn=statuses[SubjectStatus.WITHDRAWN],
        lost_to_follow_up=statuses[SubjectStatus.LOST_TO_FOLLOW_UP],
        visits_done=visit_statuses[VisitStatus.DONE],
        visits_missed=visit_statuses[VisitStatus.MISSED],
        forms_saved=FormRecord.objects.filter(subject__study=study).count(),
        adverse_events=len(events),
        serious_adverse_events=len(serious),
        late_sae_reports=sum(
            event.reported_at is not None and event.reported_at > event.report_due_at
            for event in serious
        ),
        deviations_automatic=automatic[True],
        deviations_manual=automatic[False],
        audit_events=AuditEvent.objects.filter(study=label).count(),
        audit_verified=verify_audit_chain().ok,
        locked=Study.objects.get(pk=study.pk).locked,
        elapsed_seconds=round(time.perf_counter() - started, 1),
    )
