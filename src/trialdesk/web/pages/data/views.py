"""Views of the data area (placeholders until the area is built)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from trialdesk.web.pages.context import staff_page


@staff_page
def setup(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("data: setup")


@staff_page
def manage(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("data: manage")


@staff_page
def audit(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("data: audit")
