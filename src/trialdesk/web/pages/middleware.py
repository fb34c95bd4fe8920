"""Middleware of the web app: the Content-Security-Policy, and the signed-in user's language
and time zone."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable

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
