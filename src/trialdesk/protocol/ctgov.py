"""ClinicalTrials.gov API v2: study record -> draft protocol, and protocol -> study record.

The registry links arms and interventions by name ("Drug: GET73"), writes eligibility as one
Markdown text, and states time frames in words. The importer keeps every registry text
verbatim, derives what can be derived (criteria from the Markdown list, visits from the
time-frame words, age and sex limits as computable criteria), and lists everything else under
`assumptions` as "to be completed". It never fails on a field it does not know: it warns.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trialdesk.errors import BadInput
from trialdesk.protocol.ctgov_record import StudyRecord
from trialdesk.protocol.eligibility_text import compose_criteria_text, split_criteria_text
from trialdesk.protocol.loading import validated, validated_protocol
from trialdesk.protocol.model import (
    NCT_NUMBER_PATTERN,
    Protocol,
    age_in_years,
    is_registry_age,
)
from trialdesk.protocol.timeframes import visits_for_time_frames
from trialdesk.protocol.yamlfile import LocatedDocument, dump_yaml

TO_BE_COMPLETED = "to be completed"

INTERVENTION_TYPE_LABELS = {
    "BEHAVIORAL": "Behavioral",
    "BIOLOGICAL": "Biological",
    "COMBINATION_PRODUCT": "Combination Product",
    "DEVICE": "Device",
    "DIAGNOSTIC_TEST": "Diagnostic Test",
    "DIETARY_SUPPLEMENT": "Dietary Supplement",
    "DRUG": "Drug",
    "GENETIC": "Genetic",
    "PROCEDURE": "Procedure",
    "RADIATION": "Radiation",
    "OTHER": "Other",
}

# Modules and fields the importer reads or deliberately leaves out; anything else is reported.
KNOWN_FIELDS = {
    "identificationModule": {
        "nctId",
        "nctIdAliases",
        "orgStudyIdInfo",
        "secondaryIdInfos",
        "briefTitle",
        "officialTitle",
        "acronym",
        "organization",
    },
    "statusModule": {
        "statusVerifiedDate",
        "overallStatus",
        "lastKnownStatus",
        "delayedPosting",
        "whyStopped",
        "expandedAccessInfo",
        "startDateStruct",
        "primaryCompletionDateStruct",
        "completionDateStruct",
        "studyFirstSubmitDate",
        "studyFirstSubmitQcDate",
        "studyFirstPostDateStruct",
        "resultsWaived",
        "resultsFirstSubmitDate",
        "resultsFirstSubmitQcDate",
        "resultsFirstPostDateStruct",
        "dispFirstSubmitDate",
        "dispFirstSubmitQcDate",
        "dispFirstPostDateStruct",
        "lastUpdateSubmitDate",
        "lastUpdatePostDateStruct",
    },
    "sponsorCollaboratorsModule": {"responsibleParty", "leadSponsor", "collaborators"},
    "oversightModule": None,
    "descriptionModule": {"briefSummary", "detailedDescription"},
    "conditionsModule": {"conditions", "keywords"},
    "designModule": {
        "studyType",
        "nPtrsToThisExpAccNctId",
        "expandedAccessTypes",
        "patientRegistry",
        "targetDuration",
        "phases",
        "designInfo",
        "bioSpec",
        "enrollmentInfo",
    },
    "armsInterventionsModule": {"armGroups", "interventions"},
    "outcomesModule": {"primaryOutcomes", "secondaryOutcomes", "otherOutcomes"},
    "eligibilityModule": {
        "eligibilityCriteria",
        "healthyVolunteers",
        "sex",
        "genderBased",
        "genderDescription",
        "minimumAge",
        "maximumAge",
        "stdAges",
        "studyPopulation",
        "samplingMethod",
    },
    "contactsLocationsModule": {"centralContacts", "overallOfficials", "locations"},
    "referencesModule": None,
    "ipdSharingStatementModule": None,
    "largeDocumentModule": None,
}
KNOWN_STUDY_SECTIONS = {
    "protocolSection",
    "resultsSection",
    "annotationSection",
    "documentSection",
    "derivedSection",
    "hasResults",
}


@dataclass
class ImportedRecord:
    """A draft protocol from a registry record, and what the importer had to say about it."""

    protocol: Protocol
    warnings: list[str] = field(default_factory=list)

    def to_yaml(self) -> str:
        header = (
            f"# Draft protocol imported from ClinicalTrials.gov record {self.protocol.id}.\n"
            "# Registry texts are verbatim; complete every assumption marked "
            f"'{TO_BE_COMPLETED}'.\n"
        )
        return header + dump_yaml(protocol_document(self.protocol))


def protocol_document(protocol: Protocol) -> dict[str, Any]:
    """The protocol as plain data in file order, without empty optional fields."""
    return protocol.model_dump(mode="json", by_alias=True, exclude_none=True)


# ------------------------------------------------------------------------------------- import


def read_record(path: Path) -> dict[str, Any]:
    """Read a study record file: API v2 JSON (a Study, or a `studies` page of one)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except OSError as error:
        raise BadInput(f"{path}: cannot read ({error.strerror})") from None
    except UnicodeDecodeError as error:
        raise BadInput(f"{path}: not UTF-8 text ({error.reason})") from None
    if text.lstrip().startswith("<"):
        from trialdesk.protocol.ctgov_xml import record_from_legacy_xml

        return record_from_legacy_xml(text, str(path))
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise BadInput(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
    if isinstance(document, dict) and isinstance(document.get("studies"), list):
        if len(document["studies"]) != 1:
            raise BadInput(f"{path}: expected one study, found {len(document['studies'])}")
        document = document["studies"][0]
    if isinstance(document, dict) and "FullStudiesResponse" in document:
        raise BadInput(
            f"{path}: this is the retired classic API v1 format (FullStudiesResponse); "
            "export the record again from API v2 (/api/v2/studies/NCT...)"
        )
    if not isinstance(document, dict) or not isinstance(document.get("protocolSection"), dict):
        raise BadInput(f"{path}: not a ClinicalTrials.gov API v2 study (no protocolSection)")
    return document


def import_record(record: dict[str, Any]) -> ImportedRecord:
    """Turn an API v2 study record into a validated draft protocol."""
    name = _record_name(record)
    validated(StudyRecord, LocatedDocument(name, record))
    draft = _Draft(record["protocolSection"], name)
    draft.warn_unknown(record)
    protocol = validated_protocol(LocatedDocument(draft.nct_id, draft.build()))
    return ImportedRecord(protocol, draft.warnings)


def _record_name(record: Any) -> str:
    """The record's NCT id to name it in messages, or 'record' where it has none."""
    section = record.get("protocolSection") if isinstance(record, dict) else None
    identification = section.get("identificationModule") if isinstance(section, dict) else None
    nct_id = identification.get("nctId") if isinstance(identification, dict) else None
    return nct_id if isinstance(nct_id, str) and nct_id else "record"


class _Draft:
    """Collects the protocol document field by field, with warnings and assumptions."""

    def __init__(self, section: dict[str, Any], nct_id: str):
        self.section = section
        self.warnings: list[str] = []
        self.assumptions: list[dict[str, str]] = []
        self.nct_id = nct_id
        self.nct_number = self.nct_id if re.fullmatch(NCT_NUMBER_PATTERN, self.nct_id) else None

    def module(self, name: str) -> dict[str, Any]:
        value = self.section.get(name)
        return value if isinstance(value, dict) else {}

    def assume(self, what: str, value: str, why: str) -> None:
        self.assumptions.append({"what": what, "value": value, "why": why})

    def warn_unknown(self, record: dict[str, Any]) -> None:
        for key in record:
            if key not in KNOWN_STUDY_SECTIONS:
                self.warnings.append(f"{self.nct_id}: not imported: unknown section '{key}'")
        for name, value in self.section.items():
            if name not in KNOWN_FIELDS:
                self.warnings.append(f"{self.nct_id}: not imported: unknown module '{name}'")
                continue
            known = KNOWN_FIELDS[name]
            if known is None or not isinstance(value, dict):
                continue
            for key in value:
                if key not in known:
                    self.warnings.append(f"{self.nct_id}: not imported: {name}.{key}")

    # -- the document -------------------------------------------------------------------

    def build(self) -> dict[str, Any]:
        identification = self.module("identificationModule")
        description = self.module("descriptionModule")
        conditions = self.module("conditionsModule")
        interventions, names = self.interventions()
        arms = self.arms(names)
        outcomes, visits = self.outcomes()
        document: dict[str, Any] = {
            "schema_version": 1,
            "id": self.protocol_id(),
            "version": "draft",
            "identifiers": self.identifiers(identification),
            "titles": self.titles(identification),
            "phases": self.phases(),
            "status": self.status(),
            "sponsor": self.sponsor(),
            "conditions": self.conditions(conditions),
            "keywords": list(conditions.get("keywords") or []),
            "summary": description.get("briefSummary"),
            "description": description.get("detailedDescription"),
            "design": self.design(len(arms)),
            "enrollment": self.enrollment(),
            "interventions": interventions,
            "arms": arms,
            "treatment_plan": self.treatment_plan(),
            "visits": visits,
            "outcomes": outcomes,
            "eligibility": (eligibility := self.eligibility()),
            "data_items": _computed_criteria_items(eligibility["criteria"]),
            "sites": self.sites(),
            "contacts": self.contacts(),
        }
        document["randomization"] = self.randomization(document)
        document["safety"] = self.safety(visits)
        document["assumptions"] = self.assumptions
        return document

    def protocol_id(self) -> str:
        if self.nct_number:
            return self.nct_number
        self.warnings.append("record has no NCT number; the draft is named 'draft'")
        return "draft"

    def identifiers(self, identification: dict[str, Any]) -> dict[str, Any]:
        secondary = [
            {key: item[key] for key in ("id", "type", "domain") if item.get(key)}
            for item in identification.get("secondaryIdInfos") or []
            if item.get("id")
        ]
        return {
            "nct_id": self.nct_number,
            "org_study_id": (identification.get("orgStudyIdInfo") or {}).get("id"),
            "secondary_ids": secondary,
        }

    def titles(self, identification: dict[str, Any]) -> dict[str, Any]:
        brief = identification.get("briefTitle") or identification.get("officialTitle")
        if not brief:
            brief = self.nct_id
            self.assume("titles.brief", TO_BE_COMPLETED, "the record has no title")
        return {
            "brief": brief,
            "official": identification.get("officialTitle"),
            "acronym": identification.get("acronym"),
        }

    def phases(self) -> list[str]:
        phases = list(self.module("designModule").get("phases") or [])
        if not phases:
            self.assume("phases", "NA", "the record states no phase")
            return ["NA"]
        return list(dict.fromkeys(phases))

    def status(self) -> dict[str, Any]:
        module = self.module("statusModule")
        overall = module.get("overallStatus")
        if not overall:
            self.assume("status.overall", "UNKNOWN", "the record states no status")
            overall = "UNKNOWN"
        return {
            "overall": overall,
            "why_stopped": module.get("whyStopped"),
            "verified": module.get("statusVerifiedDate"),
            "start": _dated(module.get("startDateStruct")),
            "primary_completion": _dated(module.get("primaryCompletionDateStruct")),
            "completion": _dated(module.get("completionDateStruct")),
            "first_posted": _dated(module.get("studyFirstPostDateStruct")),
            "last_update_posted": _dated(module.get("lastUpdatePostDateStruct")),
        }

    def sponsor(self) -> dict[str, Any]:
        module = self.module("sponsorCollaboratorsModule")
        lead = module.get("leadSponsor") or {}
        if not lead.get("name"):
            self.assume("sponsor.lead", TO_BE_COMPLETED, "the record names no lead sponsor")
        sponsor: dict[str, Any] = {
            "lead": {"name": lead.get("name") or TO_BE_COMPLETED, "class": lead.get("class")},
            "collaborators": [
                {"name": c["name"], "class": c.get("class")}
                for c in module.get("collaborators") or []
                if c.get("name")
            ],
        }
        party = module.get("responsibleParty") or {}
        if party.get("type"):
            sponsor["responsible_party"] = {
                "type": party["type"],
                "investigator_name": party.get("investigatorFullName"),
                "investigator_title": party.get("investigatorTitle"),
                "investigator_affiliation": party.get("investigatorAffiliation"),
            }
        return sponsor

    def conditions(self, module: dict[str, Any]) -> list[str]:
        conditions = list(module.get("conditions") or [])
        if not conditions:
            self.assume("conditions", TO_BE_COMPLETED, "the record lists no condition")
            return [TO_BE_COMPLETED]
        return conditions

    def design(self, arm_count: int) -> dict[str, Any]:
        module = self.module("designModule")
        info = module.get("designInfo") or {}
        masking = info.get("maskingInfo") or {}
        study_type = module.get("studyType") or "INTERVENTIONAL"
        design: dict[str, Any] = {
            "study_type": study_type,
            "allocation": info.get("allocation") or "NA",
            "intervention_model": info.get("interventionModel"),
            "intervention_model_description": info.get("interventionModelDescription"),
            "primary_purpose": info.get("primaryPurpose"),
            "masking": masking.get("masking") or "NONE",
            "who_masked": list(masking.get("whoMasked") or []),
            "masking_description": masking.get("maskingDescription"),
        }
        if study_type == "INTERVENTIONAL":
            if design["intervention_model"] is None:
                design["intervention_model"] = "SINGLE_GROUP" if arm_count == 1 else "PARALLEL"
                self.assume(
                    "design.intervention_model",
                    design["intervention_model"],
                    f"not stated; {TO_BE_COMPLETED} (chosen from the number of arms)",
                )
            if design["primary_purpose"] is None:
                design["primary_purpose"] = "OTHER"
                self.assume("design.primary_purpose", "OTHER", f"not stated; {TO_BE_COMPLETED}")
        if design["allocation"] == "RANDOMIZED" and arm_count > 1:
            design["allocation_ratio"] = ":".join(["1"] * arm_count)
            self.assume(
                "design.allocation_ratio and arms[*].weight",
                design["allocation_ratio"],
                f"the registry does not record the allocation ratio; {TO_BE_COMPLETED}",
            )
        return design

    def enrollment(self) -> dict[str, Any]:
        info = self.module("designModule").get("enrollmentInfo") or {}
        count = info.get("count")
        if not isinstance(count, int) or count < 0:
            self.assume("enrollment.count", TO_BE_COMPLETED, "the record states no enrollment")
            count = 0
        return {"count": count, "type": info.get("type")}

    def interventions(self) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """The interventions, and a map from every registry reference form to their id."""
        entries = self.module("armsInterventionsModule").get("interventions") or []
        used: set[str] = set()
        interventions, names = [], {}
        for entry in entries:
            name = entry.get("name")
            if not name:
                self.warnings.append(f"{self.nct_id}: an intervention without a name was skipped")
                continue
            kind = entry.get("type") or "OTHER"
            identifier = _unique(_slug(name).lower(), used)
            interventions.append(
                {
                    "id": identifier,
                    "type": kind,
                    "name": name,
                    "description": entry.get("description"),
                    "other_names": list(entry.get("otherNames") or []),
                }
            )
            names[f"{INTERVENTION_TYPE_LABELS.get(kind, kind.title())}: {name}"] = identifier
            names.setdefault(name, identifier)
        return interventions, names

    def arms(self, names: dict[str, str]) -> list[dict[str, Any]]:
        module = self.module("armsInterventionsModule")
        groups = module.get("armGroups") or []
        back_links: dict[str, list[str]] = {}
        for entry in module.get("interventions") or []:
            identifier = names.get(entry.get("name", ""))
            for label in entry.get("armGroupLabels") or []:
                if identifier:
                    back_links.setdefault(label, []).append(identifier)
        used: set[str] = set()
        arms = []
        for group in groups:
            label = group.get("label")
            if not label:
                self.warnings.append(f"{self.nct_id}: an arm group without a label was skipped")
                continue
            given: list[str] = []
            for reference in group.get("interventionNames") or []:
                identifier = names.get(reference) or names.get(reference.split(": ", 1)[-1])
                if identifier is None:
                    self.warnings.append(
                        f"{self.nct_id}: arm '{label}' names unknown intervention '{reference}'"
                    )
                else:
                    given.append(identifier)
            given.extend(back_links.get(label, []))
            kind = group.get("type")
            if kind is None:
                kind = "OTHER"
                self.assume(f"arm '{label}' type", "OTHER", "the record gives the group no type")
            arms.append(
                {
                    "id": _unique(_slug(label).upper(), used),
                    "label": label,
                    "type": kind,
                    "description": group.get("description"),
                    "weight": 1,
                    "interventions": [{"intervention": i} for i in dict.fromkeys(given)],
                }
            )
        if not arms:
            self.assume("arms", TO_BE_COMPLETED, "the record lists no arm groups")
            arms.append(
                {
                    "id": "ARM",
                    "label": TO_BE_COMPLETED,
                    "type": "OTHER",
                    "weight": 1,
                    "interventions": [{"intervention": i} for i in dict.fromkeys(names.values())],
                }
            )
        return arms

    def outcomes(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        module = self.module("outcomesModule")
        listed = [
            (kind, entry)
            for kind, key in (
                ("primary", "primaryOutcomes"),
                ("secondary", "secondaryOutcomes"),
                ("other", "otherOutcomes"),
            )
            for entry in module.get(key) or []
        ]
        time_frames = [entry.get("timeFrame") or "" for _, entry in listed]
        visits, mapping, unmapped = visits_for_time_frames(time_frames)
        for time_frame in unmapped:
            self.assume(
                f"time frame '{time_frame}'",
                "mapped to the end-of-study visit",
                f"it names no time point that gives a study day; {TO_BE_COMPLETED}",
            )
        self.assume(
            "visits",
            "one visit per time point named in the outcome time frames, with no window",
            f"the registry has no visit schedule; {TO_BE_COMPLETED} (windows, screening, forms)",
        )
        counters = {"primary": 0, "secondary": 0, "other": 0}
        outcomes = []
        for (kind, entry), time_frame in zip(listed, time_frames, strict=True):
            counters[kind] += 1
            if not time_frame:
                self.assume(
                    f"{kind} outcome {counters[kind]} time frame", TO_BE_COMPLETED, "not stated"
                )
            outcomes.append(
                {
                    "id": f"{kind.upper()}_{counters[kind]}",
                    "kind": kind,
                    "measure": entry.get("measure") or TO_BE_COMPLETED,
                    "description": entry.get("description"),
                    "time_frame": time_frame or TO_BE_COMPLETED,
                    "visits": mapping[time_frame],
                }
            )
        if not outcomes:
            self.assume("outcomes", TO_BE_COMPLETED, "the record lists no outcome measures")
        return outcomes, visits

    def eligibility(self) -> dict[str, Any]:
        module = self.module("eligibilityModule")
        criteria = split_criteria_text(module.get("eligibilityCriteria") or "")
        if not module.get("eligibilityCriteria"):
            self.assume("eligibility.criteria", TO_BE_COMPLETED, "the record has no criteria text")
        elif not any(c["type"] == "exclusion" for c in criteria):
            self.warnings.append(
                f"{self.nct_id}: no 'Exclusion Criteria' heading found; every criterion was "
                "imported as inclusion"
            )
        computable = []
        minimum, maximum = module.get("minimumAge"), module.get("maximumAge")
        minimum = minimum if is_registry_age(minimum) else None
        maximum = maximum if is_registry_age(maximum) else None
        if minimum or maximum:
            computable.append(
                {
                    "id": "AGE",
                    "type": "inclusion",
                    "text": _age_text(minimum, maximum),
                    "expression": _age_expression(minimum, maximum),
                }
            )
        sex = module.get("sex") or "ALL"
        if sex in ("FEMALE", "MALE"):
            computable.append(
                {
                    "id": "SEX",
                    "type": "inclusion",
                    "text": f"Sexes eligible for study: {sex.title()}",
                    "expression": f'sex == "{sex.lower()}"',
                }
            )
        for criterion in criteria:
            criterion["attestation"] = True
        return {
            "sex": sex,
            "minimum_age": minimum,
            "maximum_age": maximum,
            "healthy_volunteers": module.get("healthyVolunteers"),
            "criteria": computable + criteria,
        }

    def treatment_plan(self) -> list[dict[str, Any]]:
        self.assume(
            "treatment_plan",
            "one administration on day 0",
            f"the registry does not record the treatment schedule; {TO_BE_COMPLETED}",
        )
        return [{"id": "T1", "label": "First administration", "day": 0}]

    def sites(self) -> list[dict[str, Any]]:
        locations = self.module("contactsLocationsModule").get("locations") or []
        width = max(2, len(str(len(locations))))
        sites = []
        for number, location in enumerate(locations, start=1):
            name = location.get("facility") or location.get("city") or f"Location {number}"
            sites.append(
                {
                    "id": str(number).zfill(width),
                    "name": name,
                    "city": location.get("city"),
                    "country": location.get("country"),
                }
            )
        if sites:
            self.assume(
                "sites[*].id", "locations numbered in registry order", "site codes are ours"
            )
        return sites

    def contacts(self) -> list[dict[str, Any]]:
        module = self.module("contactsLocationsModule")
        contacts = []
        for entry in module.get("centralContacts") or []:
            if entry.get("name"):
                contacts.append(
                    {
                        "name": entry["name"],
                        "role": "CONTACT",
                        "phone": entry.get("phone"),
                        "email": entry.get("email"),
                    }
                )
        roles = {"PRINCIPAL_INVESTIGATOR", "STUDY_CHAIR", "STUDY_DIRECTOR", "SUB_INVESTIGATOR"}
        for entry in module.get("overallOfficials") or []:
            if entry.get("name"):
                role = entry.get("role") if entry.get("role") in roles else "PRINCIPAL_INVESTIGATOR"
                contacts.append(
                    {"name": entry["name"], "role": role, "affiliation": entry.get("affiliation")}
                )
        return contacts

    def randomization(self, document: dict[str, Any]) -> dict[str, Any] | None:
        if document["design"]["allocation"] != "RANDOMIZED":
            return None
        total = sum(arm["weight"] for arm in document["arms"])
        spec = {"method": "blocks", "block_sizes": [total, 2 * total], "stratify_by_site": False}
        self.assume(
            "randomization",
            f"permuted blocks of {total} and {2 * total}, not stratified",
            f"the registry does not record the randomization method; {TO_BE_COMPLETED}",
        )
        return spec

    def safety(self, visits: list[dict[str, Any]]) -> dict[str, Any]:
        last_day = max([visit["day"] for visit in visits] + [1])
        self.assume(
            "safety",
            f"AEs from consent to day {last_day}; serious AEs reported within 24 hours",
            f"the registry does not record safety reporting rules; {TO_BE_COMPLETED}",
        )
        return {
            "ae_reporting_start": "consent",
            "ae_reporting_end_day": last_day,
            "sae_reporting_hours": 24,
        }


def _computed_criteria_items(criteria: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The data items the importer's computable AGE and SEX criteria read."""
    ids = {criterion["id"] for criterion in criteria}
    items = []
    if "AGE" in ids:
        items.append({"id": "age", "label": "Age at screening", "type": "integer", "unit": "years"})
    if "SEX" in ids:
        items.append(
            {"id": "sex", "label": "Sex", "type": "string", "codelist": ["female", "male"]}
        )
    return items


def _dated(struct: Any) -> dict[str, Any] | None:
    if not isinstance(struct, dict) or not struct.get("date"):
        return None
    return {"date": struct["date"], "type": struct.get("type")}


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")[:32] or "X"
    return slug if slug[0].isalpha() else f"A_{slug}"


def _unique(candidate: str, used: set[str]) -> str:
    identifier, number = candidate, 2
    while identifier in used:
        identifier = f"{candidate}_{number}"
        number += 1
    used.add(identifier)
    return identifier


def _age_text(minimum: str | None, maximum: str | None) -> str:
    if minimum and maximum:
        return f"{minimum} to {maximum}"
    return f"{minimum} and older" if minimum else f"up to {maximum}"


def _age_expression(minimum: str | None, maximum: str | None) -> str:
    def years(age: str) -> str:
        value = age_in_years(age)
        return str(int(value)) if value == int(value) else f"{value:.4g}"

    if minimum and maximum:
        return f"{years(minimum)} <= age <= {years(maximum)}"
    return f"age >= {years(minimum)}" if minimum else f"age <= {years(maximum)}"


# ------------------------------------------------------------------------------------- export


def export_record(protocol: Protocol) -> dict[str, Any]:
    """The protocol as a ClinicalTrials.gov API v2 `Study` (protocolSection only)."""
    interventions = {i.id: i for i in protocol.interventions}
    section: dict[str, Any] = {
        "identificationModule": _prune(
            {
                "nctId": protocol.identifiers.nct_id,
                "orgStudyIdInfo": {"id": protocol.identifiers.org_study_id}
                if protocol.identifiers.org_study_id
                else None,
                "secondaryIdInfos": [
                    _prune({"id": s.id, "type": s.type, "domain": s.domain})
                    for s in protocol.identifiers.secondary_ids
                ],
                "briefTitle": protocol.titles.brief,
                "officialTitle": protocol.titles.official,
                "acronym": protocol.titles.acronym,
                "organization": {
                    "fullName": protocol.sponsor.lead.name,
                    "class": _value(protocol.sponsor.lead.agency_class),
                },
            }
        ),
        "statusModule": _prune(
            {
                "statusVerifiedDate": protocol.status.verified,
                "overallStatus": protocol.status.overall.value,
                "whyStopped": protocol.status.why_stopped,
                "startDateStruct": _struct(protocol.status.start),
                "primaryCompletionDateStruct": _struct(protocol.status.primary_completion),
                "completionDateStruct": _struct(protocol.status.completion),
                "studyFirstPostDateStruct": _struct(protocol.status.first_posted),
                "lastUpdatePostDateStruct": _struct(protocol.status.last_update_posted),
            }
        ),
        "sponsorCollaboratorsModule": _prune(
            {
                "responsibleParty": _responsible_party(protocol),
                "leadSponsor": {
                    "name": protocol.sponsor.lead.name,
                    "class": _value(protocol.sponsor.lead.agency_class),
                },
                "collaborators": [
                    {"name": c.name, "class": _value(c.agency_class)}
                    for c in protocol.sponsor.collaborators
                ],
            }
        ),
        "descriptionModule": _prune(
            {"briefSummary": protocol.summary, "detailedDescription": protocol.description}
        ),
        "conditionsModule": _prune(
            {"conditions": list(protocol.conditions), "keywords": list(protocol.keywords)}
        ),
        "designModule": _prune(
            {
                "studyType": protocol.design.study_type,
                "phases": [phase.value for phase in protocol.phases],
                "designInfo": {
                    "allocation": protocol.design.allocation.value,
                    "interventionModel": _value(protocol.design.intervention_model),
                    "interventionModelDescription": protocol.design.intervention_model_description,
                    "primaryPurpose": _value(protocol.design.primary_purpose),
                    "maskingInfo": {
                        "masking": protocol.design.masking.value,
                        "maskingDescription": protocol.design.masking_description,
                        "whoMasked": [role.value for role in protocol.design.who_masked],
                    },
                },
                "enrollmentInfo": {
                    "count": protocol.enrollment.count,
                    "type": protocol.enrollment.type,
                },
            }
        ),
        "armsInterventionsModule": _prune(
            {
                "armGroups": [
                    {
                        "label": arm.label,
                        "type": arm.type.value,
                        "description": arm.description,
                        "interventionNames": [
                            _reference(interventions[given.intervention])
                            for given in arm.interventions
                        ],
                    }
                    for arm in protocol.arms
                ],
                "interventions": [
                    {
                        "type": intervention.type.value,
                        "name": intervention.name,
                        "description": intervention.description,
                        "armGroupLabels": [
                            arm.label
                            for arm in protocol.arms
                            if any(g.intervention == intervention.id for g in arm.interventions)
                        ],
                        "otherNames": list(intervention.other_names),
                    }
                    for intervention in protocol.interventions
                ],
            }
        ),
        "outcomesModule": _prune(
            {
                key: [
                    {"measure": o.measure, "description": o.description, "timeFrame": o.time_frame}
                    for o in protocol.outcomes
                    if o.kind == kind
                ]
                for kind, key in (
                    ("primary", "primaryOutcomes"),
                    ("secondary", "secondaryOutcomes"),
                    ("other", "otherOutcomes"),
                )
            }
        ),
        "eligibilityModule": _prune(
            {
                "eligibilityCriteria": compose_criteria_text(
                    [c for c in protocol.eligibility.criteria if c.id not in ("AGE", "SEX")]
                ),
                "healthyVolunteers": protocol.eligibility.healthy_volunteers,
                "sex": protocol.eligibility.sex.value,
                "minimumAge": protocol.eligibility.minimum_age,
                "maximumAge": protocol.eligibility.maximum_age,
                "stdAges": _standard_ages(protocol),
            }
        ),
        "contactsLocationsModule": _prune(
            {
                "centralContacts": [
                    {"name": c.name, "role": "CONTACT", "phone": c.phone, "email": c.email}
                    for c in protocol.contacts
                    if c.role == "CONTACT"
                ],
                "overallOfficials": [
                    {"name": c.name, "affiliation": c.affiliation, "role": c.role}
                    for c in protocol.contacts
                    if c.role != "CONTACT"
                ],
                "locations": [
                    {"facility": s.name, "city": s.city, "country": s.country}
                    for s in protocol.sites
                ],
            }
        ),
    }
    return {"protocolSection": _prune(section), "hasResults": False}


def _reference(intervention: Any) -> str:
    return f"{INTERVENTION_TYPE_LABELS[intervention.type.value]}: {intervention.name}"


def _responsible_party(protocol: Protocol) -> dict[str, Any] | None:
    party = protocol.sponsor.responsible_party
    if party is None:
        return None
    return {
        "type": party.type,
        "investigatorFullName": party.investigator_name,
        "investigatorTitle": party.investigator_title,
        "investigatorAffiliation": party.investigator_affiliation,
    }


def _standard_ages(protocol: Protocol) -> list[str]:
    """The registry's age groups (CHILD < 18, ADULT 18-64, OLDER_ADULT >= 65) the range covers."""
    low = age_in_years(protocol.eligibility.minimum_age) if protocol.eligibility.minimum_age else 0
    high = (
        age_in_years(protocol.eligibility.maximum_age)
        if protocol.eligibility.maximum_age
        else float("inf")
    )
    groups = [("CHILD", 0, 17.999), ("ADULT", 18, 64.999), ("OLDER_ADULT", 65, float("inf"))]
    return [name for name, start, end in groups if low <= end and high >= start]


def _struct(event: Any) -> dict[str, Any] | None:
    return None if event is None else _prune({"date": event.date, "type": event.type})


def _value(member: Any) -> Any:
    return None if member is None else member.value


def _prune(value: Any) -> Any:
    """Drop None, empty lists and empty objects, as the registry leaves absent fields out."""
    if isinstance(value, dict):
        pruned = {key: _prune(item) for key, item in value.items()}
        return {key: item for key, item in pruned.items() if item not in (None, [], {})}
    if isinstance(value, list):
        return [_prune(item) for item in value if item is not None]
    return value
