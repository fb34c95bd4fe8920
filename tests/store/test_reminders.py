"""Messages to patients (`trialdesk.store.reminders`), received by a real SMTP server on
loopback (aiosmtpd), on SQLite and PostgreSQL.

STEMJOINT's pain diary (NCT05933434.yaml, `patient_reported`): days 1-30, 18:00-23:59 in
the patient's time zone, 60 minutes' grace. Day 0 here is 2026-02-01; Copenhagen is UTC+1
in February, so by hand:

- day 1 is 2026-02-02: opens 17:00 UTC (18:00 local), closes 23:00 UTC (midnight local,
  23:59 inclusive), answers taken late until 2026-02-03 00:00 UTC;
- day n opens on 2026-02-01 + n at 17:00 UTC and is missed from 2026-02-01 + n + 1 at
  00:00 UTC.

The expected words are those of the Danish and Chinese catalogues
(`src/trialdesk/store/locale/*/LC_MESSAGES/django.po`), copied here by hand.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from support.smtp import Inbox, free_port, smtp_server

from .conftest import OPERATOR

STEMJOINT = "NCT05933434"
DAY0 = dt.date(2026, 2, 1)
SCREENED_ON = dt.date(2026, 1, 20)
ADDRESS = "patient.0042@example.org"
BASE = "https://trials.example.org"
#: msgfmt --statistics: "25 translated messages, 1 fuzzy translation, 2 untranslated messages."
STATISTICS = re.compile(r"(\d+) (translated|fuzzy|untranslated)")


def utc(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """An instant in February 2026, UTC."""
    return dt.datetime(2026, 2, day, hour, minute, tzinfo=dt.UTC)


# ---------------------------------------------------------------- the SMTP server


@pytest.fixture(scope="module")
def smtp() -> Any:
    with smtp_server() as running:
        yield running


@pytest.fixture
def inbox(smtp: Any, settings: Any) -> Inbox:
    """The test's mail: Django's SMTP backend (pytest-django would keep it in memory)
    pointed at the loopback server, emptied for each test."""
    controller, inbox = smtp
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.DEFAULT_FROM_EMAIL = "auh-trials@example.org"
    inbox.messages.clear()
    return inbox


# ---------------------------------------------------------------- a STEMJOINT patient


@pytest.fixture
def stemjoint(django_db_setup: str) -> Any:
    from trialdesk.store.services import add_site, add_user, create_study

    study = create_study(STEMJOINT, OPERATOR)
    add_site(study, "AUH", OPERATOR)
    add_user(study, "ines", "investigator", OPERATOR)
    add_user(study, "colin", "coordinator", OPERATOR, "AUH")
    return study


def treated_subject(study: Any) -> str:
    """A subject screened, consented, eligible, randomized and injected on DAY0, with the
    screening forms of an eligible patient of the demo's planned trial (judged by the
    store's own rule)."""
    from trialdesk.protocol import load_protocol
    from trialdesk.store.demo.plan import plan_trial
    from trialdesk.store.services import (
        evaluate_eligibility,
        randomize_subject,
        record_administration,
        record_consent,
        save_form,
        screen_subject,
    )

    protocol = load_protocol(STEMJOINT)
    plan = plan_trial(protocol, 12, 7, {arm.id: 0.0 for arm in protocol.arms}, SCREENED_ON)
    entry = next(entry for entry in plan.log if entry.verdict == "eligible")
    subject = screen_subject(
        study,
        "AUH",
        year_of_birth=SCREENED_ON.year - entry.patient.age,
        age=entry.patient.age,
        sex=entry.patient.sex,
        by="ines",
        screened_on=SCREENED_ON,
    )
    record_consent(study, subject.code, consented_on=SCREENED_ON, consent_version="1.0", by="ines")
    for form, values in entry.screening_forms.items():
        save_form(study, subject.code, "SCR", form, values, "ines")
    verdict = evaluate_eligibility(study, subject.code, entry.attestations, "ines")
    assert verdict.verdict == "eligible"
    randomize_subject(study, subject.code, "ines")
    record_administration(study, subject.code, "INJ", DAY0, "ines")
    return subject.code


