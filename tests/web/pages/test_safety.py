"""The safety pages in the browser: an adverse event that becomes serious and its SAE clock,
the SAE report list, a protocol deviation, a withdrawal, and an emergency unblinding whose arm
only the unblinding investigator sees (checked in the HTML of the others' pages).

Subjects are set up through the REST API: screened, consented, screening forms entered,
found eligible by the investigator and randomized, with forms from the demo planner (which
judges them as the store does). The coordinator of these tests works in Copenhagen time, so
what the pages show and take is checked in a time zone other than the store's UTC.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import zoneinfo
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.browser import LANGUAGES, STEMJOINT, WIDTHS, look
from support.load import ApiClient

PROTOCOL = Path(__file__).resolve().parents[3] / "src/trialdesk/protocols/NCT05933434.yaml"
#: The protocol's own numbers, read from its YAML (not from the code under test).
PROTOCOL_YAML = yaml.safe_load(PROTOCOL.read_text())
SAE_HOURS = PROTOCOL_YAML["safety"]["sae_reporting_hours"]
ARM_WORDS = [arm["id"] for arm in PROTOCOL_YAML["arms"]] + [
    arm["label"] for arm in PROTOCOL_YAML["arms"]
]
ARM_PATTERN = re.compile(r"\b(" + "|".join(map(re.escape, ARM_WORDS)) + r")\b")
COORDINATOR = "sj-safety-coordinator"
COORDINATOR_PASSWORD = "Copenhagen-Knee-Safety-7!"
ZONE = "Europe/Copenhagen"
SET_TIME_ZONE = """
import sys
from trialdesk.store.database import open_store
open_store()
from trialdesk.store.models import StudyUser
from trialdesk.store.services.accounts import set_preferences
set_preferences(StudyUser.objects.get(username=sys.argv[1]), time_zone=sys.argv[2])
"""


@cache
def _eligible_patients() -> list[Any]:
    """Screening entries the demo planner judged eligible (forms and attestations)."""
    from trialdesk.protocol import load_protocol
    from trialdesk.store.demo.plan import plan_trial

    protocol = load_protocol(PROTOCOL)
    plan = plan_trial(protocol, 8, 12, {arm.id: 0.0 for arm in protocol.arms}, dt.date.today())
    return [entry for entry in plan.log if entry.verdict == "eligible"]


class Trial:
    """API clients of the served store's STEMJOINT staff, and subjects made through them."""

    def __init__(self, served: Any) -> None:
        self.served = served
        self.clients: dict[str, ApiClient] = {}
        self.made = 0

    def api(self, username: str) -> ApiClient:
        if username not in self.clients:
            created = self.served.trialdesk("token", "create", username)
            assert created.returncode == 0, created.stderr
            token = created.stdout.strip().splitlines()[-1]
            self.clients[username] = ApiClient(self.served.base_url, token)
        return self.clients[username]

    def subject(self, randomized: bool = True) -> str:
        """A new STEMJOINT subject at AUH, consented 3 days ago, eligible and (by default)
        randomized."""
        entries = _eligible_patients()
        entry = entries[self.made % len(entries)]
        self.made += 1
        coordinator = self.api("sj-coordinator")
        screened = dt.date.today() - dt.timedelta(days=3)
        base = f"/studies/{STEMJOINT}/subjects"
        patient = {
            "site": "AUH",
            "year_of_birth": screened.year - entry.patient.age - 1,
            "age": entry.patient.age,
            "sex": entry.patient.sex,
            "screened_on": screened.isoformat(),
        }
        code = coordinator.expect("POST", base, patient, 201)["code"]
        consent = {"consented_on": screened.isoformat(), "consent_version": "1.0"}
        coordinator.expect("POST", f"{base}/{code}/consent", consent)
        if not randomized:
            return code
        for form, values in entry.screening_forms.items():
            coordinator.expect("PUT", f"{base}/{code}/visits/SCR/forms/{form}", {"values": values})
        verdict = self.api("sj-investigator").expect(
            "POST", f"{base}/{code}/eligibility", {"attestations": entry.attestations}
        )
        assert verdict["verdict"] == "eligible", verdict
        coordinator.expect("POST", f"{base}/{code}/randomize")
        return code

    def close(self) -> None:
        for client in self.clients.values():
            client.close()


