"""The work queue page in the browser (NCT04208646): each role sees the sections its steps give
it (store/work_queues.py), of its sites, with each item linking to where the work is done.

Set up through the REST API at site 01, by hand from the protocol
(src/trialdesk/protocols/NCT04208646.yaml): the screening visit SCR (day -14, 14 days before
and 13 after) closes 27 days after the screening date, so a subject screened 40 days ago with
nothing entered has it overdue; a subject screened today whose 7 screening forms are all
complete and whose visit date is recorded has SCR done, to be signed by the investigator and
its forms verified by the monitor (no `sdv_plan`: every saved item); a query raised by the
monitor is open to the site, one answered by the coordinator waits on the monitor and the
data manager; an SAE whose awareness was 30 hours ago has its 24-hour report overdue.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from support.browser import CBM, LANGUAGES, WIDTHS, look
from support.trial_data import CBM_ELIGIBLE, api

TODAY = dt.date.today()
YEAR_OF_BIRTH = TODAY.year - 63
QUEUE = f"/studies/{CBM}/queue"
#: The screening forms of NCT04208646 with a value or more each (all 7 are marked complete).
SCREENING = {
    **CBM_ELIGIBLE,
    "vas_pain": {"vas": 55},
    "knee_exam": {"index_joint_space_width_mm": 2},
}


def screened(served: Any, days_ago: int) -> str:
    coordinator = api(served, "cb-coordinator-01")
    screened_on = (TODAY - dt.timedelta(days=days_ago)).isoformat()
    code = coordinator.call(
        "POST",
        f"/studies/{CBM}/subjects",
        {
            "site": "01",
            "year_of_birth": YEAR_OF_BIRTH,
            "age": 62,
            "sex": "female",
            "screened_on": screened_on,
        },
    )["code"]
    coordinator.call(
        "POST",
        f"/studies/{CBM}/subjects/{code}/consent",
        {"consented_on": screened_on, "consent_version": "3.1"},
    )
    return code


@pytest.fixture(scope="module")
def served(serve_store: Any) -> Any:
    """A store of this module's own: the queues count every subject of site 01, and the
    subject matrix tests (test_home.py) set up site 01 subjects of their own on the shared
    store; either would find the other's in a worker that runs both."""
    return serve_store()


@pytest.fixture(scope="module")
def trial(served: Any) -> dict[str, str]:
    coordinator, monitor = api(served, "cb-coordinator-01"), api(served, "cb-monitor")
    late = screened(served, 40)
    done = screened(served, 0)
    subject = f"/studies/{CBM}/subjects/{done}"
    for form, values in SCREENING.items():
        coordinator.call(
            "PATCH", f"{subject}/visits/SCR/forms/{form}", {"values": values, "complete": True}
        )
    coordinator.call("POST", f"{subject}/visits/SCR", {"visit_date": TODAY.isoformat()})
    asked = f"/studies/{CBM}/subjects/{late}/queries"
    monitor.call("POST", asked, {"text": "Was the patient seen at screening?"})
    answered = monitor.call(
        "POST",
        f"{subject}/queries",
        {
            "text": "Source says 172 cm",
            "visit_id": "SCR",
            "form": "vitals",
            "item": "height_cm",
        },
    )["number"]
    coordinator.call(
        "POST", f"{subject}/queries/{answered}/answer", {"text": "The source says 170 cm."}
    )
    aware = dt.datetime.now(dt.UTC) - dt.timedelta(hours=30)
    coordinator.call(
        "POST",
        f"/studies/{CBM}/subjects/{late}/adverse-events",
        {
            "term": "Septic arthritis",
            "onset_date": (aware.date() - dt.timedelta(days=1)).isoformat(),
            "ctcae_grade": 3,
            "seriousness": ["hospitalization"],
            "relatedness": "possible",
            "expected": False,
            "action_taken": "not_applicable",
            "outcome": "recovering",
            "awareness_at": aware.isoformat(),
        },
    )
    return {"late": late, "done": done}


def headings(page: Any) -> list[str]:
    return [
        re.sub(r"\s+\d+$", "", text.strip())
        for text in page.locator("section.work-section h2").all_inner_texts()
    ]


def section_row(page: Any, anchor: str, code: str) -> Any:
    return page.locator(f"#{anchor} tbody tr", has=page.locator(f"th a:text-is('{code}')"))


