"""The plan taken through the store's services, each step with the role a site would use: the
study, its sites and the demo users, then per patient screening, consent, eligibility,
randomization, visits and forms, treatment, adverse events and the end of the study; at last
the database lock.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from trialdesk.errors import BadInput
from trialdesk.schedule import screening_visit
from trialdesk.store.demo.answers import (
    DemoInconsistency,
    Occasion,
    Patient,
    Trajectory,
    answers_for,
    occasion_maker,
)
from trialdesk.store.demo.clock import SimulatedClock
from trialdesk.store.demo.misbehaviour import (
    FABRICATED_FORMS,
    FABRICATES,
    SCREENING_HOUR,
    check_conduct,
    entry_moments,
    fabricated,
    largest_sites_misbehaving,
    moment,
    screening_entry_moment,
    with_conduct,
)
from trialdesk.store.demo.plan import (
    AdverseEventPlan,
    Course,
    ScreeningEntry,
    TrialPlan,
    VisitStep,
    plan_trial,
)
from trialdesk.store.demo.summary import TrialSummary, trial_summary

if TYPE_CHECKING:
    from trialdesk.protocol import Protocol
    from trialdesk.store.models import Study

DEMO_OPERATOR = "operator:demo"
CONSENT_VERSION = "1.0"
STUDY_WIDE_ROLES = ("pharmacist", "assessor", "monitor", "statistician", "data_manager")
#: Forms the site staff enter after screening; the blinded assessor enters the outcomes.
COORDINATOR_FORMS = frozenset({"screening_history", "vitals", "labs", "hla_typing", "pain_diary"})
MAX_EFFECT = 100.0
DEFAULT_ACTIVE_EFFECT = 8.0
#: The kind of the deviation a prohibited medication is recorded as.
PROHIBITED_MEDICATION = "prohibited_medication"
#: On the simulated clock (UTC): the study is set up a month before the first screening; a
#: site screens, consents and randomizes at SCREENING_HOUR and enters data from ENTRY_HOUR
#: (`entry_moments`); the database is locked a day after the last entry.
SET_UP_BEFORE = dt.timedelta(days=30)
LOCK_AFTER = dt.timedelta(days=1)
#: The close-out before the lock: queries answered and closed, casebooks signed.
QUERY_ANSWER = "checked against the source document: the value is as recorded"
QUERY_CLOSING = "the site confirmed the value against the source document"
CASEBOOK_MEANING = "casebook_approval"
LOCK_REASON = "final database lock: queries closed, casebooks signed"


def run_virtual_trial(
    protocol_ref: str | Path,
    *,
    patients: int | None = None,
    seed: int = 0,
    effects: Mapping[str, float] | None = None,
    today: dt.date | None = None,
    progress: Callable[[int, int], None] | None = None,
    lock: bool = True,
    misbehaving_sites: bool = False,
    misbehaviour: Mapping[str, str] | None = None,
) -> TrialSummary:
    """Run a whole virtual trial of `protocol_ref` (a shipped id or a file) in the store.

    `patients` to randomize (default: the protocol's enrollment); `effects` maps arm ids to the
    arm's improvement beyond the common response, in WOMAC 0-100 points at the last visit
    (default 0 for the control arm, `Protocol.control_arm`, and DEFAULT_ACTIVE_EFFECT for the
    others); the trial ends before `today` (default: today, UTC). `progress(done, total)` is
    called after each patient of the screening log. The store must not hold the study yet, or
    hold it without subjects. `lock=False` leaves the database open at the end (e.g. for a
    blinded interim report).

    Misbehaving sites (`trialdesk.store.demo.misbehaviour`): `misbehaving_sites` seeds one
    site of each misbehaviour at the plan's largest sites, `misbehaviour` maps chosen site
    ids to misbehaviours (it wins for the sites it names). With either, the trial runs on
    the simulated clock (`trialdesk.store.demo.clock`), so that every site's entry lag is
    in the store; the store's audit trail must then end before the trial begins (an empty
    store, or one whose earlier demos ran before it).
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
    conduct = largest_sites_misbehaving(plan) if misbehaving_sites else {}
    conduct |= check_conduct(plan, misbehaviour or {})
    plan = with_conduct(plan, conduct)
    if not conduct:
        study = _set_up_study(protocol, protocol_ref, text)
        for done, entry in enumerate(plan.log, 1):
            for _moment_due in _patient_steps(study, plan, entry, conduct):
                pass
            if progress is not None:
                progress(done, len(plan.log))
        if lock:
            _close_out(study, protocol)
            lock_study(study, "data_manager", LOCK_REASON)
        return trial_summary(study, seed, started, conduct)
    clock = SimulatedClock(_start_of(plan))
    with clock.running():
        study = _set_up_study(protocol, protocol_ref, text)
        clock.run(
            [_patient_steps(study, plan, entry, conduct) for entry in plan.log],
            None if progress is None else lambda done: progress(done, len(plan.log)),
        )
        if lock:
            clock.move_to(clock.now + LOCK_AFTER)
            _close_out(study, protocol)
            lock_study(study, "data_manager", LOCK_REASON)
    return trial_summary(study, seed, started, conduct)


