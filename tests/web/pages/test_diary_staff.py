"""What site staff and monitors see of a patient's diary, in Chromium against `trialdesk
serve` with the store's clock in a file (`TRIALDESK_CLOCK_FILE`), which the test moves.

A STEMJOINT subject is treated on DAY0 (20 days ago). The coordinator invites the patient on
the subject's diary page with the patient's address: the personal link is shown once, as a URL
and a QR code, a reload does not show it again, and the invitation carrying it reaches the
test's SMTP server on loopback in Danish. The patient answers days 1-3 inside the window through the
link (the store's own `answer_entry`, run against the served store's database at those
instants), misses days 4 and 5; with the clock on day 6 at 20:00 in Copenhagen (the pain
diary's window is 18:00-23:59, 60 minutes' grace: days 1-5 are settled, day 6 is open), the
grid shows answered days 1-3, missed 4-5, open 6, the alert "2 missed days in a row", the
work list lists the subject, and the monitoring dashboard counts AUH's entries due: 3
answered, 0 late, 2 missed, 60%. An assessor and a monitor see the grid and no invite form;
no page shows an arm.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from support.browser import LANGUAGES, STEMJOINT, WIDTHS, choose_language, look
from support.smtp import smtp_server

from .test_visits import no_arm_in, treated_subject

COPENHAGEN = ZoneInfo("Europe/Copenhagen")
DAY0 = dt.date.today() - dt.timedelta(days=20)
ANSWERED_DAYS = (1, 2, 3)
MISSED_DAYS = (4, 5)


def local(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """Day `day` of the diary at hour:minute in Copenhagen."""
    return dt.datetime.combine(
        DAY0 + dt.timedelta(days=day), dt.time(hour, minute), tzinfo=COPENHAGEN
    )


@pytest.fixture(scope="module")
def clock_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clock") / "now.txt"


@pytest.fixture(scope="module")
def clocked(serve_store: Any, clock_file: Path) -> Iterator[Any]:
    with smtp_server() as (controller, received):
        store = serve_store(
            TRIALDESK_CLOCK_FILE=str(clock_file),
            TRIALDESK_SMTP_HOST="127.0.0.1",
            TRIALDESK_SMTP_PORT=str(controller.port),
        )
        store.inbox = received
        yield store


def set_clock(clock_file: Path, instant: dt.datetime) -> None:
    clock_file.write_text(instant.isoformat(), encoding="utf-8")


ANSWER = """
import datetime as dt, sys
from trialdesk.store.database import open_store
open_store()
from trialdesk.store.services.patient_reports import answer_entry, live_link
link = live_link(sys.argv[1])
assert link is not None, "no live link for the token"
for day, at in zip(sys.argv[2::2], sys.argv[3::2]):
    answer_entry(link, "pain_diary", int(day), f"day{day}", 4, now=dt.datetime.fromisoformat(at))
