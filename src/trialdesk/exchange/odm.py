"""CDISC ODM 1.3.2: the study's metadata and clinical data as one Transactional ODM file.

What is written (pure ODM 1.3.2, namespace http://www.cdisc.org/ns/odm/v1.3, no vendor
extension, so the file validates against CDISC's own schema):

- `Study`: GlobalVariables from the protocol's titles; BasicDefinitions with every unit of the
  instruments' items and scores; one MetaDataVersion (the protocol version) with the visits as
  StudyEventDefs (each with FormRefs of the forms due there, in the protocol's order), one
  FormDef per instrument with an ItemGroupDef of its items and, when it has scores, one of its
  scores (each score's ItemRef names a MethodDef that says how it is derived), ItemDefs with
  DataType, question (the instrument's label), unit, the instrument's range as Hard
  RangeChecks and the protocol's `range` and `expression` edit checks as Soft RangeChecks,
  CodeLists of the coded items.
- `AdminData`: the users of the audit trail and the signers, the sites as Locations, one
  SignatureDef per signature meaning.
- `ClinicalData`: per subject, in code order (SubjectData with its SiteRef and the
  casebook's signature) and visit (StudyEventData with the visit's signature), each form
  record with its item values (a missing value is left out) and its derived scores. Each
  item's AuditRecord is the audit event that set its current value: who, where (the
  subject's site), when, why, and the event's sequence number as SourceID; its
  TransactionType is Insert for a value entered once, Update for one changed since. A broken
  signature no longer vouches for the data and is not written.

Nothing here names an arm or a kit: ODM carries the forms, and a blinded source's rows have
none to give. OIDs follow one scheme (`SE.<visit>`, `F.<form>`, `IG.<form>`,
`IG.<form>.SCORES`, `I.<form>.<item>`, `CL.<form>.<item>`, `MU.<unit>`, `MT.<form>.<score>`,
`USR.<user>`, `LOC.<site>`, `SD.<n>`), which `trialdesk.exchange.odm_read` reads back.

The file is streamed (`lxml.etree.xmlfile`) and the study read batch by batch
(`ExportSource.batches()`): the metadata from the protocol, AdminData from the source's users,
subjects and signatures, then one SubjectData at a time, made from its batch. The file is the
same whatever the batch size.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lxml import etree

from trialdesk.exchange.source import by_subject
from trialdesk.instruments import get_instrument
from trialdesk.instruments.definition import FormulaScore, Instrument, ItemScore, ItemSetScore
from trialdesk.protocol.edit_checks import FormExpression, ItemRange

if TYPE_CHECKING:
    from trialdesk.exchange.source import ExportSource, SourceBatch
    from trialdesk.protocol.model import Protocol

#: One row of the extract or the audit trail (as `trialdesk.analysis.datasets.Row`, whose
#: module needs pandas, which reading and writing ODM do not).
Row = Mapping[str, Any]

NS = "http://www.cdisc.org/ns/odm/v1.3"
ODM_VERSION = "1.3.2"
#: The instruments' item types and score types as ODM DataTypes.
DATA_TYPES = {
    "integer": "integer",
    "number": "float",
    "boolean": "boolean",
    "text": "text",
    "code": "text",
}
#: The audit trail's object for form records and its field prefix for item values.
FORM_RECORD = "FormRecord"
VALUE_FIELD = "values."
LEGAL_REASON = (
    "Electronic signature of the investigator (21 CFR 11.50): printed name, date and time, "
    "and meaning"
)


def q(name: str) -> str:
    """The qualified name of an ODM element."""
    return f"{{{NS}}}{name}"


# ---------------------------------------------------------------- OIDs


def study_event_oid(visit_id: str) -> str:
    return f"SE.{visit_id}"


def form_oid(form: str) -> str:
    return f"F.{form}"


def item_group_oid(form: str) -> str:
    return f"IG.{form}"


def score_group_oid(form: str) -> str:
    return f"IG.{form}.SCORES"


def item_oid(form: str, item: str) -> str:
    return f"I.{form}.{item}"


def unit_oid(unit: str) -> str:
    return "MU." + re.sub(r"[^A-Za-z0-9]+", "_", unit).strip("_")


def user_oid(user: str) -> str:
    return f"USR.{user}"


def location_oid(site: str) -> str:
    return f"LOC.{site}"


def metadata_version_oid(protocol: Protocol) -> str:
    return f"MDV.{protocol.version}"


# ---------------------------------------------------------------- values


def odm_value(value: Any) -> str:
    """An item's stored value as ODM text: booleans true/false, numbers without exponent."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = repr(value)
        return format(Decimal(text), "f") if "e" in text or "E" in text else text
    return str(value)


