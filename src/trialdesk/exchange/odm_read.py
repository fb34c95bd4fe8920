"""Reading an ODM 1.3 file's ClinicalData into plain rows: one `FormEntry` per FormData.

The file is parsed incrementally (`lxml.etree.iterparse`, no DTD, no entities, no network),
so a large file is read one form at a time. Its OIDs are read in the scheme
`trialdesk.exchange.odm` writes (`SE.<visit>`, `F.<form>`, `IG.<form>`, `I.<form>.<item>`);
the ItemGroup of a form's scores (`IG.<form>.SCORES`) is derived and skipped, since the store
computes scores itself. Values stay ODM text here: `item_value` turns one into the value an
instrument item takes, once the importer knows the item.

Anything the reader cannot take raises BadInput naming the file, the line, the element and
what was expected.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from trialdesk.errors import BadInput
from trialdesk.exchange.odm import NS

#: TransactionTypes the store can apply: a value is set (the store never deletes a value's
#: history, and a form's "Remove" has no service).
APPLIED_TRANSACTIONS = ("Insert", "Update", "Upsert", "Context")
SCORES_SUFFIX = ".SCORES"
_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


@dataclass(frozen=True)
class FormEntry:
    """One FormData: the subject's form at a visit, its items' ODM text (None: IsNull)."""

    subject: str
    site: str | None  # the SubjectData's SiteRef, as a site code (LOC.<site>)
    visit_id: str
    form: str
    values: dict[str, str | None]
    line: int  # of the FormData element
    item_lines: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ClinicalFile:
    """What one ODM file's ClinicalData hold."""

    path: Path
    study_oid: str
    metadata_version_oid: str
    forms: tuple[FormEntry, ...]


def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _oid(place: str, element: etree._Element, attribute: str, prefix: str) -> str:
    """The id in `attribute` after `prefix` (e.g. "SE." -> the visit id), or BadInput."""
    value = element.get(attribute)
    if value is None:
        raise BadInput(f"{place}: <{_local(element.tag)}> has no {attribute}; expected one")
    if not value.startswith(prefix) or len(value) == len(prefix):
        raise BadInput(
            f"{place}: <{_local(element.tag)}> {attribute}={value!r}; expected {prefix}<id> "
            "(the OIDs trialdesk writes)"
        )
    return value[len(prefix) :]


def _transaction(place: str, element: etree._Element) -> None:
    kind = element.get("TransactionType")
    if kind is not None and kind not in APPLIED_TRANSACTIONS:
        raise BadInput(
            f"{place}: <{_local(element.tag)}> TransactionType={kind!r}; expected one of "
            f"{', '.join(APPLIED_TRANSACTIONS)} (data are never removed, only changed)"
        )


def _single_repeat(place: str, element: etree._Element, attribute: str) -> None:
    key = element.get(attribute)
    if key not in (None, "1"):
        raise BadInput(
            f"{place}: <{_local(element.tag)}> {attribute}={key!r}; expected none or '1' "
            "(visits and forms do not repeat)"
        )


def read_clinical_data(path: Path) -> ClinicalFile:
    """Every FormData of the file's ClinicalData, in file order."""
    where = str(path)
    try:
        events = etree.iterparse(
            str(path),
            events=("start", "end"),
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
            remove_comments=True,
        )
        return _read(path, events)
    except etree.XMLSyntaxError as error:
        line = error.lineno or (error.position[0] if error.position else 0)
        message = error.msg or str(error)
        raise BadInput(f"{where}:{line}: not well-formed XML ({message})") from None
    except OSError as error:
        raise BadInput(f"{where}: cannot read: {error.strerror or error}") from None


