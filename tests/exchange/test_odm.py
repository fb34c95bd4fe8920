"""ODM 1.3.2 export of both seed trials (locked virtual trials) and the reader of its ClinicalData.

The outside references: CDISC's ODM 1.3.2 schema and examples in ../shared/reference/odm/
(a known-invalid example is the control that the validation call rejects), the protocol
files and instrument definitions read here as plain YAML, and the extract's rows and audit
events the file is written from.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
import xmlschema
import yaml
from lxml import etree

from trialdesk.errors import BadInput
from trialdesk.exchange import odm
from trialdesk.exchange.odm_read import item_value, read_clinical_data
from trialdesk.exchange.source import ExportSource, StoredBatches

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "odm"
SCHEMA = REFERENCE / "odm1-3-2" / "ODM1-3-2.xsd"
EXAMPLES = REFERENCE / "examples"
ROOT = Path(__file__).resolve().parents[2]
PROTOCOLS = ROOT / "src" / "trialdesk" / "protocols"
DEFINITIONS = ROOT / "src" / "trialdesk" / "instruments" / "definitions"
NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3"}


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema10:
    return xmlschema.XMLSchema10(str(SCHEMA))


def schema_errors(schema: xmlschema.XMLSchema10, path: Path) -> list[str]:
    return [f"{error.path}: {error.reason}" for error in schema.iter_errors(str(path))]


@pytest.fixture(scope="module")
def written(
    tmp_path_factory: pytest.TempPathFactory, unblinded: ExportSource, blinded: ExportSource
):
    """{reader: ODM file} of this seed trial, each written once."""
    out = tmp_path_factory.mktemp("odm")
    files = {}
    for reader, source in (("unblinded", unblinded), ("blinded", blinded)):
        path = out / source.protocol.id / f"{reader}.xml"
        assert odm.write(source, path) == [path]
        files[reader] = path
    return files


def protocol_yaml(source: ExportSource) -> dict:
    return yaml.safe_load((PROTOCOLS / f"{source.protocol.id}.yaml").read_text())


def definition_yaml(form: str) -> dict:
    return yaml.safe_load((DEFINITIONS / f"{form}.yaml").read_text())


def test_validation_rejects_the_known_invalid_example(schema: xmlschema.XMLSchema10) -> None:
    errors = schema_errors(schema, EXAMPLES / "odmlib_cdash-odm-test-invalid.xml")
    assert len(errors) == 1 and "studyName" in errors[0]
    assert schema_errors(schema, EXAMPLES / "odmlib_odm-data-snapshot.xml") == []


@pytest.mark.parametrize("reader", ["unblinded", "blinded"])
def test_valid_against_the_official_schema(
    schema: xmlschema.XMLSchema10, written: dict[str, Path], reader: str
) -> None:
    path = written[reader]
    assert schema_errors(schema, path) == []
    root = etree.parse(str(path)).getroot()
    assert root.get("ODMVersion") == "1.3.2" and root.get("FileType") == "Transactional"
    # Pure ODM: every element in the ODM namespace (no vendor extension).
    assert {etree.QName(e).namespace for e in root.iter(etree.Element)} == {NS["odm"]}


def test_the_file_is_the_same_whatever_the_batches(
    tmp_path: Path, written: dict[str, Path], unblinded: ExportSource
) -> None:
    assert len(list(unblinded.batches())) > 1
    one = dataclasses.replace(unblinded, read=StoredBatches((unblinded.whole(),)))
    (path,) = odm.write(one, tmp_path / "one.xml")
    assert path.read_bytes() == written["unblinded"].read_bytes()


def test_every_reference_resolves(written: dict[str, Path]) -> None:
    root = etree.parse(str(written["unblinded"])).getroot()
    defined = {e.get("OID") for e in root.iter() if e.get("OID")}
    refs = {
        (e.tag, name, value)
        for e in root.iter(etree.Element)
        for name, value in e.attrib.items()
        if name.endswith("OID") and name != "OID" and name != "FileOID"
    }
    unresolved = {ref for ref in refs if ref[2] not in defined}
    assert unresolved == set()
    assert any(name == "ItemOID" for _, name, _ in refs)


def test_a_blinded_export_names_no_arm(
    written: dict[str, Path], unblinded: ExportSource, blinded: ExportSource
) -> None:
    arms = protocol_yaml(blinded)["arms"]
    # The control: the unblinded reader's rows do hold the arms, the blinded reader's none.
    assert {row["arm"] for row in unblinded.whole().extract.allocations} == {
        arm["id"] for arm in arms
    }
    assert {row["arm"] for row in blinded.whole().extract.allocations} == {None}
    text = written["blinded"].read_text(encoding="utf-8")
    for arm in arms:
        for word in (arm["id"], arm["label"]):
            assert not re.search(rf"\b{re.escape(word)}\b", text), word


def test_metadata_follow_the_protocol_and_the_instruments(
    written: dict[str, Path], unblinded: ExportSource
) -> None:
    root = etree.parse(str(written["unblinded"])).getroot()
    plan = protocol_yaml(unblinded)
    events = root.findall(".//odm:StudyEventDef", NS)
    assert [e.get("OID") for e in events] == [f"SE.{v['id']}" for v in plan["visits"]]
    for event, visit in zip(events, plan["visits"], strict=True):
        assert event.get("Name") == visit["label"]
        refs = [r.get("FormOID") for r in event.findall("odm:FormRef", NS)]
        assert refs == [f"F.{form}" for form in visit["forms"]]
    order = [r.get("StudyEventOID") for r in root.findall(".//odm:Protocol/odm:StudyEventRef", NS)]
    assert order == [f"SE.{v['id']}" for v in plan["visits"]]

    # The vitals' weight: the instrument's range (Hard) and the protocol's edit check EC5 (Soft).
    weight = root.find(".//odm:ItemDef[@OID='I.vitals.weight_kg']", NS)
    item = next(i for i in definition_yaml("vitals")["items"] if i["id"] == "weight_kg")
    check = next(c for c in plan["edit_checks"] if c.get("item") == "weight_kg")
    checks = {
        (r.get("SoftHard"), r.get("Comparator"), float(r.findtext("odm:CheckValue", None, NS)))
        for r in weight.findall("odm:RangeCheck", NS)
    }
    assert checks == {
        ("Hard", "GE", item["minimum"]),
        ("Hard", "LE", item["maximum"]),
        ("Soft", "GE", check["min"]),
        ("Soft", "LE", check["max"]),
    }
    assert weight.get("DataType") == "float"
    unit = weight.find("odm:MeasurementUnitRef", NS).get("MeasurementUnitOID")
    symbol = root.find(f".//odm:MeasurementUnit[@OID='{unit}']/odm:Symbol/odm:TranslatedText", NS)
    assert symbol.text == item["unit"]

    # A coded item: its code list holds the definition's options, in order.
    coded_form = next(
        form
        for visit in plan["visits"]
        for form in visit["forms"]
        if any(i.get("options") and i["type"] == "code" for i in definition_yaml(form)["items"])
    )
    coded = next(i for i in definition_yaml(coded_form)["items"] if i.get("options"))
    definition = root.find(f".//odm:ItemDef[@OID='I.{coded_form}.{coded['id']}']", NS)
    code_list = definition.find("odm:CodeListRef", NS).get("CodeListOID")
    entries = root.findall(f".//odm:CodeList[@OID='{code_list}']/odm:CodeListItem", NS)
    assert [
        (e.get("CodedValue"), e.findtext("odm:Decode/odm:TranslatedText", None, NS))
        for e in entries
    ] == [(str(option["value"]), option["label"]) for option in coded["options"]]


def _value_text(value: object) -> str:
    """How ODM spells a stored value (booleans true/false), written out here by hand."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def test_clinical_data_are_the_extracts_forms(
    written: dict[str, Path], unblinded: ExportSource
) -> None:
    root = etree.parse(str(written["unblinded"])).getroot()
    sites = {row["code"]: row["site"] for row in unblinded.whole().extract.subjects}
    found = {}
    for subject in root.findall(".//odm:SubjectData", NS):
        key = subject.get("SubjectKey")
        assert subject.find("odm:SiteRef", NS).get("LocationOID") == f"LOC.{sites[key]}"
        for event in subject.findall("odm:StudyEventData", NS):
            for form in event.findall("odm:FormData", NS):
                name = form.get("FormOID").removeprefix("F.")
                values = {
                    item.get("ItemOID").removeprefix(f"I.{name}."): item.get("Value")
                    for item in form.findall(
                        f"odm:ItemGroupData[@ItemGroupOID='IG.{name}']/odm:ItemData", NS
                    )
                }
                found[key, event.get("StudyEventOID").removeprefix("SE."), name] = values
    assert set(sites) == {s.get("SubjectKey") for s in root.findall(".//odm:SubjectData", NS)}
    expected = {
        (row["subject"], row["visit_id"], row["form"]): {
            item: _value_text(value) for item, value in row["values"].items() if value is not None
        }
        for row in unblinded.whole().extract.forms
    }
    assert found == expected
    assert sum(len(v) for v in found.values()) > 1000


