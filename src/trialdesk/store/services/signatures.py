"""Investigators' electronic signatures of a visit or a subject's casebook (21 CFR 11.50,
11.70, 11.100, 11.200).

A signature is the investigator's own: `sign` takes the signer's user name (`by`) and their
password typed again at each signing (11.200(a): both components every time), shows the
printed name (`StudyUser.full_name`; a user without one cannot sign), the date and time and the
stated meaning (`SIGNATURE_MEANINGS`), and is linked to what it signs by the SHA-256 of its
canonical content (`trialdesk.store.signed_content`, 11.70). All of it is in the audit trail
(`signature.signed`: printed name, meaning, time, hash).

A later change to the signed data, through any service, breaks the signature
(`break_signatures`, called by `record_changes.data_changed`): `broken_at` and `broken_by`
(what changed, by whom) are set, audited as `signature.broken`; the broken signature stays on
record and the visit or casebook needs signing again.

Decisions where the regulation is silent:
- A wrong password is refused (`WrongPassword`) and nothing is written: no audit event (the
  trail records changes to trial data; a refusal changes none). It is logged on the
  `trialdesk.security` logger (user, study, subject; never the password), and the API counts
  it toward django-axes' lockout of the user name, as a wrong sign-in password.
- What may be signed: a visit once it is done and its forms are entered and marked complete;
  a casebook once the subject's participation has ended after consent (completed, withdrawn,
  lost to follow-up), so its status cannot change after the signature. Neither while a query
  on it is open (the site has not answered it); answered queries do not hold a signature up
  (they hold the database lock). A locked record may be signed:
  a signature changes no data.
- Signing again what is validly signed with the same meaning is refused; after a break, the
  new signature is a new record beside the broken one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet

from trialdesk.errors import BadInput
from trialdesk.store.access import Access
from trialdesk.store.audit import AuditTrail, audited_state, audited_write
from trialdesk.store.errors import (
    AlreadyExists,
    NotFound,
    NotPermitted,
    SubjectStateError,
    VisitStateError,
)
from trialdesk.store.lifecycle import SubjectStatus
from trialdesk.store.models import (
    FormRecord,
    Query,
    QueryStatus,
    Signature,
    Study,
    StudyUser,
    Subject,
    Visit,
    VisitStatus,
)
from trialdesk.store.permissions import Step, require
from trialdesk.store.services.accounts import verify_password
from trialdesk.store.services.common import find_subject, writable_study
from trialdesk.store.signed_content import content_sha256

SECURITY_LOG = logging.getLogger("trialdesk.security")

#: The stated meaning of each kind of signature (11.50(a)(3)), by a stable key; the English
#: text is what the signature record, the audit trail and exports carry.
SIGNATURE_MEANINGS: dict[str, str] = {
    "casebook_approval": (
        "Approval as investigator: I have reviewed this subject's casebook and confirm that "
        "its data are complete and accurate."
    ),
    "visit_review": (
        "Review as investigator: I have reviewed the data of this visit and confirm that they "
        "are accurate."
    ),
}
#: What each meaning may sign: a subject's casebook or one visit.
CASEBOOK_MEANINGS = frozenset({"casebook_approval"})
VISIT_MEANINGS = frozenset({"visit_review"})
#: A subject whose participation ended after consent: their casebook can be signed (a
#: screen failure's screening data are not signed).
ENDED_STATUSES = frozenset(
    {
        SubjectStatus.COMPLETED,
        SubjectStatus.WITHDRAWN,
        SubjectStatus.LOST_TO_FOLLOW_UP,
    }
)


class WrongPassword(NotPermitted):
    """A signing whose password is not the signer's: refused, nothing written."""


def meaning_key(meaning: str) -> str | None:
    """The key of a stated meaning (as a signature record holds it), None if not one of ours."""
    return next((key for key, text in SIGNATURE_MEANINGS.items() if text == meaning), None)


def _place(subject: Subject | str, visit_id: str) -> str:
    code = subject.code if isinstance(subject, Subject) else subject
    return f"subject {code}, visit {visit_id}" if visit_id else f"the casebook of subject {code}"


