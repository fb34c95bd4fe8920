"""What every page starts from: the signed-in study user and their access to the study in the
URL, the same `trialdesk.store.access` the API uses.

A study in a URL is its protocol id (`NCT05933434`), or `protocol_id@version` where the store
holds several versions of it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse

from trialdesk.store.access import Access, access_for
from trialdesk.store.errors import NotFound
from trialdesk.store.models import Study, StudyUser, Subject
from trialdesk.web.api.context import studies_of
from trialdesk.web.pages.middleware import RENEWAL_SHARE

View = Callable[..., HttpResponse]


def study_user(request: HttpRequest) -> StudyUser | None:
    """The study user of the signed-in account; None when nobody (or a deactivated user) is
    signed in."""
    account = request.user
    if not account.is_authenticated:
        return None
    if not hasattr(request, "_study_user"):
        try:
            user = account.study_user  # read with the account (`AccountBackend`)
        except StudyUser.DoesNotExist:
            user = None
        if user is not None and user.deactivated_at is not None:
            user = None
        request._study_user = user  # type: ignore[attr-defined]
    return request._study_user  # type: ignore[attr-defined]


def study_key(study: Study) -> str:
    """The study's part of a URL: its protocol id, with `@version` when it has several."""
    versions = getattr(study, "_versions_in_store", None)
    if versions is None:
        versions = Study.objects.filter(protocol_id=study.protocol_id).count()
        study._versions_in_store = versions  # type: ignore[attr-defined]
    return study.protocol_id if versions == 1 else f"{study.protocol_id}@{study.version}"


def study_access(request: HttpRequest, study: str) -> Access:
    """The user's access to the study named in the URL; a study where they hold no live role
    is not found (404), like one that does not exist."""
    user = study_user(request)
    if user is None:  # the `staff_page` decorator has sent anonymous requests to sign in
        raise Http404("not signed in")
    protocol_id, _, version = study.partition("@")
    found = studies_of(user).filter(protocol_id=protocol_id)
    if version:
        found = found.filter(version=version)
    studies = list(found[:2])
    if len(studies) != 1:
        raise Http404(f"no study {study} among yours")
    return access_for(studies[0], user)


def subject_of(access: Access, code: str) -> Subject:
    """The subject `code` if the user may read it; otherwise 404 (never "forbidden": a code
    at another site is not to be confirmed)."""
    try:
        return access.subject(code)
    except NotFound:
        raise Http404(f"no subject {code}") from None


def staff_page(view: View) -> View:
    """A page for signed-in staff: anonymous requests go to the sign-in page (htmx requests
    get a full-page redirect there), and an account whose user holds a TOTP device must have
    passed it this session."""

    @wraps(view)
    def page(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = study_user(request)
        if user is None:
            return _to_sign_in(request)
        if _needs_second_factor(request):
            return _redirect(request, reverse("pages:otp-verify") + f"?next={request.path}")
        return view(request, *args, **kwargs)

    return page


def _needs_second_factor(request: HttpRequest) -> bool:
    """The user confirmed a TOTP device (`totp_confirmed_at`, which confirming and removing
    the device keep, so no query for the device) and has not passed it this session."""
    user = study_user(request)
    return (
        user is not None and user.totp_confirmed_at is not None and not request.user.is_verified()  # type: ignore[union-attr]
    )


def _to_sign_in(request: HttpRequest) -> HttpResponse:
    if getattr(request, "htmx", False):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = reverse(settings.LOGIN_URL) + f"?next={request.path}"
        return response
    return redirect_to_login(request.get_full_path(), reverse(settings.LOGIN_URL))


def _redirect(request: HttpRequest, url: str) -> HttpResponse:
    from django.shortcuts import redirect

    if getattr(request, "htmx", False):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def page_context(request: HttpRequest) -> dict[str, Any]:
    """Context of every template: the signed-in user, the idle timeout, the languages."""
    return {
        "study_user": study_user(request) if hasattr(request, "user") else None,
        # The least idle time after which the server may end the session: requests renew
        # it only once a RENEWAL_SHARE of the timeout has passed since the last renewal.
        "idle_seconds": round(settings.SESSION_COOKIE_AGE * (1 - RENEWAL_SHARE)),
    }
