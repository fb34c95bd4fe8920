"""Benchmark (issue 14): 1,000 patients answer their pain diary in the same minute.

The store: STEMJOINT (NCT05933434) with 1,000 subjects in follow-up, day 0 three days ago,
each with a live patient link (Europe/Copenhagen); the study, site and coordinator are made by
the services, the subjects and links in bulk by a child process (no audit events for them;
the tokens are kept by the bench). The served app's clock (`TRIALDESK_CLOCK_FILE`) says 19:30
Copenhagen time today: day 3's entry is open. `trialdesk serve` (gunicorn, 4 workers) serves
it; 16 loopback clients each take patients in turn: GET the question page (its CSRF cookie and
token, as the phone does), then POST the answer (`/p/<token>/pain_diary/3/day3/`), followed
as far as its redirect (302). Submissions per second and client p50/p95 of the POSTs, beside
a static file's in the same run. SQLite and PostgreSQL.

Run: .venv/bin/python bench/epro.py [--patients 1000] [--backend both|sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.throwaway import RunningServer, ThrowawayPostgres
from web import SESSIONS, Session, run

STUDY = "NCT05933434"
ZONE = "Europe/Copenhagen"
PROTOCOL = Path(__file__).resolve().parents[1] / "src" / "trialdesk" / "protocols" / f"{STUDY}.yaml"
DAY = 3


def build(patients: int) -> dict[str, Any]:
    """Child process: the study by the services, subjects and live links in bulk."""
    from trialdesk.store.database import open_store

    open_store(create=True)
    import secrets

    from django.db import connection, transaction
    from django.utils import timezone

    from trialdesk.store.models import PatientLink, StudyUser, Subject
    from trialdesk.store.services import add_site, add_user, create_study
    from trialdesk.store.services.patient_reports import token_sha256

    operator = "operator:bench"
    study = create_study(str(PROTOCOL), operator)
    site = add_site(study, "AUH", operator)
    add_user(study, "bench-coordinator", "coordinator", operator)
    coordinator = StudyUser.objects.get(username="bench-coordinator")
    today = dt.datetime.now(ZoneInfo(ZONE)).date()
    now = timezone.now()
    tokens = [secrets.token_urlsafe(32) for _ in range(patients)]
    with transaction.atomic():
        made = Subject.objects.bulk_create(
            [
                Subject(
                    study=study,
                    site=site,
                    code=f"AUH-{number + 1:04d}",
                    status="in_follow_up",
                    year_of_birth=1960,
                    age_at_screening=62,
                    sex="female",
                    screened_on=today - dt.timedelta(days=20),
                    day0=today - dt.timedelta(days=DAY),
                )
                for number in range(patients)
            ],
            batch_size=1000,
        )
        PatientLink.objects.bulk_create(
            [
                PatientLink(
                    subject=subject,
                    token_sha256=token_sha256(token),
                    language="da",
                    time_zone=ZONE,
                    created_by=coordinator,
                    created_at=now,
                )
                for subject, token in zip(made, tokens, strict=True)
            ],
            batch_size=1000,
        )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return {"tokens": tokens}


def prepare(environment: dict[str, str], patients: int) -> list[str]:
    result = subprocess.run(
        [sys.executable, __file__, "--build", str(patients)],
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SystemExit(f"building the store failed: {result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])["tokens"]


def answer_step(session: Session, token: str, figures: Any) -> None:
    path = f"/p/{token}/pain_diary/{DAY}/day{DAY}/"
    session.cookies.clear()
    status, _, page, _ = session.request("GET", path)
    csrf = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert status == 200 and csrf, f"GET {path}: {status}"
    body = {"csrfmiddlewaretoken": csrf[1].decode(), "value": "4"}
    origin = {"Origin": f"http://{session.host}:{session.port}"}
    status, got, content, elapsed = session.request("POST", path, body, origin)
    assert status == 302, f"POST {path}: {status} {content[:300]!r}"
    figures.add(elapsed, got)


def measure(environment: dict[str, str], patients: int) -> dict[str, Any]:
    started = time.perf_counter()
    tokens = prepare(environment, patients)
    built_in = time.perf_counter() - started
    with RunningServer(environment, workers=4) as server:
        sessions = [Session(server.base_url) for _ in range(SESSIONS)]
        static = run(sessions, range(patients), _static_step)
        answers = run(sessions, tokens, answer_step)
    return {
        "built_in": built_in,
        "static file": static.summary(),
        "answer (POST)": answers.summary(),
    }


def _static_step(session: Session, _: Any, figures: Any) -> None:
    status, _, _, elapsed = session.request("GET", "/static/pages/app.css")
    assert status == 200, f"static file: {status}"
    figures.add(elapsed, {})


def report(backend: str, figures: dict[str, Any]) -> None:
    print(f"\n{backend}: store built in {figures['built_in']:.0f} s")
    print(f"{'':16} {'n':>5} {'per s':>7} {'p50 ms':>8} {'p95 ms':>8}")
    for name in ("answer (POST)", "static file"):
        row = figures[name]
        print(
            f"{name:16} {row['count']:5d} {row['per_second']:7.1f} {row['p50']:8.1f} "
            f"{row['p95']:8.1f}"
        )


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--build":
        print(json.dumps(build(int(sys.argv[2]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--backend", choices=["both", "sqlite", "postgresql"], default="both")
    arguments = parser.parse_args()
    print(f"{SESSIONS} clients, {arguments.patients:,} patients, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        clock = workdir / "clock"
        local = dt.datetime.combine(
            dt.datetime.now(ZoneInfo(ZONE)).date(), dt.time(19, 30), ZoneInfo(ZONE)
        )
        clock.write_text(local.isoformat(), encoding="utf-8")
        common = {
            "TRIALDESK_SECRET_KEY": "bench-only-" + "s" * 40,
            "TRIALDESK_AUDIT_KEY": "bench-only-audit-key-" + "a" * 32,
            "TRIALDESK_CLOCK_FILE": str(clock),
        }
        if arguments.backend in ("both", "sqlite"):
            environment = {
                "TRIALDESK_HOME": str(workdir / "sqlite"),
                "TRIALDESK_DATABASE_URL": "",
                **common,
            }
            report("SQLite", measure(environment, arguments.patients))
        if arguments.backend in ("both", "postgresql"):
            with ThrowawayPostgres() as postgres:
                environment = {
                    "TRIALDESK_HOME": str(workdir / "postgresql"),
                    "TRIALDESK_DATABASE_URL": postgres.create_database("bench_epro"),
                    **common,
                }
                report("PostgreSQL", measure(environment, arguments.patients))


if __name__ == "__main__":
    main()
