"""The patient's own pages (`/p/<token>/`) on a phone, in Chromium against `trialdesk serve`.

The served store's clock is a file (`TRIALDESK_CLOCK_FILE`) the test rewrites to move the
patient's evenings. Windows by hand from the protocol file (NCT05933434 `patient_reported:
pain_diary`): day d of the diary is the local date day 0 + d in the patient's zone, open
18:00-23:59, answers taken late until 60 minutes after 23:59, i.e. until 01:00 of the next
local date; after that the day is missed. Each evening below is 19:30 Copenhagen time.

Subjects are made through the REST API as in test_visits.py, and so are the links
(`POST .../patient-link`, a reissue revokes the live one; `DELETE` revokes).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from support.browser import STEMJOINT, look
from support.load import ApiClient

PROTOCOL = Path(__file__).resolve().parents[3] / "src/trialdesk/protocols/NCT05933434.yaml"
DIARY = next(s for s in yaml.safe_load(PROTOCOL.read_text())["patient_reported"])
assert (DIARY["id"], DIARY["opens"], DIARY["closes"], DIARY["grace_minutes"]) == (
    "pain_diary",
    "18:00",
    "23:59",
    60,
), "the hand-computed windows below assume the protocol's 18:00-23:59 and 60 minutes"
ZONE = ZoneInfo("Europe/Copenhagen")
TODAY = dt.date.today()
#: Day 0 forty days ago: the diary's 30 days are all in the past of the real clock (the
#: administration date must not be in the future), the served store's clock walks them.
DAY0 = TODAY - dt.timedelta(days=40)
SCREENED_ON = DAY0 - dt.timedelta(days=10)
PHONE = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True}
PRIVATE_HEADERS = {
    "referrer-policy": "strict-origin",
    "cache-control": "no-store",
    "x-robots-tag": "noindex",
}

ANSWERS = """
import json, sys
from trialdesk.store.database import open_store
open_store()
from trialdesk.store.models import PatientAnswer
rows = PatientAnswer.objects.filter(subject__code=sys.argv[1]).order_by("day")
print(json.dumps([
    {"day": a.day, "item": a.item, "value": a.value, "late": a.late,
     "authored": a.authored_at is not None, "received_at": a.received_at.isoformat()}
    for a in rows
]))
"""


def evening(day: int, at: dt.time = dt.time(19, 30)) -> dt.datetime:
    """Diary day `day` at local time `at` in Copenhagen."""
    return dt.datetime.combine(DAY0 + dt.timedelta(days=day), at, tzinfo=ZONE)


def run_in_store(served: Any, script: str, *arguments: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", script, *arguments],
        env={**os.environ, **served.environment},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@cache
def eligible_patient() -> Any:
    from trialdesk.protocol import load_protocol
    from trialdesk.store.demo.plan import plan_trial

    protocol = load_protocol(STEMJOINT)
    plan = plan_trial(protocol, 12, 7, {arm.id: 0.0 for arm in protocol.arms}, TODAY)
    return next(entry for entry in plan.log if entry.verdict == "eligible")


class Diary:
    """The served store with its clock file, and the STEMJOINT investigator's API client."""

    def __init__(self, served: Any, clock_file: Path) -> None:
        self.served = served
        self.clock_file = clock_file
        made = served.trialdesk("token", "create", "sj-investigator", "--json")
        assert made.returncode == 0, made.stderr
        self.api = ApiClient(served.base_url, json.loads(made.stdout)["token"])
        self.subjects = f"/studies/{STEMJOINT}/subjects"

    def set_clock(self, instant: dt.datetime) -> None:
        self.clock_file.write_text(instant.isoformat(), encoding="utf-8")

    def treated_subject(self) -> str:
        """A STEMJOINT subject at AUH, randomized and injected on DAY0."""
        entry = eligible_patient()
        base = f"/studies/{STEMJOINT}/subjects"
        patient = {
            "site": "AUH",
            "year_of_birth": SCREENED_ON.year - entry.patient.age,
            "age": entry.patient.age,
            "sex": entry.patient.sex,
            "screened_on": SCREENED_ON.isoformat(),
        }
        code = self.api.expect("POST", base, patient, 201)["code"]
        consent = {"consented_on": SCREENED_ON.isoformat(), "consent_version": "1.0"}
        self.api.expect("POST", f"{base}/{code}/consent", consent)
        for form, values in entry.screening_forms.items():
            self.api.expect("PUT", f"{base}/{code}/visits/SCR/forms/{form}", {"values": values})
        verdict = self.api.expect(
            "POST", f"{base}/{code}/eligibility", {"attestations": entry.attestations}
        )
        assert verdict["verdict"] == "eligible", verdict
        self.api.expect("POST", f"{base}/{code}/randomize")
        body = {"administration_id": "INJ", "administered_on": DAY0.isoformat()}
        self.api.expect("POST", f"{base}/{code}/administrations", body, 201)
        return code

    def invite(self, code: str, language: str) -> str:
        """A personal link through the API (a reissue revokes the live one): its token."""
        body = {"language": language, "time_zone": "Europe/Copenhagen"}
        made = self.api.expect("POST", f"{self.subjects}/{code}/patient-link", body, 201)
        assert made["path"] == f"/p/{made['token']}/"
        return made["token"]

    def revoke(self, code: str) -> None:
        body = {"reason": "phone lost"}
        self.api.expect("DELETE", f"{self.subjects}/{code}/patient-link", body)

    def compliance(self, code: str) -> tuple[int, int, int]:
        """(answered, late, missed) as the staff's API counts them by the server's clock."""
        diary = self.api.expect("GET", f"{self.subjects}/{code}/diary")
        return diary["answered"], diary["late"], diary["missed"]

    def answers(self, code: str) -> list[dict[str, Any]]:
        return json.loads(run_in_store(self.served, ANSWERS, code))

    def diary_record(self, code: str) -> dict[str, Any]:
        """The D30 pain diary form record's values, as the API gives them to staff."""
        path = f"/studies/{STEMJOINT}/subjects/{code}/visits/D30/forms/pain_diary"
        status, record = self.api.call("GET", path)
        assert status == 200, record
        return {item: value for item, value in record["values"].items() if value is not None}


