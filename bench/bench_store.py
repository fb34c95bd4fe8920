"""The benchmarks' study store: NCT04208646 with an 8th visit and its casebooks loaded in bulk.

NCT04208646 gets one more visit (W6, day 42 +-7, WOMAC and VAS) so that it has 8. Its
subjects are spread over the 7 sites with day 0 in the last 400 days, each with its 8 visit
rows (done, missed or still open as their windows say) and a record of every form of every
done visit (complete, except half of those of the last 30 days, which hold half their items).
The values are the virtual trial's plausible answers (`trialdesk.store.demo.answers`) with the
scores the instruments compute. For speed the rows are inserted in bulk, not through the
services; the study itself, its sites and users are made by the services. These functions run
in a child process that has opened the store (`open_store`).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STUDY = "NCT04208646"
PROTOCOL = (
    Path(__file__).resolve().parents[1] / "src" / "trialdesk" / "protocols" / "NCT04208646.yaml"
)
EXTRA_VISIT = """  - id: W6
    label: Week 6
    day: 42
    window_before: 7
    window_after: 7
    forms: [womac, vas_pain]
"""


def bench_protocol(directory: Path, enrollment: int | None = None) -> Path:
    """NCT04208646 with W6 between W3 and W12: 8 visits; with `enrollment`, a trial of that
    many subjects (each stratum's allocation list is as long as the enrollment)."""
    text = PROTOCOL.read_text(encoding="utf-8")
    anchor = "  - id: W12\n"
    assert anchor in text, "NCT04208646.yaml has no W12 visit to insert W6 before"
    text = text.replace(anchor, EXTRA_VISIT + anchor, 1)
    if enrollment is not None:
        count = "enrollment:\n  count: 106\n"
        assert count in text, "NCT04208646.yaml no longer enrols 106 subjects"
        text = text.replace(count, f"enrollment:\n  count: {enrollment}\n", 1)
    path = directory / "NCT04208646.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@dataclass(frozen=True)
class Casebooks:
    """What `load_casebooks` inserted, as the model objects (with their primary keys)."""

    subjects: list[Any]  # Subject
    patients: dict[int, Any]  # Subject pk -> the demo's Patient its answers come from
    visits: list[Any]  # Visit
    done: list[Any]  # the done visits, shuffled; the first `without_vas` have no VAS record
    records: list[Any]  # FormRecord


def load_casebooks(study: Any, subjects: int, without_vas: int = 0) -> Casebooks:
    """Insert `subjects` subjects of `study` (its sites made) with their visits and form
    records, in one transaction; `without_vas` done visits are left without their VAS."""
    from django.db import transaction
    from django.utils import timezone

    from trialdesk.eligibility.synth import RECIPES, Population
    from trialdesk.instruments import values_and_scores
    from trialdesk.schedule import visit_calendar
    from trialdesk.store.demo.answers import (
        Patient,
        Trajectory,
        answers_for,
        occasion_maker,
        random_stream,
    )
    from trialdesk.store.models import FormRecord, Subject, Visit, VisitStatus, saved_item_names
    from trialdesk.store.services.forms import as_stored

    plans = study.protocol().visits
    rng = random.Random(12)
    today = dt.date.today()
    now = timezone.now()
    site_rows = list(study.sites.order_by("code"))
    with transaction.atomic():
        numbers: dict[str, int] = {}
        rows = []
        for _ in range(subjects):
            site = rng.choice(site_rows)
            numbers[site.code] = numbers.get(site.code, 0) + 1
            day0 = today - dt.timedelta(days=rng.randrange(0, 400))
            rows.append(
                Subject(
                    study=study,
                    site=site,
                    code=f"{site.code}-{numbers[site.code]:04d}",
                    status="in_follow_up",
                    year_of_birth=1960,
                    age_at_screening=62,
                    sex=rng.choice(["female", "male"]),
                    screened_on=day0 - dt.timedelta(days=10),
                    day0=day0,
                )
            )
        made = Subject.objects.bulk_create(rows, batch_size=1000)
        population = Population(random_stream(12, "bench"), subjects)
        columns = {name: population[name] for name in RECIPES}
        patients = {}
        occasions = {}
        for row, subject in enumerate(made):
            patient = Patient(row, {name: column[row].item() for name, column in columns.items()})
            patients[subject.pk] = patient
            occasions[subject.pk] = (
                occasion_maker(patient, 12, None),
                occasion_maker(patient, 12, Trajectory(patient.symptoms, 10.0, plans[-1].day)),
            )
        visits = []
        for subject in made:
            windows = visit_calendar(plans, subject.day0, subject.screened_on)
            for plan, window in zip(plans, windows, strict=True):
                status, actual = VisitStatus.SCHEDULED, None
                if window.end < today or (window.start <= today and rng.random() < 0.5):
                    luck = rng.random()
                    if luck < 0.9:
                        status, actual = VisitStatus.DONE, min(window.target, today)
                    elif luck < 0.93:
                        status = VisitStatus.MISSED
                visits.append(
                    Visit(
                        subject=subject,
                        visit_id=plan.id,
                        target_date=window.target,
                        window_start=window.start,
                        window_end=window.end,
                        status=status,
                        actual_date=actual,
                        missed_reason="bench" if status == VisitStatus.MISSED else "",
                    )
                )
        visits = Visit.objects.bulk_create(visits, batch_size=2000)
        forms = {plan.id: plan.forms for plan in plans}
        done = [visit for visit in visits if visit.status == VisitStatus.DONE]
        rng.shuffle(done)
        no_vas = {visit.pk for visit in done[:without_vas]}
        recent = today - dt.timedelta(days=30)
        records = []
        for visit in done:
            for form in forms[visit.visit_id]:
                if form == "vas_pain" and visit.pk in no_vas:
                    continue
                # Visits of the last 30 days are still being entered: half their forms are
                # not complete yet; older visits are complete.
                open_form = visit.actual_date >= recent and rng.random() < 0.5
                screening, later = occasions[visit.subject.pk]
                occasion = (later if visit.target_date > visit.subject.day0 else screening)(
                    visit.visit_id, (visit.target_date - visit.subject.day0).days, form
                )
                answers = answers_for(form, occasion)
                if open_form:
                    answers = dict(list(answers.items())[: len(answers) // 2])
                values, scores = values_and_scores(form, answers)
                values = as_stored(values)
                records.append(
                    FormRecord(
                        subject=visit.subject,
                        visit=visit,
                        form=form,
                        values=values,
                        saved_items=saved_item_names(values),
                        scores=as_stored(scores),
                        completed_at=None if open_form else now,
                    )
                )
        FormRecord.objects.bulk_create(records, batch_size=2000)
    return Casebooks(made, patients, visits, done, records)


def analyze_if_postgresql() -> None:
    """Rows loaded in bulk, then measured at once: on PostgreSQL the planner's statistics are
    what autovacuum would have gathered while a real store grew."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