def _check_meaning(meaning: str, visit_id: str, place: str) -> str:
    allowed = VISIT_MEANINGS if visit_id else CASEBOOK_MEANINGS
    if not isinstance(meaning, str) or meaning not in allowed:
        raise BadInput(
            f"{place}: meaning {meaning!r}; expected {' or '.join(sorted(allowed))} "
            f"({'; '.join(SIGNATURE_MEANINGS[key] for key in sorted(allowed))})"
        )
    return SIGNATURE_MEANINGS[meaning]


def _check_ready(subject: Subject, visit_id: str, place: str) -> None:
    """Refuse signing what is not ready: a visit not recorded, a casebook of a subject still
    in the study, anything with an open query."""
    if visit_id:
        visit = Visit.objects.filter(subject=subject, visit_id=visit_id).first()
        if visit is None or visit.status != VisitStatus.DONE:
            status = "not in the store yet" if visit is None else visit.status
            raise VisitStateError(
                f"{place} is {status}: a visit is signed once it is done, with its forms "
                "entered and marked complete"
            )
        forms = list(FormRecord.objects.filter(visit=visit).values_list("form", "completed_at"))
        incomplete = sorted(form for form, completed_at in forms if completed_at is None)
        if not forms or incomplete:
            raise VisitStateError(
                f"{place}: "
                + (f"forms not marked complete: {', '.join(incomplete)}" if forms else "no forms")
                + "; a visit is signed once its forms are entered and marked complete"
            )
    elif subject.status not in ENDED_STATUSES:
        raise SubjectStateError(
            f"{place}: the subject is {subject.status}; a casebook is signed once the "
            f"subject's participation has ended ({', '.join(sorted(ENDED_STATUSES))})"
        )
    open_queries = Query.objects.filter(subject=subject, status=QueryStatus.OPEN)
    if visit_id:
        open_queries = open_queries.filter(visit_id=visit_id)
    count = open_queries.count()
    if count:
        raise SubjectStateError(
            f"{place}: {count} open quer{'y' if count == 1 else 'ies'}; the site answers "
            "them before the investigator signs"
        )


def _printed_name(user: StudyUser, place: str) -> str:
    if not user.full_name.strip():
        raise NotPermitted(
            f"{place}: user {user.username} has no printed name, which every electronic "
            "signature shows; an operator sets it first (trialdesk user name "
            f'{user.username} "Full Name")'
        )
    return user.full_name.strip()


def sign(
    study: Study, code: str, *, meaning: str, password: str, by: str, visit_id: str = ""
) -> Signature:
    """The investigator `by` signs the subject's visit `visit_id`, or their casebook (""),
    with the stated `meaning` (a key of `SIGNATURE_MEANINGS`) and their password again."""
    if not isinstance(visit_id, str):
        raise BadInput(f"subject {code}: visit {visit_id!r}; expected a visit id or none")
    place = _place(code, visit_id)
    stated = _check_meaning(meaning, visit_id, place)
    if not isinstance(password, str) or not password:
        raise BadInput(f"{place}: the signer's password is required again at each signing")
    # A locked study refuses first, as in every write (checked again under the write lock).
    writable_study(study)
    subject = find_subject(study, code)
    if visit_id and visit_id not in {visit.id for visit in study.protocol().visits}:
        raise NotFound(f"subject {code}: no visit {visit_id!r} in the protocol")
    user = require(study, by, Step.SIGN, subject.site)
    _printed_name(user, place)
    # Checked before the write lock is taken: the password hash is slow on purpose.
    if not verify_password(user, password):
        SECURITY_LOG.warning(
            "signature refused: wrong password of %s for %s of %s", by, place, study
        )
        raise WrongPassword(
            f"{place}: the password is not {by}'s; nothing was signed (wrong passwords count "
            "toward the lockout of the user name)"
        )
    with audited_write(by, study) as trail:
        study = writable_study(study)
        subject = find_subject(study, code)
        user = require(study, by, Step.SIGN, subject.site)
        printed_name = _printed_name(user, place)
        _check_ready(subject, visit_id, place)
        valid = (
            Signature.objects.filter(
                subject=subject, visit_id=visit_id, meaning=stated, broken_at__isnull=True
            )
            .select_related("signer")
            .first()
        )
        if valid is not None:
            raise AlreadyExists(
                f"{place} is already signed with this meaning by {valid.printed_name} "
                f"({valid.signer.username}) at {valid.signed_at.isoformat()}, and the "
                "signature is valid"
            )
        signature = Signature(
            subject=subject,
            visit_id=visit_id,
            signer=user,
            printed_name=printed_name,
            meaning=stated,
            signed_at=trail.at,
            content_sha256=content_sha256(subject, visit_id),
        )
        signature.save()
        trail.created(signature, "signature.signed", stated)
    return signature


