"""The data manager's pages in the browser: users and roles, API tokens, the lock, loading a
protocol and the audit trail with its filters and CSV; a screenshot of every page in each
language at 1280 and 768 px.

Everything study-wide (a lock, a new study) happens on a store of this module's own
(`serve_store()`), never on the shared one.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import secrets
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from support.browser import CBM, LANGUAGES, STEMJOINT, WIDTHS, choose_language, look
from support.trial_data import (
    PROTOCOLS,
    STEMJOINT_ELIGIBLE,
    assert_no_arm,
    attestations_all_confirmed,
    protocol,
)

TODAY = dt.datetime.now(dt.UTC).date()
#: The refusal heading of a locked study, in Danish (pages/locale, the shared refusals).
LOCKED_DA = "Forsøget er låst"


# ---------------------------------------------------------------- the API, for fast setup


def token_of(store: Any, username: str) -> str:
    created = store.trialdesk("token", "create", username, "--json")
    assert created.returncode == 0, created.stderr
    return json.loads(created.stdout)["token"]


def api(store: Any, token: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        store.url("/api/v1" + path),
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def screened_subject(store: Any, coordinator_token: str) -> str:
    base = f"/studies/{STEMJOINT}/subjects"
    body = {"site": "AUH", "year_of_birth": TODAY.year - 63, "age": 62, "sex": "female"}
    status, subject = api(
        store, coordinator_token, "POST", base, {**body, "screened_on": TODAY.isoformat()}
    )
    assert status == 201, subject
    code = subject["code"]
    consent = {"consented_on": TODAY.isoformat(), "consent_version": "1.0"}
    assert api(store, coordinator_token, "POST", f"{base}/{code}/consent", consent)[0] == 200
    return code


def randomized_subject(store: Any) -> str:
    """A STEMJOINT subject screened, eligible and randomized through the API (events of the
    coordinator and the investigator, made here)."""
    coordinator, investigator = (
        token_of(store, "sj-coordinator"),
        token_of(store, "sj-investigator"),
    )
    code = screened_subject(store, coordinator)
    path = f"/studies/{STEMJOINT}/subjects/{code}"
    visit = protocol(STEMJOINT)["visits"][0]["id"]
    for form, values in STEMJOINT_ELIGIBLE.items():
        status, answer = api(
            store, coordinator, "PUT", f"{path}/visits/{visit}/forms/{form}", {"values": values}
        )
        assert status == 200, answer
    attestations = attestations_all_confirmed(STEMJOINT)
    status, verdict = api(
        store, investigator, "POST", f"{path}/eligibility", {"attestations": attestations}
    )
    assert (status, verdict["verdict"]) == (200, "eligible"), verdict
    status, randomized = api(store, coordinator, "POST", f"{path}/randomize")
    assert status == 200, randomized
    return code


# ---------------------------------------------------------------- browser helpers


@pytest.fixture(scope="module")
def own_store(serve_store: Callable[..., Any]) -> Any:
    """A served store of this module's own: it is locked and given new studies here."""
    return serve_store()


