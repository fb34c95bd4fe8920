"""`import odm`: an ODM file's clinical data loaded through the form services (SQLite and
PostgreSQL), and the round trip export -> change -> import -> export, on a study made here and,
through the CLI, on a copy of each seed protocol's locked virtual trial.

The outside references: CDISC's ODM 1.3.2 schema (../shared/reference/odm/), the values the
tests enter by hand, the vitals definition's weight range written out here (25-300 kg), and
the audit chain's own verification.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from lxml import etree

from support.exchange_trial import store_home

from .conftest import OPERATOR, WOMAC_ALL_ONES

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "odm"
SCHEMA = REFERENCE / "odm1-3-2" / "ODM1-3-2.xsd"
NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3"}
DAY0 = dt.date(2024, 4, 1)
REASON = "restored from the ODM export"

Edit = Callable[[etree._Element], None]


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema10:
    return xmlschema.XMLSchema10(str(SCHEMA))


def export(study: Any, username: str, path: Path) -> Path:
    from trialdesk.exchange import odm
    from trialdesk.store.access import access_for
    from trialdesk.store.export_feed import export_source
    from trialdesk.store.models import StudyUser

    odm.write(export_source(access_for(study, StudyUser.objects.get(username=username))), path)
    return path


def clinical_values(path: Path) -> dict[tuple[str, str, str], dict[str, str]]:
    """(subject, visit, form) -> {item: Value} of the file's FormData (scores left out)."""
    root = etree.parse(str(path)).getroot()
    found = {}
    for subject in root.iterfind(".//odm:SubjectData", NS):
        for event in subject.iterfind("odm:StudyEventData", NS):
            for form in event.iterfind("odm:FormData", NS):
                name = form.get("FormOID").removeprefix("F.")
                group = form.find(f"odm:ItemGroupData[@ItemGroupOID='IG.{name}']", NS)
                found[
                    subject.get("SubjectKey"), event.get("StudyEventOID").removeprefix("SE."), name
                ] = {
                    item.get("ItemOID").removeprefix(f"I.{name}."): item.get("Value")
                    for item in group.iterfind("odm:ItemData", NS)
                }
    return found


def stored(study: Any) -> dict[tuple[str, str, str], dict[str, Any]]:
    from trialdesk.store.models import FormRecord

    return {
        (r.subject.code, r.visit.visit_id, r.form): r.values
        for r in FormRecord.objects.filter(subject__study=study).select_related("subject", "visit")
    }


def edited(source: Path, out: Path, *edits: Edit) -> Path:
    tree = etree.parse(str(source))
    for edit in edits:
        edit(tree.getroot())
    tree.write(str(out), xml_declaration=True, encoding="UTF-8")
    return out


def item(root: etree._Element, subject: str, visit: str, form: str, item_id: str) -> Any:
    return root.find(
        f".//odm:SubjectData[@SubjectKey='{subject}']/odm:StudyEventData[@StudyEventOID='SE."
        f"{visit}']/odm:FormData[@FormOID='F.{form}']//odm:ItemData[@ItemOID='I.{form}."
        f"{item_id}']",
        NS,
    )


def set_value(subject: str, visit: str, form: str, item_id: str, value: str) -> Edit:
    return lambda root: item(root, subject, visit, form, item_id).set("Value", value)


@pytest.fixture
def trial(study: Any, eligible_subject: Any) -> dict[str, str]:
    """KNEE-TEST with a treated subject at site 01 (WOMAC at D0 and W3, W3 dated) and an
    eligible one at site 02."""
    from trialdesk.store.services import (
        randomize_subject,
        record_administration,
        record_visit,
        save_form,
    )

    treated = eligible_subject("01")
    randomize_subject(study, treated, "ines")
    record_administration(study, treated, "C1", DAY0, "pia")
    record_administration(study, treated, "C2", DAY0 + dt.timedelta(days=21), "pia")
    save_form(study, treated, "D0", "womac", WOMAC_ALL_ONES, "ada")
    record_visit(study, treated, "W3", DAY0 + dt.timedelta(days=21), "ada")
    save_form(study, treated, "W3", "womac", {**WOMAC_ALL_ONES, "P1": 2}, "ada")
    return {"treated": treated, "other": eligible_subject("02")}


