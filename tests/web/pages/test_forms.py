"""The visit form page in Chromium: a STEMJOINT assessor enters KOOS and a coordinator the
knee examination; live checks name the item and the expectation, the score preview matches a
hand computation, partial save, complete, a changed completed value asks for a reason and the
item's history shows old -> new with it; a typed value survives the idle timeout; a
screenshot of the form and an item's history in each language and width."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from support.browser import LANGUAGES, STEMJOINT, WIDTHS, look
from support.trial_data import STEMJOINT_ELIGIBLE, api, attestations_all_confirmed

TODAY = dt.date.today()
#: KOOS pain items answered P1..P6 = 1, 2, 1, 0, 1, 2 (6 of 9, enough: at least 5). By hand:
#: mean = 7 / 6 = 1.1667; KOOS pain = 100 - 25 x 1.1667 = 70.83, shown as 70.8.
KOOS_PAIN_ANSWERS = {"P1": "1", "P2": "2", "P3": "1", "P4": "0", "P5": "1", "P6": "2"}
KOOS_PAIN = f"{100 - 25 * 7 / 6:.1f}"


def randomized_subject(served: Any) -> str:
    """A STEMJOINT subject screened, consented, eligible and randomized through the API."""
    coordinator, investigator = api(served, "sj-coordinator"), api(served, "sj-investigator")
    base = f"/studies/{STEMJOINT}/subjects"
    body = {"site": "AUH", "year_of_birth": TODAY.year - 63, "age": 62, "sex": "female"}
    code = coordinator.call("POST", base, {**body, "screened_on": TODAY.isoformat()})["code"]
    consent = {"consented_on": TODAY.isoformat(), "consent_version": "1.0"}
    coordinator.call("POST", f"{base}/{code}/consent", consent)
    for form, values in STEMJOINT_ELIGIBLE.items():
        coordinator.call("PUT", f"{base}/{code}/visits/SCR/forms/{form}", {"values": values})
    verdict = investigator.call(
        "POST",
        f"{base}/{code}/eligibility",
        {"attestations": attestations_all_confirmed(STEMJOINT)},
    )
    assert verdict["verdict"] == "eligible", verdict
    coordinator.call("POST", f"{base}/{code}/randomize")
    return code


def form_url(code: str, visit: str, form: str) -> str:
    return f"/studies/{STEMJOINT}/subjects/{code}/visits/{visit}/forms/{form}/"


def answer_koos(page: Any, answers: dict[str, str]) -> None:
    for item, value in answers.items():
        page.check(f"input[name={item}][value='{value}']")


def preview_text(page: Any) -> str:
    return page.inner_text("#score-preview")


def test_assessor_enters_koos_saves_completes_and_changes_with_a_reason(served, sign_in):
    code = randomized_subject(served)
    page = sign_in(served, "sj-assessor")
    page.goto(form_url(code, "BL", "koos"))
    assert page.locator("h2", has_text="KOOS pain").count() == 1  # grouped per subscale
    answer_koos(page, KOOS_PAIN_ANSWERS)
    pain = page.locator("#score-preview .score", has_text="KOOS pain")
    pain.filter(has_text=KOOS_PAIN).wait_for()
    assert (
        "not computable"
        in page.locator("#score-preview .score", has_text="KOOS symptoms").inner_text()
    )
    page.locator("#draft-status", has_text="Draft saved").wait_for()

    page.click("button[value=save]")
    page.locator(".message", has_text="Saved.").wait_for()
    assert page.locator("input[name=P2][value='2']").is_checked()
    assert page.locator(".badge", has_text="In progress").count() == 1
    # A partial save: answering P7 later keeps P1..P6, and a first entry asks no reason.
    page.check("input[name=P7][value='3']")
    page.wait_for_timeout(300)
    assert page.locator("#reason-block-P7").is_hidden()
    page.click("button[value=complete]")
    page.locator(".message", has_text="Saved and marked complete.").wait_for()
    assert page.locator(".badge", has_text="Complete").count() == 1
    assert page.locator("input[name=P1][value='1']").is_checked()
    assert page.locator("input[name=P7][value='3']").is_checked()

    # Changing a saved value of the completed form asks for the reason, for that item only.
    page.check("input[name=P2][value='3']")
    page.locator("#reason-block-P2").wait_for(state="visible")
    assert page.locator(".reason:visible").count() == 1
    page.click("button[value=save]")  # without the reason: refused, nothing saved
    page.locator(".notice.error", has_text="a saved value was changed").wait_for()
    assert page.locator("#reason-P2").get_attribute("aria-invalid") == "true"
    page.fill("#reason-P2", "patient corrected the answer")
    page.click("button[value=save]")
    page.locator(".message", has_text="Saved.").wait_for()
    assert page.locator("input[name=P2][value='3']").is_checked()

    page.click("#item-P2 .item-tools a")
    history = page.locator("#history-P2 table")
    history.wait_for()
    rows = history.locator("tbody tr")
    assert rows.count() == 2
    assert "sj-assessor" in rows.nth(0).inner_text()
    changed = rows.nth(1).inner_text()
    assert "2 · moderate" in changed and "3 · severe" in changed
    assert "patient corrected the answer" in changed


def test_coordinator_sees_live_checks_and_the_visit_date_notice(served, sign_in):
    code = randomized_subject(served)
    page = sign_in(served, "sj-coordinator")
    page.goto(form_url(code, "BL", "knee_exam"))
    flexion = page.locator("#in-index_flexion_deg")
    flexion.fill("200")
    flexion.press("Tab")
    message = page.locator("#check-index_flexion_deg")
    message.filter(has_text="index_flexion_deg: expected a number from 0 to 170 degrees").wait_for()
    page.wait_for_function(
        "document.querySelector('#in-index_flexion_deg').getAttribute('aria-invalid') === 'true'"
    )
    assert "check-index_flexion_deg" in flexion.get_attribute("aria-describedby")
    page.click("button[value=save]")  # refused with the messages, the typed value kept
    page.locator(".notice.error", has_text="check these items").wait_for()
    assert page.locator("#in-index_flexion_deg").input_value() == "200"
    # Range of motion = flexion - extension deficit: 120 - 5 = 115 degrees, by hand.
    page.fill("#in-index_flexion_deg", "120")
    page.fill("#in-index_extension_deg", "5")
    page.press("#in-index_extension_deg", "Tab")
    page.locator("#score-preview .score", has_text="Index knee: range of motion").filter(
        has_text="115"
    ).wait_for()
    assert message.inner_text() == ""
    page.click("button[value=save]")
    page.locator(".message", has_text="Saved.").wait_for()

    page.goto(form_url(code, "M3", "knee_exam"))
    notice = page.locator(".notice.warn", has_text="visit date is not recorded")
    assert notice.count() == 1
    link = notice.locator("a").get_attribute("href")
    assert link == f"/studies/{STEMJOINT}/subjects/{code}/visits/M3/"


def test_a_typed_value_is_kept_in_the_browser_when_the_server_is_not_reached(served, sign_in):
    code = randomized_subject(served)
    page = sign_in(served, "sj-coordinator")
    page.goto(form_url(code, "BL", "knee_exam"))
    page.route("**/draft", lambda route: route.abort())
    page.fill("#in-index_knee_circumference_cm", "41.5")
    page.locator("#draft-status", has_text="kept in this browser").wait_for()
    page.unroute("**/draft")
    page.goto(form_url(code, "BL", "knee_exam"))
    assert page.locator("#in-index_knee_circumference_cm").input_value() == "41.5"
    assert page.locator("#local-restored", has_text="Restored what you typed").is_visible()
    page.locator("#draft-status", has_text="Draft saved").wait_for()  # the server has it now
    kept = page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('trialdesk.draft'))")
    assert kept == []


@pytest.fixture(scope="module")
def short_sessions(serve_store):
    return serve_store(TRIALDESK_IDLE_MINUTES="0.5")


def test_a_typed_value_survives_the_idle_timeout(short_sessions, sign_in):
    code = randomized_subject(short_sessions)
    page = sign_in(short_sessions, "sj-coordinator")
    page.goto(form_url(code, "BL", "knee_exam"))
    page.fill("#in-index_flexion_deg", "131")
    page.locator("#draft-status", has_text="Draft saved").wait_for()
    # idle.js signs out when the 30 s pass; without it the expired session sends us there.
    try:
        page.wait_for_url(re.compile(r"/signin/"), timeout=45_000)
    except Exception:
        page.reload()
        page.wait_for_url(re.compile(r"/signin/"))
    page.fill("#id_username", "sj-coordinator")
    page.fill("#id_password", short_sessions.password("sj-coordinator"))
    page.click("button[type=submit]")
    page.wait_for_load_state()
    if "/forms/knee_exam/" not in page.url:
        page.goto(form_url(code, "BL", "knee_exam"))
    assert page.locator("#in-index_flexion_deg").input_value() == "131"
    assert page.locator(".notice", has_text="Restored what you typed").count() >= 1


@pytest.fixture(scope="module")
def shown_subject(served):
    """A subject whose BL KOOS is entered, completed and changed once, for the pictures."""
    code = randomized_subject(served)
    path = f"/studies/{STEMJOINT}/subjects/{code}/visits/BL/forms/koos"
    answers = {
        **{k: int(v) for k, v in KOOS_PAIN_ANSWERS.items()},
        **{f"S{i}": value for i, value in enumerate([1, 0, 1, 2, 1, 1, 0], 1)},
        **{f"A{i}": 1 for i in range(1, 18)},
        **{f"SP{i}": 2 for i in range(1, 6)},
        **{f"Q{i}": 2 for i in range(1, 5)},
    }
    api(served, "sj-assessor").call("PATCH", path, {"values": answers, "complete": True})
    api(served, "sj-assessor").call(
        "PATCH", path, {"values": {"P2": 3}, "reason": "patient corrected the answer"}
    )
    return code


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_form_and_history_pictures(served, sign_in, shown_subject, language, width):
    page = sign_in(served, "sj-assessor", language=language, width=width)
    page.goto(form_url(shown_subject, "BL", "koos"))
    page.locator("#score-preview .score").first.wait_for()
    docs = "form" if (language, width) == ("en", 1280) else None
    look(page, "forms/koos", docs=docs)
    page.click("#item-P2 .item-tools a")
    page.locator("#history-P2 table").wait_for()
    look(page, "forms/koos-history-open")
    page.goto(form_url(shown_subject, "BL", "koos") + "items/P2/history")
    assert page.locator("tbody tr").count() == 2
    look(page, "forms/item-history")
