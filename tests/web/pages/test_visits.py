"""The subject page (the hub) and the visit page, in Chromium against `trialdesk serve`.

Subjects are set up through the REST API (screening, consent, screening forms, eligibility,
randomization, the treatment) with the screening forms of an eligible patient of the demo's
planned trial (`plan_trial`, which judges them with the store's own rule). Visit windows below
are computed by hand from the protocol files:

- STEMJOINT (NCT05933434): D30 is day 30, 0 days before and 14 after: day0 + 30 .. day0 + 44;
  M3 is day 91 with 14 days either side: day0 + 77 .. day0 + 105 (a date on day0 + 108 is 3
  days late); M12 is day 365 +/- 30: day0 + 335 .. day0 + 395.
- NCT04208646: D0 (day 0) is "Baseline and treatment cycle 1", W3 (day 21 +/- 3) "Week 3,
  treatment cycle 2"; the treatment plan gives C1 on day 0 and C2 on day 21.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from functools import cache
from typing import Any

import pytest

from support.browser import CBM, LANGUAGES, STEMJOINT, WIDTHS, choose_language, look
from support.load import ApiClient

TODAY = dt.date.today()
#: Day 0 390 days ago: every STEMJOINT window up to M12 (day0 + 335 .. day0 + 395) is open.
DAY0 = TODAY - dt.timedelta(days=390)
SCREENED_ON = DAY0 - dt.timedelta(days=10)


@cache
def eligible_patient(protocol_id: str) -> Any:
    """An eligible screening entry of the demo's planned trial: age, sex, screening forms and
    attestations the store judges eligible."""
    from trialdesk.protocol import load_protocol
    from trialdesk.store.demo.plan import plan_trial

    protocol = load_protocol(protocol_id)
    plan = plan_trial(protocol, 12, 7, {arm.id: 0.0 for arm in protocol.arms}, TODAY)
    return next(entry for entry in plan.log if entry.verdict == "eligible")


@cache
def arm_words(protocol_id: str) -> tuple[str, ...]:
    """Every arm id and label of the protocol: none may reach a blinded user's HTML."""
    from trialdesk.protocol import load_protocol

    return tuple(word for arm in load_protocol(protocol_id).arms for word in (arm.id, arm.label))


TOKENS: dict[tuple[str, str], str] = {}


def api(served: Any, username: str) -> ApiClient:
    """An API client of the user, with a token made once per served store."""
    key = (served.base_url, username)
    if key not in TOKENS:
        made = served.trialdesk("token", "create", username, "--json")
        assert made.returncode == 0, made.stderr
        TOKENS[key] = json.loads(made.stdout)["token"]
    return ApiClient(served.base_url, TOKENS[key])


def treated_subject(
    served: Any, protocol_id: str, site: str, investigator: str, administrations: list
) -> str:
    """A subject screened SCREENED_ON, randomized and given `administrations` [(id, date)]
    by the site's investigator (whose role takes every one of these steps): its code."""
    entry = eligible_patient(protocol_id)
    client = api(served, investigator)
    base = f"/studies/{protocol_id}/subjects"
    patient = {
        "site": site,
        "year_of_birth": SCREENED_ON.year - entry.patient.age,
        "age": entry.patient.age,
        "sex": entry.patient.sex,
        "screened_on": SCREENED_ON.isoformat(),
    }
    code = client.expect("POST", base, patient, 201)["code"]
    consent = {"consented_on": SCREENED_ON.isoformat(), "consent_version": "1.0"}
    client.expect("POST", f"{base}/{code}/consent", consent)
    for form, values in entry.screening_forms.items():
        client.expect("PUT", f"{base}/{code}/visits/SCR/forms/{form}", {"values": values})
    verdict = client.expect(
        "POST", f"{base}/{code}/eligibility", {"attestations": entry.attestations}
    )
    assert verdict["verdict"] == "eligible", verdict
    client.expect("POST", f"{base}/{code}/randomize")
    for administration, given_on in administrations:
        body = {"administration_id": administration, "administered_on": given_on.isoformat()}
        client.expect("POST", f"{base}/{code}/administrations", body, 201)
    client.close()
    return code


