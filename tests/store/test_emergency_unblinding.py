"""`Access.emergency_arm`: after an emergency unblinding, the arm of that one subject for the
investigator who broke its blind, and for nobody else (both backends)."""

from __future__ import annotations

from typing import Any

import pytest

from trialdesk.store.access import access_for
from trialdesk.store.models import StudyUser
from trialdesk.store.services import add_user, randomize_subject, unblind_subject
from trialdesk.store.services.setup import revoke_role

from .conftest import OPERATOR


def _access(study: Any, username: str) -> Any:
    return access_for(study, StudyUser.objects.get(username=username))


@pytest.mark.django_db
def test_the_arm_is_for_the_unblinding_investigator_and_that_subject_only(
    study: Any, eligible_subject: Any
) -> None:
    add_user(study, "ivo", "investigator", OPERATOR, "01")
    code, other = eligible_subject(), eligible_subject()
    randomize_subject(study, code, "ines")
    randomize_subject(study, other, "ines")
    ines = _access(study, "ines")
    assert ines.emergency_arm(ines.subject(code)) is None  # blinded until she unblinds
    arm = unblind_subject(study, code, "suspected unexpected serious reaction", "ines")
    # What the unblinded pharmacist's kits say the subject's arm is.
    pia = _access(study, "pia")
    kit_arms = {kit.arm for kit in pia.kits(pia.subject(code))}
    assert kit_arms == {arm} and arm in {"CELLS", "SALINE"}
    ines = _access(study, "ines")
    assert ines.blinded_at(ines.subject(code).site_id)  # still blinded as a role
    assert ines.emergency_arm(ines.subject(code)) == arm
    assert ines.emergency_arm(ines.subject(other)) is None
    for username in ("ivo", "colin", "ada", "mona"):
        reader = _access(study, username)
        assert reader.emergency_arm(reader.subject(code)) is None, username


@pytest.mark.django_db
def test_a_revoked_investigator_no_longer_sees_the_arm(study: Any, eligible_subject: Any) -> None:
    add_user(study, "ivo", "investigator", OPERATOR, "01")
    add_user(study, "ivo", "coordinator", OPERATOR, "01")
    code = eligible_subject()
    randomize_subject(study, code, "ines")
    unblind_subject(study, code, "anaphylaxis", "ivo")
    ivo = _access(study, "ivo")
    assert ivo.emergency_arm(ivo.subject(code)) in {"CELLS", "SALINE"}
    revoke_role(study, "ivo", "investigator", "left the site", OPERATOR, site_code="01")
    ivo = _access(study, "ivo")  # still a coordinator at site 01: reads the subject
    assert ivo.emergency_arm(ivo.subject(code)) is None
