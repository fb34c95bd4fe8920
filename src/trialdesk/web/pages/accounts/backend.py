"""Sign-in against Django's accounts, the account read with its study user.

Every staff page needs both the account (`request.user`) and its `StudyUser`; reading them
in one query (the account's `study_user` joined) saves a query on every request.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend


class AccountBackend(ModelBackend):
    def get_user(self, user_id: Any) -> Any:
        account = (
            get_user_model()
            ._default_manager.select_related("study_user")
            .filter(pk=user_id)
            .first()
        )
        return account if account is not None and self.user_can_authenticate(account) else None