def invited(study: Any, language: str = "da", address: str = ADDRESS) -> tuple[Any, str]:
    from trialdesk.store.services.patient_reports import invite_patient

    code = treated_subject(study)
    return invite_patient(
        study, code, "colin", language=language, time_zone="Europe/Copenhagen", email=address
    )


def remind(at: dt.datetime) -> dict[str, int]:
    from trialdesk.store.reminders import send_due

    run = send_due(at)
    assert run.failed == ()
    return dict(run.sent)


# ---------------------------------------------------------------- the invitation


@pytest.mark.django_db
def test_the_invitation_carries_the_link_in_the_patients_language(
    stemjoint: Any, inbox: Inbox
) -> None:
    from trialdesk.store.models import PatientReminder
    from trialdesk.store.reminders import send_invitation

    link, token = invited(stemjoint, "da")
    assert send_invitation(link, token, base=BASE + "/") is True
    assert send_invitation(link, token, base=BASE) is False  # once per link
    [(to, subject, body)] = inbox.mails()
    assert to == [ADDRESS]
    assert inbox.messages[0][1]["From"] == "auh-trials@example.org"
    assert subject == "Dit personlige link til forsøgets dagbog"
    assert "din dagbog for forsøget STEMJOINT på din egen telefon" in body
    assert f"Åbn dit personlige link:\n{BASE}/p/{token}/\n" in body
    sent = PatientReminder.objects.get(link=link)
    assert (sent.kind, sent.schedule, sent.day, sent.channel) == ("invitation", "", 0, "email")

    chinese, chinese_token = invited(stemjoint, "zh-hans", "patient.0043@example.org")
    assert send_invitation(chinese, chinese_token, base=BASE)
    _to, subject, body = inbox.mails()[1]
    assert subject == "您的研究日记个人链接"
    assert f"打开您的个人链接：\n{BASE}/p/{chinese_token}/" in body


@pytest.mark.django_db
def test_no_invitation_without_an_address_or_for_a_revoked_link(
    stemjoint: Any, inbox: Inbox
) -> None:
    from trialdesk.store.reminders import send_invitation
    from trialdesk.store.services.patient_reports import revoke_patient_link

    link, token = invited(stemjoint, address="")
    assert send_invitation(link, token, base=BASE) is False
    other, other_token = invited(stemjoint)
    revoke_patient_link(stemjoint, other.subject.code, "colin", "phone lost")
    other.refresh_from_db()
    assert send_invitation(other, other_token, base=BASE) is False
    assert inbox.mails() == []


@pytest.mark.django_db
def test_a_refused_message_is_not_recorded_and_goes_out_on_the_next_try(
    stemjoint: Any, inbox: Inbox, settings: Any
) -> None:
    from trialdesk.store.models import PatientReminder
    from trialdesk.store.reminders import send_invitation

    link, token = invited(stemjoint)
    listening = settings.EMAIL_PORT
    settings.EMAIL_PORT = free_port()  # nothing listens there
    with pytest.raises(OSError):
        send_invitation(link, token, base=BASE)
    assert not PatientReminder.objects.filter(link=link).exists()
    settings.EMAIL_PORT = listening
    assert send_invitation(link, token, base=BASE)
    assert len(inbox.mails()) == 1


# ---------------------------------------------------------------- the diary's reminders


