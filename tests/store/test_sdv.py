"""Source data verification in the store (SQLite and PostgreSQL): verify items and whole
forms, a changed value resets its item's verification and no other, verify again, who may,
the audit trail, and the status read through an `Access` (KNEE-TEST has no SDV plan: every
item is required; a copy with a plan checks the plan's choices)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from trialdesk.errors import BadInput
from trialdesk.store.access import access_for
from trialdesk.store.audit import verify_audit_chain
from trialdesk.store.errors import NotFound, NotPermitted, RecordLocked
from trialdesk.store.models import AuditEvent, ItemVerification, StudyUser
from trialdesk.store.sdv_status import SdvState, form_sdv, needs_sdv, subject_sdv
from trialdesk.store.services import add_site, add_user, create_study, save_form
from trialdesk.store.services.locks import lock_record
from trialdesk.store.services.sdv import verify_form, verify_items

from .conftest import OPERATOR, PROTOCOL, screen_and_consent

VITALS = {"height_cm": 170, "weight_kg": 70}


def access(study: Any, username: str) -> Any:
    return access_for(study, StudyUser.objects.get(username=username))


def sdv_events(code: str) -> list[tuple[str, str, str, str]]:
    return list(
        AuditEvent.objects.filter(subject=code, object_type="ItemVerification")
        .order_by("seq")
        .values_list("action", "field", "old_value", "new_value")
    )


@pytest.mark.django_db
def test_verify_a_form_change_a_value_and_only_that_item_is_reset(study: Any) -> None:
    code = screen_and_consent(study)
    save_form(study, code, "SCR", "vitals", VITALS, "ines")
    verified = verify_form(study, code, "SCR", "vitals", by="mona")
    assert [v.item for v in verified] == ["height_cm", "weight_kg"]
    assert form_sdv(access(study, "mona"), code, "SCR", "vitals").state is SdvState.VERIFIED

    save_form(study, code, "SCR", "vitals", {**VITALS, "weight_kg": 72}, "ines", "typo")
    status = form_sdv(access(study, "mona"), code, "SCR", "vitals")
    assert status.state is SdvState.PARTLY_VERIFIED
    assert status.verified == ("height_cm",)
    assert status.reset == ("weight_kg",)
    weight = ItemVerification.objects.get(item="weight_kg")
    assert weight.reset_at is not None and weight.value == "70"
    assert ItemVerification.objects.get(item="height_cm").reset_at is None
    assert sdv_events(code)[-1][:3] == ("sdv.reset", "reset_at", "null")

    # Verifying the form again sets the changed item only; the unchanged one is left alone.
    before = AuditEvent.objects.count()
    verify_form(study, code, "SCR", "vitals", by="mona")
    weight.refresh_from_db()
    assert (weight.value, weight.reset_at) == ("72", None)
    assert weight.verified_at > ItemVerification.objects.get(item="height_cm").verified_at
    new = list(AuditEvent.objects.filter(seq__gt=before).values_list("action", "field"))
    assert sorted(new) == [
        ("sdv.verified", "reset_at"),
        ("sdv.verified", "value"),
        ("sdv.verified", "verified_at"),
    ]
    assert form_sdv(access(study, "mona"), code, "SCR", "vitals").state is SdvState.VERIFIED
    assert verify_audit_chain().ok


@pytest.mark.django_db
def test_verify_items_one_by_one_and_again_changes_nothing(study: Any) -> None:
    code = screen_and_consent(study)
    save_form(study, code, "SCR", "vitals", VITALS, "ines")
    verify_items(study, code, "SCR", "vitals", ["weight_kg"], by="mona")
    status = form_sdv(access(study, "mona"), code, "SCR", "vitals")
    assert (status.state, status.required, status.verified) == (
        SdvState.PARTLY_VERIFIED,
        ("height_cm", "weight_kg"),
        ("weight_kg",),
    )
    events = AuditEvent.objects.count()
    verify_items(study, code, "SCR", "vitals", ["weight_kg"], by="mona")
    assert AuditEvent.objects.count() == events
    created = {field: new for action, field, _, new in sdv_events(code)}
    assert (created["item"], created["verified_by"]) == ('"weight_kg"', '"mona"')


@pytest.mark.django_db
def test_only_a_monitor_of_the_subjects_site_verifies(study: Any) -> None:
    code = screen_and_consent(study, "01")
    save_form(study, code, "SCR", "vitals", VITALS, "ines")
    add_user(study, "max", "monitor", OPERATOR, "02")
    add_user(study, "dana", "data_manager", OPERATOR)
    for who in ("max", "ines", "colin", "dana"):
        with pytest.raises(NotPermitted):
            verify_form(study, code, "SCR", "vitals", by=who)
    assert not ItemVerification.objects.exists()


@pytest.mark.django_db
def test_what_cannot_be_verified_is_refused_and_changes_nothing(study: Any) -> None:
    code = screen_and_consent(study)
    save_form(study, code, "SCR", "screening_history", {"oa_duration_months": 24}, "ines")
    events = AuditEvent.objects.count()
    refusals = [
        (NotFound, lambda: verify_form(study, code, "SCR", "vitals", by="mona")),
        (BadInput, lambda: verify_form(study, code, "W3", "vitals", by="mona")),
        (BadInput, lambda: verify_form(study, code, "X9", "womac", by="mona")),
        (NotFound, lambda: verify_form(study, "NOPE", "SCR", "vitals", by="mona")),
        (BadInput, lambda: verify_items(study, code, "SCR", "screening_history", [], by="mona")),
        (
            BadInput,
            lambda: verify_items(study, code, "SCR", "screening_history", ["bmi"], by="mona"),
        ),
        (
            BadInput,
            lambda: verify_items(
                study, code, "SCR", "screening_history", ["oa_compartment"], by="mona"
            ),
        ),
    ]
    for error, call in refusals:
        with pytest.raises(error, match=r"subject|NOPE"):
            call()
    assert AuditEvent.objects.count() == events
    assert not ItemVerification.objects.exists()


@pytest.mark.django_db
def test_a_locked_form_is_not_verified(study: Any) -> None:
    code = screen_and_consent(study)
    save_form(study, code, "SCR", "vitals", VITALS, "ines")
    add_user(study, "dana", "data_manager", OPERATOR)
    lock_record(study, code, level="form", visit_id="SCR", form="vitals", by="dana")
    with pytest.raises(RecordLocked):
        verify_form(study, code, "SCR", "vitals", by="mona")
    assert not ItemVerification.objects.exists()


@pytest.mark.django_db
def test_needs_sdv_lists_what_waits_for_the_readers_sites(study: Any) -> None:
    north = screen_and_consent(study, "01")
    south = screen_and_consent(study, "02")
    for code in (north, south):
        save_form(study, code, "SCR", "vitals", VITALS, "ines")
        save_form(study, code, "SCR", "kl_grade", {"index_knee": 2}, "ines")
    verify_form(study, north, "SCR", "vitals", by="mona")
    waiting = [(r.code, r.form, r.state) for r in needs_sdv(access(study, "mona"))]
    assert waiting == [
        (north, "kl_grade", SdvState.TO_VERIFY),
        (south, "vitals", SdvState.TO_VERIFY),
        (south, "kl_grade", SdvState.TO_VERIFY),
    ]
    assert [r.code for r in needs_sdv(access(study, "mona"), site="01")] == [north]
    add_user(study, "max", "monitor", OPERATOR, "02")
    assert {r.code for r in needs_sdv(access(study, "max"))} == {south}
    with pytest.raises(NotFound):
        form_sdv(access(study, "max"), north, "SCR", "vitals")
    states = {r.form: r.state for r in subject_sdv(access(study, "mona"), north)}
    assert states == {"vitals": SdvState.VERIFIED, "kl_grade": SdvState.TO_VERIFY}


PLAN = """
sdv_plan:
  first_subjects: 1
  critical_items: [vitals.weight_kg]
  sites:
    "02": {first_subjects: 0}
