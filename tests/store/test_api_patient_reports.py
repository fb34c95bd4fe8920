"""Patients at home through the REST API (SQLite and PostgreSQL): the invitation (201, the
token and the patient's path once), its refusals, the revoke with a reason, and the diary's
compliance grid read by the server's clock (a clock file: `TRIALDESK_CLOCK_FILE`), within the
user's sites.

Day 0 is 10 January 2026; Copenhagen is UTC+1 then, so day d's entry (local date 10 January
+ d) is open 17:00-23:00 UTC and taken late until 00:00 UTC the next day (STEMJOINT's
18:00-23:59 with 60 minutes' grace).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from support.epro import stemjoint_study, treated_subject
from trialdesk.protocol import load_protocol
from trialdesk.store.audit import verify_audit_chain
from trialdesk.store.models import AuditEvent, PatientLink
from trialdesk.store.services.patient_reports import answer_entry, invite_patient

from .test_api import Api, detail

DAY0 = dt.date(2026, 1, 10)
ZONE = "Europe/Copenhagen"
BASE = "/api/v1/studies/NCT05933434/subjects"


def utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=dt.UTC)


def instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


@pytest.fixture
def study(django_db_setup: str) -> Any:
    return stemjoint_study()


@pytest.fixture
def code(study: Any) -> str:
    return treated_subject(study, DAY0)


@pytest.fixture
def set_clock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Set the server's clock to an instant (the clock file the served app reads)."""
    path = tmp_path / "clock"
    monkeypatch.setenv("TRIALDESK_CLOCK_FILE", str(path))
    return lambda at: path.write_text(at.isoformat(), encoding="utf-8")


def delete(api: Api, path: str, body: dict | None) -> Any:
    data = json.dumps(body) if body is not None else ""
    return api.client.delete(path, data, content_type="application/json")


# ---------------------------------------------------------------- the link


@pytest.mark.django_db
def test_an_invitation_answers_the_token_and_the_patients_path_once(study: Any, code: str) -> None:
    colin = Api("colin")
    body = {"language": "da", "time_zone": ZONE, "email": "karen.p@example.org"}
    answer = colin.post(f"{BASE}/{code}/patient-link", body)
    assert answer.status_code == 201, answer.content
    made = answer.json()
    token = made["token"]
    assert made["path"] == f"/p/{token}/"
    assert (made["subject"], made["language"], made["time_zone"]) == (code, "da", ZONE)
    assert (made["email_on_file"], made["created_by"], made["revoked_at"]) == (True, "colin", None)
    assert "karen" not in answer.content.decode()
    link = PatientLink.objects.get()
    assert link.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    # The path opens the patient's pages, with no sign-in.
    assert Client().get(made["path"]).status_code == 200
    # Nothing read afterwards shows the token again.
    diary = colin.get(f"{BASE}/{code}/diary")
    assert diary.status_code == 200 and token not in diary.content.decode()
    assert not AuditEvent.objects.filter(new_value__contains=token).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"language": "fr", "time_zone": ZONE}, "language 'fr': expected one of en, da, zh-hans"),
        ({"time_zone": ZONE}, "body.language"),
        ({"language": "da"}, "body.time_zone"),
        ({"language": "da", "time_zone": "Europe/Aarhus"}, "time zone 'Europe/Aarhus'"),
        ({"language": "da", "time_zone": ZONE, "email": "karen@"}, "email 'karen@'"),
        ({"language": "da", "time_zone": ZONE, "phone": "+4512345678"}, "body.phone"),
    ],
)
def test_a_bad_invitation_is_refused_400_naming_the_field(
    study: Any, code: str, body: dict, words: str
) -> None:
    colin = Api("colin")
    before = AuditEvent.objects.count()
    answer = colin.post(f"{BASE}/{code}/patient-link", body)
    assert answer.status_code == 400, answer.content
    assert words in detail(answer)
    assert AuditEvent.objects.count() == before and not PatientLink.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("username", "status"), [("mona", 403), ("pia", 403), ("otto", 404)])
def test_only_the_sites_coordinator_or_investigator_invites(
    study: Any, code: str, username: str, status: int
) -> None:
    body = {"language": "da", "time_zone": ZONE}
    # otto coordinates at OUH: an AUH subject is not found for him.
    assert Api(username).post(f"{BASE}/{code}/patient-link", body).status_code == status
    assert not PatientLink.objects.exists()
    assert Api("ines").post(f"{BASE}/{code}/patient-link", body).status_code == 201
    revoked = delete(Api(username), f"{BASE}/{code}/patient-link", {"reason": "not theirs"})
    assert revoked.status_code == status
    assert PatientLink.objects.get().revoked_at is None


