"""The REST API through Django's test client with bearer tokens, on SQLite and PostgreSQL:
authentication, every write endpoint's happy path and a bad input, site scoping, errors as
`{"detail": ...}`; and `trialdesk serve` answering over HTTP."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from support.throwaway import free_port
from trialdesk.store.audit import verify_audit_chain
from trialdesk.store.models import AdverseEvent, AllocationSlot, AuditEvent, Deviation, Subject
from trialdesk.store.services import add_user, create_study, lock_study, randomize_subject
from trialdesk.store.services.tokens import create_token, revoke_token, token_prefix
from trialdesk.web.settings import stored_secret_key

from .conftest import OPERATOR, PROTOCOL, SCREENING_FORMS, WOMAC_ALL_ONES, first_future_date

STUDY = "/api/v1/studies/KNEE-TEST"
DAY0 = dt.date(2024, 4, 1)
ADVERSE_EVENT = {
    "term": "Knee effusion",
    "onset_date": "2024-04-10",
    "ctcae_grade": 2,
    "seriousness": [],
    "relatedness": "possible",
    "expected": True,
    "action_taken": "dose_not_changed",
    "outcome": "recovering",
    "awareness_at": "2024-04-10T09:00:00Z",
}


class Api:
    """Django's test client speaking JSON as one user, with that user's bearer token."""

    def __init__(self, username: str):
        self.client = Client(
            headers={"Authorization": f"Bearer {create_token(username, OPERATOR)}"}
        )

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(path, params)

    def send(self, method: str, path: str, body: dict | None = None) -> Any:
        data = json.dumps(body if body is not None else {})
        return getattr(self.client, method)(path, data, content_type="application/json")

    def post(self, path: str, body: dict | None = None) -> Any:
        return self.send("post", path, body)


def detail(response: Any) -> str:
    return response.json()["detail"]


# ---------------------------------------------------------------- authentication


@pytest.mark.django_db
def test_requests_without_a_live_token_are_unauthorized(study: Any) -> None:
    assert Client().get("/api/v1/me").status_code == 401
    unknown = Client(headers={"Authorization": "Bearer td_" + "x" * 43})
    assert unknown.get("/api/v1/me").json() == {"detail": "Unauthorized"}
    token = create_token("ines", OPERATOR)
    live = Client(headers={"Authorization": f"Bearer {token}"})
    assert live.get("/api/v1/me").status_code == 200
    basic = Client(headers={"Authorization": f"Basic {token}"})
    assert basic.get("/api/v1/me").status_code == 401
    revoke_token(token_prefix(token), OPERATOR)
    assert live.get("/api/v1/me").status_code == 401


@pytest.mark.django_db
def test_openapi_document_and_docs_page_need_no_token(study: Any) -> None:
    document = Client().get("/api/v1/openapi.json").json()
    assert document["info"]["version"] == "1"
    assert "/api/v1/studies/{study}/subjects/{code}/randomize" in document["paths"]
    docs = Client().get("/api/v1/docs")
    assert docs.status_code == 200 and b"/static/ninja/swagger-ui-bundle.js" in docs.content
    bundle = Client().get("/static/ninja/swagger-ui-bundle.js")
    assert bundle.status_code == 200  # served locally: the docs page works offline


@pytest.mark.django_db
def test_me_lists_roles_and_blinding(study: Any) -> None:
    assert Api("colin").get("/api/v1/me").json() == {
        "user": "colin",
        "studies": [
            {
                "study": "KNEE-TEST",
                "version": "1.0",
                "roles": [{"role": "coordinator", "site": "01"}],
                "blinded": True,
                "unblinded_sites": [],
            }
        ],
    }
    assert Api("pia").get("/api/v1/me").json()["studies"][0]["blinded"] is False


# ---------------------------------------------------------------- studies


@pytest.mark.django_db
def test_study_plan_shows_arms_only_to_unblinded_users(study: Any) -> None:
    blinded = Api("ines").get(STUDY).json()
    assert blinded["blinded"] is True and "arms" not in blinded
    assert [site["code"] for site in blinded["sites"]] == ["01", "02"]
    assert [visit["id"] for visit in blinded["visits"]] == ["SCR", "D0", "W3", "W12"]
    assert blinded["forms"] == ["screening_history", "vitals", "kl_grade", "womac"]
    assert [step["id"] for step in blinded["treatment_plan"]] == ["C1", "C2"]
    unblinded = Api("pia").get(STUDY).json()
    assert [arm["id"] for arm in unblinded["arms"]] == ["CELLS", "SALINE"]
    assert Api("pia").get("/api/v1/studies").json() == [
        {
            "study": "KNEE-TEST",
            "version": "1.0",
            "locked": False,
            "reopened_after_lock": False,
            "blinded": False,
            "unblinded_sites": ["01", "02"],
        }
    ]


@pytest.mark.django_db
def test_unknown_study_or_version_is_not_found(study: Any) -> None:
    api = Api("ines")
    assert detail(api.get("/api/v1/studies/NCT00000000")) == "no study NCT00000000 in the store"
    response = api.get(STUDY, version="9.9")
    assert (
        response.status_code == 404 and detail(response) == "no study KNEE-TEST v9.9 in the store"
    )
    assert api.get(STUDY, version="1.0").status_code == 200


@pytest.mark.django_db
def test_a_study_with_two_versions_needs_the_version(study: Any, tmp_path: Path) -> None:
    second = tmp_path / "KNEE-TEST.yaml"
    second.write_text(PROTOCOL.read_text().replace('version: "1.0"', 'version: "2.0"'))
    add_user(create_study(second, OPERATOR), "ines", "investigator", OPERATOR)
    api = Api("ines")
    ambiguous = api.get(STUDY)
    assert ambiguous.status_code == 400
    assert detail(ambiguous) == "study KNEE-TEST has versions 1.0, 2.0; name one with ?version="
    assert api.get(f"{STUDY}/subjects", version="2.0").json() == []
    assert [s["version"] for s in api.get("/api/v1/studies").json()] == ["1.0", "2.0"]
    assert [s["version"] for s in Api("colin").get("/api/v1/studies").json()] == ["1.0"]


# ---------------------------------------------------------------- a subject from screening on


def screen(api: Api, site: str = "01", **changes: Any) -> Any:
    body = {"site": site, "year_of_birth": 1960, "age": 63, "sex": "female"}
    return api.post(f"{STUDY}/subjects", {**body, "screened_on": "2024-03-01", **changes})


def eligible_via_api(api: Api, site: str = "01") -> str:
    code = screen(api, site).json()["code"]
    subject = f"{STUDY}/subjects/{code}"
    consent = {"consented_on": "2024-03-01", "consent_version": "2.0"}
    assert api.post(f"{subject}/consent", consent).status_code == 200
    for form, values in SCREENING_FORMS.items():
        response = api.send("put", f"{subject}/visits/SCR/forms/{form}", {"values": values})
        assert response.status_code == 200, response.content
    result = api.post(f"{subject}/eligibility", {"attestations": {"I1": True, "E2": False}})
    assert result.json()["verdict"] == "eligible", result.content
    return code


@pytest.mark.django_db
def test_screening_consent_and_eligibility(study: Any) -> None:
    api = Api("ines")
    response = screen(api)
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["code"] == "01-001" and created["status"] == "screened"
    assert created["consent"] is None and created["kit_numbers"] == []
    assert "arm" not in created
    subject = f"{STUDY}/subjects/01-001"
    future = first_future_date().isoformat()
    refused = api.post(f"{subject}/consent", {"consented_on": future, "consent_version": "2"})
    assert refused.status_code == 400 and "is in the future" in detail(refused)
    consented = api.post(
        f"{subject}/consent", {"consented_on": "2024-03-01", "consent_version": "2"}
    )
    assert consented.json()["consent"] == {"consent_version": "2", "consented_on": "2024-03-01"}
    incomplete = api.post(f"{subject}/eligibility", {"attestations": {"I1": True}})
    assert incomplete.status_code == 200 and incomplete.json()["verdict"] == "incomplete"
    bad = api.post(f"{subject}/eligibility", {"attestations": {"I1": "perhaps"}})
    assert bad.status_code == 400
    assert detail(bad).startswith("body.attestations.I1: Input should be a valid boolean")
    shown = api.get(subject).json()
    assert shown["status"] == "consented" and shown["eligibility"]["verdict"] == "incomplete"


@pytest.mark.django_db
def test_bad_screening_input_is_refused_and_nothing_written(study: Any) -> None:
    api = Api("ines")
    events = AuditEvent.objects.count()
    wrong_sex = screen(api, sex="unknown")
    assert wrong_sex.status_code == 400
    assert detail(wrong_sex) == "sex 'unknown'; expected one of female, male"
    wrong_type = screen(api, year_of_birth="nineteen sixty")
    assert wrong_type.status_code == 400 and "year_of_birth" in detail(wrong_type)
    assert detail(screen(api, site="99")) == "KNEE-TEST v1.0: no open site '99'"
    assert not Subject.objects.exists() and AuditEvent.objects.count() == events


@pytest.mark.django_db
def test_randomization_and_administrations(study: Any) -> None:
    api = Api("ines")
    not_eligible = screen(api).json()["code"]
    refused = api.post(f"{STUDY}/subjects/{not_eligible}/randomize")
    assert refused.status_code == 409 and "randomization needs the subject" in detail(refused)
    code = eligible_via_api(api)
    subject = f"{STUDY}/subjects/{code}"
    randomized = api.post(f"{subject}/randomize")
    assert randomized.status_code == 200
    body = randomized.json()
    assert set(body) == {"subject", "randomization_number", "kit_numbers"}
    assert body["randomization_number"] == "R01-001" and len(body["kit_numbers"]) == 2
    unknown = api.post(
        f"{subject}/administrations", {"administration_id": "C9", "administered_on": "2024-04-01"}
    )
    assert (
        unknown.status_code == 400
        and detail(unknown) == f"subject {code}: no administration 'C9' (C1, C2)"
    )
    given = Api("pia").post(
        f"{subject}/administrations", {"administration_id": "C1", "administered_on": "2024-04-01"}
    )
    assert given.status_code == 201
    assert given.json() == {
        "administration_id": "C1",
        "kit_number": body["kit_numbers"][0],
        "administered_on": "2024-04-01",
    }
    shown = api.get(subject).json()
    assert shown["status"] == "treated" and shown["day0"] == "2024-04-01"
    assert shown["kit_numbers"] == body["kit_numbers"] and "arm" not in shown
    assert [a["administration_id"] for a in shown["administrations"]] == ["C1"]


@pytest.mark.django_db
def test_status_steps(study: Any, eligible_subject: Any, consented_subject: Any) -> None:
    api = Api("ines")
    code = eligible_subject()
    subject = f"{STUDY}/subjects/{code}"
    no_reason = api.post(f"{subject}/withdraw", {"reason": " "})
    assert no_reason.status_code == 400 and detail(no_reason) == (
        f"withdrawal of {code}: a reason is required"
    )
    lost = api.post(f"{subject}/lost-to-follow-up", {"reason": "moved away"})
    assert lost.status_code == 409 and "loss to follow-up needs the subject to be" in detail(lost)
    early = api.post(f"{subject}/complete")
    assert early.status_code == 409 and "completion needs the subject to be in_follow_up" in (
        detail(early)
    )
    withdrawn = api.post(f"{subject}/withdraw", {"reason": "patient decision"})
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    declined = consented_subject()
    missing = api.post(f"{STUDY}/subjects/{declined}/screen-failure", {})
    assert missing.status_code == 400 and "body.reason: Field required" in detail(missing)
    failed = api.post(f"{STUDY}/subjects/{declined}/screen-failure", {"reason": "declined MRI"})
    assert failed.json()["status"] == "screen_failed"


@pytest.mark.django_db
def test_follow_up_to_completion_and_loss(study: Any, eligible_subject: Any) -> None:
    api, pharmacist = Api("ines"), Api("pia")
    codes = [eligible_subject(), eligible_subject()]
    for code in codes:
        randomize_subject(study, code, "ines")
        for cycle, day in (("C1", "2024-04-01"), ("C2", "2024-04-22")):
            body = {"administration_id": cycle, "administered_on": day}
            assert (
                pharmacist.post(f"{STUDY}/subjects/{code}/administrations", body).status_code == 201
            )
    completed = api.post(f"{STUDY}/subjects/{codes[0]}/complete")
    assert completed.status_code == 200 and completed.json()["status"] == "completed"
    lost = api.post(f"{STUDY}/subjects/{codes[1]}/lost-to-follow-up", {"reason": "no contact"})
    assert lost.json()["status"] == "lost_to_follow_up"


def treated(study: Any, eligible_subject: Any, site: str = "01") -> str:
    from trialdesk.store.services import record_administration

    code = eligible_subject(site)
    randomize_subject(study, code, "ines")
    record_administration(study, code, "C1", DAY0, "pia")
    return code


@pytest.mark.django_db
def test_visits_and_forms(study: Any, eligible_subject: Any) -> None:
    api = Api("ada")  # the blinded assessor enters outcome forms
    code = treated(study, eligible_subject)
    subject = f"{STUDY}/subjects/{code}"
    calendar = api.get(f"{subject}/visits").json()
    assert [(v["visit_id"], v["target_date"]) for v in calendar[1:]] == [
        ("D0", "2024-04-01"),
        ("W3", "2024-04-22"),
        ("W12", "2024-06-24"),
    ]
    assert calendar[0]["visit_id"] == "SCR"
    assert calendar[0]["entered_forms"] == ["screening_history", "vitals", "kl_grade"]
    future = first_future_date().isoformat()
    refused = api.post(f"{subject}/visits/W3", {"visit_date": future})
    assert refused.status_code == 400 and "is in the future" in detail(refused)
    done = api.post(f"{subject}/visits/W3", {"visit_date": "2024-04-23"})
    assert done.status_code == 200
    assert done.json()["status"] == "done" and done.json()["actual_date"] == "2024-04-23"
    form = f"{subject}/visits/W3/forms/womac"
    assert api.get(form).status_code == 404
    entered = api.send("put", form, {"values": WOMAC_ALL_ONES})
    assert entered.status_code == 200 and entered.json()["values"] == WOMAC_ALL_ONES
    out_of_range = api.send("put", form, {"values": {**WOMAC_ALL_ONES, "P1": 9}, "reason": "typo"})
    assert out_of_range.status_code == 400 and "P1" in detail(out_of_range)
    unexplained = api.send("put", form, {"values": {**WOMAC_ALL_ONES, "P1": 2}})
    assert unexplained.status_code == 400 and "a reason is required" in detail(unexplained)
    changed = api.send(
        "put", form, {"values": {**WOMAC_ALL_ONES, "P1": 2}, "reason": "source check"}
    )
    assert changed.status_code == 200 and api.get(form).json()["values"]["P1"] == 2
    assert [row["visit"] for row in api.get(f"{subject}/forms").json()] == ["SCR"] * 3 + ["W3"]
    assert api.get(f"{subject}/visits/W3/forms/vitals").status_code == 404
    no_reason = api.post(f"{subject}/visits/D0/missed", {"reason": ""})
    assert no_reason.status_code == 400 and "a reason is required" in detail(no_reason)
    missed = api.post(f"{subject}/visits/W12/missed", {"reason": "hospitalised elsewhere"})
    assert missed.status_code == 200 and missed.json()["status"] == "missed"


@pytest.mark.django_db
def test_adverse_events_and_deviations(study: Any, eligible_subject: Any) -> None:
    api = Api("colin")
    code = treated(study, eligible_subject)
    events = f"{STUDY}/subjects/{code}/adverse-events"
    bad_grade = api.post(events, {**ADVERSE_EVENT, "ctcae_grade": 7})
    assert bad_grade.status_code == 400
    assert (
        detail(bad_grade)
        == f"subject {code}, adverse event 1: ctcae_grade 7; expected a CTCAE grade 1 to 5"
    )
    reported = api.post(events, ADVERSE_EVENT)
    assert reported.status_code == 201 and reported.json()["number"] == 1
    assert reported.json()["serious"] is False and reported.json()["report_due_at"] is None
    unexplained = api.send(
        "patch", f"{events}/1", {"changes": {"outcome": "recovered"}, "reason": ""}
    )
    assert unexplained.status_code == 400 and "a reason is required" in detail(unexplained)
    unknown = api.send("patch", f"{events}/1", {"changes": {"arm": "x"}, "reason": "fix"})
    assert unknown.status_code == 400 and detail(unknown).startswith(
        f"subject {code}, adverse event 1: cannot change arm"
    )
    changes = {"outcome": "recovered", "end_date": "2024-04-20", "seriousness": ["hospitalization"]}
    changed = api.send("patch", f"{events}/1", {"changes": changes, "reason": "follow-up call"})
    assert changed.status_code == 200, changed.content
    assert changed.json()["serious"] is True and changed.json()["end_date"] == "2024-04-20"
    assert changed.json()["report_due_at"] == "2024-04-11T09:00:00Z"
    overdue = api.get(f"{STUDY}/sae-overdue").json()
    assert [(row["subject"], row["number"]) for row in overdue] == [(code, 1)]
    early = api.post(f"{events}/1/report", {"reported_at": "2024-04-01T08:00:00Z"})
    assert early.status_code == 400 and "before the site became aware" in detail(early)
    sent = api.post(f"{events}/1/report", {"reported_at": "2024-04-10T18:00:00+00:00"})
    assert sent.status_code == 200 and sent.json()["reported_at"] == "2024-04-10T18:00:00Z"
    assert api.get(f"{STUDY}/sae-overdue").json() == []
    assert api.send("patch", f"{events}/9", {"changes": {}, "reason": "x"}).status_code == 404
    assert [event["term"] for event in api.get(events).json()] == ["Knee effusion"]
    deviations = f"{STUDY}/subjects/{code}/deviations"
    manual = {"kind": "Dosing Error", "description": "half dose", "detected_on": "2024-04-02"}
    wrong_kind = api.post(deviations, manual)
    assert wrong_kind.status_code == 400 and "kind 'Dosing Error'" in detail(wrong_kind)
    recorded = api.post(deviations, {**manual, "kind": "dosing_error", "visit_id": "D0"})
    assert recorded.status_code == 201
    assert api.get(deviations).json() == [
        {
            "id": recorded.json()["id"],
            "visit": "D0",
            "kind": "dosing_error",
            "description": "half dose",
            "detected_on": "2024-04-02",
            "automatic": False,
            "withdrawn_on": None,
        }
    ]
    assert AdverseEvent.objects.count() == 1 and Deviation.objects.count() == 1
    assert verify_audit_chain().ok


@pytest.mark.django_db
def test_emergency_unblinding(study: Any, eligible_subject: Any) -> None:
    code = eligible_subject()
    randomize_subject(study, code, "ines")
    unblind = f"{STUDY}/subjects/{code}/unblind"
    refused = Api("colin").post(unblind, {"reason": "emergency"})
    assert refused.status_code == 403 and "may not unblind a subject" in detail(refused)
    assert Api("ines").post(unblind, {"reason": ""}).status_code == 400
    response = Api("ines").post(unblind, {"reason": "suspected unexpected serious reaction"})
    assert response.status_code == 200
    assert response.json()["arm"] in {"CELLS", "SALINE"}
    assert response.json()["arm_label"] == response.json()["arm"].capitalize()


@pytest.mark.django_db
def test_a_locked_study_refuses_writes(study: Any, eligible_subject: Any) -> None:
    code = eligible_subject()
    lock_study(study, OPERATOR)
    response = Api("ines").post(f"{STUDY}/subjects/{code}/randomize")
    assert response.status_code == 409 and "is locked" in detail(response)
    assert Api("ines").get(STUDY).json()["locked"] is True


@pytest.mark.django_db
def test_kits_and_allocation_list_are_for_unblinded_roles(
    study: Any, eligible_subject: Any
) -> None:
    code = eligible_subject()
    kit_numbers = list(randomize_subject(study, code, "ines").kit_numbers)
    for path in (f"{STUDY}/subjects/{code}/kits", f"{STUDY}/allocation-list"):
        refused = Api("ines").get(path)
        assert refused.status_code == 403 and "unblinded roles only" in detail(refused)
    kits = Api("pia").get(f"{STUDY}/subjects/{code}/kits").json()
    assert [kit["kit_number"] for kit in kits] == kit_numbers
    page = Api("pia").get(f"{STUDY}/allocation-list", limit=3).json()
    slots = AllocationSlot.objects.filter(stratum__study=study).count()
    assert page["count"] == slots and len(page["items"]) == 3
    first = page["items"][0]
    assert first["subject"] == code and first["randomization_number"] == "R01-001"
    assert first["kit_numbers"] == kit_numbers and first["arm"] in {"CELLS", "SALINE"}


# ---------------------------------------------------------------- site scope


@pytest.mark.django_db
def test_a_site_bound_user_does_not_see_other_sites(study: Any, eligible_subject: Any) -> None:
    own, other = eligible_subject("01"), eligible_subject("02")
    colin = Api("colin")
    assert [row["code"] for row in colin.get(f"{STUDY}/subjects").json()] == [own]
    assert [row["code"] for row in Api("mona").get(f"{STUDY}/subjects").json()] == [own, other]
    for path in ("", "/visits", "/forms", "/adverse-events", "/deviations"):
        response = colin.get(f"{STUDY}/subjects/{other}{path}")
        assert response.status_code == 404
        assert detail(response) == f"KNEE-TEST v1.0: no subject '{other}'"
    assert detail(colin.get(f"{STUDY}/subjects/99-999")) == "KNEE-TEST v1.0: no subject '99-999'"
    writes = [
        ("post", "/randomize", {}),
        ("post", "/withdraw", {"reason": "x"}),
        ("put", "/visits/SCR/forms/vitals", {"values": {"height_cm": 170, "weight_kg": 71}}),
        ("post", "/adverse-events", ADVERSE_EVENT),
    ]
    for method, path, body in writes:
        assert colin.send(method, f"{STUDY}/subjects/{other}{path}", body).status_code == 404
    assert Subject.objects.get(code=other).status == "eligible"
    assert colin.get(f"{STUDY}/audit", subject=other).status_code == 404
    subjects = {
        event["subject"] for event in colin.get(f"{STUDY}/audit", limit=1000).json()["items"]
    }
    assert subjects == {own}
    assert Api("mona").get(f"{STUDY}/subjects/{other}").status_code == 200


@pytest.mark.django_db
def test_audit_view_is_paginated_oldest_first(study: Any, eligible_subject: Any) -> None:
    code = eligible_subject()
    api = Api("mona")
    page = api.get(f"{STUDY}/audit", subject=code, limit=5, offset=2).json()
    total = AuditEvent.objects.filter(subject=code).count()
    assert page["count"] == total and len(page["items"]) == 5
    seqs = [event["seq"] for event in page["items"]]
    assert seqs == sorted(seqs)
    assert page["items"][0]["seq"] == AuditEvent.objects.filter(subject=code).order_by("seq")[2].seq
    assert api.get(f"{STUDY}/audit", limit=5000).status_code == 400
    study_wide = api.get(f"{STUDY}/audit").json()
    assert any(event["action"] == "site.added" for event in study_wide["items"])
    consents = api.get(f"{STUDY}/audit", action="consent.recorded", by="ines").json()["items"]
    assert consents and {(e["action"], e["by"]) for e in consents} == {("consent.recorded", "ines")}
    assert api.get(f"{STUDY}/audit", action="consent.recorded", by="colin").json()["count"] == 0


# ---------------------------------------------------------------- bad input


@pytest.mark.django_db
def test_text_with_a_nul_character_is_refused_by_its_place(
    study: Any, eligible_subject: Any
) -> None:
    """PostgreSQL cannot store a NUL (it failed as a server error); SQLite kept it silently."""
    code = eligible_subject()
    api = Api("ines")
    events = AuditEvent.objects.count()
    expected = "a NUL character; expected text without NUL characters"
    subject = f"{STUDY}/subjects/{code}"
    answers = {
        "body.reason": api.post(f"{subject}/withdraw", {"reason": "moved\x00away"}),
        "body.values, the name 'x\\x00'": api.send(
            "put", f"{subject}/visits/SCR/forms/vitals", {"values": {"x\x00": 1}}
        ),
        "body.seriousness.1": api.post(
            f"{subject}/adverse-events", {**ADVERSE_EVENT, "seriousness": ["death", "\x00"]}
        ),
        "query.by": api.get(f"{STUDY}/audit", by="ines\x00"),
        "path": api.get(f"{STUDY}/subjects/01-\x00001"),
    }
    for place, response in answers.items():
        assert response.status_code == 400, (place, response.content)
        assert detail(response) == f"{place}: {expected}"
    assert Subject.objects.get(code=code).status == "eligible"
    assert AuditEvent.objects.count() == events


@pytest.mark.django_db
def test_a_body_that_is_not_json_or_names_an_unknown_field_is_refused(
    study: Any, consented_subject: Any
) -> None:
    code = consented_subject()
    api = Api("ines")
    events = AuditEvent.objects.count()
    withdraw = f"{STUDY}/subjects/{code}/withdraw"
    broken = api.client.post(withdraw, '{"reason": "moved away"', content_type="application/json")
    assert broken.status_code == 400
    assert detail(broken).startswith("body: Expecting ',' delimiter: line 1 column 24")
    assert detail(broken).endswith("; expected a JSON document")
    # A misspelt optional field is not dropped in favour of its default (today).
    misspelt = screen(api, screend_on="2024-03-01")
    assert misspelt.status_code == 400
    assert detail(misspelt) == "body.screend_on: Extra inputs are not permitted"
    assert Subject.objects.get(code=code).status == "consented"
    assert Subject.objects.count() == 1 and AuditEvent.objects.count() == events


# ---------------------------------------------------------------- settings and serve


def test_secret_key_is_generated_once_and_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    key = stored_secret_key(home)
    assert len(key) >= 50 and stored_secret_key(home) == key
    assert (home / "secret_key").stat().st_mode & 0o777 == 0o600
    assert [path.name for path in home.iterdir()] == ["secret_key"]


def test_serve_runs_gunicorn_and_answers(tmp_path: Path) -> None:
    env = {**os.environ, "TRIALDESK_HOME": str(tmp_path)}
    env.pop("TRIALDESK_DATABASE_URL", None)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    # `serve` refuses a folder with no store: make one first.
    create = [sys.executable, "-m", "trialdesk.cli", "study", "create", str(PROTOCOL)]
    subprocess.run(create, env=env, check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "trialdesk.cli", "serve", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        document = _fetch_when_up(f"{base}/api/v1/openapi.json", server)
        assert json.loads(document)["info"]["title"] == "trialdesk"
        # An unknown token is looked up in the store the server migrated: 401, not 500.
        request = urllib.request.Request(
            f"{base}/api/v1/me", headers={"Authorization": "Bearer td_" + "x" * 43}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 401
        with urllib.request.urlopen(f"{base}/static/ninja/swagger-ui.css", timeout=10) as css:
            assert css.status == 200
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0].decode(errors="replace")
    assert "Starting gunicorn" in output and (tmp_path / "trialdesk.sqlite3").exists(), output


def _fetch_when_up(url: str, server: subprocess.Popen, timeout: float = 60) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(server.communicate()[0].decode(errors="replace"))
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read()
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout} s")