def test_each_items_audit_record_is_the_event_that_set_its_value(
    written: dict[str, Path], unblinded: ExportSource
) -> None:
    root = etree.parse(str(written["unblinded"])).getroot()
    events = {event["seq"]: event for event in unblinded.whole().audit}
    checked = 0
    for item in root.iter(f"{{{NS['odm']}}}ItemData"):
        record = item.find("odm:AuditRecord", NS)
        if item.getparent().get("ItemGroupOID").endswith(".SCORES"):
            assert record is None  # derived: no entry of anyone's
            continue
        assert record is not None, item.get("ItemOID")
        seq = int(record.findtext("odm:SourceID", None, NS).removeprefix("audit event "))
        event = events[seq]
        item_id = item.get("ItemOID").split(".", 2)[2]
        assert event["object_type"] == "FormRecord" and event["field"] == f"values.{item_id}"
        assert _value_text(json.loads(event["new_value"])) == item.get("Value")
        assert record.find("odm:UserRef", NS).get("UserOID") == f"USR.{event['by']}"
        assert (record.findtext("odm:ReasonForChange", None, NS) or "") == event["reason"]
        checked += 1
    assert checked > 1000
    users = {u.get("OID") for u in root.findall(".//odm:AdminData/odm:User", NS)}
    assert users >= {f"USR.{event['by']}" for event in unblinded.whole().audit}