"""


@pytest.mark.django_db
def test_the_plan_asks_for_the_first_subject_in_full_then_the_critical_items(
    django_db_setup: str, tmp_path: Path
) -> None:
    text = PROTOCOL.read_text(encoding="utf-8").replace("\nsites:", PLAN + "sites:", 1)
    path = tmp_path / "KNEE-TEST.yaml"
    path.write_text(text, encoding="utf-8")
    study = create_study(path, OPERATOR)
    add_site(study, "01", OPERATOR)
    add_site(study, "02", OPERATOR)
    add_user(study, "ines", "investigator", OPERATOR)
    add_user(study, "mona", "monitor", OPERATOR)
    # All screened on the same day (screen_and_consent): the order of entry decides.
    codes = [screen_and_consent(study, site) for site in ("01", "01", "02")]
    for code in codes:
        save_form(study, code, "SCR", "vitals", VITALS, "ines")
        save_form(study, code, "SCR", "kl_grade", {"index_knee": 2}, "ines")
    reader = access(study, "mona")
    required = {
        (code, form): form_sdv(reader, code, "SCR", form).required
        for code in codes
        for form in ("vitals", "kl_grade")
    }
    first, second, south = codes
    assert required == {
        # site 01's first subject: everything
        (first, "vitals"): ("height_cm", "weight_kg"),
        (first, "kl_grade"): ("index_knee",),
        # its second: the critical item only
        (second, "vitals"): ("weight_kg",),
        (second, "kl_grade"): (),
        # site 02's own rule has no first subjects and no critical items
        (south, "vitals"): (),
        (south, "kl_grade"): (),
    }
    assert form_sdv(reader, south, "SCR", "vitals").state is SdvState.NOT_REQUIRED
    verify_items(study, second, "SCR", "vitals", ["weight_kg"], by="mona")
    assert form_sdv(reader, second, "SCR", "vitals").state is SdvState.VERIFIED
    assert [(r.code, r.form) for r in needs_sdv(reader)] == [(first, "vitals"), (first, "kl_grade")]
