"""Special-purpose domains: DM (one row per subject) and SV (one row per visit done).

Blinding: a blinded source has no arm, so DM's ARMCD, ARM, ACTARMCD and ACTARM are null and
ARMNRS says why. SDTMIG has no "blinded" value; ARMNRS (Arm Null Reason, codelist ARMNULRS) is
extensible, so the export adds the sponsor term BLINDED, flagged def:ExtendedValue in
define.xml. A placeholder arm code (e.g. "BLINDED" in ARMCD) would look like a planned arm of
TA and break the DM-TA link; a null with its reason does not.
"""

from __future__ import annotations

from collections.abc import Iterator

from trialdesk.errors import BadInput
from trialdesk.exchange.sdtm.common import (
    EPOCH,
    SUBJECT_IDENTIFIERS,
    VISIT,
    VISITNUM,
    day_variable,
    subject_row,
    visit_columns,
)
from trialdesk.exchange.sdtm.domain import Domain, Row, Variable
from trialdesk.exchange.sdtm.tabulation import Tabulation, iso_date, study_day
from trialdesk.exchange.sdtm.terminology import SponsorTerm

BLINDED = "BLINDED"
#: Not collected by the store (DESIGN.md: age, sex and year of birth are enough); SDTMIG
#: expects the columns, so they are written null: RACE, ACTARMUD.

#: ISO 3166-1 alpha-3 codes of the countries the seed protocols' sites are in, and a few more.
COUNTRIES = {
    "China": "CHN",
    "Denmark": "DNK",
    "Germany": "DEU",
    "Norway": "NOR",
    "Sweden": "SWE",
    "United Kingdom": "GBR",
    "United States": "USA",
    "Netherlands": "NLD",
    "France": "FRA",
    "Spain": "ESP",
    "Italy": "ITA",
    "Japan": "JPN",
    "Korea, Republic of": "KOR",
    "Taiwan": "TWN",
    "Australia": "AUS",
    "Canada": "CAN",
}


def _date(name: str, label: str, core: str = "Exp", origin: str = "Derived") -> Variable:
    return Variable(name, label, "date", "Record Qualifier", core, origin=origin)  # type: ignore[arg-type]


DM_VARIABLES = (
    *SUBJECT_IDENTIFIERS,
    Variable("SUBJID", "Subject Identifier for the Study", "text", "Topic", "Req", 20),
    _date("RFSTDTC", "Subject Reference Start Date/Time"),
    _date("RFENDTC", "Subject Reference End Date/Time"),
    _date("RFXSTDTC", "Date/Time of First Study Treatment"),
    _date("RFXENDTC", "Date/Time of Last Study Treatment"),
    _date("RFICDTC", "Date/Time of Informed Consent"),
    _date("RFPENDTC", "Date/Time of End of Participation"),
    _date("DTHDTC", "Date/Time of Death"),
    Variable(
        "DTHFL", "Subject Death Flag", "text", "Record Qualifier", "Exp", 1, "NY", origin="Derived"
    ),
    Variable("SITEID", "Study Site Identifier", "text", "Record Qualifier", "Req", 10),
    Variable("AGE", "Age", "integer", "Record Qualifier", "Exp"),
    Variable(
        "AGEU", "Age Units", "text", "Variable Qualifier", "Exp", 10, "AGEU", origin="Assigned"
    ),
    Variable("SEX", "Sex", "text", "Record Qualifier", "Req", 2, "SEX"),
    Variable("RACE", "Race", "text", "Record Qualifier", "Exp", 40, "RACE"),
    Variable(
        "ARMCD",
        "Planned Arm Code",
        "text",
        "Record Qualifier",
        "Exp",
        20,
        sponsor_codelist=True,
        origin="Assigned",
    ),
    Variable(
        "ARM",
        "Description of Planned Arm",
        "text",
        "Synonym Qualifier",
        "Exp",
        sponsor_codelist=True,
        origin="Assigned",
    ),
    Variable(
        "ACTARMCD",
        "Actual Arm Code",
        "text",
        "Record Qualifier",
        "Exp",
        20,
        sponsor_codelist=True,
        origin="Assigned",
    ),
    Variable(
        "ACTARM",
        "Description of Actual Arm",
        "text",
        "Synonym Qualifier",
        "Exp",
        sponsor_codelist=True,
        origin="Assigned",
    ),
    Variable(
        "ARMNRS",
        "Reason Arm and/or Actual Arm is Null",
        "text",
        "Record Qualifier",
        "Exp",
        40,
        "ARMNULRS",
        origin="Assigned",
    ),
    Variable("ACTARMUD", "Description of Unplanned Actual Arm", "text", "Record Qualifier", "Exp"),
    Variable("COUNTRY", "Country", "text", "Record Qualifier", "Req", 3, origin="Assigned"),
)


