"""The work queues (store/work_queues.py) and their API, on SQLite and PostgreSQL.

KNEE-TEST (tests/store/protocols/KNEE-TEST.yaml) with day 0 = 2024-03-10, read on TODAY =
2024-04-10 (the windows by hand in tests/store/test_matrix.py): D0 is day 0 alone and
collects womac (24 items: WOMAC_ALL_ONES); W3 (03-28..04-03) womac. The protocol has no
`sdv_plan`, so every saved item of every complete form is to be verified (100% SDV).

The queries, signatures and verifications of these situations are written as rows here: the
queue only reads them, and the services that write them are tested in their own files.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from trialdesk.store.access import access_for
from trialdesk.store.audit import canonical_json
from trialdesk.store.models import (
    FormRecord,
    ItemVerification,
    LockLevel,
    Query,
    QueryMessage,
    RecordLock,
    Signature,
    StudyUser,
    Subject,
)
from trialdesk.store.services import (
    add_user,
    randomize_subject,
    record_administration,
    record_visit,
    report_adverse_event,
    save_form,
    withdraw_subject,
)
from trialdesk.store.work_queues import Section, sections_for, work_queue

from .conftest import OPERATOR, WOMAC_ALL_ONES, screen_and_consent

DAY0 = dt.date(2024, 3, 10)
TODAY = dt.date(2024, 4, 10)
NOW = dt.datetime(2024, 4, 10, 12, 0, tzinfo=dt.UTC)
AT = dt.datetime(2024, 4, 1, 9, 0, tzinfo=dt.UTC)
SAE = {
    "term": "Septic arthritis",
    "onset_date": dt.date(2024, 4, 7),
    "ctcae_grade": 3,
    "seriousness": ["hospitalization"],
    "relatedness": "possible",
    "expected": False,
    "action_taken": "dose_not_changed",
    "outcome": "recovering",
}
S = Section


def access(study: Any, username: str) -> Any:
    return access_for(study, StudyUser.objects.get(username=username))


def treated_with_d0(study: Any, eligible_subject: Any, site: str = "01") -> str:
    """Randomized, treated and seen on DAY0 (D0 done) with D0's womac complete."""
    code = eligible_subject(site)
    randomize_subject(study, code, "ines")
    record_administration(study, code, "C1", DAY0, "pia")
    record_visit(study, code, "D0", DAY0, "ada")
    save_form(study, code, "D0", "womac", WOMAC_ALL_ONES, "ada", complete=True)
    return code


def sign(code: str, visit_id: str = "", at: dt.datetime = AT) -> Signature:
    subject = Subject.objects.get(code=code)
    return Signature.objects.create(
        subject=subject,
        visit_id=visit_id,
        signer=StudyUser.objects.get(username="ines"),
        printed_name="Ines Investigator",
        meaning="I approve the data of this casebook",
        signed_at=at,
        content_sha256="0" * 64,
    )


def verify_all(code: str, visit_id: str, form: str) -> None:
    record = FormRecord.objects.get(subject__code=code, visit__visit_id=visit_id, form=form)
    for item, value in record.values.items():
        ItemVerification.objects.create(
            record=record,
            subject=record.subject,
            item=item,
            value=canonical_json(value),
            verified_by=StudyUser.objects.get(username="mona"),
            verified_at=AT,
        )


def raise_query(code: str, status: str, opened: dt.datetime, **where: str) -> Query:
    subject = Subject.objects.get(code=code)
    number = Query.objects.filter(subject=subject).count() + 1
    query = Query.objects.create(
        subject=subject,
        number=number,
        status=status,
        origin="manual",
        opened_by=StudyUser.objects.get(username="mona"),
        opened_at=opened,
        **where,
    )
    QueryMessage.objects.create(
        query=query, subject=subject, action="opened", text="Source says 2", at=opened
    )
    if status == "answered":
        QueryMessage.objects.create(
            query=query,
            subject=subject,
            action="answered",
            text="Corrected",
            by=StudyUser.objects.get(username="colin"),
            at=opened + dt.timedelta(days=1),
        )
    return query


