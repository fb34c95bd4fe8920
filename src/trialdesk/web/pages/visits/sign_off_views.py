"""The sign-off steps of the subject and visit pages: an investigator signs the casebook or a
visit with a stated meaning and the password again (21 CFR 11.200: both components at the
signing); a data manager locks a form, a visit or the casebook, and unlocks with a reason.

Each step posts here and comes back to its page (`#sign-off`); a refused step shows the page
again with the refusal in the sign-off card. The password is never shown again.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from trialdesk.errors import TrialdeskError
from trialdesk.store.access import Access
from trialdesk.store.models import LockLevel, Subject
from trialdesk.store.services.locks import lock_record, unlock_record
from trialdesk.store.services.signatures import (
    CASEBOOK_MEANINGS,
    VISIT_MEANINGS,
    WrongPassword,
    sign,
)
from trialdesk.web.pages.context import staff_page, study_access, study_key, subject_of
from trialdesk.web.pages.refusals import refusal
from trialdesk.web.pages.visits import views
from trialdesk.web.pages.visits.sign_off import active_locks

REASON_LIMIT = 2000


def _page(
    request: HttpRequest, access: Access, found: Subject, visit_id: str, status: int, **extra
) -> HttpResponse:
    """The page the step was taken on, again, with what the sign-off card shows of it."""
    if visit_id:
        plan = views.visit_plan(access, visit_id)
        return views.visit_page(request, access, found, plan, status=status, **extra)
    return views.subject_page(request, access, found, status=status, **extra)


def _back(access: Access, found: Subject, visit_id: str) -> HttpResponse:
    key = study_key(access.study)
    if visit_id:
        url = reverse("pages:visit", args=[key, found.code, visit_id])
    else:
        url = reverse("pages:subject", args=[key, found.code])
    return redirect(url + "#sign-off")


def _refused(
    request: HttpRequest,
    access: Access,
    found: Subject,
    visit_id: str,
    error: TrialdeskError,
    card: str,
    **kept: object,
) -> HttpResponse:
    """The page again with the service's refusal in the card's `card` slot
    ("sign_refusal" or "lock_refusal") and what the user had posted (`kept`)."""
    refused = refusal(error)
    return _page(request, access, found, visit_id, refused.status, **{card: refused}, **kept)


def _posted_target(request: HttpRequest, access: Access) -> tuple[str, str]:
    """The visit and form a lock step posts ("" for the casebook; a form only with a
    visit); a visit the protocol does not have is not found."""
    visit_id = request.POST.get("visit", "").strip()
    form = request.POST.get("form", "").strip() if visit_id else ""
    if visit_id:
        views.visit_plan(access, visit_id)
    return visit_id, form


def _sign(request: HttpRequest, study: str, code: str, visit_id: str) -> HttpResponse:
    access = study_access(request, study)
    found = subject_of(access, code)
    if visit_id:
        views.visit_plan(access, visit_id)
    meaning = request.POST.get("meaning", "")
    password = request.POST.get("password", "")
    errors: dict[str, str] = {}
    if meaning not in (VISIT_MEANINGS if visit_id else CASEBOOK_MEANINGS):
        errors["meaning"] = _("Meaning: choose what your signature means.")
    if not password:
        errors["password"] = _("Password: type your password again to sign.")
    if errors:
        return _page(
            request, access, found, visit_id, 400, sign_errors=errors, sign_meaning=meaning
        )
    try:
        sign(
            access.study,
            found.code,
            meaning=meaning,
            password=password,
            by=access.user.username,
            visit_id=visit_id,
        )
    except WrongPassword:
        errors["password"] = _("Password: this is not your password. Nothing was signed.")
        return _page(
            request, access, found, visit_id, 403, sign_errors=errors, sign_meaning=meaning
        )
    except TrialdeskError as error:
        return _refused(
            request, access, found, visit_id, error, "sign_refusal", sign_meaning=meaning
        )
    messages.success(request, _("Signed."))
    return _back(access, found, visit_id)


@staff_page
@require_POST
def sign_casebook(request: HttpRequest, study: str, code: str) -> HttpResponse:
    return _sign(request, study, code, "")


@staff_page
@require_POST
def sign_visit(request: HttpRequest, study: str, code: str, visit: str) -> HttpResponse:
    return _sign(request, study, code, visit)


def _level(visit_id: str, form: str) -> LockLevel:
    if form:
        return LockLevel.FORM
    return LockLevel.VISIT if visit_id else LockLevel.CASEBOOK


@staff_page
@require_POST
def lock(request: HttpRequest, study: str, code: str) -> HttpResponse:
    """Lock the casebook (no visit posted), a visit, or a form of a visit."""
    access = study_access(request, study)
    found = subject_of(access, code)
    visit_id, form = _posted_target(request, access)
    reason = request.POST.get("reason", "").strip()
    if len(reason) > REASON_LIMIT:
        errors = {"reason": _("Reason for locking: at most 2000 characters.")}
        return _page(request, access, found, visit_id, 400, lock_errors=errors, lock_reason=reason)
    try:
        lock_record(
            access.study,
            found.code,
            level=_level(visit_id, form),
            by=access.user.username,
            visit_id=visit_id,
            form=form,
            reason=reason,
        )
    except TrialdeskError as error:
        return _refused(request, access, found, visit_id, error, "lock_refusal", lock_reason=reason)
    messages.success(request, _("Locked."))
    return _back(access, found, visit_id)


@staff_page
@require_POST
def unlock(request: HttpRequest, study: str, code: str) -> HttpResponse:
    """Unlock a lock in force (its level, visit and form posted), with a reason."""
    access = study_access(request, study)
    found = subject_of(access, code)
    visit_id, form = _posted_target(request, access)
    reason = request.POST.get("reason", "").strip()
    level = _level(visit_id, form)
    held = next(
        (
            held
            for held in active_locks(access, found)
            if (held.level, held.visit_id, held.form) == (level, visit_id, form)
        ),
        None,
    )
    message = ""
    if not reason:
        message = _("Reason for unlocking: required.")
    elif len(reason) > REASON_LIMIT:
        message = _("Reason for unlocking: at most 2000 characters.")
    if message and held is not None:
        unlock_error = {"lock": held.id, "reason": reason, "message": message}
        return _page(request, access, found, visit_id, 400, unlock_error=unlock_error)
    try:
        unlock_record(
            access.study,
            found.code,
            level=level,
            by=access.user.username,
            visit_id=visit_id,
            form=form,
            reason=reason,
        )
    except TrialdeskError as error:
        return _refused(request, access, found, visit_id, error, "lock_refusal")
    messages.success(request, _("Unlocked."))
    return _back(access, found, visit_id)
