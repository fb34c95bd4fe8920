"""Sign-ins for the demo users, so someone trying trialdesk can use the web app and the API.

Every user the demo made (`user.added` by `operator:demo` in the audit trail) who is still
active gets a new random password and a new API token each time; users added by anyone else
are never touched. Meant for a demo store only: it prints secrets.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from trialdesk.store.demo.run import DEMO_OPERATOR

#: The label of the tokens made here (`trialdesk token list` shows it).
TOKEN_LABEL = "demo logins"


@dataclass(frozen=True)
class DemoLogin:
    username: str
    #: "NCT05933434: coordinator at AUH; NCT04208646: ..."
    roles: str
    password: str
    token: str


def demo_logins() -> list[DemoLogin]:
    """New passwords and tokens for the demo's active users, by user name."""
    from trialdesk.store.models import AuditEvent, RoleAssignment, StudyUser
    from trialdesk.store.services.accounts import set_password
    from trialdesk.store.services.tokens import create_token

    made_by_demo = AuditEvent.objects.filter(
        action="user.added", by=DEMO_OPERATOR, object_type="StudyUser"
    ).values_list("object_id", flat=True)
    users = StudyUser.objects.filter(
        pk__in=[int(pk) for pk in made_by_demo], deactivated_at__isnull=True
    ).order_by("username")
    logins = []
    for user in users:
        assignments = (
            RoleAssignment.objects.filter(user=user, revoked_at__isnull=True)
            .select_related("study", "site")
            .order_by("study__protocol_id", "role")
        )
        roles = "; ".join(
            f"{a.study.protocol_id}: {a.role}" + (f" at {a.site.code}" if a.site else "")
            for a in assignments
        )
        if not roles:
            continue
        password = new_password()
        set_password(user.username, password, DEMO_OPERATOR)
        token = create_token(user.username, DEMO_OPERATOR, TOKEN_LABEL)
        logins.append(DemoLogin(user.username, roles, password, token))
    return logins


def new_password() -> str:
    """16 random URL-safe characters with a fixed tail that no password validator refuses."""
    return secrets.token_urlsafe(12) + "-Kn3"
