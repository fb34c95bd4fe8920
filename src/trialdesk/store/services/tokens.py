"""API tokens: created for a user by the operator, shown once, kept only as their SHA-256.

A token reads `td_` followed by 43 URL-safe characters (256 random bits). Its first eight
random characters are its prefix: stored in clear so tokens can be told apart and revoked
without ever showing the token again. A deactivated user's tokens name nobody, though they
are not revoked themselves. The `ApiToken` table has no label column, so the label
given at creation is kept as the reason of the token's audit events.
"""

from __future__ import annotations

import secrets

from trialdesk.errors import BadInput
from trialdesk.store.audit import audited_state, audited_write, sha256_hex
from trialdesk.store.errors import NotFound
from trialdesk.store.models import ApiToken, StudyUser

TOKEN_MARK = "td_"
PREFIX_LENGTH = 8


def token_prefix(token: str) -> str:
    """The part of a token kept in clear, to tell it apart: its first 8 random characters."""
    return token[len(TOKEN_MARK) : len(TOKEN_MARK) + PREFIX_LENGTH]


def _new_token() -> str:
    """A random token whose prefix does not start with "-": the prefix is typed as a command
    argument (`trialdesk token revoke PREFIX`), where a leading "-" reads as an option."""
    while True:
        token = TOKEN_MARK + secrets.token_urlsafe(32)
        if not token_prefix(token).startswith("-"):
            return token


def create_token(username: str, by: str, label: str = "") -> str:
    """A new API token for `username`; the token is returned here and never kept."""
    with audited_write(by) as trail:
        user = StudyUser.objects.filter(username=username).first()
        if user is None:
            raise NotFound(f"user {username!r} is not in the store")
        if user.deactivated_at is not None:
            raise BadInput(
                f"user {username} was deactivated at {user.deactivated_at.isoformat()}: "
                "a deactivated user gets no API tokens"
            )
        token = _new_token()
        # Prefixes are unique so that revoking by prefix names exactly one token.
        while ApiToken.objects.filter(prefix=token_prefix(token)).exists():
            token = _new_token()
        api_token = ApiToken.objects.create(
            user=user, prefix=token_prefix(token), key_sha256=sha256_hex(token), created_at=trail.at
        )
        trail.created(api_token, "token.created", label.strip())
    return token


def revoke_token(prefix: str, by: str) -> ApiToken:
    """Revoke the token with this prefix (as `trialdesk token create` printed it)."""
    with audited_write(by) as trail:
        api_token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
        if api_token is None:
            raise NotFound(f"no API token with prefix {prefix!r}")
        if api_token.revoked_at is not None:
            raise BadInput(
                f"API token {prefix} of {api_token.user} was already revoked at "
                f"{api_token.revoked_at.isoformat()}"
            )
        before = audited_state(api_token)
        api_token.revoked_at = trail.at
        api_token.save(update_fields=["revoked_at"])
        trail.changed(api_token, before, "token.revoked")
    return api_token


def user_for_token(token: str) -> StudyUser | None:
    """The user a live token belongs to; None for an unknown or revoked token, or a token of
    a deactivated user."""
    if not token.startswith(TOKEN_MARK):
        return None
    api_token = (
        ApiToken.objects.select_related("user")
        .filter(
            key_sha256=sha256_hex(token),
            revoked_at__isnull=True,
            user__deactivated_at__isnull=True,
        )
        .first()
    )
    return api_token.user if api_token else None


def list_tokens(username: str | None = None) -> list[ApiToken]:
    """Tokens (of one user, or all), oldest first, with their users; never anything that
    could rebuild a token: its prefix, creation and revocation times only."""
    tokens = ApiToken.objects.select_related("user").order_by("created_at", "pk")
    if username is not None:
        if not StudyUser.objects.filter(username=username).exists():
            raise NotFound(f"user {username!r} is not in the store")
        tokens = tokens.filter(user__username=username)
    return list(tokens.defer("key_sha256"))
