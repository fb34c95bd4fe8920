"""Where the study store lives: SQLite in `$TRIALDESK_HOME` or PostgreSQL from a URL.

Kept apart from `settings.py` so the test suite builds its database settings with the same
code that production uses.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from trialdesk.errors import BadInput

DATABASE_URL_VARIABLE = "TRIALDESK_DATABASE_URL"
HOME_VARIABLE = "TRIALDESK_HOME"
SQLITE_FILE = "trialdesk.sqlite3"
#: Seconds a writer waits for SQLite's write lock before failing; writes are serialized.
SQLITE_BUSY_TIMEOUT = 30
#: Seconds a server worker keeps its database connection between requests (checked before
#: reuse): opening a PostgreSQL connection costs more than most requests.
CONNECTION_MAX_AGE = 600


def trialdesk_home() -> Path:
    """`$TRIALDESK_HOME`, or `./.trialdesk/` in the working directory (created on first use)."""
    home = Path(os.environ.get(HOME_VARIABLE) or ".trialdesk").resolve()
    if home.exists() and not home.is_dir():
        raise BadInput(f"{HOME_VARIABLE}: {home} is a file; expected a directory")
    return home


def sqlite_settings(path: Path) -> dict[str, Any]:
    """SQLite in WAL mode, every transaction `BEGIN IMMEDIATE`.

    IMMEDIATE takes the write lock when a transaction starts, so two writers never both read
    and then collide on upgrading to a write (SQLITE_BUSY mid-transaction); with WAL, readers
    are not blocked by the writer.
    """
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "CONN_MAX_AGE": CONNECTION_MAX_AGE,
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": SQLITE_BUSY_TIMEOUT,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }


def postgresql_settings(url: str) -> dict[str, Any]:
    """`postgresql://user[:password]@host[:port]/database` as Django database settings."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise BadInput(
            f"{DATABASE_URL_VARIABLE}: scheme {parts.scheme!r}; expected "
            "postgresql://user@host:port/database"
        )
    name = unquote(parts.path.lstrip("/"))
    if not name or not parts.hostname:
        raise BadInput(
            f"{DATABASE_URL_VARIABLE}: {url!r} lacks a host or a database name; expected "
            "postgresql://user@host:port/database"
        )
    try:
        port = parts.port
    except ValueError:
        raise BadInput(f"{DATABASE_URL_VARIABLE}: {url!r} has an invalid port") from None
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname,
        "PORT": str(port or ""),
        "CONN_MAX_AGE": CONNECTION_MAX_AGE,
        "CONN_HEALTH_CHECKS": True,
    }


def database_settings(url: str | None, home: Path) -> dict[str, Any]:
    """PostgreSQL when a URL is given, else the SQLite file in `home`."""
    if url:
        return postgresql_settings(url)
    return sqlite_settings(home / SQLITE_FILE)
