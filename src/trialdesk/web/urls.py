"""URLs of trialdesk: the web app for site staff at /, the REST API at /api/v1/, static files.

The static files (the pages' CSS and scripts, htmx from django-htmx, Swagger UI from
django-ninja) are served by Django's static view from the installed apps, so everything works
offline and without `collectstatic`.

Errors: under /api/ Django's own error answers (a bad request it refuses itself, an unknown
URL, a server error) are `{"detail": "..."}` like the API's; elsewhere they are pages
(`trialdesk.web.pages.errors`).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.staticfiles.views import serve
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.urls import include, path, re_path

from trialdesk.web.api import api
from trialdesk.web.middleware import body_too_large, detail
from trialdesk.web.pages import errors

API_PREFIX = "/api/"

urlpatterns = [
    path("api/v1/", api.urls),
    re_path(rf"^{settings.STATIC_URL.lstrip('/')}(?P<path>.*)$", serve, {"insecure": True}),
    path("", include("trialdesk.web.pages.urls")),
]


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """What Django itself refuses (SuspiciousOperation): too many query fields, a body over
    the size limit (413, not Django's 400: the request is well formed, only too large)."""
    if isinstance(exception, RequestDataTooBig):
        return detail(body_too_large(request), 413)
    if not _is_api(request):
        return errors.page_bad_request(request, exception)
    return detail(f"bad request: {exception}", 400)


def forbidden(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not _is_api(request):
        return errors.page_forbidden(request, exception)
    return detail(f"forbidden: {exception}" if str(exception) else "forbidden", 403)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not _is_api(request):
        return errors.page_not_found(request, exception)
    shown = request.path if len(request.path) <= 200 else f"{request.path[:200]}..."
    return detail(f"no such URL: {shown}; the REST API is under /api/v1/ (docs: /api/v1/docs)", 404)


def server_error(request: HttpRequest) -> HttpResponse:
    if not _is_api(request):
        return errors.page_server_error(request)
    return detail("an unexpected error on the server; a write that failed changed nothing", 500)


handler400 = bad_request
handler403 = forbidden
handler404 = not_found
handler500 = server_error
