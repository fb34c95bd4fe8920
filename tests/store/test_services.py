"""The services enforce the lifecycle, the roles and the database lock; bad input changes
nothing. Each test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest

from trialdesk.errors import BadInput, InstrumentError
from trialdesk.store.errors import (
    NotPermitted,
    ReasonRequired,
    StudyLocked,
    SubjectStateError,
)
from trialdesk.store.models import AuditEvent, FormRecord, Subject, Visit
from trialdesk.store.services import (
    complete_subject,
    evaluate_eligibility,
    lock_study,
    randomize_subject,
    record_administration,
    record_consent,
    record_screen_failure,
    record_visit,
    save_form,
    screen_subject,
    unlock_study,
    withdraw_subject,
)
from trialdesk.store.services.forms import as_stored

from .conftest import OPERATOR, WOMAC_ALL_ONES


def status(study: Any, code: str) -> str:
    return Subject.objects.get(study=study, code=code).status


def screen(study: Any, site: str = "01", by: str = "ines") -> str:
    return screen_subject(
        study,
        site,
        year_of_birth=1960,
        age=63,
        sex="male",
        by=by,
        screened_on=dt.date(2024, 3, 1),
    ).code


@pytest.mark.django_db
def test_subject_codes_count_per_site(study: Any) -> None:
    assert [screen(study, "01"), screen(study, "01"), screen(study, "02")] == [
        "01-001",
        "01-002",
        "02-001",
    ]


@pytest.mark.django_db
def test_age_must_fit_year_of_birth(study: Any) -> None:
    with pytest.raises(BadInput, match="age 70 does not fit year of birth 1960"):
        screen_subject(
            study,
            "01",
            year_of_birth=1960,
            age=70,
            sex="male",
            by="ines",
            screened_on=dt.date(2024, 3, 1),
        )
    assert not Subject.objects.exists()


@pytest.mark.django_db
def test_no_data_before_consent(study: Any) -> None:
    code = screen(study)
    with pytest.raises(SubjectStateError, match="no data before consent"):
        save_form(study, code, "SCR", "vitals", {"height_cm": 170, "weight_kg": 70}, "ines")
    with pytest.raises(SubjectStateError, match="is screened; eligibility needs"):
        evaluate_eligibility(study, code, {}, "ines")
    assert not FormRecord.objects.exists()


@pytest.mark.django_db
def test_no_randomization_unless_eligible(study: Any, consented_subject: Any) -> None:
    code = consented_subject()
    with pytest.raises(SubjectStateError, match="is consented; randomization needs .*eligible"):
        randomize_subject(study, code, "ines")


@pytest.mark.django_db
def test_no_second_randomization(study: Any, eligible_subject: Any) -> None:
    code = eligible_subject()
    randomize_subject(study, code, "ines")
    with pytest.raises(SubjectStateError, match="already randomized"):
        randomize_subject(study, code, "ines")


@pytest.mark.django_db
def test_follow_up_visits_need_randomization(study: Any, eligible_subject: Any) -> None:
    code = eligible_subject()
    # The baseline comes before randomization.
    save_form(study, code, "D0", "womac", WOMAC_ALL_ONES, "ada")
    with pytest.raises(SubjectStateError, match="visit W12 data need randomization first"):
        save_form(study, code, "W12", "womac", WOMAC_ALL_ONES, "ada")
    randomize_subject(study, code, "ines")
    record_administration(study, code, "C1", dt.date(2024, 3, 10), "pia")
    with pytest.raises(BadInput, match="visit W12: no visit date; record the visit date first"):
        save_form(study, code, "W12", "womac", WOMAC_ALL_ONES, "ada")
    record_visit(study, code, "W12", dt.date(2024, 6, 2), "ada")
    save_form(study, code, "W12", "womac", WOMAC_ALL_ONES, "ada")


@pytest.mark.django_db
def test_form_must_belong_to_visit_and_fit_instrument(study: Any, consented_subject: Any) -> None:
    code = consented_subject()
    events = AuditEvent.objects.count()
    with pytest.raises(BadInput, match="form 'womac' is not collected at this visit"):
        save_form(study, code, "SCR", "womac", WOMAC_ALL_ONES, "ines")
    with pytest.raises(InstrumentError, match="kl_grade"):
        save_form(study, code, "SCR", "kl_grade", {"index_knee": 7}, "ines")
    assert AuditEvent.objects.count() == events
    assert not FormRecord.objects.exists()


@pytest.mark.django_db
def test_changing_a_saved_value_needs_a_reason(study: Any, consented_subject: Any) -> None:
    code = consented_subject()
    save_form(study, code, "SCR", "vitals", {"height_cm": 170, "weight_kg": 70}, "ines")
    events = AuditEvent.objects.count()
    save_form(study, code, "SCR", "vitals", {"height_cm": 170, "weight_kg": 70}, "ines")
    assert AuditEvent.objects.count() == events  # the same values again change nothing
    with pytest.raises(ReasonRequired, match="form vitals: change: a reason is required"):
        save_form(study, code, "SCR", "vitals", {"height_cm": 170, "weight_kg": 80}, "ines")
    record = save_form(
        study,
        code,
        "SCR",
        "vitals",
        {"height_cm": 170, "weight_kg": 80},
        "ines",
        reason="transcription error",
    )
    assert record.values["weight_kg"] == 80
    assert record.scores["bmi"] == pytest.approx(27.68, abs=0.01)
    changes = AuditEvent.objects.filter(action="form.changed").order_by("seq")
    assert [(e.field, e.old_value, e.new_value, e.reason) for e in changes] == [
        ("scores.bmi", "24.221453287197235", "27.68166089965398", "transcription error"),
        ("values.weight_kg", "70", "80", "transcription error"),
    ]


def test_form_values_carry_no_negative_zero() -> None:
    """jsonb (PostgreSQL) keeps no -0.0: the record and its audit events must hold one value."""
    values = as_stored({"flexion": -0.0, "ranges": [-0.0, 1.5], "when": dt.date(2024, 1, 2)})
    assert values == {"flexion": 0.0, "ranges": [0.0, 1.5], "when": "2024-01-02"}
    assert math.copysign(1, values["flexion"]) == 1 == math.copysign(1, values["ranges"][0])


@pytest.mark.django_db
def test_ineligible_subject_fails_screening(study: Any, consented_subject: Any) -> None:
    code = consented_subject()
    save_form(study, code, "SCR", "kl_grade", {"index_knee": 4, "contralateral_knee": 1}, "ines")
    result = evaluate_eligibility(study, code, {"I1": True, "E2": False}, "ines")
    assert result.verdict == "ineligible"
    assert status(study, code) == "screen_failed"
    with pytest.raises(SubjectStateError, match="is screen_failed"):
        record_consent(
            study, code, consented_on=dt.date(2024, 3, 2), consent_version="2", by="ines"
        )


@pytest.mark.django_db
def test_incomplete_eligibility_keeps_the_subject_consented(
    study: Any, consented_subject: Any
) -> None:
    code = consented_subject()
    result = evaluate_eligibility(study, code, {"I1": True}, "ines")
    assert result.verdict == "incomplete"
    assert "attestation E2" in result.missing and "bmi" in result.missing
    assert status(study, code) == "consented"


@pytest.mark.django_db
def test_randomization_reevaluates_current_screening_data(
    study: Any, eligible_subject: Any
) -> None:
    code = eligible_subject()
    save_form(
        study,
        code,
        "SCR",
        "vitals",
        {"height_cm": 160, "weight_kg": 100},
        "ines",
        reason="weight re-measured",
    )
    with pytest.raises(SubjectStateError, match="eligibility on the current screening data"):
        randomize_subject(study, code, "ines")
    assert status(study, code) == "eligible"


@pytest.mark.django_db
def test_declined_consent_is_a_screen_failure_with_reason(study: Any) -> None:
    code = screen(study)
    with pytest.raises(ReasonRequired):
        record_screen_failure(study, code, " ", "ines")
    record_screen_failure(study, code, "declined consent", "ines")
    assert status(study, code) == "screen_failed"


@pytest.mark.django_db
def test_treatment_follow_up_and_completion(study: Any, eligible_subject: Any) -> None:
    code = eligible_subject()
    randomization = randomize_subject(study, code, "colin")
    with pytest.raises(SubjectStateError, match="out of order; the next one is C1"):
        record_administration(study, code, "C2", dt.date(2024, 3, 20), "pia")
    first = record_administration(study, code, "C1", dt.date(2024, 3, 10), "pia")
    assert status(study, code) == "treated"
    w12 = Visit.objects.get(subject__code=code, visit_id="W12")
    assert (w12.target_date, w12.window_start, w12.window_end) == (
        dt.date(2024, 6, 2),
        dt.date(2024, 5, 26),
        dt.date(2024, 6, 9),
    )
    second = record_administration(study, code, "C2", dt.date(2024, 3, 31), "pia")
    assert (first, second) == randomization.kit_numbers
    assert status(study, code) == "in_follow_up"
    complete_subject(study, code, "ines")
    assert status(study, code) == "completed"
    with pytest.raises(SubjectStateError, match="is completed; withdrawal needs"):
        withdraw_subject(study, code, "moved away", "ines")


@pytest.mark.django_db
def test_withdrawal_needs_a_reason_and_keeps_data(study: Any, eligible_subject: Any) -> None:
    code = eligible_subject()
    with pytest.raises(ReasonRequired):
        withdraw_subject(study, code, "", "ines")
    withdraw_subject(study, code, "patient's decision", "ines")
    assert status(study, code) == "withdrawn"
    assert FormRecord.objects.filter(subject__code=code).count() == 3


@pytest.mark.django_db
def test_roles_and_sites_are_enforced(study: Any, consented_subject: Any) -> None:
    code = consented_subject("01")
    with pytest.raises(NotPermitted, match="mona may not enter forms at site 01"):
        save_form(study, code, "SCR", "vitals", {"height_cm": 170, "weight_kg": 70}, "mona")
    with pytest.raises(NotPermitted, match="colin may not screen subjects at site 02"):
        screen(study, "02", by="colin")
    with pytest.raises(NotPermitted, match="evaluate eligibility"):
        evaluate_eligibility(study, code, {}, "colin")


@pytest.mark.django_db
def test_nothing_is_written_after_database_lock(study: Any, eligible_subject: Any) -> None:
    code = eligible_subject()
    lock_study(study, OPERATOR)
    events = AuditEvent.objects.count()
    with pytest.raises(StudyLocked):
        screen(study)
    with pytest.raises(StudyLocked):
        save_form(study, code, "D0", "womac", WOMAC_ALL_ONES, "ada")
    with pytest.raises(StudyLocked):
        randomize_subject(study, code, "ines")
    with pytest.raises(StudyLocked):
        lock_study(study, OPERATOR)
    assert AuditEvent.objects.count() == events
    with pytest.raises(ReasonRequired):
        unlock_study(study, "", OPERATOR)
    reopened = unlock_study(study, "late lab values", OPERATOR)
    assert reopened.reopened_after_lock and not reopened.locked
    assert AuditEvent.objects.filter(action="study.unlocked", reason="late lab values").exists()
    randomize_subject(study, code, "ines")