def odm_datetime(instant: dt.datetime) -> str:
    """An aware instant in UTC as ODM's datetime (ISO 8601 with Z)."""
    return instant.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------- the writer


def write(source: ExportSource, out: Path) -> list[Path]:
    """Write the study as one ODM 1.3.2 file at `out`; returns [out].

    AdminData comes before ClinicalData and names the signers and the signature meanings,
    taken from the source's signatures (`Signers`); then one SubjectData at a time, each made
    from its batch, so one batch is held at a time."""
    protocol = source.protocol
    forms = protocol_forms(protocol)
    instruments = {form: get_instrument(form) for form in forms}
    signers = Signers.of(source.signatures)
    signature_oids = {meaning: f"SD.{n}" for n, meaning in enumerate(signers.meanings, 1)}
    study_oid = protocol.id
    mdv_oid = metadata_version_oid(protocol)
    out.parent.mkdir(parents=True, exist_ok=True)
    with etree.xmlfile(str(out), encoding="UTF-8") as xml:
        xml.write_declaration()
        attributes = {
            "FileType": "Transactional",
            "FileOID": f"{study_oid}.{odm_datetime(source.exported_at)}",
            "CreationDateTime": odm_datetime(source.exported_at),
            "ODMVersion": ODM_VERSION,
            "Originator": source.exported_by,
            "SourceSystem": "trialdesk",
            "AsOfDateTime": odm_datetime(source.study["extracted_at"]),
        }
        with xml.element(q("ODM"), attributes, nsmap={None: NS}):
            xml.write(study_element(protocol, forms, instruments))
            xml.write(admin_element(source, signers, signature_oids), pretty_print=True)
            with xml.element(
                q("ClinicalData"), {"StudyOID": study_oid, "MetaDataVersionOID": mdv_oid}
            ):
                for batch in source.batches():
                    for subject in subject_elements(protocol, batch, instruments, signature_oids):
                        xml.write(subject, pretty_print=True)
    return [out]


def protocol_forms(protocol: Protocol) -> list[str]:
    """Every form of the protocol's visits, in the order they first appear."""
    return list(dict.fromkeys(form for visit in protocol.visits for form in visit.forms))


def _translated(parent: etree._Element, name: str, text: str) -> etree._Element:
    element = etree.SubElement(parent, q(name))
    translated = etree.SubElement(element, q("TranslatedText"))
    translated.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    translated.text = text
    return element


def _text(parent: etree._Element, name: str, text: str) -> etree._Element:
    element = etree.SubElement(parent, q(name))
    element.text = text
    return element


def _units(instruments: Mapping[str, Instrument]) -> dict[str, str]:
    """unit -> MeasurementUnit OID, for every unit of the instruments' items and scores."""
    units: dict[str, str] = {}
    for instrument in instruments.values():
        for element in (*instrument.items, *instrument.scores):
            if element.unit and element.unit not in units:
                oid = unit_oid(element.unit)
                if oid in units.values():  # two spellings of one OID: keep them apart
                    oid = f"{oid}.{len(units)}"
                units[element.unit] = oid
    return units


