"""`trialdesk analyze report` on a virtual trial of each seed protocol: blinded for the
statistician before the lock (no arm anywhere in what it writes), unblinded after it (every
section, numbers equal to the datasets and to a direct MMRM fit, a PDF), each unblinded run
recorded in the audit trail with the SHA-256 of its datasets. Before the lock (on the
seven-site trial), results by arm for the data monitoring committee's statistician only: a
pharmacist (unblinded to kits) gets a blinded report, a site-bound user a blinded report of
their site's subjects.

Like every store test they run on SQLite and PostgreSQL (the extract reads the same rows from
both). Reduced enrollments keep each run to seconds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from trialdesk.analysis.datasets import STUDY_KEYS, StudyExtract, build_datasets, primary_endpoint
from trialdesk.analysis.mmrm import fit_mmrm
from trialdesk.analysis.report import PdfUnavailable, ReportMeta, build_report
from trialdesk.cli import app
from trialdesk.errors import BadInput
from trialdesk.protocol import load_protocol
from trialdesk.store import services
from trialdesk.store.access import access_for
from trialdesk.store.audit import study_label
from trialdesk.store.demo import run_virtual_trial
from trialdesk.store.errors import NotPermitted
from trialdesk.store.extract import extract_study
from trialdesk.store.models import (
    Allocation,
    AuditEvent,
    FormRecord,
    Study,
    StudyUser,
    Subject,
    UnblindedOutput,
)
from trialdesk.store.services.outputs import record_unblinded_output
from trialdesk.store.services.setup import revoke_role

from .conftest import OPERATOR, WOMAC_ALL_ONES

TODAY = dt.date(2025, 6, 1)
SECTIONS = (
    "consort",
    "analysis-sets",
    "baseline",
    "primary",
    "responders",
    "figures",
    "safety",
    "deviations",
    "unblinding",
    "datasets",
)
UNBLINDED_TABLES = (
    "analysis-sets",
    "baseline-characteristics",
    "primary-descriptive",
    "mmrm-lsmeans",
    "mmrm-differences",
    "ancova",
    "responder-rates",
    "responder-differences",
    "ae-overview",
    "ae-by-term",
    "ae-by-grade",
    "ae-by-relatedness",
    "sae-listing",
    "deviations",
    "dataset-files",
)
#: The datasets written beside the report, in the order their SHA-256 covers them.
DATASET_FILES = (
    "subjects",
    "outcomes",
    "adverse_events",
    "deviations",
    "unblindings",
    "signatures",
    "diaries",
)


class Tables(HTMLParser):
    """Every <table id=...> of a page as rows of cell texts, and every element's attributes
    by its id."""

    def __init__(self, text: str):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.ids: dict[str, dict[str, str | None]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids[values["id"]] = values
        if tag == "table" and values.get("id"):
            self._table = values["id"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._table and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Any:
    """`trialdesk ...` in-process on the test database (already set up: no open_store)."""
    monkeypatch.setattr("trialdesk.store.database.open_store", lambda: None)
    return lambda *args: CliRunner().invoke(app, [str(arg) for arg in args])


def report(cli: Any, protocol_id: str, out: Path, *options: str) -> dict[str, Any]:
    result = cli("analyze", "report", protocol_id, "--out", out, *options, "--json")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def written_text(out: Path) -> dict[str, str]:
    return {
        path.name: path.read_text(encoding="utf-8")
        for path in sorted(out.iterdir())
        if path.suffix in (".html", ".csv", ".svg")
    }


def figure(cell: str) -> float:
    return float(cell.replace("−", "-"))


def written_sha256(out: Path) -> str:
    """SHA-256 of the datasets as written: each file's name and bytes, in the fixed order."""
    digest = hashlib.sha256()
    for name in DATASET_FILES:
        digest.update(f"{name}\n".encode())
        digest.update((out / f"{name}.csv").read_bytes())
    return digest.hexdigest()


def unblinded_outputs(study: Study) -> dict[int, dict[str, Any]]:
    """The `output.unblinded` audit events of the study, as {object id: fields and `by`}."""
    found: dict[int, dict[str, Any]] = {}
    events = AuditEvent.objects.filter(action="output.unblinded", study=study_label(study))
    for event in events.order_by("seq"):
        record = found.setdefault(int(event.object_id), {"by": event.by, "seq": event.seq})
        assert record["by"] == event.by
        record[event.field] = json.loads(event.new_value)
    return found


