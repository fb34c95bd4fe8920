"""Patients answering at home (issue 14): a subject's diary as a compliance grid, and the
patient's personal link: invite (the token is in the answer once, and nowhere after) and revoke
(`trialdesk.store.services.patient_reports`).

The grid is read through the user's access to the subject (site scope); it names no arm. Its
windows are in the patient's time zone, the one of their latest link: before a first
invitation there is none, and no entry is listed. Which entries stand open, late or missed is
decided by the server's clock (`trialdesk.store.clock`).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from django.db.models import Max
from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from trialdesk.schedule.diary import EntryState, compliance, missed_in_a_row
from trialdesk.store import clock
from trialdesk.store.models import PatientAnswer, PatientLink, Subject
from trialdesk.store.reminders import email_invitation
from trialdesk.store.services.patient_reports import (
    PATIENT_LANGUAGES,
    PATIENT_PATH,
    invite_patient,
    revoke_patient_link,
    subject_entries,
)
from trialdesk.web.api.context import SUBJECT, subject_for
from trialdesk.web.api.errors import READ_ERRORS, WRITE_ERRORS
from trialdesk.web.api.schemas import NOT_BLANK, BodyIn, codes, declared

router = Router(tags=["patients at home"])

LINK = SUBJECT + "/patient-link"
#: Where the patient's pages are, below the server's address.


class DiaryEntryOut(Schema):
    schedule: str = Field(description="the protocol's patient_reported schedule, e.g. pain_diary")
    day: int = Field(description="days after day 0 (day 1 is the day after the injection)")
    local_date: dt.date = Field(description="the entry's date in the patient's time zone")
    opens_at: dt.datetime
    closes_at: dt.datetime = Field(description="answers from then on are late")
    late_until: dt.datetime = Field(description="no answer is taken from then on: missed")
    state: str = declared(**codes(EntryState))
    received_at: dt.datetime | None = Field(
        description="when the server received the entry's last answer; null: not answered"
    )


class ComplianceOut(Schema):
    schedule: str
    answered: int = Field(description="entries answered inside their window")
    late: int = Field(description="entries answered in the grace after closing")
    missed: int = Field(description="entries closed without an answer")
    due: int = Field(description="answered + late + missed")
    share: float | None = Field(description="(answered + late) / due; null when none is due")
    missed_in_a_row: int = Field(description="missed entries since the last answered one")


class DiaryOut(Schema):
    subject: str
    invited: bool = Field(description="the subject has a live personal link")
    time_zone: str | None = Field(
        description="the patient's time zone (of their latest link); null: never invited"
    )
    answered: int
    late: int
    missed: int
    compliance: list[ComplianceOut] = Field(description="per schedule")
    entries: list[DiaryEntryOut] = Field(description="every entry, schedule by schedule, by day")


class LinkOut(Schema):
    subject: str
    language: str = declared(**codes(PATIENT_LANGUAGES))
    time_zone: str
    email_on_file: bool = Field(description="a contact address is kept (sealed) for reminders")
    created_by: str
    created_at: dt.datetime
    revoked_by: str | None
    revoked_at: dt.datetime | None


class InvitationOut(LinkOut):
    token: str = Field(description="the link's secret: shown in this answer only, never again")
    path: str = Field(description="the patient's pages below the server's address: /p/<token>/")
    emailed: bool = Field(
        description="the invitation with the link was emailed to the link's address"
    )
    email_refusal: str = Field(
        description="the mail server's refusal when the invitation could not be sent, else "
        '""; the link is made either way'
    )


TimeZone = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        description="an IANA time zone, e.g. Europe/Copenhagen: the entries' windows are in it",
    ),
]


class InviteIn(BodyIn):
    language: str = declared(
        description="the language the patient's pages and messages are in",
        **codes(PATIENT_LANGUAGES),
    )
    time_zone: TimeZone
    email: str = Field(
        "", max_length=254, description="optional, for reminders; stored sealed, never shown"
    )


class RevokeIn(BodyIn):
    reason: str = declared(description="why the link is revoked (audited)", **NOT_BLANK)


def _link_out(link: PatientLink) -> dict:
    return {
        "subject": link.subject.code,
        "language": link.language,
        "time_zone": link.time_zone,
        "email_on_file": bool(link.sealed_email),
        "created_by": link.created_by.username,
        "created_at": link.created_at,
        "revoked_by": link.revoked_by.username if link.revoked_by else None,
        "revoked_at": link.revoked_at,
    }


def diary(subject: Subject, now: dt.datetime) -> dict:
    """The subject's entries as they stand at `now`, and their compliance per schedule."""
    latest = PatientLink.objects.filter(subject=subject).order_by("-created_at", "-pk").first()
    invited = PatientLink.objects.filter(subject=subject, revoked_at__isnull=True).exists()
    views = subject_entries(subject, latest.time_zone, now) if latest is not None else []
    received = {
        (row["schedule"], row["day"]): row["last"]
        for row in PatientAnswer.objects.filter(subject=subject)
        .values("schedule", "day")
        .annotate(last=Max("received_at"))
    }
    rows, by_schedule = [], {}
    for view in views:
        settled = view.state in (EntryState.ANSWERED, EntryState.LATE)
        rows.append(
            {
                "schedule": view.schedule.id,
                "day": view.day,
                "local_date": view.entry.local_date,
                "opens_at": view.entry.opens_at,
                "closes_at": view.entry.closes_at,
                "late_until": view.entry.late_until,
                "state": view.state.value,
                "received_at": received.get((view.schedule.id, view.day)) if settled else None,
            }
        )
        by_schedule.setdefault(view.schedule.id, []).append(view.state)
    summaries = []
    for schedule, states in by_schedule.items():
        counted = compliance(states)
        summaries.append(
            {
                "schedule": schedule,
                "answered": counted.answered,
                "late": counted.late,
                "missed": counted.missed,
                "due": counted.due,
                "share": counted.share,
                "missed_in_a_row": missed_in_a_row(states),
            }
        )
    return {
        "subject": subject.code,
        "invited": invited,
        "time_zone": latest.time_zone if latest is not None else None,
        **{key: sum(s[key] for s in summaries) for key in ("answered", "late", "missed")},
        "compliance": summaries,
        "entries": rows,
    }


