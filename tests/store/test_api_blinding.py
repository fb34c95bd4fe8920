"""Blinding through the REST API, on SQLite and PostgreSQL.

Every operation of the OpenAPI document is called as every blinded role (reads, and writes
with a valid and an invalid body) on a study with randomized, treated subjects who have
visits, forms, adverse events and deviations; no response may carry an arm id, arm label,
intervention name, block, seed or allocation-list event. A new endpoint without an entry in
CALLS fails the test, so it cannot go unchecked. The pharmacist sees arms, the statistician
after the database lock; emergency unblinding gives the investigator that one subject's arm.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import Client

from trialdesk.store.models import Allocation, AuditEvent, Study
from trialdesk.store.services import (
    add_user,
    lock_study,
    randomize_subject,
    record_administration,
    record_deviation,
    record_visit,
    report_adverse_event,
    save_form,
    screen_subject,
)
from trialdesk.store.services.tokens import create_token
from trialdesk.web.api import api

from .conftest import OPERATOR, SCREENING_FORMS, WOMAC_ALL_ONES

STUDY = "/api/v1/studies/KNEE-TEST"
DAY0 = dt.date(2024, 4, 1)
#: The blinded roles and the user holding each (the statistician before the lock).
BLINDED_USERS = {
    "assessor": "ada",
    "coordinator": "colin",
    "investigator": "ines",
    "monitor": "mona",
    "data_manager": "dana",
    "admin": "adam",
    "statistician": "stan",
}
#: What a blinded response must never contain (lower case): JSON keys of arms, blocks and
#: the list's seed, and the allocation list's audit events. Arm ids, labels and intervention
#: names are added from the protocol.
BLINDED_NEVER = ('"arm', "block", "seed", "allocationlist", "allocation_list")


@dataclass(frozen=True)
class Call:
    """How to exercise one operation: on which subject, with which valid and invalid input.

    A write whose input cannot be malformed (no body) is called invalidly on a subject
    whose state refuses it (`refused_on`).
    """

    subject: str = "treated"
    valid: dict[str, Any] = field(default_factory=dict)
    invalid: dict[str, Any] | None = None
    refused_on: str | None = None
    #: Blinded roles are refused (403) even with valid input.
    unblinded_only: bool = False


AE = {
    "term": "Knee effusion",
    "onset_date": "2024-04-12",
    "ctcae_grade": 1,
    "seriousness": [],
    "relatedness": "unlikely",
    "expected": False,
    "action_taken": "not_applicable",
    "outcome": "recovered",
    "awareness_at": "2024-04-12T10:00:00Z",
    "end_date": "2024-04-14",
}
SUBJECT = "/api/v1/studies/{study}/subjects/{code}"
CALLS: dict[tuple[str, str], Call] = {
    ("get", "/api/v1/me"): Call(),
    ("get", "/api/v1/studies"): Call(),
    ("get", "/api/v1/studies/{study}"): Call(),
    ("get", "/api/v1/studies/{study}/audit"): Call(),
    ("get", "/api/v1/studies/{study}/allocation-list"): Call(unblinded_only=True),
    ("get", "/api/v1/studies/{study}/sae-overdue"): Call(),
    ("get", "/api/v1/studies/{study}/subjects"): Call(),
    ("get", SUBJECT): Call(),
    ("get", SUBJECT + "/kits"): Call(unblinded_only=True),
    ("get", SUBJECT + "/visits"): Call(),
    ("get", SUBJECT + "/forms"): Call(),
    ("get", SUBJECT + "/visits/{visit_id}/forms/{form}"): Call(),
    ("get", SUBJECT + "/adverse-events"): Call(),
    ("get", SUBJECT + "/deviations"): Call(),
    ("post", "/api/v1/studies/{study}/subjects"): Call(
        valid={
            "site": "01",
            "year_of_birth": 1960,
            "age": 63,
            "sex": "male",
            "screened_on": "2024-03-01",
        },
        invalid={"site": "01", "year_of_birth": "1960s", "age": 63, "sex": "male"},
    ),
    ("post", SUBJECT + "/consent"): Call(
        subject="screened",
        valid={"consented_on": "2024-03-02", "consent_version": "2.0"},
        invalid={"consented_on": "yesterday", "consent_version": "2.0"},
    ),
    ("post", SUBJECT + "/eligibility"): Call(
        subject="with_screening_forms",
        valid={"attestations": {"I1": True, "E2": False}},
        invalid={"attestations": ["I1"]},
    ),
    ("post", SUBJECT + "/randomize"): Call(subject="eligible", refused_on="screened"),
    ("post", SUBJECT + "/administrations"): Call(
        subject="randomized",
        valid={"administration_id": "C1", "administered_on": "2024-05-02"},
        invalid={"administration_id": "C7", "administered_on": "2024-05-02"},
    ),
    ("put", SUBJECT + "/visits/{visit_id}/forms/{form}"): Call(
        valid={"values": {**WOMAC_ALL_ONES, "P2": 2}, "reason": "source document check"},
        invalid={"values": {**WOMAC_ALL_ONES, "P2": 11}, "reason": "typo"},
    ),
    ("post", SUBJECT + "/visits/{visit_id}"): Call(
        valid={"visit_date": "2024-04-23"}, invalid={"visit_date": "2024-02-30"}
    ),
    ("post", SUBJECT + "/visits/{visit_id}/missed"): Call(
        subject="to_miss", valid={"reason": "in hospital"}, invalid={"reason": ""}
    ),
    ("post", SUBJECT + "/adverse-events"): Call(valid=AE, invalid={**AE, "ctcae_grade": 9}),
    ("patch", SUBJECT + "/adverse-events/{number}"): Call(
        valid={"changes": {"outcome": "recovered", "end_date": "2024-04-20"}, "reason": "visit"},
        invalid={"changes": {"ctcae_grade": "high"}, "reason": "visit"},
    ),
    ("post", SUBJECT + "/adverse-events/{number}/report"): Call(
        valid={"reported_at": "2024-04-10T20:00:00Z"},
        invalid={"reported_at": "2024-04-01T08:00:00Z"},
    ),
    ("post", SUBJECT + "/deviations"): Call(
        valid={"kind": "dosing_error", "description": "half a dose", "detected_on": "2024-04-02"},
        invalid={"kind": "Dosing!", "description": "half a dose", "detected_on": "2024-04-02"},
    ),
    ("post", SUBJECT + "/unblind"): Call(valid={"reason": "SUSAR"}, invalid={"reason": " "}),
    ("post", SUBJECT + "/withdraw"): Call(
        subject="to_withdraw", valid={"reason": "moved away"}, invalid={}
    ),
    ("post", SUBJECT + "/lost-to-follow-up"): Call(
        subject="to_lose", valid={"reason": "no contact"}, invalid={"reason": ""}
    ),
    ("post", SUBJECT + "/complete"): Call(subject="to_complete", refused_on="screened"),
    ("post", SUBJECT + "/screen-failure"): Call(
        subject="to_fail", valid={"reason": "declined MRI"}, invalid={"reason": 3}
    ),
}


def operations() -> list[tuple[str, str]]:
    """Every (method, path) of the API's OpenAPI document."""
    paths = api.get_openapi_schema()["paths"]
    return sorted((method, path) for path, methods in paths.items() for method in methods)


