"""Central monitoring finds the virtual trial's misbehaving sites (issue 13, build point 7).

Two levels, because 20 demos through the store would take most of an hour:

- over 20 seeds, the plan's data (the generator the store run takes through the services,
  without the store: `plan_frames`) go through the monitoring core; in every seed each
  misbehaving site is flagged, and the well-behaved sites' signals are no more than chance
  allows: under the null a site-KRI is outside its 99.7% limits with probability 0.3%
  (two-sided) or at most 0.15% (one-sided KRIs), so the count of signals among the
  well-behaved site-KRIs of 20 seeds is at most Binomial(n, 0.003)'s 99.9th percentile;
  the statistical checks signal at a Benjamini-Hochberg adjusted p < 0.003, so the same bound
  holds, conservatively, for the number of well-behaved sites with any signal;
- one demo through the store on each backend (the simulated clock, the services, the audit
  trail, `monitoring_data`): each misbehaving site is flagged there too and the audit trail
  verifies.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from scipy import stats

from trialdesk.monitoring.kri import FRAME_COLUMNS, KRIS, MonitoringData, compute_kris
from trialdesk.monitoring.statistical_checks import run_checks
from trialdesk.protocol import load_protocol
from trialdesk.store.demo.answers import (
    DAYS_PER_YEAR,
    Trajectory,
    answers_for,
    occasion_maker,
    random_stream,
)
from trialdesk.store.demo.misbehaviour import (
    ENTERS_LATE,
    FABRICATED_FORMS,
    FABRICATES,
    UNDER_REPORTS_AES,
    entry_moments,
    fabricated,
    largest_sites_misbehaving,
    screening_entry_moment,
    with_conduct,
)
from trialdesk.store.demo.plan import TrialPlan, plan_trial

PROTOCOL = "NCT04208646"
KNEE_TEST = Path(__file__).parent / "protocols" / "KNEE-TEST.yaml"
TODAY = dt.date(2025, 6, 1)
SEEDS = range(20)
EFFECTS = {"PBO": 0.0, "LOW": 8.0, "HIGH": 8.0}
#: The statistical checks that find fabrication.
FABRICATION_CHECKS = {"digit_preference", "low_variance"}


def plan_frames(
    plan: TrialPlan, conduct: dict[str, str], measured: frozenset[str] = FABRICATED_FORMS
) -> MonitoringData:
    """The frames `monitoring_data` reads from the store after the run, built from the plan:
    what the services will record, as the run takes it (entry moments, fabricated answers,
    unreported AEs). The arm only sizes the outcome effect; here it is drawn per subject, as
    the store's list would allot it, from the seed. Items only of the `measured` forms (the
    patient model's answers to all forms take seconds per trial), by default the ones a
    fabricating site writes down: vitals and the knee examination."""
    protocol = plan.protocol
    arms = [arm.id for arm in protocol.arms]
    last_day = max(visit.day for visit in protocol.visits)
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in FRAME_COLUMNS}
    for site in protocol.sites:
        rows["sites"].append({"site": site.id, "name": site.name, "country": site.country})
    for entry in plan.log:
        patient, course = entry.patient, entry.course
        code, site = f"{patient.site}-{patient.key}", patient.site
        kind = conduct.get(site)
        ended = course.done[-1].date if course else None
        rows["subjects"].append(
            {
                "subject": code,
                "site": site,
                "screened_on": patient.screened_on,
                "screen_failed": course is None,
                "randomized": course is not None,
                "withdrawn": course is not None and course.ending != "completed",
                "patient_years": (ended - course.day0).days / DAYS_PER_YEAR if course else 0.0,
            }
        )
        if entry.declined_consent:
            continue
        screening = min(protocol.visits, key=lambda visit: visit.day).id
        screened_entry = screening_entry_moment(plan, entry, kind).date()
        for form in entry.screening_forms:
            rows["entries"].append(
                {
                    "subject": code,
                    "site": site,
                    "visit": screening,
                    "form": form,
                    "visit_date": patient.screened_on,
                    "entered_on": screened_entry,
                    "lag_days": (screened_entry - patient.screened_on).days,
                }
            )
        visits = [
            (
                screening,
                patient.screened_on,
                {f: v for f, v in entry.screening_forms.items() if f in measured},
            )
        ]
        if course is not None:
            arm = arms[int(random_stream(plan.seed, patient.key, "arm").integers(len(arms)))]
            trajectory = Trajectory(patient.symptoms, EFFECTS[arm] + course.response, last_day)
            occasion = occasion_maker(patient, plan.seed, trajectory)
            moments, _ = entry_moments(plan, patient.key, course, kind)
            for step, entered in zip(course.visits[1:], moments, strict=True):
                window = protocol.visit(step.visit_id)
                rows["visits"].append(
                    {
                        "subject": code,
                        "site": site,
                        "visit": step.visit_id,
                        "target_date": course.day0 + dt.timedelta(days=window.day),
                        "actual_date": step.date,
                        "status": "missed" if step.date is None else "done",
                        "due": True,
                    }
                )
                if step.date is None:
                    continue
                day = (step.date - course.day0).days
                forms = {}
                for form in window.forms:
                    if form in measured:
                        values = answers_for(form, occasion(step.visit_id, day, form))
                        if kind == FABRICATES and form in FABRICATED_FORMS:
                            values = fabricated(form, values, plan.seed, patient.key, step.visit_id)
                        forms[form] = values
                    rows["entries"].append(
                        {
                            "subject": code,
                            "site": site,
                            "visit": step.visit_id,
                            "form": form,
                            "visit_date": step.date,
                            "entered_on": entered.date(),
                            "lag_days": (entered.date() - step.date).days,
                        }
                    )
                visits.append((step.visit_id, step.date, forms))
                if day > window.last_day:
                    rows["deviations"].append(
                        {
                            "subject": code,
                            "site": site,
                            "kind": "visit_window",
                            "detected_on": step.date,
                        }
                    )
            if course.prohibited_medication:
                rows["deviations"].append(
                    {
                        "subject": code,
                        "site": site,
                        "kind": "prohibited_medication",
                        "detected_on": ended,
                    }
                )
            for number, event in enumerate(course.adverse_events, 1):
                rows["adverse_events"].append(
                    {
                        "subject": code,
                        "site": site,
                        "number": number,
                        "onset_date": course.day0 + dt.timedelta(days=event.onset_day),
                        "serious": bool(event.seriousness),
                    }
                )
        for visit_id, date, forms in visits:
            for form, values in forms.items():
                for item, value in values.items():
                    if isinstance(value, bool) or not isinstance(value, int | float):
                        continue
                    rows["items"].append(
                        {
                            "subject": code,
                            "site": site,
                            "visit": visit_id,
                            "form": form,
                            "item": item,
                            "value": float(value),
                            "text": json.dumps(value),
                            "date": date,
                        }
                    )
    frames = {
        name: pd.DataFrame(rows[name], columns=columns) for name, columns in FRAME_COLUMNS.items()
    }
    return MonitoringData(**frames, as_of=TODAY)


def kri_found(kris: pd.DataFrame, site: str, how: str) -> bool:
    """Whether the KRIs signal `site` for entering late or under-reporting AEs."""
    kri = kris.set_index(["site", "kri"])
    if how == ENTERS_LATE:
        return kri.loc[(site, "data_entry_lag"), "flag"] == "signal"
    row = kri.loc[(site, "ae_rate")]
    return row["flag"] == "signal" and row["direction"] == "low"


def fabrication_found(checks: pd.DataFrame, site: str) -> bool:
    signals = checks[(checks["site"] == site) & (checks["flag"] == "signal")]
    return bool(FABRICATION_CHECKS & set(signals["check"]))


def binomial_bound(trials: int, rate: float = 0.003, quantile: float = 0.999) -> int:
    """The most signals chance allows among `trials` well-behaved site-KRIs."""
    return int(stats.binom.ppf(quantile, trials, rate))


def test_binomial_bound_by_hand() -> None:
    # 560 site-KRIs (20 seeds x 4 sites x 7 KRIs judged) at 0.3%: mean 1.68; the pmf summed
    # gives P(X <= 6) = 0.99828 and P(X <= 7) = 0.99965, so the 99.9th percentile is 7.
    assert binomial_bound(560) == 7


@pytest.fixture(scope="module")
def plans() -> list[tuple[TrialPlan, dict[str, str]]]:
    """20 seeded full-enrollment plans with their misbehaving sites applied."""
    protocol = load_protocol(PROTOCOL)
    made = []
    for seed in SEEDS:
        plan = plan_trial(protocol, protocol.enrollment.count, seed, EFFECTS, TODAY)
        conduct = largest_sites_misbehaving(plan)
        assert sorted(conduct.values()) == sorted([FABRICATES, ENTERS_LATE, UNDER_REPORTS_AES])
        made.append((with_conduct(plan, conduct), conduct))
    return made


def test_kris_flag_the_late_and_under_reporting_sites_and_chance_only_elsewhere(
    plans: list[tuple[TrialPlan, dict[str, str]]],
) -> None:
    missed: list[tuple[int, str, str]] = []
    signals: Counter[tuple[str, str]] = Counter()
    judged_site_kris = 0
    for plan, conduct in plans:
        kris = compute_kris(plan_frames(plan, conduct, measured=frozenset()))
        for site, how in conduct.items():
            if how != FABRICATES and not kri_found(kris, site, how):
                missed.append((plan.seed, site, how))
        well_behaved = kris[~kris["site"].isin(conduct) & (kris["flag"] != "no data")]
        judged_site_kris += len(well_behaved)
        for row in well_behaved[well_behaved["flag"] == "signal"].itertuples():
            signals[(row.kri, row.direction)] += 1
    assert not missed, f"misbehaving sites not flagged (seed, site, how): {missed}"
    # Every KRI but the query rate (no queries in a plan) is judged at every fair site.
    assert judged_site_kris == len(SEEDS) * 4 * (len(KRIS) - 1)
    assert sum(signals.values()) <= binomial_bound(judged_site_kris), signals


def test_statistical_checks_find_the_fabricating_site(
    plans: list[tuple[TrialPlan, dict[str, str]]],
) -> None:
    """5 seeds, vitals and knee examinations (the patient model's answers to every form
    take seconds per trial)."""
    for plan, conduct in plans[:5]:
        checks_ = run_checks(*_frames(plan, conduct, FABRICATED_FORMS))
        fabricating = next(site for site, how in conduct.items() if how == FABRICATES)
        assert fabrication_found(checks_, fabricating), (plan.seed, fabricating)


@pytest.mark.parametrize(
    "forms",
    [
        pytest.param(frozenset({"vitals"}), id="vitals"),
        pytest.param(FABRICATED_FORMS, id="knee_exam"),
    ],
)
def test_statistical_checks_signal_fair_sites_only_by_chance(
    plans: list[tuple[TrialPlan, dict[str, str]]], forms: frozenset[str]
) -> None:
    """Over 5 seeds x 4 fair sites, a site signalled by a check at most as often as
    Benjamini-Hochberg's control at 0.3% allows (bound as for the KRIs)."""
    flagged_sites = 0
    for plan, conduct in plans[:5]:
        checks_ = run_checks(*_frames(plan, conduct, forms))
        fair = checks_[~checks_["site"].isin(conduct) & (checks_["flag"] == "signal")]
        flagged_sites += fair["site"].nunique()
    assert flagged_sites <= binomial_bound(5 * 4)


