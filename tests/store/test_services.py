"""The services enforce the lifecycle, the roles and the database lock; bad input changes
nothing. Each test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest

from trialdesk.errors import BadInput, InstrumentError
from trialdesk.store.access import access_for
from trialdesk.store.audit import verify_audit_chain
from trialdesk.store.errors import (
    NotFound,
    NotPermitted,
    ReasonRequired,
    StudyLocked,
    SubjectStateError,
)
from trialdesk.store.models import AuditEvent, FormRecord, Kit, Study, StudyUser, Subject, Visit
from trialdesk.store.screening import study_criteria
from trialdesk.store.services import (
    add_site,
    add_user,
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

from .conftest import ATTESTATIONS, OPERATOR, SCREENING_FORMS, WOMAC_ALL_ONES, first_future_date


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


@pytest.mark.django_db
def test_bad_screening_and_consent_input_is_refused_and_changes_nothing(
    study: Any, consented_subject: Any
) -> None:
    consented = consented_subject()
    screened = screen(study)
    tomorrow = first_future_date()
    events = AuditEvent.objects.count()
    patient = {"year_of_birth": 1960, "age": 63, "sex": "male", "screened_on": dt.date(2024, 3, 1)}
    refusals = [
        ({"age": 63.0}, "age 63.0; expected a whole number"),
        ({"year_of_birth": "1960"}, "year_of_birth '1960'; expected a whole number"),
        ({"age": True}, "age True; expected a whole number"),
        ({"screened_on": tomorrow}, f"site 01: screening date {tomorrow} is in the future"),
        ({"screened_on": "2024-03-01"}, "site 01: screening date '2024-03-01'; expected a date"),
    ]
    for changes, message in refusals:
        with pytest.raises(BadInput, match=message):
            screen_subject(study, "01", by="ines", **{**patient, **changes})
    consents = [
        ({"consented_on": "2024-03-01"}, "consent date '2024-03-01'; expected a date"),
        ({"consented_on": dt.datetime(2024, 3, 1, 9)}, "consent date datetime.*expected a date"),
        ({"consent_version": 2}, "the consent form version is required"),
    ]
    for changes, message in consents:
        arguments = {"consented_on": dt.date(2024, 3, 1), "consent_version": "2.0", **changes}
        with pytest.raises(BadInput, match=f"subject {screened}: {message}"):
            record_consent(study, screened, by="ines", **arguments)
    assert AuditEvent.objects.count() == events
    assert status(study, screened) == "screened" and status(study, consented) == "consented"
    assert Subject.objects.count() == 2


@pytest.mark.django_db
def test_bad_administration_dates_are_refused_and_change_nothing(
    study: Any, eligible_subject: Any
) -> None:
    code = eligible_subject()
    randomize_subject(study, code, "ines")
    tomorrow = first_future_date()
    events = AuditEvent.objects.count()
    where = f"subject {code}, administration C1"
    refusals = [
        (tomorrow, f"{where}: administration date {tomorrow} is in the future"),
        ("2024-03-10", f"{where}: administration date '2024-03-10'; expected a date"),
        (dt.date(2024, 2, 28), f"{where}: .* is before screening \\(2024-03-01\\)"),
    ]
    for administered_on, message in refusals:
        with pytest.raises(BadInput, match=message):
            record_administration(study, code, "C1", administered_on, "pia")
    assert AuditEvent.objects.count() == events
    assert status(study, code) == "randomized"
    assert not Kit.objects.filter(dispensed_to__isnull=False).exists()


@pytest.mark.django_db
def test_bad_sites_and_user_names_are_refused_and_change_nothing(study: Any) -> None:
    events = AuditEvent.objects.count()
    with pytest.raises(BadInput, match="site code '1'; expected a site code of 2-6 capital"):
        add_site(study, "1", OPERATOR)
    with pytest.raises(BadInput, match="site 03: name ''; expected 1 to 200 characters"):
        add_site(study, "03", OPERATOR, name="")
    with pytest.raises(BadInput, match="expected a name of at most 150 characters"):
        add_user(study, "x" * 151, "monitor", OPERATOR)
    assert AuditEvent.objects.count() == events
    assert not StudyUser.objects.filter(username__startswith="xxx").exists()


@pytest.mark.django_db
def test_the_writes_of_a_subject_take_few_queries(
    study: Any, django_assert_max_num_queries: Any
) -> None:
    """The per-write hot path: the audit head, the study's lock flag, the subject, the user's
    roles in one query, then the write itself and its audit events. A change to a subject's
    data also reads the record's live locks (one query) and the signatures it breaks (one
    query; issue 13), and runs the protocol's edit checks (none in this protocol)."""
    with django_assert_max_num_queries(10):
        code = screen(study)
    record_consent(study, code, consented_on=dt.date(2024, 3, 1), consent_version="2.0", by="ines")
    record_visit(study, code, "SCR", dt.date(2024, 3, 1), "ines")
    for form, values in SCREENING_FORMS.items():
        with django_assert_max_num_queries(14):  # one of them discards the saver's draft
            save_form(study, code, "SCR", form, values, "ines")
    with django_assert_max_num_queries(10):  # the same values again: the draft, the locks
        save_form(study, code, "SCR", "vitals", SCREENING_FORMS["vitals"], "ines")
    with django_assert_max_num_queries(12):  # and the casebook's lock, which refuses it
        evaluate_eligibility(study, code, ATTESTATIONS, "ines")
    with django_assert_max_num_queries(15):
        randomize_subject(study, code, "ines")
    # Day 0 schedules every visit of the calendar in one read and one insert, and moves the
    # screening window's end back to day 0 (one update).
    with django_assert_max_num_queries(16):
        record_administration(study, code, "C1", dt.date(2024, 3, 10), "pia")
    with django_assert_max_num_queries(13):
        record_visit(study, code, "W3", dt.date(2024, 3, 31), "ines")
    assert verify_audit_chain().ok


@pytest.mark.django_db
def test_readers_see_their_sites_subjects_in_one_query(
    study: Any, django_assert_num_queries: Any
) -> None:
    at_01, at_02 = screen(study, "01"), screen(study, "02")
    ines, colin = StudyUser.objects.get(username="ines"), StudyUser.objects.get(username="colin")
    with django_assert_num_queries(1):  # the live role assignments, once per request
        ines_reads = access_for(study, ines)
    with django_assert_num_queries(1):
        colin_reads = access_for(study, colin)
    with django_assert_num_queries(1):
        assert sorted(s.code for s in ines_reads.subjects()) == [at_01, at_02]
    with django_assert_num_queries(1):
        assert [s.code for s in colin_reads.subjects()] == [at_01]
    with django_assert_num_queries(1):
        assert colin_reads.subject(at_01).study is study
    with pytest.raises(NotFound, match=f"no subject '{at_02}'"):
        colin_reads.subject(at_02)


@pytest.mark.django_db
def test_criteria_are_compiled_once_per_protocol_text(study: Any) -> None:
    assert study_criteria(Study.objects.get(pk=study.pk)) is study_criteria(study)
