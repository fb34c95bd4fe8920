"""Investigators' electronic signatures (21 CFR 11.50, 11.70, 11.200) on both backends: the
manifestation in the record and the audit trail, the hash of what was signed, a later change
breaking it, and the refusals (wrong password, no printed name, not ready, signed already)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import pytest
from django.utils import timezone
from typer.testing import CliRunner

from trialdesk.cli import app
from trialdesk.errors import BadInput
from trialdesk.store.access import access_for
from trialdesk.store.audit import verify_audit_chain
from trialdesk.store.errors import AlreadyExists, NotPermitted, SubjectStateError, VisitStateError
from trialdesk.store.extract import extract_study
from trialdesk.store.models import AuditEvent, FormRecord, Signature, StudyUser
from trialdesk.store.services import add_user, record_visit, save_form, withdraw_subject
from trialdesk.store.services.accounts import set_password
from trialdesk.store.services.queries import answer_query, raise_query
from trialdesk.store.services.setup import set_full_name
from trialdesk.store.services.signatures import (
    WrongPassword,
    content_matches,
    sign,
    signature_problems,
    signature_status,
)

from .conftest import OPERATOR, WOMAC_ALL_ONES

PASSWORD = "ines-signs-with-this-77"
PRINTED_NAME = "Ines Holm, MD"
#: The stated meanings, written out here as the signature page and the exports must show them.
CASEBOOK_MEANING = (
    "Approval as investigator: I have reviewed this subject's casebook and confirm that its "
    "data are complete and accurate."
)
VISIT_MEANING = (
    "Review as investigator: I have reviewed the data of this visit and confirm that they are "
    "accurate."
)
#: The screening forms as the store keeps them: every item of the instrument, missing ones null.
STORED_SCREENING = {
    "kl_grade": {"contralateral_knee": 1, "index_knee": 2},
    "screening_history": {
        "index_knee_side": None,
        "knee_pain_duration_months": None,
        "oa_compartment": None,
        "oa_duration_months": 24,
    },
    "vitals": {
        "diastolic_bp": None,
        "height_cm": 170,
        "pulse": None,
        "systolic_bp": None,
        "temperature_c": None,
        "weight_kg": 70,
    },
}


#: MD5 instead of Argon2 for the passwords set and checked here (tests/store/conftest.py).
pytestmark = pytest.mark.usefixtures("fast_password_hashing")


@pytest.fixture
def investigator(study: Any) -> str:
    set_full_name("ines", PRINTED_NAME, OPERATOR)
    set_password("ines", PASSWORD, OPERATOR)
    return "ines"


def ended_subject(study: Any, eligible_subject: Any, *, complete_forms: bool = False) -> str:
    """An eligible subject whose screening visit is done, then withdrawn: a casebook to sign."""
    code = eligible_subject()
    record_visit(study, code, "SCR", dt.date(2024, 3, 1), "ines")
    if complete_forms:
        for form, values in STORED_SCREENING.items():
            save_form(study, code, "SCR", form, values, "colin", complete=True)
    withdraw_subject(study, code, "patient's decision", "ines")
    return code


def sha256_of(content: dict) -> str:
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def scr_visit(complete: bool, vitals: dict | None = None) -> dict:
    forms = {**STORED_SCREENING, "vitals": vitals or STORED_SCREENING["vitals"]}
    return {
        "visit_id": "SCR",
        "status": "done",
        "actual_date": "2024-03-01",
        "missed_reason": None,
        "forms": [
            {"form": form, "values": values, "complete": complete}
            for form, values in sorted(forms.items())
        ],
    }


def events_of(signature: Signature, action: str) -> dict[str, Any]:
    return {
        event.field: json.loads(event.new_value)
        for event in AuditEvent.objects.filter(
            object_type="Signature", object_id=str(signature.pk), action=action
        )
    }


@pytest.mark.django_db
def test_a_signed_casebook_is_broken_by_a_change_and_signed_again(
    study: Any, eligible_subject: Any, investigator: str
) -> None:
    code = ended_subject(study, eligible_subject)
    before = timezone.now()
    signature = sign(study, code, meaning="casebook_approval", password=PASSWORD, by=investigator)
    # The manifestation: printed name, date and time, meaning (11.50(a)).
    assert (signature.printed_name, signature.meaning) == (PRINTED_NAME, CASEBOOK_MEANING)
    assert before <= signature.signed_at <= timezone.now()
    # The hash is of the casebook as the module docstring describes it, built here by hand.
    casebook = {
        "study": "KNEE-TEST v1.0",
        "subject": code,
        "status": "withdrawn",
        "visits": [scr_visit(complete=False)],
        "adverse_events": [],
    }
    assert signature.content_sha256 == sha256_of(casebook)
    assert content_matches(signature) and signature_problems(study) == []
    # The audit trail carries the manifestation and the meaning, and names the subject.
    signed = events_of(signature, "signature.signed")
    assert signed["printed_name"] == PRINTED_NAME
    assert signed["meaning"] == CASEBOOK_MEANING
    assert signed["signer"] == "ines"
    assert dt.datetime.fromisoformat(signed["signed_at"]) == signature.signed_at
    assert signed["content_sha256"] == sha256_of(casebook)
    assert set(
        AuditEvent.objects.filter(action="signature.signed").values_list("subject", "by")
    ) == {(code, "ines")}

    # The coordinator corrects a value: the signature is broken, with what and who.
    save_form(
        study,
        code,
        "SCR",
        "vitals",
        {"height_cm": 170, "weight_kg": 72},
        "colin",
        reason="transcription error",
    )
    signature.refresh_from_db()
    assert signature.broken_at is not None
    assert (
        signature.broken_by == f"subject {code}, visit SCR, form vitals: weight_kg changed by colin"
    )
    broken = events_of(signature, "signature.broken")
    assert broken["broken_by"] == signature.broken_by
    assert not content_matches(signature)
    [entry] = signature_status(access_for(study, StudyUser.objects.get(username="mona")), code)
    assert (entry.status, entry.printed_name, entry.meaning_key) == (
        "broken",
        PRINTED_NAME,
        "casebook_approval",
    )

    # Signed again: a new valid signature over the new content; the broken one stays.
    again = sign(study, code, meaning="casebook_approval", password=PASSWORD, by=investigator)
    changed = {
        **casebook,
        "visits": [scr_visit(False, {**STORED_SCREENING["vitals"], "weight_kg": 72})],
    }
    assert again.content_sha256 == sha256_of(changed)
    statuses = signature_status(access_for(study, StudyUser.objects.get(username="ines")), code)
    assert [entry.status for entry in statuses] == ["broken", "valid"]
    with pytest.raises(AlreadyExists, match="already signed with this meaning by Ines Holm, MD"):
        sign(study, code, meaning="casebook_approval", password=PASSWORD, by=investigator)
    assert verify_audit_chain().ok

    # The analysis extract carries both signatures, blinded (no arm anywhere in them).
    rows = extract_study(access_for(study, StudyUser.objects.get(username="mona"))).signatures
    assert [(row["subject"], row["visit_id"], row["printed_name"]) for row in rows] == [
        (code, "", PRINTED_NAME),
        (code, "", PRINTED_NAME),
    ]
    assert rows[0]["meaning"] == CASEBOOK_MEANING and rows[0]["broken_at"] is not None
    assert rows[1]["broken_at"] is None and rows[1]["signed_at"] == again.signed_at
    assert not any("arm" in key for row in rows for key in row)


@pytest.mark.django_db
def test_a_visit_signature_needs_complete_forms_and_is_broken_by_its_visit_only(
    study: Any, eligible_subject: Any, investigator: str
) -> None:
    code = eligible_subject()
    record_visit(study, code, "SCR", dt.date(2024, 3, 1), "ines")
    with pytest.raises(VisitStateError, match="forms not marked complete: kl_grade, "):
        sign(
            study, code, meaning="visit_review", password=PASSWORD, by=investigator, visit_id="SCR"
        )
    with pytest.raises(VisitStateError, match="visit D0 is not in the store yet"):
        sign(study, code, meaning="visit_review", password=PASSWORD, by=investigator, visit_id="D0")
    for form, values in STORED_SCREENING.items():
        save_form(study, code, "SCR", form, values, "colin", complete=True)
    visit = sign(
        study, code, meaning="visit_review", password=PASSWORD, by=investigator, visit_id="SCR"
    )
    assert visit.meaning == VISIT_MEANING
    expected = {"study": "KNEE-TEST v1.0", "subject": code, "visit": scr_visit(complete=True)}
    assert visit.content_sha256 == sha256_of(expected)
    with pytest.raises(BadInput, match="meaning 'casebook_approval'; expected visit_review"):
        sign(study, code, meaning="casebook_approval", password=PASSWORD, by="ines", visit_id="SCR")
    # Another visit's data do not touch this visit's signature.
    save_form(study, code, "D0", "womac", WOMAC_ALL_ONES, "ada")
    visit.refresh_from_db()
    assert visit.broken_at is None and content_matches(visit)
    # A change behind the services' back leaves the signature standing but no longer matching.
    record = FormRecord.objects.get(subject__code=code, form="kl_grade")
    FormRecord.objects.filter(pk=record.pk).update(values={**record.values, "index_knee": 3})
    visit.refresh_from_db()
    assert visit.broken_at is None and not content_matches(visit)
    assert signature_problems(study) == [
        f"subject {code}, visit SCR: the signature of {PRINTED_NAME} at "
        f"{visit.signed_at.isoformat()} no longer matches the signed data (changed outside "
        "the services)"
    ]


@pytest.mark.django_db
def test_signing_is_refused_without_the_password_a_printed_name_or_the_role(
    study: Any, eligible_subject: Any, investigator: str, caplog: Any
) -> None:
    code = ended_subject(study, eligible_subject)
    events = AuditEvent.objects.count()
    with pytest.raises(WrongPassword, match="the password is not ines's; nothing was signed"):
        sign(study, code, meaning="casebook_approval", password="not-my-password", by="ines")
    assert "not-my-password" not in caplog.text and "wrong password of ines" in caplog.text
    with pytest.raises(BadInput, match="password is required again"):
        sign(study, code, meaning="casebook_approval", password="", by="ines")
    with pytest.raises(BadInput, match="meaning 'approve'"):
        sign(study, code, meaning="approve", password=PASSWORD, by="ines")
    # An investigator without a printed name cannot sign, whatever their password.
    add_user(study, "ivar", "investigator", OPERATOR, "01")
    set_password("ivar", "ivar-signs-with-this-88", OPERATOR)
    with pytest.raises(NotPermitted, match="user ivar has no printed name"):
        sign(
            study, code, meaning="casebook_approval", password="ivar-signs-with-this-88", by="ivar"
        )
    # Only investigators sign, and only at their sites.
    set_password("colin", "colin-has-a-password-99", OPERATOR)
    with pytest.raises(NotPermitted, match="colin may not sign casebooks at site 01"):
        sign(
            study, code, meaning="casebook_approval", password="colin-has-a-password-99", by="colin"
        )
    add_user(study, "iris", "investigator", OPERATOR, "02", full_name="Iris Berg")
    with pytest.raises(NotPermitted, match="iris may not sign casebooks at site 01"):
        sign(study, code, meaning="casebook_approval", password="whatever-it-is", by="iris")
    # Nothing was written by the refusals (the printed name and passwords were set before).
    refused = AuditEvent.objects.exclude(object_type__in=["StudyUser", "RoleAssignment"])
    assert refused.filter(seq__gt=events).count() == 0
    assert not Signature.objects.exists()


@pytest.mark.django_db
def test_a_casebook_is_signed_once_participation_ended_and_no_query_is_open(
    study: Any, eligible_subject: Any, investigator: str
) -> None:
    active = eligible_subject()
    with pytest.raises(SubjectStateError, match="the subject is eligible; a casebook is signed"):
        sign(study, active, meaning="casebook_approval", password=PASSWORD, by=investigator)
    code = ended_subject(study, eligible_subject)
    query = raise_query(
        study,
        code,
        text="Weight 70 kg: please confirm.",
        by="mona",
        visit_id="SCR",
        form="vitals",
        item="weight_kg",
    )
    with pytest.raises(SubjectStateError, match="1 open query; the site answers"):
        sign(study, code, meaning="casebook_approval", password=PASSWORD, by=investigator)
    answer_query(study, code, query.number, text="Confirmed in the source.", by="colin")
    signature = sign(study, code, meaning="casebook_approval", password=PASSWORD, by=investigator)
    assert signature.broken_at is None


@pytest.mark.django_db
def test_printed_names_are_audited_and_checked(study: Any) -> None:
    add_user(study, "ines", "investigator", OPERATOR, "01", full_name="Ines Holm")
    set_full_name("ines", PRINTED_NAME, OPERATOR)
    names = [
        (json.loads(event.old_value), json.loads(event.new_value))
        for event in AuditEvent.objects.filter(action="user.named", field="full_name").order_by(
            "seq"
        )
    ]
    assert names == [(None, "Ines Holm"), ("Ines Holm", PRINTED_NAME)]
    for bad in ("", " Ines", "x" * 201):
        with pytest.raises(BadInput, match="printed name of ines"):
            set_full_name("ines", bad, OPERATOR)


@pytest.mark.django_db
def test_printed_names_from_the_command_line(study: Any) -> None:
    added = CliRunner().invoke(
        app,
        ["user", "add", "ivar", "--role", "investigator", "--site", "01", "--name", "Ivar Lund"],
    )
    assert added.exit_code == 0, added.output
    assert StudyUser.objects.get(username="ivar").full_name == "Ivar Lund"
    renamed = CliRunner().invoke(app, ["user", "name", "ivar", "Ivar Lund, MD, PhD"])
    assert renamed.exit_code == 0 and "ivar signs as Ivar Lund, MD, PhD" in renamed.output
    blank = CliRunner().invoke(app, ["user", "name", "ivar", ""])
    assert blank.exit_code == 2 and "error: printed name of ivar: ''; expected 1 to 200" in (
        blank.output
    )
    nobody = CliRunner().invoke(app, ["user", "name", "nobody", "No Body"])
    assert nobody.exit_code == 2 and "user 'nobody' is not in the store" in nobody.output
