"""`trialdesk epro invite` and `trialdesk epro revoke`, run in-process on SQLite and
PostgreSQL: the patient's address printed once with its QR code, --json, the refusals (exit 2
for bad input and an unknown subject or link, 1 for a step the user may not take) with nothing
written."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from typing import Any

import pytest
import segno
from typer.testing import CliRunner

from support.epro import stemjoint_study, treated_subject
from trialdesk.cli import app
from trialdesk.store.models import AuditEvent, PatientLink
from trialdesk.store.services.patient_reports import live_link

DAY0 = dt.date(2026, 1, 10)
ZONE = "Europe/Copenhagen"


def run(*args: str) -> Any:
    return CliRunner().invoke(app, ["epro", *args], env={"COLUMNS": "100"})


@pytest.fixture
def code(django_db_setup: str) -> str:
    return treated_subject(stemjoint_study(), DAY0)


def invite(code: str, *more: str) -> Any:
    return run("invite", "NCT05933434", code, "--by", "colin", "--time-zone", ZONE, *more)


@pytest.mark.django_db
def test_invite_prints_the_address_once_with_its_qr_code(code: str) -> None:
    result = invite(code, "--language", "da", "--base-url", "https://trial.example.org/")
    assert result.exit_code == 0, result.output
    link = PatientLink.objects.get()
    (url,) = [line for line in result.stdout.splitlines() if line.startswith("https://")]
    prefix = "https://trial.example.org/p/"
    assert url.startswith(prefix) and url.endswith("/")
    token = url[len(prefix) : -1]
    assert hashlib.sha256(token.encode()).hexdigest() == link.token_sha256
    assert live_link(token) == link and (link.language, link.time_zone) == ("da", ZONE)
    assert result.stdout.count(token) == 1
    # The QR code of the same address, as segno draws it for a terminal.
    drawn = io.StringIO()
    segno.make(url, error="m").terminal(out=drawn, compact=True)
    assert drawn.getvalue() in result.stdout
    assert "cannot be shown again" in result.stdout
    assert {e.by for e in AuditEvent.objects.filter(action="patient.invited")} == {"colin"}


@pytest.mark.django_db
def test_invite_json_is_one_document_with_the_url_and_token(code: str) -> None:
    result = invite(code, "--email", "karen.p@example.org", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    token = document["token"]
    assert document["url"] == f"http://127.0.0.1:8000/p/{token}/"
    assert (document["subject"], document["language"], document["time_zone"]) == (code, "en", ZONE)
    assert (document["email_on_file"], document["created_by"]) == (True, "colin")
    assert document["study"] == "NCT05933434 v1.0"
    assert "karen" not in result.stdout


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("more", "exit_code", "message"),
    [
        (("--base-url", "trial.example.org"), 2, "error: --base-url 'trial.example.org': expected"),
        (("--base-url", "ftp://trial.example.org"), 2, "error: --base-url"),
        (("--language", "fr"), 2, "error: language 'fr': expected one of en, da, zh-hans"),
        (("--email", "karen@"), 2, "error: email 'karen@': expected an address"),
    ],
)
def test_a_bad_invitation_is_refused_and_writes_nothing(
    code: str, more: tuple, exit_code: int, message: str
) -> None:
    before = AuditEvent.objects.count()
    result = invite(code, *more)
    assert result.exit_code == exit_code, result.output
    assert message in result.stderr
    assert result.stdout == ""
    assert AuditEvent.objects.count() == before and not PatientLink.objects.exists()


@pytest.mark.django_db
def test_refusals_name_the_user_the_subject_and_the_zone(code: str) -> None:
    by_monitor = run("invite", "NCT05933434", code, "--by", "mona", "--time-zone", ZONE)
    assert by_monitor.exit_code == 1 and "mona" in by_monitor.stderr
    unknown = run("invite", "NCT05933434", "AUH-999", "--by", "colin", "--time-zone", ZONE)
    assert unknown.exit_code == 2 and "AUH-999" in unknown.stderr
    zone = run("invite", "NCT05933434", code, "--by", "colin", "--time-zone", "Europe/Aarhus")
    assert zone.exit_code == 2 and "time zone 'Europe/Aarhus'" in zone.stderr
    no_zone = run("invite", "NCT05933434", code, "--by", "colin")
    assert no_zone.exit_code == 2 and "--time-zone" in no_zone.output
    assert not PatientLink.objects.exists()


@pytest.mark.django_db
def test_revoke_needs_a_reason_and_the_link_opens_nothing_after(code: str) -> None:
    token = json.loads(invite(code, "--json").stdout)["token"]
    blank = run("revoke", "NCT05933434", code, "--by", "colin", "--reason", "  ")
    assert blank.exit_code == 2 and "a reason is required" in blank.stderr
    refused = run("revoke", "NCT05933434", code, "--by", "mona", "--reason", "phone lost")
    assert refused.exit_code == 1
    assert live_link(token) is not None
    done = run("revoke", "NCT05933434", code, "--by", "ines", "--reason", "phone lost")
    assert done.exit_code == 0, done.output
    assert done.stdout == f"NCT05933434 v1.0, subject {code}: personal link revoked (phone lost)\n"
    assert live_link(token) is None
    reasons = AuditEvent.objects.filter(action="patient.link_revoked").values_list("by", "reason")
    assert set(reasons) == {("ines", "phone lost")}
    again = run("revoke", "NCT05933434", code, "--by", "ines", "--reason", "again", "--json")
    assert again.exit_code == 2 and "no live patient link" in again.stderr


@pytest.mark.django_db
def test_revoke_json_names_who_revoked_it(code: str) -> None:
    invite(code)
    result = run("revoke", "NCT05933434", code, "--by", "colin", "--reason", "moved", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert (document["subject"], document["revoked_by"]) == (code, "colin")
    assert document["revoked_at"] is not None
