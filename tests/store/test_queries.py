"""Queries in the store (services/queries.py, store/query_lists.py), on SQLite and PostgreSQL:
the status machine and its thread, who may take each step, refusals that change nothing,
automatic queries from the protocol's edit checks on save and by `run_checks`, counts and
lists through the reader's access, and the audit trail.

The study is KNEE-TEST with vitals also collected at W12 and five edit checks (below).
Day 0 is 2024-03-10; W12's window is 2024-05-26..2024-06-09. The screening weight is 70 kg
(SCREENING_FORMS): 60 kg at W12 is (60 - 70) / 70 = -14.3%, 64 kg is -8.6%.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from typer.testing import CliRunner

from trialdesk.cli import app
from trialdesk.errors import BadInput
from trialdesk.store.access import access_for
from trialdesk.store.audit import verify_audit_chain
from trialdesk.store.errors import NotFound, NotPermitted, StudyLocked
from trialdesk.store.models import AuditEvent, Query, QueryMessage, StudyUser
from trialdesk.store.query_lists import form_queries, queries, query_counts, query_thread
from trialdesk.store.services import (
    add_site,
    add_user,
    create_study,
    lock_study,
    randomize_subject,
    record_administration,
    record_visit,
    report_adverse_event,
    save_form,
)
from trialdesk.store.services.queries import (
    CLOSED_AS_CORRECTED,
    REOPENED_AS_BACK,
    QueryStateError,
    answer_query,
    close_queries,
    close_query,
    comment_query,
    raise_query,
    reopen_query,
    run_checks,
)

from .conftest import OPERATOR, PROTOCOL, WOMAC_ALL_ONES, make_eligible

EDIT_CHECKS = """edit_checks:
  - {id: EC1, kind: visit_before_consent, text: Visit before consent.}
  - {id: EC2, kind: change_between_visits, form: vitals, item: weight_kg,
     max_relative_change: 0.10, text: Weight changed by more than 10%.}
  - {id: EC3, kind: sae_without_report, text: Report the SAE.}
  - {id: EC4, kind: item_missing, form: womac, text: A WOMAC item is missing.}
  - {id: EC5, kind: range, form: vitals, item: weight_kg, min: 40, max: 150,
     text: Weight outside 40-150 kg.}
