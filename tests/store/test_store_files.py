"""The store's files on disk: private to their owner, and never made as a side effect.

Every command runs as a real `trialdesk` process (as a user runs it) under umask 000, so the
modes checked here come from trialdesk, not from a careful umask. Another local user is
played by `nobody` in a forked child that gives up root (skipped when not run as root).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.throwaway import free_port

from .conftest import PROTOCOL

DATABASE = "trialdesk.sqlite3"
LOCK = "trialdesk.sqlite3.write-lock"
#: What the CLI's environment must not carry over from the test session.
STORE_VARIABLES = (
    "TRIALDESK_HOME",
    "TRIALDESK_DATABASE_URL",
    "TRIALDESK_SECRET_KEY",
    "TRIALDESK_AUDIT_KEY",
    "DJANGO_SETTINGS_MODULE",
)


def environment(home: Path | None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in STORE_VARIABLES}
    if home is not None:
        env["TRIALDESK_HOME"] = str(home)
    return env


def trialdesk(
    *args: str, home: Path | None, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    """`trialdesk ARGS` in a child process with umask 000 (every permission bit allowed)."""
    return subprocess.run(
        [sys.executable, "-m", "trialdesk.cli", *args],
        env=environment(home),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: os.umask(0),
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def modes(folder: Path) -> dict[str, int]:
    return {path.name: mode(path) for path in folder.iterdir()}


@pytest.fixture(scope="module")
def open_parent() -> Iterator[Path]:
    """A folder every user may enter (0755), unlike pytest's 0700 tmp_path: what keeps
    another user out of the store must then be the store's own modes."""
    parent = Path(tempfile.mkdtemp(prefix="trialdesk-files-", dir="/tmp"))
    parent.chmod(0o755)
    yield parent
    shutil.rmtree(parent)


@pytest.fixture(scope="module")
def store(open_parent: Path) -> tuple[Path, str]:
    """A store made by the CLI with a few writes: its folder and colin's API token."""
    home = open_parent / "store"
    steps = [
        ("study", "create", str(PROTOCOL)),
        ("site", "add", "01"),
        ("user", "add", "colin", "--role", "coordinator", "--site", "01"),
        ("token", "create", "colin", "--json"),
    ]
    for step in steps:
        result = trialdesk(*step, home=home)
        assert result.returncode == 0, result.stderr
    return home, json.loads(result.stdout)["token"]


@pytest.fixture
def copy(store: tuple[Path, str], open_parent: Path, request: pytest.FixtureRequest) -> Path:
    """A copy of the store (modes kept) that a test may change."""
    home = open_parent / request.node.name
    shutil.copytree(store[0], home)
    home.chmod(mode(store[0]))
    return home


# ---------------------------------------------------------------- modes


def test_the_store_folder_is_0700_and_its_files_0600(store: tuple[Path, str]) -> None:
    home, _ = store
    assert mode(home) == 0o700
    found = modes(home)
    # The writes took the lock and made the audit key; the server's key is made beside the
    # database by every store command.
    assert {DATABASE, LOCK, "secret_key", "audit_key"} <= set(found), found
    assert set(found) <= {
        DATABASE,
        LOCK,
        "secret_key",
        "audit_key",
        DATABASE + "-wal",
        DATABASE + "-shm",
    }, found
    assert found == dict.fromkeys(found, 0o600)


