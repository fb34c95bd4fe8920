"""Views of the forms area (placeholders until the area is built)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from trialdesk.web.pages.context import staff_page


@staff_page
def form(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("forms: form")


@staff_page
def form_draft(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("forms: form_draft")


@staff_page
def form_check(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("forms: form_check")


@staff_page
def item_history(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("forms: item_history")
