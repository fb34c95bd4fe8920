"""Browser tests: Debian's Chromium, driven by Playwright, against `trialdesk serve` started
here on a store of both seed studies (tests/web/seed_store.py).

- `served` (session): the served store on SQLite, shared by the page tests of this process;
  `served_postgresql` the same on a throwaway PostgreSQL server. Tests make their own subjects,
  so they do not depend on each other; a test that changes something study-wide (a lock) must
  undo it, or start its own server with `serve_store`.
- `browser` (session): headless Chromium with the flags this machine needs (no network).
- `sign_in(served, username, language=..., width=...)` gives a signed-in page.
- `look(page, name)`: a screenshot in out/screenshots/<name>.<language>.<width>.png and
  axe-core (injected from the axe-playwright-python package) run on the page; any serious or
  critical violation fails the test, with its rule, help and elements.
- `USERS`: who is in the served store, with their roles and passwords.

In CI a missing Chromium or PostgreSQL fails these tests; on a developer machine they skip,
saying why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from support.browser import CHROMIUM, CHROMIUM_FLAGS, USERS, choose_language
from support.throwaway import RunningServer, ServerUnavailable, ThrowawayPostgres


def _unavailable(what: str, reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} cannot run: {reason}")
    pytest.skip(f"{what} skipped: {reason}")


@dataclass
class ServedStore:
    """A store served by `trialdesk serve`: its URL, environment and users."""

    server: RunningServer
    environment: dict[str, str]
    users: dict[str, dict[str, Any]] = field(default_factory=lambda: USERS)

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def url(self, path: str) -> str:
        return self.base_url + path

    def password(self, username: str) -> str:
        return self.users[username]["password"]

    def trialdesk(self, *arguments: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        """Run the `trialdesk` command on this store (for what a test sets up or checks)."""
        return subprocess.run(
            [sys.executable, "-m", "trialdesk.cli", *arguments],
            env={**os.environ, **self.environment},
            input=stdin,
            capture_output=True,
            text=True,
        )


def _seed(environment: dict[str, str], users: dict[str, dict[str, Any]]) -> None:
    result = subprocess.run(
        [sys.executable, str(Path(__file__).parent / "seed_store.py"), json.dumps(users)],
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise ServerUnavailable(f"seeding the web tests' store failed: {result.stderr[-3000:]}")


@pytest.fixture(scope="session")
def serve_store() -> Iterator[Callable[..., ServedStore]]:
    """Start a served store: `serve_store(database_url=None, **environment)`; stopped at the
    end of the session."""
    started: list[tuple[ServedStore, Path]] = []

    def start(database_url: str | None = None, **extra: str) -> ServedStore:
        home = Path(tempfile.mkdtemp(prefix="trialdesk-web-"))
        environment = {
            "TRIALDESK_HOME": str(home / "store"),
            "TRIALDESK_SECRET_KEY": "web-tests-only-" + "s" * 40,
            "TRIALDESK_AUDIT_KEY": "web-tests-only-audit-key-" + "a" * 32,
            **extra,
        }
        if database_url:
            environment["TRIALDESK_DATABASE_URL"] = database_url
        _seed(environment, USERS)
        server = RunningServer(environment, workers=2).start()
        store = ServedStore(server, environment)
        started.append((store, home))
        return store

    yield start
    for store, home in started:
        store.server.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def served(serve_store: Callable[..., ServedStore]) -> ServedStore:
    return serve_store()


@pytest.fixture(scope="session")
def served_postgresql(serve_store: Callable[..., ServedStore]) -> Iterator[ServedStore]:
    server = ThrowawayPostgres()
    try:
        server.start()
    except ServerUnavailable as error:
        _unavailable("PostgreSQL browser tests", str(error))
    try:
        yield serve_store(server.create_database("web_tests"))
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        _unavailable("browser tests", f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def sign_in(browser: Any) -> Iterator[Callable[..., Any]]:
    """`sign_in(served, username, language="en", width=1280)`: a new browser context signed
    in as the user, in that language (the user's preference, set through the picker)."""
    contexts: list[Any] = []

    def signed_in(
        store: ServedStore, username: str, language: str = "en", width: int = 1280
    ) -> Any:
        context = browser.new_context(
            viewport={"width": width, "height": 900}, locale="en-GB", base_url=store.base_url
        )
        contexts.append(context)
        page = context.new_page()
        page.goto("/signin/")
        page.fill("#id_username", username)
        page.fill("#id_password", store.password(username))
        page.click("button[type=submit]")
        page.wait_for_load_state()
        if "/signin/" in page.url:
            raise AssertionError(f"{username} could not sign in: {page.inner_text('main')}")
        choose_language(page, language)
        return page

    yield signed_in
    for context in contexts:
        context.close()