@pytest.fixture(scope="module")
def stemjoint_subject(served: Any) -> str:
    return treated_subject(served, STEMJOINT, "AUH", "sj-investigator", [("INJ", DAY0)])


def zh_date(day: dt.date) -> str:
    """A date as Django's Simplified Chinese short format writes it (Y年n月j日)."""
    return f"{day.year}年{day.month}月{day.day}日"


def row(page: Any, visit_id: str) -> Any:
    return page.locator(f"tr#visit-{visit_id}")


def no_arm_in(html: str, protocol_id: str, who: str) -> None:
    for word in arm_words(protocol_id):
        assert not re.search(rf"\b{re.escape(word)}\b", html), f"{who}'s page shows {word!r}"


def test_coordinator_records_visits_inside_and_outside_the_window(
    served: Any, sign_in: Any, stemjoint_subject: str
) -> None:
    code = stemjoint_subject
    page = sign_in(served, "sj-coordinator")
    page.goto(f"/studies/{STEMJOINT}/subjects/{code}/")
    assert page.locator("h1").inner_text() == f"Subject {code}"
    facts = page.locator("section[aria-labelledby=subject-facts]").inner_text()
    assert "AUH" in facts and "In follow-up" in facts  # one injection: the last administration
    # Every protocol visit on the calendar, with its window by hand.
    visits = page.locator("table.calendar tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.visit)"
    )
    assert visits == ["SCR", "BL", "D30", "M3", "M12", "M24", "Y3", "Y4", "Y5"]
    d30_start, d30_end = DAY0 + dt.timedelta(days=30), DAY0 + dt.timedelta(days=44)
    assert row(page, "D30").get_attribute("data-state") == "overdue"  # its window closed
    # Screening after randomization is due at most, never overdue (issue 12 point 5).
    assert row(page, "SCR").get_attribute("data-state") in ("due", "done")
    assert row(page, "M24").get_attribute("data-state") == "upcoming"

    # D30 inside its window: no warning, saved.
    row(page, "D30").locator("th a").click()
    page.wait_for_url(re.compile(r"/visits/D30/$"))
    window = page.locator("section[aria-labelledby=visit-window]").inner_text()
    assert d30_start.isoformat() in window and d30_end.isoformat() in window
    inside = DAY0 + dt.timedelta(days=35)
    page.fill("#visit_date", inside.isoformat())
    page.locator("#visit_date").dispatch_event("change")
    page.locator("#window-check .badge.ok").wait_for()
    assert page.locator("#window-check .notice.warn").count() == 0
    page.click("button:text('Save the visit date')")
    page.wait_for_load_state()
    assert "Saved." in page.locator(".messages").inner_text()
    assert page.locator("section[aria-labelledby=visit-deviations] li").count() == 0
    # Changing the recorded date needs a reason, asked for by the page in the user's words.
    page.fill("#visit_date", (inside + dt.timedelta(days=1)).isoformat())
    page.click("button:text('Save the visit date')")
    page.wait_for_load_state()
    assert page.locator("#reason").get_attribute("aria-invalid") == "true"
    assert "Reason for the change: required" in page.locator("#reason-error").inner_text()
    page.fill("#reason", "Date copied from the wrong line of the diary")
    page.click("button:text('Save the visit date')")
    page.wait_for_load_state()
    assert "Saved." in page.locator(".messages").inner_text()

    # M3 three days after its window (day0 + 105): the warning comes before anything is saved.
    page.goto(f"/studies/{STEMJOINT}/subjects/{code}/visits/M3/")
    late = DAY0 + dt.timedelta(days=108)
    page.fill("#visit_date", late.isoformat())
    page.locator("#visit_date").dispatch_event("change")
    warning = page.locator("#window-check .notice.warn")
    warning.wait_for()
    start, end = DAY0 + dt.timedelta(days=77), DAY0 + dt.timedelta(days=105)
    assert warning.inner_text().startswith(
        f"Outside the window {start:%Y-%m-%d} to {end:%Y-%m-%d}: 3 days late. "
        "Saving records a protocol deviation."
    )
    page.goto(f"/studies/{STEMJOINT}/subjects/{code}/")
    assert row(page, "M3").get_attribute("data-state") == "overdue"  # nothing saved yet
    page.goto(f"/studies/{STEMJOINT}/subjects/{code}/visits/M3/")
    page.fill("#visit_date", late.isoformat())
    page.locator("#visit_date").dispatch_event("change")
    page.click("#window-check button:text('Save anyway')")
    page.wait_for_load_state()
    assert "protocol deviation was recorded" in page.locator(".messages").inner_text()
    # base.html's `<ul class="messages" role="status">` fails axe's listitem rule (the lead's
    # template): the screenshot is taken once the message is gone.
    page.reload()
    look(page, "visits/visit")
    deviation = page.locator("section[aria-labelledby=visit-deviations] li").inner_text()
    assert "visit_out_of_window" in deviation and "3 days late" in deviation

    # The subject page lists the deviation and both visits as done.
    page.goto(f"/studies/{STEMJOINT}/subjects/{code}/")
    assert row(page, "D30").get_attribute("data-state") == "done"
    assert row(page, "M3").get_attribute("data-state") == "done"
    assert f"{late:%Y-%m-%d}" in row(page, "M3").inner_text()
    deviations = page.locator("#deviation-list").inner_text()
    assert "visit_out_of_window" in deviations and "visit M3" in deviations

    # M12 missed with a reason; a reason is required.
    page.goto(f"/studies/{STEMJOINT}/subjects/{code}/visits/M12/")
    page.click("button:text('Mark missed')")
    page.wait_for_load_state()
    assert page.locator("#missed_reason").get_attribute("aria-invalid") == "true"
    assert "enter the reason" in page.locator("#missed_reason-error").inner_text()
    page.fill("#missed_reason", "Patient moved abroad for the summer")
    page.click("button:text('Mark missed')")
    page.wait_for_load_state()
    assert "marked missed" in page.locator(".messages").inner_text()
    page.goto(f"/studies/{STEMJOINT}/subjects/{code}/")
    assert row(page, "M12").get_attribute("data-state") == "missed"
    assert "Patient moved abroad" in row(page, "M12").inner_text()

    # The screening visit has forms: the store refuses to mark it missed, and the page says so.
    page.goto(f"/studies/{STEMJOINT}/subjects/{code}/visits/SCR/")
    page.fill("#missed_reason", "no show")
    page.click("button:text('Mark missed')")
    page.wait_for_load_state()
    refusal = page.locator("section[aria-labelledby=visit-missed-head] .notice.error")
    assert "has forms entered" in refusal.inner_text()
    # A future date is refused by the page itself, naming the field.
    page.fill("#visit_date", (TODAY + dt.timedelta(days=3)).isoformat())
    page.click("button:text('Save the visit date')")
    page.wait_for_load_state()
    assert "Visit date: the date is in the future" in page.locator("#visit_date-error").inner_text()