def study_element(
    protocol: Protocol, forms: list[str], instruments: Mapping[str, Instrument]
) -> etree._Element:
    """The Study: global variables, units and the metadata of the protocol's version."""
    study = etree.Element(q("Study"), OID=protocol.id, nsmap={None: NS})
    variables = etree.SubElement(study, q("GlobalVariables"))
    _text(variables, "StudyName", protocol.titles.acronym or protocol.id)
    _text(variables, "StudyDescription", protocol.titles.official or protocol.titles.brief)
    _text(variables, "ProtocolName", protocol.identifiers.org_study_id or protocol.id)
    units = _units(instruments)
    if units:
        basic = etree.SubElement(study, q("BasicDefinitions"))
        for unit, oid in units.items():
            measurement = etree.SubElement(basic, q("MeasurementUnit"), OID=oid, Name=unit)
            _translated(measurement, "Symbol", unit)
    version = etree.SubElement(
        study,
        q("MetaDataVersion"),
        OID=metadata_version_oid(protocol),
        Name=f"{protocol.id} protocol version {protocol.version}",
    )
    plan = etree.SubElement(version, q("Protocol"))
    for order, visit in enumerate(protocol.visits, 1):
        etree.SubElement(
            plan,
            q("StudyEventRef"),
            StudyEventOID=study_event_oid(visit.id),
            OrderNumber=str(order),
            Mandatory="Yes",
        )
    for visit in protocol.visits:
        event = etree.SubElement(
            version,
            q("StudyEventDef"),
            OID=study_event_oid(visit.id),
            Name=visit.label,
            Repeating="No",
            Type="Scheduled",
        )
        _translated(
            event,
            "Description",
            f"Day {visit.day}, window {visit.first_day} to {visit.last_day}",
        )
        for order, form in enumerate(visit.forms, 1):
            etree.SubElement(
                event, q("FormRef"), FormOID=form_oid(form), OrderNumber=str(order), Mandatory="Yes"
            )
    for form in forms:
        instrument = instruments[form]
        definition = etree.SubElement(
            version, q("FormDef"), OID=form_oid(form), Name=instrument.title, Repeating="No"
        )
        _translated(definition, "Description", _form_description(instrument))
        etree.SubElement(
            definition,
            q("ItemGroupRef"),
            ItemGroupOID=item_group_oid(form),
            OrderNumber="1",
            Mandatory="Yes",
        )
        if instrument.scores:
            etree.SubElement(
                definition,
                q("ItemGroupRef"),
                ItemGroupOID=score_group_oid(form),
                OrderNumber="2",
                Mandatory="No",
            )
    for form in forms:
        _item_group_defs(version, instruments[form])
    checks = _range_checks(protocol)
    for form in forms:
        _item_defs(version, instruments[form], units, checks)
    for form in forms:
        _code_lists(version, instruments[form])
    for form in forms:
        _method_defs(version, instruments[form])
    return study


def _form_description(instrument: Instrument) -> str:
    version = f" (version {instrument.version})" if instrument.version else ""
    return f"{instrument.description.strip()}{version} Licence: {instrument.licence.name}."


def _item_group_defs(version: etree._Element, instrument: Instrument) -> None:
    form = instrument.id
    group = etree.SubElement(
        version,
        q("ItemGroupDef"),
        OID=item_group_oid(form),
        Name=f"{instrument.title}: items",
        Repeating="No",
    )
    for order, item in enumerate(instrument.items, 1):
        etree.SubElement(
            group,
            q("ItemRef"),
            ItemOID=item_oid(form, item.id),
            OrderNumber=str(order),
            Mandatory="No",
        )
    if not instrument.scores:
        return
    scores = etree.SubElement(
        version,
        q("ItemGroupDef"),
        OID=score_group_oid(form),
        Name=f"{instrument.title}: scores (derived)",
        Repeating="No",
    )
    for order, score in enumerate(instrument.scores, 1):
        etree.SubElement(
            scores,
            q("ItemRef"),
            ItemOID=item_oid(form, score.id),
            OrderNumber=str(order),
            Mandatory="No",
            MethodOID=f"MT.{form}.{score.id}",
        )


@dataclass(frozen=True)
class RangeCheck:
    """One ODM RangeCheck of an item: a comparison with a value, or a formal expression."""

    soft_hard: str
    message: str
    comparator: str = ""
    value: float | None = None
    expression: str = ""


def _range_checks(protocol: Protocol) -> dict[tuple[str, str], list[RangeCheck]]:
    """(form, item) -> the protocol's edit checks that are range checks of that item: `range`
    (min and max) and `expression` checks put on an item."""
    checks: dict[tuple[str, str], list[RangeCheck]] = defaultdict(list)
    for check in protocol.edit_checks:
        text = f"{check.id}: {check.text}"
        if isinstance(check, ItemRange):
            if check.min is not None:
                checks[check.form, check.item].append(RangeCheck("Soft", text, "GE", check.min))
            if check.max is not None:
                checks[check.form, check.item].append(RangeCheck("Soft", text, "LE", check.max))
        elif isinstance(check, FormExpression) and check.item:
            checks[check.form, check.item].append(
                RangeCheck("Soft", text, expression=check.expression)
            )
    return checks


