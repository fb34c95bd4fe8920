"""The sign-off of a subject's casebook and of its visits as the subject and visit pages show
it: the investigators' electronic signatures (21 CFR 11.50: printed name, date and time,
meaning; a broken one with what broke it) and the data manager's locks in force, with the
steps this user may take on them.

Read through the user's `Access` (`signatures.signature_status`, `locks.subject_locks`); the
rules of what may be signed are the signature service's (`CASEBOOK_MEANINGS`,
`VISIT_MEANINGS`, `ENDED_STATUSES`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _

from trialdesk.store.access import Access
from trialdesk.store.calendar import FormState, VisitState
from trialdesk.store.models import LockLevel, Subject
from trialdesk.store.permissions import Step
from trialdesk.store.services.locks import LockEntry, subject_locks
from trialdesk.store.services.signatures import (
    CASEBOOK_MEANINGS,
    ENDED_STATUSES,
    VISIT_MEANINGS,
    SignatureEntry,
    signature_status,
)
from trialdesk.web.pages.visits.calendar_rows import CalendarRow
from trialdesk.web.pages.visits.steps import may

#: The stated meanings (`signatures.SIGNATURE_MEANINGS`, recorded in English) in the user's
#: language.
MEANING_LABELS: dict[str, Any] = {
    "casebook_approval": _(
        "Approval as investigator: I have reviewed this subject's casebook and confirm that "
        "its data are complete and accurate."
    ),
    "visit_review": _(
        "Review as investigator: I have reviewed the data of this visit and confirm that they "
        "are accurate."
    ),
}


def meaning_label(key: str | None, recorded: str) -> str:
    """The meaning in the user's language; the recorded English words for one we do not
    know."""
    return str(MEANING_LABELS[key]) if key in MEANING_LABELS else recorded


@dataclass(frozen=True)
class SignatureRow:
    """A signature as the page shows it: the entry and its meaning in the user's words."""

    entry: SignatureEntry
    meaning_label: str

    @property
    def valid(self) -> bool:
        return self.entry.valid


@dataclass(frozen=True)
class SignOff:
    """The sign-off of the casebook (`visit_id` "") or of one visit: its signatures, newest
    first; the locks in force on it; what this user may do and whether it can be signed now
    (`ready`: else the sign form is not offered, and `not_ready` says why)."""

    visit_id: str
    signatures: tuple[SignatureRow, ...]
    locks: tuple[LockEntry, ...]
    may_sign: bool
    ready: bool
    may_lock: bool
    meanings: tuple[tuple[str, str], ...]
    #: A visit's sign-off under a casebook lock.
    covered: bool = False

    @property
    def signed(self) -> bool:
        return any(row.valid for row in self.signatures)

    @property
    def needs_signing_again(self) -> bool:
        """Signed once, and no signature holds: a later change broke it."""
        return bool(self.signatures) and not self.signed

    @property
    def locked(self) -> bool:
        return bool(self.locks)

    @property
    def offer_signing(self) -> bool:
        return self.may_sign and self.ready and not self.signed

    @property
    def offer_locking(self) -> bool:
        """A lock form makes sense: nothing above or at this level is locked already (the
        lock service refuses a covered record)."""
        return (
            self.may_lock
            and not self.covered
            and not any(lock.level != LockLevel.FORM for lock in self.locks)
        )


def active_locks(access: Access, subject: Subject) -> tuple[LockEntry, ...]:
    """The locks in force on the subject's records, casebook first, then by visit and form."""
    order = {LockLevel.CASEBOOK: 0, LockLevel.VISIT: 1, LockLevel.FORM: 2}
    return tuple(
        sorted(
            subject_locks(access, subject.code),
            key=lambda lock: (order[LockLevel(lock.level)], lock.visit_id, lock.form),
        )
    )


def _ready(subject: Subject, row: CalendarRow | None) -> bool:
    """What the signature service signs: a visit done with every form entered and marked
    complete, a casebook once the participation has ended."""
    if row is None:
        return subject.status in ENDED_STATUSES
    return (
        row.entry.state is VisitState.DONE
        and bool(row.forms)
        and all(cell.state is FormState.COMPLETE for cell in row.forms)
    )


def sign_off(
    access: Access,
    subject: Subject,
    locks: tuple[LockEntry, ...],
    row: CalendarRow | None = None,
) -> SignOff:
    """The casebook's sign-off, or with the visit's calendar `row` the visit's; `locks` are
    the subject's locks in force (`active_locks`)."""
    visit_id = row.entry.visit_id if row is not None else ""
    if visit_id:
        covering = tuple(lock for lock in locks if lock.visit_id == visit_id)
    else:
        covering = tuple(lock for lock in locks if lock.level == LockLevel.CASEBOOK)
    signatures = tuple(
        SignatureRow(entry, meaning_label(entry.meaning_key, entry.meaning))
        for entry in reversed(signature_status(access, subject.code, visit_id))
    )
    allowed = VISIT_MEANINGS if visit_id else CASEBOOK_MEANINGS
    return SignOff(
        visit_id,
        signatures,
        covering,
        may(access, Step.SIGN, subject),
        _ready(subject, row),
        may(access, Step.LOCK_RECORDS, subject),
        tuple((key, meaning_label(key, key)) for key in sorted(allowed)),
        bool(visit_id) and any(lock.level == LockLevel.CASEBOOK for lock in locks),
    )


def locked_visits(locks: tuple[LockEntry, ...]) -> set[str]:
    """The visits under a visit lock (a casebook lock the page says once, for all)."""
    return {lock.visit_id for lock in locks if lock.level == LockLevel.VISIT}


def locked_forms(locks: tuple[LockEntry, ...], visit_id: str) -> set[str]:
    return {
        lock.form for lock in locks if lock.level == LockLevel.FORM and lock.visit_id == visit_id
    }
