"""Middleware of the web app: the Content-Security-Policy, the sessions' idle timeout, and
the signed-in user's language and time zone."""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation

Handler = Callable[[HttpRequest], HttpResponse]

#: No inline script or style anywhere, nothing from another origin: the pages load their
#: scripts and styles from /static/ only, and htmx runs with eval off.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
#: The API's docs page (django-ninja's Swagger UI) configures itself with an inline script.
DOCS_PATH = "/api/v1/docs"


def content_security_policy(get_response: Handler) -> Handler:
    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        if not request.path.startswith(DOCS_PATH):
            response.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response

    return middleware


#: Where a session keeps when its idle timeout was last renewed (seconds since the epoch).
RENEWED_AT = "renewed_at"
#: A session is written again once its last renewal is this share of the timeout old.
RENEWAL_SHARE = 1 / 30


def renew_idle_timeout(get_response: Handler) -> Handler:
    """Each request of a session renews its idle timeout (the session ends SESSION_COOKIE_AGE
    after it), but the session is written only when its last renewal is older than a
    thirtieth of the timeout (a minute of 30): one write a minute instead of one a request.
    A session so ends between 29 and 30 idle minutes after its last request."""

    def middleware(request: HttpRequest) -> HttpResponse:
        session = request.session
        if session.session_key is not None:
            now = time.time()
            renewed = session.get(RENEWED_AT)
            if not isinstance(renewed, float) or now - renewed >= (
                settings.SESSION_COOKIE_AGE * RENEWAL_SHARE
            ):
                session[RENEWED_AT] = now
        return get_response(request)

    return middleware


def user_preferences(get_response: Handler) -> Handler:
    """The signed-in user's chosen language (over the browser's) and time zone (UTC when
    none is chosen) for this request."""

    def middleware(request: HttpRequest) -> HttpResponse:
        from trialdesk.web.pages.context import study_user

        user = study_user(request)
        if user is not None and user.language:
            translation.activate(user.language)
            request.LANGUAGE_CODE = user.language
        zone = user.time_zone if user is not None else ""
        try:
            timezone.activate(zoneinfo.ZoneInfo(zone) if zone else dt.UTC)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.activate(dt.UTC)
        try:
            return get_response(request)
        finally:
            timezone.deactivate()

    return middleware