@pytest.fixture
def sign_in_with(browser: Any) -> Iterator[Callable[..., Any]]:
    """`sign_in_with(store, username, password)`: a page signed in with that password (a user
    the test made, whom `USERS` does not know)."""
    contexts: list[Any] = []

    def signed_in(store: Any, username: str, password: str) -> Any:
        context = browser.new_context(
            viewport={"width": 1280, "height": 900}, locale="en-GB", base_url=store.base_url
        )
        contexts.append(context)
        page = context.new_page()
        page.goto("/signin/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("button[type=submit]")
        page.wait_for_load_state()
        assert "/signin/" not in page.url, page.inner_text("main")
        return page

    yield signed_in
    for context in contexts:
        context.close()


def manage_url(study: str, part: str = "") -> str:
    return f"/studies/{study}/manage/{part}"


def messages_text(page: Any) -> str:
    page.wait_for_load_state()
    return page.inner_text(".messages") if page.locator(".messages").count() else ""


def audit_rows(page: Any) -> list[dict[str, str]]:
    """The audit table's rows as {column heading: cell text}."""
    page.wait_for_load_state()
    headings = page.locator("table.audit-table thead th").all_inner_texts()
    rows = []
    for row in page.locator("table.audit-table tbody tr").all():
        rows.append(dict(zip(headings, row.locator("td").all_inner_texts(), strict=True)))
    return rows


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


# ---------------------------------------------------------------- users, roles, tokens


def test_a_site_user_is_added_signs_in_gets_a_token_and_loses_the_role(
    served, sign_in, sign_in_with
):
    dm = sign_in(served, "sj-data-manager")
    username = f"nurse-{secrets.token_hex(3)}"
    password = "Patella-Ward-7-Aarhus!"
    dm.goto(manage_url(STEMJOINT, "users"))
    # A password Django's validators refuse is named, with the values kept.
    dm.fill("#username", username)
    dm.select_option("#role", "coordinator")
    dm.select_option("#site", "AUH")
    dm.fill("#password", "short")
    with dm.expect_response(lambda r: r.request.method == "POST") as answer:
        dm.click("button:has-text('Give the role')")
    assert answer.value.status == 400
    assert dm.get_attribute("#password", "aria-invalid") == "true"
    assert "at least 12 characters" in dm.inner_text("#password-error")
    assert dm.input_value("#username") == username
    dm.fill("#password", password)
    dm.click("button:has-text('Give the role')")
    assert f"{username} is now Study coordinator." in messages_text(dm)
    row = dm.locator("table.data tbody tr", has_text=username)
    assert "Study coordinator · site AUH" in row.inner_text()

    nurse = sign_in_with(served, username, password)
    assert nurse.url.endswith(f"/studies/{STEMJOINT}/"), nurse.url

    # An API token for the new user: shown once, works, is revoked, stops working.
    dm.goto(manage_url(STEMJOINT, "tokens"))
    dm.select_option("#token-user", username)
    dm.fill("#token-label", "lab import")
    dm.click("button:has-text('Create token')")
    token = dm.input_value("#new-token-value")
    assert token.startswith("td_") and len(token) == 46
    assert api(served, token, "GET", "/me")[0] == 200
    prefix = token[3:11]
    token_row = dm.locator("table.data tbody tr", has_text=prefix)
    assert username in token_row.inner_text() and "in use" in token_row.inner_text()
    dm.goto(manage_url(STEMJOINT, "tokens"))
    assert token not in dm.content()  # shown once only
    dm.locator("table.data tbody tr", has_text=prefix).locator("button").click()
    assert f"The API token {prefix} of {username} was revoked." in messages_text(dm)
    assert "revoked" in dm.locator("table.data tbody tr", has_text=prefix).inner_text()
    assert api(served, token, "GET", "/me")[0] == 401

    # Revoking the role needs a reason; then the user's study pages answer 404.
    dm.goto(manage_url(STEMJOINT, f"users/{username}"))
    with dm.expect_response(lambda r: r.request.method == "POST") as answer:
        dm.click("button:has-text('Revoke this role')")
    assert answer.value.status == 400
    assert dm.get_attribute("#reason-1", "aria-invalid") == "true"
    assert "Reason: write why" in dm.inner_text("#reason-1-error")
    dm.fill("#reason-1", "left the study team")
    dm.click("button:has-text('Revoke this role')")
    assert f"The role Study coordinator of {username} was revoked." in messages_text(dm)
    assert "revoked" in dm.inner_text(".role-card")
    assert nurse.goto(f"/studies/{STEMJOINT}/").status == 404
    assert nurse.goto(f"/studies/{STEMJOINT}/subjects/").status == 404

    # The events are in the study's audit trail, with the reason.
    dm.goto(f"/studies/{STEMJOINT}/audit/?user=sj-data-manager&action=role.revoked")
    revoked = [row for row in audit_rows(dm) if row["Reason"] == "left the study team"]
    assert len(revoked) == 1 and revoked[0]["Action"] == "role.revoked"


def test_only_managers_manage_and_only_audit_readers_read_the_trail(served, sign_in):
    coordinator = sign_in(served, "sj-coordinator")
    assert coordinator.goto(manage_url(STEMJOINT, "users")).status == 403
    assert coordinator.goto(f"/studies/{STEMJOINT}/audit/").status == 403
    assert coordinator.goto("/setup/").status == 403
    monitor = sign_in(served, "sj-monitor")
    assert monitor.goto(f"/studies/{STEMJOINT}/audit/").status == 200
    assert monitor.goto(manage_url(STEMJOINT)).status == 403
    dm = sign_in(served, "cb-data-manager")
    assert dm.goto(manage_url(STEMJOINT)).status == 404  # not their study
    assert dm.goto(manage_url(CBM)).status == 200
    assert dm.goto("/setup/").status == 403  # not an admin anywhere


# ---------------------------------------------------------------- the audit trail


def test_the_audit_trails_filters_and_csv_give_the_events_made_here(served, sign_in):
    code = randomized_subject(served)
    dm = sign_in(served, "sj-data-manager")
    trail = f"/studies/{STEMJOINT}/audit/"

    # By subject, oldest first: the same rows as `trialdesk audit log --csv`.
    dm.goto(trail)
    dm.fill("#f-subject", code)
    dm.select_option("#f-order", "oldest")
    dm.click("button:has-text('Show')")
    rows = audit_rows(dm)
    cli = served.trialdesk("audit", "log", "--study", STEMJOINT, "--subject", code, "--csv")
    assert cli.returncode == 0, cli.stderr
    expected = csv_rows(cli.stdout)
    assert [row["#"] for row in rows] == [line[0] for line in expected[1:]]
    assert {row["Subject"] for row in rows} == {code}
    actions = [row["Action"] for row in rows]
    assert actions.index("subject.screened") < actions.index("subject.randomized")
    download = dm.request.get(dm.url + "&format=csv")
    assert download.status == 200
    assert download.headers["content-type"].startswith("text/csv")
    assert csv_rows(download.text()) == expected
    # A blinded data manager reads no arm, neither on the page nor in the CSV.
    assert_no_arm(dm.content(), STEMJOINT)
    assert_no_arm(download.text(), STEMJOINT)

    # Newest first is the default.
    dm.goto(f"{trail}?subject={code}")
    assert [row["#"] for row in audit_rows(dm)] == [line[0] for line in expected[:0:-1]]

    # By user: the investigator made the eligibility events only.
    dm.goto(f"{trail}?subject={code}&user=sj-investigator")
    by_investigator = audit_rows(dm)
    assert by_investigator and {row["User"] for row in by_investigator} == {"sj-investigator"}
    assert len(by_investigator) == sum(1 for line in expected[1:] if line[2] == "sj-investigator")

    # By action, a family.
    dm.goto(f"{trail}?subject={code}&action=subject.*")
    family = audit_rows(dm)
    assert family and all(row["Action"].startswith("subject.") for row in family)
    assert len(family) == sum(1 for line in expected[1:] if line[3].startswith("subject."))

    # By date (the user's time zone is UTC): today holds them all, yesterday none.
    yesterday = (TODAY - dt.timedelta(days=1)).isoformat()
    dm.goto(f"{trail}?subject={code}&since={TODAY}&until={TODAY}")
    assert len(audit_rows(dm)) == len(expected) - 1
    dm.goto(f"{trail}?subject={code}&until={yesterday}")
    assert audit_rows(dm) == []
    assert "No event matches these filters." in dm.inner_text("main")
    # A From after To is named, in the user's language.
    response = dm.goto(f"{trail}?since={TODAY}&until={yesterday}")
    assert response.status == 400
    assert dm.get_attribute("#f-until", "aria-invalid") == "true"
    choose_language(dm, "da")
    assert "Til:" in dm.inner_text("#f-until-error")


def test_the_audit_trail_is_paged_by_100(served, sign_in):
    token = token_of(served, "sj-coordinator")
    codes = [screened_subject(served, token) for _ in range(12)]
    dm = sign_in(served, "sj-data-manager")
    # Twelve subjects screened and consented here: more than 100 events, so two pages.
    cli = served.trialdesk(
        "audit", "log", "--study", STEMJOINT, "--user", "sj-coordinator", "--csv"
    )
    mine = [line for line in csv_rows(cli.stdout)[1:] if line[5] in codes]
    assert len(mine) > 100
    dm.goto(f"/studies/{STEMJOINT}/audit/?user=sj-coordinator&order=oldest")
    count = int(re.match(r"(\d+)", dm.inner_text(".audit-count")).group(1))
    assert count == len(csv_rows(cli.stdout)) - 1
    first = audit_rows(dm)
    assert len(first) == 100
    dm.click("a[rel=next]")
    second = audit_rows(dm)
    assert len(second) == min(100, count - 100)
    assert int(second[0]["#"]) > int(first[-1]["#"])
    assert "user=sj-coordinator" in dm.url and "page=2" in dm.url


# ---------------------------------------------------------------- lock and protocols (own store)


def test_lock_with_a_reason_refuses_changes_and_unlock_needs_one(own_store, sign_in):
    coordinator_token = token_of(own_store, "sj-coordinator")
    code = screened_subject(own_store, coordinator_token)
    dm = sign_in(own_store, "sj-data-manager")
    dm.goto(manage_url(STEMJOINT, "lock"))
    dm.fill("#reason", "database lock for the 12-month analysis")
    dm.click("button:has-text('Lock…')")
    assert "Lock the database now?" in dm.inner_text("main")
    assert "database lock for the 12-month analysis" in dm.inner_text(".notice.warn")
    dm.click("button:has-text('Yes, lock')")
    assert "The study was locked." in messages_text(dm)
    assert "Locked" in dm.inner_text(".study-state")

    # A coordinator's form save is refused, through the API and on a page in Danish.
    visit = protocol(STEMJOINT)["visits"][0]["id"]
    status, answer = api(
        own_store,
        coordinator_token,
        "PUT",
        f"/studies/{STEMJOINT}/subjects/{code}/visits/{visit}/forms/vitals",
        {"values": {"height_cm": 170, "weight_kg": 70}},
    )
    assert status == 409 and "locked" in answer["detail"]
    coordinator = sign_in(own_store, "sj-coordinator", language="da")
    coordinator.goto(f"/studies/{STEMJOINT}/subjects/{code}/visits/{visit}/forms/vitals/")
    coordinator.fill("#in-height_cm", "170")
    coordinator.fill("#in-weight_kg", "70")
    with coordinator.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith("/forms/vitals/")
    ) as response:
        coordinator.click("button[value=save]")
    assert response.value.status == 409
    assert LOCKED_DA in coordinator.inner_text(".notice.error")
    choose_language(dm, "da")
    dm.goto(manage_url(STEMJOINT, "users"))
    dm.fill("#username", "late-arrival")
    dm.select_option("#role", "monitor")
    with dm.expect_response(lambda r: r.request.method == "POST") as response:
        dm.click("form[method=post] button.primary")
    assert response.value.status == 409
    assert LOCKED_DA in dm.inner_text(".notice.error")
    choose_language(dm, "en")

    # Unlocking needs a reason; then the study is open again.
    dm.goto(manage_url(STEMJOINT, "lock"))
    with dm.expect_response(lambda r: r.request.method == "POST") as response:
        dm.click("button:has-text('Unlock…')")
    assert response.value.status == 400
    assert dm.get_attribute("#reason", "aria-invalid") == "true"
    dm.fill("#reason", "queries from the monitor at AUH")
    dm.click("button:has-text('Unlock…')")
    dm.click("button:has-text('Yes, unlock')")
    assert "The study was unlocked." in messages_text(dm)
    assert "Open for data entry" in dm.inner_text(".study-state")
    status, _ = api(
        own_store,
        coordinator_token,
        "PUT",
        f"/studies/{STEMJOINT}/subjects/{code}/visits/{visit}/forms/vitals",
        {"values": {"height_cm": 170, "weight_kg": 70}},
    )
    assert status == 200
    dm.goto(f"/studies/{STEMJOINT}/audit/?action=study.*&user=sj-data-manager&order=oldest")
    assert [(row["Action"], row["Reason"]) for row in audit_rows(dm)] == [
        ("study.locked", "database lock for the 12-month analysis"),
        ("study.unlocked", "queries from the monitor at AUH"),
        ("study.unlocked", "queries from the monitor at AUH"),
    ]