def banned_words(study: Study) -> set[str]:
    protocol = study.protocol()
    words = {arm.id for arm in protocol.arms} | {arm.label for arm in protocol.arms}
    words |= {item.name for item in protocol.interventions} | {i.id for i in protocol.interventions}
    return {word.lower() for word in words} | set(BLINDED_NEVER)


def leaks(text: str, banned: set[str]) -> list[str]:
    lowered = text.lower()
    return sorted(word for word in banned if word in lowered)


# ---------------------------------------------------------------- the study


def treat(study: Study, code: str, cycles: int = 1) -> None:
    randomize_subject(study, code, "ines")
    record_administration(study, code, "C1", DAY0, "pia")
    if cycles == 2:
        record_administration(study, code, "C2", DAY0 + dt.timedelta(days=21), "pia")


def populate(study: Study, eligible_subject: Any, consented_subject: Any) -> dict[str, str]:
    """Subjects by what the calls need; "treated" has visits, forms, AEs and deviations."""
    for username, role in (("dana", "data_manager"), ("adam", "admin"), ("stan", "statistician")):
        add_user(study, username, role, OPERATOR)
    subjects = {"treated": eligible_subject("01"), "other_site": eligible_subject("02")}
    treated = subjects["treated"]
    treat(study, treated, cycles=2)
    treat(study, subjects["other_site"], cycles=2)
    record_visit(study, treated, "D0", DAY0 + dt.timedelta(days=2), "colin")  # out of window
    record_visit(study, treated, "W3", dt.date(2024, 4, 23), "colin")
    save_form(study, treated, "W3", "womac", WOMAC_ALL_ONES, "ada")
    report_adverse_event(
        study,
        treated,
        term="Septic arthritis",
        onset_date=dt.date(2024, 4, 9),
        ctcae_grade=3,
        seriousness=["hospitalization"],
        relatedness="possible",
        expected=False,
        action_taken="drug_withdrawn",
        outcome="recovering",
        awareness_at=dt.datetime(2024, 4, 10, 9, tzinfo=dt.UTC),
        by="ines",
    )
    record_deviation(
        study,
        treated,
        kind="visit_procedure",
        description="WOMAC_ALL_ONES read out by the coordinator",
        detected_on=dt.date(2024, 4, 24),
        by="colin",
        visit_id="W3",
    )
    subjects["randomized"] = eligible_subject("01")
    randomize_subject(study, subjects["randomized"], "ines")
    subjects["eligible"] = eligible_subject("01")
    subjects["with_screening_forms"] = consented_subject("01")
    for form, values in SCREENING_FORMS.items():
        save_form(study, subjects["with_screening_forms"], "SCR", form, values, "ines")
    subjects["screened"] = screened(study)
    subjects["to_fail"] = screened(study)
    subjects["to_withdraw"] = consented_subject("01")
    for name in ("to_lose", "to_complete", "to_miss"):
        subjects[name] = eligible_subject("01")
        treat(study, subjects[name], cycles=2)
    return subjects


