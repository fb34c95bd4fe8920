"""Messages to patients who answer at home (issue 14): the invitation with their personal
link, a reminder when a diary entry opens, and one after a missed day.

**The link travels once.** A link's token is stored as its SHA-256 only
(`services.patient_reports`), so no later message can rebuild it. The invitation is therefore
sent when the link is made, by whoever made it (the web app's invite page, `trialdesk epro
invite`), with the token in hand: `send_invitation(link, token)`. Later reminders carry no
link; they ask the patient to open the one in their invitation email (or the QR code they
were shown at the site), and to ask the site for a new one if it is lost.

**What is due** at a moment (`due_reminders`), for each live link of a subject still taking
part (randomized, not withdrawn, lost or completed) with a contact address:

- `window_open`: an entry whose window has opened (`opens_at` <= now < `closes_at`) and that
  is not answered; not in the grace after closing, nor for entries past.
- `missed_day`: the most recent entry of a schedule that has settled (its grace over) when it
  is missed, within a day after its grace ended: one message about the last missed day, never
  a flood of old ones when the job has not run for a while.

**Each message is sent once** (`send_due`): the `PatientReminder` row (unique per link, kind,
schedule, day and channel) is inserted first and the message sent inside the same
transaction. A second run at the same time inserts the same row and waits on the unique
index until the first commits, then fails on it and sends nothing (PostgreSQL; SQLite has
one writer at a time). A message the mail server refuses rolls its row back, and the next run
tries again. A run that dies between handing the message over and committing may send it
again on the next run: at least once, never twice from two runs at once.

**Channels.** `EmailSender` sends through Django's email backend (settings
`TRIALDESK_SMTP_HOST`, `TRIALDESK_SMTP_PORT`, `TRIALDESK_MAIL_FROM`). SMS is an interface
only (`ReminderSender`, plugged by `TRIALDESK_SMS_SENDER=module:Class`): a link holds a
sealed email address and no phone number, so no SMS is due for anyone yet, and no provider is
called or shipped.

Messages are in the patient's language (the link's), from this module's catalogue
(`trialdesk/store/locale/`). The addresses are unsealed (`contact_seal`) only to send.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import smtplib
from collections import Counter
from dataclasses import dataclass
from typing import Protocol

from django.db import IntegrityError, transaction
from django.utils import translation
from django.utils.translation import gettext as _

from trialdesk.errors import BadInput
from trialdesk.schedule.diary import EntryState
from trialdesk.store import clock
from trialdesk.store.contact_seal import unseal
from trialdesk.store.models import PatientLink, PatientReminder, ReminderKind
from trialdesk.store.services.patient_reports import (
    ANSWERING_STATUSES,
    PATIENT_PATH,
    subject_entries,
)

BASE_URL_VARIABLE = "TRIALDESK_BASE_URL"
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
SMS_SENDER_VARIABLE = "TRIALDESK_SMS_SENDER"
#: The patient's pages (`trialdesk.web.pages.patient.urls`), below the base URL.
EMAIL = "email"
#: How long after an entry's grace ended its missed-day message is still worth sending.
MISSED_DAY_NOTICE = dt.timedelta(days=1)


class ReminderSender(Protocol):
    """One channel of messages to patients: `send` hands one message over for `address`,
    raising on failure (the message is then not recorded as sent)."""

    channel: str

    def send(self, address: str, subject: str, body: str) -> None: ...


class EmailSender:
    """Email through Django's backend (SMTP in production, `TRIALDESK_SMTP_*`)."""

    channel = EMAIL

    def send(self, address: str, subject: str, body: str) -> None:
        from django.conf import settings
        from django.core.mail import send_mail

        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [address], fail_silently=False)


