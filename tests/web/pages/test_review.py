"""Queries and source data verification in Chromium, on STEMJOINT: a monitor raises a query on
an item of a saved form, the coordinator answers it on the form, the monitor closes it with
others in one step from the list; a value that breaks an edit check of the shipped protocol
(EC6, index knee flexion 40 to 160 degrees) raises a query by itself; a monitor verifies a
form, the coordinator changes a value and the monitor sees that item to verify again. No page
of a blinded user shows an arm; each page is looked at in each language and width."""

from __future__ import annotations

import datetime as dt
from typing import Any

from support.browser import LANGUAGES, STEMJOINT, WIDTHS, choose_language, look
from support.trial_data import STEMJOINT_ELIGIBLE, api, assert_no_arm, attestations_all_confirmed

TODAY = dt.date.today()
#: Knee examination at baseline, inside every range of the form and of the protocol's edit
#: checks (EC6: flexion 40 to 160 degrees).
KNEE_EXAM = {"index_flexion_deg": 120, "index_extension_deg": 5, "index_effusion": False}


def randomized_subject(served: Any, knee_exam: dict[str, Any] | None = None) -> str:
    """A STEMJOINT subject randomized through the API, with its baseline knee examination."""
    coordinator, investigator = api(served, "sj-coordinator"), api(served, "sj-investigator")
    base = f"/studies/{STEMJOINT}/subjects"
    body = {"site": "AUH", "year_of_birth": TODAY.year - 63, "age": 62, "sex": "female"}
    code = coordinator.call("POST", base, {**body, "screened_on": TODAY.isoformat()})["code"]
    consent = {"consented_on": TODAY.isoformat(), "consent_version": "1.0"}
    coordinator.call("POST", f"{base}/{code}/consent", consent)
    for form, values in STEMJOINT_ELIGIBLE.items():
        coordinator.call("PUT", f"{base}/{code}/visits/SCR/forms/{form}", {"values": values})
    attestations = {"attestations": attestations_all_confirmed(STEMJOINT)}
    assert investigator.call("POST", f"{base}/{code}/eligibility", attestations)["verdict"] == (
        "eligible"
    )
    coordinator.call("POST", f"{base}/{code}/randomize")
    coordinator.call(
        "PUT", f"{base}/{code}/visits/BL/forms/knee_exam", {"values": knee_exam or KNEE_EXAM}
    )
    return code


def form_url(code: str, visit: str = "BL", form: str = "knee_exam") -> str:
    return f"/studies/{STEMJOINT}/subjects/{code}/visits/{visit}/forms/{form}/"


def queries_url(**filters: str) -> str:
    query = "&".join(f"{name}={value}" for name, value in filters.items())
    return f"/studies/{STEMJOINT}/queries/" + (f"?{query}" if query else "")


def raise_query(page: Any, code: str, item: str, text: str) -> str:
    """Raise a query on `item` of the subject's baseline knee examination from the form page;
    the query page's URL."""
    page.goto(form_url(code))
    page.locator(f"#item-{item} .item-review a", has_text="Raise a query").click()
    page.fill("#query-text", text)
    page.click("button[type=submit].primary")
    page.locator(".message", has_text="Query raised").wait_for()
    return page.url


def test_raise_answer_and_close_a_query(served, sign_in):
    code = randomized_subject(served)
    monitor = sign_in(served, "sj-monitor")
    monitor.goto(form_url(code))
    # A monitor reads the values and never writes them: no input is enabled, no save button.
    assert (
        monitor.locator(
            "#form-entry input:enabled:not([type=hidden]), #form-entry select:enabled"
        ).count()
        == 0
    )
    assert monitor.locator("button[value=save]").count() == 0
    assert_no_arm(monitor.content(), STEMJOINT)

    first = raise_query(monitor, code, "index_flexion_deg", "Flexion 120: the source says 112?")
    assert monitor.locator("#query-status").inner_text() == "Open"
    assert monitor.locator("#current-value").inner_text() == "120"
    thread = monitor.locator("ol.thread li")
    assert thread.count() == 1 and "sj-monitor" in thread.first.inner_text()
    second = raise_query(monitor, code, "index_extension_deg", "Extension deficit: please check.")
    assert second != first

    coordinator = sign_in(served, "sj-coordinator")
    coordinator.goto(form_url(code))
    column = coordinator.locator("#item-index_flexion_deg .item-review")
    assert "Query 1" in column.inner_text() and "Open" in column.inner_text()
    assert column.locator("a", has_text="Raise").count() == 0  # the site does not raise
    column.locator("a", has_text="Query 1").click()
    coordinator.fill("#reply-text", "Checked the source: 120 is right.")
    coordinator.click("button[value=answer]")
    coordinator.locator(".message", has_text="Answer sent.").wait_for()
    assert coordinator.locator("#query-status").inner_text() == "Answered"
    assert coordinator.locator("button[value=close]").count() == 0  # the site does not close
    assert_no_arm(coordinator.content(), STEMJOINT)

    # The monitor closes both from the list, with one message.
    monitor.goto(queries_url(subject=code))
    rows = monitor.locator("#queries tbody tr")
    assert rows.count() == 2
    assert "Answered" in monitor.locator("#queries tr[data-number='1']").inner_text()
    assert "Open" in monitor.locator("#queries tr[data-number='2']").inner_text()
    monitor.check(f"#select-{code}-1")
    monitor.check(f"#select-{code}-2")
    monitor.fill("#close-text", "Resolved at the monitoring visit.")
    monitor.click("#bulk-close button[type=submit]")
    monitor.locator(".message", has_text="2 queries closed.").wait_for()
    assert monitor.locator("#queries tbody tr").count() == 0  # the list shows what is left
    monitor.goto(first)
    assert monitor.locator("#query-status").inner_text() == "Closed"
    said = monitor.locator("ol.thread li").all_inner_texts()
    assert len(said) == 3 and "Resolved at the monitoring visit." in said[2]
    assert "sj-coordinator" in said[1]
    # A closed query can be re-opened, with a message: it is the site's again.
    monitor.fill("#reply-text", "The source was re-checked: please correct to 112.")
    monitor.click("button[value=reopen]")
    monitor.locator(".message", has_text="Query re-opened.").wait_for()
    assert monitor.locator("#query-status").inner_text() == "Open"
    assert monitor.locator("ol.thread li").count() == 4


