"""The study and its subjects: Organization (the sponsor), ResearchStudy, Patient,
ResearchSubject.

A Patient is pseudonymous: the subject code, sex and an approximate birth year, nothing else.
A ResearchSubject carries its arm only when the source has it (an unblinded reader's);
the ResearchStudy lists the protocol's arms, which are public (the registry's).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.researchstudy import ResearchStudy
from fhir.resources.R4B.researchsubject import ResearchSubject

from trialdesk.analysis.datasets import Row
from trialdesk.exchange.fhir import codes
from trialdesk.protocol.model import Protocol


def sponsor(protocol: Protocol) -> tuple[str, Organization]:
    fullurl = codes.full_url(protocol.id, "Organization", "sponsor")
    return fullurl, Organization(
        id=fullurl.removeprefix("urn:uuid:"), name=protocol.sponsor.lead.name, active=True
    )


def research_study(protocol: Protocol) -> tuple[str, ResearchStudy]:
    fullurl = codes.full_url(protocol.id, "ResearchStudy")
    identifiers = []
    if protocol.identifiers.nct_id:
        identifiers.append(
            {"system": codes.CLINICALTRIALS_GOV, "value": protocol.identifiers.nct_id}
        )
    if protocol.identifiers.org_study_id:
        identifiers.append(
            {
                "value": protocol.identifiers.org_study_id,
                "assigner": {"display": protocol.sponsor.lead.name},
            }
        )
    for secondary in protocol.identifiers.secondary_ids:
        identifiers.append(
            {
                "value": secondary.id,
                **({"assigner": {"display": secondary.domain}} if secondary.domain else {}),
            }
        )
    phase = codes.PHASES.get(frozenset(str(p) for p in protocol.phases))
    status = protocol.status
    period = {
        key: event.date
        for key, event in (("start", status.start), ("end", status.completion))
        if event is not None
    }
    purpose = protocol.design.primary_purpose
    study = ResearchStudy(
        id=fullurl.removeprefix("urn:uuid:"),
        identifier=identifiers,
        title=protocol.titles.official or protocol.titles.brief,
        status=codes.study_status(str(status.overall)),
        phase=(
            {"coding": [{"system": codes.STUDY_PHASE, "code": phase}]}
            if phase
            else {"text": ", ".join(str(p) for p in protocol.phases)}
        ),
        primaryPurposeType=(
            {"coding": [{"system": codes.STUDY_PURPOSE, "code": codes.PURPOSES[str(purpose)]}]}
            if purpose is not None and str(purpose) in codes.PURPOSES
            else None
        ),
        condition=[{"text": condition} for condition in protocol.conditions],
        keyword=[{"text": keyword} for keyword in protocol.keywords] or None,
        description=protocol.summary or protocol.description,
        period=period or None,
        sponsor={"reference": codes.full_url(protocol.id, "Organization", "sponsor")},
        arm=[
            {
                "name": arm.label,
                "type": {"text": str(arm.type)},
                **({"description": arm.description} if arm.description else {}),
            }
            for arm in protocol.arms
        ],
    )
    return fullurl, study


def birth_year(age: int, screened_on: dt.date) -> int:
    """The most likely year of birth of someone `age` full years old on `screened_on`.

    The birth date lies in the 365 or 366 days that end on `screened_on - age years`; the
    year of their middle day holds most of them. The true year is this one or a neighbour:
    the Patient's birth year is approximate.
    """
    try:
        anniversary = screened_on.replace(year=screened_on.year - age)
    except ValueError:  # 29 February in a year that has none
        anniversary = screened_on.replace(year=screened_on.year - age, day=28)
    return (anniversary - dt.timedelta(days=182)).year


def patient(protocol: Protocol, subject: Row) -> tuple[str, Patient]:
    fullurl = codes.full_url(protocol.id, "Patient", subject["code"])
    return fullurl, Patient(
        id=fullurl.removeprefix("urn:uuid:"),
        identifier=[
            {"system": codes.study_system(protocol.id, "subject"), "value": subject["code"]}
        ],
        gender=subject["sex"] if subject["sex"] in ("male", "female") else "unknown",
        birthDate=str(birth_year(subject["age"], subject["screened_on"])),
    )


def research_subject(
    protocol: Protocol, subject: Row, allocation: Mapping[str, object] | None, treated: bool
) -> tuple[str, ResearchSubject]:
    """`allocation` is the subject's allocation row, if randomized; its arm is None when the
    source is blinded, and then no arm is written."""
    fullurl = codes.full_url(protocol.id, "ResearchSubject", subject["code"])
    arm_id = allocation["arm"] if allocation is not None else None
    arm = protocol.arm(str(arm_id)).label if arm_id is not None else None
    return fullurl, ResearchSubject(
        id=fullurl.removeprefix("urn:uuid:"),
        identifier=[
            {"system": codes.study_system(protocol.id, "subject"), "value": subject["code"]}
        ],
        status=codes.subject_status(subject["status"], randomized=allocation is not None),
        period={"start": subject["screened_on"].isoformat()},
        study={"reference": codes.full_url(protocol.id, "ResearchStudy")},
        individual={"reference": codes.full_url(protocol.id, "Patient", subject["code"])},
        assignedArm=arm,
        actualArm=arm if treated else None,
    )