def _item_defs(
    version: etree._Element,
    instrument: Instrument,
    units: Mapping[str, str],
    checks: Mapping[tuple[str, str], list[RangeCheck]],
) -> None:
    form = instrument.id
    for item in instrument.items:
        definition = etree.SubElement(
            version,
            q("ItemDef"),
            OID=item_oid(form, item.id),
            Name=item.id,
            DataType=DATA_TYPES[item.type],
        )
        if item.description:
            _translated(definition, "Description", item.description.strip())
        _translated(definition, "Question", item.label)
        if item.unit:
            etree.SubElement(
                definition, q("MeasurementUnitRef"), MeasurementUnitOID=units[item.unit]
            )
        own = []
        if item.minimum is not None:
            own.append(RangeCheck("Hard", f"expected {item.allowed()}", "GE", item.minimum))
        if item.maximum is not None:
            own.append(RangeCheck("Hard", f"expected {item.allowed()}", "LE", item.maximum))
        for check in (*own, *checks.get((form, item.id), ())):
            _range_check(definition, check, units.get(item.unit or ""))
        if item.options:
            etree.SubElement(
                definition, q("CodeListRef"), CodeListOID=_code_list_oids(instrument)[item.id]
            )
    for score in instrument.scores:
        definition = etree.SubElement(
            version,
            q("ItemDef"),
            OID=item_oid(form, score.id),
            Name=score.id,
            DataType=DATA_TYPES[score.type],
            Origin="Derived",
        )
        _translated(definition, "Question", score.label)
        if score.unit:
            etree.SubElement(
                definition, q("MeasurementUnitRef"), MeasurementUnitOID=units[score.unit]
            )


def _range_check(definition: etree._Element, check: RangeCheck, unit: str | None) -> None:
    attributes = {"SoftHard": check.soft_hard}
    if check.comparator:
        attributes["Comparator"] = check.comparator
    element = etree.SubElement(definition, q("RangeCheck"), attributes)
    if check.expression:
        _text(element, "FormalExpression", check.expression).set(
            "Context", "trialdesk criteria language (trialdesk.eligibility)"
        )
    else:
        _text(element, "CheckValue", odm_value(check.value))
        if unit:
            etree.SubElement(element, q("MeasurementUnitRef"), MeasurementUnitOID=unit)
    _translated(element, "ErrorMessage", check.message)


def _code_list_oids(instrument: Instrument) -> dict[str, str]:
    """item id -> CodeList OID; items with the same options share the first one's list."""
    first: dict[tuple[tuple[Any, str], ...], str] = {}
    oids = {}
    for item in instrument.items:
        if item.options:
            options = tuple((option.value, option.label) for option in item.options)
            oids[item.id] = first.setdefault(options, f"CL.{instrument.id}.{item.id}")
    return oids


def _code_lists(version: etree._Element, instrument: Instrument) -> None:
    written = set()
    for item in instrument.items:
        oid = _code_list_oids(instrument).get(item.id)
        if oid is None or oid in written:
            continue
        written.add(oid)
        data_type = "integer" if item.type == "integer" else "text"
        code_list = etree.SubElement(
            version, q("CodeList"), OID=oid, Name=f"{instrument.id} {item.id}", DataType=data_type
        )
        for order, option in enumerate(item.options, 1):
            entry = etree.SubElement(
                code_list,
                q("CodeListItem"),
                CodedValue=odm_value(option.value),
                OrderNumber=str(order),
            )
            _translated(entry, "Decode", option.label)


def _method_defs(version: etree._Element, instrument: Instrument) -> None:
    for score in instrument.scores:
        method = etree.SubElement(
            version,
            q("MethodDef"),
            OID=f"MT.{instrument.id}.{score.id}",
            Name=f"{instrument.id} {score.id}",
            Type="Computation",
        )
        _translated(method, "Description", _score_method(score))
        if isinstance(score, FormulaScore):
            _text(method, "FormalExpression", score.formula).set(
                "Context", "trialdesk instrument formula"
            )


def _score_method(score: Any) -> str:
    """How a score is derived, in words, from its definition."""
    method = getattr(score, "method", "")
    if isinstance(score, ItemSetScore):
        rule = f"needs {score.required} of {len(score.items)} items answered"
        return f"{score.label}: {method} of items {', '.join(score.items)} ({rule})"
    if isinstance(score, ItemScore):
        return f"{score.label}: the value of item {score.item}"
    if isinstance(score, FormulaScore):
        return f"{score.label}: {score.formula}"
    return f"{score.label}: {method}"


