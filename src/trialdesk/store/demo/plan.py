"""The virtual trial planned in memory: the screening log, the calendar and each randomized
subject's course (visit dates, ending, adverse events), with the variety a demo must show.

Planning writes nothing, so a protocol the demo cannot run is refused before the store
changes, and imports no Django. Judging the screening forms uses the rule the store applies
(`trialdesk.eligibility.items`) on the forms as the store will save them, so the plan's verdicts
are the ones the store will reach.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from trialdesk.eligibility.items import ScreeningForm, data_item_values
from trialdesk.errors import BadInput
from trialdesk.schedule import screening_visit
from trialdesk.store.demo.answers import (
    ANSWER_MODELS,
    DAYS_PER_YEAR,
    Patient,
    answers_for,
    occasion_maker,
    random_stream,
)

if TYPE_CHECKING:
    from trialdesk.eligibility import ProtocolCriteria
    from trialdesk.protocol import Protocol

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
RESPONSE_SD = 6.0  # the patient's own improvement at the last visit, WOMAC points

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


def plan_trial(
    protocol: Protocol, patients: int, seed: int, effects: Mapping[str, float], today: dt.date
) -> TrialPlan:
    """The whole virtual trial in memory: screening log, dates, courses, adverse events."""
    from trialdesk.eligibility import ProtocolCriteria

    _check_demo_fits(protocol)
    log = _screening_log(protocol, ProtocolCriteria.of(protocol), patients, seed)
    sites = [site.id for site in protocol.sites]
    calendar = random_stream(seed, "calendar")
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
        birthday_passed = random_stream(seed, entry.patient.key, "birthday").random() < 0.5
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
    stream = random_stream(seed, "log")
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
        population = Population(random_stream(seed, "population", batch), POPULATION_BATCH)
        columns = {name: population[name] for name in RECIPES}
        for row in range(POPULATION_BATCH):
            traits = {name: column[row].item() for name, column in columns.items()}
            yield Patient(batch * POPULATION_BATCH + row, traits)


def _screen_on_paper(
    protocol: Protocol, criteria: ProtocolCriteria, patient: Patient, seed: int
) -> tuple[ScreeningEntry, list[str]]:
    """The patient's screening forms and attestations, the verdict they will get and the
    items or attestations that leave it undecided."""
    visit = screening_visit(protocol)
    occasion = occasion_maker(patient, seed, None)
    forms = {form: answers_for(form, occasion(visit.id, visit.day, form)) for form in visit.forms}
    stream = random_stream(seed, patient.key, "attestations")
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
    """The data items the store will read from these screening forms once saved."""
    from trialdesk.instruments import values_and_scores

    saved = {form: ScreeningForm(*values_and_scores(form, v)) for form, v in forms.items()}
    return data_item_values(protocol, saved, patient.age, patient.sex)


def _course(protocol: Protocol, patient: Patient, seed: int) -> Course:
    """Visit dates, end of follow-up and adverse events of a randomized subject.

    The draws are the same whatever happens, so one subject's events never shift another's.
    """
    stream = random_stream(seed, patient.key, "course")
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
    stream = random_stream(seed, "variety")
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
