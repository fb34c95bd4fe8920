"""GET /studies/{study}/subjects: the filters `site`, `status`, `q` and the paging `limit`,
`offset`, on KNEE-TEST (tests/store/protocols) with subjects made here in known states.

The answer stays a JSON list (as before the filters); `X-Total-Count` gives the number of
subjects the filters match before paging.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from trialdesk.store.services import screen_subject

from .conftest import screen_and_consent
from .test_api import STUDY, Api, detail

LIST = f"{STUDY}/subjects"


def screened(study: Any, site: str) -> str:
    return screen_subject(
        study,
        site,
        year_of_birth=1960,
        age=63,
        sex="female",
        by="ines",
        screened_on=dt.date(2024, 3, 1),
    ).code


@pytest.fixture
def subjects(study: Any, eligible_subject: Any) -> dict[str, str]:
    """Six subjects: at 01 three (consented, screened, eligible), at 02 three likewise.
    Codes are given per site in order: 01-001, 01-002, 01-003, 02-001, ..."""
    made = {}
    for site in ("01", "02"):
        made[screen_and_consent(study, site)] = "consented"
        made[screened(study, site)] = "screened"
        made[eligible_subject(site)] = "eligible"
    return made


def codes(response: Any) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["code"] for row in response.json()]


@pytest.mark.django_db
def test_without_parameters_every_readable_subject_is_listed_as_before(subjects: dict) -> None:
    response = Api("mona").get(LIST)
    assert codes(response) == ["01-001", "01-002", "01-003", "02-001", "02-002", "02-003"]
    assert response["X-Total-Count"] == "6"
    assert response.json()[0] == {
        "code": "01-001",
        "site": "01",
        "status": "consented",
        "randomization_number": None,
    }
    colin = Api("colin").get(LIST)  # coordinator at site 01 only
    assert codes(colin) == ["01-001", "01-002", "01-003"]
    assert colin["X-Total-Count"] == "3"


@pytest.mark.django_db
def test_filters_narrow_the_list(subjects: dict) -> None:
    mona = Api("mona")
    assert codes(mona.get(LIST, site="02")) == ["02-001", "02-002", "02-003"]
    assert codes(mona.get(LIST, status="screened")) == ["01-002", "02-002"]
    assert codes(mona.get(LIST, status="eligible", site="01")) == ["01-003"]
    assert codes(mona.get(LIST, q="-003")) == ["01-003", "02-003"]
    assert codes(mona.get(LIST, q="02-00", status="consented")) == ["02-001"]
    response = mona.get(LIST, status="withdrawn")
    assert codes(response) == [] and response["X-Total-Count"] == "0"
    # A site the user does not read, or that the study does not have: nothing, not an error.
    assert codes(Api("colin").get(LIST, site="02")) == []
    assert codes(mona.get(LIST, site="99")) == []


@pytest.mark.django_db
def test_limit_and_offset_page_the_list_and_the_header_counts_all(subjects: dict) -> None:
    mona = Api("mona")
    page = mona.get(LIST, limit=2, offset=1)
    assert codes(page) == ["01-002", "01-003"]
    assert page["X-Total-Count"] == "6"
    assert codes(mona.get(LIST, limit=2, offset=4)) == ["02-002", "02-003"]
    assert codes(mona.get(LIST, limit=2, offset=6)) == []
    assert codes(mona.get(LIST, offset=5)) == ["02-003"]
    filtered = mona.get(LIST, site="02", limit=1, offset=1)
    assert codes(filtered) == ["02-002"] and filtered["X-Total-Count"] == "3"
    # The largest offset a database takes is past the end, not an error.
    assert codes(mona.get(LIST, offset=2**63 - 1, limit=1000)) == []


@pytest.mark.django_db
def test_bad_filters_and_pages_are_refused_naming_the_parameter(study: Any) -> None:
    mona = Api("mona")
    for params, place in [
        ({"status": "gone"}, "query.status"),
        ({"limit": 0}, "query.limit"),
        ({"limit": 1001}, "query.limit"),
        ({"limit": "many"}, "query.limit"),
        ({"offset": -1}, "query.offset"),
        ({"offset": 2**63}, "query.offset"),
        ({"q": "x" * 101}, "query.q"),
    ]:
        response = mona.get(LIST, **params)
        assert response.status_code == 400, params
        assert detail(response).startswith(f"{place}: "), detail(response)


@pytest.mark.django_db
def test_the_document_declares_the_parameters(study: Any) -> None:
    from django.test import Client

    document = Client().get("/api/v1/openapi.json").json()
    operation = document["paths"]["/api/v1/studies/{study}/subjects"]["get"]
    parameters = {parameter["name"]: parameter for parameter in operation["parameters"]}
    assert set(parameters) == {"study", "version", "site", "status", "q", "limit", "offset"}
    status = parameters["status"]["schema"]["anyOf"][0]["$ref"].rsplit("/", 1)[1]
    # every status of the subject lifecycle (docs/store.md), by hand
    assert set(document["components"]["schemas"][status]["enum"]) == {
        "screened", "screen_failed", "consented", "eligible", "randomized", "treated",
        "in_follow_up", "completed", "withdrawn", "lost_to_follow_up",
    }  # fmt: skip
    limit = parameters["limit"]["schema"]["anyOf"][0]
    assert (limit["minimum"], limit["maximum"]) == (1, 1000)
    assert "X-Total-Count" in operation["description"]