def test_blinded_pages_never_show_the_arm(served: Any, sign_in: Any, stemjoint_subject: str):
    code = stemjoint_subject
    for username in ("sj-coordinator", "sj-investigator", "sj-assessor", "sj-monitor"):
        page = sign_in(served, username)
        for path in ("", "visits/M3/"):
            page.goto(f"/studies/{STEMJOINT}/subjects/{code}/{path}")
            assert page.locator("h1").count() == 1
            no_arm_in(page.content(), STEMJOINT, username)
        page.context.close()
    page = sign_in(served, "sj-pharmacist")
    page.goto(f"/studies/{STEMJOINT}/subjects/{code}/")
    randomization = page.locator("section[aria-labelledby=subject-randomization]").inner_text()
    arms = arm_words(STEMJOINT)
    shown = [word for word in arms if re.search(rf"\b{re.escape(word)}\b", randomization)]
    assert len(shown) == 2, randomization  # one arm's id and label
    assert "Arm (unblinded)" in randomization


def test_both_cycles_of_nct04208646(served: Any, sign_in: Any) -> None:
    code = treated_subject(
        served,
        CBM,
        "01",
        "cb-investigator-01",
        [("C1", DAY0), ("C2", DAY0 + dt.timedelta(days=21))],
    )
    page = sign_in(served, "cb-coordinator-01", language="zh-hans")
    page.goto(f"/studies/{CBM}/subjects/{code}/")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    d0, w3 = row(page, "D0").inner_text(), row(page, "W3").inner_text()
    assert "Baseline and treatment cycle 1" in d0
    assert "Week 3, treatment cycle 2" in w3
    opens, closes = DAY0 + dt.timedelta(days=18), DAY0 + dt.timedelta(days=24)
    assert f"{zh_date(opens)} – {zh_date(closes)}" in w3
    plan = page.locator("section[aria-labelledby=subject-randomization]").inner_text()
    assert "Treatment cycle 1" in plan and "Treatment cycle 2" in plan
    assert plan.count("已给药") == 2, plan
    no_arm_in(page.content(), CBM, "cb-coordinator-01")
    look(page, "visits/subject-nct04208646")