def _close_out(study: Study, protocol: Protocol) -> None:
    """Before the database lock: the site answers each open query (the value stands, as in
    the source) and the data manager closes it; each site's investigator then signs the
    casebook of every randomized subject, with their password again (set here for the demo's
    investigators; `trialdesk demo logins` gives new ones later)."""
    from trialdesk.store.demo.logins import new_password
    from trialdesk.store.lifecycle import RANDOMIZED_STATUSES
    from trialdesk.store.models import Query, QueryStatus
    from trialdesk.store.services.accounts import set_password
    from trialdesk.store.services.queries import answer_query, close_query
    from trialdesk.store.services.signatures import sign, unsigned_casebooks

    queries = Query.objects.filter(
        subject__study=study, status__in=[QueryStatus.OPEN, QueryStatus.ANSWERED]
    ).select_related("subject__site")
    for query in queries.order_by("pk"):
        code = query.subject.code
        if query.status == QueryStatus.OPEN:
            site = query.subject.site.code
            answer_query(study, code, query.number, text=QUERY_ANSWER, by=f"coordinator-{site}")
        close_query(study, code, query.number, text=QUERY_CLOSING, by="data_manager")
    passwords = {}
    for site in protocol.sites:
        passwords[site.id] = new_password()
        set_password(f"investigator-{site.id}", passwords[site.id], DEMO_OPERATOR)
    randomized = study.subjects.filter(status__in=RANDOMIZED_STATUSES)
    for code, site in unsigned_casebooks(randomized).values_list("code", "site__code"):
        sign(
            study,
            code,
            meaning=CASEBOOK_MEANING,
            password=passwords[site],
            by=f"investigator-{site}",
        )


def _start_of(plan: TrialPlan) -> dt.datetime:
    """When the simulated clock starts: before the first screening, and after the store's
    last audit event, so that the trail's times rise with its sequence."""
    from trialdesk.store.models import AuditEvent

    first = min(entry.patient.screened_on for entry in plan.log)
    start = moment(first, SCREENING_HOUR) - SET_UP_BEFORE
    last = AuditEvent.objects.order_by("-seq").values_list("at", flat=True).first()
    if last is not None and last >= start:
        raise BadInput(
            f"{plan.protocol.id}: with misbehaving sites the virtual trial runs on a simulated "
            f"clock from {start:%Y-%m-%d}, but the store's audit trail already reaches "
            f"{last:%Y-%m-%d}; use an empty store (e.g. another TRIALDESK_HOME) or run this "
            "demo first"
        )
    return start


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
    control = protocol.control_arm()
    chosen = {arm.id: 0.0 if arm.id == control else DEFAULT_ACTIVE_EFFECT for arm in protocol.arms}
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
            add_user(
                study,
                username,
                role,
                DEMO_OPERATOR,
                site_code,
                full_name=_printed_name(role, site_code),
            )
    return study


def _printed_name(role: str, site_code: str | None) -> str:
    """The name an investigator's signatures show (a demo user, named as one)."""
    return f"Demo Investigator, site {site_code}" if role == "investigator" else ""


