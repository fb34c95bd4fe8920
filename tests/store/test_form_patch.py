"""The API's PATCH of a form, on SQLite and PostgreSQL: only the items given change, a reason
is due where a saved value changes, `complete` marks the form complete, and a bad value is
refused (400) naming the item and what is expected."""

from __future__ import annotations

from typing import Any

import pytest

from trialdesk.store.models import AuditEvent

from .test_api import STUDY, Api, detail, screen


def consented(api: Api) -> str:
    code = screen(api).json()["code"]
    consent = {"consented_on": "2024-03-01", "consent_version": "2.0"}
    assert api.post(f"{STUDY}/subjects/{code}/consent", consent).status_code == 200
    return code


@pytest.mark.django_db
def test_patch_changes_only_the_items_given(study: Any) -> None:
    api = Api("ines")
    form = f"{STUDY}/subjects/{consented(api)}/visits/SCR/forms/vitals"
    first = api.send("patch", form, {"values": {"height_cm": 170, "pulse": 64}})
    assert first.status_code == 200, first.content
    second = api.send("patch", form, {"values": {"weight_kg": 70}})
    assert second.status_code == 200, second.content
    saved = api.get(form).json()
    assert saved["values"]["height_cm"] == 170 and saved["values"]["pulse"] == 64
    assert saved["values"]["weight_kg"] == 70
    assert saved["scores"]["bmi"] == pytest.approx(70 / 1.7**2)  # kg / m^2, by hand
    assert saved["completed_at"] is None


@pytest.mark.django_db
def test_patch_needs_a_reason_for_a_changed_saved_value(study: Any) -> None:
    api = Api("ines")
    code = consented(api)
    form = f"{STUDY}/subjects/{code}/visits/SCR/forms/vitals"
    api.send("patch", form, {"values": {"height_cm": 170}})
    refused = api.send("patch", form, {"values": {"height_cm": 171}})
    assert refused.status_code == 400
    assert "a reason is required" in detail(refused) and "height_cm" in detail(refused)
    assert api.get(form).json()["values"]["height_cm"] == 170
    added = api.send("patch", form, {"values": {"weight_kg": 70}})  # first entry: no reason
    assert added.status_code == 200, added.content
    changed = api.send("patch", form, {"values": {"height_cm": 171}, "reason": "remeasured"})
    assert changed.status_code == 200 and changed.json()["values"]["height_cm"] == 171
    event = AuditEvent.objects.filter(subject=code, field="values.height_cm").latest("seq")
    assert (event.old_value, event.new_value, event.reason) == ("170", "171", "remeasured")


@pytest.mark.django_db
def test_patch_completes_and_reopens_a_form(study: Any) -> None:
    api = Api("ines")
    form = f"{STUDY}/subjects/{consented(api)}/visits/SCR/forms/vitals"
    done = api.send("patch", form, {"values": {"height_cm": 170}, "complete": True})
    assert done.status_code == 200 and done.json()["completed_at"] is not None
    refused = api.send("patch", form, {"complete": False})
    assert refused.status_code == 400 and "reopening" in detail(refused)
    reopened = api.send("patch", form, {"complete": False, "reason": "weight still to come"})
    assert reopened.status_code == 200 and reopened.json()["completed_at"] is None


@pytest.mark.django_db
def test_patch_refuses_a_bad_value_naming_the_item(study: Any) -> None:
    api = Api("ines")
    form = f"{STUDY}/subjects/{consented(api)}/visits/SCR/forms/vitals"
    too_tall = api.send("patch", form, {"values": {"height_cm": 500}})
    assert too_tall.status_code == 400
    assert detail(too_tall) == (
        "vitals item height_cm: 500 is not allowed; expected a number from 100 to 230 cm"
    )
    unknown = api.send("patch", form, {"values": {"height": 170}})
    assert unknown.status_code == 400 and "'height' is not an item" in detail(unknown)
    not_a_flag = api.send("patch", form, {"complete": "yes"})
    assert not_a_flag.status_code == 400 and "body.complete" in detail(not_a_flag)
    assert api.get(form).status_code == 404  # nothing was entered


@pytest.mark.django_db
def test_patch_is_refused_to_a_monitor(study: Any) -> None:
    code = consented(Api("ines"))
    form = f"{STUDY}/subjects/{code}/visits/SCR/forms/vitals"
    refused = Api("mona").send("patch", form, {"values": {"height_cm": 170}})
    assert refused.status_code == 403