def screened(study: Study) -> str:
    return screen_subject(
        study,
        "01",
        year_of_birth=1958,
        age=65,
        sex="female",
        by="colin",
        screened_on=dt.date(2024, 3, 1),
    ).code


class Api:
    """One user's client with a bearer token; every response is kept for the scan."""

    def __init__(self, username: str):
        token = create_token(username, OPERATOR)
        self.client = Client(headers={"Authorization": f"Bearer {token}"})
        self.responses: list[tuple[str, int, str]] = []

    def call(self, method: str, path: str, body: dict | None = None, **params: Any) -> Any:
        if method == "get":
            response = self.client.get(path, params)
        else:
            data = json.dumps(body or {})
            response = getattr(self.client, method)(path, data, content_type="application/json")
        self.responses.append((f"{method.upper()} {path}", response.status_code, response.text))
        return response

    def pages(self, path: str) -> list[Any]:
        """Every page of a paginated list (so the scan sees all of it)."""
        offset, responses = 0, []
        while True:
            response = self.call("get", path, limit=1000, offset=offset)
            responses.append(response)
            if response.status_code != 200:
                return responses
            offset += len(response.json()["items"])
            if offset >= response.json()["count"]:
                return responses


def url(template: str, code: str) -> str:
    values = {"study": "KNEE-TEST", "code": code, "visit_id": "W3", "form": "womac", "number": "1"}
    if template.endswith("/missed"):
        values["visit_id"] = "W12"
    return re.sub(r"\{(\w+)\}", lambda match: values[match.group(1)], template)


# ---------------------------------------------------------------- the tests


def test_every_operation_has_a_call() -> None:
    """A new endpoint must be added to CALLS, so that the sweep below exercises it."""
    assert sorted(CALLS) == operations()


@pytest.mark.django_db
def test_blinded_roles_never_receive_an_arm(
    study: Study, eligible_subject: Any, consented_subject: Any
) -> None:
    subjects = populate(study, eligible_subject, consented_subject)
    banned = banned_words(study)
    succeeded: set[tuple[str, str]] = set()
    unblinded_arm = None
    for role, username in BLINDED_USERS.items():
        user = Api(username)
        for (method, template), call in CALLS.items():
            path = url(template, subjects[call.subject])
            if method == "get":
                responses = (
                    user.pages(path)
                    if "audit" in path or "allocation" in path
                    else [user.call(method, path)]
                )
                for response in responses:
                    expected = 403 if call.unblinded_only else 200
                    assert response.status_code == expected, (role, path, response.content)
                continue
            if call.refused_on is not None:
                refused = user.call(method, url(template, subjects[call.refused_on]))
            else:
                refused = user.call(method, path, call.invalid)
            assert 400 <= refused.status_code < 500, (role, path, refused.content)
            response = user.call(method, path, call.valid)
            assert response.status_code < 500, (role, path, response.content)
            if response.status_code < 300:
                succeeded.add((method, template))
            if template.endswith("/unblind") and response.status_code == 200:
                assert role == "investigator"
                unblinded_arm = response.json()["arm"]
                user.responses.pop()  # the one response that carries an arm, checked below
        for request, status, text in user.responses:
            assert not leaks(text, banned), (role, request, status, text)
        audit = user.pages(url("/api/v1/studies/{study}/audit", ""))
        assert all(
            event["object_type"] != "AllocationList" for r in audit for event in r.json()["items"]
        )
    writes = {(method, template) for (method, template) in CALLS if method != "get"}
    assert writes - succeeded == set()  # every write was also seen succeeding, and scanned
    treated = Allocation.objects.select_related("slot").get(subject__code=subjects["treated"])
    assert unblinded_arm == treated.slot.arm


