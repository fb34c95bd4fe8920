"""Variables many domains share (identifiers and visit timing), declared once."""

from __future__ import annotations

from trialdesk.exchange.sdtm.domain import Row, Variable
from trialdesk.exchange.sdtm.tabulation import Tabulation

STUDYID = Variable("STUDYID", "Study Identifier", "text", "Identifier", "Req", 20)
DOMAIN = Variable("DOMAIN", "Domain Abbreviation", "text", "Identifier", "Req", 2, "DOMAIN")
USUBJID = Variable("USUBJID", "Unique Subject Identifier", "text", "Identifier", "Req", 40)
VISITNUM = Variable("VISITNUM", "Visit Number", "float", "Timing", "Exp", origin="Derived")
VISIT = Variable("VISIT", "Visit Name", "text", "Timing", "Perm", origin="Derived")
EPOCH = Variable("EPOCH", "Epoch", "text", "Timing", "Perm", 20, "EPOCH", origin="Derived")

SUBJECT_IDENTIFIERS = (STUDYID, DOMAIN, USUBJID)


def last_before_exposure(prefix: str) -> Variable:
    return Variable(
        f"{prefix}LOBXFL",
        "Last Observation Before Exposure Flag",
        "text",
        "Record Qualifier",
        "Exp",
        1,
        "NY",
        origin="Derived",
    )


def seq(domain: str) -> Variable:
    return Variable(
        f"{domain}SEQ", "Sequence Number", "integer", "Identifier", "Req", origin="Derived"
    )


def day_variable(name: str, label: str) -> Variable:
    return Variable(name, label, "integer", "Timing", "Perm", origin="Derived")


def subject_row(tabulation: Tabulation, domain: str, subject: str) -> Row:
    return {"STUDYID": tabulation.studyid, "DOMAIN": domain, "USUBJID": tabulation.usubjid(subject)}


def visit_columns(tabulation: Tabulation, visit_id: str) -> Row:
    """VISITNUM, VISIT and EPOCH of a planned visit (as TV gives them)."""
    return {
        "VISITNUM": tabulation.visitnum[visit_id],
        "VISIT": tabulation.protocol.visit(visit_id).label,
        "EPOCH": tabulation.visit_epoch(visit_id),
    }
