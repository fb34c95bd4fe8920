"""A locked form page in Chromium against `trialdesk serve`: under a lock of the form, of its
visit or of the casebook (issue 13: "a locked record refuses changes; unlock needs a reason"),
the form page shows the lock (who locked it, when, why, and that a data manager unlocks it
with a reason) and offers no entry: every input disabled, no Save. A save posted from a page
loaded before the lock is refused by the store and the refusal shown; nothing is saved.

The subject is STEMJOINT's, set up through the REST API by the site's coordinator; the locks
are the data manager's, through the API too. Each test unlocks what it locked, or locks a
subject of its own.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from typing import Any

import pytest

from support.browser import LANGUAGES, STEMJOINT, WIDTHS, look
from support.trial_data import STEMJOINT_ELIGIBLE, api

TODAY = dt.date.today()
SUBJECTS = f"/studies/{STEMJOINT}/subjects"
DATA_MANAGER = "sj-data-manager"
COORDINATOR = "sj-coordinator"
#: What the lock notice says at each level (the widest lock leads), and where the data manager
#: unlocks it: the visit page for a form or visit lock, the subject page for the casebook.
LEVELS = {
    "form": ("/visits/SCR/forms/vitals", "This form is locked: it accepts no changes."),
    "visit": ("/visits/SCR", "The visit Screening is locked: its forms accept no changes."),
    "casebook": ("", "The casebook of subject {code} is locked: this form accepts no changes."),
}
UNLOCK_WORDS = "A data manager can unlock it, giving a reason."


def consented_subject(served: Any) -> str:
    """A STEMJOINT subject screened and consented, with the screening forms saved."""
    coordinator = api(served, COORDINATOR)
    body = {"site": "AUH", "year_of_birth": TODAY.year - 58, "age": 57, "sex": "male"}
    code = coordinator.call("POST", SUBJECTS, {**body, "screened_on": TODAY.isoformat()})["code"]
    consent = {"consented_on": TODAY.isoformat(), "consent_version": "1.0"}
    coordinator.call("POST", f"{SUBJECTS}/{code}/consent", consent)
    for form, values in STEMJOINT_ELIGIBLE.items():
        coordinator.call("PUT", f"{SUBJECTS}/{code}/visits/SCR/forms/{form}", {"values": values})
    return code


def lock(served: Any, code: str, level: str, reason: str) -> dict[str, Any]:
    path = LEVELS[level][0]
    return api(served, DATA_MANAGER).call(
        "POST", f"{SUBJECTS}/{code}{path}/lock", {"reason": reason}
    )


def unlock(served: Any, code: str, level: str) -> None:
    path = LEVELS[level][0]
    api(served, DATA_MANAGER).call(
        "POST", f"{SUBJECTS}/{code}{path}/unlock", {"reason": "Correction from the source"}
    )


def form_url(code: str) -> str:
    return f"{SUBJECTS}/{code}/visits/SCR/forms/vitals/"


def entry_controls(page: Any) -> Any:
    """The form's inputs a person types or ticks in (not the CSRF token)."""
    return page.locator("#form-entry input:not([type=hidden]), #form-entry select")


def assert_read_only(page: Any) -> None:
    controls = entry_controls(page)
    assert controls.count() >= 6  # height, weight, blood pressure (2), pulse, temperature
    assert controls.evaluate_all("all => all.every(control => control.disabled)")
    assert page.locator("#form-entry button").count() == 0  # no Save, no mark complete
    assert page.locator("#form-entry input[name^='reason.']").count() == 0
    # Nothing for the drafts script to keep: no draft URL, no live check.
    assert page.locator("#form-entry").get_attribute("data-draft-url") is None
    assert page.locator("#form-entry").get_attribute("hx-post") is None


def assert_lock_shown(page: Any, lock: dict[str, Any], reason: str) -> None:
    """The lock's line names who locked it and when, in the zone it names, and why."""
    line = page.locator(f"#form-lock li.lock[data-level={lock['level']}]").inner_text()
    assert DATA_MANAGER in line and reason in line
    found = re.search(r"(\d{4}-\d\d-\d\d \d\d:\d\d) ([A-Za-z_/+-]+)", line)
    assert found, line
    locked_at = dt.datetime.fromisoformat(lock["locked_at"]).astimezone(
        zoneinfo.ZoneInfo(found.group(2))
    )
    assert found.group(1) == f"{locked_at:%Y-%m-%d %H:%M}"


