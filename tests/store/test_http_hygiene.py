"""HTTP hygiene of the REST API through Django's test client, on SQLite and PostgreSQL: the
Host header checked before any view, every error answered as `{"detail": ...}` JSON, and the
inputs that used to end as an HTML "Server Error (500)" (a lone surrogate, an offset beyond 64
bits, a negative year of birth, times at the calendar's edges, a deeply nested body) refused
as 400 naming the field, with nothing written; and the OpenAPI document declaring the answers
and the coded values."""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from typing import Any

import pytest
from django.core.handlers.exception import handle_uncaught_exception
from django.test import Client, RequestFactory
from django.urls import get_resolver

from trialdesk.errors import BadInput
from trialdesk.store.models import AdverseEvent, AuditEvent, Subject
from trialdesk.store.services import report_adverse_event, screen_subject
from trialdesk.store.services.tokens import create_token

from .conftest import OPERATOR, ROLES

STUDY = "/api/v1/studies/KNEE-TEST"
ADVERSE_EVENT = {
    "term": "Knee effusion",
    "onset_date": "2024-04-10",
    "ctcae_grade": 3,
    "seriousness": ["hospitalization"],
    "relatedness": "possible",
    "expected": True,
    "action_taken": "dose_not_changed",
    "outcome": "recovering",
    "awareness_at": "2024-04-10T09:00:00Z",
}
SCREENING = {"site": "01", "year_of_birth": 1960, "age": 63, "sex": "female"}
BIGINT_MAX = 9223372036854775807  # 2**63 - 1, PostgreSQL's bigint and SQLite's INTEGER
EDGE_TIMES = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]
TIME_RANGE = "expected a time between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z"


def client(username: str | None = "ines", **headers: str) -> Client:
    if username is not None:
        headers["Authorization"] = f"Bearer {create_token(username, OPERATOR)}"
    return Client(headers=headers, raise_request_exception=False)


def send(api: Client, method: str, path: str, body: Any) -> Any:
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return getattr(api, method)(path, data, content_type="application/json")


def refused(response: Any, status: int = 400) -> str:
    """The detail of a JSON error answer with `status`."""
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    answer = response.json()
    assert list(answer) == ["detail"], answer
    return answer["detail"]


def writes() -> tuple[int, int, int]:
    return AuditEvent.objects.count(), Subject.objects.count(), AdverseEvent.objects.count()


# ---------------------------------------------------------------- Host header


@pytest.mark.django_db
def test_an_unknown_host_is_refused_before_any_view(study: Any) -> None:
    # No token: a view would answer 401; the Host check comes first.
    answer = client(None, Host="evil.example").get("/api/v1/me")
    message = refused(answer)
    assert "'evil.example'" in message and "TRIALDESK_ALLOWED_HOSTS" in message
    assert "localhost, 127.0.0.1" in message
    # Even where no view exists, and with a valid token.
    assert "evil.example" in refused(client("ines", Host="evil.example").get("/nowhere"))
    assert client(None, Host="localhost").get("/api/v1/me").status_code == 401


# ---------------------------------------------------------------- every error is JSON


@pytest.mark.django_db
def test_django_s_own_errors_are_json(study: Any) -> None:
    api = client()
    assert refused(api.get("/api/v1/no-such-thing"), 404).startswith(
        "no such URL: /api/v1/no-such-thing;"
    )
    # Outside /api/ the web app answers with its error page.
    missing = api.get("/static/ninja/no-such-file.js")
    assert missing.status_code == 404
    assert missing["Content-Type"].startswith("text/html"), missing["Content-Type"]
    not_allowed = api.delete(STUDY)
    assert refused(not_allowed, 405) == (
        f"method DELETE is not allowed on {STUDY}; expected one of GET"
    )
    assert not_allowed["Allow"] == "GET"
    # Django refuses more than DATA_UPLOAD_MAX_NUMBER_FIELDS (1000) query fields itself.
    fields = "&".join(["f"] * 1001)
    assert "DATA_UPLOAD_MAX_NUMBER_FIELDS" in refused(api.get(f"/api/v1/me?{fields}"))


