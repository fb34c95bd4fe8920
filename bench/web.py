"""Benchmark: the web app's subject matrix and a form save from the browser, with 16 signed-in
sessions at once, on a store of 5,000 subjects x 8 visits, on SQLite and on PostgreSQL.

The store: NCT04208646 with one more visit (W6, day 42 +-7, WOMAC and VAS) so that it has 8,
its 7 sites, and 5,000 subjects spread over them with day 0 in the last 400 days, each with
its 8 visit rows (done, missed or still open as their windows say) and a record of every form
of every done visit (complete, except half of those of the last 30 days, which hold half their
items), but for 4,000 done visits whose VAS the form saves enter. The values are the virtual
trial's plausible answers (`trialdesk.store.demo.answers`) with the scores the instruments
compute: a store of empty completed forms would make every first save of a subject raise an
edit-check query per missing WOMAC item, which no real store has. For speed these rows
are inserted in bulk by a child process, not through the services: no audit events are
written for them (the audit trail is not what is measured here); the study, its sites and
users are made by the services. On PostgreSQL the load ends with ANALYZE, as autovacuum would
have done while a real store grew.

`trialdesk serve` (gunicorn, 4 workers) serves it. 16 sessions of a study-wide investigator
sign in through the sign-in page (its CSRF token, session cookies) and then:
- matrix: GET the study home (the matrix's first page with the work list's counts), and the
  matrix table alone as htmx asks for it, with other pages, sorts and filters;
- form save: POST a VAS of a done visit as the form page sends it (pages/forms), followed
  only as far as its redirect (302).
Client time is measured on loopback; the server time of the matrix views is their
`Server-Timing` header (the view's queries and rendering; the session and sign-in middleware
come on top, which client time includes). Baselines in the same run: a static file, the
API's subject list (`GET /api/v1/studies/{s}/subjects`, all 5,000) and the API's form PUT.

Targets (issue 12): matrix page p95 under 150 ms server time, form save p95 under 300 ms.

Run: .venv/bin/python bench/web.py [--subjects 5000] [--requests 25]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bench_store import STUDY, analyze_if_postgresql, bench_protocol, load_casebooks

from support.throwaway import RunningServer, ThrowawayPostgres

SESSIONS = 16
#: Done visits whose VAS the form saves enter.
TARGETS = 4000
USER, PASSWORD = "bench-investigator", "Knee-Matrix-5000-Rows!"


# ---------------------------------------------------------------- the store (child process)


def build(protocol: str, subjects: int) -> dict[str, Any]:
    """Runs in the child process on the served database: the study by the services, then the
    subjects, visits and form records in bulk (`bench_store`). Returns the API token and the
    form saves' targets (subject, visit) that have no VAS yet."""
    from trialdesk.store.database import open_store

    open_store(create=True)
    from trialdesk.store.services import add_site, add_user, create_study
    from trialdesk.store.services.accounts import set_password
    from trialdesk.store.services.tokens import create_token

    operator = "operator:bench"
    study = create_study(protocol, operator)
    for site in study.protocol().sites:
        add_site(study, site.id, operator)
    add_user(study, USER, "investigator", operator)
    set_password(USER, PASSWORD, operator)
    token = create_token(USER, operator)
    casebooks = load_casebooks(study, subjects, without_vas=TARGETS)
    analyze_if_postgresql()
    done = [(visit.subject.code, visit.visit_id) for visit in casebooks.done[:TARGETS]]
    return {
        "token": token,
        "targets": done,
        "visits": len(casebooks.visits),
        "forms": len(casebooks.records),
    }