def test_a_coordinators_queue(served, sign_in, trial):
    page = sign_in(served, "cb-coordinator-01")
    page.click("nav >> text=Work queue")
    page.wait_for_url(re.compile(r"/queue$"))
    assert headings(page) == [
        "Open queries",
        "Overdue visits",
        "Forms due",
        "SAE reports overdue",
        "SAE reports due",
    ]
    # The monitor's question on the subject (Q1), linked to its page; the SAE without its
    # report raised an automatic one (Q2, by an edit check).
    query = section_row(page, "open-queries", trial["late"])
    links = query.locator("td a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert f"/studies/{CBM}/subjects/{trial['late']}/queries/1/" in links
    assert "Edit check" in query.last.inner_text()
    overdue = section_row(page, "overdue-visits", trial["late"])
    assert overdue.locator("td a").inner_text() == "Screening"
    assert overdue.locator("td a").get_attribute("href") == (
        f"/studies/{CBM}/subjects/{trial['late']}/visits/SCR/"
    )
    sae = section_row(page, "sae-reports-overdue", trial["late"])
    assert sae.locator("td a").inner_text() == "AE 1: Septic arthritis"
    # The task summary counts each section and links to it.
    summary = [" ".join(text.split()) for text in page.locator(".queue-counts a").all_inner_texts()]
    assert any(re.fullmatch(r"\d+ Open queries", text) for text in summary), summary
    # Only site 01's: another site's coordinator sees none of these subjects.
    other = sign_in(served, "cb-coordinator-02")
    other.goto(QUEUE)
    assert trial["late"] not in other.content() and trial["done"] not in other.content()


def test_an_investigators_queue(served, sign_in, trial):
    page = sign_in(served, "cb-investigator-01")
    page.goto(QUEUE)
    assert headings(page)[0] == "Needs signature"
    to_sign = section_row(page, "needs-signature", trial["done"])
    assert to_sign.locator("td a").inner_text() == "Screening"
    assert to_sign.locator("td a").get_attribute("href") == (
        f"/studies/{CBM}/subjects/{trial['done']}/visits/SCR/"
    )
    assert "Ready to lock" not in headings(page)
    look(page, "queues/investigator")


def test_a_monitors_and_a_data_managers_queue(served, sign_in, trial):
    page = sign_in(served, "cb-monitor")
    page.goto(QUEUE)
    assert headings(page) == [
        "Answered queries",
        "Needs source data verification (SDV)",
        "Overdue visits",
        "Forms due",
        "SAE reports overdue",
        "SAE reports due",
    ]
    answered = section_row(page, "answered-queries", trial["done"])
    assert (
        answered.locator("td a").inner_text()
        == "Q1 · Screening · Vital signs, height and weight · height_cm"
    )
    assert answered.locator(".queue-detail").inner_text() == "Source says 172 cm"
    # Each of the 7 screening forms is to be verified, linked to the form.
    forms = section_row(page, "needs-sdv", trial["done"])
    assert forms.count() == 7
    assert f"/subjects/{trial['done']}/visits/SCR/forms/" in forms.first.locator(
        "td a"
    ).get_attribute("href")
    # Several sites: the queue of one of them.
    page.select_option("#queue-site", "02")
    page.click("form.matrix-filters button")
    page.wait_for_url(re.compile(r"site=02"))
    assert trial["done"] not in page.content()
    manager = sign_in(served, "cb-data-manager")
    manager.goto(QUEUE)
    assert headings(manager) == [
        "Answered queries",
        "Overdue visits",
        "Forms due",
        "Ready to lock",
        "SAE reports overdue",
        "SAE reports due",
    ]
    assert section_row(manager, "answered-queries", trial["done"]).count() == 1
    look(manager, "queues/data-manager")
    # A pharmacist has no queue: no link to it.
    pharmacist = sign_in(served, "cb-pharmacist-01")
    assert pharmacist.locator("nav >> text=Work queue").count() == 0


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_screenshots(served, sign_in, trial, language, width):
    page = sign_in(served, "cb-monitor", language=language, width=width)
    page.goto(QUEUE)
    look(page, "queues/monitor")
    coordinator = sign_in(served, "cb-coordinator-01", language=language, width=width)
    coordinator.goto(QUEUE)
    look(coordinator, "queues/coordinator")