def _with_copenhagen_coordinator(served: Any) -> None:
    """A second coordinator at AUH whose time zone is Europe/Copenhagen (once per store)."""
    if COORDINATOR in served.users:
        return
    added = served.trialdesk(
        "user", "add", COORDINATOR, "--role", "coordinator", "--site", "AUH", "--study",
        STEMJOINT, "--password-stdin", stdin=COORDINATOR_PASSWORD + "\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    zoned = subprocess.run(
        [sys.executable, "-c", SET_TIME_ZONE, COORDINATOR, ZONE],
        env={**os.environ, **served.environment},
        capture_output=True,
        text=True,
    )
    assert zoned.returncode == 0, zoned.stderr
    # This store's users only (the shared USERS seed the other stores).
    served.users = {**served.users, COORDINATOR: {"password": COORDINATOR_PASSWORD}}


@pytest.fixture(scope="module")
def trial(served: Any) -> Any:
    _with_copenhagen_coordinator(served)
    made = Trial(served)
    yield made
    made.close()


def submit(page: Any, selector: str) -> None:
    """Click what submits a form or follows a link, and wait for the next page."""
    with page.expect_navigation():
        page.click(selector)


def _local_input(moment: dt.datetime) -> str:
    return moment.astimezone(zoneinfo.ZoneInfo(ZONE)).strftime("%Y-%m-%dT%H:%M")


def _fill_adverse_event(page: Any, term: str, onset: dt.date, awareness: dt.datetime) -> None:
    page.fill("#ae-term", term)
    page.fill("#ae-onset", onset.isoformat())
    page.fill("#ae-awareness", _local_input(awareness))
    page.check("input[name=ctcae_grade][value='2']")
    page.check("input[name=relatedness][value=possible]")
    page.check("input[name=expected][value=unknown]")
    page.select_option("#ae-action", "dose_not_changed")
    page.select_option("#ae-outcome", "recovering")


def _sae_path(store: Any, sign_in: Any, code: str) -> None:
    """The coordinator reports a non-serious AE, makes it serious (hospitalisation), sees the
    SAE clock and the SAE list, and records the report."""
    zone = zoneinfo.ZoneInfo(ZONE)
    page = sign_in(store, COORDINATOR)
    page.goto(f"/studies/{STEMJOINT}/subjects/{code}/adverse-events/new")
    # Awareness two hours ago, to the minute, typed in the coordinator's Copenhagen time.
    awareness = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).replace(second=0, microsecond=0)
    _fill_adverse_event(page, "Knee effusion", dt.date.today() - dt.timedelta(days=1), awareness)
    submit(page, "button.primary[type=submit]")
    assert page.url.endswith(f"/subjects/{code}/adverse-events/1/"), page.url
    assert "Adverse event 1 saved." in page.inner_text(".messages")
    assert page.locator("#sae-due").count() == 0  # not serious: no clock
    shown = page.locator("time").first.get_attribute("datetime")
    assert dt.datetime.fromisoformat(shown) == awareness  # stored as typed, in UTC
    assert shown.endswith("+01:00") or shown.endswith("+02:00")  # shown in Copenhagen time

    # Serious now: a change without a reason is refused, nothing saved.
    page.check("input[name=seriousness][value=hospitalization]")
    submit(page, "form.ae-form button[type=submit]")
    assert page.locator("#ae-reason[aria-invalid=true]").count() == 1
    assert "Reason: say why" in page.inner_text("#ae-reason-error")
    assert page.locator("#sae-due").count() == 0
    assert page.locator("input[name=seriousness][value=hospitalization]").is_checked()
    page.fill("#ae-reason", "admitted to hospital for a knee washout")
    submit(page, "form.ae-form button[type=submit]")
    assert "Adverse event 1 saved." in page.inner_text(".messages")
    due = awareness + dt.timedelta(hours=SAE_HOURS)  # the protocol's 24 h from awareness
    due_shown = page.get_attribute("#sae-due", "datetime")
    assert due_shown == due.astimezone(zone).isoformat(), (due_shown, due)
    assert page.get_attribute("#sae-state", "data-state") == "open"
    assert "21 h" in page.inner_text("#sae-state") or "22 h" in page.inner_text("#sae-state")

    submit(page, "nav.main-nav >> text=Serious adverse events")
    row = page.locator(f"#sae-reports tr[data-subject='{code}'][data-number='1']")
    assert row.count() == 1
    assert row.locator("time.due").get_attribute("datetime") == due.astimezone(zone).isoformat()

    with page.expect_navigation():
        row.locator("th a").click()
    page.fill("#sae-reported-at", _local_input(dt.datetime.now(dt.UTC)))
    submit(page, "form.sae-report button[type=submit]")
    assert "The SAE report is recorded as sent." in page.inner_text(".messages")
    assert page.get_attribute("#sae-state", "data-state") == "reported"
    events = Trial(store).api("sj-monitor")
    try:
        recorded = events.expect("GET", f"/studies/{STEMJOINT}/subjects/{code}/adverse-events")
    finally:
        events.close()
    assert recorded[0]["seriousness"] == ["hospitalization"] and recorded[0]["reported_at"]
    assert recorded[0]["report_due_at"].replace("Z", "+00:00") == due.isoformat()
    page.goto(f"/studies/{STEMJOINT}/sae")
    assert page.locator(f"#sae-reports tr[data-subject='{code}']").count() == 0