def prepare(environment: dict[str, str], protocol: Path, subjects: int) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, __file__, "--build", str(protocol), str(subjects)],
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SystemExit(f"building the store failed: {result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- the clients


class Session:
    """One browser's cookies over one keep-alive connection (http.client)."""

    def __init__(self, base_url: str) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        self.host, self.port = parsed.hostname, parsed.port
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
        self.cookies: dict[str, str] = {}
        self.csrf = ""

    def request(
        self, method: str, path: str, body: dict | None = None, headers: dict | None = None
    ) -> tuple[int, dict[str, str], bytes, float]:
        sent = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        data = None
        if body is not None:
            data = urllib.parse.urlencode(body)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        sent.update(headers or {})
        started = time.perf_counter()
        try:
            self.connection.request(method, path, body=data, headers=sent)
            response = self.connection.getresponse()
        except (http.client.HTTPException, ConnectionError):
            self.connection.close()
            self.connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
            self.connection.request(method, path, body=data, headers=sent)
            response = self.connection.getresponse()
        content = response.read()
        elapsed = time.perf_counter() - started
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, {k.lower(): v for k, v in response.getheaders()}, content, elapsed

    def sign_in(self) -> None:
        status, _, page, _ = self.request("GET", "/signin/")
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert status == 200 and token, f"sign-in page: {status}"
        fields = {"csrfmiddlewaretoken": token[1].decode(), "username": USER, "password": PASSWORD}
        status, headers, _, _ = self.request("POST", "/signin/", fields)
        assert status == 302, f"sign-in refused: {status}"
        status, _, page, _ = self.request("GET", f"/studies/{STUDY}/")
        token = re.search(rb'"X-CSRFToken": "([^"]+)"', page)
        assert status == 200 and token, f"study home after sign-in: {status}"
        self.csrf = token[1].decode()


class Figures:
    def __init__(self) -> None:
        self.client: list[float] = []
        self.server: list[float] = []
        self.lock = threading.Lock()
        self.wall = 0.0

    def add(self, client: float, headers: dict[str, str]) -> None:
        timing = re.search(r"dur=([0-9.]+)", headers.get("server-timing", ""))
        with self.lock:
            self.client.append(1000 * client)
            if timing:
                self.server.append(float(timing[1]))

    @staticmethod
    def percentile(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] if ordered else 0.0

    def summary(self) -> dict[str, float]:
        return {
            "count": len(self.client),
            "per_second": len(self.client) / self.wall if self.wall else 0.0,
            "p50": self.percentile(self.client, 50),
            "p95": self.percentile(self.client, 95),
            "server_p50": self.percentile(self.server, 50),
            "server_p95": self.percentile(self.server, 95),
        }


def run(sessions: list[Session], tasks: list[Any], step: Any) -> Figures:
    """`step(session, task, figures)` for every task, each session used by one thread."""
    figures = Figures()
    free, lock = list(sessions), threading.Lock()

    def one(task: Any) -> None:
        with lock:
            session = free.pop()
        try:
            step(session, task, figures)
        finally:
            with lock:
                free.append(session)

    started = time.perf_counter()
    with ThreadPoolExecutor(len(sessions)) as pool:
        list(pool.map(one, tasks))
    figures.wall = time.perf_counter() - started
    return figures


MATRIX_VIEWS = [
    "",
    "?page=37",
    "?sort=-screened",
    "?status=in_follow_up&page=5",
    "?site=03",
    "?q=04-01",
    "?sort=site&page=80",
]


def matrix_step(partial: bool) -> Any:
    def step(session: Session, view: str, figures: Figures) -> None:
        path = f"/studies/{STUDY}/{'matrix' if partial else ''}{view}"
        headers = {"HX-Request": "true"} if partial else {}
        status, got, _, elapsed = session.request("GET", path, headers=headers)
        assert status == 200, f"{path}: {status}"
        figures.add(elapsed, got)

    return step


def form_step(session: Session, target: tuple[str, str], figures: Figures) -> None:
    code, visit = target
    path = f"/studies/{STUDY}/subjects/{code}/visits/{visit}/forms/vas_pain/"
    body = {"csrfmiddlewaretoken": session.csrf, "vas": "42", "action": "save"}
    status, got, content, elapsed = session.request("POST", path, body)
    assert status == 302, f"POST {path}: {status} {content[:300]!r}"
    figures.add(elapsed, got)


def plain_step(path: str, headers: dict[str, str] | None = None) -> Any:
    def step(session: Session, _: Any, figures: Figures) -> None:
        status, got, _, elapsed = session.request("GET", path, headers=headers)
        assert status == 200, f"{path}: {status}"
        figures.add(elapsed, {})

    return step


def api_put_step(token: str) -> Any:
    def step(session: Session, target: tuple[str, str], figures: Figures) -> None:
        code, visit = target
        path = f"/api/v1/studies/{STUDY}/subjects/{code}/visits/{visit}/forms/vas_pain"
        data = json.dumps({"values": {"vas": 42}})
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        started = time.perf_counter()
        session.connection.request("PUT", path, body=data, headers=headers)
        response = session.connection.getresponse()
        content = response.read()
        assert response.status == 200, f"PUT {path}: {response.status} {content[:300]!r}"
        figures.add(time.perf_counter() - started, {})

    return step


def measure(environment: dict[str, str], protocol: Path, subjects: int, requests: int) -> dict:
    started = time.perf_counter()
    built = prepare(environment, protocol, subjects)
    built_in = time.perf_counter() - started
    targets = [tuple(target) for target in built["targets"]]
    saves, puts = (
        targets[: SESSIONS * requests],
        targets[SESSIONS * requests : 2 * SESSIONS * requests],
    )
    with RunningServer(environment, workers=4) as server:
        sessions = [Session(server.base_url) for _ in range(SESSIONS)]
        with ThreadPoolExecutor(4) as pool:  # Argon2 at sign-in: not part of the figures
            list(pool.map(Session.sign_in, sessions))
        views = [MATRIX_VIEWS[i % len(MATRIX_VIEWS)] for i in range(SESSIONS * requests)]
        run(sessions, views[:SESSIONS], matrix_step(False))  # warm the workers up
        results = {
            "static file": run(
                sessions, range(SESSIONS * requests), plain_step("/static/pages/app.css")
            ),
            "API subject list": run(
                sessions,
                range(SESSIONS * max(2, requests // 5)),
                plain_step(
                    f"/api/v1/studies/{STUDY}/subjects",
                    {"Authorization": f"Bearer {built['token']}"},
                ),
            ),
            "matrix page": run(sessions, views, matrix_step(False)),
            "matrix (htmx)": run(sessions, views, matrix_step(True)),
            "form save (page)": run(sessions, saves, form_step),
            "form save (API PUT)": run(sessions, puts, api_put_step(built["token"])),
        }
    return {
        "built_in": built_in,
        "visits": built["visits"],
        "forms": built["forms"],
        **{name: figures.summary() for name, figures in results.items()},
    }


def report(backend: str, figures: dict[str, Any]) -> None:
    print(
        f"\n{backend}: store built in {figures['built_in']:.0f} s "
        f"({figures['visits']:,} visits, {figures['forms']:,} form records)"
    )
    static = figures["static file"]["p50"]
    api = figures["API subject list"]["p50"]
    put = figures["form save (API PUT)"]["p50"]
    print(
        f"{'':22} {'n':>5} {'per s':>7} {'p50 ms':>8} {'p95 ms':>8} {'server p50/p95':>15}  ratio"
    )
    for name, row in figures.items():
        if not isinstance(row, dict):
            continue
        server = f"{row['server_p50']:6.1f}/{row['server_p95']:6.1f}" if row["server_p50"] else ""
        if name.startswith("matrix"):
            ratio = f"p50 {row['p50'] / static:.1f}x static, {row['p50'] / api:.2f}x API list"
        elif name == "form save (page)":
            ratio = f"p50 {row['p50'] / put:.2f}x API PUT"
        else:
            ratio = ""
        print(
            f"{name:22} {row['count']:5d} {row['per_second']:7.1f} {row['p50']:8.1f} "
            f"{row['p95']:8.1f} {server:>15}  {ratio}"
        )


def positive(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number, 1 or more")
    return int(text)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--build":
        print(json.dumps(build(sys.argv[2], int(sys.argv[3]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=positive, default=5000)
    parser.add_argument("--requests", type=positive, default=25, help="per session and kind")
    parser.add_argument("--backend", choices=["both", "sqlite", "postgresql"], default="both")
    arguments = parser.parse_args()
    print(
        f"{SESSIONS} sessions, {arguments.subjects:,} subjects x 8 visits, {os.cpu_count()} cores"
    )
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        protocol = bench_protocol(workdir)
        secrets = {
            "TRIALDESK_SECRET_KEY": "bench-only-" + "s" * 40,
            "TRIALDESK_AUDIT_KEY": "bench-only-audit-key-" + "a" * 32,
        }
        if arguments.backend in ("both", "sqlite"):
            environment = {
                "TRIALDESK_HOME": str(workdir / "sqlite"),
                "TRIALDESK_DATABASE_URL": "",
                **secrets,
            }
            report("SQLite", measure(environment, protocol, arguments.subjects, arguments.requests))
        if arguments.backend in ("both", "postgresql"):
            with ThrowawayPostgres() as postgres:
                environment = {
                    "TRIALDESK_HOME": str(workdir / "postgresql"),
                    "TRIALDESK_DATABASE_URL": postgres.create_database("bench_web"),
                    **secrets,
                }
                report(
                    "PostgreSQL",
                    measure(environment, protocol, arguments.subjects, arguments.requests),
                )


if __name__ == "__main__":
    main()
