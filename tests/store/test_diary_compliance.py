"""What staff read of the patients' diaries across subjects (store/diary_compliance.py): the
work list's alert "two missed days in a row" and diary compliance by site, on SQLite and
PostgreSQL, for randomized STEMJOINT subjects made through the services.

STEMJOINT's pain diary (the protocol file): days 1-30, 18:00-23:59 in the patient's zone, 60
minutes' grace. The study here is NCT05933434 with a second Danish site, OUH, added to its
sites (it stratifies by site). Day 0 is 2026-01-05; in Copenhagen in January (UTC+1) day d's
window is 17:00-23:00 UTC of 2026-01-05 + d, and a late answer is taken until 24:00 UTC.
NOW is day 10 at 20:00 in Copenhagen (19:00 UTC): days 1-9 are settled, day 10 is open,
days 11-30 are upcoming. By hand:

    A (AUH)  answered 1-7, day 8 late (00:30 next night), day 9 missed   run 1
    B (AUH)  answered 1-6, missed 7-9                                   run 3  alert
    C (AUH)  answered 1-7, missed 8-9, link revoked                     (no live link)
    F (AUH)  no answer (days 1-9 missed), withdrawn                     (ended: no alert)
    E (AUH)  never invited                                               (not counted)
    D (OUH)  answered 1-2, missed 3-9, day 10 answered now              run 0 (answered last)

Compliance at NOW, AUH: A 7+1+1, B 6+0+3, C 7+0+2, F 0+0+9 = answered 20, late 1, missed 15
of 36 due, share 21/36; OUH: D answered 3, missed 7 of 10, share 3/10.
"""

from __future__ import annotations

import datetime as dt
import random
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from trialdesk.store.access import access_for
from trialdesk.store.diary_compliance import compliance_by_site, diary_alerts
from trialdesk.store.matrix import work_list
from trialdesk.store.models import StudyUser
from trialdesk.store.services import (
    add_site,
    add_user,
    create_study,
    evaluate_eligibility,
    randomize_subject,
    record_administration,
    record_consent,
    save_form,
    screen_subject,
    withdraw_subject,
)
from trialdesk.store.services.patient_reports import (
    answer_entry,
    invite_patient,
    revoke_patient_link,
)

from .conftest import OPERATOR

STEMJOINT = Path(__file__).parents[2] / "src" / "trialdesk" / "protocols" / "NCT05933434.yaml"
DAY0 = dt.date(2026, 1, 5)
SCREENED_ON = DAY0 - dt.timedelta(days=10)
UTC = dt.UTC
NOW = dt.datetime.combine(DAY0 + dt.timedelta(days=10), dt.time(19, 0), tzinfo=UTC)
ZONE = "Europe/Copenhagen"


@cache
def eligible_patient() -> Any:
    """An eligible screening entry of the demo's planned trial (`plan_trial` judges it with
    the store's own rule)."""
    from trialdesk.protocol import load_protocol
    from trialdesk.store.demo.plan import plan_trial

    protocol = load_protocol("NCT05933434")
    plan = plan_trial(protocol, 12, 7, {arm.id: 0.0 for arm in protocol.arms}, SCREENED_ON)
    return next(entry for entry in plan.log if entry.verdict == "eligible")


@pytest.fixture
def stemjoint(django_db_setup: str) -> Any:
    text = STEMJOINT.read_text(encoding="utf-8")
    site = "  - {id: AUH, name: Aarhus University Hospital, city: Aarhus, country: Denmark}\n"
    assert site in text
    second = "  - {id: OUH, name: Odense University Hospital, city: Odense, country: Denmark}\n"
    study = create_study("NCT05933434.yaml", OPERATOR, text=text.replace(site, site + second))
    add_site(study, "AUH", OPERATOR)
    add_site(study, "OUH", OPERATOR)
    for username, role, where in [
        ("ines", "investigator", None),
        ("colin", "coordinator", "AUH"),
        ("mona", "monitor", None),
    ]:
        add_user(study, username, role, OPERATOR, where)
    return study


def randomized(study: Any, site: str) -> str:
    entry = eligible_patient()
    subject = screen_subject(
        study,
        site,
        year_of_birth=SCREENED_ON.year - entry.patient.age,
        age=entry.patient.age,
        sex=entry.patient.sex,
        by="ines",
        screened_on=SCREENED_ON,
    )
    record_consent(study, subject.code, consented_on=SCREENED_ON, consent_version="1.0", by="ines")
    for form, values in entry.screening_forms.items():
        save_form(study, subject.code, "SCR", form, values, "ines")
    assert evaluate_eligibility(study, subject.code, entry.attestations, "ines").verdict == (
        "eligible"
    )
    randomize_subject(study, subject.code, "ines")
    record_administration(study, subject.code, "INJ", DAY0, "ines")
    return subject.code


def in_window(day: int) -> dt.datetime:
    """Day `day` at 19:00 in Copenhagen (18:00 UTC), inside its window."""
    return dt.datetime.combine(DAY0 + dt.timedelta(days=day), dt.time(18, 0), tzinfo=UTC)


def late(day: int) -> dt.datetime:
    """00:30 in Copenhagen the night after day `day` (23:30 UTC): in the grace."""
    return dt.datetime.combine(DAY0 + dt.timedelta(days=day), dt.time(23, 30), tzinfo=UTC)


