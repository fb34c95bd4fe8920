"""The eligibility panel (`trialdesk.store.eligibility_panel`): the criteria of KNEE-TEST
evaluated for display, without writing anything.

KNEE-TEST (tests/store/protocols/KNEE-TEST.yaml): AGE 40-75, I1 attestation, I2 KL grade of
the index knee in {2, 3} (kl_grade.index_knee), I3 OA > 6 months
(screening_history.oa_duration_months), E1 BMI > 35 (the vitals form's bmi score, from height
and weight), E2 attestation.
"""

from __future__ import annotations

from typing import Any

import pytest

from trialdesk.store.eligibility_panel import attestation_answers, eligibility_panel
from trialdesk.store.models import AuditEvent, EligibilityRecord, Subject
from trialdesk.store.services import evaluate_eligibility, save_form


@pytest.mark.django_db
def test_a_new_subject_shows_unknowns_with_their_form_and_field(study: Any, consented_subject):
    code = consented_subject()
    subject = Subject.objects.get(code=code)
    events = AuditEvent.objects.count()
    panel = eligibility_panel(study, subject)
    assert [row.id for row in panel.inclusion] == ["AGE", "I1", "I2", "I3"]
    assert [row.id for row in panel.exclusion] == ["E1", "E2"]
    results = {row.id: row.result for row in panel.criteria}
    assert results == {
        "AGE": "pass",  # 63 at screening
        "I1": "unknown",
        "I2": "unknown",
        "I3": "unknown",
        "E1": "unknown",
        "E2": "unknown",
    }
    assert panel.verdict == "incomplete" and panel.screening_visit == "SCR"
    sources = {row.id: [(s.form, s.field) for s in row.missing] for row in panel.criteria}
    assert sources["I2"] == [("kl_grade", "index_knee")]
    assert sources["I3"] == [("screening_history", "oa_duration_months")]
    assert sources["E1"] == [("vitals", "bmi")]
    assert sources["I1"] == [] and sources["AGE"] == []
    bmi = panel.exclusion[0].missing[0]
    assert bmi.field_is_score and bmi.inputs == ("height_cm", "weight_kg")
    assert panel.criteria[1].attestation and panel.criteria[1].text  # the registry's words
    # Nothing written: no evaluation record, no audit event.
    assert not EligibilityRecord.objects.exists() and AuditEvent.objects.count() == events


@pytest.mark.django_db
def test_the_panel_reads_saved_forms_and_the_last_attestations(study: Any, consented_subject):
    code = consented_subject()
    save_form(study, code, "SCR", "kl_grade", {"index_knee": 4, "contralateral_knee": 1}, "ines")
    # 170 cm, 110 kg: BMI 38.1 > 35, the exclusion applies.
    save_form(study, code, "SCR", "vitals", {"height_cm": 170, "weight_kg": 110}, "ines")
    evaluate_eligibility(study, code, {"I1": True}, "ines")
    panel = eligibility_panel(study, Subject.objects.get(code=code))
    results = {row.id: row.result for row in panel.criteria}
    assert results["I2"] == "fail" and results["E1"] == "fail"  # KL 4; BMI over 35
    assert results["I3"] == "unknown" and results["I1"] == "pass"
    i1 = next(row for row in panel.criteria if row.id == "I1")
    assert i1.answer is True and i1.confirmed
    assert panel.verdict == "ineligible"
    # Answers being entered win over the recorded ones.
    other = eligibility_panel(study, Subject.objects.get(code=code), {"E2": True})
    e2 = next(row for row in other.criteria if row.id == "E2")
    assert e2.result == "fail" and not e2.confirmed
    assert next(row for row in other.criteria if row.id == "I1").result == "unknown"


@pytest.mark.django_db
def test_checkboxes_become_attestations(study: Any, consented_subject):
    protocol = study.protocol()
    # A ticked inclusion is met (true); a ticked exclusion does not apply (false).
    assert attestation_answers(protocol, {"I1", "E2"}) == {"I1": True, "E2": False}
    assert attestation_answers(protocol, {"I1"}) == {"I1": True}
    # Ids of computed criteria or unknown ids are not attestations.
    assert attestation_answers(protocol, {"I2", "X9"}) == {}
    code = consented_subject()
    for form, values in {
        "screening_history": {"oa_duration_months": 24},
        "vitals": {"height_cm": 170, "weight_kg": 70},
        "kl_grade": {"index_knee": 2, "contralateral_knee": 1},
    }.items():
        save_form(study, code, "SCR", form, values, "ines")
    answers = attestation_answers(protocol, {"I1", "E2"})
    assert evaluate_eligibility(study, code, answers, "ines").verdict == "eligible"