def test_a_protocol_file_is_loaded_and_a_broken_one_shows_its_line(own_store, sign_in, tmp_path):
    text = (PROTOCOLS / f"{STEMJOINT}.yaml").read_text()
    assert f"\nid: {STEMJOINT}\n" in text
    lines = text.splitlines()
    count_line = next(i for i, line in enumerate(lines, 1) if line.strip().startswith("count:"))
    broken = lines.copy()
    broken[count_line - 1] = broken[count_line - 1].split(":")[0] + ": eighty"
    broken_file = tmp_path / "stemjoint-broken.yaml"
    broken_file.write_text("\n".join(broken) + "\n")
    pilot_file = tmp_path / "stemjoint-pilot.yaml"
    pilot_file.write_text(text.replace(f"\nid: {STEMJOINT}\n", "\nid: STEMJOINT-PILOT\n"))

    admin = sign_in(own_store, "admin")
    admin.goto("/setup/")
    admin.set_input_files("#protocol_file", str(broken_file))
    with admin.expect_response(lambda r: r.request.method == "POST") as response:
        admin.click("button:has-text('Validate and load')")
    assert response.value.status == 400
    problems = admin.inner_text(".protocol-problems")
    assert f"stemjoint-broken.yaml:{count_line}: enrollment.count: must be an integer" in problems
    assert "Nothing was loaded" in problems

    admin.set_input_files("#protocol_file", str(pilot_file))
    with admin.expect_navigation(url=re.compile(r".*/manage/$")):
        admin.click("button:has-text('Validate and load')")
    assert admin.url.endswith(manage_url("STEMJOINT-PILOT")), admin.url
    assert "Study STEMJOINT-PILOT version 1.0 was created" in messages_text(admin)
    admin.goto(manage_url("STEMJOINT-PILOT", "users"))
    assert "Administrator · study-wide" in admin.locator("tr", has_text="admin").inner_text()
    admin.goto(manage_url("STEMJOINT-PILOT", "sites"))
    assert "No site is open yet." in admin.inner_text("main")
    admin.select_option("#protocol_site", "AUH")
    admin.click("form:has(#protocol_site) button")
    assert "Site AUH was opened." in messages_text(admin)
    assert "Aarhus University Hospital" in admin.inner_text("table.data")
    # A shipped protocol already in the store is refused with the service's words.
    admin.goto("/setup/")
    admin.select_option("#shipped", STEMJOINT)
    with admin.expect_response(lambda r: r.request.method == "POST") as response:
        admin.click("form:has(#shipped) button")
    assert response.value.status in (400, 409)  # AlreadyExists is bad input and a conflict
    assert "already in the store" in admin.inner_text(".notice.error")