"""


def answer(store: Any, token: str, answers: dict[int, dt.datetime]) -> None:
    """The patient's answers through the link, received at the given instants."""
    pairs = [text for day, at in answers.items() for text in (str(day), at.isoformat())]
    result = subprocess.run(
        [sys.executable, "-c", ANSWER, token, *pairs],
        env={**os.environ, **store.environment},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def diary_url(code: str) -> str:
    return f"/studies/{STEMJOINT}/subjects/{code}/diary/"


def state_of(page: Any, day: int) -> str:
    return page.locator(f"#entry-pain_diary-{day}").get_attribute("data-state")


def test_staff_see_the_grid_the_alert_and_invite_once(
    clocked: Any, clock_file: Path, sign_in: Any
) -> None:
    set_clock(clock_file, local(1, 12))  # before day 1's window: nothing due yet
    code = treated_subject(clocked, STEMJOINT, "AUH", "sj-investigator", [("INJ", DAY0)])
    page = sign_in(clocked, "sj-coordinator")
    page.goto(f"/studies/{STEMJOINT}/subjects/{code}/")
    look(page, "subject-diary-link")
    page.click("text=Diary and personal link")
    assert page.url.endswith(diary_url(code))
    assert page.locator("#diary-alert").count() == 0
    # The defaults: the site's country's language (Denmark: Danish), Copenhagen.
    assert page.locator("#invite-language").input_value() == "da"
    assert page.locator("#invite-time-zone").input_value() == "Europe/Copenhagen"
    # A time zone that does not exist is refused, naming the field and the expectation.
    page.fill("#invite-time-zone", "Mars/Olympus")
    with page.expect_response(lambda r: r.url.endswith("/diary/invite")) as refused:
        page.click("form.invite-form button[type=submit]")
    assert refused.value.status == 400
    assert "expected an IANA zone" in page.inner_text("form.invite-form [role=alert]")
    assert page.locator("#new-link").count() == 0
    page.fill("#invite-time-zone", "Europe/Copenhagen")
    page.fill("#invite-email", "patient.0042@example.org")
    page.click("form.invite-form button[type=submit]")
    page.wait_for_load_state()
    url = page.locator("#patient-link-url").inner_text()
    assert url.startswith(clocked.base_url + "/p/"), url
    token = url.rstrip("/").rsplit("/", 1)[1]
    assert len(token) >= 40
    assert "was emailed to the patient" in page.inner_text("#invitation-emailed")
    # The Danish invitation (the store's catalogue, src/trialdesk/store/locale/da) with the link.
    [(to, subject, body)] = clocked.inbox.mails()
    assert (to, subject) == (
        ["patient.0042@example.org"],
        "Dit personlige link til forsøgets dagbog",
    )
    assert url in body
    assert page.locator("#new-link svg[role=img]").count() == 1
    assert "will not be shown again" in page.inner_text("#new-link")
    look(page, "diary-staff-new-link")
    page.reload()
    assert page.locator("#new-link").count() == 0
    assert token not in page.content()
    assert "Link live" in page.inner_text(".page-head")

    answer(clocked, token, {day: local(day, 19, 30) for day in ANSWERED_DAYS})
    set_clock(clock_file, local(6, 20))
    page.goto(diary_url(code))
    for day in ANSWERED_DAYS:
        assert state_of(page, day) == "answered"
        assert "Answered" in page.inner_text(f"#entry-pain_diary-{day}")
    for day in MISSED_DAYS:
        assert state_of(page, day) == "missed"
        assert "Missed" in page.inner_text(f"#entry-pain_diary-{day}")
    assert state_of(page, 6) == "open"
    assert state_of(page, 7) == "upcoming"
    # Day 1's local date, and when its answer came in the patient's time (19:30 Copenhagen).
    day1 = page.locator("#entry-pain_diary-1 td").all_inner_texts()
    assert day1[0] == (DAY0 + dt.timedelta(days=1)).isoformat(), day1
    assert day1[2].endswith("19:30"), day1
    assert "2 missed days in a row" in page.inner_text("#diary-alert")
    counts = {
        item.get_attribute("data-state"): item.locator("strong").inner_text()
        for item in page.locator("ul.diary-counts li[data-state]").all()
    }
    assert counts == {"answered": "3", "late": "0", "missed": "2", "open": "1", "upcoming": "24"}
    assert "60%" in page.inner_text("li.diary-share")
    no_arm_in(page.content(), STEMJOINT, "the coordinator")
    for language in LANGUAGES:
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            choose_language(page, language)
            look(page, "diary-staff")
    choose_language(page, "en")

    page.goto(f"/studies/{STEMJOINT}/work")
    section = page.inner_text("#diary-missed")
    assert code in section, section
    assert page.locator("#diary-missed tbody tr").count() == 1
    look(page, "work-list-diary")

    for reader in ("sj-assessor", "sj-monitor"):
        other = sign_in(clocked, reader)
        other.goto(diary_url(code))
        assert other.locator("#diary-pain_diary").count() == 1
        assert state_of(other, 4) == "missed"
        assert other.locator("form.invite-form").count() == 0
        assert other.locator("form.revoke-form").count() == 0
        no_arm_in(other.content(), STEMJOINT, reader)
        # Posting anyway (with the page's CSRF token) is refused by the service: the role
        # has no such step.
        csrf = other.locator("input[name=csrfmiddlewaretoken]").first.get_attribute("value")
        refused = other.request.post(
            clocked.url(diary_url(code) + "invite"),
            form={
                "csrfmiddlewaretoken": csrf,
                "language": "da",
                "time_zone": "Europe/Copenhagen",
            },
        )
        assert refused.status == 403, refused.status
        assert "Your role does not allow this step." in refused.text()

    monitor = sign_in(clocked, "sj-monitor")
    monitor.goto(f"/studies/{STEMJOINT}/monitoring/")
    row = monitor.locator("#diary-compliance tr[data-site=AUH]")
    got = {
        name: row.locator(f"td[data-count={name}]").inner_text()
        for name in ("answered", "late", "missed", "share")
    }
    assert got == {"answered": "3", "late": "0", "missed": "2", "share": "60%"}
    look(monitor, "monitoring-diary")

    # Revoking: the link is no longer live and the work list no longer alerts.
    page.goto(diary_url(code))
    page.fill("#revoke-reason", "the patient lost the phone")
    page.click("form.revoke-form button[type=submit]")
    page.wait_for_load_state()
    assert "Link revoked" in page.inner_text(".page-head")
    page.goto(f"/studies/{STEMJOINT}/work")
    assert code not in page.inner_text("#diary-missed")
