"""AdverseEvent per adverse event of the extract.

Seriousness is Serious / Non-serious of FHIR's adverse-event-seriousness with the ICH E2A
criteria met in its text (the code system's finer codes do not match E2A's "medically
important"); severity is mild, moderate or severe from the CTCAE grade, the grade itself in
its text; the outcome maps CDISC AEOUT to adverse-event-outcome. Causality, expectedness and
action taken have no home here without a resource for the study treatment, whose arm a
blinded export may not show: they stay in the SDTM and ODM exports.
"""

from __future__ import annotations

from fhir.resources.R4B.adverseevent import AdverseEvent

from trialdesk.analysis.datasets import Row
from trialdesk.exchange.fhir import codes
from trialdesk.protocol.model import Protocol


def adverse_event(protocol: Protocol, event: Row) -> tuple[str, AdverseEvent]:
    fullurl = codes.full_url(protocol.id, "AdverseEvent", str(event["id"]))
    criteria = list(event["seriousness"])
    seriousness = (
        {
            "coding": [{"system": codes.AE_SERIOUSNESS, "code": "Serious", "display": "Serious"}],
            "text": "Serious: " + ", ".join(c.replace("_", " ") for c in criteria),
        }
        if criteria
        else {
            "coding": [
                {"system": codes.AE_SERIOUSNESS, "code": "Non-serious", "display": "Non-serious"}
            ]
        }
    )
    grade = int(event["ctcae_grade"])
    return fullurl, AdverseEvent(
        id=fullurl.removeprefix("urn:uuid:"),
        identifier={
            "system": codes.study_system(protocol.id, "adverse-event"),
            "value": f"{event['subject']}/AE{event['number']}",
        },
        actuality="actual",
        event={"text": event["term"]},
        subject={"reference": codes.full_url(protocol.id, "Patient", event["subject"])},
        date=event["onset_date"].isoformat(),
        seriousness=seriousness,
        severity={
            "coding": [{"system": codes.AE_SEVERITY, "code": codes.ae_severity(grade)}],
            "text": f"CTCAE grade {grade}",
        },
        outcome={
            "coding": [{"system": codes.AE_OUTCOME, "code": codes.AE_OUTCOMES[event["outcome"]]}]
        },
        study=[{"reference": codes.full_url(protocol.id, "ResearchStudy")}],
    )
