"""Sign-in accounts of study users: passwords (Argon2, Django's auth), preferences.

A study user signs in to the web app with a Django account of the same name, made when their
password is first set. The password itself is kept only as the account's Argon2 hash; the
audit trail records when it was set (`password_set_at`), never the hash. A store-wide write,
audited outside any study's trail, allowed on locked studies too.

The optional second factor is a TOTP device (django-otp): `start_totp_device` makes one for
the user to scan, `confirm_totp_device` turns it on once it gave a right code (audited as
`user.second_factor_confirmed`, when: `totp_confirmed_at`; never the secret), and
`remove_second_factor` turns it off (`user.second_factor_removed`).
"""

from __future__ import annotations

import zoneinfo
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django_otp.plugins.otp_totp.models import TOTPDevice

from trialdesk.errors import BadInput
from trialdesk.store.audit import audited_state, audited_write
from trialdesk.store.errors import NotFound
from trialdesk.store.models import StudyUser

LANGUAGES = tuple(code for code, _ in settings.LANGUAGES)


def set_password(username: str, password: str, by: str) -> StudyUser:
    """Set the password `username` signs in with; Django's validators must accept it (at
    least 12 characters, not common, not all digits, not like the user name)."""
    account_model = get_user_model()
    check_password_rules(username, password)
    with audited_write(by) as trail:
        user = StudyUser.objects.select_for_update().filter(username=username).first()
        if user is None:
            raise NotFound(f"user {username!r} is not in the store")
        if user.deactivated_at is not None:
            raise BadInput(
                f"user {username} was deactivated at {user.deactivated_at.isoformat()}: "
                "a deactivated user gets no password"
            )
        account = user.account
        if account is None:
            account = account_model.objects.filter(username=username).first() or (
                account_model(username=username)
            )
        account.set_password(password)
        account.is_active = True
        account.save()
        before = audited_state(user)
        user.account = account
        user.password_set_at = trail.at
        user.save(update_fields=["account", "password_set_at"])
        trail.changed(user, before, "user.password_set")
    return user


def check_password_rules(username: str, password: str) -> None:
    """BadInput naming what a password lacks, before anything is written."""
    if not isinstance(password, str) or not password:
        raise BadInput(f"password of {username}: expected a password, got none")
    try:
        validate_password(password, get_user_model()(username=username))
    except ValidationError as error:
        raise BadInput(f"password of {username}: {' '.join(error.messages)}") from None


def verify_password(user: StudyUser, password: str) -> bool:
    """Whether `password` is the user's (asked again before an emergency unblinding)."""
    return bool(user.account and user.account.is_active and user.account.check_password(password))


def set_preferences(
    user: StudyUser, language: str | None = None, time_zone: str | None = None
) -> StudyUser:
    """The user's language ("en", "da", "zh-hans", or "" for the browser's) and time zone (an
    IANA name, or "" for UTC). Preferences are not trial data: they are not audited."""
    fields = []
    if language is not None:
        if language not in (*LANGUAGES, ""):
            raise BadInput(f"language {language!r}; expected one of {', '.join(LANGUAGES)}")
        user.language = language
        fields.append("language")
    if time_zone is not None:
        if time_zone:
            try:
                zoneinfo.ZoneInfo(time_zone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise BadInput(
                    f"time zone {time_zone!r}; expected an IANA name such as Europe/Copenhagen "
                    "or Asia/Shanghai"
                ) from None
        user.time_zone = time_zone
        fields.append("time_zone")
    if fields:
        StudyUser.objects.filter(pk=user.pk).update(
            **{name: getattr(user, name) for name in fields}
        )
    return user


# ---------------------------------------------------------------- the second factor (TOTP)

#: The name every user's TOTP device has (one per user: a new one replaces the old).
TOTP_DEVICE_NAME = "trialdesk"


def _account_of(user: StudyUser) -> Any:
    if user.deactivated_at is not None:
        raise BadInput(f"user {user.username} is deactivated: no second factor can be set")
    if user.account is None:
        raise BadInput(f"user {user.username} has no password yet: set one before a second factor")
    return user.account


def start_totp_device(user: StudyUser) -> TOTPDevice:
    """A new, unconfirmed TOTP device with a fresh secret for the user to scan; any earlier
    unconfirmed one is dropped. It is no factor until `confirm_totp_device` accepts a code
    from it, so nothing is audited yet (the secret itself is never audited)."""
    account = _account_of(user)
    TOTPDevice.objects.filter(user=account, confirmed=False).delete()
    return TOTPDevice.objects.create(user=account, name=TOTP_DEVICE_NAME, confirmed=False)


def pending_totp_device(user: StudyUser, device_id: int) -> TOTPDevice | None:
    """The user's unconfirmed device `device_id`, if it is still there."""
    if user.account is None:
        return None
    return TOTPDevice.objects.filter(pk=device_id, user=user.account, confirmed=False).first()


def confirm_totp_device(user: StudyUser, device_id: int, token: str, by: str) -> TOTPDevice:
    """Confirm the user's new TOTP device with a code it shows (`token`, 6 digits): from then
    on signing in asks for a code. Replaces any device confirmed before. One audited write:
    `totp_confirmed_at` set (`user.second_factor_confirmed`)."""
    code = "".join(str(token or "").split())
    if not (code.isdigit() and len(code) == 6):
        raise BadInput(f"TOTP code of {user.username}: expected 6 digits, got {token!r}")
    with audited_write(by) as trail:
        user = StudyUser.objects.select_for_update().get(pk=user.pk)
        account = _account_of(user)
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(pk=device_id, user=account, confirmed=False)
            .first()
        )
        if device is None:
            raise NotFound(
                f"no unconfirmed TOTP device {device_id} of {user.username}: start the set-up again"
            )
        if not device.verify_token(code):
            raise BadInput(
                f"TOTP code of {user.username}: {code} is not the device's current code "
                "(or too many wrong codes: wait a moment)"
            )
        TOTPDevice.objects.filter(user=account, confirmed=True).exclude(pk=device.pk).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        before = audited_state(user)
        user.totp_confirmed_at = trail.at
        user.save(update_fields=["totp_confirmed_at"])
        trail.changed(user, before, "user.second_factor_confirmed")
    return device


def remove_second_factor(user: StudyUser, by: str) -> StudyUser:
    """Remove the user's TOTP devices: signing in asks for the password only again. Audited
    (`user.second_factor_removed`: `totp_confirmed_at` cleared)."""
    with audited_write(by) as trail:
        user = StudyUser.objects.select_for_update().get(pk=user.pk)
        if user.account is not None:
            TOTPDevice.objects.filter(user=user.account).delete()
        before = audited_state(user)
        user.totp_confirmed_at = None
        user.save(update_fields=["totp_confirmed_at"])
        trail.changed(user, before, "user.second_factor_removed")
    return user