# ---------------------------------------------------------------- admin data


@dataclass(frozen=True)
class ItemAudit:
    """The audit trail's events of form items: (form record id, item) -> the event that set
    the item's current value, and how many events set it."""

    last: Mapping[tuple[str, str], Row]
    count: Mapping[tuple[str, str], int]

    @classmethod
    def of(cls, audit: Iterable[Row]) -> ItemAudit:
        last: dict[tuple[str, str], Row] = {}
        count: dict[tuple[str, str], int] = defaultdict(int)
        for event in audit:  # in seq order
            field = event["field"]
            if event["object_type"] == FORM_RECORD and field.startswith(VALUE_FIELD):
                key = (str(event["object_id"]), field.removeprefix(VALUE_FIELD))
                last[key] = event
                count[key] += 1
        return cls(last, count)


def current_signatures(rows: Iterable[Row]) -> dict[tuple[str, str], Row]:
    """(subject, visit id or "" for the casebook) -> its latest signature that is not broken."""
    current: dict[tuple[str, str], Row] = {}
    for row in rows:
        if row["broken_at"] is None:
            key = (row["subject"], row["visit_id"])
            if key not in current or row["signed_at"] >= current[key]["signed_at"]:
                current[key] = row
    return current


@dataclass(frozen=True)
class Signers:
    """What AdminData needs of the signatures that still hold (`ExportSource.signatures`,
    read before the batches): the meanings (sorted) and each signer's printed name (that of
    their latest signature)."""

    meanings: tuple[str, ...]
    printed_names: Mapping[str, str]

    @classmethod
    def of(cls, signatures: Iterable[Row]) -> Signers:
        meanings: set[str] = set()
        latest: dict[str, tuple[dt.datetime, str]] = {}
        for row in current_signatures(signatures).values():
            meanings.add(row["meaning"])
            signed = (row["signed_at"], row["printed_name"])
            latest[row["signer"]] = max(latest.get(row["signer"], signed), signed)
        return cls(tuple(sorted(meanings)), {signer: name for signer, (_, name) in latest.items()})


def _sites(source: ExportSource) -> dict[str, str]:
    """site code -> name: the protocol's sites, then any other site the subjects are at."""
    names = {site.id: site.name for site in source.protocol.sites}
    for subject in source.subjects:
        names.setdefault(subject["site"], f"Site {subject['site']}")
    return names


def admin_element(
    source: ExportSource, signers: Signers, signature_oids: Mapping[str, str]
) -> etree._Element:
    """Users (everyone who wrote the reader's audit trail, in the order they first did, then
    any other signer by name), sites as Locations, signature meanings."""
    admin = etree.Element(q("AdminData"), StudyOID=source.protocol.id, nsmap={None: NS})
    printed = signers.printed_names
    users = [*source.users, *sorted(set(printed) - set(source.users))]
    for user in users:
        element = etree.SubElement(admin, q("User"), OID=user_oid(user))
        _text(element, "LoginName", user)
        if user in printed:
            _text(element, "FullName", printed[user])
    first_screening: dict[str, dt.date] = {}
    for subject in source.subjects:
        day = subject["screened_on"]
        if day is not None and (
            subject["site"] not in first_screening or day < first_screening[subject["site"]]
        ):
            first_screening[subject["site"]] = day
    for site, name in _sites(source).items():
        location = etree.SubElement(
            admin, q("Location"), OID=location_oid(site), Name=name, LocationType="Site"
        )
        effective = first_screening.get(site, source.exported_at.date())
        etree.SubElement(
            location,
            q("MetaDataVersionRef"),
            StudyOID=source.protocol.id,
            MetaDataVersionOID=metadata_version_oid(source.protocol),
            EffectiveDate=effective.isoformat(),
        )
    for meaning, oid in signature_oids.items():
        definition = etree.SubElement(admin, q("SignatureDef"), OID=oid, Methodology="Electronic")
        _text(definition, "Meaning", meaning)
        _text(definition, "LegalReason", LEGAL_REASON)
    return admin


# ---------------------------------------------------------------- clinical data