def check_recorded(study: Study, result: dict[str, Any], out: Path, user: str) -> None:
    """The run is one `output.unblinded` event of `user` with the written datasets' SHA-256,
    and the report names it."""
    recorded = result["unblinded_output"]
    event = unblinded_outputs(study)[recorded["id"]]
    expected = written_sha256(out)
    assert event["by"] == user and event["user"] == user
    assert event["what"] == "analysis report"
    assert event["input_sha256"] == expected == result["datasets_sha256"]
    row = UnblindedOutput.objects.get(pk=recorded["id"])
    assert (row.user.username, row.input_sha256, row.study_id) == (user, expected, study.pk)
    page = Tables((out / "report.html").read_text(encoding="utf-8"))
    meta = {cells[0]: cells[1] for cells in page.tables["report-meta"]}
    assert meta["Unblinded output recorded"].startswith(
        f"UnblindedOutput {row.pk}, audit event {event['seq']} "
    )


# Committed as in use, not inside a test transaction: on PostgreSQL the virtual trial's
# thousands of savepoints in one long transaction would overflow the subtransaction cache and
# slow every later query (tests/store/test_demo.py does the same).
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("protocol_id", "patients"), [("NCT04208646", 18), ("NCT05933434", 16)])
def test_blinded_before_lock_unblinded_after(
    django_db_setup: str,
    protocol_id: str,
    patients: int,
    cli: Any,
    tmp_path: Path,
    django_assert_max_num_queries: Any,
) -> None:
    run_virtual_trial(protocol_id, patients=patients, seed=11, today=TODAY, lock=False)
    study = Study.objects.get(protocol_id=protocol_id)
    protocol = study.protocol()
    assert not study.locked

    blinded_dir = tmp_path / "blinded"
    blinded = report(cli, protocol_id, blinded_dir, "--user", "statistician", "--no-pdf")
    assert blinded["blinded"] is True and blinded["pdf"] is None
    assert blinded["unblinded_output"] is None and blinded["sites"] is None
    check_blinded(blinded_dir, protocol)
    assert not UnblindedOutput.objects.exists() and not unblinded_outputs(study)
    if len(protocol.sites) > 1:  # NCT04208646, seven sites: the other readers, once
        check_other_readers_before_lock(cli, study, tmp_path)
    recorded = UnblindedOutput.objects.count()

    # The virtual trial's casebooks are not signed here: the report is what is tested.
    services.lock_study(study, "data_manager", override_reason="report test: unsigned")
    unblinded_dir = tmp_path / "unblinded"
    unblinded = report(cli, protocol_id, unblinded_dir, "--user", "statistician")
    assert unblinded["blinded"] is False
    assert Path(unblinded["pdf"]).read_bytes().startswith(b"%PDF")
    page = Path(unblinded["html"]).read_text(encoding="utf-8")
    assert "UNBLINDED" in page and "UTC by statistician" in page
    check_recorded(study, unblinded, unblinded_dir, "statistician")
    assert UnblindedOutput.objects.count() == recorded + 1
    statistician = access_for(
        Study.objects.get(pk=study.pk), StudyUser.objects.get(username="statistician")
    )
    with django_assert_max_num_queries(14):  # one query per table, however many subjects
        extract = extract_study(statistician)
    datasets = build_datasets(extract, protocol)
    tables = Tables(page)
    assert set(SECTIONS) <= set(tables.ids)
    assert set(UNBLINDED_TABLES) <= set(tables.tables), set(UNBLINDED_TABLES) - set(tables.tables)
    check_consort(unblinded_dir, datasets, protocol)
    check_mmrm(tables, datasets, protocol)
    subjects = pd.read_csv(unblinded_dir / "subjects.csv")
    assert list(subjects["subject"]) == list(datasets.subjects["subject"])
    assert unblinded["datasets_sha256"] in page
    check_lineage(datasets)

    services.unlock_study(study, "late query answered", "data_manager")
    reopened_dir = tmp_path / "reopened"
    reopened = report(cli, protocol_id, reopened_dir, "--user", "statistician", "--no-pdf")
    assert reopened["blinded"] is True  # an open database again: the statistician is blinded
    assert "Database reopened after lock" in (reopened_dir / "report.html").read_text()
    assert "reopened after lock" not in page
    assert reopened["unblinded_output"] is None
    assert UnblindedOutput.objects.count() == recorded + 1


