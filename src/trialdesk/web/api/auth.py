"""Bearer-token authentication: `Authorization: Bearer td_...`; unknown or revoked -> 401."""

from __future__ import annotations

from django.http import HttpRequest
from ninja.security import HttpBearer

from trialdesk.store.models import StudyUser
from trialdesk.store.services.tokens import user_for_token


class ApiTokenAuth(HttpBearer):
    """The request's user (`request.auth`) is the owner of a live API token."""

    def authenticate(self, request: HttpRequest, token: str) -> StudyUser | None:
        return user_for_token(token)
