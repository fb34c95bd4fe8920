"""Sign-in accounts of study users: passwords (Argon2, Django's auth), preferences.

A study user signs in to the web app with a Django account of the same name, made when their
password is first set. The password itself is kept only as the account's Argon2 hash; the
audit trail records when it was set (`password_set_at`), never the hash. A store-wide write,
audited outside any study's trail, allowed on locked studies too.
"""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

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