def entries(queue: Any, section: Section) -> list[tuple[str, str]]:
    return [(item.code, item.visit_id) for item in queue.sections[section].items]


@pytest.fixture
def people(study: Any) -> None:
    add_user(study, "dana", "data_manager", OPERATOR)
    add_user(study, "moss", "monitor", OPERATOR, "02")


@pytest.mark.django_db
def test_sections_follow_the_roles(study: Any, people: None) -> None:
    assert sections_for(access(study, "colin")) == [
        S.OPEN_QUERIES,
        S.OVERDUE_VISITS,
        S.FORMS_DUE,
        S.SAE_REPORTS_OVERDUE,
        S.SAE_REPORTS_DUE,
    ]
    assert sections_for(access(study, "ines")) == [
        S.NEEDS_SIGNATURE,
        S.OPEN_QUERIES,
        S.OVERDUE_VISITS,
        S.FORMS_DUE,
        S.SAE_REPORTS_OVERDUE,
        S.SAE_REPORTS_DUE,
    ]
    assert sections_for(access(study, "ada")) == [S.OPEN_QUERIES, S.OVERDUE_VISITS, S.FORMS_DUE]
    assert sections_for(access(study, "mona")) == [
        S.ANSWERED_QUERIES,
        S.NEEDS_SDV,
        S.OVERDUE_VISITS,
        S.FORMS_DUE,
        S.SAE_REPORTS_OVERDUE,
        S.SAE_REPORTS_DUE,
    ]
    assert sections_for(access(study, "dana")) == [
        S.ANSWERED_QUERIES,
        S.OVERDUE_VISITS,
        S.FORMS_DUE,
        S.READY_TO_LOCK,
        S.SAE_REPORTS_OVERDUE,
        S.SAE_REPORTS_DUE,
    ]
    # The pharmacist has nothing in a queue.
    assert sections_for(access(study, "pia")) == []
    assert work_queue(access(study, "pia"), TODAY, NOW).sections == {}


@pytest.fixture
def trial(study: Any, eligible_subject: Any, people: None) -> dict[str, str]:
    """Subjects in the situations each section is about (see the tests)."""
    signed = treated_with_d0(study, eligible_subject)  # D0 signed, verified: ready to lock
    sign(signed, "D0")
    verify_all(signed, "D0", "womac")
    broken = treated_with_d0(study, eligible_subject)  # D0 signed, then a value changed
    sign(broken, "D0")
    changed = {**WOMAC_ALL_ONES, "P1": 2}
    save_form(study, broken, "D0", "womac", changed, "ada", reason="Source says 2")
    queried = treated_with_d0(study, eligible_subject)  # signed, verified, an open query
    sign(queried, "D0")
    verify_all(queried, "D0", "womac")
    raise_query(queried, "open", AT, visit_id="D0", form="womac", item="P1")
    unverified = treated_with_d0(study, eligible_subject)  # signed, not verified
    sign(unverified, "D0")
    elsewhere = treated_with_d0(study, eligible_subject, "02")  # site 02, nothing signed
    raise_query(elsewhere, "answered", AT - dt.timedelta(days=3), visit_id="D0", form="womac")
    gone = eligible_subject()  # randomized, then withdrawn: the casebook to sign
    randomize_subject(study, gone, "ines")
    withdraw_subject(study, gone, "moved away", "colin")
    # Withdrawn before randomization: the database lock needs no casebook signature.
    withdraw_subject(study, screen_and_consent(study, "01"), "changed her mind", "colin")
    closed_book = treated_with_d0(study, eligible_subject)  # casebook signed and verified
    for form in ("screening_history", "vitals", "kl_grade", "womac"):
        verify_all(closed_book, "D0" if form == "womac" else "SCR", form)
    sign(closed_book, "", AT + dt.timedelta(hours=1))
    aware = dt.datetime(2024, 4, 8, 8, 0, tzinfo=dt.UTC)  # report due 04-09 08:00: overdue
    report_adverse_event(study, signed, by="colin", awareness_at=aware, **SAE)
    return {
        "signed": signed,
        "broken": broken,
        "queried": queried,
        "unverified": unverified,
        "elsewhere": elsewhere,
        "gone": gone,
        "closed_book": closed_book,
    }