@pytest.mark.django_db
def test_the_openapi_document_names_no_arm(study: Study) -> None:
    document = Client().get("/api/v1/openapi.json").text
    banned = banned_words(study) - set(BLINDED_NEVER)
    assert not leaks(document, banned)


def _arm_of(code: str) -> str:
    return Allocation.objects.select_related("slot").get(subject__code=code).slot.arm


@pytest.mark.django_db
def test_the_pharmacist_sees_arms(study: Study, eligible_subject: Any) -> None:
    code = eligible_subject()
    treat(study, code)
    pharmacist = Api("pia")
    assert pharmacist.call("get", f"{STUDY}/subjects/{code}").json()["arm"] == _arm_of(code)
    arms = pharmacist.call("get", STUDY).json()["arms"]
    assert {arm["id"] for arm in arms} == {"CELLS", "SALINE"}
    kits = pharmacist.call("get", f"{STUDY}/subjects/{code}/kits").json()
    assert {kit["arm"] for kit in kits} == {_arm_of(code)}
    assert kits[0]["administration_id"] == "C1" and kits[1]["administered_on"] is None
    slots = pharmacist.pages(f"{STUDY}/allocation-list")[0].json()["items"]
    assert {slot["arm"] for slot in slots} == {"CELLS", "SALINE"}
    assert all(slot["block_size"] in (2, 4) for slot in slots)
    events = pharmacist.pages(f"{STUDY}/audit")[0].json()["items"]
    assert any(event["object_type"] == "AllocationList" for event in events)


@pytest.mark.django_db
def test_the_statistician_sees_arms_after_the_lock(study: Study, eligible_subject: Any) -> None:
    add_user(study, "stan", "statistician", OPERATOR)
    code = eligible_subject()
    treat(study, code)
    statistician = Api("stan")
    subject = f"{STUDY}/subjects/{code}"
    assert "arm" not in statistician.call("get", subject).json()
    assert statistician.call("get", f"{STUDY}/allocation-list").status_code == 403
    lock_study(study, OPERATOR)
    assert statistician.call("get", subject).json()["arm"] == _arm_of(code)
    assert statistician.call("get", "/api/v1/me").json()["studies"][0]["blinded"] is False
    assert "arms" in statistician.call("get", STUDY).json()
    assert statistician.call("get", f"{STUDY}/allocation-list").status_code == 200
    assert "arm" not in Api("ines").call("get", subject).json()  # the lock unblinds no one else


@pytest.mark.django_db
def test_unblinding_gives_one_subject_arm_audited(study: Study, eligible_subject: Any) -> None:
    first, second = eligible_subject("01"), eligible_subject("02")
    treat(study, first)
    treat(study, second)
    investigator = Api("ines")
    response = investigator.call("post", f"{STUDY}/subjects/{first}/unblind", {"reason": "SUSAR"})
    labels = {arm.id: arm.label for arm in study.protocol().arms}
    assert response.json() == {
        "subject": first,
        "arm": _arm_of(first),
        "arm_label": labels[_arm_of(first)],
    }
    event = AuditEvent.objects.get(action="subject.unblinded", field="reason")
    assert (event.subject, event.by, event.reason) == (first, "ines", "SUSAR")
    banned = banned_words(study)
    for code in (first, second):
        for path in ("", "/visits", "/forms"):
            assert not leaks(
                investigator.call("get", f"{STUDY}/subjects/{code}{path}").text, banned
            )
    trail = investigator.pages(f"{STUDY}/audit")
    assert any(e["action"] == "subject.unblinded" for e in trail[0].json()["items"])
    assert not any(leaks(page.text, banned) for page in trail)
