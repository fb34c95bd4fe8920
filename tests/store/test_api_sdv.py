"""Source data verification through the REST API (SQLite and PostgreSQL): verify a form,
change a value, see its SDV reset, verify it again; items one by one; who may; bad input
answered with 4xx, never 500."""

from __future__ import annotations

from typing import Any

import pytest

from trialdesk.store.audit import verify_audit_chain
from trialdesk.store.models import ItemVerification
from trialdesk.store.services import add_user

from .conftest import OPERATOR, screen_and_consent
from .test_api import Api, detail

VITALS = {"height_cm": 170, "weight_kg": 70}


def form_url(code: str, visit: str = "SCR", form: str = "vitals") -> str:
    return f"/api/v1/studies/KNEE-TEST/subjects/{code}/visits/{visit}/forms/{form}"


@pytest.mark.django_db
def test_verify_a_form_change_a_value_see_its_sdv_reset(study: Any) -> None:
    code = screen_and_consent(study)
    colin, mona = Api("colin"), Api("mona")
    assert colin.send("put", form_url(code), {"values": VITALS}).status_code == 200
    sdv = form_url(code) + "/sdv"

    before = mona.get(sdv).json()
    assert (before["state"], before["required"], before["verified"]) == (
        "to_verify",
        ["height_cm", "weight_kg"],
        [],
    )
    verified = mona.post(sdv)
    assert verified.status_code == 200, verified.content
    assert verified.json()["state"] == "verified"
    weight = next(i for i in verified.json()["items"] if i["item"] == "weight_kg")
    assert (weight["verified"], weight["verified_by"], weight["reset_at"]) == (True, "mona", None)

    changed = colin.send(
        "put", form_url(code), {"values": {**VITALS, "weight_kg": 72}, "reason": "scale misread"}
    )
    assert changed.status_code == 200, changed.content
    after = mona.get(sdv).json()
    assert (after["state"], after["verified"], after["reset"]) == (
        "partly_verified",
        ["height_cm"],
        ["weight_kg"],
    )
    weight = next(i for i in after["items"] if i["item"] == "weight_kg")
    assert weight["verified"] is False and weight["reset_at"] is not None

    again = mona.post(sdv + "/items", {"items": ["weight_kg"]})
    assert again.status_code == 200, again.content
    assert (again.json()["state"], again.json()["reset"]) == ("verified", [])
    listed = mona.get(f"/api/v1/studies/KNEE-TEST/subjects/{code}/sdv").json()
    assert [(f["visit"], f["form"], f["state"]) for f in listed] == [("SCR", "vitals", "verified")]
    assert verify_audit_chain().ok


@pytest.mark.django_db
def test_only_a_monitor_of_the_site_verifies(study: Any) -> None:
    code = screen_and_consent(study, "01")
    Api("colin").send("put", form_url(code), {"values": VITALS})
    sdv = form_url(code) + "/sdv"
    refused = Api("colin").post(sdv)
    assert refused.status_code == 403
    assert "colin" in detail(refused)
    add_user(study, "max", "monitor", OPERATOR, "02")
    # A monitor of site 02 does not find a subject of site 01.
    assert Api("max").post(sdv).status_code == 404
    assert Api("max").get(sdv).status_code == 404
    assert not ItemVerification.objects.exists()


@pytest.mark.django_db
def test_bad_input_is_a_client_error_that_names_the_place(study: Any) -> None:
    code = screen_and_consent(study)
    mona = Api("mona")
    Api("colin").send("put", form_url(code), {"values": VITALS})
    sdv = form_url(code) + "/sdv"
    answers = [
        (mona.post(form_url(code, form="kl_grade") + "/sdv"), 404, "not entered"),
        (mona.get(form_url(code, form="kl_grade") + "/sdv"), 404, "not entered"),
        (mona.post(form_url(code, visit="ZZ") + "/sdv"), 400, "no visit 'ZZ'"),
        (mona.post(form_url(code, form="womac") + "/sdv"), 400, "not collected"),
        (mona.post(sdv + "/items", {"items": ["pulse"]}), 400, "no saved value"),
        (mona.post(sdv + "/items", {"items": ["nope"]}), 400, "no item nope"),
        (mona.post(sdv + "/items", {"items": []}), 400, "items"),
        (mona.post(sdv + "/items", {"items": "weight_kg"}), 400, "items"),
        (mona.post(sdv + "/items", {"items": ["weight_kg"], "extra": 1}), 400, "extra"),
        (mona.post(sdv + "/items", {"items": [""]}), 400, "items"),
        (mona.post(form_url("NOPE") + "/sdv"), 404, "NOPE"),
    ]
    for response, status, words in answers:
        assert response.status_code == status, (response.status_code, response.content)
        assert words in detail(response)
    assert not ItemVerification.objects.exists()