def test_an_adverse_event_becomes_serious_and_its_report_is_recorded(served, sign_in, trial):
    _sae_path(served, sign_in, trial.subject())


def test_the_sae_path_on_postgresql(served_postgresql, sign_in):
    _with_copenhagen_coordinator(served_postgresql)
    trial = Trial(served_postgresql)
    try:
        _sae_path(served_postgresql, sign_in, trial.subject())
    finally:
        trial.close()


def test_a_deviation_and_a_withdrawal(served, sign_in, trial):
    code, other = trial.subject(), trial.subject(randomized=False)
    page = sign_in(served, COORDINATOR)
    page.goto(f"/studies/{STEMJOINT}/subjects/{code}/deviations/new")
    submit(page, "button.primary[type=submit]")  # empty: each field says what it needs
    assert page.locator("[aria-invalid=true]").count() == 2
    assert "Kind: choose" in page.inner_text("#dev-kind-error")
    page.select_option("#dev-kind", "dosing_error")
    page.select_option("#dev-visit", "SCR")
    page.fill("#dev-description", "screening labs drawn after the window closed")
    submit(page, "button.primary[type=submit]")
    assert page.url.endswith(f"/subjects/{code}/"), page.url
    api = trial.api("sj-coordinator")
    deviations = api.expect("GET", f"/studies/{STEMJOINT}/subjects/{code}/deviations")
    assert [(d["kind"], d["visit"], d["detected_on"]) for d in deviations] == [
        # The page's default: today in the coordinator's time zone.
        ("dosing_error", "SCR", dt.datetime.now(zoneinfo.ZoneInfo(ZONE)).date().isoformat())
    ]

    page.goto(f"/studies/{STEMJOINT}/subjects/{other}/status")
    page.check("input[name=status][value=withdrawn]")
    submit(page, "button.primary[type=submit]")  # no reason
    assert "Reason: say why" in page.inner_text("#status-reason-error")
    page.fill("#status-reason", "withdrew consent: no longer wishes to attend the visits")
    submit(page, "button.primary[type=submit]")
    assert "withdrew consent" in page.inner_text("#confirm-reason")
    subject = api.expect("GET", f"/studies/{STEMJOINT}/subjects/{other}")
    assert subject["status"] == "consented"  # nothing happens before the confirmation
    submit(page, "button[name=confirm][value=yes]")
    assert page.url.endswith(f"/subjects/{other}/"), page.url
    assert api.expect("GET", f"/studies/{STEMJOINT}/subjects/{other}")["status"] == "withdrawn"
    page.goto(f"/studies/{STEMJOINT}/subjects/{other}/status")
    assert page.locator("input[name=status]").count() == 0  # nothing more from withdrawn


def _arm_free(page: Any, path: str) -> None:
    page.goto(path)
    html = page.content()
    found = ARM_PATTERN.findall(html)
    assert not found, f"{path}: the page of a blinded user contains {found}"


