"""The store under a real server (`trialdesk serve`, gunicorn) on SQLite and PostgreSQL:
randomization by 16 parallel HTTP clients in two rounds of 200 subjects (the second round
must continue every stratum's list where the first stopped), and a SIGKILL in the middle of a
stream of form saves. The server runs in its own database, set up through `support.load`;
this process only speaks HTTP and runs the CLI, as a site and an operator would."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.load import (
    ApiClient,
    ScreeningVisit,
    enroll_eligible,
    prepare_store,
    protocol_with_enrollment,
    randomize,
    run_concurrently,
)
from support.throwaway import RunningServer, ThrowawayPostgres

from .conftest import ATTESTATIONS, PROTOCOL, SCREENING_FORMS

CLIENTS = 16
SUBJECTS_PER_ROUND = 200
#: Two rounds: the invariants are checked after each, and the second shows the lists taken on
#: where concurrent randomization left them (five rounds took 4 minutes on PostgreSQL).
ROUNDS = 2
SITES = ["01", "02"]
STUDY = "/studies/KNEE-TEST"
SCREENING = {"year_of_birth": 1960, "age": 63, "sex": "female", "screened_on": "2024-03-01"}
CONSENT = {"consented_on": "2024-03-01", "consent_version": "2.0"}


@pytest.fixture(params=["sqlite", "postgresql"])
def store_environment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of a server on a fresh store: its own SQLite home or PG database."""
    home = tmp_path / "home"
    environment = {"TRIALDESK_HOME": str(home), "TRIALDESK_DATABASE_URL": ""}
    if request.param == "postgresql":
        server: ThrowawayPostgres = request.getfixturevalue("postgresql_server")
        name = f"load_{os.getpid()}_{random.randrange(10**9)}"
        environment["TRIALDESK_DATABASE_URL"] = server.create_database(name)
    yield environment


def large_protocol(directory: Path) -> Path:
    """KNEE-TEST with room for every round's subjects in each stratum."""
    return protocol_with_enrollment(PROTOCOL, ROUNDS * SUBJECTS_PER_ROUND, directory)


def screening(site: str, kl_grade: int) -> ScreeningVisit:
    forms = {**SCREENING_FORMS, "kl_grade": {**SCREENING_FORMS["kl_grade"], "index_knee": kl_grade}}
    return ScreeningVisit("KNEE-TEST", site, SCREENING, CONSENT, "SCR", forms, ATTESTATIONS)


