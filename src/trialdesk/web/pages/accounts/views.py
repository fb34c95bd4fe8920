"""Sign-in and sign-out, the language picker and the session's keep-alive."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from trialdesk.store.services.accounts import LANGUAGES, set_preferences
from trialdesk.web.pages.context import staff_page, study_user

sign_in = LoginView.as_view(
    template_name="pages/accounts/sign_in.html", redirect_authenticated_user=True
)


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect(settings.LOGIN_URL)


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """The language picker: the choice is the signed-in user's preference, and a cookie for
    the sign-in page."""
    language = request.POST.get("language", "")
    target = request.POST.get("next", "/")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}):
        target = "/"
    response = HttpResponseRedirect(target)
    if language in LANGUAGES:
        user = study_user(request)
        if user is not None:
            set_preferences(user, language=language)
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME, language, samesite="Lax", max_age=365 * 24 * 3600
        )
    return response


@require_POST
@staff_page
def keepalive(request: HttpRequest) -> HttpResponse:
    """The idle warning's "stay signed in": a request, which renews the session."""
    return HttpResponse(status=204)


@staff_page
def account(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("accounts: account")


@staff_page
def password_change(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("accounts: password_change")


@staff_page
def otp_setup(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("accounts: otp_setup")


def otp_verify(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("accounts: otp_verify")