def test_signatures_are_the_unbroken_ones(
    written: dict[str, Path], unblinded: ExportSource
) -> None:
    root = etree.parse(str(written["unblinded"])).getroot()
    unbroken = {
        (row["subject"], row["visit_id"])
        for row in unblinded.whole().extract.signatures
        if row["broken_at"] is None
    }
    assert unbroken, "the locked trial's casebooks are signed"
    found = set()
    for signature in root.iter(f"{{{NS['odm']}}}Signature"):
        holder = signature.getparent()
        if holder.tag.endswith("SubjectData"):
            found.add((holder.get("SubjectKey"), ""))
        else:
            subject = holder.getparent().get("SubjectKey")
            found.add((subject, holder.get("StudyEventOID").removeprefix("SE.")))
    assert found == unbroken


def test_the_reader_gives_back_the_forms(written: dict[str, Path], unblinded: ExportSource) -> None:
    read = read_clinical_data(written["unblinded"])
    assert (read.study_oid, read.metadata_version_oid) == (
        unblinded.protocol.id,
        f"MDV.{unblinded.protocol.version}",
    )
    assert {(f.subject, f.visit_id, f.form): f.values for f in read.forms} == {
        (row["subject"], row["visit_id"], row["form"]): {
            item: _value_text(value) for item, value in row["values"].items() if value is not None
        }
        for row in unblinded.whole().extract.forms
    }


# ---------------------------------------------------------------- the reader's refusals


def odm_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "in.xml"
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" FileType="Snapshot" FileOID="F1"\n'
        '     CreationDateTime="2024-01-01T00:00:00Z" ODMVersion="1.3.2">\n'
        f"{body}\n</ODM>\n"
    )
    return path


