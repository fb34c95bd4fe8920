"""Events: AE (one row per adverse event) and DS (consent, randomization, disposition).

AE: the store keeps the reported term and a CTCAE grade, not a MedDRA coding, so AEDECOD
(required) repeats the reported term in upper case until the terms are coded, and the MedDRA
variables SDTMIG expects (AELLT ... AESOCCD) are written null; the grade is
AETOXGR with AETOXGRV naming CTCAE. AEREL has no CDISC codelist (SDTMIG leaves it to the
sponsor); the WHO-UMC categories are written as they are recorded, in upper case.

DS: INFORMED CONSENT OBTAINED on the screening date (the store records consent at the
screening visit), RANDOMIZED without a date (the extract has none), and one disposition event:
SCREEN FAILURE, COMPLETED, WITHDRAWAL BY SUBJECT or LOST TO FOLLOW-UP, on the last visit done.
"""

from __future__ import annotations

from collections.abc import Iterator

from trialdesk.errors import TrialdeskError
from trialdesk.exchange.sdtm.common import (
    EPOCH,
    SUBJECT_IDENTIFIERS,
    day_variable,
    seq,
    subject_row,
)
from trialdesk.exchange.sdtm.domain import Domain, Row, Variable, numbered, text
from trialdesk.exchange.sdtm.tabulation import SCREENING, Tabulation, iso_date

ACTION_TAKEN = {
    "dose_not_changed": "DOSE NOT CHANGED",
    "drug_withdrawn": "DRUG WITHDRAWN",
    "drug_interrupted": "DRUG INTERRUPTED",
    "not_applicable": "NOT APPLICABLE",
    "unknown": "UNKNOWN",
}
OUTCOME = {
    "recovered": "RECOVERED/RESOLVED",
    "recovering": "RECOVERING/RESOLVING",
    "not_recovered": "NOT RECOVERED/NOT RESOLVED",
    "recovered_with_sequelae": "RECOVERED/RESOLVED WITH SEQUELAE",
    "fatal": "FATAL",
    "unknown": "UNKNOWN",
}
RELATEDNESS = {
    "not_related": "NOT RELATED",
    "unlikely": "UNLIKELY RELATED",
    "possible": "POSSIBLY RELATED",
    "probable": "PROBABLY RELATED",
    "certain": "RELATED",
}
#: ICH E2A seriousness criteria (the store's names) -> the AE flag of each.
SERIOUSNESS = {
    "death": "AESDTH",
    "life_threatening": "AESLIFE",
    "hospitalization": "AESHOSP",
    "disability": "AESDISAB",
    "congenital_anomaly": "AESCONG",
    "medically_important": "AESMIE",
}
SERIOUSNESS_LABELS = {
    "AESDTH": "Results in Death",
    "AESLIFE": "Is Life Threatening",
    "AESHOSP": "Requires or Prolongs Hospitalization",
    "AESDISAB": "Persist or Signif Disability/Incapacity",
    "AESCONG": "Congenital Anomaly or Birth Defect",
    "AESMIE": "Other Medically Important Serious Event",
}


def _flag(name: str, label: str, core: str = "Perm") -> Variable:
    return Variable(name, label, "text", "Record Qualifier", core, 1, "NY")  # type: ignore[arg-type]


