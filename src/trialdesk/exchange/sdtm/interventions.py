"""EX: one row per administration given, from the protocol's arms and the store's dates.

A blinded source has no arm, so its EX names no product: EXTRT is the placeholder
"BLINDED STUDY TREATMENT" and EXDOSTXT is null (SDTMIG has EC for exposure as collected under
the blind; EX is the exposure the sponsor knows, written in full only when the arms are
known). Route, location and dose form come from the arm's route text: "intra-articular" or
"intraarticular" gives INTRA-ARTICULAR, "knee" gives KNEE JOINT with the index knee's side in
EXLAT, "injection" gives INJECTION. The protocols word doses as text ("20 million AD-MSC"), so
EXDOSE and EXDOSU are null and the dose is EXDOSTXT. Kit numbers are not written.
"""

from __future__ import annotations

from collections.abc import Iterator

from trialdesk.exchange.sdtm.common import (
    EPOCH,
    SUBJECT_IDENTIFIERS,
    VISIT,
    VISITNUM,
    day_variable,
    seq,
    subject_row,
    visit_columns,
)
from trialdesk.exchange.sdtm.domain import Domain, Row, Variable, numbered, text
from trialdesk.exchange.sdtm.tabulation import Tabulation, iso_date
from trialdesk.protocol.model import ArmIntervention

BLINDED_TREATMENT = "BLINDED STUDY TREATMENT"

EX_VARIABLES = (
    *SUBJECT_IDENTIFIERS,
    seq("EX"),
    Variable("EXTRT", "Name of Treatment", "text", "Topic", "Req", origin="Assigned"),
    Variable("EXDOSE", "Dose", "float", "Record Qualifier", "Exp", origin="Protocol"),
    Variable("EXDOSTXT", "Dose Description", "text", "Record Qualifier", "Perm", origin="Protocol"),
    Variable(
        "EXDOSU", "Dose Units", "text", "Variable Qualifier", "Exp", 20, "UNIT", origin="Protocol"
    ),
    Variable(
        "EXDOSFRM", "Dose Form", "text", "Variable Qualifier", "Exp", 40, "FRM", origin="Protocol"
    ),
    Variable(
        "EXROUTE",
        "Route of Administration",
        "text",
        "Variable Qualifier",
        "Perm",
        40,
        "ROUTE",
        origin="Protocol",
    ),
    Variable(
        "EXLOC",
        "Location of Dose Administration",
        "text",
        "Record Qualifier",
        "Perm",
        40,
        "LOC",
        origin="Protocol",
    ),
    Variable("EXLAT", "Laterality", "text", "Variable Qualifier", "Perm", 10, "LAT"),
    VISITNUM,
    VISIT,
    EPOCH,
    Variable("EXSTDTC", "Start Date/Time of Treatment", "date", "Timing", "Exp"),
    Variable("EXENDTC", "End Date/Time of Treatment", "date", "Timing", "Exp"),
    day_variable("EXSTDY", "Study Day of Start of Treatment"),
    day_variable("EXENDY", "Study Day of End of Treatment"),
)


def _route_terms(route: str | None) -> Row:
    words = (route or "").lower().replace("-", "")
    return {
        "EXROUTE": "INTRA-ARTICULAR" if "intraarticular" in words else "",
        "EXLOC": "KNEE JOINT" if "knee" in words else "",
        "EXDOSFRM": "INJECTION" if "injection" in words else "",
    }


def _given(tabulation: Tabulation, subject: str) -> ArmIntervention | None:
    allocation = tabulation.allocations.get(subject)
    if tabulation.blinded or allocation is None or allocation["arm"] is None:
        return None
    interventions = tabulation.protocol.arm(allocation["arm"]).interventions
    return interventions[0] if interventions else None


def ex_rows(tabulation: Tabulation) -> Iterator[Row]:
    yield from numbered(_rows(tabulation), "EXSEQ")


def _rows(tabulation: Tabulation) -> Iterator[Row]:
    visit_on_day = {visit.day: visit.id for visit in tabulation.visits}
    plan = {
        administration.id: administration for administration in tabulation.protocol.treatment_plan
    }
    routes = {
        arm_intervention.route
        for arm in tabulation.protocol.arms
        for arm_intervention in arm.interventions
    }
    shared_route = routes.pop() if len(routes) == 1 else None
    for subject in sorted(tabulation.administrations):
        given = _given(tabulation, subject)
        for administration in tabulation.administrations[subject]:
            date = administration["administered_on"]
            if date is None:
                continue
            planned = plan.get(administration["administration_id"])
            visit_id = visit_on_day.get(planned.day) if planned is not None else None
            if visit_id is not None:
                timing = visit_columns(tabulation, visit_id)
            else:
                timing = {
                    "VISITNUM": None,
                    "VISIT": "",
                    "EPOCH": tabulation.epoch_of_date(subject, date),
                }
            day = tabulation.study_day_of(subject, date)
            route = given.route if given is not None else shared_route
            yield {
                **subject_row(tabulation, "EX", subject),
                "EXTRT": (
                    text(tabulation.protocol.intervention(given.intervention).name).upper()
                    if given is not None
                    else BLINDED_TREATMENT
                ),
                "EXDOSTXT": text(given.dose) if given is not None else "",
                **_route_terms(route),
                "EXLAT": tabulation.index_knee.get(subject, ""),
                **timing,
                "EXSTDTC": iso_date(date),
                "EXENDTC": iso_date(date),
                "EXSTDY": day,
                "EXENDY": day,
            }


EX = Domain(
    "EX",
    "Exposure",
    "INTERVENTIONS",
    "One record per administration per subject",
    ("STUDYID", "USUBJID", "EXTRT", "EXSTDTC"),
    EX_VARIABLES,
    ex_rows,
)
