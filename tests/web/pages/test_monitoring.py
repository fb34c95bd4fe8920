"""The monitor's central-monitoring dashboard in Chromium against `trialdesk serve`: the key
risk indicators per site with their flags and funnel plots, the statistical checks, blinded.

The test serves its own store (its figures must not move with other tests' subjects) and
screens eight NCT04208646 patients through the REST API: four at site 01, none failing, and
four at site 02, all failing screening. The screen-failure KRI by hand (binomial, funnel.py's
normal approximation):

- overall rate p0 = 4 / 8 = 0.5; each site's n = 4, se = sqrt(0.5 * 0.5 / 4) = 0.25;
- 95% limits 0.5 -/+ 1.959964 * 0.25 = 0.010 .. 0.990; 99.7% limits 0.5 -/+ 2.967738 * 0.25
  = -0.242 .. 1.242, cut at 0 and 1;
- site 01's rate 0 (z = -2) and site 02's 1 (z = +2): both outside 95% and inside 99.7%:
  "watch", low at 01 and high at 02 (the KRI is watched on both sides).

Sites 03 to 07 screened nobody: no data.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
from typing import Any

import pytest

from support.browser import CBM, LANGUAGES, STEMJOINT, WIDTHS, look
from support.load import ApiClient
from support.trial_data import assert_no_arm

SCREENED_ON = dt.date.today() - dt.timedelta(days=30)


@pytest.fixture(scope="module")
def monitored(serve_store: Any) -> Any:
    """A store of its own with eight screened patients at sites 01 and 02."""
    store = serve_store()
    for site, coordinator, fail in (
        ("01", "cb-coordinator-01", False),
        ("02", "cb-coordinator-02", True),
    ):
        made = store.trialdesk("token", "create", coordinator, "--json")
        assert made.returncode == 0, made.stderr
        client = ApiClient(store.base_url, json.loads(made.stdout)["token"])
        for age in (50, 55, 60, 65):
            patient = {
                "site": site,
                "year_of_birth": SCREENED_ON.year - age,
                "age": age,
                "sex": "male",
                "screened_on": SCREENED_ON.isoformat(),
            }
            code = client.expect("POST", f"/studies/{CBM}/subjects", patient, 201)["code"]
            if fail:
                reason = {"reason": "Kellgren-Lawrence grade 4 on the screening X-ray"}
                client.expect("POST", f"/studies/{CBM}/subjects/{code}/screen-failure", reason)
        client.close()
    return store


def kri_row(page: Any, kri: str, site: str) -> Any:
    return page.locator(f"#kri-{kri} tr[data-site='{site}']")


def test_monitor_reads_the_flags_and_funnel_plots(monitored: Any, sign_in: Any) -> None:
    page = sign_in(monitored, "cb-monitor")
    page.goto(f"/studies/{CBM}/")
    page.click("header nav a:text('Monitoring')")
    page.wait_for_url(f"**/studies/{CBM}/monitoring/")
    assert page.locator("h1").inner_text() == "Central monitoring"

    # The flag summary: every site of the study, a flag (words and a symbol) per KRI.
    summary = page.locator("#flag-table tbody tr")
    assert summary.evaluate_all("rows => rows.map(r => r.dataset.site)") == [
        "01", "02", "03", "04", "05", "06", "07"
    ]  # fmt: skip
    column = page.locator("#flag-table thead th").all_inner_texts().index("Screen failures")
    flags = page.locator(f"#flag-table tbody tr td:nth-child({column + 1})")
    assert flags.evaluate_all("cells => cells.map(c => c.dataset.flag)") == [
        "watch", "watch", "no data", "no data", "no data", "no data", "no data"
    ]  # fmt: skip
    assert "▲" in flags.first.inner_text() and "Watch" in flags.first.inner_text()

    # The screen-failure KRI against the hand computation of the module docstring.
    low, high = (
        kri_row(page, "screen_failure_rate", "01"),
        kri_row(page, "screen_failure_rate", "02"),
    )
    assert low.locator("td").all_inner_texts()[:5] == [
        "0", "4", "0.000", "0.010 – 0.990", "0.000 – 1.000"
    ]  # fmt: skip
    assert high.locator("td").all_inner_texts()[:5] == [
        "4", "4", "1.000", "0.010 – 0.990", "0.000 – 1.000"
    ]  # fmt: skip
    assert "Watch" in low.inner_text() and "(low)" in low.inner_text()
    assert "Watch" in high.inner_text() and "(high)" in high.inner_text()
    assert "All sites: 0.500." in page.locator("#kri-screen_failure_rate").inner_text()

    # The funnel plot of the one KRI with data, an SVG image that loads; the other seven say
    # there is nothing to plot.
    image = page.locator("#kri-screen_failure_rate figure.funnel img")
    image.scroll_into_view_if_needed()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
    )
    assert page.locator("figure.funnel img").count() == 1
    assert page.locator("section.kri .no-funnel").count() == 7
    cookies = "; ".join(f"{c['name']}={c['value']}" for c in page.context.cookies())
    for kri in ("screen_failure_rate", "ae_rate"):
        url = monitored.url(f"/studies/{CBM}/monitoring/funnel/{kri}.svg")
        request = urllib.request.Request(url, headers={"Cookie": cookies})
        with urllib.request.urlopen(request) as answer:
            assert answer.headers["Content-Type"] == "image/svg+xml"
            assert answer.read().lstrip().startswith((b"<?xml", b"<svg"))

    # The statistical checks: none can run on screening data alone (no measured items).
    assert "0 tests ran" in page.locator("#statistical-checks").inner_text()
    assert_no_arm(page.content(), CBM)


def test_who_reads_central_monitoring(monitored: Any, sign_in: Any) -> None:
    # The blinded statistician reads it, with nothing by arm; the site's coordinator does not.
    statistician = sign_in(monitored, "sj-statistician")
    statistician.goto(f"/studies/{STEMJOINT}/monitoring/")
    assert statistician.locator("#flag-table tbody tr").count() == 1  # AUH
    assert_no_arm(statistician.content(), STEMJOINT)
    coordinator = sign_in(monitored, "cb-coordinator-01")
    coordinator.goto(f"/studies/{CBM}/")
    assert coordinator.locator("header nav a:text('Monitoring')").count() == 0
    answer = coordinator.goto(f"/studies/{CBM}/monitoring/")
    assert answer.status == 403
    answer = coordinator.goto(f"/studies/{CBM}/monitoring/funnel/ae_rate.svg")
    assert answer.status == 403


@pytest.mark.parametrize("language", LANGUAGES)
def test_dashboard_in_every_language(monitored: Any, sign_in: Any, language: str) -> None:
    for width in WIDTHS:
        page = sign_in(monitored, "cb-monitor", language=language, width=width)
        page.goto(f"/studies/{CBM}/monitoring/")
        for image in page.locator("figure.funnel img").all():
            image.scroll_into_view_if_needed()
        page.wait_for_function(
            "() => [...document.images].every(img => img.complete && img.naturalWidth > 0)"
        )
        page.evaluate("window.scrollTo(0, 0)")
        look(page, "monitoring/dashboard")
        # The plot speaks the page's language: its title is the section's heading, its axis
        # the denominator's word, both text in the SVG.
        section = page.locator("#kri-screen_failure_rate")
        heading = section.locator("h2, h3").first.inner_text().strip()
        svg = page.request.get(section.locator("figure.funnel img").get_attribute("src")).text()
        assert heading in svg, (heading, language)
        if language != "en":
            assert "95% limits" not in svg and "Screen failures" not in svg, language
        page.context.close()