@pytest.fixture(scope="module")
def diary(serve_store: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    clock_file = tmp_path_factory.mktemp("clock") / "now"
    served = serve_store(TRIALDESK_CLOCK_FILE=str(clock_file))
    made = Diary(served, clock_file)
    yield made
    made.api.close()


@pytest.fixture
def phone(browser: Any, diary: Diary) -> Any:
    """`phone(javascript=True)`: a new page in a phone's browser context (360 x 740,
    touch)."""
    contexts: list[Any] = []

    def open_phone(javascript: bool = True) -> Any:
        context = browser.new_context(
            **PHONE,
            locale="en-GB",
            base_url=diary.served.base_url,
            java_script_enabled=javascript,
        )
        contexts.append(context)
        return context.new_page()

    yield open_phone
    for context in contexts:
        context.close()


def day_rows(page: Any) -> dict[str, str]:
    """The start page's list of days: date text -> state text."""
    rows = page.locator("li.patient-day")
    return {
        rows.nth(i).locator(".patient-day-date").inner_text(): rows.nth(i)
        .locator(".patient-day-state")
        .inner_text()
        for i in range(rows.count())
    }


def da_date(day: int) -> str:
    """Diary day `day`'s local date as Django's Danish DATE_FORMAT writes it ("j. F Y")."""
    months = "januar februar marts april maj juni juli august september oktober november december"
    date = DAY0 + dt.timedelta(days=day)
    return f"{date.day}. {months.split()[date.month - 1]} {date.year}"


def en_date(day: int) -> str:
    date = DAY0 + dt.timedelta(days=day)
    return f"{date.day} {date.strftime('%B')} {date.year}"


def zh_date(day: int) -> str:
    date = DAY0 + dt.timedelta(days=day)
    return f"{date.year}年{date.month}月{date.day}日"


def answer(page: Any, value: int) -> Any:
    """Tap the value on the question page and save; the response of the POST."""
    page.locator(f"label.patient-option:has(input[value='{value}'])").tap()
    with page.expect_navigation() as navigation:
        page.get_by_role("button").tap()
    return navigation.value


def assert_private(response: Any) -> None:
    headers = response.all_headers()
    for header, value in PRIVATE_HEADERS.items():
        assert headers.get(header) == value, (response.url, header, headers.get(header))


def test_a_patient_answers_three_evenings_misses_one_and_cannot_change_or_back_fill(
    diary: Diary, phone: Any
) -> None:
    code = diary.treated_subject()
    other = diary.treated_subject()
    token = diary.invite(code, "da")
    other_token = diary.invite(other, "en")
    item_url = f"/p/{token}/pain_diary/{{day}}/day{{day}}/"

    # Before day 1's window (day 1 at 17:00): nothing to answer; the next opens at 18:00.
    diary.set_clock(evening(1, dt.time(17, 0)))
    page = phone()
    response = page.goto(f"/p/{token}/")
    assert response.status == 200
    assert_private(response)
    assert page.evaluate("document.documentElement.lang") == "da"
    text = page.locator("main").inner_text()
    assert "Intet at besvare nu" in text and f"{da_date(1)} kl. 18:00" in text, text
    assert code not in page.content()
    look(page, "patient-start-empty")

    # Three evenings answered inside the window: 4, 5, 6 on days 1-3.
    for day, value in ((1, 4), (2, 5), (3, 6)):
        diary.set_clock(evening(day))
        page.goto(f"/p/{token}/")
        with page.expect_navigation():
            page.get_by_role("link", name=re.compile(da_date(day))).tap()
        assert page.url.endswith(item_url.format(day=day))
        legend = page.locator("fieldset legend").inner_text()
        assert legend == f"Knæsmerter på dag {day} efter injektionen, 0-10"
        assert page.locator("h1").inner_text() == "Knæsmerter i dag"
        assert page.locator("input[type=radio][name=value]").count() == 11
        if day == 1:
            look(page, "patient-question")
            boxes = page.locator("label.patient-option")
            for i in range(boxes.count()):
                box = boxes.nth(i).bounding_box()
                assert box["width"] >= 44 and box["height"] >= 44, (i, box)
            assert page.evaluate("document.documentElement.scrollWidth") <= 360
            assert code not in page.content() and "AUH" not in page.content()
            # The keyboard reaches the scale, and the focused box shows it.
            page.keyboard.press("Tab")
            assert page.evaluate("document.activeElement.value") == "0"
            outline = page.locator("label.patient-option").first.evaluate(
                "label => getComputedStyle(label).outlineStyle"
            )
            assert outline == "solid"
        if day == 3:
            # A second screen with day 3's form, sent again after the answer below.
            stale = page.context.new_page()
            stale.goto(item_url.format(day=day))
        saved = answer(page, value)
        assert saved.status == 200, page.locator("main").inner_text()
        assert saved.url.endswith("saved/")
        assert_private(saved)
        text = page.locator("main").inner_text()
        assert "Dit svar er gemt" in text and f"{value}" in page.locator("strong").inner_text()
        assert "kan ikke ændres her" in text
        if day == 1:
            look(page, "patient-saved")

    # The answer cannot be changed: the stale form of day 3 is refused (409), 6 stays.
    refused = answer(stale, 2)
    assert refused.status == 409
    assert "Allerede besvaret" in stale.locator("h1").inner_text()
    assert stale.locator("strong").inner_text() == "6"
    look(stale, "patient-answered")
    # A GET of the answered question says so too.
    assert page.goto(item_url.format(day=3)).status == 409

    # Day 4: the form is opened at 19:30, but sent only the next evening, past day 4's grace
    # (01:00 on day 5's date): refused, nothing written; the day is missed.
    diary.set_clock(evening(4))
    page.goto(item_url.format(day=4))
    diary.set_clock(evening(5))
    closed = answer(page, 8)
    assert closed.status == 409
    text = page.locator("main").inner_text()
    assert "Denne dag er lukket" in text, text
    assert f"lukkede {da_date(5)} kl. 01:00" in text and "kan ikke længere udfyldes" in text, text
    look(page, "patient-closed")
    assert page.goto(item_url.format(day=4)).status == 409

    # The start page on day 5: day 5 open; days 1-3 answered with their values, day 4 missed.
    response = page.goto(f"/p/{token}/")
    assert response.status == 200
    assert page.get_by_role("link", name=re.compile(da_date(5))).count() == 1
    assert "Åben indtil kl. 23:59." in page.locator("main").inner_text()
    assert day_rows(page) == {
        da_date(1): "Besvaret: 4",
        da_date(2): "Besvaret: 5",
        da_date(3): "Besvaret: 6",
        da_date(4): "Ikke besvaret",
    }
    look(page, "patient-start")

    # What the store holds: three answers, received inside their windows, with the phone's
    # clock; the D30 form record has day1-day3 and nothing for day 4.
    held = diary.answers(code)
    assert [(a["day"], a["value"], a["late"]) for a in held] == [
        (1, 4, False),
        (2, 5, False),
        (3, 6, False),
    ]
    assert all(a["authored"] for a in held), "patient.js sends the phone's clock"
    assert [dt.datetime.fromisoformat(a["received_at"]) for a in held] == [
        evening(d).astimezone(dt.UTC) for d in (1, 2, 3)
    ]
    assert diary.diary_record(code) == {"day1": 4, "day2": 5, "day3": 6}
    assert diary.compliance(code) == (3, 0, 1)

    # The other subject's link shows only its own diary: nothing answered, the first subject's
    # answers are not there, and its question of day 5 is open; answering it (9) leaves the
    # first subject's record as it was. This phone runs no JavaScript: the page works, and
    # no phone clock is recorded.
    other_page = phone(javascript=False)
    other_page.goto(f"/p/{other_token}/")
    assert other_page.evaluate("document.documentElement.lang") == "en"
    assert set(day_rows(other_page).values()) == {"Missed"}
    assert len(day_rows(other_page)) == 4
    assert other_page.goto(f"/p/{other_token}/pain_diary/2/day2/saved/").status == 404
    other_page.goto(f"/p/{other_token}/pain_diary/5/day5/")
    assert answer(other_page, 9).status == 200
    other_page.goto(f"/p/{other_token}/")
    assert day_rows(other_page)[en_date(4)] == "Missed"
    page.goto(f"/p/{token}/")
    assert [state for state in day_rows(page).values() if "9" in state] == []
    assert diary.diary_record(code) == {"day1": 4, "day2": 5, "day3": 6}
    assert diary.diary_record(other) == {"day5": 9}
    assert [(a["day"], a["authored"]) for a in diary.answers(other)] == [(5, False)]

    # A revoked link answers 404, in every language, and a POST through it writes nothing.
    page.goto(item_url.format(day=5))
    diary.revoke(code)
    sent = answer(page, 7)
    assert sent.status == 404
    assert_private(sent)
    for path in (f"/p/{token}/", item_url.format(day=5)):
        gone = page.goto(path)
        assert gone.status == 404
        assert_private(gone)
    text = page.locator("main").inner_text()
    assert "This link does not open a diary" in text and "Dette link åbner ikke en dagbog" in text
    look(page, "patient-link-not-found")
    assert [a["day"] for a in diary.answers(code)] == [1, 2, 3]
    assert diary.diary_record(code) == {"day1": 4, "day2": 5, "day3": 6}


def test_a_revoked_links_post_writes_nothing_and_a_reissued_link_speaks_its_language(
    diary: Diary, phone: Any
) -> None:
    code = diary.treated_subject()
    first = diary.invite(code, "en")
    diary.set_clock(evening(6))
    page = phone()
    page.goto(f"/p/{first}/pain_diary/6/day6/")
    assert page.locator("h1").inner_text() == "Knee pain today"
    look(page, "patient-question")
    # Reissued in Chinese while the English form is on the screen: the old link is revoked.
    second = diary.invite(code, "zh-hans")
    sent = answer(page, 3)
    assert sent.status == 404
    assert diary.answers(code) == []
    unknown = page.goto("/p/no-such-token-" + "x" * 30 + "/")
    assert unknown.status == 404
    assert_private(unknown)
    page.goto(f"/p/{second}/")
    assert page.evaluate("document.documentElement.lang") == "zh-hans"
    assert page.get_by_role("link", name=re.compile(zh_date(6))).count() == 1
    look(page, "patient-start")
    page.goto(f"/p/{second}/pain_diary/6/day6/")
    assert page.locator("fieldset legend").inner_text() == "注射后第6天膝关节疼痛，0-10"
    look(page, "patient-question")
    assert answer(page, 3).status == 200
    look(page, "patient-saved")
    assert [(a["day"], a["value"]) for a in diary.answers(code)] == [(6, 3)]
    # An hour past closing (00:30 on day 7's date) day 6's answer would be late; day 5 is
    # missed and closed at 01:00 of day 6's date.
    diary.set_clock(evening(7))
    closed = page.goto(f"/p/{second}/pain_diary/5/day5/")
    assert closed.status == 409
    assert f"{zh_date(6)} 01:00" in page.locator("main").inner_text()
    look(page, "patient-closed")
    page.goto(f"/p/{second}/pain_diary/6/day6/")
    look(page, "patient-answered")
    page.goto(f"/p/{second}/")
    assert day_rows(page)[zh_date(6)].endswith("3")
    # Day 7 answered at 00:30 of day 8's date: inside the hour of grace, taken and late.
    diary.set_clock(evening(8, dt.time(0, 30)))
    page.goto(f"/p/{second}/")
    assert "迟交：01:00 之前仍可回答。" in page.locator("main").inner_text()
    page.goto(f"/p/{second}/pain_diary/7/day7/")
    assert "01:00" in page.locator(".notice.warn").inner_text()
    look(page, "patient-question-late")
    assert answer(page, 2).status == 200
    assert [(a["day"], a["value"], a["late"]) for a in diary.answers(code)] == [
        (6, 3, False),
        (7, 2, True),
    ]
    page.goto(f"/p/{second}/")
    assert day_rows(page)[zh_date(7)] == "迟交：2"
    # English looks of the start page and the refusals.
    third = diary.invite(code, "en")
    for path, name in (
        ("", "patient-start"),
        ("pain_diary/5/day5/", "patient-closed"),
        ("pain_diary/6/day6/", "patient-answered"),
        ("pain_diary/6/day6/saved/", "patient-saved"),
    ):
        page.goto(f"/p/{third}/{path}")
        assert page.evaluate("document.documentElement.lang") == "en"
        look(page, name)
