"""Concurrent HTTP clients of a running trialdesk server, for the load tests and `bench/store.py`.

`prepare_store` sets a study up as the operator would (study, sites, users, API tokens) in a
child process pointed at the same database as the server, so the calling process never opens
Django itself. `ApiClient` is one keep-alive connection with a bearer token; `run_concurrently`
spreads calls over a pool of clients (or of any per-thread resource) and times each.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from trialdesk.errors import BadInput, TrialdeskError

#: The users `prepare_store` creates: name, role, site (None = study-wide).
LOAD_USERS = [
    ("investigator", "investigator", None),
    ("pharmacist", "pharmacist", None),
    ("monitor", "monitor", None),
]
#: A protocol's `enrollment: count:`, which sizes the allocation list of every stratum.
ENROLLMENT_COUNT = re.compile(r"^(enrollment:\n  count: )\d+$", re.MULTILINE)

Client = TypeVar("Client")
Task = TypeVar("Task")
Result = TypeVar("Result")


class ApiError(TrialdeskError):
    """An API call that did not answer as expected."""


class ApiClient:
    """One client: a keep-alive HTTP connection with its token."""

    def __init__(self, base_url: str, token: str) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.connection: http.client.HTTPConnection | None = None
        #: Seconds taken by the calls made with a `label`, by label.
        self.latencies: dict[str, list[float]] = defaultdict(list)

    def call(
        self, method: str, path: str, body: Any = None, label: str | None = None
    ) -> tuple[int, Any]:
        """The status and decoded JSON of one request; a dropped connection is reopened once."""
        started = time.perf_counter()
        status, answer = self._call(method, path, body)
        if label is not None:
            self.latencies[label].append(time.perf_counter() - started)
        return status, answer

    def _call(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        payload = None if body is None else json.dumps(body)
        for attempt in (1, 2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=120)
            try:
                self.connection.request(method, f"/api/v1{path}", payload, self.headers)
                response = self.connection.getresponse()
                text = response.read()
            except (ConnectionError, http.client.HTTPException):
                self.close()
                if attempt == 2:
                    raise
                continue
            return response.status, json.loads(text) if text else None
        raise AssertionError("unreachable")

    def expect(
        self,
        method: str,
        path: str,
        body: Any = None,
        status: int = 200,
        label: str | None = None,
    ) -> Any:
        got, answer = self.call(method, path, body, label)
        if got != status:
            raise ApiError(f"{method} {path}: HTTP {got} {answer}; expected {status}")
        return answer

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def protocol_with_enrollment(protocol: Path, count: int, directory: Path) -> Path:
    """A copy of `protocol` in `directory` planned for `count` patients, so every stratum's
    allocation list has room for that many."""
    text, found = ENROLLMENT_COUNT.subn(rf"\g<1>{count}", protocol.read_text())
    if found != 1:
        raise BadInput(f"{protocol}: no `enrollment:` with its `count:` on the next line")
    copy = directory / protocol.name
    copy.write_text(text)
    return copy


def prepare_store(
    environment: dict[str, str], protocol: Path | str, site_codes: list[str]
) -> dict[str, str]:
    """Create the study, open its sites, add a coordinator per site and the `LOAD_USERS`;
    return each user's API token. Runs in a child process on the server's database."""
    request = {"protocol": str(protocol), "sites": site_codes}
    result = subprocess.run(
        [sys.executable, __file__, json.dumps(request)],
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise ApiError(f"preparing the store failed: {result.stderr.strip()[-2000:]}")
    return json.loads(result.stdout)


def _prepare(request: dict[str, Any]) -> dict[str, str]:
    from trialdesk.store.database import open_store

    open_store(create=True)
    from trialdesk.store.services import add_site, add_user, create_study
    from trialdesk.store.services.tokens import create_token

    operator = "operator:load"
    study = create_study(request["protocol"], operator)
    users = list(LOAD_USERS)
    for code in request["sites"]:
        add_site(study, code, operator)
        users.append((f"coordinator-{code}", "coordinator", code))
    for username, role, site in users:
        add_user(study, username, role, operator, site)
    return {username: create_token(username, operator) for username, _, _ in users}


@dataclass(frozen=True)
class ScreeningVisit:
    """What a site enters for an eligible patient: screening, consent, forms, attestations."""

    study: str
    site: str
    patient: dict[str, Any]
    consent: dict[str, Any]
    visit: str
    forms: dict[str, dict[str, Any]]
    attestations: dict[str, bool]


def enroll_eligible(client: ApiClient, screening: ScreeningVisit) -> str:
    """Screen, consent, enter the screening forms, evaluate eligibility: the subject's code."""
    base = f"/studies/{screening.study}/subjects"
    subject = client.expect(
        "POST", base, {**screening.patient, "site": screening.site}, 201, "screen"
    )
    code = subject["code"]
    client.expect("POST", f"{base}/{code}/consent", screening.consent, label="consent")
    for form, values in screening.forms.items():
        path = f"{base}/{code}/visits/{screening.visit}/forms/{form}"
        client.expect("PUT", path, {"values": values}, label="form save")
    verdict = client.expect(
        "POST",
        f"{base}/{code}/eligibility",
        {"attestations": screening.attestations},
        label="eligibility",
    )
    if verdict["verdict"] != "eligible":
        raise ApiError(f"subject {code}: eligibility is {verdict['verdict']}, not eligible")
    return code


def randomize(client: ApiClient, study: str, code: str) -> dict[str, Any]:
    return client.expect("POST", f"/studies/{study}/subjects/{code}/randomize", label="randomize")


@dataclass
class Timings:
    """Latencies (seconds) of the calls of one kind, and the wall time they took together."""

    latencies: list[float] = field(default_factory=list)
    wall: float = 0.0

    def add(self, seconds: float) -> None:
        self.latencies.append(seconds)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.wall if self.wall else 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] if ordered else 0.0


def run_concurrently(
    clients: list[Client],
    tasks: Iterable[Task],
    step: Callable[[Client, Task], Result],
) -> tuple[list[Result], Timings]:
    """Run `step(client, task)` for every task on `len(clients)` threads, each step with a
    client no other step is using (an `ApiClient`, a database connection...).

    Returns the results in task order and the timings of the steps.
    """
    tasks = list(tasks)
    timings = Timings()
    lock = threading.Lock()
    free = list(clients)

    def run(task: Task) -> Result:
        with lock:
            client = free.pop()
        try:
            started = time.perf_counter()
            result = step(client, task)
            elapsed = time.perf_counter() - started
            with lock:
                timings.add(elapsed)
            return result
        finally:
            with lock:
                free.append(client)

    started = time.perf_counter()
    with ThreadPoolExecutor(len(clients)) as pool:
        results = list(pool.map(run, tasks))
    timings.wall = time.perf_counter() - started
    return results, timings


if __name__ == "__main__":
    print(json.dumps(_prepare(json.loads(sys.argv[1]))))