"""
DAY0 = dt.date(2024, 3, 10)
W12 = dt.date(2024, 6, 2)
VITALS = {"height_cm": 170, "weight_kg": 70}


@pytest.fixture
def study(django_db_setup: str) -> Any:
    return study_with_edit_checks()


def study_with_edit_checks() -> Any:
    """KNEE-TEST with vitals at W12 and EDIT_CHECKS, sites 01 and 02, and its users."""
    text = PROTOCOL.read_text(encoding="utf-8").replace(
        "forms: [womac, kl_grade]", "forms: [womac, kl_grade, vitals]"
    )
    study = create_study("KNEE-TEST.yaml", OPERATOR, text=text + EDIT_CHECKS)
    add_site(study, "01", OPERATOR)
    add_site(study, "02", OPERATOR)
    for username, role, site in [
        ("ines", "investigator", None),
        ("colin", "coordinator", "01"),
        ("cleo", "coordinator", "02"),
        ("pia", "pharmacist", None),
        ("mona", "monitor", None),
        ("dora", "data_manager", None),
        ("stan", "statistician", None),
    ]:
        add_user(study, username, role, OPERATOR, site)
    return study


def treated(study: Any, site: str = "01") -> str:
    code = make_eligible(study, site)
    randomize_subject(study, code, "ines")
    record_administration(study, code, "C1", DAY0, "pia")
    return code


def access(study: Any, username: str) -> Any:
    return access_for(study, StudyUser.objects.get(username=username))


def thread(code: str, number: int) -> list[tuple[str, str | None]]:
    messages = QueryMessage.objects.filter(query__subject__code=code, query__number=number)
    return [(m.action, m.by.username if m.by else None) for m in messages.order_by("pk")]


def snapshot() -> tuple[int, int, int, list]:
    return (
        AuditEvent.objects.count(),
        Query.objects.count(),
        QueryMessage.objects.count(),
        list(Query.objects.order_by("pk").values_list("status", "closed_at")),
    )


def raised_on_weight(study: Any, code: str, by: str = "mona") -> Query:
    return raise_query(
        study,
        code,
        text="Weight 70 kg: please check against the source.",
        by=by,
        visit_id="SCR",
        form="vitals",
        item="weight_kg",
    )


# ---------------------------------------------------------------- the status machine


@pytest.mark.django_db
def test_raise_answer_close_reopen_with_its_thread_and_audit_trail(study: Any) -> None:
    code = make_eligible(study)
    query = raised_on_weight(study, code)
    assert (query.number, query.status, query.origin, query.opened_by.username) == (
        1,
        "open",
        "manual",
        "mona",
    )
    assert answer_query(study, code, 1, text="Source says 70 kg.", by="colin").status == (
        "answered"
    )
    closed = close_query(study, code, 1, text="Confirmed.", by="mona")
    assert closed.status == "closed" and closed.closed_at is not None
    reopened = reopen_query(study, code, 1, text="The scale was not calibrated.", by="dora")
    assert reopened.status == "open" and reopened.closed_at is None
    assert comment_query(study, code, 1, text="Calibrated on 03-05.", by="colin").status == "open"
    assert thread(code, 1) == [
        ("opened", "mona"),
        ("answered", "colin"),
        ("closed", "mona"),
        ("reopened", "dora"),
        ("commented", "colin"),
    ]
    events = AuditEvent.objects.filter(subject=code, object_type__in=["Query", "QueryMessage"])
    status_changes = events.filter(object_type="Query", field="status").order_by("seq")
    assert [(e.action, e.old_value, e.new_value, e.by) for e in status_changes] == [
        ("query.raised", "null", '"open"', "mona"),
        ("query.answered", '"open"', '"answered"', "colin"),
        ("query.closed", '"answered"', '"closed"', "mona"),
        ("query.reopened", '"closed"', '"open"', "dora"),
    ]
    texts = events.filter(object_type="QueryMessage", field="text").order_by("seq")
    assert texts.last().new_value == '"Calibrated on 03-05."'
    assert verify_audit_chain().ok


@pytest.mark.django_db
def test_each_step_only_from_its_statuses(study: Any) -> None:
    code = make_eligible(study)
    raised_on_weight(study, code)
    with pytest.raises(QueryStateError, match="Q1 is open: it cannot be reopened"):
        reopen_query(study, code, 1, text="again", by="mona")
    close_query(study, code, 1, text="Raised in error.", by="mona")  # open -> closed
    before = snapshot()
    for step, by in [(answer_query, "colin"), (comment_query, "colin"), (close_query, "mona")]:
        with pytest.raises(QueryStateError, match="Q1 is closed"):
            step(study, code, 1, text="late", by=by)
    assert snapshot() == before


# ---------------------------------------------------------------- who may


@pytest.mark.django_db
def test_who_may_take_each_step_and_refusals_change_nothing(study: Any) -> None:
    code = make_eligible(study)  # site 01
    before = snapshot()
    for by in ("colin", "ines", "stan"):
        with pytest.raises(NotPermitted):
            raised_on_weight(study, code, by=by)
    raised_on_weight(study, code)
    before = snapshot()
    refusals = [
        (answer_query, "mona"),  # the monitor does not answer for the site
        (answer_query, "cleo"),  # a coordinator of site 02
        (answer_query, "stan"),
        (comment_query, "stan"),  # reads, does not take part
        (comment_query, "cleo"),
        (close_query, "colin"),  # the site does not close its own query
        (close_query, "ines"),
    ]
    for step, by in refusals:
        with pytest.raises(NotPermitted):
            step(study, code, 1, text="x", by=by)
    assert snapshot() == before
    answer_query(study, code, 1, text="Checked.", by="ines")
    with pytest.raises(NotPermitted):
        reopen_query(study, code, 1, text="x", by="colin")
    assert snapshot()[3] == [("answered", None)]


@pytest.mark.django_db
def test_bad_places_texts_and_numbers_are_refused_with_the_place(study: Any) -> None:
    code = make_eligible(study)
    before = snapshot()
    bad_places = [
        ({"visit_id": "W99"}, "no visit 'W99' in the protocol"),
        ({"visit_id": "D0", "form": "vitals"}, "form 'vitals' is not collected at this visit"),
        ({"visit_id": "SCR", "form": "vitals", "item": "weight"}, "no item 'weight'"),
        ({"item": "weight_kg"}, "item 'weight_kg' needs its form"),
        ({"form": "vitals"}, "form 'vitals' needs its visit"),
    ]
    for place, message in bad_places:
        with pytest.raises(BadInput, match=message):
            raise_query(study, code, text="Check.", by="mona", **place)
    for text, message in [
        ("   ", "the message text is required"),
        ("x" * 2001, "has 2001 characters; at most 2000"),
        ("bell\x07", "control characters"),
    ]:
        with pytest.raises(BadInput, match=message):
            raise_query(study, code, text=text, by="mona", visit_id="SCR")
    with pytest.raises(NotFound, match="no query Q7"):
        answer_query(study, code, 7, text="x", by="colin")
    with pytest.raises(NotFound, match="no subject '01-999'"):
        raise_query(study, "01-999", text="x", by="mona")
    assert snapshot() == before
    # Plain text is kept as typed: markup is not interpreted, line breaks stay.
    query = raise_query(study, code, text="<b>why</b>\r\nline two", by="mona", visit_id="SCR")
    assert query.messages.get().text == "<b>why</b>\nline two"


@pytest.mark.django_db
def test_bulk_close_is_all_or_nothing(study: Any) -> None:
    first, second = make_eligible(study), make_eligible(study, "02")
    raised_on_weight(study, first)
    raised_on_weight(study, second)
    close_query(study, second, 1, text="Done.", by="mona")
    before = snapshot()
    with pytest.raises(QueryStateError, match=f"subject {second}, query Q1 is closed"):
        close_queries(study, [(first, 1), (second, 1)], text="Reviewed.", by="dora")
    with pytest.raises(BadInput, match="named twice"):
        close_queries(study, [(first, 1), (first, 1)], text="Reviewed.", by="dora")
    assert snapshot() == before
    reopen_query(study, second, 1, text="One more look.", by="mona")
    closed = close_queries(study, [(first, 1), (second, 1)], text="Reviewed.", by="dora")
    assert [query.status for query in closed] == ["closed", "closed"]
    assert thread(first, 1)[-1] == ("closed", "dora")


@pytest.mark.django_db
def test_a_locked_study_takes_no_query(study: Any) -> None:
    code = make_eligible(study)
    lock_study(study, OPERATOR, reason="Database lock.")
    with pytest.raises(StudyLocked):
        raised_on_weight(study, code)


# ---------------------------------------------------------------- automatic queries


def rule_queries(code: str) -> list[tuple]:
    return list(
        Query.objects.filter(subject__code=code, origin="rule")
        .order_by("number")
        .values_list("rule", "visit_id", "form", "item", "status", "opened_by")
    )


@pytest.mark.django_db
def test_a_rule_raises_a_query_on_save_and_closes_it_when_the_data_are_corrected(
    study: Any,
) -> None:
    code = treated(study)
    record_visit(study, code, "W12", W12, "colin")
    save_form(study, code, "W12", "vitals", {**VITALS, "weight_kg": 60}, "colin")
    assert rule_queries(code) == [("EC2", "W12", "vitals", "weight_kg", "open", None)]
    opening = QueryMessage.objects.get(query__subject__code=code, action="opened")
    assert opening.by is None
    assert opening.text == (
        "W12 weight 60 kg vs SCR 70 kg: -14.3% (limit 10%). Weight changed by more than 10%."
    )
    raised = AuditEvent.objects.get(subject=code, object_type="Query", field="rule")
    assert (raised.action, raised.by, raised.new_value) == ("query.raised", "colin", '"EC2"')

    answer_query(study, code, 1, text="Typo; corrected.", by="colin")
    save_form(study, code, "W12", "vitals", {**VITALS, "weight_kg": 64}, "colin", "typo")
    assert rule_queries(code) == [("EC2", "W12", "vitals", "weight_kg", "closed", None)]
    assert thread(code, 1) == [("opened", None), ("answered", "colin"), ("closed", None)]
    assert QueryMessage.objects.filter(action="closed").get().text == CLOSED_AS_CORRECTED

    # The finding comes back: the query the checks closed is re-opened, no second query.
    save_form(study, code, "W12", "vitals", {**VITALS, "weight_kg": 60}, "colin", "re-weighed")
    assert rule_queries(code) == [("EC2", "W12", "vitals", "weight_kg", "open", None)]
    reopening = QueryMessage.objects.filter(action="reopened").get()
    assert reopening.text == REOPENED_AS_BACK + "W12 weight 60 kg vs SCR 70 kg: -14.3% (limit 10%)"
    assert verify_audit_chain().ok


@pytest.mark.django_db
def test_a_query_a_person_closed_stays_closed_until_the_finding_differs(study: Any) -> None:
    code = treated(study)
    record_visit(study, code, "W12", W12, "colin")
    save_form(study, code, "W12", "vitals", {**VITALS, "weight_kg": 60}, "colin")
    close_query(study, code, 1, text="Weight loss confirmed by the investigator.", by="mona")
    save_form(
        study, code, "W12", "vitals", {**VITALS, "height_cm": 171, "weight_kg": 60}, "colin", "x"
    )
    assert rule_queries(code)[0][4] == "closed"
    save_form(study, code, "W12", "vitals", {**VITALS, "weight_kg": 30}, "colin", "x")
    # 30 kg: a different change (-57.1%) re-opens EC2, and is out of range (EC5): a new query.
    assert rule_queries(code) == [
        ("EC2", "W12", "vitals", "weight_kg", "open", None),
        ("EC5", "W12", "vitals", "weight_kg", "open", None),
    ]


@pytest.mark.django_db
def test_item_missing_in_a_completed_form_and_run_checks_for_an_overdue_sae(study: Any) -> None:
    code = treated(study)
    save_form(study, code, "D0", "womac", {**WOMAC_ALL_ONES, "F3": None}, "colin")
    assert rule_queries(code) == []  # not complete: still being entered
    save_form(study, code, "D0", "womac", {**WOMAC_ALL_ONES, "F3": None}, "colin", complete=True)
    assert rule_queries(code) == [("EC4", "D0", "womac", "F3", "open", None)]

    report_adverse_event(
        study,
        code,
        term="Septic arthritis",
        onset_date=dt.date(2024, 3, 20),
        ctcae_grade=3,
        seriousness=["hospitalization"],
        relatedness="possible",
        expected=False,
        action_taken="dose_not_changed",
        outcome="recovering",
        awareness_at=dt.datetime(2024, 3, 21, 9, 0, tzinfo=dt.UTC),
        by="colin",
    )
    # Saved long after its due time (2024-03-22 09:00): the save itself finds it.
    assert ("EC3", "", "", "AE 1", "open", None) in rule_queries(code)
    summary = {row.rule: row for row in run_checks(study, "operator:tests")}
    assert (summary["EC3"].raised, summary["EC3"].open) == (0, 1)
    assert (summary["EC4"].raised, summary["EC4"].open) == (0, 1)
    assert [row.rule for row in summary.values()] == ["EC1", "EC2", "EC3", "EC4", "EC5"]


@pytest.mark.django_db
def test_a_form_save_runs_only_the_rules_that_read_the_form(study: Any) -> None:
    """A KL grade save: no rule reads kl_grade, so none runs; the WOMAC query stays open
    and the weight rule's finding is not looked at; a vitals save runs the vitals rules."""
    code = treated(study)
    save_form(study, code, "D0", "womac", {**WOMAC_ALL_ONES, "F3": None}, "colin", complete=True)
    assert rule_queries(code) == [("EC4", "D0", "womac", "F3", "open", None)]
    record_visit(study, code, "W12", W12, "colin")
    with CaptureQueriesContext(connection) as read:
        save_form(
            study, code, "W12", "kl_grade", {"index_knee": 2, "contralateral_knee": 1}, "colin"
        )
    assert not [q for q in read.captured_queries if '"store_query"' in q["sql"]]
    assert rule_queries(code) == [("EC4", "D0", "womac", "F3", "open", None)]
    save_form(study, code, "W12", "vitals", {**VITALS, "weight_kg": 60}, "colin")
    assert rule_queries(code) == [
        ("EC4", "D0", "womac", "F3", "open", None),
        ("EC2", "W12", "vitals", "weight_kg", "open", None),
    ]