def _signature(
    parent: etree._Element, row: Row, site: str, signature_oids: Mapping[str, str]
) -> None:
    signature = etree.SubElement(parent, q("Signature"))
    etree.SubElement(signature, q("UserRef"), UserOID=user_oid(row["signer"]))
    etree.SubElement(signature, q("LocationRef"), LocationOID=location_oid(site))
    etree.SubElement(signature, q("SignatureRef"), SignatureOID=signature_oids[row["meaning"]])
    _text(signature, "DateTimeStamp", odm_datetime(row["signed_at"]))


def _audit_record(parent: etree._Element, event: Row, site: str) -> None:
    record = etree.SubElement(parent, q("AuditRecord"))
    etree.SubElement(record, q("UserRef"), UserOID=user_oid(event["by"]))
    etree.SubElement(record, q("LocationRef"), LocationOID=location_oid(site))
    _text(record, "DateTimeStamp", odm_datetime(event["at"]))
    if event["reason"]:
        _text(record, "ReasonForChange", event["reason"])
    _text(record, "SourceID", f"audit event {event['seq']}")


def subject_elements(
    protocol: Protocol,
    batch: SourceBatch,
    instruments: Mapping[str, Instrument],
    signature_oids: Mapping[str, str],
) -> Iterator[etree._Element]:
    """One SubjectData per subject of `batch`, in code order (a batch's rows are in the
    store's order), made as it is written."""
    audit = ItemAudit.of(batch.audit)
    signatures = current_signatures(batch.extract.signatures)
    visit_order = {visit.id: n for n, visit in enumerate(protocol.visits)}
    form_order = {
        visit.id: {form: n for n, form in enumerate(visit.forms)} for visit in protocol.visits
    }
    forms = by_subject(batch.extract.forms)
    for subject in sorted(batch.extract.subjects, key=lambda row: row["code"]):
        code, site = subject["code"], subject["site"]
        element = etree.Element(
            q("SubjectData"), SubjectKey=code, TransactionType="Context", nsmap={None: NS}
        )
        casebook = signatures.get((code, ""))
        if casebook is not None:
            _signature(element, casebook, site, signature_oids)
        etree.SubElement(element, q("SiteRef"), LocationOID=location_oid(site))
        by_visit: dict[str, list[Row]] = defaultdict(list)
        for record in forms.get(code, ()):
            by_visit[record["visit_id"]].append(record)
        signed = {visit for (who, visit) in signatures if who == code and visit}
        for visit_id in sorted(
            by_visit.keys() | signed, key=lambda v: visit_order.get(v, len(visit_order))
        ):
            event = etree.SubElement(
                element,
                q("StudyEventData"),
                StudyEventOID=study_event_oid(visit_id),
                TransactionType="Upsert",
            )
            visit_signature = signatures.get((code, visit_id))
            if visit_signature is not None:
                _signature(event, visit_signature, site, signature_oids)
            order = form_order.get(visit_id, {})
            for record in sorted(
                by_visit[visit_id], key=lambda r: order.get(r["form"], len(order))
            ):
                _form_data(event, record, instruments[record["form"]], audit, site)
        yield element


def _form_data(
    event: etree._Element, record: Row, instrument: Instrument, audit: ItemAudit, site: str
) -> None:
    form = instrument.id
    data = etree.SubElement(event, q("FormData"), FormOID=form_oid(form), TransactionType="Upsert")
    values = record["values"]
    group = etree.SubElement(
        data, q("ItemGroupData"), ItemGroupOID=item_group_oid(form), TransactionType="Upsert"
    )
    record_id = str(record["id"])
    for item in instrument.items:
        value = values.get(item.id)
        if value is None:
            continue
        key = (record_id, item.id)
        changed = audit.count.get(key, 0) > 1
        element = etree.SubElement(
            group,
            q("ItemData"),
            ItemOID=item_oid(form, item.id),
            TransactionType="Update" if changed else "Insert",
            Value=odm_value(value),
        )
        if key in audit.last:
            _audit_record(element, audit.last[key], site)
    scores = record["scores"] or {}
    present = [score for score in instrument.scores if scores.get(score.id) is not None]
    if present:
        derived = etree.SubElement(
            data, q("ItemGroupData"), ItemGroupOID=score_group_oid(form), TransactionType="Upsert"
        )
        for score in present:
            etree.SubElement(
                derived,
                q("ItemData"),
                ItemOID=item_oid(form, score.id),
                TransactionType="Upsert",
                Value=odm_value(scores[score.id]),
            )