@pytest.mark.django_db
def test_a_round_trip_gives_the_same_data_and_a_trail_that_verifies(
    study: Any, trial: dict[str, str], tmp_path: Path, schema: xmlschema.XMLSchema10
) -> None:
    from trialdesk.store.audit import verify_audit_chain
    from trialdesk.store.models import AuditEvent
    from trialdesk.store.odm_import import import_odm
    from trialdesk.store.services import save_form

    treated, other = trial["treated"], trial["other"]
    a = export(study, "mona", tmp_path / "a.xml")
    assert list(schema.iter_errors(str(a))) == []
    before = stored(study)
    save_form(study, treated, "SCR", "vitals", {"height_cm": 170, "weight_kg": 72}, "ines", "again")
    save_form(study, treated, "W3", "womac", {**WOMAC_ALL_ONES, "P1": 4}, "ada", "misread")
    save_form(study, other, "SCR", "vitals", {"height_cm": 170}, "ines", "weight not measured")
    assert stored(study) != before

    result = import_odm(study, a, "ines", REASON)
    assert (result.forms, result.entered, result.changed) == (len(before), 0, 3)
    assert stored(study) == before
    b = export(study, "mona", tmp_path / "b.xml")
    assert list(schema.iter_errors(str(b))) == []
    assert clinical_values(b) == clinical_values(a)
    verification = verify_audit_chain()
    assert verification.ok, verification.problems
    restored = AuditEvent.objects.filter(by="ines", reason=REASON, field__startswith="values.")
    assert {(e.subject, e.field) for e in restored} == {
        (treated, "values.weight_kg"),
        (treated, "values.P1"),
        (other, "values.weight_kg"),
    }
    # Each restored item's audit record in B is the import's event.
    root = etree.parse(str(b)).getroot()
    weight = item(root, treated, "SCR", "vitals", "weight_kg")
    assert weight.get("TransactionType") == "Update"
    assert weight.findtext("odm:AuditRecord/odm:ReasonForChange", None, NS) == REASON
    # The same file again changes nothing.
    events = AuditEvent.objects.count()
    again = import_odm(study, a, "ines", REASON)
    assert (again.changed, again.entered, again.audit_events) == (0, 0, 0)
    assert AuditEvent.objects.count() == events


@pytest.mark.django_db
def test_a_form_the_subject_has_not_got_is_entered_and_its_visit_opened(
    study: Any, trial: dict[str, str], tmp_path: Path
) -> None:
    from trialdesk.store.models import Visit
    from trialdesk.store.odm_import import import_odm

    other = trial["other"]
    a = export(study, "mona", tmp_path / "a.xml")

    def add_baseline_womac(root: etree._Element) -> None:
        subject = root.find(f".//odm:SubjectData[@SubjectKey='{other}']", NS)
        event = etree.SubElement(subject, f"{{{NS['odm']}}}StudyEventData", StudyEventOID="SE.D0")
        form = etree.SubElement(event, f"{{{NS['odm']}}}FormData", FormOID="F.womac")
        group = etree.SubElement(form, f"{{{NS['odm']}}}ItemGroupData", ItemGroupOID="IG.womac")
        for item_id in ("P1", "P2", "S1"):
            etree.SubElement(
                group, f"{{{NS['odm']}}}ItemData", ItemOID=f"I.womac.{item_id}", Value="3"
            )

    assert not Visit.objects.filter(subject__code=other, visit_id="D0").exists()
    result = import_odm(study, edited(a, tmp_path / "b.xml", add_baseline_womac), "ines")
    assert (result.entered, result.changed) == (1, 0)
    values = stored(study)[other, "D0", "womac"]
    assert {k: v for k, v in values.items() if v is not None} == {"P1": 3, "P2": 3, "S1": 3}
    assert Visit.objects.filter(subject__code=other, visit_id="D0").exists()


def _study_oid(root: etree._Element) -> None:
    root.find("odm:ClinicalData", NS).set("StudyOID", "OTHER")


def _unknown_item(root: etree._Element) -> None:
    next(root.iterfind(".//odm:ItemData[@ItemOID='I.vitals.weight_kg']", NS)).set(
        "ItemOID", "I.vitals.weight"
    )


def _second_subject(attribute: str, value: str, element: str = "SubjectData") -> Edit:
    """The second subject's element (after the first subject's change is written)."""

    def edit(root: etree._Element) -> None:
        subject = root.findall(".//odm:SubjectData", NS)[1]
        target = subject if element == "SubjectData" else subject.find(f".//odm:{element}", NS)
        target.set(attribute, value)

    return edit


def _undated_visit(root: etree._Element) -> None:
    next(root.iterfind(".//odm:StudyEventData[@StudyEventOID='SE.W3']", NS)).set(
        "StudyEventOID", "SE.W12"
    )