@pytest.mark.django_db
def test_a_revoke_needs_a_reason_and_is_answered_404_once_done(study: Any, code: str) -> None:
    colin = Api("colin")
    made = colin.post(f"{BASE}/{code}/patient-link", {"language": "en", "time_zone": ZONE}).json()
    url = f"{BASE}/{code}/patient-link"
    for body, words in [
        (None, "body"),
        ({}, "body.reason"),
        ({"reason": "  "}, "a reason is required"),
    ]:
        refused = delete(colin, url, body)
        assert refused.status_code == 400, refused.content
        assert words in detail(refused)
    assert PatientLink.objects.get().revoked_at is None
    revoked = delete(colin, url, {"reason": "phone lost"})
    assert revoked.status_code == 200, revoked.content
    assert (revoked.json()["revoked_by"], revoked.json()["subject"]) == ("colin", code)
    assert revoked.json()["revoked_at"] is not None
    reasons = AuditEvent.objects.filter(action="patient.link_revoked").values_list("reason")
    assert set(reasons) == {("phone lost",)}
    assert Client().get(made["path"]).status_code == 404
    again = delete(colin, url, {"reason": "again"})
    assert again.status_code == 404 and "no live patient link" in detail(again)
    assert verify_audit_chain().ok


# ---------------------------------------------------------------- the diary


@pytest.mark.django_db
def test_before_an_invitation_the_diary_lists_no_entry(study: Any, code: str) -> None:
    answer = Api("colin").get(f"{BASE}/{code}/diary")
    assert answer.status_code == 200, answer.content
    grid = answer.json()
    assert (grid["invited"], grid["time_zone"], grid["entries"], grid["compliance"]) == (
        False,
        None,
        [],
        [],
    )


@pytest.mark.django_db
def test_the_compliance_grid_by_the_servers_clock(study: Any, code: str, set_clock: Any) -> None:
    link, _ = invite_patient(study, code, "colin", language="da", time_zone=ZONE)
    answer_entry(link, "pain_diary", 1, "day1", 3, now=utc(2026, 1, 11, 20, 15))  # in time
    answer_entry(link, "pain_diary", 3, "day3", 6, now=utc(2026, 1, 13, 23, 40))  # late
    answer_entry(link, "pain_diary", 4, "day4", 2, now=utc(2026, 1, 14, 17, 0))  # in time
    set_clock(utc(2026, 1, 15, 11, 0))  # noon in Copenhagen on day 5: day 2 missed

    grid = Api("mona").get(f"{BASE}/{code}/diary")  # the monitor reads every site
    assert grid.status_code == 200, grid.content
    found = grid.json()
    assert (found["subject"], found["invited"], found["time_zone"]) == (code, True, ZONE)
    entries = found["entries"]
    assert [entry["day"] for entry in entries] == list(range(1, 31))
    assert [entry["state"] for entry in entries[:6]] == [
        "answered",
        "missed",
        "late",
        "answered",
        "upcoming",
        "upcoming",
    ]
    first = entries[0]
    assert first["schedule"] == "pain_diary" and first["local_date"] == "2026-01-11"
    assert instant(first["opens_at"]) == utc(2026, 1, 11, 17)
    assert instant(first["closes_at"]) == utc(2026, 1, 11, 23)
    assert instant(first["late_until"]) == utc(2026, 1, 12, 0)
    assert instant(first["received_at"]) == utc(2026, 1, 11, 20, 15)
    assert instant(entries[2]["received_at"]) == utc(2026, 1, 13, 23, 40)
    assert entries[1]["received_at"] is None and entries[4]["received_at"] is None
    assert (found["answered"], found["late"], found["missed"]) == (2, 1, 1)
    assert found["compliance"] == [
        {
            "schedule": "pain_diary",
            "answered": 2,
            "late": 1,
            "missed": 1,
            "due": 4,
            "share": 0.75,
            "missed_in_a_row": 0,
        }
    ]

    # Three evenings later (noon on day 8): days 5, 6 and 7 were missed in a row.
    set_clock(utc(2026, 1, 18, 11, 0))
    later = Api("colin").get(f"{BASE}/{code}/diary").json()
    assert [entry["state"] for entry in later["entries"][4:8]] == [
        "missed",
        "missed",
        "missed",
        "upcoming",
    ]
    (summary,) = later["compliance"]
    assert (summary["missed"], summary["due"], summary["missed_in_a_row"]) == (4, 7, 3)
    assert summary["share"] == pytest.approx(3 / 7)
    # 17:30 UTC on day 8 (18:30 local): its entry is open.
    set_clock(utc(2026, 1, 18, 17, 30))
    assert Api("colin").get(f"{BASE}/{code}/diary").json()["entries"][7]["state"] == "open"


@pytest.mark.django_db
def test_the_diary_is_read_within_the_users_sites_and_names_no_arm(study: Any, code: str) -> None:
    invite_patient(study, code, "colin", language="da", time_zone=ZONE)
    assert Api("otto").get(f"{BASE}/{code}/diary").status_code == 404
    assert Api("colin").get(f"{BASE}/NOPE-999/diary").status_code == 404
    text = Api("ines").get(f"{BASE}/{code}/diary").content.decode()
    for arm in load_protocol("NCT05933434").arms:
        assert arm.id not in text and arm.label not in text


def test_the_openapi_document_has_the_three_operations() -> None:
    from trialdesk.web.api import api

    paths = api.get_openapi_schema()["paths"]
    subject = "/api/v1/studies/{study}/subjects/{code}"
    assert set(paths[subject + "/diary"]) == {"get"}
    assert set(paths[subject + "/patient-link"]) == {"post", "delete"}
    invite = paths[subject + "/patient-link"]["post"]
    assert {"201", "400", "403", "404", "409"} <= {str(code) for code in invite["responses"]}