def test_emergency_unblinding_shows_the_arm_to_that_investigator_only(served, sign_in, trial):
    code = trial.subject()
    unblind = f"/studies/{STEMJOINT}/subjects/{code}/unblind"
    audit = f"/studies/{STEMJOINT}/audit?subject={code}&action=subject.unblinded"
    investigator = trial.api("sj-investigator")

    coordinator = sign_in(served, "sj-coordinator")
    coordinator.goto(unblind)
    coordinator.fill("#unblind-reason", "anaphylaxis")
    coordinator.fill("#unblind-password", served.password("sj-coordinator"))
    submit(coordinator, "button.danger")
    assert "Your role does not allow this step." in coordinator.inner_text(".notice.error")
    assert investigator.expect("GET", audit)["count"] == 0

    page = sign_in(served, "sj-investigator")
    page.goto(unblind)
    page.fill("#unblind-reason", "suspected anaphylaxis: treatment depends on the arm")
    page.fill("#unblind-password", "not-the-password-1")
    submit(page, "button.danger")
    assert "this is not your password. Nothing was recorded." in page.inner_text(
        "#unblind-password-error"
    )
    assert page.locator("#emergency-arm").count() == 0
    assert investigator.expect("GET", audit)["count"] == 0
    assert page.input_value("#unblind-reason").startswith("suspected anaphylaxis")
    page.fill("#unblind-password", served.password("sj-investigator"))
    submit(page, "button.danger")
    kits = trial.api("sj-pharmacist").expect("GET", f"/studies/{STEMJOINT}/subjects/{code}/kits")
    arm = kits[0]["arm"]
    label = next(a["label"] for a in PROTOCOL_YAML["arms"] if a["id"] == arm)
    assert page.inner_text("#emergency-arm") == f"{label} ({arm})"
    events = investigator.expect("GET", audit)
    # One unblinding (its fields are events of one object), by the investigator.
    assert {(e["object_id"], e["by"]) for e in events["items"]} == {
        (events["items"][0]["object_id"], "sj-investigator")
    }
    assert arm not in json.dumps(events["items"])  # the trail keeps who and why, not the arm

    subject = f"/studies/{STEMJOINT}/subjects/{code}/"
    pages = [
        subject,
        unblind,
        subject + "adverse-events/",
        subject + "adverse-events/new",
        subject + "status",
        subject + "deviations/new",
        f"/studies/{STEMJOINT}/sae",
    ]
    for username in ("sj-coordinator", "sj-assessor"):
        blinded = coordinator if username == "sj-coordinator" else sign_in(served, username)
        for path in pages:
            _arm_free(blinded, path)
    other = trial.subject()
    _arm_free(page, f"/studies/{STEMJOINT}/subjects/{other}/unblind")  # that one subject only


def test_every_safety_page_in_each_language_and_width(served, sign_in, trial):
    code, other = trial.subject(), trial.subject(randomized=False)
    api = trial.api("sj-coordinator")
    awareness = dt.datetime.now(dt.UTC) - dt.timedelta(hours=30)
    serious = {
        "term": "Septic arthritis of the index knee",
        "onset_date": (dt.date.today() - dt.timedelta(days=2)).isoformat(),
        "ctcae_grade": 3,
        "seriousness": ["hospitalization", "medically_important"],
        "relatedness": "possible",
        "expected": False,
        "action_taken": "not_applicable",
        "outcome": "recovering",
        "awareness_at": awareness.isoformat(),
    }
    base = f"/studies/{STEMJOINT}/subjects/{code}"
    api.expect("POST", f"{base}/adverse-events", serious, 201)
    api.expect("POST", f"{base}/deviations", {
        "kind": "visit_schedule", "description": "baseline visit moved by a day",
        "detected_on": dt.date.today().isoformat(),
    }, 201)  # fmt: skip
    reason = "suspected unexpected serious adverse reaction"
    trial.api("sj-investigator").expect("POST", f"{base}/unblind", {"reason": reason})
    for language in LANGUAGES:
        for width in WIDTHS:
            page = sign_in(served, COORDINATOR, language=language, width=width)
            page.goto(f"{base}/adverse-events/new")
            look(page, "safety/ae-new")
            submit(page, "button.primary[type=submit]")
            assert page.locator("[aria-invalid=true]").count() >= 5
            look(page, "safety/ae-new-errors")
            page.goto(f"{base}/adverse-events/")
            look(page, "safety/ae-list")
            page.goto(f"{base}/adverse-events/1/")
            assert page.get_attribute("#sae-state", "data-state") == "overdue"
            look(page, "safety/ae")
            page.goto(f"/studies/{STEMJOINT}/sae")
            look(page, "safety/sae-list")
            page.goto(f"{base}/deviations/new")
            look(page, "safety/deviation-new")
            page.goto(f"/studies/{STEMJOINT}/subjects/{other}/status")
            look(page, "safety/subject-status")
            page.check("input[name=status][value=withdrawn]")
            page.fill("#status-reason", "moved away from the site's region")
            submit(page, "button.primary[type=submit]")
            look(page, "safety/subject-status-confirm")
            page.goto(f"{base}/unblind")
            look(page, "safety/unblind")
            page.context.close()
            investigator = sign_in(served, "sj-investigator", language=language, width=width)
            investigator.goto(f"{base}/unblind")
            assert investigator.locator("#emergency-arm").count() == 1
            look(investigator, "safety/unblind-arm")
            investigator.context.close()