@pytest.mark.parametrize(
    ("edit", "error", "message"),
    [
        (
            lambda root: next(
                root.iterfind(".//odm:ItemData[@ItemOID='I.vitals.weight_kg']", NS)
            ).set("Value", "400"),
            "InstrumentError",
            r"b\.xml:\d+: subject 01-001, visit SCR: vitals item weight_kg: 400 is not "
            r"allowed; expected a number from 25 to 300 kg",
        ),
        (
            _unknown_item,
            "BadInput",
            r"b\.xml:\d+: ItemOID I\.vitals\.weight: 'weight' is not an "
            r"item of vitals; expected one of height_cm, weight_kg",
        ),
        (
            _study_oid,
            "BadInput",
            r"b\.xml: <ClinicalData> of StudyOID 'OTHER'.*expected "
            r"'KNEE-TEST'",
        ),
        (_second_subject("SubjectKey", "02-099"), "NotFound", r"b\.xml:\d+: .*no subject '02-099'"),
        (
            _second_subject("LocationOID", "LOC.01", "SiteRef"),
            "BadInput",
            r"b\.xml:\d+: SiteRef LOC\.01; subject 02-001 is at site 02",
        ),
        (
            _second_subject("StudyEventOID", "SE.W99", "StudyEventData"),
            "BadInput",
            r"b\.xml:\d+: subject 02-001: no visit 'W99' in the protocol \(SCR, D0, W3, W12\)",
        ),
        (
            _second_subject("StudyEventOID", "SE.D0", "StudyEventData"),
            "BadInput",
            r"b\.xml:\d+: .*form 'screening_history' is not collected at this visit; expected "
            r"one of womac",
        ),
        (_undated_visit, "BadInput", r"b\.xml:\d+: subject 01-001, visit W12: no visit date"),
    ],
)
@pytest.mark.django_db
def test_a_refused_file_names_the_place_and_writes_nothing(
    study: Any, trial: dict[str, str], tmp_path: Path, edit: Edit, error: str, message: str
) -> None:
    from trialdesk import errors
    from trialdesk.store import errors as store_errors
    from trialdesk.store.models import AuditEvent
    from trialdesk.store.odm_import import import_odm

    a = export(study, "mona", tmp_path / "a.xml")
    # A change the first subject's forms make before the refusal: rolled back with it.
    first = set_value(trial["treated"], "SCR", "vitals", "weight_kg", "71")
    b = edited(a, tmp_path / "b.xml", first, edit)
    before, events = stored(study), AuditEvent.objects.count()
    expected = getattr(store_errors, error, None) or getattr(errors, error)
    with pytest.raises(expected, match=message):
        import_odm(study, b, "ines", REASON)
    assert stored(study) == before
    assert AuditEvent.objects.count() == events


@pytest.mark.django_db
def test_a_change_without_a_reason_a_user_without_the_role_and_a_locked_study_are_refused(
    study: Any, trial: dict[str, str], tmp_path: Path
) -> None:
    from trialdesk.store.errors import NotPermitted, ReasonRequired, StudyLocked
    from trialdesk.store.models import AuditEvent
    from trialdesk.store.odm_import import import_odm
    from trialdesk.store.services import lock_study

    a = export(study, "mona", tmp_path / "a.xml")
    b = edited(
        a, tmp_path / "b.xml", set_value(trial["treated"], "SCR", "vitals", "weight_kg", "71")
    )
    before, events = stored(study), AuditEvent.objects.count()
    with pytest.raises(
        ReasonRequired,
        match=r"b\.xml:\d+: .*form vitals: change: a reason is "
        r"required \(item weight_kg had a saved value\)",
    ):
        import_odm(study, b, "ines")
    with pytest.raises(NotPermitted, match=r"b\.xml:\d+: user mona may not enter forms at site 01"):
        import_odm(study, b, "mona", REASON)
    assert (stored(study), AuditEvent.objects.count()) == (before, events)
    lock_study(study, OPERATOR, "interim", override_reason="a test of the import")
    events = AuditEvent.objects.count()
    with pytest.raises(StudyLocked, match=r"b\.xml: KNEE-TEST .* is locked"):
        import_odm(study, b, "ines", REASON)
    assert (stored(study), AuditEvent.objects.count()) == (before, events)


# ---------------------------------------------------------------- the CLI on a seed trial