AE_VARIABLES = (
    *SUBJECT_IDENTIFIERS,
    seq("AE"),
    Variable("AESPID", "Sponsor-Defined Identifier", "text", "Identifier", "Perm", 20),
    Variable("AETERM", "Reported Term for the Adverse Event", "text", "Topic", "Req"),
    Variable("AELLT", "Lowest Level Term", "text", "Variable Qualifier", "Exp"),
    Variable("AELLTCD", "Lowest Level Term Code", "integer", "Variable Qualifier", "Exp"),
    Variable(
        "AEDECOD", "Dictionary-Derived Term", "text", "Synonym Qualifier", "Req", origin="Derived"
    ),
    Variable("AEPTCD", "Preferred Term Code", "integer", "Variable Qualifier", "Exp"),
    Variable("AEHLT", "High Level Term", "text", "Variable Qualifier", "Exp"),
    Variable("AEHLTCD", "High Level Term Code", "integer", "Variable Qualifier", "Exp"),
    Variable("AEHLGT", "High Level Group Term", "text", "Variable Qualifier", "Exp"),
    Variable("AEHLGTCD", "High Level Group Term Code", "integer", "Variable Qualifier", "Exp"),
    Variable("AEBODSYS", "Body System or Organ Class", "text", "Record Qualifier", "Exp"),
    Variable("AEBDSYCD", "Body System or Organ Class Code", "integer", "Variable Qualifier", "Exp"),
    Variable("AESOC", "Primary System Organ Class", "text", "Variable Qualifier", "Exp"),
    Variable("AESOCCD", "Primary System Organ Class Code", "integer", "Variable Qualifier", "Exp"),
    _flag("AESER", "Serious Event", "Exp"),
    Variable(
        "AEACN", "Action Taken with Study Treatment", "text", "Record Qualifier", "Exp", 40, "ACN"
    ),
    Variable("AEREL", "Causality", "text", "Record Qualifier", "Exp", 40, sponsor_codelist=True),
    Variable("AEOUT", "Outcome of Adverse Event", "text", "Record Qualifier", "Perm", 40, "OUT"),
    *(_flag(name, label) for name, label in SERIOUSNESS_LABELS.items()),
    Variable("AETOXGR", "Standard Toxicity Grade", "text", "Record Qualifier", "Perm", 1),
    Variable(
        "AETOXGRV",
        "Standard Toxicity Grade Version",
        "text",
        "Record Qualifier",
        "Perm",
        20,
        origin="Assigned",
    ),
    EPOCH,
    Variable("AESTDTC", "Start Date/Time of Adverse Event", "date", "Timing", "Exp"),
    Variable("AEENDTC", "End Date/Time of Adverse Event", "date", "Timing", "Exp"),
    day_variable("AESTDY", "Study Day of Start of Adverse Event"),
    day_variable("AEENDY", "Study Day of End of Adverse Event"),
)


def ae_rows(tabulation: Tabulation) -> Iterator[Row]:
    events = sorted(
        tabulation.extract.adverse_events, key=lambda row: (row["subject"], row["number"])
    )
    yield from numbered((_ae_row(tabulation, event) for event in events), "AESEQ")


def _ae_row(tabulation: Tabulation, event: Row) -> Row:
    subject = event["subject"]
    criteria = set(event["seriousness"] or ())
    if unknown := criteria - SERIOUSNESS.keys():
        raise TrialdeskError(
            f"adverse event {event['number']} of {subject}: seriousness {sorted(unknown)}; "
            f"expected ICH E2A criteria among {', '.join(SERIOUSNESS)}"
        )
    grade = event["ctcae_grade"]
    return {
        **subject_row(tabulation, "AE", subject),
        "AESPID": str(event["number"]),
        "AETERM": text(event["term"]),
        "AEDECOD": text(event["term"]).upper(),
        "AESER": "Y" if criteria else "N",
        "AEACN": ACTION_TAKEN.get(event["action_taken"], ""),
        "AEREL": RELATEDNESS.get(event["relatedness"], ""),
        "AEOUT": OUTCOME.get(event["outcome"], ""),
        **{flag: ("Y" if name in criteria else "N") for name, flag in SERIOUSNESS.items()},
        "AETOXGR": str(grade) if grade is not None else "",
        "AETOXGRV": "CTCAE" if grade is not None else "",
        "EPOCH": tabulation.epoch_of_date(subject, event["onset_date"]),
        "AESTDTC": iso_date(event["onset_date"]),
        "AEENDTC": iso_date(event["end_date"]),
        "AESTDY": tabulation.study_day_of(subject, event["onset_date"]),
        "AEENDY": tabulation.study_day_of(subject, event["end_date"]),
    }