def break_signatures(trail: AuditTrail, subject: Subject, visit_id: str, what: str) -> None:
    """A change to signed data (`what`) breaks the signature of its visit and of the
    subject's casebook; each broken signature keeps what broke it, audited."""
    covering = Q(visit_id="") | Q(visit_id=visit_id)
    for signature in Signature.objects.filter(
        covering, subject=subject, broken_at__isnull=True
    ).select_related("signer"):
        signature.subject = subject
        before = audited_state(signature)
        signature.broken_at = trail.at
        signature.broken_by = f"{what} by {trail.by}"
        signature.save(update_fields=["broken_at", "broken_by"])
        trail.changed(signature, before, "signature.broken", signature.broken_by)


# ---------------------------------------------------------------- reads for pages and checks


@dataclass(frozen=True)
class SignatureEntry:
    """One signature as a page shows it: the manifestation (printed name, date and time,
    meaning) and whether it still holds."""

    id: int
    subject: str
    visit_id: str  # "" for the casebook
    signer: str
    printed_name: str
    meaning: str
    meaning_key: str | None
    signed_at: datetime
    content_sha256: str
    broken_at: datetime | None
    broken_by: str
    #: Whether the signed data still hash to `content_sha256` (None: not checked).
    content_matches: bool | None = None

    @property
    def valid(self) -> bool:
        return self.broken_at is None

    @property
    def status(self) -> str:
        return "valid" if self.valid else "broken"


def _entry(signature: Signature, code: str, check: bool) -> SignatureEntry:
    return SignatureEntry(
        id=signature.pk,
        subject=code,
        visit_id=signature.visit_id,
        signer=signature.signer.username,
        printed_name=signature.printed_name,
        meaning=signature.meaning,
        meaning_key=meaning_key(signature.meaning),
        signed_at=signature.signed_at,
        content_sha256=signature.content_sha256,
        broken_at=signature.broken_at,
        broken_by=signature.broken_by,
        content_matches=content_matches(signature) if check else None,
    )


def signature_status(
    access: Access, code: str, visit_id: str | None = None, *, check: bool = False
) -> list[SignatureEntry]:
    """Every signature of the subject `code` the reader may read (`Access.subject`), oldest
    first, broken ones included; with `visit_id`, only that visit's ("" the casebook's).
    `check`: recompute each one's content hash (`content_matches`; a few queries each)."""
    subject = access.subject(code)
    signatures = Signature.objects.filter(subject=subject).select_related("signer")
    if visit_id is not None:
        signatures = signatures.filter(visit_id=visit_id)
    entries = []
    for signature in signatures.order_by("signed_at", "pk"):
        signature.subject = subject
        entries.append(_entry(signature, subject.code, check))
    return entries


def content_matches(signature: Signature) -> bool:
    """Whether the signed data still hash to the signature's `content_sha256`: a valid
    signature that does not match shows a change made behind the services' back."""
    subject = signature.subject
    return content_sha256(subject, signature.visit_id) == signature.content_sha256


def unsigned_casebooks(subjects: QuerySet[Subject]) -> QuerySet[Subject]:
    """The subjects of `subjects` whose casebook has no valid signature."""
    signed = Signature.objects.filter(visit_id="", broken_at__isnull=True).values("subject_id")
    return subjects.exclude(pk__in=signed)


def signature_problems(study: Study) -> list[str]:
    """Every valid signature of the study whose signed data no longer hash to its
    `content_sha256`, named with who signed when: a change that bypassed the services (which
    would have broken it). Empty when every standing signature holds."""
    problems = []
    signatures = (
        Signature.objects.filter(subject__study=study, broken_at__isnull=True)
        .select_related("subject")
        .order_by("pk")
    )
    for signature in signatures:
        signature.subject.study = study
        if not content_matches(signature):
            problems.append(
                f"{_place(signature.subject, signature.visit_id)}: the signature of "
                f"{signature.printed_name} at {signature.signed_at.isoformat()} no longer "
                "matches the signed data (changed outside the services)"
            )
    return problems