def _cli(home: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "TRIALDESK_HOME": str(home),
        "TRIALDESK_SECRET_KEY": "tests-only-" + "k" * 40,
        "TRIALDESK_AUDIT_KEY": "tests-only-audit-key-" + "a" * 32,
    }
    return subprocess.run(
        [sys.executable, "-m", "trialdesk.cli", *arguments],
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
    )


def _first_weight(root: etree._Element) -> etree._Element:
    return next(root.iterfind(".//odm:ItemData[@ItemOID='I.vitals.weight_kg']", NS))


@pytest.mark.parametrize(("protocol_id", "patients"), [("NCT04208646", 30), ("NCT05933434", 20)])
def test_the_cli_round_trip_on_a_locked_virtual_trial(
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    schema: xmlschema.XMLSchema10,
    protocol_id: str,
    patients: int,
) -> None:
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if base.name.startswith("popen-gw") else base
    home = tmp_path / "store"
    shutil.copytree(store_home(shared, protocol_id, patients), home)
    a = tmp_path / "a.xml"
    run = _cli(
        home, "export", protocol_id, "--format", "odm", "--out", str(a), "--user", "data_manager"
    )
    assert run.returncode == 0, run.stderr
    assert list(schema.iter_errors(str(a))) == []

    refused = _cli(home, "import", "odm", protocol_id, str(a), "--by", "assessor")
    assert refused.returncode == 1
    assert f"{a}: {protocol_id} v1.0 is locked" in refused.stderr
    assert (
        _cli(
            home, "study", "unlock", "--reason", "ODM round trip", "--study", protocol_id
        ).returncode
        == 0
    )

    # A': one weight changed (inside the vitals range, 25-300 kg).
    weight = float(_first_weight(etree.parse(str(a)).getroot()).get("Value"))
    changed = str(weight + 1.5 if weight + 1.5 <= 300 else weight - 1.5)
    a_changed = edited(
        a, tmp_path / "a-changed.xml", lambda r: _first_weight(r).set("Value", changed)
    )
    no_reason = _cli(home, "import", "odm", protocol_id, str(a_changed), "--by", "assessor")
    assert no_reason.returncode == 2 and "a reason is required" in no_reason.stderr
    for file, reason in ((a_changed, "correction from source"), (a, REASON)):
        run = _cli(
            home,
            "import",
            "odm",
            protocol_id,
            str(file),
            "--by",
            "assessor",
            "--reason",
            reason,
            "--json",
        )
        assert run.returncode == 0, run.stderr
        assert '"changed": 1' in run.stdout and '"entered": 0' in run.stdout
        again = tmp_path / f"after-{file.name}"
        run = _cli(
            home,
            "export",
            protocol_id,
            "--format",
            "odm",
            "--out",
            str(again),
            "--user",
            "data_manager",
        )
        assert run.returncode == 0, run.stderr
        assert clinical_values(again) == clinical_values(file)
    assert list(schema.iter_errors(str(again))) == []
    verify = _cli(home, "audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr


@pytest.mark.django_db
def test_forms_of_a_subject_who_has_not_consented_are_refused(
    study: Any, trial: dict[str, str], tmp_path: Path
) -> None:
    from trialdesk.store.errors import SubjectStateError
    from trialdesk.store.models import AuditEvent
    from trialdesk.store.odm_import import import_odm
    from trialdesk.store.services import screen_subject

    screened = screen_subject(
        study,
        "01",
        year_of_birth=1960,
        age=63,
        sex="female",
        by="ines",
        screened_on=dt.date(2024, 3, 1),
    ).code
    a = export(study, "mona", tmp_path / "a.xml")

    def add_vitals(root: etree._Element) -> None:
        subject = root.find(f".//odm:SubjectData[@SubjectKey='{screened}']", NS)
        event = etree.SubElement(subject, f"{{{NS['odm']}}}StudyEventData", StudyEventOID="SE.SCR")
        form = etree.SubElement(event, f"{{{NS['odm']}}}FormData", FormOID="F.vitals")
        group = etree.SubElement(form, f"{{{NS['odm']}}}ItemGroupData", ItemGroupOID="IG.vitals")
        etree.SubElement(group, f"{{{NS['odm']}}}ItemData", ItemOID="I.vitals.pulse", Value="60")

    b = edited(a, tmp_path / "b.xml", add_vitals)
    before, events = stored(study), AuditEvent.objects.count()
    with pytest.raises(
        SubjectStateError, match=rf"b\.xml:\d+: subject {screened} has not consented"
    ):
        import_odm(study, b, "ines")
    assert (stored(study), AuditEvent.objects.count()) == (before, events)