def check_blinded(out: Path, protocol: Any) -> None:
    """No arm id (as a word) or arm label in any HTML, CSV or SVG file written."""
    texts = written_text(out)
    assert {"report.html", "subjects.csv", "outcomes.csv", "consort.svg"} <= set(texts)
    for arm in protocol.arms:
        for name, text in texts.items():
            assert not re.search(rf"\b{re.escape(arm.id)}\b", text), (arm.id, name)
            assert arm.label not in text, (arm.label, name)
    page = texts["report.html"]
    tables = Tables(page)
    assert "BLINDED" in page and "UNBLINDED" not in page
    assert set(SECTIONS) <= set(tables.ids)
    for comparison in ("mmrm-lsmeans", "mmrm-differences", "ancova", "responder-differences"):
        assert comparison not in tables.tables
    assert tables.tables["responder-rates"][1][0] == "All subjects"
    for name in DATASET_FILES:  # no arm column at all, not even an empty one
        header = texts[f"{name}.csv"].splitlines()[0].split(",")
        assert not {"arm", "arm_label"} & set(header), (name, header)
    subjects = pd.read_csv(out / "subjects.csv")
    assert subjects["randomized"].any()  # randomized subjects, written without their arm


def check_consort(out: Path, datasets: Any, protocol: Any) -> None:
    """The diagram's counts are the subjects frame's."""
    svg = (out / "consort.svg").read_text(encoding="utf-8")
    # The diagram's text, its wrapped lines joined again.
    text = " ".join(re.findall(r"<text[^>]*>([^<]*)</text>", svg))
    subjects = datasets.subjects

    def count(label: str) -> int:
        match = re.search(rf"{re.escape(label)} \(n = (\d+)\)", text)
        assert match, label
        return int(match.group(1))

    assert count("Assessed for eligibility") == len(subjects)
    assert count("Randomized") == int(subjects["randomized"].sum())
    analysed = [int(n) for n in re.findall(r"Analysed \(n = (\d+)\)", text)]
    for arm, n_analysed in zip(protocol.arms, analysed, strict=True):
        of_arm = subjects[subjects["arm"] == arm.id]
        assert count(f"Allocated to {arm.label}") == len(of_arm)
        assert n_analysed == int(of_arm["analysed"].sum())