@pytest.mark.django_db
def test_run_checks_finds_what_was_saved_before_the_rules_and_raises_once(study: Any) -> None:
    code = treated(study)
    record_visit(study, code, "W12", W12, "colin")
    save_form(study, code, "W12", "vitals", {**VITALS, "weight_kg": 60}, "colin")
    # As if the data had been saved before the rule existed (behind the services' back).
    QueryMessage.objects.all().delete()
    Query.objects.all().delete()
    first = {row.rule: row for row in run_checks(study, "operator:tests")}
    assert (first["EC2"].raised, first["EC2"].open) == (1, 1)
    assert AuditEvent.objects.filter(object_type="Query", by="operator:tests").exists()
    again = {row.rule: row for row in run_checks(study, "operator:tests")}
    assert (again["EC2"].raised, again["EC2"].closed, again["EC2"].open) == (0, 0, 1)


# ---------------------------------------------------------------- lists and counts


@pytest.mark.django_db
def test_lists_and_counts_through_the_readers_access(study: Any) -> None:
    north, south = make_eligible(study), make_eligible(study, "02")
    raised_on_weight(study, north)
    raise_query(study, north, text="Visit date?", by="mona", visit_id="SCR")
    raised_on_weight(study, south)
    answer_query(study, north, 1, text="Checked.", by="colin")

    monitor = access(study, "mona")
    assert [row.label for row in queries(monitor)] == [f"{south} Q1", f"{north} Q2", f"{north} Q1"]
    assert [row.label for row in queries(monitor, status="answered")] == [f"{north} Q1"]
    assert [row.label for row in queries(monitor, site="02")] == [f"{south} Q1"]
    assert [r.label for r in queries(monitor, subject=north, form="vitals")] == [f"{north} Q1"]
    with pytest.raises(BadInput, match="expected one of open, answered, closed"):
        queries(monitor, status="pending")
    row = queries(monitor, status="answered")[0]
    assert (row.question, row.last_action, row.last_by, row.site) == (
        "Weight 70 kg: please check against the source.",
        "answered",
        "colin",
        "01",
    )

    counts = query_counts(monitor)
    assert counts.total == {"open": 2, "answered": 1, "closed": 0}
    assert counts.by_site == {
        "01": {"open": 1, "answered": 1, "closed": 0},
        "02": {"open": 1, "answered": 0, "closed": 0},
    }
    assert counts.by_subject[north] == {"open": 1, "answered": 1, "closed": 0}
    assert counts.by_form == {"vitals": {"open": 1, "answered": 1, "closed": 0}}
    assert counts.by_subject_form[(north, "SCR", "")] == {"open": 1, "answered": 0, "closed": 0}

    # A coordinator of site 02 reads site 02's queries only; another site's subject is unknown.
    south_coordinator = access(study, "cleo")
    assert [row.label for row in queries(south_coordinator)] == [f"{south} Q1"]
    assert query_counts(south_coordinator).total == {"open": 1, "answered": 0, "closed": 0}
    with pytest.raises(NotFound):
        query_thread(south_coordinator, north, 1)

    on_form = form_queries(monitor, north, "SCR", "vitals")
    assert list(on_form) == ["weight_kg"]
    assert [m.action for m in on_form["weight_kg"][0].messages] == ["opened", "answered"]