def paged(client: ApiClient, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    separator = "&" if "?" in path else "?"
    while True:
        page = client.expect("GET", f"{path}{separator}limit=1000&offset={len(items)}")
        items += page["items"]
        if len(items) >= page["count"]:
            return items


def check_allocations(pharmacist: ApiClient, monitor: ApiClient, randomized: set[str]) -> None:
    """One slot per subject, none twice, none skipped, taken in list order in every stratum."""
    slots = paged(pharmacist, f"{STUDY}/allocation-list")
    used = [slot for slot in slots if slot["subject"] is not None]
    assert sorted(slot["subject"] for slot in used) == sorted(randomized)
    by_stratum: dict[str, list[int]] = defaultdict(list)
    for slot in used:
        by_stratum[slot["stratum"]].append(slot["seq"])
    for stratum, seqs in by_stratum.items():
        assert sorted(seqs) == list(range(1, len(seqs) + 1)), f"stratum {stratum}: {seqs}"
    # The trail's order of randomizations: within a stratum, the slots follow the list.
    events = paged(monitor, f"{STUDY}/audit?action=subject.randomized")
    allocations: dict[str, dict[str, str]] = defaultdict(dict)
    order: list[str] = []
    for event in events:
        if event["action"] != "subject.randomized" or event["object_type"] != "Allocation":
            continue
        if event["object_id"] not in allocations:
            order.append(event["object_id"])
        allocations[event["object_id"]][event["field"]] = event["new_value"]
    taken: dict[str, list[int]] = defaultdict(list)
    for allocation in order:
        fields = allocations[allocation]
        taken[fields["stratum"]].append(int(fields["seq"]))
    assert sum(len(seqs) for seqs in taken.values()) == len(randomized)
    for stratum, seqs in taken.items():
        assert seqs == list(range(1, len(seqs) + 1)), f"stratum {stratum} in trail order: {seqs}"


def test_sixteen_clients_randomize_two_hundred_subjects_twice(
    store_environment: dict[str, str], tmp_path: Path
) -> None:
    tokens = prepare_store(store_environment, large_protocol(tmp_path), SITES)
    with RunningServer(store_environment, workers=4) as server:
        clients = [ApiClient(server.base_url, tokens["investigator"]) for _ in range(CLIENTS)]
        pharmacist = ApiClient(server.base_url, tokens["pharmacist"])
        monitor = ApiClient(server.base_url, tokens["monitor"])
        rng = random.Random(7)
        randomized: set[str] = set()
        for _ in range(ROUNDS):
            tasks = [
                screening(rng.choice(SITES), rng.choice([2, 3])) for _ in range(SUBJECTS_PER_ROUND)
            ]
            codes, _ = run_concurrently(clients, tasks, enroll_eligible)
            answers, _ = run_concurrently(
                clients, codes, lambda client, code: randomize(client, "KNEE-TEST", code)
            )
            numbers = [answer["randomization_number"] for answer in answers]
            assert len(set(numbers)) == SUBJECTS_PER_ROUND
            assert all("arm" not in answer for answer in answers)
            randomized |= set(codes)
            check_allocations(pharmacist, monitor, randomized)
        assert len(randomized) == ROUNDS * SUBJECTS_PER_ROUND
    audit = audit_verify(store_environment)
    assert audit.returncode == 0, audit.stdout + audit.stderr


def audit_verify(environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trialdesk.cli", "audit", "verify"],
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
    )


class FormStream:
    """A client saving one subject's vitals over and over, each time a new weight.

    `acknowledged` is the last weight the server confirmed; `in_flight` the one sent after it,
    whose answer the crash may have swallowed.
    """

    def __init__(self, client: ApiClient, code: str) -> None:
        self.client, self.code = client, code
        self.acknowledged: int | None = None
        self.in_flight: int | None = None
        self.saves = 0

    def run(self, stop: threading.Event) -> None:
        weight = 60
        path = f"{STUDY}/subjects/{self.code}/visits/SCR/forms/vitals"
        while not stop.is_set():
            weight = 60 + (weight - 59) % 80
            self.in_flight = weight
            body = {"values": {"height_cm": 170, "weight_kg": weight}, "reason": "re-measured"}
            try:
                status, _ = self.client.call("PUT", path, body)
            except OSError:
                return
            if status != 200:
                return
            self.acknowledged, self.in_flight = weight, None
            self.saves += 1


def test_acknowledged_form_saves_survive_sigkill(
    store_environment: dict[str, str], tmp_path: Path
) -> None:
    tokens = prepare_store(store_environment, large_protocol(tmp_path), SITES)
    server = RunningServer(store_environment, workers=4).start()
    try:
        setup = ApiClient(server.base_url, tokens["investigator"])
        codes = []
        for site in SITES * 4:
            subject = setup.expect(
                "POST",
                f"{STUDY}/subjects",
                {**SCREENING, "site": site},
                status=201,
            )
            setup.expect("POST", f"{STUDY}/subjects/{subject['code']}/consent", CONSENT)
            codes.append(subject["code"])
        streams = [FormStream(ApiClient(server.base_url, tokens["investigator"]), c) for c in codes]
        stop = threading.Event()
        threads = [threading.Thread(target=s.run, args=(stop,)) for s in streams]
        for thread in threads:
            thread.start()
        # Kill once a good stream has gone through (sooner on a slow machine, never before
        # some saves are in).
        deadline = time.monotonic() + 120
        while sum(s.saves for s in streams) < 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        server.kill(signal.SIGKILL)  # mid-stream: the clients are still sending
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        assert sum(s.saves for s in streams) >= 20
        server.start()
        reader = ApiClient(server.base_url, tokens["monitor"])
        for stream in streams:
            record = reader.expect("GET", f"{STUDY}/subjects/{stream.code}/visits/SCR/forms/vitals")
            stored = record["values"]["weight_kg"]
            assert stored in {stream.acknowledged, stream.in_flight}, (stream.code, stored)
    finally:
        server.stop()
    audit = audit_verify(store_environment)
    assert audit.returncode == 0, audit.stdout + audit.stderr
