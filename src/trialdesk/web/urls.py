"""URLs of trialdesk: the REST API at /api/v1/ and the static files of its docs page.

The static files (Swagger UI, bundled with django-ninja) are served by Django's static view
from the installed apps, so the docs page works offline and without `collectstatic`.

Django's own error answers (a bad request it refuses itself, an unknown URL, a server error)
are `{"detail": "..."}` like the API's: `handler400`, `handler403`, `handler404`, `handler500`.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.staticfiles.views import serve
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.urls import path, re_path

from trialdesk.web.api import api
from trialdesk.web.middleware import body_too_large, detail

urlpatterns = [
    path("api/v1/", api.urls),
    re_path(rf"^{settings.STATIC_URL.lstrip('/')}(?P<path>.*)$", serve, {"insecure": True}),
]


def bad_request(request: HttpRequest, exception: Exception) -> JsonResponse:
    """What Django itself refuses (SuspiciousOperation): too many query fields, a body over
    the size limit (413, not Django's 400: the request is well formed, only too large)."""
    if isinstance(exception, RequestDataTooBig):
        return detail(body_too_large(request), 413)
    return detail(f"bad request: {exception}", 400)


def forbidden(request: HttpRequest, exception: Exception) -> JsonResponse:
    return detail(f"forbidden: {exception}" if str(exception) else "forbidden", 403)


def not_found(request: HttpRequest, exception: Exception) -> JsonResponse:
    shown = request.path if len(request.path) <= 200 else f"{request.path[:200]}..."
    return detail(f"no such URL: {shown}; the REST API is under /api/v1/ (docs: /api/v1/docs)", 404)


def server_error(request: HttpRequest) -> JsonResponse:
    return detail("an unexpected error on the server; a write that failed changed nothing", 500)


handler400 = bad_request
handler403 = forbidden
handler404 = not_found
handler500 = server_error
