"""The study's facts every SDTM domain reads: identifiers, visit numbers, epochs, study days.

Conventions (SDTMIG 3.4), from the protocol:
- STUDYID is the sponsor's protocol id (`identifiers.org_study_id`), else the protocol id;
  USUBJID is STUDYID-subject code.
- VISITNUM numbers the protocol's visits 1, 2, ... in day order; VISITDY is the planned study
  day. The protocol counts day 0 as the first administration; SDTM has no day 0, so protocol
  day d >= 0 is study day d + 1 and a negative day stays as it is.
- RFSTDTC (the reference start) is the subject's first administration; --DY counts from it.
- Epochs: SCREENING before the first administration, TREATMENT from it through the day of the
  last planned administration, FOLLOW-UP after. A subject never treated is in SCREENING.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from trialdesk.analysis.datasets import StudyExtract
from trialdesk.protocol.model import Protocol, Visit

SCREENING, TREATMENT, FOLLOW_UP = "SCREENING", "TREATMENT", "FOLLOW-UP"


def study_day(protocol_day: int) -> int:
    """SDTM study day of a protocol day (day 0 = first administration = study day 1)."""
    return protocol_day + 1 if protocol_day >= 0 else protocol_day


def iso_date(value: dt.date | None) -> str:
    return value.isoformat() if value is not None else ""


@dataclass(frozen=True)
class Tabulation:
    """The study's facts, from its protocol, and the rows of some of its subjects: `extract`
    is one batch of the source (`ExportSource.batches`), every row of each subject in it, so
    whatever a domain derives of a subject is in the batch. The trial design domains read a
    tabulation of no subject, made once every batch is read (`allocated_subjects`)."""

    protocol: Protocol
    blinded: bool
    extract: StudyExtract
    #: How many subjects of the whole study were allocated (TS ACTSUB); 0 in a batch's.
    allocated_subjects: int = 0

    @cached_property
    def studyid(self) -> str:
        return self.protocol.identifiers.org_study_id or self.protocol.id

    def usubjid(self, subject_code: str) -> str:
        return f"{self.studyid}-{subject_code}"

    # ------------------------------------------------------------------ visits and epochs

    @cached_property
    def visits(self) -> tuple[Visit, ...]:
        return tuple(sorted(self.protocol.visits, key=lambda visit: visit.day))

    @cached_property
    def visitnum(self) -> dict[str, int]:
        return {visit.id: number for number, visit in enumerate(self.visits, start=1)}

    @cached_property
    def last_administration_day(self) -> int:
        return max(administration.day for administration in self.protocol.treatment_plan)

    def epoch_of_day(self, protocol_day: int) -> str:
        if protocol_day < 0:
            return SCREENING
        return TREATMENT if protocol_day <= self.last_administration_day else FOLLOW_UP

    def visit_epoch(self, visit_id: str) -> str:
        return self.epoch_of_day(self.protocol.visit(visit_id).day)

    # ------------------------------------------------------------------ subjects

    @cached_property
    def subjects(self) -> tuple[Any, ...]:
        return tuple(sorted(self.extract.subjects, key=lambda row: row["code"]))

    @cached_property
    def administrations(self) -> dict[str, list[Any]]:
        by_subject: dict[str, list[Any]] = defaultdict(list)
        for row in sorted(
            self.extract.administrations,
            key=lambda row: (row["subject"], row["administered_on"] or dt.date.max),
        ):
            by_subject[row["subject"]].append(row)
        return dict(by_subject)

    @cached_property
    def reference_start(self) -> dict[str, dt.date]:
        """RFSTDTC: each treated subject's first administration date."""
        return {
            subject: rows[0]["administered_on"]
            for subject, rows in self.administrations.items()
            if rows and rows[0]["administered_on"] is not None
        }

    @cached_property
    def allocations(self) -> dict[str, Any]:
        return {row["subject"]: row for row in self.extract.allocations}

    @cached_property
    def visit_dates(self) -> dict[tuple[str, str], dt.date]:
        """(subject, visit id) -> the date of each visit done."""
        return {
            (row["subject"], row["visit_id"]): row["actual_date"]
            for row in self.extract.visits
            if row["status"] == "done" and row["actual_date"] is not None
        }

    @cached_property
    def last_contact(self) -> dict[str, dt.date]:
        """Each subject's last visit done (the end of participation)."""
        last: dict[str, dt.date] = {}
        for (subject, _visit), date in self.visit_dates.items():
            last[subject] = max(date, last.get(subject, date))
        return last

    @cached_property
    def index_knee(self) -> dict[str, str]:
        """Subject -> LEFT or RIGHT, from the screening history form."""
        sides: dict[str, str] = {}
        for form in self.extract.forms:
            side = (
                form["values"].get("index_knee_side")
                if form["form"] == "screening_history"
                else None
            )
            if side in ("left", "right"):
                sides[form["subject"]] = side.upper()
        return sides

    def first_exposure(self, usubjid: str) -> str:
        """RFXSTDTC of a USUBJID ("" when the subject was never treated)."""
        return iso_date(self.reference_start.get(usubjid.removeprefix(f"{self.studyid}-")))

    def study_day_of(self, subject: str, date: dt.date | None) -> int | None:
        reference = self.reference_start.get(subject)
        if date is None or reference is None:
            return None
        return study_day((date - reference).days)

    def epoch_of_date(self, subject: str, date: dt.date | None) -> str:
        reference = self.reference_start.get(subject)
        if date is None:
            return ""
        if reference is None:
            return SCREENING
        return self.epoch_of_day((date - reference).days)
