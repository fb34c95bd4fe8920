"""Benchmark: randomizations and form saves through the REST API with 16 concurrent clients,
on SQLite and on PostgreSQL, against the bare database writes of the same rows.

For each backend a fresh store is prepared, `trialdesk serve` (gunicorn, 4 workers) started,
and 16 clients enroll SUBJECTS eligible subjects (3 screening form saves each) and randomize
them. The baseline writes the same rows with the database driver alone, from 16 threads, one
transaction per operation as the service does: for a randomization, lock the stratum, read its
lowest free slot, insert the allocation, update the subject's status, append its audit events
with their hash chain; for a form save, insert the record and its audit events.

Run: .venv/bin/python bench/store.py [--subjects 200]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# The HTTP load client and the throwaway PostgreSQL are test machinery, in tests/support/.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.load import (
    ApiClient,
    ScreeningVisit,
    Timings,
    enroll_eligible,
    prepare_store,
    protocol_with_enrollment,
    randomize,
    run_concurrently,
)
from support.throwaway import RunningServer, ThrowawayPostgres

CLIENTS = 16
PROTOCOL = Path(__file__).parent.parent / "tests" / "store" / "protocols" / "KNEE-TEST.yaml"
PATIENT = {"year_of_birth": 1960, "age": 63, "sex": "female", "screened_on": "2024-03-01"}
CONSENT = {"consented_on": "2024-03-01", "consent_version": "2.0"}
FORMS = {
    "screening_history": {"oa_duration_months": 24},
    "vitals": {"height_cm": 170, "weight_kg": 70},
    "kl_grade": {"index_knee": 2, "contralateral_knee": 1},
}
ATTESTATIONS = {"I1": True, "E2": False}
#: Audit events the services append: a form save of 3 items and 2 scores, a randomization.
FORM_EVENTS, RANDOMIZATION_EVENTS = 7, 4


def through_the_api(environment: dict[str, str], subjects: int, workdir: Path) -> dict[str, Any]:
    protocol = protocol_with_enrollment(PROTOCOL, subjects, workdir)
    tokens = prepare_store(environment, protocol, ["01", "02"])
    rng = random.Random(1)
    with RunningServer(environment, workers=4) as server:
        clients = [ApiClient(server.base_url, tokens["investigator"]) for _ in range(CLIENTS)]
        tasks = []
        for _ in range(subjects):
            forms = {**FORMS, "kl_grade": {**FORMS["kl_grade"], "index_knee": rng.choice([2, 3])}}
            site = rng.choice(["01", "02"])
            tasks.append(
                ScreeningVisit("KNEE-TEST", site, PATIENT, CONSENT, "SCR", forms, ATTESTATIONS)
            )
        codes, enrollment = run_concurrently(clients, tasks, enroll_eligible)
        _, randomization = run_concurrently(
            clients, codes, lambda client, code: randomize(client, "KNEE-TEST", code)
        )
    latencies: dict[str, list[float]] = {}
    for client in clients:
        for label, seconds in client.latencies.items():
            latencies.setdefault(label, []).extend(seconds)
    calls_in_enrollment = sum(len(v) for k, v in latencies.items() if k != "randomize")
    forms = latencies["form save"]
    return {
        "randomize": summary(Timings(latencies["randomize"], randomization.wall)),
        # Form saves share the enrollment phase with the other calls: their rate is their share
        # of that phase's throughput.
        "form save": summary(Timings(forms, enrollment.wall * len(forms) / calls_in_enrollment)),
    }


def summary(timings: Timings) -> dict[str, float]:
    return {
        "count": len(timings.latencies),
        "per_second": timings.rate,
        "p50_ms": 1000 * timings.percentile(50),
        "p99_ms": 1000 * timings.percentile(99),
    }


# ---------------------------------------------------------------- the bare database baseline

BARE_SCHEMA = [
    "CREATE TABLE bare_head (id INTEGER PRIMARY KEY, seq BIGINT, hash TEXT)",
    "CREATE TABLE bare_stratum (id INTEGER PRIMARY KEY)",
    "CREATE TABLE bare_slot (stratum INTEGER, seq INTEGER, subject INTEGER, PRIMARY KEY "
    "(stratum, seq))",
    "CREATE TABLE bare_subject (id INTEGER PRIMARY KEY, status TEXT)",
    "CREATE TABLE bare_allocation (subject INTEGER PRIMARY KEY, stratum INTEGER, seq INTEGER, "
    "number TEXT, at TEXT)",
    "CREATE TABLE bare_form (subject INTEGER PRIMARY KEY, form TEXT, answers TEXT, scores TEXT)",
    "CREATE TABLE bare_audit (seq BIGINT PRIMARY KEY, at TEXT, by_user TEXT, object_id TEXT, "
    "field TEXT, old_value TEXT, new_value TEXT, previous_hash TEXT, hash TEXT)",
]


class BareStore:
    """The same rows written with the driver alone, each client on its own `connect()`."""

    def __init__(self, connect: Callable[[], Any], placeholder: str, lock_sql: str) -> None:
        self.connect, self.placeholder, self.lock_sql = connect, placeholder, lock_sql

    def sql(self, text: str) -> str:
        return text.replace("?", self.placeholder)

    def setup(self, subjects: int, strata: int) -> None:
        connection = self.connect()
        cursor = connection.cursor()
        for statement in BARE_SCHEMA:
            cursor.execute(statement)
        cursor.execute(self.sql("INSERT INTO bare_head VALUES (1, 0, ?)"), ("0" * 64,))
        for stratum in range(strata):
            cursor.execute(self.sql("INSERT INTO bare_stratum VALUES (?)"), (stratum,))
            for seq in range(1, subjects + 1):
                cursor.execute(
                    self.sql("INSERT INTO bare_slot VALUES (?, ?, NULL)"), (stratum, seq)
                )
        for subject in range(subjects):
            cursor.execute(self.sql("INSERT INTO bare_subject VALUES (?, 'eligible')"), (subject,))
        connection.commit()
        connection.close()

    def _append_events(self, cursor: Any, events: int, object_id: str) -> None:
        cursor.execute(self.sql(f"SELECT seq, hash FROM bare_head WHERE id = 1 {self.lock_sql}"))
        seq, previous = cursor.fetchone()
        at = time.strftime("%Y-%m-%dT%H:%M:%S")
        for field in range(events):
            seq += 1
            content = json.dumps([seq, at, "bench", object_id, str(field), "null", "1", previous])
            digest = hashlib.sha256(content.encode()).hexdigest()
            cursor.execute(
                self.sql("INSERT INTO bare_audit VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                (seq, at, "bench", object_id, str(field), "null", "1", previous, digest),
            )
            previous = digest
        cursor.execute(
            self.sql("UPDATE bare_head SET seq = ?, hash = ? WHERE id = 1"), (seq, previous)
        )

    def randomize(self, connection: Any, subject: int, stratum: int) -> None:
        cursor = connection.cursor()
        self._begin(cursor)
        self._append_events(cursor, RANDOMIZATION_EVENTS, f"allocation:{subject}")
        cursor.execute(
            self.sql(f"SELECT id FROM bare_stratum WHERE id = ? {self.lock_sql}"), (stratum,)
        )
        cursor.execute(
            self.sql("SELECT MIN(seq) FROM bare_slot WHERE stratum = ? AND subject IS NULL"),
            (stratum,),
        )
        (seq,) = cursor.fetchone()
        cursor.execute(
            self.sql("UPDATE bare_slot SET subject = ? WHERE stratum = ? AND seq = ?"),
            (subject, stratum, seq),
        )
        cursor.execute(
            self.sql("INSERT INTO bare_allocation VALUES (?, ?, ?, ?, ?)"),
            (subject, stratum, seq, f"R{stratum:02d}-{seq:03d}", time.time()),
        )
        cursor.execute(
            self.sql("UPDATE bare_subject SET status = 'randomized' WHERE id = ?"), (subject,)
        )
        connection.commit()

    def save_form(self, connection: Any, subject: int) -> None:
        cursor = connection.cursor()
        self._begin(cursor)
        self._append_events(cursor, FORM_EVENTS, f"form:{subject}")
        cursor.execute(
            self.sql("INSERT INTO bare_form (subject, form, answers, scores) VALUES (?, ?, ?, ?)"),
            (subject, "vitals", json.dumps(FORMS["vitals"]), json.dumps({"bmi": 24.2})),
        )
        connection.commit()

    def _begin(self, cursor: Any) -> None:
        if self.placeholder == "?":
            cursor.execute("BEGIN IMMEDIATE")


def bare_writes(store: BareStore, subjects: int) -> dict[str, Any]:
    """Form saves, then randomizations, of every subject by CLIENTS threads, as the API's."""
    strata = 4
    store.setup(subjects, strata)
    connections = [store.connect() for _ in range(CLIENTS)]
    rng = random.Random(1)
    _, forms = run_concurrently(connections, range(subjects), store.save_form)
    _, randomizations = run_concurrently(
        connections,
        range(subjects),
        lambda connection, subject: store.randomize(connection, subject, rng.randrange(strata)),
    )
    for connection in connections:
        connection.close()
    return {"form save": summary(forms), "randomize": summary(randomizations)}