def sms_sender() -> ReminderSender | None:
    """The SMS sender named by `TRIALDESK_SMS_SENDER` (`module:Class`), or None."""
    name = os.environ.get(SMS_SENDER_VARIABLE, "").strip()
    if not name:
        return None
    module_name, _colon, class_name = name.partition(":")
    try:
        sender = getattr(importlib.import_module(module_name), class_name)()
    except (ImportError, AttributeError, ValueError, TypeError) as error:
        raise BadInput(
            f"{SMS_SENDER_VARIABLE}={name!r}: expected module:Class of a sender with a "
            f"channel and send(address, subject, body) ({error})"
        ) from None
    if not callable(getattr(sender, "send", None)) or not getattr(sender, "channel", ""):
        raise BadInput(
            f"{SMS_SENDER_VARIABLE}={name!r}: the class has no channel or no "
            "send(address, subject, body)"
        )
    return sender


def base_url() -> str:
    """The site's address that personal links start with (`TRIALDESK_BASE_URL`)."""
    url = (os.environ.get(BASE_URL_VARIABLE) or DEFAULT_BASE_URL).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise BadInput(
            f"{BASE_URL_VARIABLE}={url!r}: expected the site's address, e.g. "
            "https://trials.example.org"
        )
    return url


def personal_link_url(token: str, base: str | None = None) -> str:
    return (base or base_url()).rstrip("/") + PATIENT_PATH.format(token=token)


def _address(link: PatientLink, channel: str) -> str:
    """The link's address on `channel`; "" when it has none (a link holds no phone)."""
    if channel == EMAIL:
        return unseal(link.sealed_email, link.subject.code)
    return ""


# ---------------------------------------------------------------- the messages


@dataclass(frozen=True)
class Message:
    subject: str
    body: str


def _study_name(link: PatientLink) -> str:
    """The study as the patient knows it: its acronym (STEMJOINT), else its registry id."""
    return link.subject.study.protocol().titles.acronym or link.subject.study.protocol_id


def invitation_message(link: PatientLink, url: str) -> Message:
    with translation.override(link.language):
        return Message(
            _("Your personal link for the study diary"),
            _(
                "You are invited to answer your diary for the study {study} on your own "
                "phone.\n\nOpen your personal link:\n{url}\n\nKeep this email: the link is "
                "yours alone and later reminders ask you to open it again. Do not share it. "
                "If you lose it, ask the study site for a new one."
            ).format(study=_study_name(link), url=url),
        )


def window_open_message(link: PatientLink, day: int, closes: dt.time) -> Message:
    with translation.override(link.language):
        return Message(
            _("Your diary is open"),
            _(
                "Your diary entry for day {day} of the study {study} is open until {closes}. "
                "Open the personal link in your invitation email to answer.\n\nIf you no "
                "longer have it, ask the study site for a new link."
            ).format(day=day, study=_study_name(link), closes=closes.strftime("%H:%M")),
        )


def missed_day_message(link: PatientLink, day: int, date: dt.date) -> Message:
    with translation.override(link.language):
        return Message(
            _("A diary entry was missed"),
            _(
                "Your diary entry for day {day} ({date}) of the study {study} was not "
                "answered in time and can no longer be filled in. Please answer the next "
                "entry when it opens, through the personal link in your invitation email."
            ).format(day=day, date=date.isoformat(), study=_study_name(link)),
        )


# ---------------------------------------------------------------- what is due


@dataclass(frozen=True)
class DueReminder:
    """A message due for a link: its kind and the entry (schedule, day) it is about."""

    link: PatientLink
    kind: str
    schedule: str
    day: int
    message: Message