@pytest.mark.django_db
def test_the_window_reminder_comes_at_18_local_once(stemjoint: Any, inbox: Inbox) -> None:
    invited(stemjoint)
    # 16:59 UTC is 17:59 in Copenhagen: day 1 is not open yet.
    assert remind(utc(2, 16, 59)) == {}
    assert remind(utc(2, 17, 0)) == {"window_open": 1}
    [(to, subject, body)] = inbox.mails()
    assert to == [ADDRESS]
    assert subject == "Din dagbog er åben"
    assert "Din dagbog for dag 1 i forsøget STEMJOINT er åben indtil kl. 23:59." in body
    assert "Åbn det personlige link i din invitationsmail for at svare." in body
    assert "/p/" not in body  # the token is not kept: the invitation holds the link
    # The next runs (every 15 minutes) send nothing more that evening.
    assert remind(utc(2, 17, 15)) == {}
    assert remind(utc(2, 22, 45)) == {}
    # In the grace hour (23:00-24:00 UTC) the window is closed: no reminder for it.
    assert remind(utc(2, 23, 30)) == {}
    assert len(inbox.mails()) == 1
    # Day 2 opens at 17:00 UTC on 2026-02-03 (and day 1 was missed at midnight UTC).
    assert remind(utc(3, 17, 0)) == {"window_open": 1, "missed_day": 1}


@pytest.mark.django_db
def test_a_run_that_starts_late_in_the_evening_still_reminds(stemjoint: Any, inbox: Inbox) -> None:
    invited(stemjoint)
    # 22:59 UTC is 23:59 local, the window's last minute.
    assert remind(utc(2, 22, 59)) == {"window_open": 1}
    assert remind(utc(2, 23, 0)) == {}


@pytest.mark.django_db
def test_no_window_reminder_for_an_answered_day(stemjoint: Any, inbox: Inbox) -> None:
    from trialdesk.store.services.patient_reports import answer_entry

    link, _token = invited(stemjoint)
    answer_entry(link, "pain_diary", 1, "day1", 3, now=utc(2, 17, 5))
    assert remind(utc(2, 17, 10)) == {}
    # Answered: no missed-day message after the grace either.
    assert remind(utc(3, 0, 5)) == {}
    assert inbox.mails() == []


@pytest.mark.django_db
def test_the_missed_day_reminder_after_the_grace_once(stemjoint: Any, inbox: Inbox) -> None:
    invited(stemjoint)
    assert remind(utc(2, 17, 0)) == {"window_open": 1}
    # 23:59 UTC is inside the grace (answers taken late until 00:00 UTC).
    assert remind(utc(2, 23, 59)) == {}
    assert remind(dt.datetime(2026, 2, 3, 0, 0, tzinfo=dt.UTC)) == {"missed_day": 1}
    _to, subject, body = inbox.mails()[1]
    assert subject == "En dag i dagbogen blev ikke udfyldt"
    assert "Din dagbog for dag 1 (2026-02-02) i forsøget STEMJOINT blev ikke besvaret" in body
    assert "kan ikke længere udfyldes" in body
    assert remind(utc(3, 0, 15)) == {}
    assert len(inbox.mails()) == 2


@pytest.mark.django_db
def test_only_the_last_missed_day_is_reminded(stemjoint: Any, inbox: Inbox) -> None:
    invited(stemjoint)
    # First run on 2026-02-05 at 00:30 UTC: days 1, 2 and 3 are missed (day 3 from 00:00),
    # day 4 not open yet. One message, about day 3; no window reminder (none is open).
    assert remind(utc(5, 0, 30)) == {"missed_day": 1}
    [(_to, _subject, body)] = inbox.mails()
    assert "dag 3 (2026-02-04)" in body
    # A run more than a day after the last missed day's grace sends nothing for it:
    # 2026-02-06 00:00 UTC ends day 4's grace, so day 4 is reminded; day 3 never again.
    assert remind(utc(6, 0, 0)) == {"missed_day": 1}
    assert "dag 4 (2026-02-05)" in inbox.mails()[1][2]


@pytest.mark.django_db
def test_a_stale_missed_day_is_not_reminded(stemjoint: Any, inbox: Inbox) -> None:
    invited(stemjoint)
    # The diary's last day, 30, is 2026-03-03; its grace ends 2026-03-04 00:00 UTC. A run a
    # day and more later (the job stopped for a while) sends nothing about it.
    late = dt.datetime(2026, 3, 5, 0, 0, tzinfo=dt.UTC)
    assert remind(late) == {}
    assert remind(late - dt.timedelta(minutes=1)) == {"missed_day": 1}
    assert "dag 30 (2026-03-03)" in inbox.mails()[0][2]