@pytest.mark.django_db
def test_needs_signature(study: Any, trial: dict[str, str]) -> None:
    queue = work_queue(access(study, "ines"), TODAY, NOW)
    section = queue.sections[S.NEEDS_SIGNATURE]
    # The broken signature first; then the complete D0 visits nobody signed (elsewhere's,
    # dated DAY0), then the withdrawn subject's casebook. D0 signed validly, or covered by a
    # valid casebook signature (closed_book), is not listed.
    assert entries(queue, S.NEEDS_SIGNATURE) == [
        (trial["broken"], "D0"),
        (trial["elsewhere"], "D0"),
        (trial["gone"], ""),
    ]
    assert section.count == 3
    first = section.items[0]
    assert first.broken_at is not None and first.label == "Baseline and treatment cycle 1"
    assert section.items[1].broken_at is None
    # A site's investigator sees their site only; ?site= narrows a study-wide one.
    add_user(study, "ivo", "investigator", OPERATOR, "02")
    assert entries(work_queue(access(study, "ivo"), TODAY, NOW), S.NEEDS_SIGNATURE) == [
        (trial["elsewhere"], "D0")
    ]
    narrowed = work_queue(access(study, "ines"), TODAY, NOW, site="01")
    assert narrowed.sections[S.NEEDS_SIGNATURE].count == 2


@pytest.mark.django_db
def test_open_and_answered_queries(study: Any, trial: dict[str, str]) -> None:
    colin = work_queue(access(study, "colin"), TODAY, NOW)
    assert entries(colin, S.OPEN_QUERIES) == [(trial["queried"], "D0")]
    # An open query on a visit holds its signature back: the site answers first.
    Signature.objects.filter(subject__code=trial["queried"]).delete()
    signing = entries(work_queue(access(study, "ines"), TODAY, NOW), S.NEEDS_SIGNATURE)
    assert (trial["queried"], "D0") not in signing
    item = colin.sections[S.OPEN_QUERIES].items[0]
    assert (item.number, item.form, item.item, item.waiting_since, item.question) == (
        1,
        "womac",
        "P1",
        AT,
        "Source says 2",
    )
    mona = work_queue(access(study, "mona"), TODAY, NOW)
    assert entries(mona, S.ANSWERED_QUERIES) == [(trial["elsewhere"], "D0")]
    # Waiting since the answer, a day after it was opened.
    answered = mona.sections[S.ANSWERED_QUERIES].items[0]
    assert answered.waiting_since == AT - dt.timedelta(days=2)
    # Site 01's coordinator does not see site 02's query; a closed query is in no queue.
    assert work_queue(access(study, "colin"), TODAY, NOW).sections[S.OPEN_QUERIES].count == 1
    Query.objects.filter(subject__code=trial["elsewhere"]).update(status="closed")
    assert work_queue(access(study, "mona"), TODAY, NOW).sections[S.ANSWERED_QUERIES].count == 0


