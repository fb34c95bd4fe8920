"""The start page (the user's studies) and a study's home."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from trialdesk.store.access import accesses_of
from trialdesk.web.pages.context import staff_page, study_access, study_key, study_user
from trialdesk.web.pages.navigation import render_study_page


@staff_page
def start(request: HttpRequest) -> HttpResponse:
    """The studies the user works on; straight to the study when there is one."""
    accesses = accesses_of(study_user(request))
    if len(accesses) == 1:
        return redirect(reverse("pages:study-home", args=[study_key(accesses[0].study)]))
    return render(request, "pages/home/start.html", {"accesses": accesses})


@staff_page
def study_home(request: HttpRequest, study: str) -> HttpResponse:
    access = study_access(request, study)
    return render_study_page(request, "pages/home/study_home.html", access, "study-home")


@staff_page
def subject_matrix(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("home: subject_matrix")


@staff_page
def work_list(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("home: work_list")