@router.get(SUBJECT + "/diary", response={200: DiaryOut, **READ_ERRORS})
def subject_diary(request: HttpRequest, study: str, code: str, version: str | None = None) -> dict:
    """The subject's entries to answer at home (each day's window in the patient's time
    zone, its state, when the answer came) and their compliance: answered, late, missed."""
    _, subject = subject_for(request, study, code, version)
    return diary(subject, clock.now())


@router.post(LINK, response={201: InvitationOut, **WRITE_ERRORS})
def invite(
    request: HttpRequest, study: str, code: str, body: InviteIn, version: str | None = None
) -> Status:
    """A coordinator or investigator of the subject's site gives the patient a personal link
    (a live one is revoked: a reissue). The token is in this answer only; it is stored as its
    SHA-256. With an address, the invitation carrying the link is emailed (`emailed`).
    400 when the protocol has no patient_reported schedule or the time zone or
    address is not one."""
    access, _ = subject_for(request, study, code, version)
    link, token = invite_patient(
        access.study,
        code,
        access.user.username,
        language=body.language,
        time_zone=body.time_zone,
        email=body.email,
    )
    emailed, refusal = email_invitation(link, token, request.build_absolute_uri("/"))
    return Status(
        201,
        {
            **_link_out(link),
            "token": token,
            "path": PATIENT_PATH.format(token=token),
            "emailed": emailed,
            "email_refusal": refusal,
        },
    )


@router.delete(LINK, response={200: LinkOut, **WRITE_ERRORS})
def revoke(
    request: HttpRequest, study: str, code: str, body: RevokeIn, version: str | None = None
) -> dict:
    """Revoke the subject's live link, with a reason: it opens nothing from now on (404 when
    there is no live link)."""
    access, _ = subject_for(request, study, code, version)
    link = revoke_patient_link(access.study, code, access.user.username, body.reason)
    return _link_out(link)
