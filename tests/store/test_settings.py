"""Database settings from the environment, and commands that must not import Django."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from trialdesk.errors import BadInput
from trialdesk.web.database import database_settings


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


def test_commands_without_a_database_do_not_import_django() -> None:
    probe = "import sys, trialdesk.cli; print('django' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr
