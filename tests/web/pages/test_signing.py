"""Electronic signatures and locks on the subject and visit pages, and the database lock, in
Chromium against `trialdesk serve`.

The subject is set up through the REST API by the site's investigator (screening, consent,
the screening forms of an eligible patient, withdrawal: a casebook is signed once the
subject's participation has ended). What the pages must show is from 21 CFR 11.50 (the
printed name, the date and time, the meaning of the signature) and from the issue: a later
change breaks the signature visibly, unlocking needs a reason, the database lock is refused
while a query is open unless overridden with a reason.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import zoneinfo
from typing import Any

import pytest

from support.browser import LANGUAGES, STEMJOINT, USERS, WIDTHS, look
from support.load import ApiClient
from support.trial_data import STEMJOINT_ELIGIBLE, assert_no_arm

TODAY = dt.date.today()
SCREENED_ON = TODAY - dt.timedelta(days=20)
INVESTIGATOR = "sj-investigator"
PRINTED_NAME = USERS[INVESTIGATOR]["full_name"]
#: The casebook's stated meaning, as the signature service words it.
CASEBOOK_MEANING = (
    "Approval as investigator: I have reviewed this subject's casebook and confirm that its "
    "data are complete and accurate."
)
ZONE = "Europe/Copenhagen"
COPENHAGEN = zoneinfo.ZoneInfo(ZONE)

TOKENS: dict[tuple[str, str], str] = {}


def api(served: Any, username: str) -> ApiClient:
    key = (served.base_url, username)
    if key not in TOKENS:
        made = served.trialdesk("token", "create", username, "--json")
        assert made.returncode == 0, made.stderr
        TOKENS[key] = json.loads(made.stdout)["token"]
    return ApiClient(served.base_url, TOKENS[key])


def consented_subject(client: ApiClient, age: int, sex: str) -> str:
    """A STEMJOINT patient at AUH screened on SCREENED_ON and consented that day: its code."""
    base = f"/studies/{STEMJOINT}/subjects"
    patient = {
        "site": "AUH",
        "year_of_birth": SCREENED_ON.year - age,
        "age": age,
        "sex": sex,
        "screened_on": SCREENED_ON.isoformat(),
    }
    code = client.expect("POST", base, patient, 201)["code"]
    consent = {"consented_on": SCREENED_ON.isoformat(), "consent_version": "1.0"}
    client.expect("POST", f"{base}/{code}/consent", consent)
    return code


def withdrawn_subject(served: Any) -> str:
    """A consented STEMJOINT subject with the screening forms, then withdrawn: its code."""
    client = api(served, INVESTIGATOR)
    base = f"/studies/{STEMJOINT}/subjects"
    code = consented_subject(client, 60, "female")
    for form, values in STEMJOINT_ELIGIBLE.items():
        client.expect("PUT", f"{base}/{code}/visits/SCR/forms/{form}", {"values": values})
    client.expect("POST", f"{base}/{code}/withdraw", {"reason": "Moved abroad"})
    client.close()
    return code


def in_store(served: Any, script: str) -> str:
    """Run `script` against the served store (for what the test sets up with a service)."""
    prelude = "from trialdesk.store.database import open_store\nopen_store()\n"
    result = subprocess.run(
        [sys.executable, "-c", prelude + script],
        env={**os.environ, **served.environment},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def set_time_zone(page: Any, zone: str) -> None:
    """The signed-in user's time zone, through their account page."""
    page.goto("/account/")
    page.select_option("#id_time_zone", zone)
    # A script's submit is not an action Playwright waits on: wait for its navigation, or the
    # next page.goto races the form's redirect and is aborted.
    with page.expect_navigation():
        page.locator("#id_time_zone").evaluate("select => select.form.requestSubmit()")


def audit_event(served: Any, code: str, action: str) -> dict[str, Any]:
    """The one `action` of the subject's audit trail (its rows, one per field, share the
    time and the reason): its time and reason."""
    listed = served.trialdesk(
        "audit", "log", "--study", STEMJOINT, "--subject", code, "--action", action, "--json"
    )
    assert listed.returncode == 0, listed.stderr
    [event] = {(e["at"], e["reason"]) for e in json.loads(listed.stdout)["events"]}
    return {"at": dt.datetime.fromisoformat(event[0]), "reason": event[1]}


def assert_signature_shown(page: Any, served: Any, code: str, meaning: str) -> None:
    """After a reload, the one valid signature as 21 CFR 11.50 asks: the printed name, the
    date and time (in the user's zone, named), the meaning; read against the audit trail's
    record of the signing (UTC). Signed: the password is not asked for again."""
    page.reload()
    signature = page.locator("#sign-off li.signature")
    assert signature.count() == 1
    assert signature.get_attribute("data-signature") == "valid"
    shown = signature.inner_text()
    signed = audit_event(served, code, "signature.signed")
    at = signed["at"].astimezone(COPENHAGEN)
    assert PRINTED_NAME in shown and f"({INVESTIGATOR})" in shown
    assert f"{at:%Y-%m-%d %H:%M} {ZONE}" in shown
    assert meaning in shown
    assert signed["reason"] == meaning
    assert page.locator("#sign-password").count() == 0


@pytest.fixture(scope="module")
def subject_code(served: Any) -> str:
    return withdrawn_subject(served)


def test_investigator_signs_a_casebook_and_a_change_breaks_it(
    served: Any, sign_in: Any, subject_code: str
) -> None:
    code = subject_code
    page = sign_in(served, INVESTIGATOR)
    set_time_zone(page, ZONE)
    try:
        page.goto(f"/studies/{STEMJOINT}/subjects/{code}/")
        card = page.locator("#sign-off")
        assert "Not signed" in card.locator("#signatures").inner_text()
        # The one stated meaning of a casebook signature, chosen; the password again.
        meaning = card.locator("input[name=meaning]")
        assert meaning.count() == 1 and meaning.is_checked()
        assert CASEBOOK_MEANING in card.locator("fieldset").inner_text()

        # A wrong password: refused in words, nothing signed, the password not shown again.
        wrong = "Not-my-password-42"
        page.fill("#sign-password", wrong)
        page.click("#sign-off button:text('Sign')")
        page.wait_for_load_state()
        assert page.locator("#sign-password").get_attribute("aria-invalid") == "true"
        assert "this is not your password" in page.locator("#sign-password-error").inner_text()
        assert page.locator("#sign-password").input_value() == ""
        assert wrong not in page.content()
        assert page.locator("#sign-off li.signature").count() == 0

        page.fill("#sign-password", served.password(INVESTIGATOR))
        page.click("#sign-off button:text('Sign')")
        page.wait_for_load_state()
        assert "Signed." in page.locator(".messages").inner_text()
        assert_signature_shown(page, served, code, CASEBOOK_MEANING)
        assert page.locator(".page-head a.badge.ok").inner_text().endswith("Casebook signed")
        assert_no_arm(page.content(), STEMJOINT)
        look(page, "visits/subject-signed")

        # A change to signed data (the weight, with its reason) breaks the signature.
        client = api(served, INVESTIGATOR)
        client.expect(
            "PATCH",
            f"/studies/{STEMJOINT}/subjects/{code}/visits/SCR/forms/vitals",
            {"values": {"weight_kg": 72}, "reason": "Transcription error in the weight"},
        )
        client.close()
        page.reload()
        broken = page.locator("#sign-off li.signature")
        assert broken.get_attribute("data-signature") == "broken"
        notice = page.locator("#sign-off .signature-broken").inner_text()
        assert "The signature is broken" in notice and "sign the casebook again" in notice
        what = broken.locator(".signature-broken-by").inner_text()
        assert "vitals" in what and INVESTIGATOR in what
        broken_at = audit_event(served, code, "signature.broken")["at"].astimezone(COPENHAGEN)
        assert f"{broken_at:%Y-%m-%d %H:%M} {ZONE}" in broken.inner_text()
        assert "✗" in page.locator(".page-head a.badge.late").inner_text()
        # The broken signature stays on record; the casebook can be signed again.
        assert page.locator("#sign-password").count() == 1
        look(page, "visits/subject-signature-broken")
    finally:
        set_time_zone(page, "")


def test_data_manager_locks_and_unlocks_with_reasons(
    served: Any, sign_in: Any, subject_code: str
) -> None:
    code = subject_code
    page = sign_in(served, "sj-data-manager")
    page.goto(f"/studies/{STEMJOINT}/subjects/{code}/")
    assert page.locator("#sign-password").count() == 0  # only investigators sign
    assert "The casebook is not locked." in page.locator("#locks").inner_text()
    page.fill("#lock-reason", "Data review done")
    page.click("#locks button:text('Lock')")
    page.wait_for_load_state()
    assert "Locked." in page.locator(".messages").inner_text()
    lock = page.locator("#locks li.lock[data-level=casebook]")
    assert "Locked" in lock.inner_text() and "Data review done" in lock.inner_text()
    assert "Casebook locked" in page.locator(".page-head").inner_text()

    # A locked casebook refuses changes (the API's 409), and its visits say so.
    client = api(served, INVESTIGATOR)
    status, answer = client.call(
        "PATCH",
        f"/studies/{STEMJOINT}/subjects/{code}/visits/SCR/forms/vitals",
        {"values": {"weight_kg": 73}, "reason": "Another correction"},
    )
    client.close()
    assert status == 409 and "locked" in json.dumps(answer)
    page.goto(f"/studies/{STEMJOINT}/subjects/{code}/visits/SCR/")
    assert "The casebook is locked" in page.locator("main .notice.warn").first.inner_text()
    assert page.locator("#visit_date").count() == 0  # no date to change on a locked visit

    # Unlocking needs a reason, asked for by the page; then it is unlocked.
    page.goto(f"/studies/{STEMJOINT}/subjects/{code}/")
    page.reload()
    look(page, "visits/subject-locked")
    lock.locator("button:text('Unlock')").click()
    page.wait_for_load_state()
    reason = page.locator("#locks li.lock textarea")
    assert reason.get_attribute("aria-invalid") == "true"
    assert "required" in page.locator("#locks li.lock .error").inner_text()
    reason.fill("Query from the sponsor on the weight")
    page.click("#locks li.lock button:text('Unlock')")
    page.wait_for_load_state()
    assert "Unlocked." in page.locator(".messages").inner_text()
    assert page.locator("#locks li.lock").count() == 0
    unlocked = audit_event(served, code, "record.unlocked")
    assert unlocked["reason"] == "Query from the sponsor on the weight"

    # A form of a visit: locked from the visit page, shown locked there, unlocked again.
    page.goto(f"/studies/{STEMJOINT}/subjects/{code}/visits/SCR/")
    page.select_option("#lock-what", "vitals")
    page.fill("#lock-reason", "Vitals verified against the source")
    page.click("#locks button:text('Lock')")
    page.wait_for_load_state()
    assert page.locator("li[data-form=vitals] .form-locked").count() == 1
    assert page.locator("li[data-form=nrs_pain] .form-locked").count() == 0
    page.reload()
    look(page, "visits/visit-form-locked")
    page.fill("#locks li.lock[data-form=vitals] textarea", "Reopened for the weight query")
    page.click("#locks li.lock[data-form=vitals] button:text('Unlock')")
    page.wait_for_load_state()
    assert page.locator("li[data-form=vitals] .form-locked").count() == 0


