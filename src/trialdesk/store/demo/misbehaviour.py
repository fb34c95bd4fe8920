"""Sites of the virtual trial that misbehave, so that central monitoring has something to find.

Each misbehaviour is data a real site could produce through the services, drawn from the seed:

- `fabricates`: after screening, the site's vitals and knee examinations are not measured but
  written down: blood pressure and pulse near textbook values and rounded to 0 or 5 (digit
  preference), temperature 36.5 or 36.8, lengths and weights in whole units, angles in steps of
  5 degrees, all with far less spread than measured values have. Screening forms stay measured,
  so eligibility is what the plan decided.
- `enters-late`: the site enters its forms 1-8 weeks after the visit instead of within days
  (the store sees this only when the virtual trial runs on its simulated clock: `clock`).
- `under-reports-aes`: the investigator reports only UNDER_REPORTED_SHARE of the non-serious
  adverse events; serious ones, with their expedited reports, are still reported.

Everything else at such a site (recruitment, visit dates, withdrawals) is as at every other
site. `largest_sites_misbehaving` assigns one of each to the plan's three largest sites (most
subjects randomized), where monitoring has the power to find them; `check_conduct` checks a
chosen map. No draw here depends on the arm.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from trialdesk.errors import BadInput
from trialdesk.schedule import screening_visit
from trialdesk.store.demo.answers import random_stream
from trialdesk.store.demo.plan import Course, ScreeningEntry, TrialPlan

FABRICATES = "fabricates"
ENTERS_LATE = "enters-late"
UNDER_REPORTS_AES = "under-reports-aes"
#: In the order `largest_sites_misbehaving` gives them to the largest sites: too few AEs
#: needs the most patient-time to show, fabrication the least (many values per subject).
MISBEHAVIOURS = (UNDER_REPORTS_AES, ENTERS_LATE, FABRICATES)

#: Share of its non-serious adverse events an under-reporting site reports.
UNDER_REPORTED_SHARE = 0.1
#: Days from a visit (or an AE's end) to its entry: exponential with this mean at a site that
#: enters promptly; at a late site the least lag plus an exponential, capped.
PROMPT_ENTRY_MEAN_DAYS = 1.5
LATE_ENTRY_LEAST_DAYS = 7.0
LATE_ENTRY_MEAN_EXTRA_DAYS = 14.0
LONGEST_ENTRY_DAYS = 56.0

#: The hours (UTC) at which a site screens, consents and randomizes, and enters its data.
SCREENING_HOUR = 9
ENTRY_HOUR = 10
#: Eligibility is decided at least this long before randomization.
ELIGIBILITY_BEFORE = dt.timedelta(hours=1)

#: The fabricating site's forms, after screening.
FABRICATED_FORMS = frozenset({"vitals", "knee_exam"})


def check_conduct(plan: TrialPlan, conduct: Mapping[str, str]) -> dict[str, str]:
    """`conduct` (site id -> misbehaviour) checked against the protocol's sites."""
    sites = [site.id for site in plan.protocol.sites]
    for site, kind in conduct.items():
        if site not in sites:
            raise BadInput(
                f"misbehaving site {site!r}: {plan.protocol.id} has sites {', '.join(sites)}"
            )
        if kind not in MISBEHAVIOURS:
            raise BadInput(
                f"misbehaving site {site}: {kind!r}; expected one of {', '.join(MISBEHAVIOURS)}"
            )
    return dict(conduct)


def largest_sites_misbehaving(plan: TrialPlan) -> dict[str, str]:
    """One site of each misbehaviour: the plan's largest sites by subjects randomized (ties
    by site id), in the order of MISBEHAVIOURS; the protocol needs at least four sites, so that
    one behaves well."""
    sites = [site.id for site in plan.protocol.sites]
    if len(sites) <= len(MISBEHAVIOURS):
        raise BadInput(
            f"{plan.protocol.id}: {len(sites)} sites; seeding {len(MISBEHAVIOURS)} "
            "misbehaving sites needs at least one more that behaves well"
        )
    randomized = Counter(e.patient.site for e in plan.log if e.course is not None)
    largest = sorted(sites, key=lambda site: (-randomized[site], site))
    return dict(zip(largest, MISBEHAVIOURS, strict=False))