def clinical(items: str, form: str = "F.vitals", group: str = "IG.vitals") -> str:
    return (
        '<ClinicalData StudyOID="S" MetaDataVersionOID="MDV.1">\n'
        ' <SubjectData SubjectKey="01-001"><SiteRef LocationOID="LOC.01"/>\n'
        '  <StudyEventData StudyEventOID="SE.SCR">\n'
        f'   <FormData FormOID="{form}"><ItemGroupData ItemGroupOID="{group}">\n'
        f"{items}\n"
        "   </ItemGroupData></FormData>\n"
        "  </StudyEventData>\n </SubjectData>\n</ClinicalData>"
    )


def test_the_reader_reads_a_small_file(tmp_path: Path) -> None:
    path = odm_file(
        tmp_path,
        clinical(
            '<ItemData ItemOID="I.vitals.weight_kg" Value="70.5"/>'
            '<ItemData ItemOID="I.vitals.pulse" IsNull="Yes"/>'
        ),
    )
    (entry,) = read_clinical_data(path).forms
    assert (entry.subject, entry.site, entry.visit_id, entry.form) == (
        "01-001",
        "01",
        "SCR",
        "vitals",
    )
    assert entry.values == {"weight_kg": "70.5", "pulse": None}
    assert entry.item_lines["weight_kg"] == 8


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            clinical('<ItemData ItemOID="I.vitals.weight_kg"/>'),
            r"in\.xml:8: .*has no Value; expected a Value attribute or IsNull",
        ),
        (
            clinical('<ItemData ItemOID="I.labs.alt" Value="1"/>'),
            r"in\.xml:8: .*ItemOID='I\.labs\.alt'; expected I\.vitals\.<id>",
        ),
        (
            clinical('<ItemData ItemOID="I.vitals.pulse" Value="60" TransactionType="Remove"/>'),
            r"in\.xml:8: .*TransactionType='Remove'; expected one of Insert",
        ),
        (
            clinical('<ItemData ItemOID="I.vitals.pulse" Value="60"/>', group="IG.labs"),
            r"in\.xml:7: .*ItemGroupOID='IG\.labs' in form vitals; expected IG\.vitals",
        ),
        (
            clinical(
                '<ItemData ItemOID="I.vitals.pulse" Value="60"/>'
                '<ItemData ItemOID="I.vitals.pulse" Value="61"/>'
            ),
            r"item pulse of form vitals again \(first at line 8\)",
        ),
        (clinical("", form="vitals"), r"in\.xml:7: <FormData> FormOID='vitals'; expected F\.<id>"),
        ("", r"in\.xml: no <ClinicalData>"),
    ],
)
def test_the_reader_refuses_what_it_cannot_take(tmp_path: Path, body: str, expected: str) -> None:
    with pytest.raises(BadInput, match=expected):
        read_clinical_data(odm_file(tmp_path, body))


def test_the_reader_refuses_xml_that_is_not_well_formed(tmp_path: Path) -> None:
    path = tmp_path / "in.xml"
    path.write_text("<ODM xmlns='http://www.cdisc.org/ns/odm/v1.3'>\n<Study>\n")
    with pytest.raises(BadInput, match=r"in\.xml:3: not well-formed XML \(.+\)"):
        read_clinical_data(path)


def test_the_reader_refuses_another_root(tmp_path: Path) -> None:
    path = tmp_path / "in.xml"
    path.write_text("<html><body/></html>")
    with pytest.raises(BadInput, match=r"in\.xml:1: the root element is <html>; expected <ODM>"):
        read_clinical_data(path)


@pytest.mark.parametrize(
    ("text", "item_type", "value"),
    [
        ("7", "integer", 7),
        ("70.5", "number", 70.5),
        ("170", "number", 170),
        ("true", "boolean", True),
        ("0", "boolean", False),
        ("medial", "code", "medial"),
        (None, "integer", None),
    ],
)
def test_item_values(text: str | None, item_type: str, value: object) -> None:
    assert item_value(text, item_type, "here") == value
    assert type(item_value(text, item_type, "here")) is type(value)


@pytest.mark.parametrize(
    ("text", "item_type", "expected"),
    [
        ("7.5", "integer", "expected an integer"),
        ("nan", "number", "expected a number"),
        ("yes", "boolean", "expected true or false"),
    ],
)
def test_item_values_refused(text: str, item_type: str, expected: str) -> None:
    with pytest.raises(BadInput, match=rf"^here: Value '{re.escape(text)}'; {expected}"):
        item_value(text, item_type, "here")
