"""Which roles may take which step on a subject, and where.

A role assigned without a site is study-wide; with a site it covers that site's subjects only.
Setup steps (creating a study, adding sites and users, locking) are taken by the operator who
runs the store from its host, not through these roles.
"""

from __future__ import annotations

from enum import StrEnum

from trialdesk.store.errors import NotFound, NotPermitted
from trialdesk.store.models import Role, RoleAssignment, Site, Study, StudyUser


class Step(StrEnum):
    SCREEN = "screen subjects"
    CONSENT = "record consent"
    ENTER_FORMS = "enter forms"
    EVALUATE_ELIGIBILITY = "evaluate eligibility"
    RANDOMIZE = "randomize"
    ADMINISTER = "record administrations"
    CHANGE_STATUS = "change a subject's status"
    UNBLIND = "unblind a subject"
    RECORD_VISIT = "record visits"
    REPORT_ADVERSE_EVENT = "report adverse events"
    RECORD_DEVIATION = "record protocol deviations"
    RAISE_QUERY = "raise and close queries"
    ANSWER_QUERY = "answer queries"
    VERIFY_SOURCE = "verify source data"
    SIGN = "sign casebooks"
    LOCK_RECORDS = "lock and unlock records"
    INVITE_PATIENT = "invite patients to answer at home"
    EXPORT_DATA = "export the study's data"


STEP_ROLES: dict[Step, frozenset[Role]] = {
    Step.SCREEN: frozenset({Role.COORDINATOR, Role.INVESTIGATOR}),
    Step.CONSENT: frozenset({Role.COORDINATOR, Role.INVESTIGATOR}),
    Step.ENTER_FORMS: frozenset({Role.COORDINATOR, Role.INVESTIGATOR, Role.ASSESSOR}),
    Step.EVALUATE_ELIGIBILITY: frozenset({Role.INVESTIGATOR}),
    Step.RANDOMIZE: frozenset({Role.COORDINATOR, Role.INVESTIGATOR}),
    Step.ADMINISTER: frozenset({Role.PHARMACIST, Role.INVESTIGATOR}),
    Step.CHANGE_STATUS: frozenset({Role.COORDINATOR, Role.INVESTIGATOR}),
    Step.UNBLIND: frozenset({Role.INVESTIGATOR}),
    Step.RECORD_VISIT: frozenset({Role.COORDINATOR, Role.INVESTIGATOR, Role.ASSESSOR}),
    Step.REPORT_ADVERSE_EVENT: frozenset({Role.COORDINATOR, Role.INVESTIGATOR}),
    # Data managers find deviations in data review; monitors raise them as queries instead.
    Step.RECORD_DEVIATION: frozenset({Role.COORDINATOR, Role.INVESTIGATOR, Role.DATA_MANAGER}),
    # Monitors and data managers challenge the data; the site's staff answer for them.
    Step.RAISE_QUERY: frozenset({Role.MONITOR, Role.DATA_MANAGER}),
    Step.ANSWER_QUERY: frozenset({Role.COORDINATOR, Role.INVESTIGATOR, Role.ASSESSOR}),
    Step.VERIFY_SOURCE: frozenset({Role.MONITOR}),
    Step.SIGN: frozenset({Role.INVESTIGATOR}),
    Step.LOCK_RECORDS: frozenset({Role.DATA_MANAGER}),
    Step.INVITE_PATIENT: frozenset({Role.COORDINATOR, Role.INVESTIGATOR}),
    # A whole study's data in a standard format (`trialdesk.store.exports`): the sponsor's data
    # and statistics roles, study-wide; what they may see of the arms is the access policy's.
    Step.EXPORT_DATA: frozenset({Role.DATA_MANAGER, Role.STATISTICIAN, Role.DMC_STATISTICIAN}),
}


def require(study: Study, username: str, step: Step, site: Site) -> StudyUser:
    """The user, if one of their roles in `study` allows `step` at `site`.

    Revoked assignments grant nothing, and a deactivated user's roles grant nothing. One query
    on the way through: the user's live assignments in the study with the user and site.
    """
    assignments = list(
        RoleAssignment.objects.filter(
            study=study, user__username=username, revoked_at__isnull=True
        ).select_related("user", "site")
    )
    user = (
        assignments[0].user if assignments else StudyUser.objects.filter(username=username).first()
    )
    if user is None:
        raise NotFound(f"user {username!r} is not in the store")
    if user.deactivated_at is not None:
        raise NotPermitted(
            f"user {username} may not {step.value} at site {site.code} of {study}: "
            f"they were deactivated at {user.deactivated_at.isoformat()}"
        )
    allowed = STEP_ROLES[step]
    for assignment in assignments:
        if assignment.role in allowed and assignment.site_id in (None, site.pk):
            return assignment.user
    held = ", ".join(
        f"{a.role}" + (f" at site {a.site.code}" if a.site else " (study-wide)")
        for a in assignments
    )
    raise NotPermitted(
        f"user {username} may not {step.value} at site {site.code} of {study}: that needs "
        f"{' or '.join(sorted(role.value for role in allowed))}; "
        f"their roles are {held or 'none'}"
    )
