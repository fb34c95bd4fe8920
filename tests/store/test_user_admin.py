"""Deactivating users and revoking roles, on SQLite and PostgreSQL: audited, tokens refused
through the API, steps refused by the services; errors name the user, the role and the site."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client

from trialdesk.errors import BadInput
from trialdesk.store.audit import verify_audit_chain
from trialdesk.store.errors import AlreadyExists, NotFound, NotPermitted, ReasonRequired
from trialdesk.store.models import ApiToken, AuditEvent, RoleAssignment, StudyUser
from trialdesk.store.permissions import Step, require
from trialdesk.store.services import add_user, lock_study, screen_subject
from trialdesk.store.services.setup import deactivate_user, list_sites, list_users, revoke_role
from trialdesk.store.services.tokens import create_token, list_tokens, user_for_token

from .conftest import OPERATOR

STUDY_PATH = "/api/v1/studies/KNEE-TEST"


def screen(study: Any, site: str, by: str) -> str:
    return screen_subject(
        study,
        site,
        year_of_birth=1960,
        age=63,
        sex="female",
        by=by,
        screened_on=dt.date(2024, 3, 1),
    ).code


def bearer(token: str) -> Client:
    return Client(headers={"Authorization": f"Bearer {token}"})


def screen_via_api(client: Client, site: str = "01") -> Any:
    body = {
        "site": site,
        "year_of_birth": 1960,
        "age": 63,
        "sex": "female",
        "screened_on": "2024-03-01",
    }
    return client.post(f"{STUDY_PATH}/subjects", json.dumps(body), content_type="application/json")


# ---------------------------------------------------------------- deactivation


@pytest.mark.django_db
def test_a_deactivated_users_tokens_are_refused_by_the_api(study: Any) -> None:
    token = create_token("colin", OPERATOR)
    client = bearer(token)
    assert client.get("/api/v1/me").status_code == 200
    assert screen_via_api(client).status_code == 201
    deactivate_user("colin", "left the site team", OPERATOR)
    assert user_for_token(token) is None
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/me").json() == {"detail": "Unauthorized"}
    assert screen_via_api(client).status_code == 401
    # The token itself is not revoked, it just names nobody; other users' tokens still work.
    assert ApiToken.objects.get(user__username="colin").revoked_at is None
    assert bearer(create_token("ines", OPERATOR)).get("/api/v1/me").status_code == 200


@pytest.mark.django_db
def test_deactivation_is_audited_and_the_trail_verifies(study: Any) -> None:
    before = AuditEvent.objects.count()
    user = deactivate_user("colin", "  left the site team ", OPERATOR)
    assert user.deactivated_at is not None
    assert StudyUser.objects.get(username="colin").deactivated_at == user.deactivated_at
    events = list(AuditEvent.objects.filter(seq__gt=before).order_by("seq"))
    assert len(events) == 1
    (event,) = events
    assert (event.action, event.object_type, event.field) == (
        "user.deactivated",
        "StudyUser",
        "deactivated_at",
    )
    assert (event.by, event.reason, event.old_value) == (OPERATOR, "left the site team", "null")
    assert event.new_value == json.dumps(user.deactivated_at.isoformat())
    # Store-wide: the user may hold roles in several studies.
    assert event.study == ""
    assert verify_audit_chain().ok


@pytest.mark.django_db
def test_a_deactivated_user_may_take_no_step(study: Any) -> None:
    site = study.sites.get(code="01")
    assert require(study, "colin", Step.SCREEN, site).username == "colin"
    deactivate_user("colin", "left", OPERATOR)
    with pytest.raises(NotPermitted, match="user colin may not screen subjects at site 01 of "):
        require(study, "colin", Step.SCREEN, site)
    events = AuditEvent.objects.count()
    with pytest.raises(NotPermitted, match="they were deactivated at "):
        screen(study, "01", by="colin")
    assert AuditEvent.objects.count() == events
    assert screen(study, "01", by="ines") == "01-001"


@pytest.mark.django_db
def test_deactivation_refusals_name_the_user_and_change_nothing(study: Any) -> None:
    events = AuditEvent.objects.count()
    with pytest.raises(NotFound, match="user 'nobody' is not in the store"):
        deactivate_user("nobody", "left", OPERATOR)
    with pytest.raises(ReasonRequired, match="deactivate user colin: a reason is required"):
        deactivate_user("colin", "  ", OPERATOR)
    assert AuditEvent.objects.count() == events
    deactivate_user("colin", "left", OPERATOR)
    events = AuditEvent.objects.count()
    with pytest.raises(BadInput, match="user colin was already deactivated at "):
        deactivate_user("colin", "again", OPERATOR)
    with pytest.raises(BadInput, match="colin was deactivated at .*: a deactivated user gets no"):
        create_token("colin", OPERATOR)
    with pytest.raises(BadInput, match="colin was deactivated at .*: a deactivated user is given"):
        add_user(study, "colin", "monitor", OPERATOR)
    assert AuditEvent.objects.count() == events
    assert verify_audit_chain().ok


@pytest.mark.django_db
def test_deactivation_is_allowed_on_a_locked_study(study: Any) -> None:
    lock_study(study, OPERATOR)
    assert deactivate_user("mona", "monitoring ended", OPERATOR).deactivated_at is not None
    assert revoke_role(study, "pia", "pharmacist", "rotation", OPERATOR).revoked_at is not None
    assert verify_audit_chain().ok


# ---------------------------------------------------------------- revoking a role


@pytest.mark.django_db
def test_a_revoked_role_refuses_the_step_at_its_site(study: Any) -> None:
    add_user(study, "colin", "coordinator", OPERATOR, "02")
    assert screen(study, "01", by="colin") == "01-001"
    assert screen(study, "02", by="colin") == "02-001"
    assignment = revoke_role(study, "colin", "coordinator", "moved to site 02", OPERATOR, "01")
    assert assignment.site.code == "01" and assignment.revoked_at is not None
    assert RoleAssignment.objects.get(pk=assignment.pk).revoked_at == assignment.revoked_at
    with pytest.raises(
        NotPermitted,
        match=r"colin may not screen subjects at site 01 of KNEE-TEST v1.0: that needs "
        r"coordinator or investigator; their roles are coordinator at site 02$",
    ):
        screen(study, "01", by="colin")
    # The role at the other site still works.
    assert screen(study, "02", by="colin") == "02-002"
    event = AuditEvent.objects.get(action="role.revoked")
    assert (event.object_type, event.object_id, event.field) == (
        "RoleAssignment",
        str(assignment.pk),
        "revoked_at",
    )
    assert (event.by, event.reason, event.study) == (OPERATOR, "moved to site 02", "KNEE-TEST v1.0")
    assert verify_audit_chain().ok


@pytest.mark.django_db
def test_a_revoked_study_wide_role_grants_nothing_and_can_be_given_again(study: Any) -> None:
    revoke_role(study, "ines", "investigator", "sabbatical", OPERATOR)
    with pytest.raises(NotPermitted, match="their roles are none"):
        screen(study, "02", by="ines")
    with pytest.raises(NotFound, match="ines is not investigator study-wide; their roles in"):
        revoke_role(study, "ines", "investigator", "again", OPERATOR)
    again = add_user(study, "ines", "investigator", OPERATOR)
    assert again.revoked_at is None
    with pytest.raises(AlreadyExists, match="ines is already investigator"):
        add_user(study, "ines", "investigator", OPERATOR)
    assert screen(study, "02", by="ines") == "02-001"
    assert RoleAssignment.objects.filter(user__username="ines").count() == 2
    assert verify_audit_chain().ok


@pytest.mark.django_db
def test_revoking_a_role_the_user_does_not_hold_names_what_they_hold(study: Any) -> None:
    add_user(study, "colin", "monitor", OPERATOR)
    events = AuditEvent.objects.count()
    with pytest.raises(
        NotFound,
        match=r"^KNEE-TEST v1.0: colin is not coordinator at site 02; their roles in this study "
        r"are coordinator at site 01, monitor \(study-wide\)$",
    ):
        revoke_role(study, "colin", "coordinator", "wrong site", OPERATOR, "02")
    with pytest.raises(NotFound, match="colin is not investigator study-wide; .* coordinator at"):
        revoke_role(study, "colin", "investigator", "wrong role", OPERATOR)
    with pytest.raises(NotFound, match="user 'nobody' is not in the store"):
        revoke_role(study, "nobody", "monitor", "no one", OPERATOR)
    with pytest.raises(BadInput, match="role 'boss'; expected one of admin, data_manager"):
        revoke_role(study, "colin", "boss", "no such role", OPERATOR)
    with pytest.raises(
        ReasonRequired, match="KNEE-TEST v1.0: revoke monitor study-wide of colin: a reason"
    ):
        revoke_role(study, "colin", "monitor", "", OPERATOR)
    assert AuditEvent.objects.count() == events
    assert not RoleAssignment.objects.filter(revoked_at__isnull=False).exists()


# ---------------------------------------------------------------- listings


@pytest.mark.django_db
def test_listings_show_roles_tokens_and_sites(study: Any) -> None:
    create_token("colin", OPERATOR)
    second = create_token("colin", OPERATOR)
    create_token("ines", OPERATOR)
    from trialdesk.store.services.tokens import revoke_token, token_prefix

    revoke_token(token_prefix(second), OPERATOR)
    add_user(study, "colin", "monitor", OPERATOR)
    revoke_role(study, "colin", "monitor", "not needed", OPERATOR)
    screen(study, "01", by="ines")
    screen(study, "01", by="ines")
    screen(study, "02", by="ines")
    users = {user.username: user for user in list_users(study)}
    # The fixture's five users, by name.
    assert list(users) == ["ada", "colin", "ines", "mona", "pia"]
    colin = users["colin"]
    assert (colin.tokens_total, colin.tokens_live) == (2, 1)
    assert [
        (a.role, a.site.code if a.site else None, a.revoked_at is None) for a in colin.listed_roles
    ] == [
        ("coordinator", "01", True),
        ("monitor", None, False),
    ]
    assert (users["ines"].tokens_total, users["ines"].tokens_live) == (1, 1)
    assert (users["ada"].tokens_total, users["ada"].tokens_live) == (0, 0)
    assert [t.user.username for t in list_tokens()] == ["colin", "colin", "ines"]
    assert [t.revoked_at is None for t in list_tokens("colin")] == [True, False]
    with pytest.raises(NotFound, match="user 'nobody' is not in the store"):
        list_tokens("nobody")
    sites = {site.code: site for site in list_sites(study)}
    # 01: two subjects, colin's coordinator role; 02: one subject, no site-bound role.
    assert {code: (s.subject_count, s.user_count) for code, s in sites.items()} == {
        "01": (2, 1),
        "02": (1, 0),
    }
    deactivate_user("colin", "left", OPERATOR)
    assert list_sites(study)[0].user_count == 0
