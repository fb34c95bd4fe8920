"""Views of the visits area (placeholders until the area is built)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from trialdesk.web.pages.context import staff_page


@staff_page
def subject(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("visits: subject")


@staff_page
def visit(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("visits: visit")


@staff_page
def visit_missed(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("visits: visit_missed")
