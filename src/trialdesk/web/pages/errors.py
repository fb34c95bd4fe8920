"""The web app's error pages: what went wrong in the user's language, and a way back.

The API's paths (/api/) answer errors as JSON (`trialdesk.web.urls`); every other path gets
these pages.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _


def error_page(request: HttpRequest, status: int, title: str, message: str) -> HttpResponse:
    return render(
        request,
        "pages/error.html",
        {"status": status, "title": title, "message": message},
        status=status,
    )


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return error_page(
        request,
        404,
        _("Page not found"),
        _("There is no such page, or it is not among the studies and sites you work on."),
    )


def page_forbidden(request: HttpRequest, exception: Exception) -> HttpResponse:
    return error_page(
        request, 403, _("Not allowed"), str(exception) or _("Your role does not allow this.")
    )


def page_bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    return error_page(request, 400, _("Bad request"), _("The request could not be read."))


def page_server_error(request: HttpRequest) -> HttpResponse:
    return error_page(
        request,
        500,
        _("Something went wrong"),
        _("An unexpected error on the server. Nothing was changed by the request that failed."),
    )


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form sent without this session's CSRF token (another site's form, or a page kept open
    across a sign-out): refused, nothing changed."""
    return error_page(
        request,
        403,
        _("Form refused"),
        _(
            "This form could not be accepted because its security token is missing or out of "
            "date (for example after signing out in another tab). Nothing was saved. Reload "
            "the page and enter it again."
        ),
    )
