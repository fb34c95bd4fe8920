"""Issue 12's acceptance journeys, all in the browser, on SQLite and on PostgreSQL.

STEMJOINT: a coordinator takes a patient from screening through the eligibility panel (the
investigator attests), randomization, the injection (the pharmacist, who sees the kit's arm),
the D30 visit and its diary, an M3 visit outside its window (warned before saving, recorded as
a deviation) with its forms, the assessor's KOOS, and an adverse event that becomes serious
(the SAE clock). NCT04208646: the same with both treatment cycles. Every page the coordinator,
investigator and assessor see is checked for the protocol's arm ids and labels in its HTML;
the pharmacist's dispensing page must show one, so the check is not vacuous.

The patients' values are by hand from the criteria (the same eligible patients as the area
tests); expected scores by hand from the instruments' manuals.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from support.browser import CBM, STEMJOINT
from support.trial_data import CBM_ELIGIBLE, STEMJOINT_ELIGIBLE, WOMAC_TWOS, arm_in, protocol

TODAY = dt.date.today()
#: Day 0 far enough back that the follow-up visits of the journey are in the past.
DAY0 = TODAY - dt.timedelta(days=120)
SCREENED_ON = DAY0 - dt.timedelta(days=10)
#: 62 on the screening date whatever its month: born 63 years before that year.
YEAR_OF_BIRTH, AGE = SCREENED_ON.year - 63, 62

#: KOOS with every item's second box (1): each subscale is 100 - 25 x 1 = 75 (KOOS 2012).
KOOS_SUBSCALE_ALL_ONES = 75.0


class Blinded:
    """A blinded user's page: every page it lands on is checked for an arm in its HTML."""

    def __init__(self, page: Any, study: str) -> None:
        self.page, self.study = page, study

    def check(self) -> None:
        found = arm_in(self.page.content(), self.study)
        assert found is None, f"arm {found!r} in {self.page.url}"

    def goto(self, path: str) -> Any:
        self.page.goto(path)
        self.check()
        return self.page

    def submit(self, selector: str) -> Any:
        with self.page.expect_navigation():
            self.page.click(selector)
        self.check()
        return self.page


def as_typed(values: dict[str, Any]) -> dict[str, str]:
    return {
        item: ("true" if v else "false") if isinstance(v, bool) else str(v)
        for item, v in values.items()
    }


def enter_form(user: Blinded, path: str, values: dict[str, Any]) -> None:
    """Type each value into the form page the way its input asks, then save and complete."""
    page = user.goto(path)
    for item, text in as_typed(values).items():
        field = page.locator(f"[name='{item}']").first
        kind = field.evaluate("e => e.tagName === 'SELECT' ? 'select' : e.type")
        if kind == "radio":
            page.check(f"input[name='{item}'][value='{text}']")
        elif kind == "select":
            page.select_option(f"#in-{item}", text)
        else:
            page.fill(f"#in-{item}", text)
    user.submit("button[value=complete]")
    assert "Saved and marked complete." in page.inner_text(".messages"), page.url


def record_visit_date(user: Blinded, subject: str, visit: str, day: int, late: bool) -> None:
    """The visit date on the visit page; outside the window the page warns before saving."""
    page = user.goto(f"{subject}visits/{visit}/")
    page.fill("#visit_date", (DAY0 + dt.timedelta(days=day)).isoformat())
    page.locator("#visit_date").dispatch_event("change")
    if late:
        page.locator("#window-check .notice.warn").wait_for()
        user.submit("#window-check button:text('Save anyway')")
        assert "protocol deviation was recorded" in page.inner_text(".messages")
    else:
        page.locator("#window-check .badge.ok").wait_for()
        user.submit("button:text('Save the visit date')")
        assert "Saved." in page.inner_text(".messages")


