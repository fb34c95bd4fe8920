"""Queries through the REST API, on SQLite and PostgreSQL: raise, answer and close a query; an
automatic query from an edit check on a form saved through the API, closed when the value is
corrected; lists, filters and counts by the reader's sites; bulk close; bad input answered
400/403/404/409 with the place, never 500.

The study and its edit checks are those of tests/store/test_queries.py (KNEE-TEST with vitals
at W12; EC2: weight change over 10% between visits; screening weight 70 kg).
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import make_eligible
from .test_api import Api, detail
from .test_queries import VITALS, W12, study_with_edit_checks, treated

BASE = "/api/v1/studies/KNEE-TEST"


@pytest.fixture
def study(django_db_setup: str) -> Any:
    return study_with_edit_checks()


def on_weight(text: str = "Weight 70 kg? Please check the source.") -> dict:
    return {"text": text, "visit_id": "SCR", "form": "vitals", "item": "weight_kg"}


@pytest.mark.django_db
def test_raise_answer_and_close_a_query(study: Any) -> None:
    code = make_eligible(study)
    monitor, coordinator = Api("mona"), Api("colin")
    raised = monitor.post(f"{BASE}/subjects/{code}/queries", on_weight())
    assert raised.status_code == 201, raised.content
    body = raised.json()
    assert (body["number"], body["status"], body["origin"], body["opened_by"]) == (
        1,
        "open",
        "manual",
        "mona",
    )
    assert [m["action"] for m in body["messages"]] == ["opened"]

    path = f"{BASE}/subjects/{code}/queries/1"
    answered = coordinator.post(path + "/answer", {"text": "Source: 70.0 kg on 2024-03-01."})
    assert answered.status_code == 200 and answered.json()["status"] == "answered"
    commented = monitor.post(path + "/comment", {"text": "Which scale?"})
    assert commented.json()["status"] == "answered"
    closed = monitor.post(path + "/close", {"text": "Confirmed against the source."})
    assert closed.status_code == 200
    assert closed.json()["status"] == "closed" and closed.json()["closed_at"] is not None
    thread = coordinator.get(path).json()["messages"]
    assert [(m["action"], m["by"]) for m in thread] == [
        ("opened", "mona"),
        ("answered", "colin"),
        ("commented", "mona"),
        ("closed", "mona"),
    ]
    reopened = monitor.post(path + "/reopen", {"text": "The scale was not calibrated."})
    assert reopened.json()["status"] == "open"


@pytest.mark.django_db
def test_an_automatic_query_from_a_rule_on_a_form_saved_through_the_api(study: Any) -> None:
    code = treated(study)
    coordinator, monitor = Api("colin"), Api("mona")
    visit = f"{BASE}/subjects/{code}/visits/W12"
    assert coordinator.post(visit, {"visit_date": W12.isoformat()}).status_code == 200
    saved = coordinator.send(
        "put", visit + "/forms/vitals", {"values": {**VITALS, "weight_kg": 60}}
    )
    assert saved.status_code == 200, saved.content
    listed = monitor.get(f"{BASE}/queries", status="open").json()
    [query] = listed["queries"]
    assert (query["origin"], query["rule"], query["opened_by"], query["visit_id"]) == (
        "rule",
        "EC2",
        None,
        "W12",
    )
    assert query["question"].startswith("W12 weight 60 kg vs SCR 70 kg: -14.3%")
    assert listed["counts"]["total"] == {"open": 1, "answered": 0, "closed": 0}

    path = f"{BASE}/subjects/{code}/queries/{query['number']}"
    coordinator.post(path + "/answer", {"text": "Typing error; corrected to 68 kg."})
    corrected = coordinator.send(
        "put", visit + "/forms/vitals", {"values": {**VITALS, "weight_kg": 68}, "reason": "typo"}
    )
    assert corrected.status_code == 200
    after = monitor.get(path).json()
    assert after["status"] == "closed"
    assert [(m["action"], m["by"]) for m in after["messages"]] == [
        ("opened", None),
        ("answered", "colin"),
        ("closed", None),
    ]


@pytest.mark.django_db
def test_lists_are_filtered_and_scoped_to_the_readers_sites(study: Any) -> None:
    north, south = make_eligible(study), make_eligible(study, "02")
    monitor = Api("mona")
    monitor.post(f"{BASE}/subjects/{north}/queries", on_weight())
    monitor.post(f"{BASE}/subjects/{south}/queries", {"text": "Visit date?", "visit_id": "SCR"})
    everything = monitor.get(f"{BASE}/queries").json()
    assert [(q["subject"], q["site"]) for q in everything["queries"]] == [
        (south, "02"),
        (north, "01"),
    ]
    assert everything["counts"]["by_site"] == {
        "01": {"open": 1, "answered": 0, "closed": 0},
        "02": {"open": 1, "answered": 0, "closed": 0},
    }
    assert everything["counts"]["by_form"] == {"vitals": {"open": 1, "answered": 0, "closed": 0}}
    only_vitals = monitor.get(f"{BASE}/queries", form="vitals").json()["queries"]
    assert [q["subject"] for q in only_vitals] == [north]
    site_02 = Api("cleo").get(f"{BASE}/queries").json()
    assert [q["subject"] for q in site_02["queries"]] == [south]
    assert site_02["counts"]["total"]["open"] == 1
    # Another site's query is not found, as its subject is not.
    hidden = Api("cleo").get(f"{BASE}/subjects/{north}/queries/1")
    assert hidden.status_code == 404


@pytest.mark.django_db
def test_bulk_close_all_or_nothing(study: Any) -> None:
    first, second = make_eligible(study), make_eligible(study)
    manager = Api("dora")
    for code in (first, second):
        manager.post(f"{BASE}/subjects/{code}/queries", on_weight())
    refs = [{"subject": first, "number": 1}, {"subject": second, "number": 1}]
    missing = manager.post(
        f"{BASE}/queries/close", {"queries": [*refs, {"subject": first, "number": 2}], "text": "x"}
    )
    assert missing.status_code == 404 and "no query Q2" in detail(missing)
    assert [q["status"] for q in manager.get(f"{BASE}/queries").json()["queries"]] == ["open"] * 2
    closed = manager.post(f"{BASE}/queries/close", {"queries": refs, "text": "Reviewed."})
    assert closed.status_code == 200
    assert [q["status"] for q in closed.json()] == ["closed", "closed"]


@pytest.mark.django_db
def test_bad_requests_are_answered_with_the_place_never_500(study: Any) -> None:
    code = make_eligible(study)
    monitor, coordinator = Api("mona"), Api("colin")
    queries = f"{BASE}/subjects/{code}/queries"
    monitor.post(queries, on_weight())
    too_large = {"queries": [{"subject": code, "number": 2**40}], "text": "x"}
    cases = [
        (monitor.post(queries, {**on_weight(), "item": "weight"}), 400, "no item 'weight'"),
        (monitor.post(queries, {"text": "x", "visit_id": "W99"}), 400, "no visit 'W99'"),
        (monitor.post(queries, {"text": "   "}), 400, "the message text is required"),
        (monitor.post(queries, {"text": "x" * 2001}), 400, "2001 characters; at most 2000"),
        (monitor.post(queries, {"text": "x", "colour": "red"}), 400, "body.colour"),
        (coordinator.post(queries, on_weight()), 403, "may not raise and close queries"),
        (monitor.post(f"{queries}/1/answer", {"text": "x"}), 403, "may not answer queries"),
        (coordinator.post(f"{queries}/9/answer", {"text": "x"}), 404, "no query Q9"),
        (coordinator.post(f"{queries}/0/answer", {"text": "x"}), 404, "no query Q0"),
        (coordinator.get(f"{queries}/{2**70}"), 404, f"no query Q{2**70}"),
        (monitor.post(f"{BASE}/subjects/01-999/queries", on_weight()), 404, "no subject"),
        (monitor.get(f"{BASE}/queries", status="pending"), 400, "query.status: Input should be"),
        (monitor.post(f"{BASE}/queries/close", {"queries": [], "text": "x"}), 400, "queries"),
        (monitor.post(f"{BASE}/queries/close", too_large), 400, "body.queries.0.number"),
        (monitor.post(f"{queries}/1/reopen", {"text": "x"}), 409, "Q1 is open"),
    ]
    for response, status, words in cases:
        assert response.status_code == status, (response.status_code, response.content)
        assert words in detail(response), detail(response)
    assert [q["number"] for q in monitor.get(f"{BASE}/queries").json()["queries"]] == [1]