@pytest.mark.django_db
def test_needs_sdv(study: Any, trial: dict[str, str]) -> None:
    queue = work_queue(access(study, "mona"), TODAY, NOW)
    found = queue.sections[S.NEEDS_SDV]
    # Every saved form is verified in full (no sdv_plan). Not verified: the D0 womac of
    # broken, unverified and elsewhere (24 items each), and the 3 screening forms of the 7
    # eligible subjects but closed_book, whose screening is verified: 18 + 3.
    assert found.count == 21
    d0 = {(i.code, i.form, i.unverified, i.reset) for i in found.items if i.visit_id == "D0"}
    assert d0 == {
        (trial["broken"], "womac", 24, 0),
        (trial["unverified"], "womac", 24, 0),
        (trial["elsewhere"], "womac", 24, 0),
    }
    # A change to a verified value resets that item's verification: one item to verify
    # again, listed first.
    save_form(
        study,
        trial["signed"],
        "D0",
        "womac",
        {**WOMAC_ALL_ONES, "S1": 3},
        "ada",
        reason="Transcription error",
    )
    first = work_queue(access(study, "mona"), TODAY, NOW).sections[S.NEEDS_SDV].items[0]
    assert (first.code, first.visit_id, first.unverified, first.reset) == (
        trial["signed"],
        "D0",
        1,
        1,
    )
    # The monitor of site 02 only: elsewhere's screening forms and D0.
    moss = work_queue(access(study, "moss"), TODAY, NOW).sections[S.NEEDS_SDV]
    assert {item.code for item in moss.items} == {trial["elsewhere"]} and moss.count == 4


@pytest.mark.django_db
def test_ready_to_lock(study: Any, trial: dict[str, str]) -> None:
    queue = work_queue(access(study, "dana"), TODAY, NOW)
    # signed's D0 (signed, verified, no query), closed_book's D0 (covered by the casebook's
    # signature) and closed_book's casebook. Not: broken (its signature broken), queried (an
    # open query), unverified (SDV not done), elsewhere (unsigned), gone (no signature).
    assert entries(queue, S.READY_TO_LOCK) == [
        (trial["signed"], "D0"),
        (trial["closed_book"], "D0"),
        (trial["closed_book"], ""),
    ]
    # Locked records are done: a visit lock and a casebook lock take them off.
    dana = StudyUser.objects.get(username="dana")
    for code, level, visit_id in [
        (trial["signed"], LockLevel.VISIT, "D0"),
        (trial["closed_book"], LockLevel.CASEBOOK, ""),
    ]:
        RecordLock.objects.create(
            subject=Subject.objects.get(code=code),
            level=level,
            visit_id=visit_id,
            locked_by=dana,
            locked_at=NOW,
        )
    assert work_queue(access(study, "dana"), TODAY, NOW).sections[S.READY_TO_LOCK].count == 0
    # Unlocked again: ready again.
    RecordLock.objects.update(unlocked_at=NOW, unlocked_by=dana, unlock_reason="Query")
    assert work_queue(access(study, "dana"), TODAY, NOW).sections[S.READY_TO_LOCK].count == 3


@pytest.mark.django_db
def test_visits_and_sae_reports_come_from_the_work_list(study: Any, trial: dict[str, str]) -> None:
    queue = work_queue(access(study, "colin"), TODAY, NOW)
    # Every treated subject's W3 (window 03-28..04-03) is overdue: five at site 01.
    assert queue.sections[S.OVERDUE_VISITS].count == 5
    assert {visit for _, visit in entries(queue, S.OVERDUE_VISITS)} == {"W3"}
    assert [e.subject.code for e in queue.sections[S.SAE_REPORTS_OVERDUE].items] == [
        trial["signed"]
    ]
    assert queue.sections[S.SAE_REPORTS_DUE].count == 0
    # The monitor study-wide: site 02's W3 too.
    assert work_queue(access(study, "mona"), TODAY, NOW).sections[S.OVERDUE_VISITS].count == 6
    counted = work_queue(access(study, "colin"), TODAY, NOW, limit=0)
    assert counted.sections[S.OVERDUE_VISITS].items == []
    assert counted.total == queue.total