def journey(
    store: Any,
    sign_in: Any,
    study: str,
    users: dict[str, str],
    screening: dict[str, dict[str, Any]],
    follow_up: list[tuple[str, int, bool, dict[str, dict[str, Any]]]],
    outcome: tuple[str, str, dict[str, Any]],
) -> None:
    visits = protocol(study)["visits"]
    screening_visit = visits[0]["id"]
    coordinator = Blinded(sign_in(store, users["coordinator"]), study)

    # Screening, consent, screening forms.
    page = coordinator.goto(f"/studies/{study}/subjects/new")
    if page.locator("#site").count():
        page.select_option("#site", users["site"])
    page.fill("#year_of_birth", str(YEAR_OF_BIRTH))
    page.fill("#age", str(AGE))
    page.check("input[name=sex][value=female]")
    page.fill("#screened_on", SCREENED_ON.isoformat())
    coordinator.submit("button[type=submit].primary")
    code = page.url.rsplit("/", 2)[-2]
    subject = f"/studies/{study}/subjects/{code}/"
    page.fill("#consent_version", "2.1")
    page.fill("#consented_on", SCREENED_ON.isoformat())
    coordinator.submit("button[type=submit].primary")
    for form, values in screening.items():
        enter_form(coordinator, f"{subject}visits/{screening_visit}/forms/{form}/", values)

    # The investigator confirms the attestations and records the evaluation.
    investigator = Blinded(sign_in(store, users["investigator"]), study)
    page = investigator.goto(f"{subject}eligibility")
    page.click("button:has-text('Tick every confirmation')")
    investigator.submit("button[type=submit]:has-text('Record the eligibility evaluation')")
    assert "Eligibility recorded: Eligible." in page.inner_text(".messages")

    # Randomization: numbers, no arm.
    page = coordinator.goto(f"{subject}randomize")
    page.check("#confirm")
    coordinator.submit("button[type=submit].primary")
    assert re.fullmatch(r"R\d\d-\d{3}", page.inner_text(".randomization-number"))
    kits = page.locator(".allocation .kit-number").all_inner_texts()
    assert len(kits) == len(protocol(study)["treatment_plan"])

    # The pharmacist sees each kit's arm, and records the plan's administrations.
    pharmacy = sign_in(store, users["pharmacist"])
    pharmacy.goto(f"/studies/{study}/dispensing")
    row = pharmacy.locator("table.dispensing tbody tr", has_text=kits[0])
    assert arm_in(row.inner_html(), study) is not None, "the pharmacist sees no arm"
    for administration in protocol(study)["treatment_plan"]:
        pharmacy.goto(f"{subject}treatment")
        given = DAY0 + dt.timedelta(days=administration["day"])
        pharmacy.fill(f"#administered_on-{administration['id']}", given.isoformat())
        with pharmacy.expect_navigation():
            pharmacy.click(f"#administration-{administration['id']} button[type=submit]")
        assert "Administration recorded" in pharmacy.inner_text(".messages")

    # Follow-up visits: dates (one outside its window) and their forms.
    for visit, day, late, forms in follow_up:
        record_visit_date(coordinator, subject, visit, day, late)
        for form, values in forms.items():
            enter_form(coordinator, f"{subject}visits/{visit}/forms/{form}/", values)
    page = coordinator.goto(subject)
    assert "visit_out_of_window" in page.inner_text("#deviation-list")

    # The assessor's outcome questionnaire, with its score previewed as typed.
    visit, form, values = outcome
    assessor = Blinded(sign_in(store, users["assessor"]), study)
    enter_form(assessor, f"{subject}visits/{visit}/forms/{form}/", values)
    if form == "koos":
        pain = assessor.page.locator("#score-preview .score", has_text="KOOS pain")
        shown = re.search(r"\d+(?:[.,]\d+)?$", pain.inner_text().strip()).group()
        assert float(shown.replace(",", ".")) == KOOS_SUBSCALE_ALL_ONES

    # An adverse event that becomes serious starts the SAE clock.
    page = coordinator.goto(f"{subject}adverse-events/new")
    awareness = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).replace(second=0, microsecond=0)
    page.fill("#ae-term", "Knee effusion")
    page.fill("#ae-onset", (TODAY - dt.timedelta(days=1)).isoformat())
    page.fill("#ae-awareness", awareness.strftime("%Y-%m-%dT%H:%M"))  # the user's zone: UTC
    page.check("input[name=ctcae_grade][value='2']")
    page.check("input[name=relatedness][value=possible]")
    page.check("input[name=expected][value=unknown]")
    page.select_option("#ae-action", "dose_not_changed")
    page.select_option("#ae-outcome", "recovering")
    coordinator.submit("button.primary[type=submit]")
    assert page.locator("#sae-due").count() == 0
    page.check("input[name=seriousness][value=hospitalization]")
    page.fill("#ae-reason", "admitted to hospital")
    coordinator.submit("form.ae-form button[type=submit]")
    due = awareness + dt.timedelta(hours=protocol(study)["safety"]["sae_reporting_hours"])
    assert dt.datetime.fromisoformat(page.get_attribute("#sae-due", "datetime")) == due
    coordinator.goto(f"/studies/{study}/sae")
    coordinator.goto(subject)
    Blinded(assessor.page, study).goto(subject)


BACKENDS = ["served", "served_postgresql"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_stemjoint_journey(backend, request, sign_in):
    store = request.getfixturevalue(backend)
    koos = {item: 1 for item in _koos_items()}
    journey(
        store,
        sign_in,
        STEMJOINT,
        {
            "coordinator": "sj-coordinator",
            "investigator": "sj-investigator",
            "pharmacist": "sj-pharmacist",
            "assessor": "sj-assessor",
            "site": "AUH",
        },
        STEMJOINT_ELIGIBLE,
        [
            ("D30", 35, False, {"pain_diary": {f"day{day}": 3 for day in range(1, 8)}}),
            ("M3", 108, True, {"nrs_pain": {"nrs": 4}}),  # window day 77-105: 3 days late
        ],
        ("M3", "koos", koos),
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_nct04208646_journey_with_both_cycles(backend, request, sign_in):
    store = request.getfixturevalue(backend)
    journey(
        store,
        sign_in,
        CBM,
        {
            "coordinator": "cb-coordinator-01",
            "investigator": "cb-investigator-01",
            "pharmacist": "cb-pharmacist-01",
            "assessor": "cb-assessor-01",
            "site": "01",
        },
        CBM_ELIGIBLE,
        [
            ("W3", 21, False, {"vas_pain": {"vas": 40}}),
            ("W12", 95, True, {"vas_pain": {"vas": 30}}),  # window day 77-91: 4 days late
        ],
        ("W12", "womac", WOMAC_TWOS),
    )


def _koos_items() -> list[str]:
    from trialdesk.instruments import get_instrument

    return [item.id for item in get_instrument("koos").items]