def diary(study: Any, code: str, answers: dict[int, dt.datetime]) -> Any:
    link, _token = invite_patient(study, code, "ines", language="da", time_zone=ZONE)
    for day, at in answers.items():
        answer_entry(link, "pain_diary", day, f"day{day}", random.randint(0, 10), now=at)
    return link


def access(study: Any, username: str) -> Any:
    return access_for(study, StudyUser.objects.get(username=username))


@pytest.fixture
def subjects(stemjoint: Any) -> dict[str, str]:
    codes = {name: randomized(stemjoint, "OUH" if name == "D" else "AUH") for name in "ABCDEF"}
    study = stemjoint
    diary(study, codes["A"], {**{d: in_window(d) for d in range(1, 8)}, 8: late(8)})
    diary(study, codes["B"], {d: in_window(d) for d in range(1, 7)})
    diary(study, codes["C"], {d: in_window(d) for d in range(1, 8)})
    revoke_patient_link(study, codes["C"], "colin", "the patient lost the phone")
    diary(study, codes["F"], {})
    withdraw_subject(study, codes["F"], "moved abroad", "ines")
    diary(study, codes["D"], {1: in_window(1), 2: in_window(2), 10: NOW - dt.timedelta(minutes=10)})
    return codes


@pytest.mark.django_db
def test_the_work_list_alerts_after_two_missed_days_in_a_row(
    stemjoint: Any, subjects: dict[str, str]
) -> None:
    work = work_list(access(stemjoint, "mona"), NOW.date(), NOW)
    assert work.diary_missed.count == 1
    [alert] = work.diary_missed.items
    assert (alert.code, alert.site, alert.schedule, alert.missed) == (
        subjects["B"],
        "AUH",
        "pain_diary",
        3,
    )
    assert alert.last_missed == DAY0 + dt.timedelta(days=9)
    # The coordinator of AUH reads the same; of OUH alone, nothing is due.
    assert [
        i.code for i in work_list(access(stemjoint, "colin"), NOW.date(), NOW).diary_missed.items
    ] == [subjects["B"]]
    assert work_list(access(stemjoint, "mona"), NOW.date(), NOW, site="OUH").diary_missed.count == 0
    # Earlier instants, with the answers received by then: at 22:59 UTC of day 7 (23:59 in
    # Copenhagen) B's day 7 is still open after days 1-6 answered (no run), while D has
    # missed days 3-6 (its day 10 answer is not received yet).
    before = dt.datetime.combine(DAY0 + dt.timedelta(days=7), dt.time(22, 59), tzinfo=UTC)
    items = work_list(access(stemjoint, "mona"), before.date(), before).diary_missed.items
    assert [(i.code, i.missed) for i in items] == [(subjects["D"], 4)]
    # At 00:01 UTC of day 9 B's day 8 has closed (grace to 24:00 UTC): B's run is 2, D's 6
    # (days 3-8); A answered day 8 late, C's link is revoked, F is withdrawn.
    day9 = dt.datetime.combine(DAY0 + dt.timedelta(days=9), dt.time(0, 1), tzinfo=UTC)
    items = work_list(access(stemjoint, "mona"), day9.date(), day9).diary_missed.items
    assert [(i.code, i.missed) for i in items] == [(subjects["D"], 6), (subjects["B"], 2)]
    # `limit=0` counts without listing.
    counted = work_list(access(stemjoint, "mona"), NOW.date(), NOW, limit=0).diary_missed
    assert (counted.count, counted.items) == (1, [])


@pytest.mark.django_db
def test_compliance_by_site(stemjoint: Any, subjects: dict[str, str]) -> None:
    found = {
        row.site: (
            row.subjects,
            row.compliance.answered,
            row.compliance.late,
            row.compliance.missed,
        )
        for row in compliance_by_site(access(stemjoint, "mona"), NOW)
    }
    assert found == {"AUH": (4, 20, 1, 15), "OUH": (1, 3, 0, 7)}
    rows = {row.site: row for row in compliance_by_site(access(stemjoint, "mona"), NOW)}
    assert rows["AUH"].compliance.due == 36
    assert rows["AUH"].compliance.share == pytest.approx(21 / 36)
    assert rows["OUH"].compliance.share == pytest.approx(3 / 10)
    # The coordinator of AUH reads AUH alone.
    assert [row.site for row in compliance_by_site(access(stemjoint, "colin"), NOW)] == ["AUH"]
    # Before day 1's window closed, nothing is due anywhere.
    early = dt.datetime.combine(DAY0 + dt.timedelta(days=1), dt.time(17, 30), tzinfo=UTC)
    assert all(
        row.compliance.share is None for row in compliance_by_site(access(stemjoint, "mona"), early)
    )


@pytest.mark.django_db
def test_the_queries_do_not_grow_with_the_subjects(
    stemjoint: Any, subjects: dict[str, str]
) -> None:
    def queries() -> tuple[int, int]:
        reader = access(stemjoint, "mona")
        with CaptureQueriesContext(connection) as alerts:
            diary_alerts(reader.subjects(), stemjoint.protocol(), NOW)
        with CaptureQueriesContext(connection) as by_site:
            compliance_by_site(reader, NOW)
        return len(alerts), len(by_site)

    before = queries()
    for _ in range(2):
        diary(stemjoint, randomized(stemjoint, "OUH"), {1: in_window(1)})
    assert queries() == before
    # The links, the answers (and for compliance, the reader's sites).
    assert before == (2, 3)
