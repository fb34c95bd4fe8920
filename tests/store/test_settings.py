"""Database settings from the environment, and commands that must not import Django."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from trialdesk.errors import BadInput
from trialdesk.web.database import database_settings, trialdesk_home
from trialdesk.web.settings import allowed_hosts, stored_secret_key


def test_sqlite_in_home_with_wal_and_immediate_transactions(tmp_path: Path) -> None:
    config = database_settings(None, tmp_path)
    assert config["NAME"] == str(tmp_path / "trialdesk.sqlite3")
    assert config["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in config["OPTIONS"]["init_command"]


def test_postgresql_url() -> None:
    config = database_settings("postgresql://trial%40desk:s3cret@db.example:5433/trials", Path())
    assert config == {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "trials",
        "USER": "trial@desk",
        "PASSWORD": "s3cret",
        "HOST": "db.example",
        "PORT": "5433",
        "CONN_MAX_AGE": 600,
        "CONN_HEALTH_CHECKS": True,
    }


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u@h/db", "scheme 'mysql'"),
        ("postgresql://u@h", "lacks a host or a database name"),
        ("postgresql://u@h:port/db", "invalid port"),
    ],
)
def test_bad_database_url(url: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        database_settings(url, Path())


def test_a_home_that_is_a_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIALDESK_HOME", str(tmp_path))
    assert trialdesk_home() == tmp_path
    (tmp_path / "home").write_text("")
    monkeypatch.setenv("TRIALDESK_HOME", str(tmp_path / "home"))
    with pytest.raises(BadInput, match=f"TRIALDESK_HOME: {tmp_path}/home is a file; expected"):
        trialdesk_home()


def test_a_secret_key_that_cannot_be_kept_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(BadInput, match="cannot keep the secret key in .*file/home/secret_key"):
        stored_secret_key(tmp_path / "file" / "home")
    assert [path.name for path in tmp_path.iterdir()] == ["file"]


def test_allowed_hosts() -> None:
    assert allowed_hosts(None) == allowed_hosts("") == ["localhost", "127.0.0.1"]
    assert allowed_hosts(" trials.example.org, localhost,") == ["trials.example.org", "localhost"]
    with pytest.raises(BadInput, match="TRIALDESK_ALLOWED_HOSTS: ' , ' names no host; expected"):
        allowed_hosts(" , ")


def test_commands_without_a_database_do_not_import_django() -> None:
    probe = "import sys, trialdesk.cli; print('django' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr
