"""Who may manage what from the data manager's pages, and what those pages list.

The store's setup services are the operator's steps and check no roles themselves; these
rules say which signed-in user may take them from a browser:

- Loading a protocol (a new study) is for a user who holds `admin` in some study: a new
  study is outside every existing one, so no study's data manager may create one; its
  creator becomes its admin (study-wide).
- Managing a study (sites, users and roles, API tokens, lock) is for its study-wide
  admins and data managers (`navigation.MANAGERS`); its audit trail is for
  `navigation.AUDIT_READERS`, who read what `Access.audit_events()` gives them.
- Users, passwords and tokens are store-wide, so a manager of one study must not take over or
  shut out someone working elsewhere: an initial password is set only for a user who has
  none yet, and a user is deactivated (everywhere) only by someone who manages every study
  the user holds a live role in. Revoking one role in the managed study is always possible.
- The tokens listed and managed are those of the users who hold or held a role in the study.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from trialdesk.store.access import Access
from trialdesk.store.models import ApiToken, Role, RoleAssignment, Site, Study, StudyUser
from trialdesk.store.services.setup import list_sites, list_users
from trialdesk.web.pages.navigation import AUDIT_READERS, MANAGERS

#: The roles in the words of the pages (the store's codes are English identifiers).
ROLE_LABELS = {
    Role.ADMIN: _("Administrator"),
    Role.DATA_MANAGER: _("Data manager"),
    Role.INVESTIGATOR: _("Investigator"),
    Role.COORDINATOR: _("Study coordinator"),
    Role.ASSESSOR: _("Outcome assessor"),
    Role.PHARMACIST: _("Unblinded pharmacist"),
    Role.MONITOR: _("Monitor"),
    Role.STATISTICIAN: _("Statistician"),
    Role.DMC_STATISTICIAN: _("DMC statistician"),
}


def role_label(role: str) -> str:
    return str(ROLE_LABELS.get(role, role))  # type: ignore[call-overload]


def _live_roles() -> QuerySet[RoleAssignment]:
    return RoleAssignment.objects.filter(revoked_at__isnull=True, user__deactivated_at__isnull=True)


def may_load_protocols(user: StudyUser) -> bool:
    """True for a user who holds a live `admin` role in some study."""
    return _live_roles().filter(user=user, role=Role.ADMIN).exists()


def may_manage(access: Access) -> bool:
    return access.may(MANAGERS)


def may_read_audit(access: Access) -> bool:
    return access.may(AUDIT_READERS)


def managed_study_ids(user: StudyUser) -> set[int]:
    """The studies where `user` is a study-wide admin or data manager."""
    return set(
        _live_roles()
        .filter(user=user, role__in=MANAGERS, site__isnull=True)
        .values_list("study_id", flat=True)
    )


def may_deactivate(actor: StudyUser, target: StudyUser) -> bool:
    """True if `target` is active, not `actor`, and every study where `target` holds a live
    role is one `actor` manages."""
    if target.pk == actor.pk or target.deactivated_at is not None:
        return False
    held = set(_live_roles().filter(user=target).values_list("study_id", flat=True))
    return held <= managed_study_ids(actor)


def may_set_initial_password(target: StudyUser | None) -> bool:
    """True for a user not in the store yet, or one who has never had a password."""
    return target is None or (target.account_id is None and target.password_set_at is None)


@dataclass(frozen=True)
class RoleRow:
    """One role assignment of a user in the study, as the users page shows it."""

    role: str
    label: str
    site_code: str | None
    revoked: bool

    @property
    def form_key(self) -> str:
        """Names the revoke form of this role on the page (its errors are shown there)."""
        return f"revoke-{self.role}-{self.site_code or ''}"


@dataclass(frozen=True)
class UserRow:
    user: StudyUser
    roles: list[RoleRow]
    live_tokens: int

    @property
    def live_roles(self) -> list[RoleRow]:
        return [row for row in self.roles if not row.revoked]

    @property
    def active(self) -> bool:
        return self.user.deactivated_at is None


def study_users(study: Study) -> list[UserRow]:
    """The users who hold or held a role in the study, by name, with those roles."""
    return [
        UserRow(
            user,
            [
                RoleRow(
                    assignment.role,
                    role_label(assignment.role),
                    assignment.site.code if assignment.site else None,
                    assignment.revoked_at is not None,
                )
                for assignment in user.listed_roles
            ],
            user.tokens_live,
        )
        for user in list_users(study)
    ]


def study_user_named(study: Study, username: str) -> StudyUser | None:
    """The user of that name if they hold or held a role in the study."""
    return (
        StudyUser.objects.filter(username=username, roles__study=study).distinct().first()
        if username
        else None
    )


def study_sites(study: Study) -> list[Site]:
    """The study's open sites, each with `subject_count` and `user_count`."""
    return list_sites(study)


def unopened_protocol_sites(study: Study) -> list[tuple[str, str]]:
    """(code, name) of the protocol's sites that are not open in the store yet."""
    opened = set(Site.objects.filter(study=study).values_list("code", flat=True))
    return [(site.id, site.name) for site in study.protocol().sites if site.id not in opened]


def study_tokens(study: Study) -> list[ApiToken]:
    """The API tokens of the study's users, newest first (prefix and times only)."""
    return list(
        ApiToken.objects.filter(user__roles__study=study)
        .distinct()
        .select_related("user")
        .defer("key_sha256")
        .order_by("-created_at", "-pk")
    )
