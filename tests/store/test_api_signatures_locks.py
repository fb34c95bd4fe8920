"""Signatures and locks through the REST API on both backends: sign a casebook, change a
value, see the signature broken, sign again; wrong passwords refused, counted toward the
lockout and never repeated; lock and unlock with reasons; bad input never a 500."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client

from trialdesk.store.models import AuditEvent
from trialdesk.store.services import add_user, record_visit, withdraw_subject
from trialdesk.store.services.accounts import set_password
from trialdesk.store.services.setup import set_full_name
from trialdesk.store.services.tokens import create_token

from .conftest import OPERATOR

STUDY = "/api/v1/studies/KNEE-TEST"
PASSWORD = "ines-signs-with-this-77"
WRONG = "a-wrong-password-5150"
MEANING = (
    "Approval as investigator: I have reviewed this subject's casebook and confirm that its "
    "data are complete and accurate."
)
VITALS = {"height_cm": 170, "weight_kg": 70}


class Api:
    def __init__(self, username: str):
        self.client = Client(
            headers={"Authorization": f"Bearer {create_token(username, OPERATOR)}"}
        )

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(STUDY + path, params)

    def send(self, method: str, path: str, body: Any = None, raw: str | None = None) -> Any:
        data = raw if raw is not None else json.dumps(body if body is not None else {})
        return getattr(self.client, method)(STUDY + path, data, content_type="application/json")

    def post(self, path: str, body: Any = None, raw: str | None = None) -> Any:
        return self.send("post", path, body, raw)


#: MD5 instead of Argon2 for the passwords set and checked here (tests/store/conftest.py).
pytestmark = pytest.mark.usefixtures("fast_password_hashing")


@pytest.fixture
def ended(study: Any, eligible_subject: Any) -> str:
    """A withdrawn subject whose screening visit is done: a casebook ready to sign."""
    set_full_name("ines", "Ines Holm, MD", OPERATOR)
    set_password("ines", PASSWORD, OPERATOR)
    add_user(study, "dana", "data_manager", OPERATOR)
    code = eligible_subject()
    record_visit(study, code, "SCR", dt.date(2024, 3, 1), "ines")
    withdraw_subject(study, code, "patient's decision", "ines")
    return code


@pytest.mark.django_db
def test_sign_a_casebook_change_a_value_see_it_broken_and_sign_again(
    ended: str, caplog: Any
) -> None:
    ines, colin = Api("ines"), Api("colin")
    subject = f"/subjects/{ended}"
    refused = ines.post(
        f"{subject}/signatures", {"meaning": "casebook_approval", "password": WRONG}
    )
    assert refused.status_code == 403
    assert "the password is not ines's; nothing was signed" in refused.json()["detail"]
    signed = ines.post(
        f"{subject}/signatures", {"meaning": "casebook_approval", "password": PASSWORD}
    )
    assert signed.status_code == 200, signed.json()
    signature = signed.json()
    assert (signature["printed_name"], signature["meaning"], signature["meaning_key"]) == (
        "Ines Holm, MD",
        MEANING,
        "casebook_approval",
    )
    assert (signature["visit"], signature["status"], signature["content_matches"]) == (
        "",
        "valid",
        True,
    )
    again = ines.post(
        f"{subject}/signatures", {"meaning": "casebook_approval", "password": PASSWORD}
    )
    assert again.status_code == 409 and "already signed" in again.json()["detail"]

    changed = colin.send(
        "put",
        f"{subject}/visits/SCR/forms/vitals",
        {"values": {**VITALS, "weight_kg": 71}, "reason": "re-weighed"},
    )
    assert changed.status_code == 200, changed.json()
    [broken] = ines.get(f"{subject}/signatures").json()
    assert (broken["status"], broken["content_matches"]) == ("broken", False)
    assert (
        broken["broken_by"]
        == f"subject {ended}, visit SCR, form vitals: weight_kg changed by colin"
    )
    assert broken["broken_at"] is not None
    resigned = ines.post(
        f"{subject}/signatures", {"meaning": "casebook_approval", "password": PASSWORD}
    )
    assert resigned.status_code == 200
    assert [row["status"] for row in Api("mona").get(f"{subject}/signatures").json()] == [
        "broken",
        "valid",
    ]
    # The password is in no answer, no log line and no audit event.
    assert WRONG not in caplog.text and PASSWORD not in caplog.text
    for text in ("old_value", "new_value", "reason"):
        assert not AuditEvent.objects.filter(**{f"{text}__contains": "signs-with"}).exists()
        assert not AuditEvent.objects.filter(**{f"{text}__contains": WRONG}).exists()


@pytest.mark.django_db
def test_a_visit_is_signed_on_its_own_path_and_roles_are_enforced(ended: str) -> None:
    ines, colin = Api("ines"), Api("colin")
    visit = f"/subjects/{ended}/visits/SCR/signatures"
    body = {"meaning": "visit_review", "password": PASSWORD}
    not_ready = ines.post(visit, body)
    assert (
        not_ready.status_code == 409 and "forms not marked complete" in not_ready.json()["detail"]
    )
    assert ines.post(f"/subjects/{ended}/visits/W99/signatures", body).status_code == 404
    set_password("colin", "colin-has-a-password-99", OPERATOR)
    by_colin = colin.post(
        f"/subjects/{ended}/signatures",
        {"meaning": "casebook_approval", "password": "colin-has-a-password-99"},
    )
    assert by_colin.status_code == 403 and "may not sign casebooks" in by_colin.json()["detail"]
    # A casebook meaning on a visit is refused (the document's enum says so too).
    wrong_meaning = ines.post(visit, {"meaning": "casebook_approval", "password": PASSWORD})
    assert (
        wrong_meaning.status_code == 400
        and "meaning 'casebook_approval'; expected visit_review" in wrong_meaning.json()["detail"]
    )


@pytest.mark.django_db
def test_wrong_passwords_count_toward_the_lockout_of_the_user_name(
    ended: str, settings: Any
) -> None:
    # The settings' limit is 5; 2 here keeps the test short (each wrong password is an
    # Argon2 check): what is tested is that signing counts and obeys the lockout.
    settings.AXES_FAILURE_LIMIT = 2
    ines = Api("ines")
    path = f"/subjects/{ended}/signatures"
    for _ in range(2):
        answer = ines.post(path, {"meaning": "casebook_approval", "password": WRONG})
        assert answer.status_code == 403 and answer["Content-Type"].startswith("application/json")
    locked = ines.post(path, {"meaning": "casebook_approval", "password": PASSWORD})
    assert locked.status_code == 403 and "locked out" in locked.json()["detail"]
    assert ines.get(path).json() == []


@pytest.mark.django_db
def test_lock_and_unlock_with_reasons(ended: str) -> None:
    dana, colin = Api("dana"), Api("colin")
    subject = f"/subjects/{ended}"
    form_put = (f"{subject}/visits/SCR/forms/vitals", {"values": {**VITALS, "pulse": 70}})
    assert colin.post(f"{subject}/lock", {"reason": "mine"}).status_code == 403
    locked = dana.post(f"{subject}/lock", {"reason": "ready for database lock"})
    assert locked.status_code == 200
    assert {
        key: locked.json()[key]
        for key in ("level", "visit", "form", "locked_by", "reason", "active")
    } == {
        "level": "casebook",
        "visit": "",
        "form": "",
        "locked_by": "dana",
        "reason": "ready for database lock",
        "active": True,
    }
    assert dana.post(f"{subject}/lock", {}).status_code == 409
    refused = colin.send("put", *form_put)
    assert refused.status_code == 409 and "is locked since" in refused.json()["detail"]
    assert dana.post(f"{subject}/unlock", {}).status_code == 400
    assert dana.post(f"{subject}/unlock", {"reason": " "}).status_code == 400
    unlocked = dana.post(f"{subject}/unlock", {"reason": "late correction of the pulse"})
    assert unlocked.status_code == 200
    assert (unlocked.json()["active"], unlocked.json()["unlock_reason"]) == (
        False,
        "late correction of the pulse",
    )
    assert colin.send("put", *form_put).status_code == 200

    # A visit and a form lock; unlocking what is not locked is a conflict.
    assert dana.post(f"{subject}/visits/SCR/forms/vitals/lock", {}).status_code == 200
    assert dana.post(f"{subject}/visits/SCR/lock", {"reason": "visit reviewed"}).status_code == 200
    assert (
        dana.post(f"{subject}/visits/SCR/forms/kl_grade/unlock", {"reason": "x"}).status_code == 409
    )
    assert dana.post(f"{subject}/visits/D0/forms/womac/lock", {}).status_code == 404
    assert dana.post(f"{subject}/visits/SCR/forms/koos/lock", {}).status_code == 404
    live = Api("mona").get(f"{subject}/locks").json()
    assert [(row["level"], row["visit"], row["form"]) for row in live] == [
        ("form", "SCR", "vitals"),
        ("visit", "SCR", ""),
    ]
    every = dana.get(f"{subject}/locks", lifted="true").json()
    assert [row["active"] for row in every] == [False, True, True]
    assert dana.get("/subjects/01-999/locks").status_code == 404


@pytest.mark.django_db
def test_bad_input_is_refused_and_never_a_server_error(ended: str) -> None:
    ines, dana = Api("ines"), Api("dana")
    subject = f"/subjects/{ended}"
    bodies: list[tuple[str, Any, str | None]] = [
        (f"{subject}/signatures", {}, None),
        (f"{subject}/signatures", {"meaning": "casebook_approval"}, None),
        (f"{subject}/signatures", {"meaning": "approve", "password": PASSWORD}, None),
        (f"{subject}/signatures", {"meaning": "casebook_approval", "password": ""}, None),
        (f"{subject}/signatures", {"meaning": "casebook_approval", "password": 77}, None),
        (f"{subject}/signatures", {"meaning": "casebook_approval", "password": "x" * 5000}, None),
        (f"{subject}/signatures", {"meaning": None, "password": PASSWORD}, None),
        (
            f"{subject}/signatures",
            {"meaning": "casebook_approval", "password": PASSWORD, "visit": "SCR"},
            None,
        ),
        (f"{subject}/signatures", None, "{not json"),
        (f"{subject}/signatures", None, "[]"),
        (f"{subject}/lock", {"reason": 5}, None),
        (f"{subject}/lock", {"level": "form"}, None),
        (f"{subject}/unlock", {"reason": ["x"]}, None),
        (f"{subject}/visits/SCR/unlock", {}, None),
    ]
    for path, body, raw in bodies:
        client = dana if "lock" in path else ines
        answer = client.post(path, body, raw)
        assert answer.status_code == 400, (path, body, raw, answer.content)
        assert PASSWORD not in answer.json()["detail"]
    # Unknown places are 404, never 500.
    for path in (
        "/subjects/01-999/signatures",
        f"{subject}/visits/{'V' * 300}/signatures",
        f"{subject}/visits/SCR/forms/{'f' * 300}/lock",
    ):
        client = ines if path.endswith("signatures") else dana
        body = {
            "meaning": "visit_review" if "visits" in path else "casebook_approval",
            "password": PASSWORD,
        }
        assert client.post(path, body if "signatures" in path else {}).status_code == 404, path
    assert not AuditEvent.objects.filter(action__in=["signature.signed", "record.locked"]).exists()