def with_conduct(plan: TrialPlan, conduct: Mapping[str, str]) -> TrialPlan:
    """The plan with the adverse events an under-reporting site never reports left out."""
    log = []
    for entry in plan.log:
        course = entry.course
        if course is not None and conduct.get(entry.patient.site) == UNDER_REPORTS_AES:
            draws = random_stream(plan.seed, entry.patient.key, "under-reporting").random(
                len(course.adverse_events)
            )
            kept = tuple(
                event
                for event, draw in zip(course.adverse_events, draws, strict=True)
                if event.seriousness or draw < UNDER_REPORTED_SHARE
            )
            entry = replace(entry, course=replace(course, adverse_events=kept))
        log.append(entry)
    return replace(plan, log=tuple(log))


def entry_lag(seed: int, patient_key: int, step: str, kind: str | None) -> dt.timedelta:
    """How long after a visit (or an AE's end) the site enters it; the same for the same
    seed, patient and step."""
    stream = random_stream(seed, patient_key, "entry", step)
    if kind == ENTERS_LATE:
        days = LATE_ENTRY_LEAST_DAYS + stream.exponential(LATE_ENTRY_MEAN_EXTRA_DAYS)
    else:
        days = stream.exponential(PROMPT_ENTRY_MEAN_DAYS)
    return dt.timedelta(days=float(min(days, LONGEST_ENTRY_DAYS)))


def screening_entry_moment(plan: TrialPlan, entry: ScreeningEntry, kind: str | None) -> dt.datetime:
    """When the site enters the screening visit and its forms: `entry_lag` after it, but
    ELIGIBILITY_BEFORE randomization at the latest, since eligibility is judged on them."""
    patient = entry.patient
    screening = screening_visit(plan.protocol).id
    entered = moment(patient.screened_on, ENTRY_HOUR) + entry_lag(
        plan.seed, patient.key, screening, kind
    )
    if entry.course is None:
        return entered
    return min(entered, moment(entry.course.day0, SCREENING_HOUR) - ELIGIBILITY_BEFORE)


def entry_moments(
    plan: TrialPlan, patient_key: int, course: Course, kind: str | None
) -> tuple[list[dt.datetime], list[dt.datetime]]:
    """When the site enters each visit after screening (`course.visits[1:]`) and each
    adverse event of a randomized subject.

    A visit done is entered `entry_lag` after it, a missed one after its window has closed;
    visits are entered in their order (the one after day 0 needs the first administration,
    entered with the day-0 visit) and not before randomization. An adverse event is entered
    after it ended (the report gives its end and outcome).
    """
    protocol = plan.protocol
    visits = []
    entered = moment(course.day0, SCREENING_HOUR)
    for step in course.visits[1:]:
        if step.date is None:
            closed = course.day0 + dt.timedelta(days=protocol.visit(step.visit_id).last_day + 1)
            happened = moment(closed, ENTRY_HOUR)
        else:
            happened = moment(step.date, ENTRY_HOUR)
        entered = max(happened + entry_lag(plan.seed, patient_key, step.visit_id, kind), entered)
        visits.append(entered)
    events = []
    for number, event in enumerate(course.adverse_events):
        ended = course.day0 + dt.timedelta(days=event.onset_day + event.days + 1)
        lag = entry_lag(plan.seed, patient_key, f"adverse event {number}", kind)
        events.append(moment(ended, ENTRY_HOUR) + lag)
    return visits, events


def moment(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), dt.UTC)


def fabricated(
    form: str, values: Mapping[str, Any], seed: int, patient_key: int, visit_id: str
) -> dict[str, Any]:
    """The answers a fabricating site writes for `form` instead of the measured `values`."""
    rng = random_stream(seed, patient_key, "fabricated", visit_id, form)
    written = dict(values)
    if form == "vitals":
        systolic = _stepped(rng, 130, 0.6, 10)
        written |= {
            "systolic_bp": systolic,
            "diastolic_bp": min(_stepped(rng, 80, 0.6, 5), systolic - 30),
            "pulse": _stepped(rng, 72, 0.5, 4),
            "temperature_c": 36.5 if rng.random() < 0.6 else 36.8,
            "weight_kg": float(round(values["weight_kg"])),
        }
    elif form == "knee_exam":
        for item, value in values.items():
            if item.endswith("_deg"):
                written[item] = int(5 * round(value / 5))
            elif item.endswith(("_cm", "_mm")):
                written[item] = float(round(value))
    return written


def _stepped(rng: np.random.Generator, typical: int, spread: float, step: int) -> int:
    """`typical` plus a few steps of `step`: a value written down rather than measured."""
    return int(typical + step * round(rng.normal(0, spread)))
