"""Opening the study store from a command: Django set up, schema migrated on first use.

On SQLite the store is a folder (`$TRIALDESK_HOME`, default `./.trialdesk/`) private to its
owner: the folder 0700, the database, its `-wal` and `-shm` files, the write-lock file and the
keys 0600. Another local user can neither copy arms and token hashes nor hold the write lock
and stall every writer. A command that finds no store says where it looked and creates
nothing; only the commands that create a study (`study create`, `demo run`) make the store.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from trialdesk.errors import BadInput

SETTINGS_MODULE = "trialdesk.web.settings"
#: Files of the store folder, besides the hidden drafts of the keys (`.secret_key.*`).
DATABASE_SUFFIXES = ("", "-wal", "-shm", "-journal", ".write-lock")
KEY_FILES = ("secret_key", "audit_key")


def open_store(create: bool = False) -> None:
    """Set Django up with trialdesk's settings and bring the schema up to date.

    Called by the store's CLI commands only, so commands that need no database never import
    Django. Migrating is a quick no-op once the schema is current. On SQLite, without
    `create` a missing database is refused (`NotFound`, naming the path) and nothing is
    created; with `create` the store folder is made (0700) when it does not exist yet.
    """
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE)
    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    if not settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        call_command("migrate", verbosity=0, interactive=False)
        return
    database = Path(settings.DATABASES["default"]["NAME"])
    prepare_store_folder(database, create)
    with private_files():
        call_command("migrate", verbosity=0, interactive=False)
        # The server's key (unless TRIALDESK_SECRET_KEY gives it) is made here, beside the
        # database, before `trialdesk serve` forks its workers; the settings only read it.
        str(settings.SECRET_KEY)


def prepare_store_folder(database: Path, create: bool) -> None:
    """Check the SQLite store's folder and make it and its files private to this user.

    Refuses a missing database unless `create`, a folder of another user, and a folder
    others can enter that holds files other than the store's (tightening it could lock
    others out of their own files). A store folder of an older version (0755, files 0644)
    is tightened, with a note on stderr.
    """
    from trialdesk.store.errors import NotFound
    from trialdesk.web.database import HOME_VARIABLE

    home = database.parent
    if not create and not database.exists():
        raise NotFound(
            f"no study store at {database} ({HOME_VARIABLE}"
            f"{'' if os.environ.get(HOME_VARIABLE) else ' unset: ./.trialdesk'}); "
            "create one with `trialdesk study create PROTOCOL`, or point "
            f"{HOME_VARIABLE} at the store's folder"
        )
    if not home.exists():
        with private_files():
            home.mkdir(parents=True, mode=0o700)
        return
    status = home.stat()
    if status.st_uid != os.geteuid():
        raise BadInput(
            f"{HOME_VARIABLE}: {home} belongs to user id {status.st_uid}, not to this user "
            f"({os.geteuid()}); expected a store folder of the user who runs trialdesk"
        )
    mode = stat.S_IMODE(status.st_mode)
    if mode & 0o077:
        others = sorted(path.name for path in home.iterdir() if not _is_store_file(path.name))
        if others or mode & stat.S_ISVTX:
            what = f"holds {', '.join(others[:3])}{' ...' if len(others) > 3 else ''}"
            if mode & stat.S_ISVTX:
                what = "is a shared folder (sticky bit)"
            raise BadInput(
                f"{HOME_VARIABLE}: {home} is open to other users (mode {mode:04o}) and {what}; "
                f"expected a folder of the store's own, or this one made private "
                f"(chmod 700 {home})"
            )
        home.chmod(0o700)
        sys.stderr.write(
            f"note: {home} was open to other users (mode {mode:04o}); made it 0700 "
            "(this user only)\n"
        )
    for path in home.iterdir():
        if _is_store_file(path.name):
            _make_private(path)


def _is_store_file(name: str) -> bool:
    if any(name == key or name.startswith(f".{key}.") for key in KEY_FILES):
        return True
    from trialdesk.web.database import SQLITE_FILE

    return any(name == SQLITE_FILE + suffix for suffix in DATABASE_SUFFIXES)


def _make_private(path: Path) -> None:
    """chmod 0600 a regular file open to others (never through a symbolic link)."""
    status = path.lstat()
    if stat.S_ISREG(status.st_mode) and status.st_mode & 0o077:
        path.chmod(0o600)


@contextmanager
def private_files() -> Iterator[None]:
    """Files created meanwhile are private to this user (umask 077).

    SQLite creates the database with mode 0644 less the umask; it then gives `-wal` and
    `-shm`, which it creates again in every process that opens the store, the database
    file's own mode, whatever the umask is by then.
    """
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)
