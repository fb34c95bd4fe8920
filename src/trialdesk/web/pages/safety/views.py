"""Views of the safety area (placeholders until the area is built)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from trialdesk.web.pages.context import staff_page


@staff_page
def ae_new(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("safety: ae_new")


@staff_page
def ae(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("safety: ae")


@staff_page
def sae_list(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("safety: sae_list")


@staff_page
def deviation_new(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("safety: deviation_new")


@staff_page
def subject_status(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("safety: subject_status")


@staff_page
def unblind(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("safety: unblind")