def _patient_steps(
    study: Study, plan: TrialPlan, entry: ScreeningEntry, conduct: Mapping[str, str]
) -> Iterator[dt.datetime]:
    """One patient of the screening log, from screening to the end of follow-up: a generator
    that yields the moment of each step and takes it when resumed (`SimulatedClock.run`).

    The site screens, takes consent and randomizes on the day; it enters a visit and its
    forms (and the pharmacist the administrations) at `entry_lag` after the visit, and not
    before the visit before it (a missed visit once its window has closed), an adverse
    event that long after it ended (the report gives its end and outcome), its expedited
    report once sent. Screening forms are entered before day 0, since eligibility needs them.
    """
    from trialdesk.store.services import (
        evaluate_eligibility,
        record_consent,
        record_screen_failure,
        record_visit,
        save_form,
        screen_subject,
    )

    patient = entry.patient
    kind = conduct.get(patient.site)
    coordinator = f"coordinator-{patient.site}"
    yield moment(patient.screened_on, SCREENING_HOUR)
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
    entered = screening_entry_moment(plan, entry, kind)
    yield entered
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
        yield from _follow(study, plan, code, patient, entry.course, kind)


def _follow(
    study: Study, plan: TrialPlan, code: str, patient: Patient, course: Course, kind: str | None
) -> Iterator[dt.datetime]:
    """A randomized subject: treatment, visits and forms, adverse events, end of the study."""
    from trialdesk.store.services import (
        complete_subject,
        randomize_subject,
        record_deviation,
        record_lost_to_follow_up,
        withdraw_subject,
    )

    coordinator = f"coordinator-{patient.site}"
    yield moment(course.day0, SCREENING_HOUR)
    randomize_subject(study, code, coordinator)
    last_day = max(visit.day for visit in plan.protocol.visits)
    effect = plan.effects[_arm_as_pharmacist(study, code)] + course.response
    occasion = occasion_maker(patient, plan.seed, Trajectory(patient.symptoms, effect, last_day))
    visits, events = entry_moments(plan, patient.key, course, kind)
    steps: list[tuple[dt.datetime, Callable[[], None]]] = [
        (when, partial(_enter_visit, study, plan, code, patient, course, step, occasion, kind))
        for when, step in zip(visits, course.visits[1:], strict=True)
    ]
    steps += [
        (when, partial(_report_adverse_event, study, code, patient, course, event))
        for when, event in zip(events, course.adverse_events, strict=True)
    ]
    for when, take in sorted(steps, key=lambda timed: timed[0]):
        yield when
        take()
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
    if course.ending == "completed":
        complete_subject(study, code, coordinator)
    elif course.ending == "withdrawn":
        withdraw_subject(study, code, course.ending_reason, coordinator)
    else:
        record_lost_to_follow_up(study, code, course.ending_reason, coordinator)


def _enter_visit(
    study: Study,
    plan: TrialPlan,
    code: str,
    patient: Patient,
    course: Course,
    step: VisitStep,
    occasion: Callable[[str, int, str], Occasion],
    kind: str | None,
) -> None:
    """A visit recorded done (its forms and the administrations with it) or missed."""
    from trialdesk.store.services import (
        record_administration,
        record_missed_visit,
        record_visit,
        save_form,
    )

    coordinator = f"coordinator-{patient.site}"
    if step.date is None:
        record_missed_visit(study, code, step.visit_id, step.reason, coordinator)
        return
    record_visit(study, code, step.visit_id, step.date, coordinator, reason=step.reason)
    day = (step.date - course.day0).days
    for form in plan.protocol.visit(step.visit_id).forms:
        by = coordinator if form in COORDINATOR_FORMS else "assessor"
        values = answers_for(form, occasion(step.visit_id, day, form))
        if kind == FABRICATES and form in FABRICATED_FORMS:
            values = fabricated(form, values, plan.seed, patient.key, step.visit_id)
        save_form(study, code, step.visit_id, form, values, by)
    for administration in step.administrations:
        record_administration(study, code, administration, step.date, "pharmacist")


def _arm_as_pharmacist(study: Study, code: str) -> str:
    """The subject's arm as the unblinded pharmacist sees it (Allocation -> slot's arm); it
    only sets the size of the outcome effect and is never shown."""
    from trialdesk.store.models import Allocation

    allocation = Allocation.objects.select_related("slot").get(
        subject__study=study, subject__code=code
    )
    return allocation.slot.arm


def _report_adverse_event(
    study: Study, code: str, patient: Patient, course: Course, event: AdverseEventPlan
) -> None:
    """The investigator reports the event; a serious one gets its expedited report."""
    from trialdesk.store.services import record_sae_report, report_adverse_event

    investigator = f"investigator-{patient.site}"
    doses = [(step.date - course.day0).days for step in course.done if step.administrations]
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
