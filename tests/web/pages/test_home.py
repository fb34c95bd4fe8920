"""The start page, the subject matrix and the work list in the browser (NCT04208646).

The subjects are made here through the REST API, each with the cells it should show, by hand
from the protocol (src/trialdesk/protocols/NCT04208646.yaml): the screening visit SCR (day
-14, 14 days before and 13 after) opens on the screening date and closes 27 days later; every
later visit (D0, W3, W12, W24, W36, W48) needs day 0, the first administration, so before it
they are not due. What the matrix shows per cell (store/matrix.py): overdue, due with no data,
in progress, complete, missed, not yet due, not expected (participation ended).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import urllib.error
import urllib.request
from typing import Any

import pytest

from support.browser import CBM, LANGUAGES, WIDTHS, look

TODAY = dt.date.today()
YEAR_OF_BIRTH = TODAY.year - 63
LATER_VISITS = ["not_due"] * 6  # D0, W3, W12, W24, W36, W48 before day 0


class Api:
    """The served store's REST API as one user (a token made with the CLI)."""

    def __init__(self, served: Any, username: str) -> None:
        made = served.trialdesk("token", "create", username, "--json")
        assert made.returncode == 0, made.stderr
        self.token = json.loads(made.stdout)["token"]
        self.served = served

    def call(self, method: str, path: str, body: dict | None = None) -> Any:
        request = urllib.request.Request(
            self.served.url(f"/api/v1/studies/{CBM}{path}"),
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raise AssertionError(f"{method} {path}: {error.code} {error.read()!r}") from None

    def screened(self, site: str, days_ago: int) -> str:
        """A consented subject screened (and consented) `days_ago` days ago."""
        screened_on = TODAY - dt.timedelta(days=days_ago)
        subject = self.call(
            "POST",
            "/subjects",
            {
                "site": site,
                "year_of_birth": YEAR_OF_BIRTH,
                "age": screened_on.year - YEAR_OF_BIRTH - 1,
                "sex": "female",
                "screened_on": screened_on.isoformat(),
            },
        )
        code = subject["code"]
        self.call(
            "POST",
            f"/subjects/{code}/consent",
            {"consented_on": screened_on.isoformat(), "consent_version": "3.1"},
        )
        return code

    def serious_event(self, code: str, aware: dt.datetime) -> None:
        self.call(
            "POST",
            f"/subjects/{code}/adverse-events",
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


@pytest.fixture(scope="module")
def trial(served: Any) -> dict[str, Any]:
    """Subjects at site 01 (cb-coordinator-01's) and one at site 02, each with its cells."""
    site01, site02 = Api(served, "cb-coordinator-01"), Api(served, "cb-coordinator-02")
    late = site01.screened("01", 40)  # SCR closed 13 days ago, nothing entered
    busy = site01.screened("01", 2)
    site01.call("PUT", f"/subjects/{busy}/visits/SCR/forms/vas_pain", {"values": {"vas": 55}})
    fresh = site01.screened("01", 3)  # SCR open, nothing entered
    absent = site01.screened("01", 10)
    site01.call("POST", f"/subjects/{absent}/visits/SCR/missed", {"reason": "Admitted elsewhere"})
    failed = site01.screened("01", 5)
    site01.call("POST", f"/subjects/{failed}/screen-failure", {"reason": "Declined injection"})
    other = site02.screened("02", 40)
    now = dt.datetime.now(dt.UTC)
    site01.serious_event(late, now - dt.timedelta(hours=30))  # report due 6 hours ago
    site01.serious_event(fresh, now - dt.timedelta(hours=1))  # report due in 23 hours
    return {
        "cells": {
            late: ["overdue", *LATER_VISITS],
            busy: ["in_progress", *LATER_VISITS],
            fresh: ["no_data", *LATER_VISITS],
            absent: ["missed", *LATER_VISITS],
            failed: ["not_expected"] * 7,
        },
        "late": late,
        "fresh": fresh,
        "failed": failed,
        "other": other,
    }


def home(study: str = CBM, query: str = "") -> str:
    return f"/studies/{study}/" + (f"?{query}" if query else "")


def row_states(page: Any, code: str) -> list[str]:
    row = page.locator("table.matrix tbody tr", has=page.locator(f"th a:text-is('{code}')"))
    return row.locator("td.cell").evaluate_all("cells => cells.map(c => c.dataset.state)")


def test_matrix_cells_and_a_site_bound_coordinator(served, sign_in, trial):
    page = sign_in(served, "cb-coordinator-01")
    assert page.url.endswith(home())  # one study: straight to it
    headers = page.locator("table.matrix thead th.visit-col").all_inner_texts()
    assert headers == [
        "Screening",
        "Baseline and treatment cycle 1",
        "Week 3, treatment cycle 2",
        "Week 12",
        "Week 24",
        "Week 36",
        "Week 48, end of study",
    ]
    for code, expected in trial["cells"].items():
        assert row_states(page, code) == expected, code
    # The colour comes with an icon and words: the overdue cell says so to a screen reader.
    late = page.locator(
        "table.matrix tbody tr", has=page.locator(f"th a:text-is('{trial['late']}')")
    )
    first = late.locator("td.cell").first
    assert first.inner_text().startswith("!")
    assert "Screening: Overdue: window ended, not done" in first.text_content()
    assert first.locator("a").get_attribute("href") == (
        f"/studies/{CBM}/subjects/{trial['late']}/visits/SCR/"
    )
    assert late.locator("th a").get_attribute("href") == f"/studies/{CBM}/subjects/{trial['late']}/"
    # Site 02's subject is nowhere, not even when asked for by code.
    assert trial["other"] not in page.content()
    page.goto(home(query=f"q={trial['other']}"))
    assert "No subject matches these filters" in page.inner_text("#matrix-results")
    assert page.locator("#matrix-site").count() == 0  # one site: no site filter
    page.wait_for_selector(".work-counts")  # the summary comes by htmx once the page is shown
    counts = page.inner_text(".work-summary")
    assert re.search(r"Overdue visits\s+1\b", counts), counts


def test_filters_sort_and_pages_by_htmx_and_plain_urls(served, sign_in, trial):
    page = sign_in(served, "cb-coordinator-01")
    # htmx: typing in the search box updates the table and the address.
    page.fill("#matrix-q", trial["failed"])
    page.wait_for_url(re.compile(r"\?q=" + re.escape(trial["failed"])))
    page.wait_for_function("document.querySelectorAll('table.matrix tbody tr').length === 1")
    assert row_states(page, trial["failed"]) == trial["cells"][trial["failed"]]
    # Reloading the pushed URL shows the same (works without JavaScript).
    page.reload()
    assert page.locator("table.matrix tbody tr").count() == 1
    assert page.input_value("#matrix-q") == trial["failed"]
    # Status filter by a plain URL.
    page.goto(home(query="status=screen_failed"))
    codes = page.locator("table.matrix tbody th a").all_inner_texts()
    assert trial["failed"] in codes and trial["late"] not in codes
    # Sorting by code, descending, by clicking twice (htmx).
    page.goto(home())
    page.click("th.col-code a")
    page.wait_for_url(re.compile(r"sort=-code"))
    page.wait_for_selector("th.col-code[aria-sort=descending]")
    codes = page.locator("table.matrix tbody th a").all_inner_texts()
    assert codes == sorted(codes, reverse=True) and len(codes) >= 5


def test_pages_of_fifty(served, sign_in, trial):
    site02 = Api(served, "cb-coordinator-02")
    for _ in range(50):
        site02.call(
            "POST",
            "/subjects",
            {"site": "02", "year_of_birth": YEAR_OF_BIRTH, "age": 62, "sex": "male"},
        )
    page = sign_in(served, "cb-monitor")
    page.goto(home(query="site=02"))
    total = int(re.search(r"of (\d+) shown", page.inner_text(".matrix-count"))[1])
    assert total >= 51  # the fifty and trial's "other"
    assert page.locator("table.matrix tbody tr").count() == 50
    assert "Subjects 1–50 of" in page.inner_text(".matrix-count")
    page.click("a[rel=next]")
    page.wait_for_url(re.compile(r"page=2"))
    page.wait_for_selector("text=Page 2 of")
    assert page.locator("table.matrix tbody tr").count() == total - 50
    assert "site=02" in page.url  # the filter stays in the pushed URL
    page.goto(home(query="site=02&page=2"))
    assert page.locator("table.matrix tbody tr").count() == total - 50


def test_work_list(served, sign_in, trial):
    page = sign_in(served, "cb-coordinator-01")
    page.goto(f"/studies/{CBM}/work")
    overdue = page.locator("#overdue-visits")
    assert trial["late"] in overdue.inner_text() and trial["other"] not in page.content()
    link = overdue.locator("a", has_text="Screening").first
    assert link.get_attribute("href") == f"/studies/{CBM}/subjects/{trial['late']}/visits/SCR/"
    sae = page.locator("#sae-reports")
    rows = sae.locator("tbody tr").all_inner_texts()
    assert any(trial["late"] in row and "Overdue" in row for row in rows), rows
    assert any(trial["fresh"] in row and "Due" in row for row in rows), rows
    assert (
        sae.locator("a", has_text="AE 1").first.get_attribute("href").endswith("/adverse-events/1/")
    )
    eligibility = page.inner_text("#eligibility")
    assert trial["late"] in eligibility and trial["failed"] not in eligibility


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_screenshots(served, sign_in, trial, language, width):
    page = sign_in(served, "cb-coordinator-01", language=language, width=width)
    page.wait_for_selector(".work-counts")
    docs = "subject-matrix" if (language, width) == ("en", 1280) else None
    look(page, "home/matrix", docs=docs)
    if width == 768:  # the visits scroll sideways, the code column stays in view
        wrap = page.locator(".matrix-wrap")
        assert wrap.evaluate("el => el.scrollWidth > el.clientWidth")
        wrap.evaluate("el => { el.scrollLeft = el.scrollWidth; }")
        code = page.locator("table.matrix tbody th.col-code").first.bounding_box()
        assert code["x"] <= wrap.bounding_box()["x"] + 2
    page.goto(f"/studies/{CBM}/work")
    look(page, "home/work-list")
    admin = sign_in(served, "admin", language=language, width=width)
    assert admin.url.rstrip("/").endswith(served.base_url.rstrip("/")) or admin.url.endswith("/")
    assert admin.locator(".study-card").count() == 2
    look(admin, "home/start")