@pytest.mark.django_db
def test_queries_do_not_grow_with_the_subjects(
    study: Any, trial: dict[str, str], eligible_subject: Any
) -> None:
    readers = ["ines", "colin", "mona", "dana"]

    def queries() -> list[int]:
        counts = []
        for username in readers:
            reader = access(study, username)
            with CaptureQueriesContext(connection) as captured:
                work_queue(reader, TODAY, NOW)
            counts.append(len(captured))
        return counts

    before = queries()
    for site in ("01", "02"):
        code = treated_with_d0(study, eligible_subject, site)
        sign(code, "D0")
        raise_query(code, "open", AT, visit_id="D0")
        raise_query(code, "answered", AT, visit_id="D0")
        withdraw_subject(study, screen_and_consent(study, site), "moved away", "ines")
    assert queries() == before


# ---------------------------------------------------------------- the API


def api(username: str) -> Any:
    from django.test import Client

    from trialdesk.store.services.tokens import create_token

    return Client(headers={"Authorization": f"Bearer {create_token(username, OPERATOR)}"})


@pytest.mark.django_db
def test_api_work_queue(study: Any, eligible_subject: Any, people: None) -> None:
    code = treated_with_d0(study, eligible_subject)
    elsewhere = treated_with_d0(study, eligible_subject, "02")
    raise_query(code, "open", AT, visit_id="W3", form="womac", item="P1")
    path = f"/api/v1/studies/{study.protocol_id}/work-queue"
    answer = api("colin").get(path)
    assert answer.status_code == 200
    body = answer.json()
    assert [s["section"] for s in body["sections"]] == [
        "open_queries",
        "overdue_visits",
        "forms_due",
        "sae_reports_overdue",
        "sae_reports_due",
    ]
    open_queries = body["sections"][0]
    assert open_queries["count"] == 1
    assert open_queries["items"] == [
        {
            "subject": code,
            "site": "01",
            "visit": "W3",
            "visit_label": "Week 3, treatment cycle 2",
            "form": "womac",
            "item": "P1",
            "query_number": 1,
            "query_origin": "manual",
            "query_rule": "",
            "query_question": "Source says 2",
            "waiting_since": "2024-04-01T09:00:00Z",
            "broken_at": None,
            "signed_at": None,
            "unverified_items": None,
            "reset_items": None,
            "window_start": None,
            "window_end": None,
            "adverse_event": None,
            "report_due_at": None,
        }
    ]
    # The investigator: both D0 visits to sign; ?site=02 only the other site's.
    ines = api("ines")
    signing = ines.get(path).json()["sections"][0]
    assert signing["section"] == "needs_signature"
    assert {(i["subject"], i["visit"]) for i in signing["items"]} == {
        (code, "D0"),
        (elsewhere, "D0"),
    }
    signing = ines.get(path + "?site=02").json()["sections"][0]
    assert [i["subject"] for i in signing["items"]] == [elsewhere]
    # A site the coordinator does not read: empty, not another site's.
    assert all(s["count"] == 0 for s in api("colin").get(path + "?site=02").json()["sections"])
    # The monitor: 24 items of each D0 womac to verify (and the screening forms); limit=0
    # counts only.
    sdv = next(s for s in api("mona").get(path).json()["sections"] if s["section"] == "needs_sdv")
    womac = [i for i in sdv["items"] if i["visit"] == "D0"]
    assert [(i["form"], i["unverified_items"], i["reset_items"]) for i in womac] == [
        ("womac", 24, 0),
        ("womac", 24, 0),
    ]
    counted = api("mona").get(path + "?limit=0").json()
    assert all(s["items"] == [] for s in counted["sections"]) and counted["total"] >= 2
    # The pharmacist: no sections.
    assert api("pia").get(path).json() == {"site": None, "total": 0, "sections": []}
    assert api("colin").get(path + "?limit=-1").status_code == 400
    assert api("colin").get("/api/v1/studies/NOPE/work-queue").status_code == 404
