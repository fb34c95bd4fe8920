"""Sign-in and sign-out, the lockout page, the account page (language, time zone), password
change, the optional second factor (TOTP), the language picker and the session's keep-alive.

Every write goes through `trialdesk.store.services.accounts`; wrong passwords and wrong codes
count toward django-axes' lockout of the user name (settings: 5 in 15 minutes).
"""

from __future__ import annotations

import base64
from typing import Any

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, logout, update_session_auth_hash
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.signals import user_login_failed
from django.contrib.auth.views import LoginView, redirect_to_login
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_otp import devices_for_user, user_has_device
from django_otp import login as otp_login
from django_otp import verify_token as otp_verify_token

from trialdesk.errors import TrialdeskError
from trialdesk.store.models import StudyUser
from trialdesk.store.services.accounts import (
    LANGUAGES,
    confirm_totp_device,
    pending_totp_device,
    remove_second_factor,
    set_password,
    set_preferences,
    start_totp_device,
    verify_password,
)
from trialdesk.web.pages.accounts.time_zones import time_zone_choices
from trialdesk.web.pages.context import staff_page, study_user
from trialdesk.web.pages.refusals import refusal

#: The session key of the TOTP device being set up (not yet confirmed).
PENDING_DEVICE_KEY = "trialdesk_pending_totp_device"
#: What a locked user name is answered (django-axes' default: 429 Too Many Requests).
LOCKOUT_STATUS = getattr(settings, "AXES_HTTP_RESPONSE_CODE", 429)


# ---------------------------------------------------------------- sign-in, lockout, sign-out


class SignInForm(AuthenticationForm):
    """Django's sign-in form; an account whose study user is deactivated is refused like an
    inactive one (deactivation also makes the account inactive, so this is a second lock)."""

    def confirm_login_allowed(self, user: Any) -> None:
        super().confirm_login_allowed(user)
        if not StudyUser.objects.filter(account=user, deactivated_at__isnull=True).exists():
            raise ValidationError(
                self.error_messages["invalid_login"],
                code="invalid_login",
                params={"username": self.username_field.verbose_name},
            )


class SignInView(LoginView):
    template_name = "pages/accounts/sign_in.html"
    form_class = SignInForm
    redirect_authenticated_user = True

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated and study_user(request) is None:
            logout(request)  # an account without a live study user: sign in anew
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["after_idle"] = self.request.GET.get("idle") == "1"
        context["idle_minutes"] = _minutes(settings.SESSION_COOKIE_AGE)
        context["failure_limit"] = settings.AXES_FAILURE_LIMIT
        context["cool_off_minutes"] = _minutes(settings.AXES_COOLOFF_TIME.total_seconds())
        return context


sign_in = SignInView.as_view()


def locked_out(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict | None = None,
) -> HttpResponse:
    """django-axes' answer to a locked user name (`AXES_LOCKOUT_CALLABLE`): 429, in the
    user's language, with when to try again. Every refused try renews the lockout
    (`AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT`), so it ends a cool-off after this one."""
    from axes.helpers import get_client_username, get_cool_off

    cool_off = get_cool_off(request) or settings.AXES_COOLOFF_TIME
    attempted = getattr(request, "axes_attempt_time", None) or timezone.now()
    context = {
        "username": get_client_username(request, credentials) or "",
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "cool_off_minutes": _minutes(cool_off.total_seconds()),
        "retry_at": attempted + cool_off,
    }
    return render(request, settings.AXES_LOCKOUT_TEMPLATE, context, status=LOCKOUT_STATUS)


def _minutes(seconds: float) -> int:
    return max(1, round(seconds / 60))


def _failed_attempt(request: HttpRequest) -> bool:
    """Count a wrong password or code of the signed-in user toward the lockout of their user
    name; True (and signed out) when that locked it: the axes middleware then answers with
    the lockout page."""
    username = request.user.get_username()
    user_login_failed.send(sender=__name__, credentials={"username": username}, request=request)
    if getattr(request, "axes_locked_out", False):
        logout(request)
        request.axes_credentials = {"username": username}  # type: ignore[attr-defined]
        return True
    return False


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect(settings.LOGIN_URL)


