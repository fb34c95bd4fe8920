"""Blinding through the REST API, on SQLite and PostgreSQL: what unblinded roles see.

The sweep of every operation as every role and scope, scanning each blinded response for arms,
is tests/store/test_access_matrix.py. Here: the OpenAPI document names no arm, the pharmacist
sees arms, kits and the allocation list, the statistician after the database lock, and
emergency unblinding gives the investigator that one subject's arm, audited.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client

from trialdesk.store.models import Allocation, AuditEvent, Study
from trialdesk.store.services import (
    add_user,
    lock_study,
    randomize_subject,
    record_administration,
)
from trialdesk.store.services.tokens import create_token

from .conftest import OPERATOR

STUDY = "/api/v1/studies/KNEE-TEST"
DAY0 = dt.date(2024, 4, 1)
#: What a blinded response must never contain (lower case): JSON keys of arms, blocks and
#: the list's seed, and the allocation list's audit events. Arm ids, labels and intervention
#: names are added from the protocol.
BLINDED_NEVER = ('"arm', "block", "seed", "allocationlist", "allocation_list")


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


# ---------------------------------------------------------------- the tests


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
    lock_study(study, OPERATOR, override_reason="blinding test: casebooks not signed")
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