def test_a_value_breaking_an_edit_check_raises_a_query(served, sign_in):
    # EC6 of the protocol file: flexion outside 40 to 160 degrees; 165 is within the form's
    # own range (0 to 170), so the save succeeds and the rule raises the query.
    code = randomized_subject(served, {**KNEE_EXAM, "index_flexion_deg": 165})
    coordinator = sign_in(served, "sj-coordinator")
    coordinator.goto(form_url(code))
    column = coordinator.locator("#item-index_flexion_deg .item-review")
    assert "Query 1" in column.inner_text() and "EC6" in column.inner_text()
    column.locator("a", has_text="Query 1").click()
    assert "edit check EC6" in coordinator.locator(".page-head").inner_text()
    assert "40 to 160 degrees" in coordinator.locator("ol.thread").inner_text()
    monitor = sign_in(served, "sj-monitor")
    monitor.goto(queries_url(subject=code))
    row = monitor.locator("#queries tbody tr")
    assert row.count() == 1 and "Rule EC6" in row.inner_text()


def test_verify_a_form_change_a_value_and_see_its_verification_reset(served, sign_in):
    code = randomized_subject(served)
    monitor = sign_in(served, "sj-monitor")
    monitor.goto(form_url(code))
    monitor.click("#form-review button[value=form]")
    monitor.locator(".message", has_text="Form verified").wait_for()
    for item in KNEE_EXAM:
        review = monitor.locator(f"#item-{item} .sdv-state").inner_text()
        assert "Verified" in review and "sj-monitor" in review, (item, review)

    coordinator = sign_in(served, "sj-coordinator")
    coordinator.goto(form_url(code))
    assert coordinator.locator("button[form=sdv-form]").count() == 0  # only monitors verify
    assert "Verified" in coordinator.locator("#item-index_flexion_deg .sdv-state").inner_text()
    coordinator.fill("#in-index_flexion_deg", "118")
    coordinator.press("#in-index_flexion_deg", "Tab")
    coordinator.locator("#reason-block-index_flexion_deg").wait_for(state="visible")
    coordinator.fill("#reason-index_flexion_deg", "re-measured with the goniometer")
    coordinator.click("button[value=save]")
    coordinator.locator(".message", has_text="Saved.").wait_for()

    monitor.goto(form_url(code))
    assert "To verify again" in monitor.locator("#item-index_flexion_deg .sdv-state").inner_text()
    assert "Verified" in monitor.locator("#item-index_extension_deg .sdv-state").inner_text()
    monitor.click("#item-index_flexion_deg button[name=item]")
    monitor.locator(".message", has_text="index_flexion_deg verified").wait_for()
    assert "Verified" in monitor.locator("#item-index_flexion_deg .sdv-state").inner_text()


def test_every_review_page_in_each_language_and_width(served, sign_in):
    code = randomized_subject(served)
    setup = sign_in(served, "sj-monitor")
    query = raise_query(setup, code, "index_flexion_deg", "Please check the flexion.")
    setup.goto(form_url(code))
    raise_link = setup.locator("#item-index_extension_deg .item-review a", has_text="Raise")
    new_url = raise_link.get_attribute("href")
    for width in WIDTHS:
        page = sign_in(served, "sj-monitor", width=width)
        for language in LANGUAGES:
            choose_language(page, language)
            for name, url in (
                ("review/queries", queries_url()),
                ("review/query", query),
                ("review/query-new", new_url),
                ("review/form", form_url(code)),
            ):
                page.goto(url)
                assert_no_arm(page.content(), STEMJOINT)
                look(page, name)