@pytest.mark.django_db
def test_nothing_for_a_revoked_link_a_withdrawn_subject_or_no_address(
    stemjoint: Any, inbox: Inbox
) -> None:
    from trialdesk.store.services import withdraw_subject
    from trialdesk.store.services.patient_reports import revoke_patient_link

    revoked, _token = invited(stemjoint)
    revoke_patient_link(stemjoint, revoked.subject.code, "colin", "phone lost")
    withdrawn, _token = invited(stemjoint, address="patient.0050@example.org")
    withdraw_subject(stemjoint, withdrawn.subject.code, "moved abroad", "ines")
    invited(stemjoint, address="")
    assert remind(utc(2, 17, 0)) == {}
    assert remind(utc(3, 0, 0)) == {}
    assert inbox.mails() == []
    # A reissued link is live again and reminded.
    from trialdesk.store.services.patient_reports import invite_patient

    invite_patient(
        stemjoint,
        revoked.subject.code,
        "colin",
        language="da",
        time_zone="Europe/Copenhagen",
        email=ADDRESS,
    )
    # A reissued link is live again and reminded: day 2 opening, and day 1 missed by the
    # subject (before the reissue: the subject's entries, not the link's).
    assert remind(utc(3, 17, 0)) == {"window_open": 1, "missed_day": 1}


@pytest.mark.django_db
def test_the_address_is_never_in_the_database_in_clear(stemjoint: Any, inbox: Inbox) -> None:
    from django.apps import apps
    from django.core import serializers

    from trialdesk.store.reminders import send_invitation

    link, token = invited(stemjoint)
    send_invitation(link, token, base=BASE)
    remind(utc(2, 17, 0))
    remind(utc(3, 0, 0))
    assert len(inbox.mails()) == 3
    for model in apps.get_models():
        text = serializers.serialize("json", model.objects.all())
        assert ADDRESS not in text, model.__name__
        assert "patient.0042" not in text, model.__name__


# ---------------------------------------------------------------- two runs at once


class SlowSender:
    """Email through Django's backend, slowly: a second run starts while the first is
    still handing its message over."""

    channel = "email"

    def send(self, address: str, subject: str, body: str) -> None:
        from trialdesk.store.reminders import EmailSender

        time.sleep(0.5)
        EmailSender().send(address, subject, body)


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_send_once(stemjoint: Any, inbox: Inbox) -> None:
    from django.db import connection

    from trialdesk.store.reminders import send_due

    invited(stemjoint)
    start = threading.Barrier(2)
    sent: list[int] = []

    def run() -> None:
        try:
            start.wait()
            sent.append(sum(send_due(utc(2, 17, 0), [SlowSender()]).sent.values()))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(sent) == [0, 1]
    assert len(inbox.mails()) == 1


# ---------------------------------------------------------------- the catalogue


