"""API tokens: shown once, kept as SHA-256 with a prefix, audited, revocable; on SQLite and
PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from typer.testing import CliRunner

from trialdesk.cli import app
from trialdesk.errors import BadInput
from trialdesk.store.audit import verify_audit_chain
from trialdesk.store.errors import NotFound
from trialdesk.store.models import ApiToken, AuditEvent
from trialdesk.store.services.tokens import (
    create_token,
    revoke_token,
    token_prefix,
    user_for_token,
)

from .conftest import OPERATOR


@pytest.mark.django_db
def test_a_token_is_kept_only_as_its_hash_and_prefix(study: Any) -> None:
    token = create_token("ines", OPERATOR, label="lab integration")
    assert token.startswith("td_") and len(token) == 3 + 43
    stored = ApiToken.objects.get()
    assert stored.user.username == "ines" and stored.revoked_at is None
    assert stored.prefix == token[3:11] == token_prefix(token)
    assert stored.key_sha256 == hashlib.sha256(token.encode()).hexdigest()
    events = AuditEvent.objects.filter(object_type="ApiToken")
    assert {event.field for event in events} == {"user", "prefix", "key_sha256", "created_at"}
    # The stored hash is audited (so replacing it is noticed); the token never is.
    assert events.get(field="key_sha256").new_value == f'"{stored.key_sha256}"'
    assert {event.reason for event in events} == {"lab integration"}
    assert all(token not in event.new_value for event in AuditEvent.objects.all())
    assert user_for_token(token).username == "ines"
    assert verify_audit_chain().ok


@pytest.mark.django_db
def test_tokens_differ_and_each_names_its_user(study: Any) -> None:
    first, second = create_token("ines", OPERATOR), create_token("colin", OPERATOR)
    assert first != second and token_prefix(first) != token_prefix(second)
    assert user_for_token(first).username == "ines"
    assert user_for_token(second).username == "colin"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "presented",
    ["", "td_", "td_not-a-token", "Bearer td_x", "xx_" + "a" * 43],
)
def test_unknown_tokens_name_nobody(study: Any, presented: str) -> None:
    create_token("ines", OPERATOR)
    assert user_for_token(presented) is None


@pytest.mark.django_db
def test_a_token_for_an_unknown_user_is_refused_and_nothing_written(study: Any) -> None:
    events = AuditEvent.objects.count()
    with pytest.raises(NotFound, match="user 'nobody' is not in the store"):
        create_token("nobody", OPERATOR)
    assert ApiToken.objects.count() == 0 and AuditEvent.objects.count() == events


@pytest.mark.django_db
def test_a_revoked_token_names_nobody(study: Any) -> None:
    token = create_token("ines", OPERATOR)
    revoked = revoke_token(token_prefix(token), OPERATOR)
    assert revoked.revoked_at is not None
    assert user_for_token(token) is None
    event = AuditEvent.objects.get(action="token.revoked")
    assert event.field == "revoked_at" and event.by == OPERATOR
    with pytest.raises(BadInput, match=f"API token {token_prefix(token)} of ines was already"):
        revoke_token(token_prefix(token), OPERATOR)
    with pytest.raises(NotFound, match="no API token with prefix 'unknown1'"):
        revoke_token("unknown1", OPERATOR)
    assert verify_audit_chain().ok


@pytest.mark.django_db
def test_cli_creates_and_revokes_tokens(study: Any) -> None:
    runner = CliRunner()
    created = runner.invoke(app, ["token", "create", "ada", "--label", "ePRO", "--json"])
    assert created.exit_code == 0, created.output
    document = json.loads(created.stdout)
    assert document["user"] == "ada" and document["prefix"] == token_prefix(document["token"])
    assert user_for_token(document["token"]).username == "ada"
    revoked = runner.invoke(app, ["token", "revoke", document["prefix"]])
    assert revoked.exit_code == 0, revoked.output
    assert f"revoked API token {document['prefix']} of ada" in revoked.stdout
    assert user_for_token(document["token"]) is None
    unknown = runner.invoke(app, ["token", "create", "nobody"])
    assert unknown.exit_code == 2
    assert "error: user 'nobody' is not in the store" in unknown.output


@pytest.mark.django_db
def test_no_token_prefix_reads_as_a_command_option(study: Any) -> None:
    """`trialdesk token revoke PREFIX` takes the prefix as an argument: one starting with "-"
    would read as an option. About 1 in 64 random prefixes would; 300 tokens would show ~5."""
    prefixes = [token_prefix(create_token("ada", OPERATOR)) for _ in range(300)]
    assert not [prefix for prefix in prefixes if prefix.startswith("-")]
    assert len(set(prefixes)) == 300
