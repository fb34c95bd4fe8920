"""The protocol's masking decides who is blinded, through the API, with no code change.

OPEN-LABEL.yaml (masking NONE) and SINGLE-BLIND.yaml (masking SINGLE, who_masked
[OUTCOMES_ASSESSOR]) are KNEE-TEST with another `design.masking`. Every role reads a randomized
subject, the study plan, /me, the subject's kits and the allocation list; what each role gets
is written here by hand from the masking table of docs/store.md ("Roles, sites and blinding").
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from trialdesk.protocol.model import Design, MaskedRole, Masking
from trialdesk.store.access import masked_roles
from trialdesk.store.models import Allocation, Role, Study
from trialdesk.store.services import (
    add_site,
    add_user,
    create_study,
    lock_study,
    randomize_subject,
    record_administration,
)
from trialdesk.store.services.tokens import create_token

from .conftest import OPERATOR, PROTOCOL, ROLES, make_eligible

PROTOCOLS = Path(__file__).parent / "protocols"
#: True: the role sees arms (study-wide, database not locked). By hand, from docs/store.md.
SEES_ARMS = {
    "OPEN-LABEL": dict.fromkeys(ROLES, True),
    "SINGLE-BLIND": {
        "admin": False,
        "data_manager": False,
        "investigator": True,
        "coordinator": True,
        "assessor": False,
        "pharmacist": True,
        "monitor": False,
        "statistician": False,
        "dmc_statistician": True,
    },
}


def build(protocol_id: str) -> tuple[Study, str, dict[str, Client]]:
    """The study with sites 01 and 02, one study-wide user per role (`<role>-<id>`), and one
    randomized, treated subject at site 01."""
    study = create_study(PROTOCOLS / f"{protocol_id}.yaml", OPERATOR)
    add_site(study, "01", OPERATOR)
    add_site(study, "02", OPERATOR)
    clients = {}
    for role in ROLES:
        add_user(study, f"{role}-{protocol_id}", role, OPERATOR)
        token = create_token(f"{role}-{protocol_id}", OPERATOR)
        clients[role] = Client(headers={"Authorization": f"Bearer {token}"})
    add_user(study, "ines", "investigator", OPERATOR)  # the helpers' investigator
    code = make_eligible(study, "01")
    randomize_subject(study, code, "ines")
    record_administration(study, code, "C1", dt.date(2024, 4, 1), f"pharmacist-{protocol_id}")
    return study, code, clients


def sees(client: Client, protocol_id: str, code: str) -> dict[str, Any]:
    """What one user gets of arms from each read that may carry them."""
    base = f"/api/v1/studies/{protocol_id}"
    subject = client.get(f"{base}/subjects/{code}").json()
    plan = client.get(base).json()
    me = client.get("/api/v1/me").json()["studies"]
    kits = client.get(f"{base}/subjects/{code}/kits")
    slots = client.get(f"{base}/allocation-list")
    return {
        "subject_arm": subject.get("arm"),
        "plan_arms": [arm["id"] for arm in plan["arms"]] if "arms" in plan else None,
        "blinded": (plan["blinded"], me[0]["blinded"]),
        "unblinded_sites": (plan["unblinded_sites"], me[0]["unblinded_sites"]),
        "kits": kits.status_code,
        "kit_arms": {kit["arm"] for kit in kits.json()} if kits.status_code == 200 else None,
        "allocation_list": slots.status_code,
    }


def expected(arm: str | None) -> dict[str, Any]:
    if arm is None:  # blinded
        return {
            "subject_arm": None,
            "plan_arms": None,
            "blinded": (True, True),
            "unblinded_sites": ([], []),
            "kits": 403,
            "kit_arms": None,
            "allocation_list": 403,
        }
    return {
        "subject_arm": arm,
        "plan_arms": ["CELLS", "SALINE"],
        "blinded": (False, False),
        "unblinded_sites": (["01", "02"], ["01", "02"]),
        "kits": 200,
        "kit_arms": {arm},
        "allocation_list": 200,
    }


@pytest.mark.django_db
@pytest.mark.parametrize("protocol_id", ["OPEN-LABEL", "SINGLE-BLIND"])
def test_masking_decides_who_sees_arms(django_db_setup: str, protocol_id: str) -> None:
    study, code, clients = build(protocol_id)
    arm = Allocation.objects.get(subject__code=code, subject__study=study).slot.arm
    for role, client in clients.items():
        shown = arm if SEES_ARMS[protocol_id][role] else None
        assert sees(client, protocol_id, code) == expected(shown), (protocol_id, role)
    lock_study(study, OPERATOR, override_reason="blinding test: casebooks not signed")
    # The lock unblinds the statistician and no one else.
    for role, client in clients.items():
        shown = arm if SEES_ARMS[protocol_id][role] or role == "statistician" else None
        assert sees(client, protocol_id, code) == expected(shown), (protocol_id, role, "locked")


# ---------------------------------------------------------------- the table itself

A, D, IN, C, S = (
    Role.ADMIN,
    Role.DATA_MANAGER,
    Role.INVESTIGATOR,
    Role.COORDINATOR,
    Role.ASSESSOR,
)
M, ST = Role.MONITOR, Role.STATISTICIAN
P, CP, INV, OA = (
    MaskedRole.PARTICIPANT,
    MaskedRole.CARE_PROVIDER,
    MaskedRole.INVESTIGATOR,
    MaskedRole.OUTCOMES_ASSESSOR,
)
#: (masking, who_masked) -> blinded roles before the lock; docs/store.md's masking table.
#: After the lock the same without the statistician. Pharmacist and DMC statistician: never.
MASKING_TABLE = [
    (Masking.NONE, [], set()),
    (Masking.NONE, [P, INV], set()),  # NONE wins over a stray who_masked
    (Masking.SINGLE, [P], set()),
    (Masking.SINGLE, [OA], {S, A, D, M, ST}),
    (Masking.SINGLE, [CP], {IN, C, A, D, M, ST}),
    (Masking.SINGLE, [INV], {IN, C, S, A, D, M, ST}),
    (Masking.SINGLE, [], {IN, C, S, A, D, M, ST}),  # not saying who: everyone
    (Masking.DOUBLE, [P, INV], {IN, C, S, A, D, M, ST}),
    (Masking.DOUBLE, [P, OA], {S, A, D, M, ST}),
    (Masking.DOUBLE, [], {IN, C, S, A, D, M, ST}),
    (Masking.TRIPLE, [P, CP, OA], {IN, C, S, A, D, M, ST}),
    (Masking.QUADRUPLE, [P, CP, INV, OA], {IN, C, S, A, D, M, ST}),
]


@pytest.mark.parametrize(("masking", "who", "blinded"), MASKING_TABLE)
def test_masked_roles_table(masking: Masking, who: list[MaskedRole], blinded: set[Role]) -> None:
    from trialdesk.protocol import load_protocol

    base = load_protocol(PROTOCOL)
    design = Design.model_validate(
        {**base.design.model_dump(), "masking": masking, "who_masked": who}
    )
    protocol = base.model_copy(update={"design": design})
    assert masked_roles(protocol, locked=False) == blinded
    assert masked_roles(protocol, locked=True) == blinded - {ST}
