"""Central monitoring finds the virtual trial's misbehaving sites and signals the
well-behaved ones only by chance (issue 13, build point 7).

Two levels, because 20 demos through the store would take most of an hour:

- over 20 seeds, the plan's data (the generator the store run takes through the services,
  without the store: `plan_frames`) of every measured form and item, and the edit checks'
  queries on them, go through the monitoring core; in every seed each misbehaving site is
  signalled by the KRI or check that matches its misbehaviour, and the well-behaved sites'
  signals, of every KRI and every statistical check, are no more than the methods' nominal
  false-positive levels allow (`test_kris_signal_well_behaved_sites_only_by_chance`,
  `test_checks_signal_well_behaved_sites_only_by_chance` give the derivations);
- one demo through the store on each backend (the simulated clock, the services, the audit
  trail, `monitoring_data`): each misbehaving site is flagged there too and the audit trail
  verifies.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from trialdesk.monitoring.edit_checks import (
    AdverseEventData,
    FormData,
    SubjectData,
    VisitData,
    evaluate,
)
from trialdesk.monitoring.funnel import Z_997
from trialdesk.monitoring.kri import FRAME_COLUMNS, KRIS, MonitoringData, compute_kris
from trialdesk.monitoring.statistical_checks import CHECKS, SIGNAL_P, WATCH_P, run_checks
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
END = dt.datetime.combine(TODAY, dt.time(), dt.UTC)
SEEDS = range(20)
EFFECTS = {"PBO": 0.0, "LOW": 8.0, "HIGH": 8.0}


def plan_frames(
    plan: TrialPlan, conduct: dict[str, str], measured: frozenset[str] = FABRICATED_FORMS
) -> MonitoringData:
    """The frames `monitoring_data` reads from the store after the run, built from the plan:
    what the services will record, as the run takes it (entry moments, fabricated answers,
    unreported AEs). The arm only sizes the outcome effect; here it is drawn per subject, as
    the store's list would allot it, from the seed. Items only of the `measured` forms, by
    default the ones a fabricating site writes down: vitals and the knee examination.

    The queries are those the protocol's edit checks raise (`planned_queries`).
    """
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
        if course is not None:
            rows["queries"].extend(planned_queries(plan, code, site, course, visits))
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


def planned_queries(
    plan: TrialPlan,
    code: str,
    site: str,
    course: Any,
    visits: list[tuple[str, dt.date, dict[str, dict[str, Any]]]],
) -> list[dict[str, Any]]:
    """The queries the store's edit checks raise for a randomized subject: the findings on
    the recorded values (all forms complete, as the demo saves them), and one for each
    serious AE whose expedited report comes after its due time (the demo saves the subject's
    later data meanwhile, and the check runs on every save)."""
    protocol = plan.protocol
    dates = {visit_id: date for visit_id, date, _ in visits}
    subject = SubjectData(
        code,
        visits[0][1],
        tuple(VisitData(visit_id, date) for visit_id, date, _ in visits),
        tuple(
            FormData(visit_id, form, values, {}, True)
            for visit_id, _, forms in visits
            for form, values in forms.items()
        ),
    )
    found = [(f.visit_id, dates.get(f.visit_id)) for f in evaluate(protocol, subject, END)]
    for number, event in enumerate(course.adverse_events, 1):
        if not event.seriousness:
            continue
        onset = dt.datetime.combine(course.day0, dt.time(), dt.UTC) + dt.timedelta(
            days=event.onset_day, hours=event.awareness_hours
        )
        due = onset + dt.timedelta(hours=protocol.safety.sae_reporting_hours)
        late = AdverseEventData(number, event.term, True, due, None)
        at = onset + dt.timedelta(hours=event.report_hours)
        if evaluate(protocol, SubjectData(code, None, adverse_events=(late,)), at):
            found.append(("", at.date()))
    return [
        {
            "subject": code,
            "site": site,
            "number": number,
            "origin": "rule",
            "status": "closed",
            "opened_at": opened,
        }
        for number, (_, opened) in enumerate(found, 1)
    ]


def kri_found(kris: pd.DataFrame, site: str, how: str) -> bool:
    """Whether the KRIs signal `site` for entering late or under-reporting AEs."""
    kri = kris.set_index(["site", "kri"])
    if how == ENTERS_LATE:
        return kri.loc[(site, "data_entry_lag"), "flag"] == "signal"
    row = kri.loc[(site, "ae_rate")]
    return row["flag"] == "signal" and row["direction"] == "low"


def chance_bound(expected: float, quantile: float = 0.999) -> int:
    """The most signals chance allows when `expected` are expected: the Poisson quantile.

    The signals counted are a sum of many indicators, each with a small chance; the sum's
    distribution (Poisson-binomial) is less spread than the Poisson of the same mean, so the
    Poisson's 99.9th percentile bounds it (Hoeffding 1956)."""
    return int(stats.poisson.ppf(quantile, expected))


