"""The batches of one export are read in one snapshot (`trialdesk.store.exports.read_snapshot`):
a change another connection commits while an export is between its batches is not in the
export, on SQLite and on PostgreSQL, though a read after the export sees it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from trialdesk.exchange.source import TABLES, SourceBatch, merged
from trialdesk.store.access import access_for
from trialdesk.store.export_feed import export_source
from trialdesk.store.exports import read_snapshot
from trialdesk.store.models import StudyUser
from trialdesk.store.services import add_user, save_form

from .conftest import OPERATOR

VITALS = {"height_cm": 181, "weight_kg": 88}


def commit_in_another_thread(change: Callable[[], Any]) -> None:
    """Run `change` on a connection of its own (Django's are per thread) and wait for its
    commit."""
    failed: list[BaseException] = []

    def run() -> None:
        try:
            change()
        except BaseException as error:  # re-raised in the test's thread
            failed.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), "the other connection's write did not finish in 60 s"
    if failed:
        raise failed[0]


def contents(batch: SourceBatch) -> dict[str, Any]:
    """A batch's rows and audit events (not the study row, whose `extracted_at` is the time
    of the read)."""
    return {"audit": batch.audit, **{name: getattr(batch.extract, name) for name in TABLES}}


def forms_of(batch: SourceBatch, code: str) -> list[str]:
    return [row["form"] for row in batch.extract.forms if row["subject"] == code]


@pytest.mark.django_db(transaction=True)
def test_a_change_committed_between_batches_is_not_in_the_export(
    study: Any, consented_subject: Any
) -> None:
    codes = sorted(consented_subject(site) for site in ("01", "02", "01"))
    add_user(study, "dana", "data_manager", OPERATOR)
    access = access_for(study, StudyUser.objects.get(username="dana"))
    later = codes[-1]
    before = export_source(access, batch_subjects=1).whole()
    assert forms_of(before, later) == []

    with read_snapshot():
        source = export_source(access, batch_subjects=1)
        batches = source.batches()
        read = [next(batches)]
        assert [row["code"] for row in read[0].extract.subjects] == codes[:1]
        commit_in_another_thread(lambda: save_form(study, later, "SCR", "vitals", VITALS, "ines"))
        read.extend(batches)

    assert len(read) == len(codes) == 3  # the change went in between batches
    seen = merged(source.study, read)
    assert forms_of(seen, later) == [], "the export shows a form saved during it"
    assert contents(seen) == contents(before)
    after = export_source(access, batch_subjects=1).whole()
    assert forms_of(after, later) == ["vitals"]
    assert any(event["subject"] == later for event in after.audit[len(before.audit) :])