def sqlite_bare(path: Path) -> BareStore:
    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(
            path, timeout=30, isolation_level=None, check_same_thread=False
        )
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        return _AutoCommit(connection)

    return BareStore(connect, "?", "")


class _AutoCommit:
    """sqlite3 in autocommit mode with explicit BEGIN IMMEDIATE, committed by `commit()`."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.inner = connection

    def cursor(self) -> sqlite3.Cursor:
        return self.inner.cursor()

    def commit(self) -> None:
        if self.inner.in_transaction:
            self.inner.execute("COMMIT")

    def close(self) -> None:
        self.inner.close()


def postgresql_bare(url: str) -> BareStore:
    import psycopg

    return BareStore(lambda: psycopg.connect(url), "%s", "FOR UPDATE")


def report(backend: str, api: dict[str, Any], bare: dict[str, Any]) -> None:
    for label in ("randomize", "form save"):
        ours, base = api[label], bare[label]
        print(
            f"{backend:10} {label:9} API {ours['per_second']:7.1f}/s "
            f"p50 {ours['p50_ms']:6.1f} ms p99 {ours['p99_ms']:6.1f} ms | bare "
            f"{base['per_second']:7.1f}/s p50 {base['p50_ms']:5.1f} ms p99 {base['p99_ms']:5.1f} ms"
            f" | API/bare rate {ours['per_second'] / base['per_second']:.3f}"
        )


def subject_count(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number, 1 or more")
    return int(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=subject_count, default=200)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        home = workdir / "home"
        api = through_the_api(
            {"TRIALDESK_HOME": str(home), "TRIALDESK_DATABASE_URL": ""}, arguments.subjects, workdir
        )
        bare = bare_writes(sqlite_bare(workdir / "bare.sqlite3"), arguments.subjects)
        report("SQLite", api, bare)
        with ThrowawayPostgres() as postgres:
            url = postgres.create_database("bench_api")
            api = through_the_api(
                {"TRIALDESK_HOME": str(home), "TRIALDESK_DATABASE_URL": url},
                arguments.subjects,
                workdir,
            )
            bare = bare_writes(
                postgresql_bare(postgres.create_database("bench_bare")), arguments.subjects
            )
            report("PostgreSQL", api, bare)


if __name__ == "__main__":
    main()
