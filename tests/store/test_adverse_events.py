"""Adverse events: numbering, every validation, SAE report due times and the overdue list,
corrections with reasons (on SQLite and PostgreSQL).

KNEE-TEST collects AEs from consent (2024-03-01 in the fixtures) to day 91 and wants a serious
event reported within 24 hours of awareness; day 0 here is 2024-03-10, so day 91 is 2024-06-09.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from trialdesk.errors import BadInput
from trialdesk.store.audit import verify_audit_chain
from trialdesk.store.calendar import open_sae_reports, overdue_sae_reports
from trialdesk.store.errors import NotFound, NotPermitted, ReasonRequired, SubjectStateError
from trialdesk.store.models import AdverseEvent, AuditEvent
from trialdesk.store.services import (
    add_site,
    add_user,
    create_study,
    randomize_subject,
    record_administration,
    record_deviation,
    record_sae_report,
    report_adverse_event,
    update_adverse_event,
)

from .conftest import OPERATOR, first_future_date

PROTOCOL = Path(__file__).parent / "protocols" / "KNEE-TEST.yaml"
DAY0 = dt.date(2024, 3, 10)
CET = dt.timezone(dt.timedelta(hours=1))
AWARE = dt.datetime(2024, 3, 13, 9, 0, tzinfo=CET)  # 08:00 UTC
NON_SERIOUS = {
    "term": "Knee effusion",
    "onset_date": dt.date(2024, 3, 12),
    "ctcae_grade": 2,
    "seriousness": [],
    "relatedness": "possible",
    "expected": True,
    "action_taken": "dose_not_changed",
    "outcome": "recovering",
    "awareness_at": AWARE,
}
SERIOUS = {**NON_SERIOUS, "term": "Septic arthritis", "ctcae_grade": 3}
SERIOUS["seriousness"] = ["hospitalization", "medically_important"]


@pytest.fixture
def study(study: Any, request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """KNEE-TEST; parametrized indirectly with "first_administration", a version of it that
    collects adverse events from the first administration instead of consent."""
    if getattr(request, "param", "consent") == "consent":
        return study
    text = PROTOCOL.read_text(encoding="utf-8")
    text = text.replace('version: "1.0"', 'version: "1.0-fa"').replace(
        "ae_reporting_start: consent", "ae_reporting_start: first_administration"
    )
    (tmp_path / "KNEE-TEST.yaml").write_text(text, encoding="utf-8")
    variant = create_study(tmp_path / "KNEE-TEST.yaml", OPERATOR)
    add_site(variant, "01", OPERATOR)
    for username, role in [
        ("ines", "investigator"),
        ("colin", "coordinator"),
        ("pia", "pharmacist"),
    ]:
        add_user(variant, username, role, OPERATOR)
    return variant


def treated(study: Any, eligible_subject: Any) -> str:
    code = eligible_subject()
    randomize_subject(study, code, "ines")
    record_administration(study, code, "C1", DAY0, "pia")
    return code


def report(study: Any, code: str, by: str = "colin", **changes: Any) -> AdverseEvent:
    return report_adverse_event(study, code, by=by, **{**NON_SERIOUS, **changes})


def audit_ok() -> None:
    verification = verify_audit_chain()
    assert verification.ok, verification.problems


@pytest.mark.django_db
def test_events_are_numbered_per_subject(study: Any, eligible_subject: Any) -> None:
    first, second = treated(study, eligible_subject), treated(study, eligible_subject)
    assert [report(study, first).number, report(study, first).number] == [1, 2]
    assert report(study, second).number == 1
    event = report(study, first, term="  Headache ", end_date=dt.date(2024, 3, 14))
    assert (event.number, event.term, event.end_date) == (3, "Headache", dt.date(2024, 3, 14))
    assert AuditEvent.objects.filter(action="adverse_event.reported", subject=first).exists()
    audit_ok()


@pytest.mark.django_db
def test_awareness_is_stored_in_utc_and_a_serious_event_is_due_after_24_hours(
    study: Any, eligible_subject: Any
) -> None:
    code = treated(study, eligible_subject)
    minor = report(study, code)
    assert minor.report_due_at is None and not minor.serious
    serious = report(study, code, **SERIOUS)
    serious.refresh_from_db()
    assert serious.awareness_at == dt.datetime(2024, 3, 13, 8, 0, tzinfo=dt.UTC)
    assert serious.awareness_at.utcoffset() == dt.timedelta(0)
    assert serious.report_due_at == dt.datetime(2024, 3, 14, 8, 0, tzinfo=dt.UTC)
    assert serious.seriousness == ["hospitalization", "medically_important"]
    fatal = report(
        study,
        code,
        ctcae_grade=5,
        outcome="fatal",
        seriousness=["medically_important", "death"],  # stored in the vocabulary's order
        end_date=dt.date(2024, 3, 13),
    )
    assert fatal.seriousness == ["death", "medically_important"]
    assert fatal.report_due_at == dt.datetime(2024, 3, 14, 8, 0, tzinfo=dt.UTC)


def _refusals() -> list[tuple[dict[str, Any], str]]:
    tomorrow = first_future_date()
    future = timezone.now() + dt.timedelta(hours=1)
    return [
        ({"term": "  "}, "term is required"),
        ({"term": "x" * 201}, "term is 201 characters; at most 200"),
        ({"ctcae_grade": 0}, "ctcae_grade 0; expected a CTCAE grade 1 to 5"),
        ({"ctcae_grade": 6}, "ctcae_grade 6; expected"),
        ({"ctcae_grade": "2"}, "ctcae_grade '2'; expected"),
        ({"ctcae_grade": True}, "ctcae_grade True; expected"),
        ({"seriousness": "hospitalization"}, "expected a list of ICH E2A criteria"),
        ({"seriousness": ["hospitalised"]}, "seriousness hospitalised; expected criteria among"),
        ({"seriousness": ["disability", "disability"]}, "lists a criterion twice"),
        ({"relatedness": "maybe"}, "relatedness 'maybe'; expected one of not_related, unlikely"),
        ({"action_taken": "stopped"}, "action_taken 'stopped'; expected one of dose_not_changed"),
        ({"outcome": "dead"}, "outcome 'dead'; expected one of recovered"),
        ({"expected": "yes"}, "expected 'yes'; expected true, false or none"),
        (
            {"ctcae_grade": 5},
            "grade 5, outcome fatal and seriousness death go together; got grade 5, "
            "outcome recovering, seriousness none",
        ),
        ({"outcome": "fatal", "seriousness": ["death"]}, "got grade 2, outcome fatal"),
        ({"ctcae_grade": 5, "outcome": "fatal"}, "outcome fatal, seriousness none"),
        ({"seriousness": ["death"]}, "seriousness death"),
        ({"onset_date": "2024-03-12"}, "onset_date '2024-03-12'; expected a date"),
        ({"onset_date": dt.datetime(2024, 3, 12, tzinfo=dt.UTC)}, "expected a date"),
        ({"end_date": dt.date(2024, 3, 11)}, "end date 2024-03-11 is before the onset date"),
        ({"end_date": tomorrow}, f"end date {tomorrow} is in the future"),
        ({"onset_date": tomorrow}, f"onset date {tomorrow} is in the future"),
        (
            {"onset_date": dt.date(2024, 2, 29)},
            "onset date 2024-02-29 is before the AE reporting period, which starts at consent "
            "\\(2024-03-01\\)",
        ),
        (
            {"onset_date": dt.date(2024, 6, 10), "awareness_at": future - dt.timedelta(days=1)},
            "onset date 2024-06-10 is after the AE reporting period, which ends on day 91 "
            "\\(2024-06-09\\)",
        ),
        (
            {"awareness_at": dt.datetime(2024, 3, 11, 8, tzinfo=CET)},  # before the 12th anywhere
            "awareness 2024-03-11T07:00:00\\+00:00 is before the onset date 2024-03-12",
        ),
        ({"awareness_at": dt.datetime(2024, 3, 13, 9)}, "expected a timezone-aware date"),
        ({"awareness_at": future}, "is in the future"),
    ]


@pytest.mark.django_db
def test_every_field_is_checked_and_a_refusal_changes_nothing(
    study: Any, eligible_subject: Any
) -> None:
    code = treated(study, eligible_subject)
    events = AuditEvent.objects.count()
    for changes, message in _refusals():
        with pytest.raises(BadInput, match=f"subject {code}, adverse event 1: .*{message}"):
            report(study, code, **changes)
    assert not AdverseEvent.objects.exists()
    assert AuditEvent.objects.count() == events


@pytest.mark.django_db
def test_a_date_that_is_today_at_some_site_is_not_in_the_future(
    study: Any, eligible_subject: Any
) -> None:
    """At 07:00 in Beijing it is still yesterday in UTC: the site's today is taken, for an
    adverse event's onset and end and for a deviation's detection date."""
    code = treated(study, eligible_subject)
    today = first_future_date() - dt.timedelta(days=1)
    event = report(study, code, onset_date=DAY0, end_date=today, awareness_at=timezone.now())
    assert event.end_date == today
    late = {"kind": "visit_schedule", "description": "late", "by": "colin"}
    deviation = record_deviation(study, code, detected_on=today, **late)
    assert deviation.detected_on == today
    with pytest.raises(BadInput, match=f"detection date {today + dt.timedelta(days=1)} is in"):
        record_deviation(study, code, detected_on=today + dt.timedelta(days=1), **late)


@pytest.mark.django_db
def test_reporting_period_boundaries(study: Any, eligible_subject: Any) -> None:
    code = treated(study, eligible_subject)
    on_consent = report(study, code, onset_date=dt.date(2024, 3, 1))
    last_day = report(
        study,
        code,
        onset_date=dt.date(2024, 6, 9),
        awareness_at=dt.datetime(2024, 6, 9, 12, tzinfo=dt.UTC),
    )
    # Known at 00:30 local time on the onset day, which is still the day before in UTC.
    early_awareness = report(study, code, awareness_at=dt.datetime(2024, 3, 12, 0, 30, tzinfo=CET))
    assert [on_consent.number, last_day.number, early_awareness.number] == [1, 2, 3]
    assert early_awareness.awareness_at == dt.datetime(2024, 3, 11, 23, 30, tzinfo=dt.UTC)


@pytest.mark.django_db
def test_consent_comes_first(study: Any, consented_subject: Any) -> None:
    from trialdesk.store.services import screen_subject

    screened = screen_subject(
        study,
        "01",
        year_of_birth=1960,
        age=63,
        sex="male",
        by="ines",
        screened_on=dt.date(2024, 3, 1),
    ).code
    with pytest.raises(SubjectStateError, match=f"subject {screened} has not consented"):
        report(study, screened)
    assert report(study, consented_subject()).number == 1  # consented, not yet treated


@pytest.mark.django_db
@pytest.mark.parametrize("study", ["first_administration"], indirect=True)
def test_reporting_from_the_first_administration(study: Any, eligible_subject: Any) -> None:
    code = eligible_subject()
    with pytest.raises(SubjectStateError, match="collected from day 0 on"):
        report(study, code)
    randomize_subject(study, code, "ines")
    record_administration(study, code, "C1", DAY0, "pia")
    with pytest.raises(BadInput, match="starts at the first administration \\(2024-03-10\\)"):
        report(study, code, onset_date=dt.date(2024, 3, 9))
    assert report(study, code, onset_date=DAY0).number == 1


@pytest.mark.django_db
def test_only_site_staff_report(study: Any, eligible_subject: Any) -> None:
    code = treated(study, eligible_subject)
    for user in ("ada", "mona", "pia"):
        with pytest.raises(NotPermitted, match=f"{user} may not report adverse events"):
            report(study, code, by=user)
    report(study, code, by="ines")


@pytest.mark.django_db
def test_corrections_need_a_reason_and_are_checked(study: Any, eligible_subject: Any) -> None:
    code = treated(study, eligible_subject)
    report(study, code)
    with pytest.raises(ReasonRequired, match="adverse event 1: change: a reason is required"):
        update_adverse_event(study, code, 1, {"ctcae_grade": 3}, "", "colin")
    with pytest.raises(BadInput, match="cannot change number, report_due_at; expected fields"):
        update_adverse_event(study, code, 1, {"number": 2, "report_due_at": None}, "x", "colin")
    with pytest.raises(BadInput, match="got grade 5, outcome recovering"):
        update_adverse_event(study, code, 1, {"ctcae_grade": 5}, "worse", "colin")
    with pytest.raises(NotFound, match=f"subject {code}: no adverse event 2"):
        update_adverse_event(study, code, 2, {"ctcae_grade": 3}, "worse", "colin")
    assert AdverseEvent.objects.get().ctcae_grade == 2

    follow_up = update_adverse_event(
        study,
        code,
        1,
        {"outcome": "recovered", "end_date": dt.date(2024, 3, 20), "action_taken": "unknown"},
        "follow-up call",
        "ines",
    )
    assert (follow_up.outcome, follow_up.end_date) == ("recovered", dt.date(2024, 3, 20))
    changes = AuditEvent.objects.filter(action="adverse_event.changed").order_by("seq")
    assert [(e.field, e.new_value, e.reason) for e in changes] == [
        ("action_taken", '"unknown"', "follow-up call"),
        ("end_date", '"2024-03-20"', "follow-up call"),
        ("outcome", '"recovered"', "follow-up call"),
    ]
    events = AuditEvent.objects.count()
    update_adverse_event(study, code, 1, {"outcome": "recovered"}, "again", "ines")
    assert AuditEvent.objects.count() == events
    audit_ok()


@pytest.mark.django_db
def test_report_due_time_follows_seriousness_and_awareness(
    study: Any, eligible_subject: Any
) -> None:
    code = treated(study, eligible_subject)
    report(study, code)
    upgraded = update_adverse_event(
        study, code, 1, {"seriousness": ["hospitalization"]}, "admitted", "ines"
    )
    assert upgraded.report_due_at == dt.datetime(2024, 3, 14, 8, tzinfo=dt.UTC)
    later = dt.datetime(2024, 3, 15, 10, 30, tzinfo=dt.UTC)
    moved = update_adverse_event(
        study, code, 1, {"awareness_at": later}, "site learnt later", "ines"
    )
    assert moved.report_due_at == dt.datetime(2024, 3, 16, 10, 30, tzinfo=dt.UTC)
    downgraded = update_adverse_event(study, code, 1, {"seriousness": []}, "day case", "ines")
    assert downgraded.report_due_at is None
    audit_ok()


@pytest.mark.django_db
def test_overdue_sae_reports_until_reported(study: Any, eligible_subject: Any) -> None:
    code = treated(study, eligible_subject)
    report(study, code)  # not serious: never on either list
    report(study, code, **SERIOUS)
    due = dt.datetime(2024, 3, 14, 8, tzinfo=dt.UTC)
    assert [e.number for e in open_sae_reports(study, due)] == [2]
    assert overdue_sae_reports(study, due) == []  # due at 08:00 is not overdue at 08:00
    just_after = due + dt.timedelta(seconds=1)
    assert [(e.subject.code, e.number) for e in overdue_sae_reports(study, just_after)] == [
        (code, 2)
    ]
    assert open_sae_reports(study, just_after) == []
    with pytest.raises(BadInput, match="expected a timezone-aware"):
        overdue_sae_reports(study, dt.datetime(2024, 3, 14, 8))

    with pytest.raises(BadInput, match="adverse event 1 is not serious"):
        record_sae_report(study, code, 1, due, "colin")
    with pytest.raises(BadInput, match="is before the site became aware of the event"):
        record_sae_report(study, code, 2, AWARE - dt.timedelta(minutes=1), "colin")
    with pytest.raises(BadInput, match="reported_at .*expected a timezone-aware"):
        record_sae_report(study, code, 2, dt.datetime(2024, 3, 15, 9), "colin")
    with pytest.raises(BadInput, match="is in the future"):
        record_sae_report(study, code, 2, timezone.now() + dt.timedelta(hours=1), "colin")

    late = dt.datetime(2024, 3, 15, 9, tzinfo=CET)
    reported = record_sae_report(study, code, 2, late, "colin")
    assert reported.reported_at == dt.datetime(2024, 3, 15, 8, tzinfo=dt.UTC)
    assert overdue_sae_reports(study, just_after) == []
    assert open_sae_reports(study, just_after) == []
    with pytest.raises(ReasonRequired, match="change of the report time"):
        record_sae_report(study, code, 2, due, "colin")
    record_sae_report(study, code, 2, due, "colin", reason="fax time, not e-mail time")
    with pytest.raises(BadInput, match="would be after the SAE report"):
        update_adverse_event(study, code, 2, {"awareness_at": late}, "recheck", "colin")
    audit_ok()
