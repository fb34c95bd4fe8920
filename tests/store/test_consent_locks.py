"""Recording consent passes through what every change to a subject's data passes through
(services/record_changes.py), on SQLite and PostgreSQL: a locked casebook refuses a consent,
and the protocol's edit checks run again on it (EC1, a visit dated before consent).

Through the services a visit is never recorded before consent ("no visits before consent"),
so the visit the consent comes after is planted in the table, as a store written by an import
or an older version could hold it: without the checks on consent, the subject would carry a
visit dated before consent and no query about it until the next save.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client

from trialdesk.store.errors import RecordLocked
from trialdesk.store.models import AuditEvent, Consent, Query, Subject, Visit
from trialdesk.store.services import record_consent, screen_subject, withdraw_subject
from trialdesk.store.services.locks import lock_record, unlock_record
from trialdesk.store.services.tokens import create_token

from .conftest import OPERATOR
from .test_queries import study_with_edit_checks

SCREENED_ON = dt.date(2024, 3, 1)


@pytest.fixture
def study(django_db_setup: str) -> Any:
    return study_with_edit_checks()


def screened(study: Any) -> str:
    return screen_subject(
        study,
        "01",
        year_of_birth=1960,
        age=63,
        sex="female",
        by="colin",
        screened_on=SCREENED_ON,
    ).code


def consent(study: Any, code: str, on: dt.date) -> Consent:
    return record_consent(study, code, consented_on=on, consent_version="2.0", by="colin")


@pytest.mark.django_db
def test_a_locked_casebook_refuses_a_consent_and_takes_it_once_unlocked(study: Any) -> None:
    code = screened(study)
    lock_record(study, code, level="casebook", by="dora", reason="data review")
    events = AuditEvent.objects.count()
    with pytest.raises(RecordLocked) as refused:
        consent(study, code, dt.date(2024, 3, 2))
    assert f"the casebook of subject {code} is locked since" in str(refused.value)
    assert "a data manager unlocks it with a reason" in str(refused.value)
    assert AuditEvent.objects.count() == events
    assert not Consent.objects.filter(subject__code=code).exists()
    assert Subject.objects.get(code=code).status == "screened"
    # The API answers the refusal 409 with the same words, and writes nothing either.
    client = Client(headers={"Authorization": f"Bearer {create_token('colin', OPERATOR)}"})
    events = AuditEvent.objects.count()  # with the token's creation
    answer = client.post(
        f"/api/v1/studies/KNEE-TEST/subjects/{code}/consent",
        json.dumps({"consented_on": "2024-03-02", "consent_version": "2.0"}),
        content_type="application/json",
    )
    assert answer.status_code == 409, answer.content
    assert f"the casebook of subject {code} is locked" in answer.json()["detail"]
    assert AuditEvent.objects.count() == events
    unlock_record(study, code, level="casebook", by="dora", reason="consent form found")
    consent(study, code, dt.date(2024, 3, 2))
    assert Subject.objects.get(code=code).status == "consented"


@pytest.mark.django_db
def test_a_visit_or_form_lock_does_not_hold_up_a_consent(study: Any) -> None:
    """A consent is of the subject, not of a visit: only the casebook's lock covers it."""
    code = screened(study)
    Visit.objects.create(subject=Subject.objects.get(code=code), visit_id="SCR")
    lock_record(study, code, level="visit", visit_id="SCR", by="dora")
    consent(study, code, dt.date(2024, 3, 2))
    assert Subject.objects.get(code=code).status == "consented"


@pytest.mark.django_db
def test_recording_consent_runs_the_edit_checks(study: Any) -> None:
    """A visit on 2024-03-02 and consent on 2024-03-05: EC1 raises a query on the visit at
    the consent; consent on the visit's own day is no finding (the rule is "before")."""
    late, same_day = screened(study), screened(study)
    for code in (late, same_day):
        Visit.objects.create(
            subject=Subject.objects.get(code=code),
            visit_id="SCR",
            status="done",
            actual_date=dt.date(2024, 3, 2),
        )
    consent(study, late, dt.date(2024, 3, 5))
    consent(study, same_day, dt.date(2024, 3, 2))
    [query] = Query.objects.filter(subject__code=late)
    assert (query.origin, query.rule, query.visit_id, query.status) == (
        "rule",
        "EC1",
        "SCR",
        "open",
    )
    assert query.messages.get().text == (
        "SCR dated 2024-03-02, before consent on 2024-03-05. Visit before consent."
    )
    # Raised in the consent's own audited write: the same user and moment.
    recorded = AuditEvent.objects.filter(action="consent.recorded", subject=late)
    raised = AuditEvent.objects.filter(action="query.raised", object_type="Query")
    assert set(raised.values_list("object_id", "by", "at")) == {
        (str(query.pk), "colin", at) for at in recorded.values_list("at", flat=True)
    }
    assert not Query.objects.filter(subject__code=same_day).exists()


@pytest.mark.django_db
def test_a_locked_casebook_refuses_a_status_step(study: Any) -> None:
    """A withdrawal changes the subject's status, which the casebook holds: refused while it
    is locked (nothing written), taken once it is unlocked."""
    code = screened(study)
    consent(study, code, dt.date(2024, 3, 2))
    lock_record(study, code, level="casebook", by="dora", reason="data review")
    events = AuditEvent.objects.count()
    with pytest.raises(RecordLocked):
        withdraw_subject(study, code, "Moved abroad", by="colin")
    assert AuditEvent.objects.count() == events
    assert Subject.objects.get(code=code).status != "withdrawn"
    unlock_record(study, code, level="casebook", by="dora", reason="query answered")
    assert withdraw_subject(study, code, "Moved abroad", by="colin").status == "withdrawn"