def test_database_lock_is_refused_with_an_open_query(
    served: Any, sign_in: Any, subject_code: str
) -> None:
    in_store(
        served,
        "from trialdesk.store.services.setup import find_study\n"
        "from trialdesk.store.services.queries import raise_query\n"
        f"raise_query(find_study('{STEMJOINT}'), '{subject_code}', visit_id='SCR',"
        " form='vitals', item='weight_kg', text='Weight 72 kg: please check the source.',"
        " by='sj-monitor')\n",
    )
    page = sign_in(served, "sj-data-manager")
    page.goto(f"/studies/{STEMJOINT}/manage/lock")
    page.fill("#reason", "Final database lock")
    page.click("button:text('Lock…')")
    page.wait_for_load_state()
    page.click("button:text('Yes, lock')")
    page.wait_for_load_state()
    refusal = page.locator("main .notice.error").inner_text()
    assert re.search(r"cannot be locked: \d+ open quer(y|ies)", refusal), refusal
    assert page.locator("#lock-refused").count() == 1
    assert "Open for data entry" in page.locator(".study-state").inner_text()
    look(page, "data/lock-refused")
    # The override needs its own reason.
    page.click("button:text('Lock anyway, with this override')")
    page.wait_for_load_state()
    assert page.locator("#override_reason").get_attribute("aria-invalid") == "true"
    page.fill("#override_reason", "Interim lock for the planned safety analysis")
    page.click("button:text('Lock anyway, with this override')")
    page.wait_for_load_state()
    try:
        assert "The study was locked." in page.locator(".messages").inner_text()
        locked = served.trialdesk("audit", "log", "--study", STEMJOINT, "--json")
        [event] = [e for e in json.loads(locked.stdout)["events"] if e["action"] == "study.locked"]
        assert "Final database lock" in event["reason"]
        assert "Interim lock for the planned safety analysis" in event["reason"]
        assert "open quer" in event["reason"]
    finally:
        page.goto(f"/studies/{STEMJOINT}/manage/lock")
        page.fill("#reason", "The lock was for the interim analysis only")
        page.click("button:text('Unlock…')")
        page.wait_for_load_state()
        page.click("button:text('Yes, unlock')")
        page.wait_for_load_state()
    assert "The study was unlocked." in page.locator(".messages").inner_text()


@pytest.mark.parametrize("language", LANGUAGES)
def test_sign_off_pages_in_every_language(
    served: Any, sign_in: Any, subject_code: str, language: str
) -> None:
    """The sign-off card on the subject and visit pages as the investigator sees it, the lock
    forms as the data manager does, and the database lock page, at both widths."""
    subject = f"/studies/{STEMJOINT}/subjects/{subject_code}/"
    for width in WIDTHS:
        page = sign_in(served, INVESTIGATOR, language=language, width=width)
        for path, name in ((subject, "subject-sign-off"), (subject + "visits/SCR/", "visit")):
            page.goto(path)
            assert page.locator("#sign-off").count() == 1
            look(page, f"visits/{name}-investigator")
        page.context.close()
        page = sign_in(served, "sj-data-manager", language=language, width=width)
        page.goto(subject)
        look(page, "visits/subject-sign-off-data-manager")
        page.goto(f"/studies/{STEMJOINT}/manage/lock")
        look(page, "data/lock")
        page.context.close()