@pytest.mark.django_db
def test_too_large_bodies_and_too_long_urls_are_json(study: Any) -> None:
    api = client()
    limit = 2_621_440  # settings.DATA_UPLOAD_MAX_MEMORY_SIZE, as docs/store.md states it
    body = json.dumps({**SCREENING, "padding": "x" * limit})
    message = refused(send(api, "post", f"{STUDY}/subjects", body), 413)
    assert message == f"body: {len(body)} bytes; expected at most {limit} bytes"
    query = "by=" + "x" * 4100
    url = f"{STUDY}/audit?{query}"
    message = refused(api.get(url), 414)
    assert message == f"URL: {len(url)} bytes (path and query); expected at most 4096"
    assert api.get(f"{STUDY}/audit?by=" + "x" * 3000).status_code == 200
    assert Subject.objects.count() == 0


def test_a_server_error_is_json() -> None:
    """Django's own path for an uncaught exception (DEBUG off) ends in our handler500."""
    request = RequestFactory().get("/api/v1/me")
    try:
        raise RuntimeError("a failure no handler knows")
    except RuntimeError:
        response = handle_uncaught_exception(request, get_resolver(), sys.exc_info())
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content) == {
        "detail": "an unexpected error on the server; a write that failed changed nothing"
    }


# ---------------------------------------------------------------- the five causes of a 500


@pytest.mark.django_db
def test_a_lone_surrogate_is_refused_by_its_place(study: Any, consented_subject: Any) -> None:
    """JSON can carry "\\ud800", which is not a character: PostgreSQL cannot encode it, and
    SQLite's driver neither (it failed in the write as a server error)."""
    code = consented_subject()
    api = client()
    before = writes()
    expected = "a lone surrogate (U+D800), which is not a character; expected text"
    events = f"{STUDY}/subjects/{code}/adverse-events"
    term = json.dumps(ADVERSE_EVENT).replace("Knee effusion", "Knee \\ud800effusion")
    assert refused(send(api, "post", events, term)) == f"body.term: {expected}"
    reason = '{"reason": "moved \\uDFFF away"}'
    assert refused(send(api, "post", f"{STUDY}/subjects/{code}/withdraw", reason)) == (
        "body.reason: a lone surrogate (U+DFFF), which is not a character; expected text"
    )
    name = '{"values": {"height\\ud800": 170}}'
    form = f"{STUDY}/subjects/{code}/visits/SCR/forms/vitals"
    assert (
        refused(send(api, "put", form, name))
        == f"body.values, the name 'height\\ud800': {expected}"
    )
    assert writes() == before
    # A surrogate pair is one character (U+1F600): it is text, stored as such.
    smiling = json.dumps(ADVERSE_EVENT).replace("Knee effusion", "Knee effusion \\ud83d\\ude00")
    stored = send(api, "post", events, smiling)
    assert stored.status_code == 201, stored.content
    assert stored.json()["term"] == "Knee effusion \N{GRINNING FACE}"


@pytest.mark.django_db
def test_an_audit_offset_beyond_64_bits_is_refused(study: Any) -> None:
    api = client("mona")
    expected = f"expected an integer from 0 to {BIGINT_MAX}"
    too_far = 2**64
    assert refused(api.get(f"{STUDY}/audit", {"offset": too_far})) == (
        f"query.offset: {too_far}; {expected}"
    )
    assert refused(api.get(f"{STUDY}/audit", {"offset": BIGINT_MAX + 1})) == (
        f"query.offset: {BIGINT_MAX + 1}; {expected}"
    )
    assert refused(api.get(f"{STUDY}/audit", {"offset": -1})) == f"query.offset: -1; {expected}"
    # The largest offset a database takes is a page past the end, not an error.
    last = api.get(f"{STUDY}/audit", {"offset": BIGINT_MAX})
    assert last.status_code == 200 and last.json()["items"] == []
    assert last.json()["count"] > 0
    unblinded = client("pia").get(f"{STUDY}/allocation-list", {"offset": 2**63})
    assert refused(unblinded).startswith("query.offset: 9223372036854775808;")


