"""The subject matrix and the work list (store/matrix.py), on SQLite and PostgreSQL.

KNEE-TEST's visits (tests/store/protocols/KNEE-TEST.yaml), by hand:
- SCR (day -14, 14 before, 13 after): from the screening date (2024-03-01 in the fixtures) to
  27 days later, 2024-03-28; once day 0 is known it ends on day 0 at the latest;
- D0 (day 0): day 0 alone; W3 (day 21 +-3); W12 (day 84 +-7).
With day 0 = 2024-03-10: SCR 03-01..03-10, D0 03-10, W3 03-28..04-03, W12 05-26..06-09.
The matrix is read on TODAY = 2024-04-10. Forms: SCR screening_history, vitals, kl_grade; D0
and W3 womac; W12 womac, kl_grade.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from trialdesk.store import matrix
from trialdesk.store.access import access_for
from trialdesk.store.matrix import CellState, MatrixQuery, subject_matrix, work_list
from trialdesk.store.models import StudyUser
from trialdesk.store.services import (
    randomize_subject,
    record_administration,
    record_missed_visit,
    record_screen_failure,
    record_visit,
    report_adverse_event,
    save_form,
)

from .conftest import WOMAC_ALL_ONES, screen_and_consent

DAY0 = dt.date(2024, 3, 10)
TODAY = dt.date(2024, 4, 10)
NOW = dt.datetime(2024, 4, 10, 12, 0, tzinfo=dt.UTC)
VISITS = ["SCR", "D0", "W3", "W12"]
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
S = CellState


def treated(study: Any, eligible_subject: Any) -> str:
    code = eligible_subject()
    randomize_subject(study, code, "ines")
    record_administration(study, code, "C1", DAY0, "pia")
    return code


def access(study: Any, username: str) -> Any:
    return access_for(study, StudyUser.objects.get(username=username))


def cells(page: Any) -> dict[str, list[CellState]]:
    return {row.code: [cell.state for cell in row.cells] for row in page.rows}


@pytest.fixture
def trial(study: Any, eligible_subject: Any) -> dict[str, str]:
    """Six subjects, each with what its cells should show on TODAY (see `test_cells`)."""
    consented = screen_and_consent(study, "01")
    eligible = eligible_subject()
    busy = treated(study, eligible_subject)
    save_form(study, busy, "D0", "womac", WOMAC_ALL_ONES, "ada", complete=True)
    record_visit(study, busy, "W3", dt.date(2024, 4, 1), "ada")
    save_form(study, busy, "W3", "womac", WOMAC_ALL_ONES, "ada")
    record_missed_visit(study, busy, "W12", "moved abroad for the summer", "colin")
    idle = treated(study, eligible_subject)
    failed = screen_and_consent(study, "01")
    record_screen_failure(study, failed, "declined the injection", "colin")
    elsewhere = screen_and_consent(study, "02")
    aware = dt.datetime(2024, 4, 8, 8, 0, tzinfo=dt.UTC)  # report due 04-09 08:00: overdue
    report_adverse_event(study, busy, by="colin", awareness_at=aware, **SAE)
    aware = dt.datetime(2024, 4, 10, 6, 0, tzinfo=dt.UTC)  # due 04-11 06:00: still open
    report_adverse_event(study, idle, by="colin", awareness_at=aware, **SAE)
    report_adverse_event(
        study, elsewhere, by="ines", awareness_at=aware, **{**SAE, "onset_date": DAY0}
    )
    return {
        "consented": consented,
        "eligible": eligible,
        "busy": busy,
        "idle": idle,
        "failed": failed,
        "elsewhere": elsewhere,
    }


@pytest.mark.django_db
def test_cells(study: Any, trial: dict[str, str]) -> None:
    page = subject_matrix(access(study, "ines"), MatrixQuery(), TODAY)
    assert [visit.visit_id for visit in page.visits] == VISITS
    expected = {
        # SCR's window closed on 03-28 with nothing entered, before randomization.
        trial["consented"]: [S.OVERDUE, S.NOT_DUE, S.NOT_DUE, S.NOT_DUE],
        # Screening forms saved, not complete, window closed, not randomized: overdue.
        trial["eligible"]: [S.OVERDUE, S.NOT_DUE, S.NOT_DUE, S.NOT_DUE],
        # Randomized: SCR is due (forms saved, not complete), D0's womac complete, W3 took
        # place with its form saved, W12 marked missed.
        trial["busy"]: [S.IN_PROGRESS, S.COMPLETE, S.IN_PROGRESS, S.MISSED],
        # Randomized, nothing after screening: D0 due with no data, W3 (to 04-03) overdue,
        # W12 (from 05-26) not yet due.
        trial["idle"]: [S.IN_PROGRESS, S.NO_DATA, S.OVERDUE, S.NOT_DUE],
        # A screen failure awaits no visit.
        trial["failed"]: [S.NOT_EXPECTED] * 4,
        trial["elsewhere"]: [S.OVERDUE, S.NOT_DUE, S.NOT_DUE, S.NOT_DUE],
    }
    assert cells(page) == expected
    assert (page.total, page.matched, page.page, page.pages) == (6, 6, 1, 1)


@pytest.mark.django_db
def test_cells_show_where_source_data_verification_stands(
    study: Any, trial: dict[str, str]
) -> None:
    from trialdesk.store.sdv_status import SdvState as V
    from trialdesk.store.services.sdv import verify_form, verify_items

    busy = trial["busy"]
    # Busy's screening forms (3, saved) and W3's womac: KNEE-TEST has no plan, all to verify.
    verify_form(study, busy, "D0", "womac", by="mona")
    verify_items(study, busy, "W3", "womac", ["P1"], by="mona")
    verify_form(study, trial["idle"], "SCR", "vitals", by="mona")
    page = subject_matrix(access(study, "ines"), MatrixQuery(), TODAY)
    sdv = {row.code: [cell.sdv for cell in row.cells] for row in page.rows}
    nothing = V.NOT_REQUIRED
    assert sdv[busy] == [V.TO_VERIFY, V.VERIFIED, V.PARTLY_VERIFIED, nothing]
    # Idle: vitals verified, screening history and KL grade not: partly, over the visit.
    assert sdv[trial["idle"]] == [V.PARTLY_VERIFIED, nothing, nothing, nothing]
    assert sdv[trial["eligible"]] == [V.TO_VERIFY, nothing, nothing, nothing]
    assert sdv[trial["consented"]] == [nothing] * 4
    # A changed value resets the cell.
    save_form(study, busy, "D0", "womac", {**WOMAC_ALL_ONES, "P1": 2}, "ada", "misread")
    page = subject_matrix(access(study, "ines"), MatrixQuery(), TODAY)
    row = next(row for row in page.rows if row.code == busy)
    assert row.cells[1].sdv is V.PARTLY_VERIFIED

    # The page: a mark per cell with its words for screen readers, no mark where nothing is
    # to verify.
    from django.test import Client

    from trialdesk.store.services.accounts import set_password

    account = set_password("ines", "Knee-Pages-Query-Count!", "operator:tests").account
    client = Client(SERVER_NAME="127.0.0.1")
    client.force_login(account)
    html = client.get(f"/studies/{study.protocol_id}/matrix", HTTP_HX_REQUEST="true").content
    html = html.decode()
    assert html.count('data-sdv="partly_verified"') == 3  # busy's D0 and W3, idle's SCR
    assert html.count('data-sdv="to_verify"') == 2  # busy's and eligible's SCR
    assert "Screening: In progress: forms saved or a draft; SDV: to verify" in html
    assert html.count('class="sdv-mark') == 5


@pytest.mark.django_db
def test_a_site_bound_coordinator_sees_only_their_site(study: Any, trial: dict[str, str]) -> None:
    page = subject_matrix(access(study, "colin"), MatrixQuery(), TODAY)
    assert trial["elsewhere"] not in cells(page)
    assert {row.site for row in page.rows} == {"01"}
    assert page.total == 5
    # A site outside theirs in the URL is ignored, not obeyed.
    query = MatrixQuery.from_params({"site": "02"}, ["01"])
    assert query.site == ""


@pytest.mark.django_db
def test_filters_sort_and_pages(
    study: Any, trial: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    reader = access(study, "ines")
    sites = ["01", "02"]
    page = subject_matrix(reader, MatrixQuery.from_params({"site": "02"}, sites), TODAY)
    assert list(cells(page)) == [trial["elsewhere"]]
    assert (page.matched, page.total) == (1, 6)
    page = subject_matrix(reader, MatrixQuery.from_params({"status": "treated"}, sites), TODAY)
    assert sorted(cells(page)) == sorted([trial["busy"], trial["idle"]])
    page = subject_matrix(reader, MatrixQuery.from_params({"q": trial["idle"][-3:]}, sites), TODAY)
    assert list(cells(page)) == [trial["idle"]]
    page = subject_matrix(reader, MatrixQuery.from_params({"sort": "-code"}, sites), TODAY)
    codes = [row.code for row in page.rows]
    assert codes == sorted(codes, reverse=True)
    page = subject_matrix(reader, MatrixQuery.from_params({"sort": "site"}, sites), TODAY)
    assert [row.code for row in page.rows][-1] == trial["elsewhere"]
    # Bad values are ignored: the default sort and the first page.
    assert MatrixQuery.from_params({"sort": "arm", "page": "x", "status": "?"}, sites) == (
        MatrixQuery()
    )
    monkeypatch.setattr(matrix, "PAGE_SIZE", 4)
    first = subject_matrix(reader, MatrixQuery(), TODAY)
    second = subject_matrix(reader, MatrixQuery(page=2), TODAY)
    beyond = subject_matrix(reader, MatrixQuery(page=9), TODAY)
    assert (len(first.rows), len(second.rows), first.pages) == (4, 2, 2)
    assert (second.first, second.last) == (5, 6)
    assert beyond.page == 2 and [r.code for r in beyond.rows] == [r.code for r in second.rows]
    everyone = [row.code for row in first.rows + second.rows]
    assert sorted(everyone) == sorted(trial.values())


@pytest.mark.django_db
def test_work_list(study: Any, trial: dict[str, str]) -> None:
    work = work_list(access(study, "colin"), TODAY, NOW)
    overdue = [(item.code, item.visit_id) for item in work.overdue_visits.items]
    # By window end: both screenings (03-28), then W3 (04-03); site 02 and the screen
    # failure are not colin's work.
    assert overdue == sorted([(trial["consented"], "SCR"), (trial["eligible"], "SCR")]) + [
        (trial["idle"], "W3")
    ]
    assert work.overdue_visits.count == 3
    first = work.overdue_visits.items[0]
    assert (first.window_start, first.window_end) == (dt.date(2024, 3, 1), dt.date(2024, 3, 28))
    due = {(item.code, item.visit_id) for item in work.forms_due.items}
    assert due == {
        (trial["busy"], "SCR"),
        (trial["busy"], "W3"),
        (trial["idle"], "SCR"),
        (trial["idle"], "D0"),
    }
    assert work.forms_due.count == 4
    assert [(item.code, item.verdict) for item in work.eligibility.items] == [
        (trial["consented"], "")
    ]
    assert [event.subject.code for event in work.sae_overdue.items] == [trial["busy"]]
    assert [event.subject.code for event in work.sae_due.items] == [trial["idle"]]
    everyone = work_list(access(study, "ines"), TODAY, NOW)
    assert everyone.overdue_visits.count == 4
    assert everyone.eligibility.count == 2
    assert {event.subject.code for event in everyone.sae_due.items} == {
        trial["idle"],
        trial["elsewhere"],
    }
    # The work list's overdue visits are the matrix's overdue cells.
    page = subject_matrix(access(study, "ines"), MatrixQuery(), TODAY)
    overdue_cells = {
        (row.code, cell.visit_id)
        for row in page.rows
        for cell in row.cells
        if cell.state is S.OVERDUE
    }
    assert overdue_cells == {(i.code, i.visit_id) for i in everyone.overdue_visits.items}
    counted = work_list(access(study, "colin"), TODAY, NOW, limit=0)
    assert (counted.overdue_visits.count, counted.overdue_visits.items) == (3, [])
    assert counted.total == 3 + 4 + 1 + 1 + 1


@pytest.mark.django_db
def test_queries_do_not_grow_with_the_subjects(
    study: Any, trial: dict[str, str], eligible_subject: Any
) -> None:
    def queries() -> tuple[int, int]:
        reader = access(study, "ines")
        with CaptureQueriesContext(connection) as page:
            subject_matrix(reader, MatrixQuery(), TODAY)
        with CaptureQueriesContext(connection) as work:
            work_list(reader, TODAY, NOW)
        return len(page), len(work)

    before = queries()
    for _ in range(3):
        treated(study, eligible_subject)
        screen_and_consent(study, "02")
    after = queries()
    assert before == after
    # The matrix: counts, the page's subjects, their visits, their form records, the records'
    # item verifications, the user's drafts (KNEE-TEST's SDV plan, none, counts no first
    # subjects).
    assert before[0] == 6


@pytest.mark.django_db
def test_the_pages_queries_do_not_grow_with_the_subjects(
    study: Any, trial: dict[str, str], eligible_subject: Any
) -> None:
    from django.test import Client

    from trialdesk.store.services.accounts import set_password

    account = set_password("ines", "Knee-Pages-Query-Count!", "operator:tests").account
    client = Client(SERVER_NAME="127.0.0.1")
    client.force_login(account)
    paths = [
        (f"/studies/{study.protocol_id}/", {}),
        (f"/studies/{study.protocol_id}/matrix?sort=-screened", {"HTTP_HX_REQUEST": "true"}),
        (f"/studies/{study.protocol_id}/work/summary", {"HTTP_HX_REQUEST": "true"}),
        (f"/studies/{study.protocol_id}/work", {}),
    ]

    def queries() -> list[int]:
        counts = []
        for path, headers in paths:
            with CaptureQueriesContext(connection) as captured:
                response = client.get(path, **headers)
            assert response.status_code == 200, (path, response.status_code)
            counts.append(len(captured))
        return counts

    # The first request after signing in renews the session (writes it); the next ones, within
    # a minute, do not.
    client.get(paths[0][0])
    before = queries()
    for _ in range(3):
        treated(study, eligible_subject)
        screen_and_consent(study, "02")
    assert queries() == before


@pytest.mark.django_db
def test_a_records_saved_item_names_follow_its_values(study: Any, eligible_subject: Any) -> None:
    """`FormRecord.saved_items`, which the matrix reads instead of the values: the items with a
    value, after a first entry, a partial save and a change to missing."""
    from trialdesk.store.models import FormRecord

    code = treated(study, eligible_subject)
    save_form(study, code, "D0", "womac", {"P1": 2, "P3": 1}, "ada", partial=True)
    record = FormRecord.objects.get(subject__code=code, form="womac")
    assert set(record.saved_items.split(",")) == {"P1", "P3"}
    save_form(study, code, "D0", "womac", {"P2": 0, "F17": 4}, "ada", partial=True)
    record.refresh_from_db()
    assert set(record.saved_items.split(",")) == {"P1", "P2", "P3", "F17"}
    save_form(study, code, "D0", "womac", {"P1": None}, "ada", "entered in error", partial=True)
    record.refresh_from_db()
    assert set(record.saved_items.split(",")) == {"P2", "P3", "F17"}