def bh_rejection_chances(p: np.ndarray, q: float) -> np.ndarray:
    """The chance, under its null, that each test is rejected by Benjamini-Hochberg at `q`.

    Given the other p-values, test i is rejected exactly when p_i <= q R_i / m, where R_i is
    the number BH rejects with p_i set to 0 (Sarkar, Annals of Statistics 2008, the step of
    Benjamini and Yekutieli 2001's proof), so for a p-value uniform (or, as a discrete test's,
    stochastically larger) and independent of the others, the chance is at most q R_i / m.
    With the tests sorted, a test at rank r that is not rejected has R_i = 1 + the largest
    j < r with p_(j) <= q (j + 1) / m (0 if none); a rejected test has R_i = R."""
    m = len(p)
    if m == 0:
        return np.zeros(0)
    order = np.argsort(p, kind="stable")
    sorted_p = p[order]
    ranks = np.arange(1, m + 1)
    passing = np.flatnonzero(sorted_p <= q * ranks / m)
    rejected = passing.max() + 1 if len(passing) else 0
    below = np.where(sorted_p[:-1] <= q * ranks[1:] / m, ranks[:-1], 0)
    best_below = np.r_[0, np.maximum.accumulate(below)] if m > 1 else np.zeros(1, int)
    r_i = np.where(ranks <= rejected, rejected, 1 + best_below)
    chances = np.empty(m)
    chances[order] = np.minimum(q * r_i / m, 1.0)
    return chances


def test_bounds_by_hand() -> None:
    # Poisson(1.5): P(X <= 5) = e^-1.5 (1 + 1.5 + 1.125 + 0.5625 + 0.2109 + 0.0633) = 0.99554,
    # P(X <= 6) = 0.99907: the 99.9th percentile is 6.
    assert chance_bound(1.5) == 6
    # BH at q = 0.1 over p = 0.001, 0.02, 0.5, 0.8 (m = 4): thresholds 0.025, 0.05, 0.075,
    # 0.1; 0.001 and 0.02 pass, R = 2: their chance 0.1 x 2 / 4. 0.5 (rank 3): the largest
    # j < 3 with p_(j) <= 0.1 (j + 1) / 4 is 2 (0.02 <= 0.075): R_i = 3, chance 0.075; 0.8
    # (rank 4): j = 2 again (0.5 > 0.1), R_i = 3, 0.075.
    chances = bh_rejection_chances(np.array([0.5, 0.001, 0.8, 0.02]), 0.1)
    assert chances.tolist() == pytest.approx([0.075, 0.05, 0.075, 0.05])
    # none rejected: each test's chance is q / m (R_i = 1), q in all under the global null
    assert bh_rejection_chances(np.array([0.9, 0.8]), 0.1).tolist() == pytest.approx([0.05] * 2)


#: Every form of the protocol's visits: the demo's answers to all of them.
MEASURED_FORMS = frozenset(form for visit in load_protocol(PROTOCOL).visits for form in visit.forms)


class Demo(NamedTuple):
    seed: int
    conduct: dict[str, str]
    kris: pd.DataFrame
    checks: pd.DataFrame
    item_keys: frozenset[str]


@pytest.fixture(scope="module")
def demos() -> list[Demo]:
    """20 seeded full-enrollment plans with their misbehaving sites applied, every form
    measured, through the KRIs and the statistical checks (about 3 s a seed)."""
    protocol = load_protocol(PROTOCOL)
    made = []
    for seed in SEEDS:
        plan = plan_trial(protocol, protocol.enrollment.count, seed, EFFECTS, TODAY)
        conduct = largest_sites_misbehaving(plan)
        assert sorted(conduct.values()) == sorted([FABRICATES, ENTERS_LATE, UNDER_REPORTS_AES])
        data = plan_frames(with_conduct(plan, conduct), conduct, measured=MEASURED_FORMS)
        checks_ = run_checks(data.items, data.visits, data.sites)
        keys = frozenset(data.items["form"] + "." + data.items["item"])
        made.append(Demo(seed, conduct, compute_kris(data), checks_, keys))
    return made


def test_each_misbehaving_site_is_signalled_by_its_own_check(demos: list[Demo]) -> None:
    """In each of the 20 seeds: the late site by the data-entry lag KRI, the under-reporting
    one by a low AE rate, and the fabricating one (its knee examinations rounded to whole
    units and to steps of 5 degrees) by digit preference."""
    missed = []
    for demo in demos:
        for site, how in demo.conduct.items():
            if how == FABRICATES:
                signals = demo.checks[
                    (demo.checks["site"] == site) & (demo.checks["flag"] == "signal")
                ]
                if "digit_preference" not in set(signals["check"]):
                    missed.append((demo.seed, site, how))
            elif not kri_found(demo.kris, site, how):
                missed.append((demo.seed, site, how))
    assert not missed, f"misbehaving sites not signalled (seed, site, how): {missed}"


def kri_false_positive(sides: str) -> float:
    """The chance that a well-behaved site-KRI is outside its funnel's 99.7% limits: 0.003
    on both sides (z = 2.97), half of it on one."""
    both = 2 * stats.norm.sf(Z_997)
    return both if sides == "both" else both / 2