def test_a_form_under_a_lock_at_any_level_is_read_only_and_shows_the_lock(
    served: Any, sign_in: Any
) -> None:
    code = consented_subject(served)
    page = sign_in(served, COORDINATOR)
    page.goto(form_url(code))
    assert page.locator("#form-lock").count() == 0
    assert entry_controls(page).evaluate_all("all => all.every(control => !control.disabled)")
    assert page.locator("#form-entry button[value=save]").count() == 2
    for level, (_, heading) in LEVELS.items():
        reason = f"{level.capitalize()} reviewed"
        locked = lock(served, code, level, reason)
        try:
            page.reload()
            notice = page.locator("#form-lock")
            assert heading.format(code=code) in notice.locator("strong").inner_text()
            assert UNLOCK_WORDS in notice.inner_text()
            assert_lock_shown(page, locked, reason)
            # Where the data manager unlocks it: the visit's or the subject's locks.
            where = f"{SUBJECTS}/{code}/" + ("" if level == "casebook" else "visits/SCR/")
            assert notice.locator("a").get_attribute("href") == where + "#locks"
            assert_read_only(page)
            # The saved values are still shown.
            assert page.locator("#in-weight_kg").input_value() == "70"
        finally:
            unlock(served, code, level)
    page.reload()
    assert page.locator("#form-lock").count() == 0
    assert page.locator("#form-entry button[value=save]").count() == 2


def test_every_lock_over_the_form_is_listed_widest_first(served: Any, sign_in: Any) -> None:
    code = consented_subject(served)
    made = [lock(served, code, level, f"{level} done") for level in ("form", "visit", "casebook")]
    try:
        page = sign_in(served, COORDINATOR)
        page.goto(form_url(code))
        lines = page.locator("#form-lock li.lock")
        assert [lines.nth(i).get_attribute("data-level") for i in range(3)] == [
            "casebook",
            "visit",
            "form",
        ]
        heading = LEVELS["casebook"][1].format(code=code)
        assert heading in page.locator("#form-lock strong").inner_text()
        for entry in made:
            assert_lock_shown(page, entry, f"{entry['level']} done")
        assert_read_only(page)
    finally:
        for level in ("casebook", "visit", "form"):
            unlock(served, code, level)


def test_a_save_after_the_form_was_locked_is_refused_and_nothing_saved(
    served: Any, sign_in: Any
) -> None:
    code = consented_subject(served)
    page = sign_in(served, COORDINATOR)
    page.goto(form_url(code))
    page.fill("#in-pulse", "64")  # no saved value: no reason needed
    lock(served, code, "form", "Vitals verified")
    try:
        with page.expect_navigation() as answered:
            page.click("#form-entry .form-side button[value=save]")
        assert answered.value.status == 409
        refusal = page.locator("main .notice.error").inner_text()
        assert "This record is locked: it accepts no changes." in refusal
        assert f"subject {code}, visit SCR, form vitals is locked since" in refusal
        assert UNLOCK_WORDS in page.locator("#form-lock").inner_text()
        assert_read_only(page)
        # The page shows what the record holds, not what was refused.
        assert page.locator("#in-pulse").input_value() == ""
        saved = api(served, COORDINATOR).call("GET", f"{SUBJECTS}/{code}/visits/SCR/forms/vitals")
        assert saved["values"].get("pulse") is None
    finally:
        unlock(served, code, "form")


@pytest.fixture(scope="module")
def locked_subject(served: Any) -> str:
    """A subject of its own whose SCR vitals stay locked for the screenshots."""
    code = consented_subject(served)
    lock(served, code, "form", "Vitals verified against the source")
    return code


def test_a_monitor_is_not_offered_to_verify_a_locked_form(
    served: Any, sign_in: Any, locked_subject: str
) -> None:
    """The SDV service verifies no locked record: the page offers no Verify button."""
    page = sign_in(served, "sj-monitor")
    page.goto(form_url(locked_subject))
    assert page.locator("#form-lock li.lock[data-level=form]").count() == 1
    assert page.locator("button[form=sdv-form]").count() == 0
    assert page.locator("#sdv-form").count() == 0
    unlocked = consented_subject(served)  # the same form, not locked: offered
    page.goto(form_url(unlocked))
    assert page.locator("button[form=sdv-form][value=form]").count() == 1
    assert page.locator("button[form=sdv-form][name=item]").count() >= 2


@pytest.mark.parametrize("language", LANGUAGES)
def test_locked_form_in_every_language(
    served: Any, sign_in: Any, locked_subject: str, language: str
) -> None:
    for width in WIDTHS:
        page = sign_in(served, COORDINATOR, language=language, width=width)
        page.goto(form_url(locked_subject))
        assert page.locator("#form-lock li.lock[data-level=form]").count() == 1
        assert_read_only(page)
        look(page, "forms/locked")
        page.context.close()
