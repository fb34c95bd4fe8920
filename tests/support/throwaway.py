"""Throwaway servers for the test suite and the benchmarks: PostgreSQL and `trialdesk serve`.

`ThrowawayPostgres` runs a PostgreSQL server in a temporary directory on a loopback port
(initdb refuses root, so as the `postgres` user when we are root), with fsync off: it is for
tests, never for data. `RunningServer` starts `trialdesk serve` (gunicorn) as a child process in
its own process group, so a test can kill it with SIGKILL, workers included, as a crash would.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from trialdesk.errors import TrialdeskError

PG_BIN = Path(os.environ.get("TRIALDESK_PG_BIN", "/usr/lib/postgresql/15/bin"))


class ServerUnavailable(TrialdeskError):
    """A server that is not installed or did not start; the message says why."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["su", "postgres", "-c", subprocess.list2cmdline(command)]


class ThrowawayPostgres:
    """A PostgreSQL server for one test session or benchmark run."""

    def __init__(self) -> None:
        self.data: Path | None = None
        self.port = 0

    def start(self) -> ThrowawayPostgres:
        if not (PG_BIN / "initdb").exists():
            raise ServerUnavailable(
                f"{PG_BIN}/initdb not found (install the Debian package postgresql)"
            )
        self.data = Path(tempfile.mkdtemp(prefix="trialdesk-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.data, "postgres", "postgres")
        self.port = free_port()
        options = f"-k {self.data} -p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off"
        try:
            subprocess.run(
                _as_server_user(
                    [str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres"]
                    + ["-A", "trust", "-E", "UTF8", "--no-locale"]
                ),
                check=True,
                capture_output=True,
            )
            subprocess.run(
                _as_server_user(
                    [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options]
                    + ["-l", str(self.data / "server.log"), "-w", "start"]
                ),
                check=True,
                capture_output=True,
            )
        except subprocess.CalledProcessError as error:
            shutil.rmtree(self.data, ignore_errors=True)
            message = error.stderr.decode(errors="replace").strip()
            raise ServerUnavailable(f"PostgreSQL did not start: {message}") from None
        return self

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database on this server; returns its URL."""
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.data is None:
            return
        subprocess.run(
            _as_server_user(
                [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"]
            ),
            capture_output=True,
        )
        shutil.rmtree(self.data, ignore_errors=True)
        self.data = None

    def __enter__(self) -> ThrowawayPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RunningServer:
    """`trialdesk serve` on a free loopback port, with the store named by `environment`."""

    def __init__(self, environment: dict[str, str], workers: int = 4) -> None:
        self.environment = {**os.environ, **environment}
        self.workers = workers
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = Path(tempfile.mkstemp(prefix="trialdesk-serve-", suffix=".log")[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> RunningServer:
        command = [sys.executable, "-m", "trialdesk.cli", "serve", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--workers", str(self.workers)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                env=self.environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerUnavailable(f"trialdesk serve exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/api/v1/openapi.json", timeout=2):
                    return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        self.kill()
        raise ServerUnavailable(f"trialdesk serve did not answer within {timeout:.0f} s")

    def kill(self, signal_number: int = signal.SIGKILL) -> None:
        """Signal the whole process group (gunicorn's master and workers) and reap it."""
        if self.process is None or self.process.poll() is not None:
            self.process = None
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal_number)
        self.process.wait(timeout=30)
        self.process = None

    def stop(self) -> None:
        self.kill(signal.SIGTERM)

    def __enter__(self) -> RunningServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