def _safe_next(request: HttpRequest, target: str | None, default: str = "/") -> str:
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}):
        return target
    return default


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """The language picker: the choice is the signed-in user's preference, and a cookie for
    the sign-in page."""
    language = request.POST.get("language", "")
    response = HttpResponseRedirect(_safe_next(request, request.POST.get("next")))
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


# ---------------------------------------------------------------- the account page


def _language_choices() -> list[tuple[str, str]]:
    return [("", _("The browser's language")), *settings.LANGUAGES]


@staff_page
def account(request: HttpRequest) -> HttpResponse:
    """The user's language and time zone; links to password change and the second factor."""
    user = study_user(request)
    assert user is not None  # staff_page
    values = {"language": user.language, "time_zone": user.time_zone}
    errors: dict[str, str] = {}
    status = 200
    refused = None
    if request.method == "POST":
        values = {
            "language": request.POST.get("language", "").strip(),
            "time_zone": request.POST.get("time_zone", "").strip(),
        }
        if values["language"] not in (*LANGUAGES, ""):
            errors["language"] = _("Language: choose one of the languages in the list.")
        if values["time_zone"] and values["time_zone"] not in dict(
            time_zone_choices(user.time_zone, timezone.now())
        ):
            errors["time_zone"] = _("Time zone: choose one of the time zones in the list.")
        if not errors:
            try:
                set_preferences(user, language=values["language"], time_zone=values["time_zone"])
            except TrialdeskError as error:
                refused = refusal(error)
            else:
                response = redirect("pages:account")
                if values["language"]:
                    response.set_cookie(
                        settings.LANGUAGE_COOKIE_NAME,
                        values["language"],
                        samesite="Lax",
                        max_age=365 * 24 * 3600,
                    )
                else:  # the browser's language: no cookie from an earlier choice either
                    response.delete_cookie(settings.LANGUAGE_COOKIE_NAME, samesite="Lax")
                with translation.override(values["language"] or translation.get_language()):
                    messages.success(request, _("Saved."))
                return response
        status = refused.status if refused else 400
    now = timezone.now()
    context = {
        "user": user,
        "values": values,
        "errors": errors,
        "refusal": refused,
        "language_choices": _language_choices(),
        "time_zone_choices": time_zone_choices(values["time_zone"] or user.time_zone, now),
        "now": now,
    }
    return render(request, "pages/accounts/account.html", context, status=status)


# ---------------------------------------------------------------- password change


@staff_page
def password_change(request: HttpRequest) -> HttpResponse:
    """The current password, then the new one twice; the session stays signed in."""
    user = study_user(request)
    assert user is not None
    errors: dict[str, list[str]] = {}
    refused = None
    if request.method == "POST":
        old = request.POST.get("old_password", "")
        new = request.POST.get("new_password1", "")
        again = request.POST.get("new_password2", "")
        if not old:
            errors["old_password"] = [_("Current password: enter the password you signed in with.")]
        elif not verify_password(user, old):
            if _failed_attempt(request):
                return HttpResponse(status=LOCKOUT_STATUS)
            errors["old_password"] = [_("Current password: this is not your current password.")]
        if not new:
            errors["new_password1"] = [_("New password: enter a new password.")]
        else:
            try:
                validate_password(new, request.user)
            except ValidationError as error:
                errors["new_password1"] = list(error.messages)
            if old and new == old:
                errors.setdefault("new_password1", []).append(
                    _("New password: it must differ from the current one.")
                )
        if new and again != new:
            errors["new_password2"] = [_("New password again: the two new passwords differ.")]
        if not errors:
            try:
                set_password(user.username, new, by=user.username)
            except TrialdeskError as error:
                refused = refusal(error)
            else:
                account = get_user_model().objects.get(pk=request.user.pk)
                update_session_auth_hash(request, account)
                messages.success(request, _("Your password was changed."))
                return redirect("pages:account")
    status = (refused.status if refused else 400) if request.method == "POST" else 200
    context = {"errors": errors, "refusal": refused, "user": user}
    return render(request, "pages/accounts/password_change.html", context, status=status)


# ---------------------------------------------------------------- the second factor


def _code_of(request: HttpRequest) -> str:
    return "".join(request.POST.get("code", "").split())


