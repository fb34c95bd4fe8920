"""The legacy ClinicalTrials.gov XML (`clinical_study`, public.xsd) as an API v2 record.

The legacy format uses display strings ("Randomized", "Double (Participant, Investigator)",
"Phase 1/Phase 2", "May 2019"); they are translated to the v2 enumerations and partial dates
here, so the importer has one path.
"""

from __future__ import annotations

import re
import textwrap
import xml.etree.ElementTree as ElementTree
from datetime import datetime
from typing import Any

from trialdesk.errors import BadInput


def record_from_legacy_xml(text: str, filename: str) -> dict[str, Any]:
    try:
        root = ElementTree.fromstring(text.encode("utf-8"))
    except ElementTree.ParseError as error:
        line = error.position[0] if error.position else 1
        raise BadInput(f"{filename}:{line}: not well-formed XML ({error})") from None
    if root.tag != "clinical_study":
        raise BadInput(f"{filename}: expected a <clinical_study> record, found <{root.tag}>")
    study = _Study(root)
    return {"protocolSection": study.protocol_section()}


def _enum(text: str | None) -> str | None:
    """'Parallel Assignment' -> 'PARALLEL_ASSIGNMENT'."""
    if not text:
        return None
    return re.sub(r"[^A-Z0-9]+", "_", text.upper()).strip("_")


def _partial_date(text: str | None) -> str | None:
    if not text:
        return None
    for pattern, form in (("%B %d, %Y", "%Y-%m-%d"), ("%B %Y", "%Y-%m"), ("%Y", "%Y")):
        try:
            return datetime.strptime(text.strip(), pattern).strftime(form)
        except ValueError:
            continue
    return None


INTERVENTION_MODELS = {
    "Single Group Assignment": "SINGLE_GROUP",
    "Parallel Assignment": "PARALLEL",
    "Crossover Assignment": "CROSSOVER",
    "Factorial Assignment": "FACTORIAL",
    "Sequential Assignment": "SEQUENTIAL",
}
MASKED_ROLES = {
    "Participant": "PARTICIPANT",
    "Care Provider": "CARE_PROVIDER",
    "Investigator": "INVESTIGATOR",
    "Outcomes Assessor": "OUTCOMES_ASSESSOR",
}
PHASES = {
    "N/A": ["NA"],
    "Early Phase 1": ["EARLY_PHASE1"],
    "Phase 1": ["PHASE1"],
    "Phase 2": ["PHASE2"],
    "Phase 3": ["PHASE3"],
    "Phase 4": ["PHASE4"],
    "Phase 1/Phase 2": ["PHASE1", "PHASE2"],
    "Phase 2/Phase 3": ["PHASE2", "PHASE3"],
}


