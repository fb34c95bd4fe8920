"""define.xml (Define-XML 2.1.0) describing the datasets written.

Built from the same declarations as the datasets and from what was actually written
(`DatasetProfile`: the longest value of each variable and every coded value with its
codelist), so it names every dataset, variable and coded value in the files and nothing
else. Coded values of a CDISC codelist carry their NCI C-code (Alias nci:ExtCodeID); a
sponsor term added to an extensible CDISC codelist is def:ExtendedValue="Yes"; values with no
CDISC codelist (arm codes, criterion ids, questionnaire test codes) form sponsor codelists,
def:IsNonStandard="Yes". Each dataset's def:leaf is its XPT file; its Dataset-JSON file has
the same name with .json and refers back here (metaDataRef).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from trialdesk.exchange.sdtm.dataset_json import item_oid
from trialdesk.exchange.sdtm.domain import Domain, Row, Variable
from trialdesk.exchange.sdtm.terminology import CT_VERSION, codelists

ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
DEF_NS = "http://www.cdisc.org/ns/def/v2.1"
XLINK_NS = "http://www.w3.org/1999/xlink"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
SDTMIG_STANDARD, CT_STANDARD = "STD.SDTMIG", "STD.CT"
DATA_TYPES = {"text": "text", "integer": "integer", "float": "float", "date": "date"}
#: A coded variable and the variable of the same row that names its value (the decode).
DECODED_BY = {
    "QSTESTCD": "QSTEST",
    "IETESTCD": "IETEST",
    "VSTESTCD": "VSTEST",
    "LBTESTCD": "LBTEST",
    "TSPARMCD": "TSPARM",
    "ARMCD": "ARM",
    "ACTARMCD": "ACTARM",
    "ETCD": "ELEMENT",
}


@dataclass
class DatasetProfile:
    """What was written of one dataset: rows, longest values, coded values and codelists."""

    domain: Domain
    records: int = 0
    longest: dict[str, int] = field(default_factory=dict)
    coded: dict[str, dict[str, str | None]] = field(default_factory=dict)  # var -> value -> CL
    decodes: dict[str, dict[str, str]] = field(default_factory=dict)  # var -> value -> name

    def add(self, row: Row) -> None:
        self.records += 1
        for variable in self.domain.variables:
            value = row[variable.name]
            if value is None or value == "":
                continue
            shown = str(value) if not isinstance(value, float) else format(value, ".12g")
            self.longest[variable.name] = max(len(shown), self.longest.get(variable.name, 0))
            codelist = self.domain.codelist_of(variable, row)
            if codelist is not None or variable.sponsor_codelist:
                self.coded.setdefault(variable.name, {})[str(value)] = codelist
                decode = row.get(DECODED_BY.get(variable.name, ""))
                if decode:
                    self.decodes.setdefault(variable.name, {}).setdefault(str(value), decode)


def _e(
    parent: etree._Element, tag: str, attributes: dict[str, str] | None = None, ns: str = ODM_NS
) -> etree._Element:
    return etree.SubElement(parent, f"{{{ns}}}{tag}", attributes or {})


def _described(parent: etree._Element, words: str) -> None:
    description = _e(parent, "Description")
    _e(description, "TranslatedText", {XML_LANG: "en"}).text = words


def _d(name: str) -> str:
    return f"{{{DEF_NS}}}{name}"


def write_define(
    path: Path,
    profiles: list[DatasetProfile],
    *,
    study_oid: str,
    study_name: str,
    description: str,
    protocol_name: str,
    metadata_version_oid: str,
    created: dt.datetime,
    source_version: str,
) -> None:
    root = etree.Element(
        f"{{{ODM_NS}}}ODM",
        {
            "ODMVersion": "1.3.2",
            "FileOID": f"{study_oid}/define",
            "FileType": "Snapshot",
            "CreationDateTime": created.strftime("%Y-%m-%dT%H:%M:%S"),
            "Originator": "trialdesk",
            "SourceSystem": "trialdesk",
            "SourceSystemVersion": source_version,
            _d("Context"): "Submission",
        },
        nsmap={None: ODM_NS, "def": DEF_NS, "xlink": XLINK_NS},
    )
    study = _e(root, "Study", {"OID": study_oid})
    variables = _e(study, "GlobalVariables")
    _e(variables, "StudyName").text = study_name
    _e(variables, "StudyDescription").text = description
    _e(variables, "ProtocolName").text = protocol_name
    version = _e(
        study,
        "MetaDataVersion",
        {
            "OID": metadata_version_oid,
            "Name": f"{study_name} SDTM datasets",
            "Description": "SDTM datasets exported by trialdesk",
            _d("DefineVersion"): "2.1.0",
        },
    )
    standards = _e(version, "Standards", ns=DEF_NS)
    _e(
        standards,
        "Standard",
        {
            "OID": SDTMIG_STANDARD,
            "Name": "SDTMIG",
            "Type": "IG",
            "Version": "3.4",
            "Status": "Final",
        },
        DEF_NS,
    )
    _e(
        standards,
        "Standard",
        {
            "OID": CT_STANDARD,
            "Name": "CDISC/NCI",
            "Type": "CT",
            "PublishingSet": "SDTM",
            "Version": CT_VERSION,
            "Status": "Final",
        },
        DEF_NS,
    )
    for profile in profiles:
        _item_group(version, profile)
    for profile in profiles:
        for variable in profile.domain.variables:
            _item_def(version, profile, variable)
    comments: dict[str, str] = {}
    for profile in profiles:
        for variable in profile.domain.variables:
            if variable.name in profile.coded:
                _codelist(version, profile, variable, comments)
    for oid, words in comments.items():
        _described(_e(version, "CommentDef", {"OID": oid}, DEF_NS), words)
    etree.ElementTree(root).write(
        str(path), xml_declaration=True, encoding="UTF-8", pretty_print=True
    )


def _item_group(version: etree._Element, profile: DatasetProfile) -> None:
    domain = profile.domain
    design = domain.observation_class == "TRIAL DESIGN"
    group = _e(
        version,
        "ItemGroupDef",
        {
            "OID": f"IG.{domain.name}",
            "Name": domain.name,
            "Repeating": "No" if design or domain.name == "DM" else "Yes",
            "IsReferenceData": "Yes" if design else "No",
            "SASDatasetName": domain.name,
            "Domain": domain.name,
            "Purpose": "Tabulation",
            _d("Structure"): domain.structure,
            _d("StandardOID"): SDTMIG_STANDARD,
            _d("ArchiveLocationID"): f"LF.{domain.name}",
        },
    )
    _described(group, domain.label)
    for order, variable in enumerate(domain.variables, start=1):
        attributes = {
            "ItemOID": item_oid(domain, variable),
            "Mandatory": "Yes" if variable.core == "Req" else "No",
            "OrderNumber": str(order),
        }
        if variable.name in domain.keys:
            attributes["KeySequence"] = str(domain.keys.index(variable.name) + 1)
        attributes["Role"] = variable.role
        if variable.name not in profile.longest:
            attributes[_d("HasNoData")] = "Yes"
        _e(group, "ItemRef", attributes)
    _e(group, "Class", {"Name": domain.observation_class}, DEF_NS)
    leaf = _e(
        group,
        "leaf",
        {"ID": f"LF.{domain.name}", f"{{{XLINK_NS}}}href": f"{domain.name.lower()}.xpt"},
        DEF_NS,
    )
    _e(leaf, "title", ns=DEF_NS).text = f"{domain.name.lower()}.xpt"


def _item_def(version: etree._Element, profile: DatasetProfile, variable: Variable) -> None:
    longest = profile.longest.get(variable.name, 1)
    attributes = {
        "OID": item_oid(profile.domain, variable),
        "Name": variable.name,
        "DataType": DATA_TYPES[variable.type],
        "SASFieldName": variable.name,
    }
    if variable.type in ("text", "integer", "float"):
        attributes["Length"] = str(longest)
    if variable.type == "float":
        attributes["SignificantDigits"] = "12"
    item = _e(version, "ItemDef", attributes)
    _described(item, variable.label)
    if variable.name in profile.coded:
        _e(item, "CodeListRef", {"CodeListOID": f"CL.{profile.domain.name}.{variable.name}"})
    _e(item, "Origin", {"Type": variable.origin}, DEF_NS)


def _codelist(
    version: etree._Element, profile: DatasetProfile, variable: Variable, comments: dict[str, str]
) -> None:
    domain = profile.domain
    values = profile.coded[variable.name]
    named = {codelist for codelist in values.values() if codelist is not None}
    standard = (
        codelists()[next(iter(named))] if len(named) == 1 and None not in values.values() else None
    )
    oid = f"CL.{domain.name}.{variable.name}"
    attributes = {
        "OID": oid,
        "Name": f"{domain.name} {variable.name}" if standard is None else standard.title,
        "DataType": "text",
    }
    sponsor = {term.value: term.why for term in domain.sponsor_terms}
    extended = sorted(
        value
        for value, named_in in values.items()
        if named_in is not None and value not in codelists()[named_in].terms
    )
    if standard is not None:
        attributes[_d("StandardOID")] = CT_STANDARD
        if extended:
            comments[f"COM.{oid}"] = "Extended with sponsor terms: " + "; ".join(
                f"{value} ({sponsor.get(value, 'sponsor-defined')})" for value in extended
            )
    else:
        attributes[_d("IsNonStandard")] = "Yes"
        comments[f"COM.{oid}"] = (
            f"Sponsor-defined: CDISC CT {CT_VERSION} has no codelist for {domain.name}."
            f"{variable.name}"
            + (" (its values are terms of " + ", ".join(sorted(named)) + ")" if named else "")
        )
    if f"COM.{oid}" in comments:
        attributes[_d("CommentOID")] = f"COM.{oid}"
    codelist = _e(version, "CodeList", attributes)
    decodes = profile.decodes.get(variable.name)
    for order, (value, named_in) in enumerate(sorted(values.items()), start=1):
        term = codelists()[named_in].terms.get(value) if named_in else None
        item_attributes = {"CodedValue": value, "OrderNumber": str(order)}
        if named_in is not None and term is None:
            item_attributes[_d("ExtendedValue")] = "Yes"
        if decodes is not None:
            item = _e(codelist, "CodeListItem", item_attributes)
            _e(_e(item, "Decode"), "TranslatedText", {XML_LANG: "en"}).text = decodes.get(
                value, value
            )
        else:
            item = _e(codelist, "EnumeratedItem", item_attributes)
        if term is not None:
            _e(item, "Alias", {"Context": "nci:ExtCodeID", "Name": term})
    if standard is not None:
        _e(codelist, "Alias", {"Context": "nci:ExtCodeID", "Name": standard.code})
