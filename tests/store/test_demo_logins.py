"""`trialdesk demo logins`: new passwords and tokens for the demo's users, and for nobody else."""

from __future__ import annotations

from typing import Any

import pytest

from trialdesk.store.demo.logins import demo_logins
from trialdesk.store.demo.run import DEMO_OPERATOR
from trialdesk.store.models import StudyUser
from trialdesk.store.services import add_user
from trialdesk.store.services.accounts import verify_password
from trialdesk.store.services.setup import deactivate_user
from trialdesk.store.services.tokens import user_for_token

from .conftest import OPERATOR


@pytest.mark.django_db
def test_only_the_demo_s_active_users_get_a_password_and_a_token(study: Any) -> None:
    add_user(study, "coordinator-01", "coordinator", DEMO_OPERATOR, "01")
    add_user(study, "monitor", "monitor", DEMO_OPERATOR)
    add_user(study, "gone", "assessor", DEMO_OPERATOR)
    deactivate_user("gone", "left", OPERATOR)

    logins = {login.username: login for login in demo_logins()}

    assert sorted(logins) == ["coordinator-01", "monitor"]  # colin, ines... are the tests'
    login = logins["coordinator-01"]
    assert login.roles == "KNEE-TEST: coordinator at 01"
    user = StudyUser.objects.get(username="coordinator-01")
    assert verify_password(user, login.password)
    assert not verify_password(user, login.password + "x")
    assert user_for_token(login.token) == user
    assert StudyUser.objects.get(username="colin").account is None
    # A second run gives new secrets; the old password stops working.
    again = {entry.username: entry for entry in demo_logins()}["coordinator-01"]
    assert again.password != login.password
    user.refresh_from_db()
    assert not verify_password(user, login.password)