# ---------------------------------------------------------------- every page, looked at


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_data_page_in_each_language_and_width(served, sign_in, language, tmp_path):
    study = CBM if language == "zh-hans" else STEMJOINT
    broken = tmp_path / "broken.yaml"
    broken.write_text("schema_version: 1\nid: BROKEN\nversion: 1\nphases: PHASE2\n")
    page = sign_in(served, "admin", language=language)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for name, path in [
            ("manage", manage_url(study)),
            ("sites", manage_url(study, "sites")),
            ("users", manage_url(study, "users")),
            (
                "user",
                manage_url(
                    study, f"users/{'cb-coordinator-01' if study == CBM else 'sj-coordinator'}"
                ),
            ),
            ("tokens", manage_url(study, "tokens")),
            ("lock", manage_url(study, "lock")),
            ("audit", f"/studies/{study}/audit/?action=role.*"),
            ("setup", "/setup/"),
        ]:
            assert page.goto(path).status == 200, path
            look(page, f"data/{name}")
        page.goto(manage_url(study, "lock"))
        page.fill("#reason", "interim look")
        with page.expect_navigation():
            page.click(".narrow-form button[type=submit]")
        look(page, "data/lock-confirm")  # the confirmation only: nothing is locked
        page.goto("/setup/")
        page.set_input_files("#protocol_file", str(broken))
        with page.expect_navigation():
            page.click("form[enctype] button[type=submit]")
        assert "broken.yaml:" in page.inner_text(".protocol-problems")
        look(page, "data/setup-problems")
