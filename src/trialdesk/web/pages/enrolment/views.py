"""Views of the enrolment area (placeholders until the area is built)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from trialdesk.web.pages.context import staff_page


@staff_page
def subject_new(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("enrolment: subject_new")


@staff_page
def eligibility(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("enrolment: eligibility")


@staff_page
def consent(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("enrolment: consent")


@staff_page
def randomize(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("enrolment: randomize")


@staff_page
def treatment(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("enrolment: treatment")


@staff_page
def dispensing(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("enrolment: dispensing")