#: The codes of each AE field, as the store documents them (docs/store.md): CTCAE v5 grades,
#: the six ICH E2A criteria, the WHO-UMC causality categories, CDISC AEACN and AEOUT.
AE_CODES = {
    "ctcae_grade": ["1", "2", "3", "4", "5"],
    "seriousness": [
        "death",
        "life_threatening",
        "hospitalization",
        "disability",
        "congenital_anomaly",
        "medically_important",
    ],
    "relatedness": ["not_related", "unlikely", "possible", "probable", "certain"],
    "expected": ["expected", "unexpected", "unknown"],
    "action_taken": [
        "dose_not_changed",
        "drug_withdrawn",
        "drug_interrupted",
        "not_applicable",
        "unknown",
    ],
    "outcome": [
        "recovered",
        "recovering",
        "not_recovered",
        "recovered_with_sequelae",
        "fatal",
        "unknown",
    ],
}


def test_the_ae_form_offers_every_code_of_each_field_with_a_label(served, sign_in, trial):
    code = trial.subject(randomized=False)
    page = sign_in(served, "sj-coordinator", language="da")
    page.goto(f"/studies/{STEMJOINT}/subjects/{code}/adverse-events/new")
    for name, expected in AE_CODES.items():
        offered = page.eval_on_selector_all(
            f"input[name={name}], select[name={name}] option[value]:not([value=''])",
            "nodes => nodes.map(n => [n.value, (n.labels && n.labels[0] || n).innerText])",
        )
        assert [value for value, _label in offered] == expected, name
        assert all(label.strip() for _value, label in offered), name
    # Labels in the user's language: CTCAE grade 4 and the hospitalisation criterion.
    assert "Livstruende" in page.inner_text("fieldset:has(input[name=ctcae_grade])")
    assert "hospitalsindlæggelse" in page.inner_text("fieldset:has(input[name=seriousness])")


def test_the_sae_list_shows_the_subjects_of_the_users_sites_only(served, sign_in, trial):
    """NCT04208646: a serious event at site 01 is on the list of site 01's coordinator and of
    the study-wide monitor, not on site 02's coordinator's."""
    cbm = "NCT04208646"
    coordinator = trial.api("cb-coordinator-01")
    screened = dt.date.today() - dt.timedelta(days=1)
    patient = {"site": "01", "year_of_birth": 1961, "age": 64, "sex": "male"}
    patient["screened_on"] = screened.isoformat()
    code = coordinator.expect("POST", f"/studies/{cbm}/subjects", patient, 201)["code"]
    consent = {"consented_on": screened.isoformat(), "consent_version": "3.0"}
    coordinator.expect("POST", f"/studies/{cbm}/subjects/{code}/consent", consent)
    event = {
        "term": "Pneumonia",
        "onset_date": screened.isoformat(),
        "ctcae_grade": 3,
        "seriousness": ["hospitalization"],
        "relatedness": "not_related",
        "expected": None,
        "action_taken": "not_applicable",
        "outcome": "recovering",
        "awareness_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    coordinator.expect("POST", f"/studies/{cbm}/subjects/{code}/adverse-events", event, 201)
    for username, shown in (("cb-coordinator-01", 1), ("cb-monitor", 1), ("cb-coordinator-02", 0)):
        page = sign_in(served, username)
        page.goto(f"/studies/{cbm}/sae")
        assert page.locator(f"tr[data-subject='{code}']").count() == shown, username
        page.context.close()