def _code_error(code: str) -> str | None:
    if not code:
        return _("Code: enter the 6-digit code your authenticator app shows.")
    if not (code.isdigit() and len(code) == 6):
        return _("Code: expected 6 digits, for example 123456.")
    return None


def _qr_code(config_url: str) -> str:
    """The set-up link as a QR code: an SVG data URI for an <img> (the CSP allows data:
    images, and an image carries no inline style)."""
    return segno.make(config_url, error="m").svg_data_uri(scale=5, border=2)


def _grouped_secret(key: bytes) -> str:
    secret = base64.b32encode(key).decode("ascii").rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@staff_page
def otp_setup(request: HttpRequest) -> HttpResponse:
    """Turn on two-step sign-in: begin (a new secret), scan or type it, confirm with a code;
    or turn it off again with the password."""
    user = study_user(request)
    assert user is not None
    errors: dict[str, str] = {}
    refused = None
    status = 200
    pending = None
    pending_id = request.session.get(PENDING_DEVICE_KEY)
    if isinstance(pending_id, int):
        pending = pending_totp_device(user, pending_id)
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "begin":
                device = start_totp_device(user)
                request.session[PENDING_DEVICE_KEY] = device.pk
                return redirect("pages:otp-setup")
            if action == "confirm" and pending is not None:
                code = _code_of(request)
                error = _code_error(code)
                if error is None:
                    try:
                        device = confirm_totp_device(user, pending.pk, code, by=user.username)
                    except TrialdeskError:
                        error = _(
                            "Code: this is not the code your app shows now. Check that the "
                            "phone's clock is right, wait for the next code and enter it."
                        )
                    else:
                        request.session.pop(PENDING_DEVICE_KEY, None)
                        otp_login(request, device)
                        messages.success(request, _("Two-step sign-in is on."))
                        return redirect("pages:account")
                errors["code"] = error
            elif action == "remove" and user.totp_confirmed_at is not None:
                password = request.POST.get("password", "")
                if not password:
                    errors["password"] = _("Password: enter your password to turn this off.")
                elif not verify_password(user, password):
                    if _failed_attempt(request):
                        return HttpResponse(status=LOCKOUT_STATUS)
                    errors["password"] = _("Password: this is not your current password.")
                else:
                    remove_second_factor(user, by=user.username)
                    messages.success(request, _("Two-step sign-in is off."))
                    return redirect("pages:account")
            else:
                return redirect("pages:otp-setup")
        except TrialdeskError as error:
            refused = refusal(error)
        status = refused.status if refused else 400
    context: dict[str, Any] = {
        "user": user,
        "errors": errors,
        "refusal": refused,
        "enabled": user.totp_confirmed_at is not None,
        "pending": pending,
    }
    if pending is not None:
        context["qr_code"] = _qr_code(pending.config_url)
        context["secret"] = _grouped_secret(pending.bin_key)
        context["issuer"] = settings.OTP_TOTP_ISSUER
    return render(request, "pages/accounts/otp_setup.html", context, status=status)


def otp_verify(request: HttpRequest) -> HttpResponse:
    """After the password, the code of the user's authenticator app (when they turned
    two-step sign-in on). Wrong codes count toward the lockout of the user name."""
    user = study_user(request)
    if user is None:
        return redirect_to_login(request.get_full_path(), reverse(settings.LOGIN_URL))
    target = _safe_next(
        request, request.POST.get("next") or request.GET.get("next"), reverse("pages:start")
    )
    account = request.user
    if not user_has_device(account) or account.is_verified():  # type: ignore[union-attr]
        return redirect(target)
    error = None
    status = 200
    if request.method == "POST":
        code = _code_of(request)
        error = _code_error(code)
        if error is None:
            device = next(iter(devices_for_user(account, confirmed=True)), None)
            verified = otp_verify_token(account, device.persistent_id, code) if device else None
            if verified is not None:
                otp_login(request, verified)
                return redirect(target)
            if _failed_attempt(request):
                return HttpResponse(status=LOCKOUT_STATUS)
            error = _(
                "Code: this is not the code your app shows now. Wait for the next code and "
                "enter it."
            )
        status = 400
    context = {"error": error, "next": target, "user": user}
    return render(request, "pages/accounts/otp_verify.html", context, status=status)