@pytest.mark.django_db
def test_a_negative_year_of_birth_that_fits_the_age_is_refused(study: Any) -> None:
    """Born in year -1, aged 2025 on 2024-03-01: the age fits, the column (0 to 32767) did not,
    and the write failed as a server error."""
    api = client()
    before = writes()
    body = {**SCREENING, "year_of_birth": -1, "age": 2025, "screened_on": "2024-03-01"}
    assert refused(send(api, "post", f"{STUDY}/subjects", body)) == (
        "body.year_of_birth: -1; expected a year from 1880 to 2100"
    )
    body = {**SCREENING, "year_of_birth": 40000, "age": 0}
    assert refused(send(api, "post", f"{STUDY}/subjects", body)).startswith(
        "body.year_of_birth: 40000;"
    )
    assert writes() == before
    # The service refuses it too, for the CLI and the other callers.
    with pytest.raises(BadInput, match=r"year_of_birth -1; expected a year from 1880 to 2100"):
        screen_subject(
            study,
            "01",
            year_of_birth=-1,
            age=2025,
            sex="male",
            by="ines",
            screened_on=dt.date(2024, 3, 1),
        )
    assert writes() == before


@pytest.mark.django_db
@pytest.mark.parametrize("edge", EDGE_TIMES)
def test_times_at_the_calendar_s_edges_are_refused(
    study: Any, consented_subject: Any, edge: str
) -> None:
    """0001-01-01T00:00+01:00 is in year 0 in UTC, 9999-12-31T23:59:59-01:00 in year 10000:
    neither can be stored as a UTC time (it failed as a server error)."""
    code = consented_subject()
    api = client()
    events = f"{STUDY}/subjects/{code}/adverse-events"
    first = send(api, "post", events, ADVERSE_EVENT)
    assert first.status_code == 201, first.content
    before = writes()
    new = send(api, "post", events, {**ADVERSE_EVENT, "awareness_at": edge})
    assert refused(new) == f"body.awareness_at: {edge}; {TIME_RANGE}"
    change = {"changes": {"awareness_at": edge}, "reason": "typo"}
    assert refused(send(api, "patch", f"{events}/1", change)) == (
        f"body.changes.awareness_at: {edge}; {TIME_RANGE}"
    )
    report = {"reported_at": edge}
    assert refused(send(api, "post", f"{events}/1/report", report)) == (
        f"body.reported_at: {edge}; {TIME_RANGE}"
    )
    assert writes() == before
    # The service refuses them by name as well.
    moment = dt.datetime.fromisoformat(edge)
    fields = {**ADVERSE_EVENT, "onset_date": dt.date(2024, 4, 10), "awareness_at": moment}
    with pytest.raises(BadInput, match=re.escape(f"awareness_at {edge}; {TIME_RANGE}")):
        report_adverse_event(study, code, by="ines", **fields)
    assert writes() == before


@pytest.mark.django_db
def test_a_deeply_nested_body_is_refused(study: Any, consented_subject: Any) -> None:
    code = consented_subject()
    api = client()
    before = writes()
    form = f"{STUDY}/subjects/{code}/visits/SCR/forms/vitals"
    deep = '{"values": {"height_cm": ' + "[" * 100_000 + "]" * 100_000 + "}}"
    expected = "body: nested deeper than 32 levels; expected at most that many"
    assert refused(send(api, "put", form, deep)) == expected
    assert refused(send(api, "post", f"{STUDY}/subjects", "[" * 100_000)) == expected
    # 32 levels are not refused for their depth (the form's item is what is wrong here).
    levels_32 = '{"values": {"height_cm": ' + "[" * 30 + "]" * 30 + "}}"
    answer = refused(send(api, "put", form, levels_32))
    assert "nested" not in answer and "height_cm" in answer
    assert writes() == before
    # Brackets inside text are text, not depth.
    withdrawn = send(api, "post", f"{STUDY}/subjects/{code}/withdraw", {"reason": "[" * 500})
    assert withdrawn.status_code == 200, withdrawn.content


# ---------------------------------------------------------------- the OpenAPI document