def test_a_running_server_keeps_wal_and_shm_private(copy: Path, store: tuple[Path, str]) -> None:
    """SQLite makes -wal and -shm again in every process that opens the store (here a
    gunicorn worker, umask 000): they take the database file's mode."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "trialdesk.cli", "serve", "--port", str(port), "--workers", "1"],
        env=environment(copy),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=lambda: os.umask(0),
    )
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/me", headers={"Authorization": f"Bearer {store[1]}"}
        )
        answer = _when_up(request, server)
        assert answer["user"] == "colin", answer
        found = modes(copy)  # while the worker holds its connection open
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0].decode(errors="replace")
    assert {DATABASE + "-wal", DATABASE + "-shm"} <= set(found), (found, output)
    assert found == dict.fromkeys(found, 0o600), output
    assert mode(copy) == 0o700


def _when_up(request: urllib.request.Request, server: subprocess.Popen) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(server.communicate()[0].decode(errors="replace"))
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise AssertionError("the server did not answer within 60 s")


def test_an_older_store_open_to_others_is_tightened(copy: Path) -> None:
    copy.chmod(0o755)
    for path in copy.iterdir():
        path.chmod(0o644)
    result = trialdesk("site", "add", "02", home=copy)
    assert result.returncode == 0, result.stderr
    assert f"note: {copy} was open to other users (mode 0755); made it 0700" in result.stderr
    assert mode(copy) == 0o700
    found = modes(copy)
    assert found == dict.fromkeys(found, 0o600)


def test_a_shared_folder_is_refused_not_tightened(copy: Path) -> None:
    (copy / "notes.txt").write_text("the operator's notes\n")
    copy.chmod(0o755)
    result = trialdesk("site", "add", "02", home=copy)
    assert result.returncode == 2
    assert f"{copy} is open to other users (mode 0755) and holds notes.txt" in result.stderr
    assert f"chmod 700 {copy}" in result.stderr
    assert mode(copy) == 0o755  # other people's files keep their folder


def test_other_files_in_a_private_store_folder_keep_their_mode(copy: Path) -> None:
    (copy / "notes.txt").write_text("the operator's notes\n")
    (copy / "notes.txt").chmod(0o644)
    (copy / DATABASE).chmod(0o644)
    result = trialdesk("site", "add", "02", home=copy)
    assert result.returncode == 0, result.stderr
    assert mode(copy / DATABASE) == 0o600 and mode(copy / "notes.txt") == 0o644


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder away needs root")
def test_a_folder_of_another_user_is_refused(copy: Path) -> None:
    nobody = pwd.getpwnam("nobody")
    os.chown(copy, nobody.pw_uid, nobody.pw_gid)
    result = trialdesk("audit", "verify", home=copy)
    assert result.returncode == 2
    assert f"{copy} belongs to user id {nobody.pw_uid}, not to this user (0)" in result.stderr


# ---------------------------------------------------------------- no store, no side effect


@pytest.mark.parametrize(
    "command",
    [("audit", "verify"), ("site", "add", "01"), ("token", "create", "colin"), ("serve",)],
    ids=" ".join,
)
def test_a_command_without_a_store_names_the_path_and_creates_nothing(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    args = [*command, "--port", str(free_port())] if command == ("serve",) else command
    result = trialdesk(*args, home=None, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(
        f"error: no study store at {tmp_path}/.trialdesk/trialdesk.sqlite3 (TRIALDESK_HOME "
        "unset: ./.trialdesk); create one with `trialdesk study create PROTOCOL`"
    ), result.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_empty_or_missing_home_is_left_as_it_was(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir(mode=0o755)
    empty.chmod(0o755)
    for home in (empty, tmp_path / "missing"):
        result = trialdesk("audit", "verify", home=home)
        assert result.returncode == 2
        assert f"no study store at {home}/trialdesk.sqlite3 (TRIALDESK_HOME); " in result.stderr
    assert list(empty.iterdir()) == [] and mode(empty) == 0o755
    assert sorted(path.name for path in tmp_path.iterdir()) == ["empty"]


def test_loading_the_web_app_makes_no_secret_key(tmp_path: Path) -> None:
    """The settings read the key when something needs it, not when they are imported."""
    probe = "import trialdesk.web.wsgi; print(trialdesk.web.wsgi.application is not None)"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env=environment(None),
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.stdout.strip() == "True", result.stderr
    assert list(tmp_path.iterdir()) == []


def test_study_create_makes_the_store_at_home(tmp_path: Path) -> None:
    result = trialdesk("study", "create", str(PROTOCOL), home=None, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [path.name for path in tmp_path.iterdir()] == [".trialdesk"]
    assert mode(tmp_path / ".trialdesk") == 0o700
    assert (tmp_path / ".trialdesk" / DATABASE).is_file()


# ---------------------------------------------------------------- the write lock


def test_a_symlink_at_the_lock_path_is_not_followed(copy: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("someone else's file\n")
    victim.chmod(0o644)
    (copy / LOCK).unlink()
    (copy / LOCK).symlink_to(victim)
    refused = trialdesk("site", "add", "02", home=copy)
    assert refused.returncode == 1
    assert f"cannot open the write-lock file {copy / LOCK} (a symbolic link)" in refused.stderr
    assert victim.read_text() == "someone else's file\n" and mode(victim) == 0o644
    # A dangling link would have had the lock made wherever it points.
    (copy / LOCK).unlink()
    (copy / LOCK).symlink_to(tmp_path / "planted")
    assert trialdesk("site", "add", "02", home=copy).returncode == 1
    assert not (tmp_path / "planted").exists()
    # Nothing was written by the refused commands: the site is added now, once.
    (copy / LOCK).unlink()
    added = trialdesk("site", "add", "02", home=copy)
    assert added.returncode == 0, added.stderr
    assert (copy / LOCK).is_file() and mode(copy / LOCK) == 0o600


def _as_nobody(paths: dict[str, Path], plant: Path) -> dict[str, str]:
    """What user `nobody` gets trying to read each path, take the lock, plant a symlink:
    "ok" or the errno name. Runs in a forked child that drops root for good."""
    nobody = pwd.getpwnam("nobody")
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        outcome: dict[str, str] = {}
        try:
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            for name, path in paths.items():
                try:
                    flags = os.O_WRONLY if name == "lock" else os.O_RDONLY
                    descriptor = os.open(path, flags | os.O_NOFOLLOW)
                    if name == "lock":
                        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    os.close(descriptor)
                    outcome[name] = "ok"
                except OSError as error:
                    outcome[name] = errno.errorcode[error.errno]
            try:
                os.symlink("/nowhere", plant)
                outcome["plant"] = "ok"
            except OSError as error:
                outcome["plant"] = errno.errorcode[error.errno]
            os.write(writer, json.dumps(outcome).encode())
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as pipe:
        text = pipe.read()
    os.waitpid(child, 0)
    return json.loads(text)


@pytest.mark.skipif(os.geteuid() != 0, reason="playing another user needs root")
def test_another_user_can_neither_read_the_store_nor_hold_its_lock(
    copy: Path, open_parent: Path
) -> None:
    control = open_parent / "readable.txt"
    control.write_text("anyone may read this\n")
    control.chmod(0o644)
    paths = {
        "control": control,
        "database": copy / DATABASE,
        "lock": copy / LOCK,
        "secret_key": copy / "secret_key",
        "audit_key": copy / "audit_key",
    }
    # The folder (0700) keeps nobody out of everything in it.
    assert _as_nobody(paths, copy / "planted") == {
        "control": "ok",
        "database": "EACCES",
        "lock": "EACCES",
        "secret_key": "EACCES",
        "audit_key": "EACCES",
        "plant": "EACCES",
    }
    # And the files (0600) would on their own, were the folder opened (0755).
    copy.chmod(0o755)
    assert _as_nobody(paths, copy / "planted") == {
        "control": "ok",
        "database": "EACCES",
        "lock": "EACCES",
        "secret_key": "EACCES",
        "audit_key": "EACCES",
        "plant": "EACCES",
    }
    assert not (copy / "planted").exists()
