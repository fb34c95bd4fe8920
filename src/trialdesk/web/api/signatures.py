"""Investigators' electronic signatures of a subject's casebook or of a visit
(`trialdesk.store.services.signatures`): the list with each signature's manifestation, and
signing with a stated meaning and the password typed again.

A wrong password is refused (403) and counts toward django-axes' lockout of the user name, as
a wrong password at sign-in does; a locked-out user name cannot sign until the lockout ends.
The password is never logged, stored in the audit trail or repeated in an answer.
"""

from __future__ import annotations

import datetime as dt

from axes.handlers.proxy import AxesProxyHandler
from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest
from ninja import Field, Router, Schema

from trialdesk.store.access import Access
from trialdesk.store.errors import NotPermitted
from trialdesk.store.services.signatures import (
    CASEBOOK_MEANINGS,
    SIGNATURE_MEANINGS,
    VISIT_MEANINGS,
    SignatureEntry,
    WrongPassword,
    sign,
    signature_status,
)
from trialdesk.web.api.context import SUBJECT, subject_for
from trialdesk.web.api.errors import READ_ERRORS, WRITE_ERRORS
from trialdesk.web.api.schemas import BodyIn, codes, declared

router = Router(tags=["signatures"])

VISIT = SUBJECT + "/visits/{visit_id}"
MEANINGS_TEXT = "; ".join(f"{key}: {text}" for key, text in SIGNATURE_MEANINGS.items())
#: The longest password accepted in a body (Django's own limit for a password form is 4096).
PASSWORD_LENGTH = 4096


class SignatureOut(Schema):
    id: int
    visit: str = Field(description="the visit signed; empty: the subject's casebook")
    signer: str = Field(description="the user name of the investigator who signed")
    printed_name: str = Field(description="the signer's printed name, as signed")
    meaning: str = Field(description="the stated meaning of the signature, in English")
    meaning_key: str | None = declared(
        description="the meaning's stable key", **codes(SIGNATURE_MEANINGS)
    )
    signed_at: dt.datetime
    content_sha256: str = Field(description="SHA-256 of the canonical content signed")
    status: str = declared(
        description="valid, or broken by a later change to the signed data",
        **codes(["valid", "broken"]),
    )
    broken_at: dt.datetime | None
    broken_by: str = Field(description="what change broke it, and by whom; empty while valid")
    content_matches: bool = Field(
        description="the signed data still hash to content_sha256 (false for a broken "
        "signature; false for a valid one means a change behind the services' back)"
    )


class CasebookSignIn(BodyIn):
    meaning: str = declared(description=MEANINGS_TEXT, **codes(sorted(CASEBOOK_MEANINGS)))
    password: str = Field(
        min_length=1,
        max_length=PASSWORD_LENGTH,
        description="the signer's password, typed again at each signing",
    )


class VisitSignIn(CasebookSignIn):
    meaning: str = declared(description=MEANINGS_TEXT, **codes(sorted(VISIT_MEANINGS)))


def _out(entry: SignatureEntry) -> dict:
    return {
        "id": entry.id,
        "visit": entry.visit_id,
        "signer": entry.signer,
        "printed_name": entry.printed_name,
        "meaning": entry.meaning,
        "meaning_key": entry.meaning_key,
        "signed_at": entry.signed_at,
        "content_sha256": entry.content_sha256,
        "status": entry.status,
        "broken_at": entry.broken_at,
        "broken_by": entry.broken_by,
        "content_matches": entry.content_matches,
    }


def _listed(access: Access, code: str, visit_id: str | None = None) -> list[dict]:
    return [_out(entry) for entry in signature_status(access, code, visit_id, check=True)]


def _sign(
    request: HttpRequest, access: Access, code: str, body: CasebookSignIn, visit_id: str
) -> dict:
    username = access.user.username
    credentials = {"username": username}
    if AxesProxyHandler.is_locked(request, credentials):
        raise NotPermitted(
            f"user {username} is locked out after repeated wrong passwords: no signing "
            "until the lockout ends"
        )
    try:
        signature = sign(
            access.study,
            code,
            meaning=body.meaning,
            password=body.password,
            by=username,
            visit_id=visit_id,
        )
    except WrongPassword:
        user_login_failed.send(sender=__name__, credentials=credentials, request=request)
        # The answer stays this API's JSON: axes would answer a lockout with its HTML page.
        request.axes_locked_out = False  # type: ignore[attr-defined]
        raise
    return next(entry for entry in _listed(access, code, visit_id) if entry["id"] == signature.pk)


@router.get(SUBJECT + "/signatures", response={200: list[SignatureOut], **READ_ERRORS})
def signatures(request: HttpRequest, study: str, code: str, version: str | None = None) -> list:
    """Every signature of the subject, oldest first, broken ones too: printed name, date and
    time, meaning, and whether it still holds."""
    access, _ = subject_for(request, study, code, version)
    return _listed(access, code)


@router.post(SUBJECT + "/signatures", response={200: SignatureOut, **WRITE_ERRORS})
def sign_casebook(
    request: HttpRequest,
    study: str,
    code: str,
    body: CasebookSignIn,
    version: str | None = None,
) -> dict:
    """The investigator signs the subject's casebook (participation ended, no open query)
    with the password again; 403 for a wrong password or another role, 409 when not ready or
    validly signed already."""
    access, _ = subject_for(request, study, code, version)
    return _sign(request, access, code, body, "")


@router.post(VISIT + "/signatures", response={200: SignatureOut, **WRITE_ERRORS})
def sign_visit(
    request: HttpRequest,
    study: str,
    code: str,
    visit_id: str,
    body: VisitSignIn,
    version: str | None = None,
) -> dict:
    """The investigator signs a visit (done, its forms complete, no open query on it) with
    the password again; 403 for a wrong password or another role, 409 when not ready or
    validly signed already."""
    access, _ = subject_for(request, study, code, version)
    return _sign(request, access, code, body, visit_id)