def _operations(document: dict) -> list[tuple[str, str, dict]]:
    return [
        (method, path, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]


def _property(document: dict, schema: str, name: str) -> dict:
    return document["components"]["schemas"][schema]["properties"][name]


@pytest.mark.django_db
def test_openapi_declares_every_answer_and_the_coded_values(study: Any) -> None:
    document = Client().get("/api/v1/openapi.json").json()
    operations = _operations(document)
    assert len(operations) >= 30
    for method, path, operation in operations:
        answers = set(operation["responses"])
        expected = {"400", "401", "414", "500"}
        if "requestBody" in operation:
            expected.add("413")
        if "{study}" in path:
            expected.add("404")
        assert expected <= answers, (method, path, sorted(answers))
        if method != "get":
            assert {"403", "409"} <= answers, (method, path, sorted(answers))
        for code in answers - {"200", "201"}:
            content = operation["responses"][code]["content"]
            assert content == {
                "application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}
            }, (method, path, code)
    # The vocabularies, as published: WHO-UMC causality, CDISC AEACN/AEOUT, ICH E2A.
    relatedness = ["not_related", "unlikely", "possible", "probable", "certain"]
    action = ["dose_not_changed", "drug_withdrawn", "drug_interrupted", "not_applicable", "unknown"]
    outcome = [
        "recovered",
        "recovering",
        "not_recovered",
        "recovered_with_sequelae",
        "fatal",
        "unknown",
    ]
    seriousness = [
        "death",
        "life_threatening",
        "hospitalization",
        "disability",
        "congenital_anomaly",
        "medically_important",
    ]
    for schema in ("AdverseEventIn", "AdverseEventOut"):
        assert _property(document, schema, "relatedness")["enum"] == relatedness
        assert _property(document, schema, "action_taken")["enum"] == action
        assert _property(document, schema, "outcome")["enum"] == outcome
        assert _property(document, schema, "seriousness")["items"]["enum"] == seriousness
        grade = _property(document, schema, "ctcae_grade")
        assert (grade["minimum"], grade["maximum"]) == (1, 5)
    assert _property(document, "ScreeningIn", "sex")["enum"] == ["female", "male"]
    assert _property(document, "SubjectOut", "sex")["enum"] == ["female", "male"]
    year = _property(document, "ScreeningIn", "year_of_birth")
    assert (year["minimum"], year["maximum"]) == (1880, 2100)
    assert set(_property(document, "RoleOut", "role")["enum"]) == set(ROLES)
    assert set(_property(document, "VisitOut", "status")["enum"]) == {
        "scheduled",
        "due",
        "overdue",
        "done",
        "missed",
    }
    assert set(_property(document, "SubjectSummaryOut", "status")["enum"]) == {
        "screened",
        "screen_failed",
        "consented",
        "eligible",
        "randomized",
        "treated",
        "in_follow_up",
        "completed",
        "withdrawn",
        "lost_to_follow_up",
    }
    kind = _property(document, "DeviationIn", "kind")
    assert kind["pattern"] == "^[a-z][a-z0-9_]{0,39}$" and kind["maxLength"] == 40
    for schema, name in [("ReasonIn", "reason"), ("AdverseEventChangeIn", "reason")]:
        reason = _property(document, schema, name)
        assert reason["minLength"] == 1 and reason["pattern"] == r"\S"
    offset = next(
        parameter
        for parameter in document["paths"]["/api/v1/studies/{study}/audit"]["get"]["parameters"]
        if parameter["name"] == "offset"
    )
    assert (offset["schema"]["minimum"], offset["schema"]["maximum"]) == (0, BIGINT_MAX)


@pytest.mark.django_db
def test_numbers_and_booleans_are_json_ones(study: Any, consented_subject: Any) -> None:
    """What the document declares an integer or a boolean is not taken as 63.0, "63" or 1."""
    code = consented_subject()
    api = client()
    before = writes()
    age = send(api, "post", f"{STUDY}/subjects", {**SCREENING, "age": 63.0})
    assert refused(age).startswith("body.age: Input should be a valid integer")
    year = send(api, "post", f"{STUDY}/subjects", {**SCREENING, "year_of_birth": "1960"})
    assert refused(year).startswith("body.year_of_birth: Input should be a valid integer")
    attested = {"attestations": {"I1": 1, "E2": 0}}
    answer = send(api, "post", f"{STUDY}/subjects/{code}/eligibility", attested)
    assert refused(answer).startswith("body.attestations.I1: Input should be a valid boolean")
    assert writes() == before