def test_every_message_to_patients_is_translated(tmp_path: Path) -> None:
    """makemessages over the store's code (as `make messages` runs it) leaves no message
    untranslated or fuzzy in the Danish and Chinese catalogues."""
    if shutil.which("msgfmt") is None:
        pytest.fail("GNU gettext (msgfmt) is not installed: apt-get install gettext")
    store = Path(__file__).resolve().parents[2] / "src" / "trialdesk" / "store"
    copy = tmp_path / "store"
    shutil.copytree(store, copy, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    environment = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "trialdesk.web.settings",
        "TRIALDESK_SECRET_KEY": "messages-test",
    }
    command = [sys.executable, "-P", "-m", "django", "makemessages", "--no-obsolete"]
    made = subprocess.run(
        [*command, "-l", "da", "-l", "zh_Hans"],
        cwd=copy,
        env=environment,
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    for language in ("da", "zh_Hans"):
        po = copy / "locale" / language / "LC_MESSAGES" / "django.po"
        counted = subprocess.run(
            ["msgfmt", "--check", "--statistics", "-o", "/dev/null", str(po)],
            capture_output=True,
            text=True,
        )
        assert counted.returncode == 0, counted.stderr
        counts = {kind: int(n) for n, kind in STATISTICS.findall(counted.stderr)}
        assert counts == {"translated": 6}, (language, counted.stderr)


# ---------------------------------------------------------------- trialdesk epro remind


def remind_command(*args: str) -> Any:
    from typer.testing import CliRunner

    from trialdesk.cli import app

    return CliRunner().invoke(app, ["epro", "remind", *args])


@pytest.mark.django_db
def test_the_remind_command_sends_what_is_due(stemjoint: Any, inbox: Inbox) -> None:
    import json

    invited(stemjoint)
    # 18:00 in Copenhagen on 2026-02-02, given with its own offset.
    result = remind_command("--now", "2026-02-02T18:00:00+01:00", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "sent": {"invitation": 0, "window_open": 1, "missed_day": 0},
        "failed": [],
    }
    again = remind_command("--now", "2026-02-02T18:15:00+01:00")
    assert again.exit_code == 0, again.output
    assert again.stdout == "invitation: 0 sent\nwindow_open: 0 sent\nmissed_day: 0 sent\n"
    assert len(inbox.mails()) == 1


@pytest.mark.django_db
def test_the_remind_command_refuses_a_moment_without_offset_and_reports_a_refusal(
    stemjoint: Any, inbox: Inbox, settings: Any
) -> None:
    result = remind_command("--now", "2026-02-02T18:00:00")
    assert result.exit_code == 2
    assert "--now '2026-02-02T18:00:00': the instant has no offset" in result.stderr
    invited(stemjoint)
    settings.EMAIL_PORT = free_port()  # nothing listens there
    refused = remind_command("--now", "2026-02-02T17:00:00Z")
    assert refused.exit_code == 1
    assert "window_open: 0 sent" in refused.stdout
    assert "window_open pain_diary day 1 by email" in refused.stderr
    assert inbox.mails() == []


@pytest.mark.django_db
def test_epro_invite_emails_the_invitation(stemjoint: Any, inbox: Inbox) -> None:
    import json

    from typer.testing import CliRunner

    from trialdesk.cli import app

    code = treated_subject(stemjoint)
    arguments = ["epro", "invite", STEMJOINT, code, "--by", "colin", "--language", "da"]
    arguments += ["--time-zone", "Europe/Copenhagen", "--email", ADDRESS]
    result = CliRunner().invoke(app, [*arguments, "--base-url", BASE, "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["emailed"] is True
    [(to, subject, body)] = inbox.mails()
    assert (to, subject) == ([ADDRESS], "Dit personlige link til forsøgets dagbog")
    assert f"{BASE}/p/{document['token']}/" in body


@pytest.mark.django_db
def test_an_invitation_made_through_the_api_is_emailed_with_the_servers_address(
    stemjoint: Any, inbox: Inbox, settings: Any
) -> None:
    from .test_api import Api

    code = treated_subject(stemjoint)
    body = {"language": "da", "time_zone": "Europe/Copenhagen", "email": ADDRESS}
    path = f"/api/v1/studies/{STEMJOINT}/subjects/{code}/patient-link"
    made = Api("colin").post(path, body)
    assert made.status_code == 201, made.content
    document = made.json()
    assert (document["emailed"], document["email_refusal"]) == (True, "")
    [(to, subject, body_text)] = inbox.mails()
    assert (to, subject) == ([ADDRESS], "Dit personlige link til forsøgets dagbog")
    # Django's test client asks for http://testserver/: the link starts with that address.
    assert f"http://testserver/p/{document['token']}/" in body_text
    # A mail server that refuses: the link is made all the same, and the refusal is said.
    settings.EMAIL_PORT = free_port()  # nothing listens there
    again = Api("colin").post(path, body)
    assert again.status_code == 201, again.content
    assert again.json()["emailed"] is False and again.json()["email_refusal"]
    from trialdesk.store.models import PatientLink

    assert PatientLink.objects.filter(subject__code=code, revoked_at__isnull=True).count() == 1
    assert len(inbox.mails()) == 1
