"""What the data manager's pages need of the store, on SQLite and PostgreSQL: a protocol
loaded from an uploaded file's text (its errors name the uploaded file and line), a lock with
its reason, and the audit trail's filters and CSV shared with `trialdesk audit log`."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zoneinfo
from typing import Any

import pytest

from trialdesk.errors import ProtocolError
from trialdesk.store.audit import study_label
from trialdesk.store.audit_log import CSV_COLUMNS, AuditFilter, write_csv
from trialdesk.store.errors import StudyLocked
from trialdesk.store.models import AuditEvent, Study
from trialdesk.store.services import add_site, create_study, lock_study, unlock_study

from .conftest import OPERATOR, PROTOCOL

COPENHAGEN = zoneinfo.ZoneInfo("Europe/Copenhagen")


@pytest.mark.django_db
def test_a_protocol_loads_from_an_uploaded_files_text(django_db_setup: str) -> None:
    text = PROTOCOL.read_text().replace('version: "1.0"', 'version: "2.0"', 1)
    study = create_study("knee-v2.yaml", "dm", text=text)
    assert (study.protocol_id, study.version) == ("KNEE-TEST", "2.0")
    assert Study.objects.get(pk=study.pk).protocol_yaml == text
    created = AuditEvent.objects.filter(study="KNEE-TEST v2.0", action="study.created")
    assert set(created.values_list("by", flat=True)) == {"dm"}


@pytest.mark.django_db
def test_an_uploaded_files_errors_name_the_file_and_line(django_db_setup: str) -> None:
    lines = PROTOCOL.read_text().splitlines()
    # Line 26 of KNEE-TEST.yaml is `  count: 40` (enrollment.count); make it text.
    assert lines[25] == "  count: 40"
    lines[25] = "  count: forty"
    with pytest.raises(ProtocolError) as error:
        create_study("upload.yaml", "dm", text="\n".join(lines))
    assert error.value.problems[0].startswith("upload.yaml:26: enrollment.count:")
    assert not Study.objects.filter(protocol_id="KNEE-TEST").exists()


@pytest.mark.django_db
def test_a_shipped_protocol_still_loads_by_its_id(django_db_setup: str) -> None:
    study = create_study("NCT05933434", OPERATOR)
    assert (study.protocol_id, study.version) == ("NCT05933434", "1.0")


@pytest.mark.django_db
def test_a_lock_keeps_its_reason_and_a_lock_without_one_still_works(study: Any) -> None:
    lock_study(study, "dm", reason="  final database lock  ")
    with pytest.raises(StudyLocked):
        add_site(study, "01", OPERATOR)
    unlock_study(study, "query resolution at site 01", "dm")
    lock_study(study, "dm")
    events = AuditEvent.objects.filter(study=study_label(study), field="locked").order_by("seq")
    assert [(e.action, e.reason) for e in events] == [
        ("study.created", ""),
        ("study.locked", "final database lock"),
        ("study.unlocked", "query resolution at site 01"),
        ("study.locked", ""),
    ]


def _event(seq: int, at: dt.datetime, by: str, action: str, subject: str = "") -> AuditEvent:
    return AuditEvent.objects.create(
        seq=seq,
        at=at,
        by=by,
        action=action,
        study="FILTER-TEST v1",
        subject=subject,
        object_type="Subject",
        object_id=str(seq),
        field="status",
        old_value='"a"',
        new_value='"b, with a comma"',
        reason="",
        previous_hash="0" * 64,
        hash=f"{seq:064d}",
    )


@pytest.mark.django_db
def test_the_filters_keep_days_in_the_readers_time_zone(django_db_setup: str) -> None:
    # 2024-03-01 23:30 UTC is 2024-03-02 00:30 in Copenhagen (UTC+1 in winter).
    late = dt.datetime(2024, 3, 1, 23, 30, tzinfo=dt.UTC)
    _event(900001, late, "ines", "subject.screened", "01-001")
    _event(900002, late + dt.timedelta(hours=2), "colin", "form.saved", "01-001")
    _event(900003, late + dt.timedelta(days=3), "ines", "subject.consented", "01-002")
    events = AuditEvent.objects.filter(study="FILTER-TEST v1").order_by("seq")

    def seqs(chosen: AuditFilter, time_zone: dt.tzinfo = dt.UTC) -> list[int]:
        return list(chosen.apply(events, time_zone).values_list("seq", flat=True))

    march_2 = dt.date(2024, 3, 2)
    assert seqs(AuditFilter(since=march_2, until=march_2)) == [900002]
    assert seqs(AuditFilter(since=march_2, until=march_2), COPENHAGEN) == [900001, 900002]
    assert seqs(AuditFilter(until=dt.date(2024, 3, 1)), COPENHAGEN) == []
    assert seqs(AuditFilter(user="ines")) == [900001, 900003]
    assert seqs(AuditFilter(action="subject.*")) == [900001, 900003]
    assert seqs(AuditFilter(action="subject.")) == []
    assert seqs(AuditFilter(subject="01-001", user="colin")) == [900002]
    assert AuditFilter(subject="01-001", action="form.saved").described() == [
        "subject 01-001",
        "action form.saved",
    ]

    out = io.StringIO()
    write_csv(events, out)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert out.getvalue().startswith("seq,at,by,action,study,subject,")
    assert out.getvalue().count("\r\n") == 4
    assert tuple(rows[0]) == CSV_COLUMNS and len(CSV_COLUMNS) == 14
    assert rows[1][:4] == ["900001", "2024-03-01T23:30:00+00:00", "ines", "subject.screened"]
    assert rows[2][CSV_COLUMNS.index("new_value")] == '"b, with a comma"'


@pytest.mark.django_db
def test_who_may_deactivate_set_a_first_password_and_load_protocols(study: Any) -> None:
    """The data pages' rules (web/pages/data/management.py) over the store's roles."""
    from trialdesk.store.models import StudyUser
    from trialdesk.store.services import add_user
    from trialdesk.store.services.accounts import set_password
    from trialdesk.web.pages.data.management import (
        may_deactivate,
        may_load_protocols,
        may_set_initial_password,
    )

    other = create_study("NCT05933434", OPERATOR)
    add_site(other, "AUH", OPERATOR)
    add_user(study, "dana", "data_manager", OPERATOR)
    add_user(study, "sam", "coordinator", OPERATOR, "01")
    add_user(study, "nina", "coordinator", OPERATOR, "01")
    add_user(other, "nina", "monitor", OPERATOR)
    add_user(other, "ada", "admin", OPERATOR)
    user = {name: StudyUser.objects.get(username=name) for name in ("dana", "sam", "nina", "ada")}
    # dana manages KNEE-TEST only: sam works there only; nina also in NCT05933434.
    assert may_deactivate(user["dana"], user["sam"])
    assert not may_deactivate(user["dana"], user["nina"])
    assert not may_deactivate(user["dana"], user["dana"])  # not oneself
    assert not may_load_protocols(user["dana"]) and may_load_protocols(user["ada"])
    assert may_set_initial_password(None) and may_set_initial_password(user["sam"])
    set_password("sam", "Patella-Ward-7-Aarhus!", OPERATOR)
    assert not may_set_initial_password(StudyUser.objects.get(username="sam"))