def test_kris_signal_well_behaved_sites_only_by_chance(demos: list[Demo]) -> None:
    """Every KRI at every well-behaved site of the 20 seeds. Under the null a site-KRI is
    outside its 99.7% limits (a signal) with chance 0.003 (KRIs flagged both ways) or
    0.0015 (one way): the expected count of signals is the sum of these chances over the
    well-behaved site-KRIs judged (not "no data"), and the count seen must be within
    `chance_bound` of it, over all sites and for each site alone (its own limit)."""
    expected: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    judged: set[str] = set()
    for demo in demos:
        kris = demo.kris[~demo.kris["site"].isin(demo.conduct)]
        for row in kris.itertuples():
            if row.flag == "no data":
                continue
            judged.add(str(row.kri))
            expected[row.site] += kri_false_positive(KRIS[row.kri].sides)
            seen[row.site] += row.flag == "signal"
    assert judged == set(KRIS)
    assert seen.total() <= chance_bound(expected.total()), (seen, expected.total())
    for site, count in seen.items():
        assert count <= chance_bound(expected[site]), (site, count, expected[site])


@pytest.mark.parametrize(("flag", "q"), [("signal", SIGNAL_P), ("watch", WATCH_P)])
def test_checks_signal_well_behaved_sites_only_by_chance(
    demos: list[Demo], flag: str, q: float
) -> None:
    """Every statistical check on every measured form and item, at every well-behaved site
    of the 20 seeds.

    Derivation of the limit: a check's p-values (all its sites and items in one demo) are
    adjusted by Benjamini-Hochberg, and a test is a signal when its adjusted p is below
    q = 0.003 (watch or signal below 0.05), i.e. when BH at level q rejects it. A
    well-behaved site's test is under its null, so its chance of being rejected is at most
    q R_i / m (`bh_rejection_chances`): q / m in a check where nothing else is rejected, more
    where the misbehaving site's true signals raise BH's threshold. The expected count of
    well-behaved tests flagged is the sum of these chances, and the count seen must be
    within `chance_bound` of it, over all sites and for each site alone. (The chance is exact
    for independent p-values; a site's items share its subjects, and the discrete tests'
    p-values are conservative.)"""
    checks_run: set[str] = set()
    forms_tested: set[str] = set()
    expected: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    flagged = {"signal"} if flag == "signal" else {"signal", "watch"}
    for demo in demos:
        for check, rows in demo.checks.groupby("check"):
            chances = bh_rejection_chances(rows["p_value"].to_numpy(float), q)
            fair = ~rows["site"].isin(demo.conduct).to_numpy()
            for site, chance, mark in zip(
                rows["site"][fair], chances[fair], rows["flag"][fair], strict=True
            ):
                expected[site] += chance
                seen[site] += mark in flagged
            checks_run.add(str(check))
        # Every numeric item is tested by an item check, or within its whole form's answer
        # vector (identical patterns: a temperature at screening only, to 0.1 over 36-37.5,
        # has too few distinct values for digits or spread, and no second visit to repeat).
        tested = set(demo.checks["item"])
        untested = {key for key in demo.item_keys if not {key, key.split(".")[0]} & tested}
        assert not untested, (demo.seed, sorted(untested))
        forms_tested |= {item.split(".")[0] for item in tested if item}
    assert checks_run == set(CHECKS)
    assert forms_tested == {key.split(".")[0] for demo in demos for key in demo.item_keys}
    assert seen.total() <= chance_bound(expected.total()), (seen, expected.total())
    for site, count in seen.items():
        assert count <= chance_bound(expected[site]), (site, count, expected[site])


@pytest.mark.django_db(transaction=True)
def test_a_demo_with_misbehaving_sites_through_the_store(django_db_setup: str) -> None:
    """The whole path: the services on the simulated clock, the audit trail, the store's
    monitoring data. Its KRI counts are the plan's (the same generator, so the 20-seed tests
    above speak for the store), the late site is signalled and the fabricating site's test
    is the most extreme. A reduced trial (20 patients) keeps it short; too few AEs, and a
    fabrication signal with the subject as the unit, need the full enrollment to show."""
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
    for name in ("ae_rate", "sae_rate", "data_entry_lag", "screen_failure_rate", "query_rate"):
        assert (
            kris[kris["kri"] == name]["numerator"].tolist()
            == expected[expected["kri"] == name]["numerator"].tolist()
        ), name
    late = next(site for site, how in conduct.items() if how == ENTERS_LATE)
    assert kri_found(kris, late, ENTERS_LATE)
    # At 20 patients the fabricating site has 5 subjects, too few for a signal with the
    # subject as the unit (its repeated knee measures: p = 0.002 before adjustment, in the
    # plan), but its test is the study's most extreme. (The checks' values are not the
    # plan's: `plan_frames` draws the arm, the store's randomization list allots it.)
    checked = run_checks(stored.items, stored.visits, stored.sites)
    fabricating = next(site for site, how in conduct.items() if how == FABRICATES)
    most_extreme = checked.sort_values("p_value").iloc[0]
    assert most_extreme["site"] == fabricating, most_extreme


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