def _read(path: Path, events: etree.iterparse) -> ClinicalFile:
    where = str(path)
    study_oid = version_oid = ""
    subject = site = visit_id = None
    forms: list[FormEntry] = []
    seen: dict[tuple[str, str, str], int] = {}
    depth = 0
    for event, element in events:
        place = f"{where}:{element.sourceline}"
        name = _local(element.tag)
        if event == "start":
            depth += 1
            if depth == 1 and element.tag != f"{{{NS}}}ODM":
                raise BadInput(
                    f"{place}: the root element is <{element.tag}>; expected <ODM> in the "
                    f"namespace {NS} (CDISC ODM 1.3)"
                )
            if etree.QName(element.tag).namespace != NS:
                continue
            if name == "ClinicalData":
                study, version = element.get("StudyOID"), element.get("MetaDataVersionOID")
                if not study or not version:
                    raise BadInput(f"{place}: <ClinicalData> needs StudyOID and MetaDataVersionOID")
                if study_oid and (study, version) != (study_oid, version_oid):
                    raise BadInput(
                        f"{place}: <ClinicalData> of {study} {version}; expected one study and "
                        f"metadata version in the file ({study_oid} {version_oid})"
                    )
                study_oid, version_oid = study, version
            elif name == "SubjectData":
                subject = element.get("SubjectKey")
                if not subject:
                    raise BadInput(f"{place}: <SubjectData> has no SubjectKey; expected one")
                _transaction(place, element)
                site = None
            elif name == "StudyEventData":
                visit_id = _oid(place, element, "StudyEventOID", "SE.")
                _transaction(place, element)
                _single_repeat(place, element, "StudyEventRepeatKey")
            continue
        depth -= 1
        if etree.QName(element.tag).namespace != NS:
            continue
        if name == "SiteRef" and subject is not None:
            site = _oid(place, element, "LocationOID", "LOC.")
        elif name == "FormData":
            if subject is None or visit_id is None:
                raise BadInput(f"{place}: <FormData> outside a SubjectData's StudyEventData")
            entry = _form_entry(where, element, subject, site, visit_id)
            key = (entry.subject, entry.visit_id, entry.form)
            if key in seen:
                raise BadInput(
                    f"{place}: subject {subject}, visit {visit_id}, form {entry.form} again "
                    f"(first at line {seen[key]}); expected each form once"
                )
            seen[key] = entry.line
            forms.append(entry)
            element.clear()
        elif name == "SubjectData":
            subject = None
            element.clear()
            while element.getprevious() is not None:  # what is read is let go
                del element.getparent()[0]
        elif name == "StudyEventData":
            visit_id = None
    if not study_oid:
        raise BadInput(f"{where}: no <ClinicalData>; expected the study's clinical data")
    return ClinicalFile(path, study_oid, version_oid, tuple(forms))


def _form_entry(
    where: str, data: etree._Element, subject: str, site: str | None, visit_id: str
) -> FormEntry:
    place = f"{where}:{data.sourceline}"
    form = _oid(place, data, "FormOID", "F.")
    _transaction(place, data)
    _single_repeat(place, data, "FormRepeatKey")
    values: dict[str, str | None] = {}
    lines: dict[str, int] = {}
    for group in data.iterchildren(f"{{{NS}}}ItemGroupData"):
        group_place = f"{where}:{group.sourceline}"
        group_form = _oid(group_place, group, "ItemGroupOID", "IG.")
        if group_form == form + SCORES_SUFFIX:
            continue  # derived: the store computes the scores
        if group_form != form:
            raise BadInput(
                f"{group_place}: <ItemGroupData> ItemGroupOID={group.get('ItemGroupOID')!r} in "
                f"form {form}; expected IG.{form} (or IG.{form}{SCORES_SUFFIX})"
            )
        _transaction(group_place, group)
        _single_repeat(group_place, group, "ItemGroupRepeatKey")
        for item in group:
            if _local(item.tag) != "ItemData" or etree.QName(item.tag).namespace != NS:
                if _local(item.tag).startswith("ItemData"):
                    raise BadInput(
                        f"{where}:{item.sourceline}: <{_local(item.tag)}>; expected <ItemData> "
                        "with a Value attribute"
                    )
                continue
            item_place = f"{where}:{item.sourceline}"
            item_id = _oid(item_place, item, "ItemOID", f"I.{form}.")
            _transaction(item_place, item)
            if item_id in values:
                raise BadInput(
                    f"{item_place}: item {item_id} of form {form} again (first at line "
                    f"{lines[item_id]}); expected each item once"
                )
            value = item.get("Value")
            if item.get("IsNull") == "Yes":
                if value is not None:
                    raise BadInput(f"{item_place}: <ItemData> with IsNull='Yes' and a Value")
            elif value is None:
                raise BadInput(
                    f"{item_place}: <ItemData> {item.get('ItemOID')} has no Value; expected a "
                    "Value attribute or IsNull='Yes'"
                )
            values[item_id] = value
            lines[item_id] = item.sourceline or 0
    return FormEntry(subject, site, visit_id, form, values, data.sourceline or 0, lines)


def item_value(text: str | None, item_type: str, place: str) -> bool | int | float | str | None:
    """ODM text as the value of an instrument item of `item_type` (None stays missing)."""
    if text is None:
        return None
    if item_type == "integer":
        if _INTEGER.fullmatch(text.strip()):
            return int(text)
        raise BadInput(f"{place}: Value {text!r}; expected an integer")
    if item_type == "number":
        stripped = text.strip()
        if _INTEGER.fullmatch(stripped):
            return int(stripped)
        if _NUMBER.fullmatch(stripped) and math.isfinite(float(stripped)):
            return float(stripped)
        raise BadInput(f"{place}: Value {text!r}; expected a number such as 72.5")
    if item_type == "boolean":
        if text.strip() in _BOOLEANS:
            return _BOOLEANS[text.strip()]
        raise BadInput(f"{place}: Value {text!r}; expected true or false (or 1 or 0)")
    return text