def _frames(
    plan: TrialPlan, conduct: dict[str, str], forms: frozenset[str]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    data = plan_frames(plan, conduct, measured=forms)
    return data.items, data.visits, data.sites


@pytest.mark.django_db(transaction=True)
def test_a_demo_with_misbehaving_sites_through_the_store(django_db_setup: str) -> None:
    """The whole path: the services on the simulated clock, the audit trail, the store's
    monitoring data. Its KRI counts are the plan's (the same generator, so the 20-seed checks
    above speak for the store), and the late and fabricating sites are signalled. A reduced
    trial (20 patients) keeps it short; too few AEs needs the full enrollment to show."""
    from trialdesk.store.access import access_for
    from trialdesk.store.demo import run_virtual_trial
    from trialdesk.store.models import AuditEvent, Query, Signature, Study, StudyUser
    from trialdesk.store.monitoring_data import monitoring_data

    protocol = load_protocol(PROTOCOL)
    plan = plan_trial(protocol, 20, 1, EFFECTS, TODAY)
    summary = run_virtual_trial(
        PROTOCOL, patients=20, seed=1, effects=EFFECTS, today=TODAY, misbehaving_sites=True
    )
    assert summary.audit_verified and summary.locked
    assert summary.misbehaving_sites == dict(sorted(largest_sites_misbehaving(plan).items()))
    times = list(AuditEvent.objects.order_by("seq").values_list("at", flat=True))
    assert times == sorted(times) and times[-1].date() < TODAY
    conduct = largest_sites_misbehaving(plan)
    study = Study.objects.get(protocol_id=PROTOCOL)
    # The demo's close-out: every query closed, every randomized subject's casebook signed.
    assert not Query.objects.exclude(status="closed").exists()
    assert Signature.objects.filter(visit_id="", broken_at__isnull=True).count() == 20
    monitor = StudyUser.objects.get(username="monitor")
    stored = monitoring_data(access_for(study, monitor), as_of=TODAY)
    planned = plan_frames(with_conduct(plan, conduct), conduct)
    kris, expected = compute_kris(stored), compute_kris(planned)
    for name in ("ae_rate", "sae_rate", "data_entry_lag", "screen_failure_rate"):
        assert (
            kris[kris["kri"] == name]["numerator"].tolist()
            == expected[expected["kri"] == name]["numerator"].tolist()
        ), name
    late = next(site for site, how in conduct.items() if how == ENTERS_LATE)
    assert kri_found(kris, late, ENTERS_LATE)
    fabricating = next(site for site, how in conduct.items() if how == FABRICATES)
    assert fabrication_found(run_checks(stored.items, stored.visits, stored.sites), fabricating)


@pytest.mark.django_db
def test_a_store_whose_audit_trail_reaches_past_the_trial_start_is_refused(study: Any) -> None:
    """The simulated clock never goes back: the trail's times must rise with its sequence."""
    from trialdesk.errors import BadInput
    from trialdesk.store.demo import run_virtual_trial
    from trialdesk.store.models import AuditEvent

    events = AuditEvent.objects.count()
    with pytest.raises(BadInput, match="runs on a simulated clock from"):
        run_virtual_trial(
            KNEE_TEST, patients=4, seed=1, today=TODAY, misbehaviour={"01": ENTERS_LATE}
        )
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--misbehave", "01"], "--misbehave '01': expected SITE=HOW"),
        (["--misbehave", "01=lies"], "misbehaving site 01: 'lies'; expected one of"),
        (["--misbehave", "99=enters-late"], "misbehaving site '99': KNEE-TEST has sites"),
        (["--misbehave", "01=fabricates", "--misbehave", "01=enters-late"], "site 01 is given"),
    ],
)
def test_cli_bad_misbehaviour_exits_2(
    monkeypatch: pytest.MonkeyPatch, arguments: list[str], message: str
) -> None:
    # No database: the choice is refused before the store is opened or touched.
    from typer.testing import CliRunner

    from trialdesk.cli import app

    monkeypatch.setattr("trialdesk.store.database.open_store", lambda create=False: None)
    result = CliRunner().invoke(
        app, ["demo", "run", str(KNEE_TEST), "--patients", "4", "--json", *arguments]
    )
    assert result.exit_code == 2, result.output
    assert message in result.stderr and result.stdout == ""