@pytest.mark.django_db
def test_list_reads_are_a_fixed_number_of_database_queries(study: Any) -> None:
    def reads() -> int:
        monitor = access(study, "mona")
        with CaptureQueriesContext(connection) as captured:
            queries(monitor)
            query_counts(monitor)
        return len(captured)

    code = make_eligible(study)
    raised_on_weight(study, code)
    one = reads()
    for _ in range(3):
        other = make_eligible(study, "02")
        raised_on_weight(study, other)
        comment_query(study, other, 1, text="More.", by="mona")
    assert reads() == one


# ---------------------------------------------------------------- the commands


@pytest.mark.django_db
def test_checks_run_and_query_list_commands(study: Any) -> None:
    code = make_eligible(study)
    raised_on_weight(study, code)
    ran = CliRunner().invoke(app, ["checks", "run", "KNEE-TEST", "--json"])
    assert ran.exit_code == 0, ran.output
    rules = {row["rule"]: row for row in json.loads(ran.stdout)["rules"]}
    assert list(rules) == ["EC1", "EC2", "EC3", "EC4", "EC5"]
    assert all(row["raised"] == 0 for row in rules.values())
    listed = CliRunner().invoke(app, ["query", "list", "KNEE-TEST", "--status", "open", "--json"])
    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.stdout)["queries"]
    assert (row["subject"], row["number"], row["item"], row["opened_by"]) == (
        code,
        1,
        "weight_kg",
        "mona",
    )
    table = CliRunner().invoke(app, ["query", "list", "KNEE-TEST"], env={"COLUMNS": "200"})
    assert f"{code} Q1" in table.stdout and "Weight 70 kg: please check" in table.stdout
    for args in (["--status", "pending"], ["--site", "09"]):
        refused = CliRunner().invoke(app, ["query", "list", "KNEE-TEST", *args])
        assert refused.exit_code == 2, refused.output