def check_lineage(datasets: Any) -> None:
    """Outcome values and baselines are the scores of the form records they name."""
    outcomes = datasets.outcomes.dropna(subset=["baseline_source_id"])
    sample = outcomes.iloc[:: max(1, len(outcomes) // 25)]
    ids = {int(i.split(":")[1]) for i in [*sample["source_id"], *sample["baseline_source_id"]]}
    records = FormRecord.objects.select_related("visit", "subject").in_bulk(ids)
    for row in sample.itertuples(index=False):
        form, score = row.parameter.split(".", 1)
        for source_id, value in (
            (row.source_id, row.value),
            (row.baseline_source_id, row.baseline),
        ):
            record = records[int(source_id.split(":")[1])]
            assert (record.subject.code, record.form) == (row.subject, form)
            assert record.scores[score] == pytest.approx(value)
        assert records[int(row.source_id.split(":")[1])].visit.visit_id == row.visit


def check_mmrm(tables: Tables, datasets: Any, protocol: Any) -> None:
    """The LS-mean differences printed are those of a fit made here from the datasets, with
    the covariance structure the report says it used."""
    endpoint = primary_endpoint(protocol)
    model = tables.ids["mmrm-model"]
    outcomes = datasets.outcomes
    data = outcomes[
        (outcomes["parameter"] == endpoint.parameter)
        & outcomes["visit"].isin(endpoint.visits)
        & outcomes["change"].notna()
    ].merge(datasets.subjects[["subject", "site", "kl_grade"]], on="subject")
    terms = ["arm", "visit", "arm:visit", "baseline", "baseline:visit", "kl_grade"]
    if data["site"].nunique() > 1:
        terms.append("site")
    fit = fit_mmrm(
        data.assign(arm=data["arm"].astype(str), kl_grade=data["kl_grade"].astype(str)),
        "change",
        model["data-formula"],
        "subject",
        "visit",
        covariance=model["data-covariance"],
        df="kr",
        references={"arm": protocol.control_arm()},
        visit_order=list(endpoint.visits),
    )
    assert model["data-formula"] == " + ".join(terms)
    assert fit.converged
    differences = fit.lsmean_differences("arm", by="visit")
    labels = {arm.id: arm.label for arm in protocol.arms}
    printed = tables.tables["mmrm-differences"][1:]
    visit = None
    for row in printed:
        visit = row[0] or visit
        arm_label = row[1].split(" − ")[0]
        arm = next(a for a, label in labels.items() if label == arm_label)
        expected = differences[(differences["visit"] == visit) & (differences["arm"] == arm)]
        assert len(expected) == 1
        assert figure(row[2]) == pytest.approx(expected["estimate"].iloc[0], abs=0.006)
        lower, upper = (figure(part) for part in row[4].split(" to "))
        assert lower == pytest.approx(expected["lower"].iloc[0], abs=0.006)
        assert upper == pytest.approx(expected["upper"].iloc[0], abs=0.006)
    assert len(printed) == len(differences)


def check_other_readers_before_lock(cli: Any, study: Study, tmp_path: Path) -> None:
    """Before the lock: the pharmacist (unblinded to kits) and a site's coordinator get blinded
    reports, the coordinator's of their site's subjects only, and nothing is recorded; the
    DMC statistician gets results by arm, recorded with the datasets' SHA-256."""
    protocol = study.protocol()
    services.add_user(study, "dmc", "dmc_statistician", OPERATOR)

    pharmacist_dir = tmp_path / "pharmacist"
    pharmacist = report(cli, study.protocol_id, pharmacist_dir, "--user", "pharmacist", "--no-pdf")
    assert pharmacist["blinded"] is True and pharmacist["unblinded_output"] is None
    check_blinded(pharmacist_dir, protocol)
    all_codes = set(Subject.objects.filter(study=study).values_list("code", flat=True))
    assert set(pd.read_csv(pharmacist_dir / "subjects.csv")["subject"]) == all_codes
    assert not UnblindedOutput.objects.exists() and not unblinded_outputs(study)

    randomized_at = set(
        Allocation.objects.filter(subject__study=study).values_list(
            "subject__site__code", flat=True
        )
    )
    empty = sorted(site.id for site in protocol.sites if site.id not in randomized_at)[0]
    refused = cli(
        "analyze",
        "report",
        study.protocol_id,
        "--out",
        tmp_path / "empty",
        "--user",
        f"coordinator-{empty}",
        "--no-pdf",
    )
    assert refused.exit_code == 2, refused.output
    assert f"no randomized subject at site {empty} (the sites of --user" in refused.stderr
    assert not (tmp_path / "empty").exists()
    site = sorted(randomized_at)[0]
    site_dir = tmp_path / "site"
    site_report = report(
        cli, study.protocol_id, site_dir, "--user", f"coordinator-{site}", "--no-pdf"
    )
    assert site_report["blinded"] is True and site_report["sites"] == [site]
    check_blinded(site_dir, protocol)
    of_site = set(
        Subject.objects.filter(study=study, site__code=site).values_list("code", flat=True)
    )
    assert of_site and of_site < all_codes  # the demo recruits at more than one site
    written = set(pd.read_csv(site_dir / "subjects.csv")["subject"])
    assert written == of_site
    for name in ("outcomes", "adverse_events", "deviations", "unblindings", "signatures"):
        assert set(pd.read_csv(site_dir / f"{name}.csv")["subject"]) <= of_site, name
    meta = {
        c[0]: c[1] for c in Tables((site_dir / "report.html").read_text()).tables["report-meta"]
    }
    assert meta["Subjects"] == f"site {site} only: the sites of coordinator-{site}'s roles"
    assert not UnblindedOutput.objects.exists()

    dmc_dir = tmp_path / "dmc"
    dmc = report(cli, study.protocol_id, dmc_dir, "--user", "dmc", "--no-pdf")
    assert dmc["blinded"] is False and not Study.objects.get(pk=study.pk).locked
    page = (dmc_dir / "report.html").read_text(encoding="utf-8")
    assert "UNBLINDED" in page and "mmrm-differences" in Tables(page).tables
    arms = set(pd.read_csv(dmc_dir / "subjects.csv")["arm"].dropna())
    assert arms == {arm.id for arm in protocol.arms}
    check_recorded(study, dmc, dmc_dir, "dmc")
    assert UnblindedOutput.objects.count() == 1


@pytest.mark.django_db
def test_recording_unblinded_output_is_for_authorised_roles(study: Any) -> None:
    """The service refuses, recording nothing, whoever may not see results by arm now."""
    digest = hashlib.sha256(b"the datasets").hexdigest()
    services.add_user(study, "stella", "statistician", OPERATOR)
    services.add_user(study, "dora", "dmc_statistician", OPERATOR)
    services.add_user(study, "sid", "statistician", OPERATOR, "01")
    for user in ("pia", "stella", "colin", "mona"):
        with pytest.raises(NotPermitted, match="by arm is for the study-wide statistician"):
            record_unblinded_output(study, user, "analysis report", digest)
    assert not UnblindedOutput.objects.exists() and not unblinded_outputs(study)
    before_lock = record_unblinded_output(study, "dora", "interim datasets", digest)
    services.lock_study(study, OPERATOR)
    with pytest.raises(NotPermitted):  # a site-bound statistician, even after the lock
        record_unblinded_output(study, "sid", "analysis report", digest)
    after_lock = record_unblinded_output(study, "stella", "analysis report", digest)
    events = unblinded_outputs(study)
    assert set(events) == {before_lock.pk, after_lock.pk}
    assert (events[before_lock.pk]["by"], events[before_lock.pk]["what"]) == (
        "dora",
        "interim datasets",
    )
    assert events[after_lock.pk]["user"] == "stella"
    assert events[after_lock.pk]["input_sha256"] == digest
    with pytest.raises(BadInput, match="64 lowercase hexadecimal digits"):
        record_unblinded_output(study, "stella", "analysis report", "not a digest")
    assert UnblindedOutput.objects.count() == 2


def test_the_analysis_commands_know_nothing_of_the_store() -> None:
    probe = (
        "import sys, trialdesk.analysis.cli, trialdesk.analysis.report; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'django' "
        "or m.startswith('trialdesk.store')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]", result.stdout
    source = Path(__file__).parents[2] / "src" / "trialdesk" / "analysis"
    for path in source.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(from|import) (trialdesk\.store|django)", text, re.M), path


@pytest.mark.django_db
def test_bad_study_or_user_exits_2(django_db_setup: str, study: Any, cli: Any, tmp_path) -> None:
    services.add_user(study, "rita", "monitor", OPERATOR)
    revoke_role(study, "rita", "monitor", "left the sponsor", OPERATOR)
    cases = [
        (("NOPE", "--user", "ines"), "no study NOPE"),
        (("KNEE-TEST", "--user", "nobody"), "--user 'nobody': no such user"),
        (("KNEE-TEST", "--user", "rita"), "--user 'rita' has no role in KNEE-TEST"),
    ]
    for arguments, message in cases:
        result = cli("analyze", "report", *arguments, "--out", tmp_path, "--no-pdf")
        assert result.exit_code == 2, result.output
        assert message in result.stderr and result.stdout == ""
    assert not any(tmp_path.iterdir())


@pytest.mark.django_db
def test_extract_reads_every_table_of_the_study(
    study: Any, eligible_subject: Any, consented_subject: Any, django_assert_max_num_queries: Any
) -> None:
    """On both backends: one subject through each table, a withdrawal and a screen failure
    with their reasons; the query count does not grow with the subjects."""
    day0 = dt.date(2024, 3, 10)
    treated, withdrawn = eligible_subject(), eligible_subject()
    declined = consented_subject()
    elsewhere = eligible_subject(site="02")
    for code in (treated, withdrawn, elsewhere):
        services.randomize_subject(study, code, "ines")
    services.record_administration(study, treated, "C1", day0, "pia")
    services.save_form(study, treated, "D0", "womac", WOMAC_ALL_ONES, "ada")
    services.record_visit(study, treated, "W3", day0 + dt.timedelta(days=30), "ines")
    services.record_deviation(
        study,
        treated,
        kind="dosing_error",
        description="half dose",
        detected_on=day0,
        by="ines",
    )
    services.report_adverse_event(
        study,
        treated,
        term="Septic arthritis",
        onset_date=day0 + dt.timedelta(days=2),
        ctcae_grade=3,
        seriousness=["hospitalization"],
        relatedness="possible",
        expected=False,
        action_taken="dose_not_changed",
        outcome="recovering",
        awareness_at=dt.datetime(2024, 3, 13, 8, tzinfo=dt.UTC),
        by="ines",
    )
    services.unblind_subject(study, treated, "anaphylaxis", "ines")
    services.withdraw_subject(study, withdrawn, "moved away", "ines")
    services.record_screen_failure(study, declined, "declined consent", "ines")
    services.add_user(study, "dora", "dmc_statistician", OPERATOR)
    dmc = access_for(study, StudyUser.objects.get(username="dora"))
    with django_assert_max_num_queries(14):
        extract = extract_study(dmc)
    arms = {row["subject"]: row["arm"] for row in extract.allocations}
    assert set(arms) == {treated, withdrawn, elsewhere}
    assert set(arms.values()) <= {"CELLS", "SALINE"}
    assert [row["administration_id"] for row in extract.administrations] == ["C1"]
    (visit,) = [row for row in extract.visits if row["visit_id"] == "W3"]
    assert visit["actual_date"] == day0 + dt.timedelta(days=30) and visit["status"] == "done"
    kinds = sorted((row["kind"], row["automatic"]) for row in extract.deviations)
    assert kinds == [("dosing_error", False), ("visit_out_of_window", True)]
    (event,) = extract.adverse_events
    assert event["seriousness"] == ["hospitalization"] and event["report_due_at"] is not None
    assert [row["reason"] for row in extract.unblindings] == ["anaphylaxis"]
    (womac,) = [row for row in extract.forms if row["form"] == "womac"]
    assert womac["scores"]["total"] == 24 and womac["visit_id"] == "D0"
    subjects = build_datasets(extract, study.protocol()).subjects.set_index("subject")
    assert subjects.loc[withdrawn, "discontinuation_reason"] == "moved away"
    assert subjects.loc[declined, "screen_failure_reason"] == "declined consent"
    assert subjects.loc[treated, "arm"] == arms[treated]
    assert not subjects.loc[treated, "per_protocol"]  # one administration of two, a deviation

    # The pharmacist sees kits, not results: every subject, no arm. Colin (coordinator at
    # site 01) reads site 01's subjects only, and their rows only.
    pharmacist = extract_study(access_for(study, StudyUser.objects.get(username="pia")))
    assert {row["code"] for row in pharmacist.subjects} == {row["code"] for row in extract.subjects}
    assert [row["arm"] for row in pharmacist.allocations] == [None] * 3
    colin = extract_study(access_for(study, StudyUser.objects.get(username="colin")))
    assert {row["code"] for row in colin.subjects} == {treated, withdrawn, declined}
    assert {row["subject"] for row in colin.allocations} == {treated, withdrawn}
    assert {row["arm"] for row in colin.allocations} == {None}
    for name in ("status_changes", "eligibility", "forms", "visits"):
        assert elsewhere not in {row["subject"] for row in getattr(colin, name)}, name
    assert elsewhere in {row["subject"] for row in extract.eligibility}


def test_a_pdf_without_chromium_names_the_package(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("trialdesk.analysis.report.pdf.CHROMIUM", tmp_path / "no-chromium")
    protocol = load_protocol("NCT05933434")
    meta = ReportMeta(study="NCT05933434 v1.0", protocol_sha256="0" * 64, generated_by="stat")
    empty = StudyExtract(study={key: None for key in STUDY_KEYS})
    with pytest.raises(PdfUnavailable, match=r"install it with `apt-get install chromium`"):
        build_report(empty, protocol, blinded=True, out_dir=tmp_path / "out", meta=meta)
    assert not (tmp_path / "out").exists()