def test_screenshots_in_each_language_and_width(
    served: Any, sign_in: Any, stemjoint_subject: str
) -> None:
    code = stemjoint_subject
    page = sign_in(served, "sj-coordinator")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for language in LANGUAGES:
            page.goto(f"/studies/{STEMJOINT}/subjects/{code}/")
            choose_language(page, language)
            look(page, "visits/subject")
            page.goto(f"/studies/{STEMJOINT}/subjects/{code}/visits/M24/")
            page.fill("#visit_date", (DAY0 + dt.timedelta(days=300)).isoformat())
            page.locator("#visit_date").dispatch_event("change")
            page.locator("#window-check .notice.warn").wait_for()
            look(page, "visits/visit-warning")


def test_next_steps_follow_the_status_and_the_roles(served: Any, sign_in: Any) -> None:
    entry = eligible_patient(STEMJOINT)
    client = api(served, "sj-investigator")
    base = f"/studies/{STEMJOINT}/subjects"
    patient = {
        "site": "AUH",
        "year_of_birth": SCREENED_ON.year - entry.patient.age,
        "age": entry.patient.age,
        "sex": entry.patient.sex,
        "screened_on": SCREENED_ON.isoformat(),
    }
    code = client.expect("POST", base, patient, 201)["code"]
    subject_page = f"/studies/{STEMJOINT}/subjects/{code}/"
    coordinator = sign_in(served, "sj-coordinator")
    investigator = sign_in(served, "sj-investigator")
    pharmacist = sign_in(served, "sj-pharmacist")

    def steps(page: Any) -> list[tuple[str, str]]:
        page.goto(subject_page)
        links = page.locator("section[aria-labelledby=subject-next] a")
        return [
            (link.inner_text(), link.get_attribute("href").removeprefix(subject_page))
            for link in links.all()
        ]

    # Screened: consent is next, for the coordinator and the investigator; not the pharmacist.
    assert steps(coordinator)[0] == ("Record consent", "consent")
    assert steps(investigator)[0] == ("Record consent", "consent")
    assert steps(pharmacist) == []
    consent = {"consented_on": SCREENED_ON.isoformat(), "consent_version": "1.0"}
    client.expect("POST", f"{base}/{code}/consent", consent)
    # Consented: the screening forms, then eligibility (confirmed by the investigator only).
    assert steps(coordinator)[:2] == [
        ("Enter the screening forms", "visits/SCR/"),
        ("Check eligibility", "eligibility"),
    ]
    assert ("Confirm eligibility", "eligibility") in steps(investigator)
    for form, values in entry.screening_forms.items():
        client.expect("PUT", f"{base}/{code}/visits/SCR/forms/{form}", {"values": values})
    client.expect("POST", f"{base}/{code}/eligibility", {"attestations": entry.attestations})
    assert steps(coordinator)[0] == ("Randomize", "randomize")
    client.expect("POST", f"{base}/{code}/randomize")
    # Randomized: the pharmacist records the injection; emergency unblinding is the
    # investigator's, and only for a blinded investigator.
    assert steps(pharmacist)[0] == ("Record the treatment", "treatment")
    assert ("Record the treatment", "treatment") not in steps(coordinator)
    assert ("Emergency unblinding", "unblind") in steps(investigator)
    assert ("Emergency unblinding", "unblind") not in steps(coordinator)
    assert ("Report an adverse event", "adverse-events/new") in steps(coordinator)
    client.close()
