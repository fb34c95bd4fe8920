"""`trialdesk monitor report` on a small virtual trial of the seven-site study: HTML, JSON
and one funnel plot per KRI written; blinded (no arm anywhere in what it writes); every site
for the operator, one site for a site-bound coordinator; the KRIs' counts equal the store's
rows counted directly; the store's monitoring data in a fixed number of queries."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from trialdesk.cli import app
from trialdesk.monitoring.kri import KRIS
from trialdesk.store.access import access_for
from trialdesk.store.demo import run_virtual_trial
from trialdesk.store.lifecycle import SubjectStatus
from trialdesk.store.models import AdverseEvent, Deviation, Study, StudyUser, Subject
from trialdesk.store.monitoring_data import monitoring_data

STUDY = "NCT04208646"
TODAY = dt.date(2025, 6, 1)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Any:
    """`trialdesk ...` in-process on the test database (already set up: no open_store)."""
    monkeypatch.setattr("trialdesk.store.database.open_store", lambda: None)
    return lambda *args: CliRunner().invoke(app, [str(arg) for arg in args])


def report(cli: Any, out: Path, *options: str) -> dict[str, Any]:
    result = cli("monitor", "report", STUDY, "--out", out, "--as-of", TODAY, *options, "--json")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def assert_blinded(study: Study, out: Path) -> None:
    """No arm id (as a word) or arm label in any file written."""
    for path in out.iterdir():
        text = path.read_text(encoding="utf-8")
        for arm in study.protocol().arms:
            assert not re.search(rf"\b{re.escape(arm.id)}\b", text), (arm.id, path.name)
            assert arm.label not in text, (arm.label, path.name)


@pytest.mark.django_db
def test_monitor_report_for_the_operator_and_a_site_bound_user(
    django_db_setup: str, cli: Any, tmp_path: Path, django_assert_max_num_queries: Any
) -> None:
    run_virtual_trial(STUDY, patients=8, seed=11, today=TODAY, lock=False)
    study = Study.objects.get(protocol_id=STUDY)

    everyone = report(cli, tmp_path / "all")
    assert everyone["blinded"] is True and everyone["sites"] is None
    assert everyone["generated_by"].startswith("operator:")
    files = {path.name for path in (tmp_path / "all").iterdir()}
    assert {"monitoring.html", "monitoring.json"} <= files
    assert len([name for name in files if name.endswith(".svg")]) == len(KRIS) == 8
    written = json.loads((tmp_path / "all" / "monitoring.json").read_text(encoding="utf-8"))
    assert written["blinded"] is True and written["scope"] == "all sites"
    codes = sorted(study.sites.values_list("code", flat=True))
    assert sorted({row["site"] for row in written["kris"]}) == codes
    assert len(written["kris"]) == len(codes) * len(KRIS)
    html = (tmp_path / "all" / "monitoring.html").read_text(encoding="utf-8")
    for kri in KRIS:
        assert f'<img src="{written["figures"][kri]}"' in html
    assert "<svg" in (tmp_path / "all" / written["figures"]["ae_rate"]).read_text()
    assert_blinded(study, tmp_path / "all")

    # the KRIs' counts are the store's rows, counted here directly
    kri = {(row["site"], row["kri"]): row for row in written["kris"]}
    for code in codes:
        at = Subject.objects.filter(study=study, site__code=code)
        assert kri[code, "screen_failure_rate"]["denominator"] == at.count()
        assert kri[code, "screen_failure_rate"]["numerator"] == (
            at.filter(status=SubjectStatus.SCREEN_FAILED).count()
        )
        assert kri[code, "withdrawal_rate"]["denominator"] == (
            at.filter(allocation__isnull=False).count()
        )
        assert kri[code, "ae_rate"]["numerator"] == (
            AdverseEvent.objects.filter(subject__in=at).count()
        )
        assert kri[code, "deviation_rate"]["numerator"] == (
            Deviation.objects.filter(subject__in=at, withdrawn_on__isnull=True).count()
        )
    assert sum(kri[c, "ae_rate"]["numerator"] for c in codes) > 0

    # a site-bound coordinator: their site only; no statistical check with one site
    one_site = report(cli, tmp_path / "01", "--user", "coordinator-01", "--overdispersion")
    assert one_site["sites"] == ["01"]
    written = json.loads((tmp_path / "01" / "monitoring.json").read_text(encoding="utf-8"))
    assert {row["site"] for row in written["kris"]} == {"01"}
    assert written["checks"] == []
    assert written["scope"].startswith("site 01 only")
    assert any("over-dispersion" in note for note in written["notes"])
    assert_blinded(study, tmp_path / "01")

    reader = StudyUser.objects.get(username="monitor")
    with django_assert_max_num_queries(12):
        data = monitoring_data(access_for(study, reader), TODAY)
    assert len(data.subjects) == Subject.objects.filter(study=study).count()
    assert not any(
        "arm" in column
        for frame in vars(data).values()
        if hasattr(frame, "columns")
        for column in frame.columns
    )


@pytest.mark.django_db
def test_monitor_report_refuses_bad_input(study: Any, cli: Any, tmp_path: Path) -> None:
    name = study.protocol_id
    unknown = cli("monitor", "report", name, "--out", tmp_path, "--user", "nobody")
    assert unknown.exit_code == 2 and "no such user" in unknown.output
    bad_date = cli("monitor", "report", name, "--out", tmp_path, "--as-of", "1 June")
    assert bad_date.exit_code == 2 and "YYYY-MM-DD" in bad_date.output
    assert not list(tmp_path.iterdir())
    # a study with no subject yet: a report of empty rates, no flag
    empty = cli("monitor", "report", name, "--out", tmp_path / "empty", "--json")
    assert empty.exit_code == 0, empty.output
    written = json.loads((tmp_path / "empty" / "monitoring.json").read_text(encoding="utf-8"))
    assert {row["flag"] for row in written["kris"]} == {"no data"}