DS_VARIABLES = (
    *SUBJECT_IDENTIFIERS,
    seq("DS"),
    Variable("DSTERM", "Reported Term for the Disposition Event", "text", "Topic", "Req"),
    Variable(
        "DSDECOD",
        "Standardized Disposition Term",
        "text",
        "Synonym Qualifier",
        "Req",
        40,
        origin="Assigned",
    ),
    Variable(
        "DSCAT",
        "Category for Disposition Event",
        "text",
        "Grouping Qualifier",
        "Exp",
        40,
        "DSCAT",
        origin="Assigned",
    ),
    EPOCH,
    Variable("DSSTDTC", "Start Date/Time of Disposition Event", "date", "Timing", "Exp"),
    day_variable("DSSTDY", "Study Day of Start of Disposition Event"),
)

#: A subject's final status -> the NCOMPLT term of the disposition event.
DISPOSITION = {
    "screen_failed": "SCREEN FAILURE",
    "completed": "COMPLETED",
    "withdrawn": "WITHDRAWAL BY SUBJECT",
    "lost_to_follow_up": "LOST TO FOLLOW-UP",
}
#: The codelist each DSDECOD value belongs to (DSDECOD's codelist depends on DSCAT).
DSDECOD_CODELISTS = {"PROTOCOL MILESTONE": "PROTMLST", "DISPOSITION EVENT": "NCOMPLT"}


def ds_rows(tabulation: Tabulation) -> Iterator[Row]:
    reasons: dict[str, str] = {}
    for change in tabulation.extract.status_changes:
        if change["status"] in DISPOSITION and change["reason"]:
            reasons[change["subject"]] = change["reason"]
    rows = (row for subject in tabulation.subjects for row in _ds_of(tabulation, subject, reasons))
    yield from numbered(rows, "DSSEQ")


def _ds_of(tabulation: Tabulation, subject: Row, reasons: dict[str, str]) -> Iterator[Row]:
    code = subject["code"]
    base = subject_row(tabulation, "DS", code)
    consent = subject["screened_on"]
    yield {
        **base,
        "DSTERM": "INFORMED CONSENT OBTAINED",
        "DSDECOD": "INFORMED CONSENT OBTAINED",
        "DSCAT": "PROTOCOL MILESTONE",
        "EPOCH": SCREENING,
        "DSSTDTC": iso_date(consent),
        "DSSTDY": tabulation.study_day_of(code, consent),
    }
    if code in tabulation.allocations:
        yield {
            **base,
            "DSTERM": "RANDOMIZED",
            "DSDECOD": "RANDOMIZED",
            "DSCAT": "PROTOCOL MILESTONE",
            "EPOCH": SCREENING,
            "DSSTDTC": "",
            "DSSTDY": None,
        }
    decode = DISPOSITION.get(subject["status"])
    if decode is not None:
        date = tabulation.last_contact.get(code, consent)
        yield {
            **base,
            "DSTERM": text(reasons.get(code) or decode).upper(),
            "DSDECOD": decode,
            "DSCAT": "DISPOSITION EVENT",
            "EPOCH": tabulation.epoch_of_date(code, date),
            "DSSTDTC": iso_date(date),
            "DSSTDY": tabulation.study_day_of(code, date),
        }


AE = Domain(
    "AE",
    "Adverse Events",
    "EVENTS",
    "One record per adverse event per subject",
    ("STUDYID", "USUBJID", "AEDECOD", "AESTDTC"),
    AE_VARIABLES,
    ae_rows,
)
DS = Domain(
    "DS",
    "Disposition",
    "EVENTS",
    "One record per disposition status or protocol milestone per subject",
    ("STUDYID", "USUBJID", "DSDECOD", "DSSTDTC"),
    DS_VARIABLES,
    ds_rows,
    row_codelists={"DSDECOD": ("DSCAT", DSDECOD_CODELISTS)},
)
