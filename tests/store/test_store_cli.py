"""The operator's commands, run in-process on SQLite and PostgreSQL: user, role, token and site
listings and changes, lock and unlock twice, `audit log` at 80 columns and piped (whole values,
no ellipsis), --csv read back with the csv module, filters, and --version."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from trialdesk.cli import app
from trialdesk.store.models import AuditEvent, RoleAssignment
from trialdesk.store.services import (
    add_user,
    lock_study,
    unlock_study,
    withdraw_subject,
)
from trialdesk.store.services.setup import deactivate_user, revoke_role
from trialdesk.store.services.tokens import create_token, revoke_token, token_prefix, user_for_token

from .conftest import OPERATOR, screen_and_consent

PYPROJECT = Path(__file__).parents[2] / "pyproject.toml"
STUDY_LABEL = "KNEE-TEST v1.0"
#: Longer than any column of an 80-column terminal, with the characters CSV must quote.
LONG_REASON = (
    'The participant moved abroad for work; the site confirmed by phone on 2024-03-05 "no '
    'further visits", and the investigator agreed, see source note 17'
)


def run(*args: str, columns: int = 80) -> Any:
    """The command in-process, its output captured (not a terminal), COLUMNS as given."""
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": str(columns)})
    return result


def assert_whole(output: str, *values: str) -> None:
    """No value cut with an ellipsis: each appears in full, on one line."""
    assert "…" not in output and "..." not in output
    for value in values:
        assert value in output, value


# ---------------------------------------------------------------- --version


def test_version_is_the_pyprojects() -> None:
    expected = tomllib.loads(PYPROJECT.read_text())["project"]["version"]
    result = run("--version")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"trialdesk {expected}\n"


# ---------------------------------------------------------------- users and roles


@pytest.mark.django_db
def test_user_list_shows_roles_status_and_tokens(study: Any) -> None:
    first = create_token("colin", OPERATOR)
    create_token("colin", OPERATOR)
    revoke_token(token_prefix(first), OPERATOR)
    create_token("mona", OPERATOR)
    add_user(study, "colin", "monitor", OPERATOR)
    revoke_role(study, "colin", "monitor", "not needed", OPERATOR)
    deactivate_user("mona", "monitoring contract ended", OPERATOR)

    listed = run("user", "list", "--json")
    assert listed.exit_code == 0, listed.output
    users = {row["user"]: row for row in json.loads(listed.stdout)["users"]}
    assert list(users) == ["ada", "colin", "ines", "mona", "pia"]
    colin = users["colin"]
    assert colin["active"] is True and colin["deactivated_at"] is None
    assert [(r["role"], r["site"], r["revoked_at"] is None) for r in colin["roles"]] == [
        ("coordinator", "01", True),
        ("monitor", None, False),
    ]
    # Two tokens, one revoked; mona's one token is not revoked but she is deactivated.
    assert colin["tokens"] == {"live": 1, "total": 2}
    assert users["mona"]["active"] is False and users["mona"]["deactivated_at"]
    assert users["mona"]["tokens"] == {"live": 0, "total": 1}
    assert users["ada"]["tokens"] == {"live": 0, "total": 0}
    assert {r["study"] for u in users.values() for r in u["roles"]} == {"KNEE-TEST"}

    table = run("user", "list")
    assert table.exit_code == 0, table.output
    assert_whole(
        table.stdout,
        "coordinator at site 01",
        "investigator (study-wide)",
        "pharmacist (study-wide)",
        "deactivated ",
        "1 live of 2",
        "0 live of 1",
    )
    assert max(len(line) for line in table.stdout.splitlines()) <= 80
    by_study = run("user", "list", "--study", "KNEE-TEST", "--json")
    assert [row["user"] for row in json.loads(by_study.stdout)["users"]] == list(users)
    unknown = run("user", "list", "--study", "NCT00000000")
    assert unknown.exit_code == 2 and "error: no study NCT00000000 in the store" in unknown.output


@pytest.mark.django_db
def test_user_deactivate_stops_tokens_and_says_so(study: Any) -> None:
    token = create_token("colin", OPERATOR)
    result = run("user", "deactivate", "colin", "--reason", "left the site team")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("deactivated colin at ")
    assert user_for_token(token) is None
    event = AuditEvent.objects.get(action="user.deactivated")
    assert (event.field, event.reason) == ("deactivated_at", "left the site team")
    assert event.by.startswith("operator:")
    again = run("user", "deactivate", "colin", "--reason", "again")
    assert again.exit_code == 2 and "error: user colin was already deactivated at" in again.output
    nobody = run("user", "deactivate", "nobody", "--reason", "x")
    assert nobody.exit_code == 2 and "error: user 'nobody' is not in the store" in nobody.output
    no_reason = run("user", "deactivate", "ines")
    assert no_reason.exit_code == 2 and "--reason" in no_reason.output
    assert AuditEvent.objects.filter(action="user.deactivated").count() == 1


@pytest.mark.django_db
def test_role_revoke_names_what_the_user_holds(study: Any) -> None:
    wrong = run("role", "revoke", "colin", "--role", "coordinator", "--site", "02", "--reason", "x")
    assert wrong.exit_code == 2
    assert (
        "error: KNEE-TEST v1.0: colin is not coordinator at site 02; their roles in this study "
        "are coordinator at site 01\n"
    ) in wrong.output
    assert not AuditEvent.objects.filter(action="role.revoked").exists()
    result = run(
        "role", "revoke", "colin", "--role", "coordinator", "--site", "01", "--reason", "moved"
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == "revoked colin's role coordinator at site 01 in KNEE-TEST v1.0\n"
    assert RoleAssignment.objects.get(user__username="colin").revoked_at is not None
    event = AuditEvent.objects.get(action="role.revoked")
    assert (event.field, event.reason, event.study) == ("revoked_at", "moved", STUDY_LABEL)
    study_wide = run("role", "revoke", "ines", "--role", "investigator", "--reason", "sabbatical")
    assert study_wide.exit_code == 0, study_wide.output
    assert "ines's role investigator study-wide" in study_wide.stdout


# ---------------------------------------------------------------- tokens and sites


@pytest.mark.django_db
def test_token_list_shows_prefixes_never_tokens_or_hashes(study: Any) -> None:
    tokens = [create_token("colin", OPERATOR), create_token("ines", OPERATOR)]
    revoke_token(token_prefix(tokens[0]), OPERATOR)
    from trialdesk.store.models import ApiToken

    hashes = list(ApiToken.objects.values_list("key_sha256", flat=True))
    listed = run("token", "list", "--json")
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)["tokens"]
    assert [(r["prefix"], r["user"], r["revoked_at"] is None, r["live"]) for r in rows] == [
        (token_prefix(tokens[0]), "colin", False, False),
        (token_prefix(tokens[1]), "ines", True, True),
    ]
    table = run("token", "list")
    assert table.exit_code == 0, table.output
    assert_whole(table.stdout, token_prefix(tokens[0]), token_prefix(tokens[1]), "colin", "ines")
    for secret in tokens + hashes:
        assert secret not in listed.stdout and secret not in table.stdout
    one_user = run("token", "list", "--user", "ines", "--json")
    assert [r["user"] for r in json.loads(one_user.stdout)["tokens"]] == ["ines"]
    nobody = run("token", "list", "--user", "nobody")
    assert nobody.exit_code == 2 and "error: user 'nobody' is not in the store" in nobody.output


@pytest.mark.django_db
def test_site_list_counts_subjects_and_site_users(study: Any) -> None:
    screen_and_consent(study, "01")
    screen_and_consent(study, "01")
    screen_and_consent(study, "02")
    add_user(study, "carl", "coordinator", OPERATOR, "02")
    add_user(study, "cora", "assessor", OPERATOR, "02")
    listed = run("site", "list", "--json")
    assert listed.exit_code == 0, listed.output
    # Site 01: two subjects, colin; site 02: one subject, carl and cora. Study-wide roles
    # (ines, pia, ada, mona) are bound to no site.
    assert [(s["code"], s["subjects"], s["users"]) for s in json.loads(listed.stdout)["sites"]] == [
        ("01", 2, 1),
        ("02", 1, 2),
    ]
    table = run("site", "list", "--study", "KNEE-TEST")
    assert table.exit_code == 0, table.output
    assert_whole(table.stdout, "North Hospital", "South Hospital", STUDY_LABEL)


# ---------------------------------------------------------------- lock and unlock twice


@pytest.mark.django_db
def test_locking_a_locked_study_and_unlocking_an_unlocked_one_change_nothing(study: Any) -> None:
    unlocked = run("study", "unlock", "--reason", "no need")
    assert unlocked.exit_code == 0, unlocked.output
    assert unlocked.stdout == "KNEE-TEST v1.0 is not locked: nothing to unlock\n"
    assert run("study", "lock").stdout == "locked KNEE-TEST v1.0\n"
    events = AuditEvent.objects.count()
    again = run("study", "lock")
    assert again.exit_code == 0, again.output
    assert again.stdout.startswith("KNEE-TEST v1.0 is already locked (since ")
    assert AuditEvent.objects.count() == events
    assert run("study", "unlock", "--reason", "late lab values").exit_code == 0
    assert AuditEvent.objects.count() == events + 2  # locked and reopened_after_lock


# ---------------------------------------------------------------- audit log


def trail_scenario(study: Any) -> dict[str, str]:
    """Two subjects, one withdrawn with a long reason; role revocations by two operators;
    a deactivation; a lock and an unlock by a third. Returns the subject codes."""
    first, second = screen_and_consent(study, "01"), screen_and_consent(study, "02")
    withdraw_subject(study, first, LONG_REASON, "ines")
    add_user(study, "carl", "coordinator", OPERATOR, "02")
    revoke_role(study, "carl", "coordinator", "left", "operator:alice", "02")
    revoke_role(study, "colin", "coordinator", "left", "operator:alice", "01")
    revoke_role(study, "mona", "monitor", "contract ended", "operator:bob")
    deactivate_user("mona", "contract ended", "operator:bob")
    lock_study(study, "operator:carol")
    unlock_study(study, LONG_REASON, "operator:carol")
    return {"first": first, "second": second}


@pytest.mark.django_db
@pytest.mark.parametrize("columns", [80, 40])
def test_audit_log_keeps_every_value_whole_in_narrow_output(study: Any, columns: int) -> None:
    codes = trail_scenario(study)
    result = run("audit", "log", codes["first"], columns=columns)
    assert result.exit_code == 0, result.output
    events = list(AuditEvent.objects.filter(study=STUDY_LABEL, subject=codes["first"]))
    assert result.stdout.splitlines()[0] == (
        f"{STUDY_LABEL} - subject {codes['first']}: {len(events)} events (times UTC)"
    )
    assert_whole(
        result.stdout,
        LONG_REASON,
        *(event.new_value for event in events),
        *(event.old_value for event in events),
        *(f"{event.at.astimezone(dt.UTC):%Y-%m-%d %H:%M}" for event in events),
    )
    # The first line of each event fits 80 columns: seq, time, user and action.
    heads = [line for line in result.stdout.splitlines()[1:] if not line.startswith(" " * 8)]
    assert len(heads) == len(events) and all(len(line) <= 80 for line in heads)
    assert [int(line.split()[0]) for line in heads] == sorted(event.seq for event in events)


@pytest.mark.django_db
def test_audit_log_csv_reads_back_as_the_events(study: Any) -> None:
    trail_scenario(study)
    result = run("audit", "log", "--csv")
    assert result.exit_code == 0, result.output
    # The bytes as written (Click's `stdout` turns CRLF into LF): RFC 4180 line ends.
    text = result.stdout_bytes.decode("utf-8")
    assert text.endswith("\r\n")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == [
        "seq",
        "at",
        "by",
        "action",
        "study",
        "subject",
        "object_type",
        "object_id",
        "field",
        "old_value",
        "new_value",
        "reason",
        "previous_hash",
        "hash",
    ]
    expected = [
        [
            str(event.seq),
            event.at.astimezone(dt.UTC).isoformat(),
            event.by,
            event.action,
            event.study,
            event.subject,
            event.object_type,
            event.object_id,
            event.field,
            event.old_value,
            event.new_value,
            event.reason,
            event.previous_hash,
            event.hash,
        ]
        for event in AuditEvent.objects.filter(study=STUDY_LABEL).order_by("seq")
    ]
    assert rows[1:] == expected
    assert sum(row[11] == LONG_REASON for row in rows) >= 2  # withdrawal and unlock
    # Store-wide events (tokens, deactivations) are not in a study's trail.
    assert "user.deactivated" not in {row[3] for row in rows}


@pytest.mark.django_db
def test_audit_log_filters_narrow_the_trail(study: Any) -> None:
    codes = trail_scenario(study)

    def events(*args: str) -> list[dict[str, Any]]:
        result = run("audit", "log", *args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)["events"]

    # Three revocations, each one changed field (revoked_at): two by alice, one by bob.
    assert len(events("--action", "role.revoked")) == 3
    assert len(events("--action", "role.revoked", "--user", "operator:alice")) == 2
    assert [e["reason"] for e in events("--user", "operator:bob")] == ["contract ended"]
    # Lock: one field (locked); unlock: two (locked, reopened_after_lock).
    assert [e["action"] for e in events("--action", "study.*", "--user", "operator:carol")] == [
        "study.locked",
        "study.unlocked",
        "study.unlocked",
    ]
    assert len(events("--user", "operator:carol")) == 3
    assert len(events("--action", "study.unlocked")) == 2
    second = events("--subject", codes["second"])
    assert {e["subject"] for e in second} == {codes["second"]}
    assert {"subject.screened", "consent.recorded"} <= {e["action"] for e in second}
    assert "subject.withdrawn" not in {e["action"] for e in second}
    assert [e["action"] for e in events(codes["first"], "--action", "subject.withdrawn")] == [
        "subject.withdrawn"
    ]
    # Every event of this test happened today (UTC).
    today = dt.datetime.now(dt.UTC).date()
    whole = events()
    assert [e["seq"] for e in whole] == list(
        AuditEvent.objects.filter(study=STUDY_LABEL).order_by("seq").values_list("seq", flat=True)
    )
    assert len(events("--since", str(today), "--until", str(today))) == len(whole)
    assert events("--until", str(today - dt.timedelta(days=1))) == []
    assert events("--since", str(today + dt.timedelta(days=1))) == []
    store_wide = events("--store-wide", "--action", "user.deactivated")
    assert [(e["field"], e["reason"]) for e in store_wide] == [("deactivated_at", "contract ended")]


@pytest.mark.django_db
def test_audit_log_refuses_bad_filters_naming_the_option(study: Any) -> None:
    refusals = [
        (["--since", "2024-13-01"], "error: --since '2024-13-01': expected a date YYYY-MM-DD"),
        (["--until", "yesterday"], "error: --until 'yesterday': expected a date YYYY-MM-DD"),
        (
            ["--since", "2024-03-02", "--until", "2024-03-01"],
            "error: --since 2024-03-02 is after --until 2024-03-01",
        ),
        (["01-001", "--subject", "01-002"], "error: SUBJECT '01-001' and --subject '01-002'"),
        (["--csv", "--json"], "error: --csv and --json: choose one output"),
        (["--store-wide", "--study", "KNEE-TEST"], "error: --store-wide and --study"),
        (["09-999"], "error: KNEE-TEST v1.0: no audit events for subject '09-999'"),
    ]
    for args, message in refusals:
        result = run("audit", "log", *args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)
    empty = run("audit", "log", "--action", "no.such.action")
    assert empty.exit_code == 0
    assert empty.stdout == f"{STUDY_LABEL} - action no.such.action: no events (times UTC)\n"


# ---------------------------------------------------------------- as a real, piped process


def test_piped_commands_keep_whole_values(tmp_path: Path) -> None:
    """The installed `trialdesk` in processes of its own, output piped, COLUMNS=80."""
    import os
    import shutil
    import subprocess
    import sys

    from .conftest import PROTOCOL

    command = shutil.which("trialdesk", path=str(Path(sys.executable).parent))
    assert command, "the trialdesk console script is installed beside this Python"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("TRIALDESK_") and key != "DJANGO_SETTINGS_MODULE"
    }
    env.update(
        TRIALDESK_HOME=str(tmp_path / "store"),
        TRIALDESK_SECRET_KEY="tests-only-" + "k" * 40,
        COLUMNS="80",
    )

    def trialdesk(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [command, *args], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done

    expected = tomllib.loads(PYPROJECT.read_text())["project"]["version"]
    assert trialdesk("--version").stdout == f"trialdesk {expected}\n"
    trialdesk("study", "create", str(PROTOCOL))
    trialdesk("site", "add", "01")
    trialdesk("user", "add", "colin", "--role", "coordinator", "--site", "01")
    trialdesk(
        "role", "revoke", "colin", "--role", "coordinator", "--site", "01", "--reason", LONG_REASON
    )
    log = trialdesk("audit", "log", "--action", "role.revoked").stdout
    assert_whole(log, LONG_REASON, "role.revoked", "RoleAssignment 1 revoked_at: null -> ")
    users = trialdesk("user", "list").stdout
    assert_whole(users, "coordinator at site 01,", "colin", "active")
    assert max(len(line) for line in users.splitlines()) <= 80