def site_countries(tabulation: Tabulation) -> dict[str, str]:
    """Site id -> ISO 3166 alpha-3 code; BadInput naming the site whose country has none."""
    codes = {}
    for number, site in enumerate(tabulation.protocol.sites):
        code = COUNTRIES.get(site.country or "")
        if code is None:
            raise BadInput(
                f"protocol {tabulation.protocol.id} sites[{number}] ({site.id}): country "
                f"{site.country!r}; expected one of {', '.join(sorted(COUNTRIES))} for DM COUNTRY"
            )
        codes[site.id] = code
    return codes


def _arm_columns(tabulation: Tabulation, subject: str) -> Row:
    allocation = tabulation.allocations.get(subject)
    treated = subject in tabulation.reference_start
    empty = {"ARMCD": "", "ARM": "", "ACTARMCD": "", "ACTARM": ""}
    if allocation is None:
        return {**empty, "ARMNRS": "SCREEN FAILURE"}
    if tabulation.blinded or allocation["arm"] is None:
        return {**empty, "ARMNRS": BLINDED}
    arm = tabulation.protocol.arm(allocation["arm"])
    planned = {"ARMCD": arm.id, "ARM": arm.label}
    if not treated:
        return {**planned, "ACTARMCD": "", "ACTARM": "", "ARMNRS": "ASSIGNED, NOT TREATED"}
    return {**planned, "ACTARMCD": arm.id, "ACTARM": arm.label, "ARMNRS": ""}


def _deaths(tabulation: Tabulation) -> dict[str, Row]:
    """Subject -> DTHFL and DTHDTC, from an adverse event with a fatal outcome (its end date)."""
    return {
        event["subject"]: {
            "DTHFL": "Y",
            "DTHDTC": iso_date(event["end_date"] or event["onset_date"]),
        }
        for event in tabulation.extract.adverse_events
        if event["outcome"] == "fatal"
    }


def dm_rows(tabulation: Tabulation) -> Iterator[Row]:
    countries = site_countries(tabulation)
    deaths = _deaths(tabulation)
    for subject in tabulation.subjects:
        code = subject["code"]
        given = [row["administered_on"] for row in tabulation.administrations.get(code, [])]
        given = [date for date in given if date is not None]
        treated = code in tabulation.reference_start
        last = tabulation.last_contact.get(code, subject["screened_on"])
        yield {
            **subject_row(tabulation, "DM", code),
            "SUBJID": code,
            "RFSTDTC": iso_date(min(given)) if given else "",
            "RFENDTC": iso_date(last) if treated else "",
            "RFXSTDTC": iso_date(min(given)) if given else "",
            "RFXENDTC": iso_date(max(given)) if given else "",
            "RFICDTC": iso_date(subject["screened_on"]),
            "RFPENDTC": iso_date(last),
            **deaths.get(code, {"DTHFL": "", "DTHDTC": ""}),
            "SITEID": subject["site"],
            "AGE": subject["age"],
            "AGEU": "YEARS" if subject["age"] is not None else "",
            "SEX": {"male": "M", "female": "F"}.get(subject["sex"], ""),
            **_arm_columns(tabulation, code),
            "COUNTRY": countries.get(subject["site"], ""),
        }


SV_VARIABLES = (
    *SUBJECT_IDENTIFIERS,
    VISITNUM,
    VISIT,
    Variable(
        "VISITDY", "Planned Study Day of Visit", "integer", "Timing", "Perm", origin="Derived"
    ),
    EPOCH,
    Variable("SVSTDTC", "Start Date/Time of Visit", "date", "Timing", "Exp"),
    Variable("SVENDTC", "End Date/Time of Visit", "date", "Timing", "Exp"),
    day_variable("SVSTDY", "Study Day of Start of Visit"),
    day_variable("SVENDY", "Study Day of End of Visit"),
)


def sv_rows(tabulation: Tabulation) -> Iterator[Row]:
    done = sorted(
        tabulation.visit_dates.items(),
        key=lambda item: (item[0][0], tabulation.visitnum[item[0][1]]),
    )
    for (subject, visit_id), date in done:
        day = tabulation.study_day_of(subject, date)
        yield {
            **subject_row(tabulation, "SV", subject),
            **visit_columns(tabulation, visit_id),
            "VISITDY": study_day(tabulation.protocol.visit(visit_id).day),
            "SVSTDTC": iso_date(date),
            "SVENDTC": iso_date(date),
            "SVSTDY": day,
            "SVENDY": day,
        }


DM = Domain(
    "DM",
    "Demographics",
    "SPECIAL PURPOSE",
    "One record per subject",
    ("STUDYID", "USUBJID"),
    DM_VARIABLES,
    dm_rows,
    (
        SponsorTerm(
            "ARMNULRS",
            BLINDED,
            "the export is for a blinded reader: the arm exists but may not be shown",
        ),
    ),
)
SV = Domain(
    "SV",
    "Subject Visits",
    "SPECIAL PURPOSE",
    "One record per subject per actual visit",
    ("STUDYID", "USUBJID", "VISITNUM"),
    SV_VARIABLES,
    sv_rows,
)