def due_reminders(now: dt.datetime, channel: str = EMAIL) -> list[DueReminder]:
    """The window-open and missed-day messages due at `now` on `channel` and not sent yet
    (invitations go out with the token: `send_invitation`)."""
    links = (
        PatientLink.objects.select_related("subject__study")
        .filter(revoked_at__isnull=True, subject__status__in=ANSWERING_STATUSES)
        .exclude(sealed_email="")
        .order_by("pk")
    )
    recorded = PatientReminder.objects.filter(link__in=links, channel=channel)
    sent = set(recorded.values_list("link_id", "kind", "schedule", "day"))
    due = []
    for link in links:
        by_schedule: dict[str, list] = {}
        for view in subject_entries(link.subject, link.time_zone, now):
            by_schedule.setdefault(view.schedule.id, []).append(view)
        for schedule_id, views in by_schedule.items():
            for view in views:
                entry = view.entry
                key = (link.pk, ReminderKind.WINDOW_OPEN.value, schedule_id, entry.day)
                if view.state is EntryState.OPEN and now < entry.closes_at and key not in sent:
                    message = window_open_message(link, entry.day, view.schedule.closing_time)
                    due.append(DueReminder(link, key[1], schedule_id, entry.day, message))
            settled = [v for v in views if v.entry.late_until <= now]
            if not settled:
                continue
            last = max(settled, key=lambda v: v.entry.late_until)
            key = (link.pk, ReminderKind.MISSED_DAY.value, schedule_id, last.day)
            if (
                last.state is EntryState.MISSED
                and now < last.entry.late_until + MISSED_DAY_NOTICE
                and key not in sent
            ):
                message = missed_day_message(link, last.day, last.entry.local_date)
                due.append(DueReminder(link, key[1], schedule_id, last.day, message))
    return due


# ---------------------------------------------------------------- sending once


def _send_once(
    link: PatientLink,
    kind: str,
    schedule: str,
    day: int,
    message: Message,
    sender: ReminderSender,
    now: dt.datetime,
) -> bool:
    """Record the message and send it in one transaction; False when it was recorded
    already (by an earlier or a concurrent run) or the link has no address on the channel."""
    address = _address(link, sender.channel)
    if not address:
        return False
    try:
        with transaction.atomic():
            PatientReminder.objects.create(
                link=link,
                kind=kind,
                schedule=schedule,
                day=day,
                channel=sender.channel,
                sent_at=now,
            )
            sender.send(address, message.subject, message.body)
    except IntegrityError:
        return False
    return True


def send_invitation(
    link: PatientLink,
    token: str,
    *,
    base: str | None = None,
    sender: ReminderSender | None = None,
    now: dt.datetime | None = None,
) -> bool:
    """Email the invitation with the personal link, right after `invite_patient` made it (the
    only moment the token is known). False when the link has no address or was invited
    already; the sender's error when the message is refused (nothing is recorded then)."""
    if link.revoked_at is not None:
        return False
    message = invitation_message(link, personal_link_url(token, base))
    return _send_once(
        link, ReminderKind.INVITATION, "", 0, message, sender or EmailSender(), now or clock.now()
    )


def email_invitation(link: PatientLink, token: str, base: str | None = None) -> tuple[bool, str]:
    """`send_invitation` for the pages that make a link (the CLI, the web app, the API):
    (True, "") when it was emailed, (False, "") when the link has no address, and (False,
    the mail server's refusal) when the message could not be sent; the link stays made
    either way, and is then given to the patient by hand."""
    try:
        return send_invitation(link, token, base=base), ""
    except (OSError, smtplib.SMTPException) as error:
        return False, str(error) or type(error).__name__


@dataclass(frozen=True)
class ReminderRun:
    """What one run sent, by kind, and the messages that failed (with the error)."""

    sent: Counter
    failed: tuple[str, ...]


def send_due(
    now: dt.datetime | None = None, senders: list[ReminderSender] | None = None
) -> ReminderRun:
    """Send every message due at `now` (the server's clock by default) once, on each
    channel. A message that fails is named in `failed` and tried again on the next run."""
    now = now or clock.now()
    if senders is None:
        senders = [EmailSender()]
        sms = sms_sender()
        if sms is not None:
            senders.append(sms)
    sent: Counter = Counter()
    failed = []
    for sender in senders:
        for due in due_reminders(now, sender.channel):
            try:
                if _send_once(due.link, due.kind, due.schedule, due.day, due.message, sender, now):
                    sent[due.kind] += 1
            except Exception as error:  # a refused message must not stop the others
                failed.append(
                    f"subject {due.link.subject.code}, {due.kind} {due.schedule} day {due.day} "
                    f"by {sender.channel}: {error}"
                )
    return ReminderRun(sent, tuple(failed))