class _Study:
    def __init__(self, root: ElementTree.Element):
        self.root = root

    def text(self, path: str, node: ElementTree.Element | None = None) -> str | None:
        found = (node if node is not None else self.root).find(path)
        if found is None:
            return None
        block = found.find("textblock")
        value = (block if block is not None else found).text
        return textwrap.dedent(value).strip() if value and value.strip() else None

    def texts(self, path: str, node: ElementTree.Element | None = None) -> list[str]:
        scope = node if node is not None else self.root
        return [e.text.strip() for e in scope.findall(path) if e.text and e.text.strip()]

    def dated(self, path: str) -> dict[str, Any] | None:
        element = self.root.find(path)
        date = _partial_date(element.text if element is not None else None)
        if date is None:
            return None
        kind = {"Actual": "ACTUAL", "Anticipated": "ESTIMATED", "Estimate": "ESTIMATED"}.get(
            element.get("type", "")
        )
        return {"date": date, "type": kind}

    def organization(self, node: ElementTree.Element | None) -> dict[str, Any] | None:
        if node is None or not self.text("agency", node):
            return None
        label = self.text("agency_class", node) or ""
        agency_class = {"U.S. Fed": "FED", "NIH": "NIH", "Industry": "INDUSTRY"}.get(label, "OTHER")
        return {"name": self.text("agency", node), "class": agency_class}

    def protocol_section(self) -> dict[str, Any]:
        masking_text = self.text("study_design_info/masking") or "None (Open Label)"
        masking = _enum(masking_text.split(" ", 1)[0]) or "NONE"
        who = re.findall(r"\(([^)]*)\)", masking_text)
        who_masked = [
            MASKED_ROLES[role.strip()]
            for role in (who[0].split(",") if who else [])
            if role.strip() in MASKED_ROLES
        ]
        allocation = self.text("study_design_info/allocation")
        enrollment = self.root.find("enrollment")
        count = enrollment.text.strip() if enrollment is not None and enrollment.text else ""
        return {
            "identificationModule": {
                "nctId": self.text("id_info/nct_id"),
                "orgStudyIdInfo": {"id": self.text("id_info/org_study_id")},
                "secondaryIdInfos": [{"id": s} for s in self.texts("id_info/secondary_id")],
                "briefTitle": self.text("brief_title"),
                "officialTitle": self.text("official_title"),
                "acronym": self.text("acronym"),
            },
            "statusModule": {
                "overallStatus": _enum(self.text("overall_status")),
                "whyStopped": self.text("why_stopped"),
                "statusVerifiedDate": _partial_date(self.text("verification_date")),
                "startDateStruct": self.dated("start_date"),
                "primaryCompletionDateStruct": self.dated("primary_completion_date"),
                "completionDateStruct": self.dated("completion_date"),
            },
            "sponsorCollaboratorsModule": {
                "leadSponsor": self.organization(self.root.find("sponsors/lead_sponsor")),
                "collaborators": [
                    organization
                    for node in self.root.findall("sponsors/collaborator")
                    if (organization := self.organization(node)) is not None
                ],
            },
            "descriptionModule": {
                "briefSummary": self.text("brief_summary"),
                "detailedDescription": self.text("detailed_description"),
            },
            "conditionsModule": {
                "conditions": self.texts("condition"),
                "keywords": self.texts("keyword"),
            },
            "designModule": {
                "studyType": _enum(self.text("study_type")),
                "phases": PHASES.get(self.text("phase") or "N/A", ["NA"]),
                "designInfo": {
                    "allocation": "NA" if allocation == "N/A" else _enum(allocation),
                    "interventionModel": INTERVENTION_MODELS.get(
                        self.text("study_design_info/intervention_model") or ""
                    ),
                    "primaryPurpose": _enum(self.text("study_design_info/primary_purpose")),
                    "maskingInfo": {"masking": masking, "whoMasked": who_masked},
                },
                "enrollmentInfo": {
                    "count": int(count) if count.isdigit() else None,
                    "type": "ACTUAL"
                    if enrollment is not None and enrollment.get("type") == "Actual"
                    else "ESTIMATED",
                },
            },
            "armsInterventionsModule": {
                "armGroups": [
                    {
                        "label": self.text("arm_group_label", node),
                        "type": _enum(self.text("arm_group_type", node)),
                        "description": self.text("description", node),
                    }
                    for node in self.root.findall("arm_group")
                ],
                "interventions": [
                    {
                        "type": _enum(self.text("intervention_type", node)),
                        "name": self.text("intervention_name", node),
                        "description": self.text("description", node),
                        "armGroupLabels": self.texts("arm_group_label", node),
                        "otherNames": self.texts("other_name", node),
                    }
                    for node in self.root.findall("intervention")
                ],
            },
            "outcomesModule": {
                key: [
                    {
                        "measure": self.text("measure", node),
                        "description": self.text("description", node),
                        "timeFrame": self.text("time_frame", node),
                    }
                    for node in self.root.findall(tag)
                ]
                for key, tag in (
                    ("primaryOutcomes", "primary_outcome"),
                    ("secondaryOutcomes", "secondary_outcome"),
                    ("otherOutcomes", "other_outcome"),
                )
            },
            "eligibilityModule": {
                "eligibilityCriteria": self.text("eligibility/criteria"),
                "sex": _enum(self.text("eligibility/gender")) or "ALL",
                "minimumAge": self.text("eligibility/minimum_age"),
                "maximumAge": self.text("eligibility/maximum_age"),
                "healthyVolunteers": {"Accepts Healthy Volunteers": True, "No": False}.get(
                    self.text("eligibility/healthy_volunteers") or ""
                ),
            },
            "contactsLocationsModule": {
                "overallOfficials": [
                    {
                        "name": self.text("last_name", node),
                        "affiliation": self.text("affiliation", node),
                        "role": _enum(self.text("role", node)),
                    }
                    for node in self.root.findall("overall_official")
                ],
                "locations": [
                    {
                        "facility": self.text("facility/name", node),
                        "city": self.text("facility/address/city", node),
                        "country": self.text("facility/address/country", node),
                    }
                    for node in self.root.findall("location")
                ],
            },
        }
