"""What a user can do next for one subject: decided from the subject's status, its calendar
and the roles the user holds at the subject's site (`store.permissions.STEP_ROLES`), never in a
template.

`subject_steps` gives the next steps of the subject's course (consent, screening forms,
eligibility, randomization, treatment, the first visits that are due or overdue) and the other
actions the user may take at any time (an adverse event, a deviation, a change of status,
emergency unblinding).
A step the user's roles do not allow is not offered; the services check again when it is taken.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse
from django.utils.translation import gettext as _

from trialdesk.store.access import Access
from trialdesk.store.calendar import CalendarEntry, VisitState
from trialdesk.store.lifecycle import RANDOMIZED_STATUSES, SubjectStatus
from trialdesk.store.models import Subject
from trialdesk.store.permissions import STEP_ROLES, Step
from trialdesk.web.pages.context import study_key

#: Statuses after which nothing more happens to the subject's course.
FINAL_STATUSES = frozenset(
    {
        SubjectStatus.SCREEN_FAILED,
        SubjectStatus.COMPLETED,
        SubjectStatus.WITHDRAWN,
        SubjectStatus.LOST_TO_FOLLOW_UP,
    }
)
#: The due and overdue visits offered as next steps, earliest first (the calendar shows all).
MAX_VISIT_STEPS = 3
#: Statuses in which adverse events are reported (from consent to the end of follow-up).
AE_STATUSES = frozenset(
    {
        SubjectStatus.CONSENTED,
        SubjectStatus.ELIGIBLE,
        SubjectStatus.RANDOMIZED,
        SubjectStatus.TREATED,
        SubjectStatus.IN_FOLLOW_UP,
    }
)


@dataclass(frozen=True)
class SubjectStep:
    """One link the subject page offers: its label (in the user's language) and URL; `danger`
    for emergency unblinding."""

    label: str
    url: str
    danger: bool = False


@dataclass(frozen=True)
class SubjectSteps:
    next: tuple[SubjectStep, ...]
    other: tuple[SubjectStep, ...]


def may(access: Access, step: Step, subject: Subject) -> bool:
    """True if one of the user's roles allows `step` at the subject's site, and the study is
    open for changes."""
    return not access.study.locked and access.may(STEP_ROLES[step], subject.site_id)


def subject_steps(access: Access, subject: Subject, calendar: list[CalendarEntry]) -> SubjectSteps:
    """The subject's next steps and other actions for this user."""
    key = study_key(access.study)

    def url(name: str, *more: str) -> str:
        return reverse(f"pages:{name}", args=[key, subject.code, *more])

    status = SubjectStatus(subject.status)
    steps: list[SubjectStep] = []
    if status == SubjectStatus.SCREENED and may(access, Step.CONSENT, subject):
        steps.append(SubjectStep(_("Record consent"), url("consent")))
    if status == SubjectStatus.CONSENTED:
        screening = calendar[0] if calendar else None
        if (
            screening is not None
            and screening.state is not VisitState.DONE
            and may(access, Step.ENTER_FORMS, subject)
        ):
            steps.append(
                SubjectStep(_("Enter the screening forms"), url("visit", screening.visit_id))
            )
        if may(access, Step.EVALUATE_ELIGIBILITY, subject):
            steps.append(SubjectStep(_("Confirm eligibility"), url("eligibility")))
        elif may(access, Step.ENTER_FORMS, subject):
            steps.append(SubjectStep(_("Check eligibility"), url("eligibility")))
    if status == SubjectStatus.ELIGIBLE and may(access, Step.RANDOMIZE, subject):
        steps.append(SubjectStep(_("Randomize"), url("randomize")))
    if status in (SubjectStatus.RANDOMIZED, SubjectStatus.TREATED) and may(
        access, Step.ADMINISTER, subject
    ):
        steps.append(SubjectStep(_("Record the treatment"), url("treatment")))
    in_course = status in RANDOMIZED_STATUSES and status not in FINAL_STATUSES
    if in_course and (
        may(access, Step.RECORD_VISIT, subject) or may(access, Step.ENTER_FORMS, subject)
    ):
        waiting = [e for e in calendar if e.state in (VisitState.DUE, VisitState.OVERDUE)]
        for entry in waiting[:MAX_VISIT_STEPS]:
            label = _("Visit %(visit)s: %(label)s") % {
                "visit": entry.visit_id,
                "label": entry.label,
            }
            steps.append(SubjectStep(label, url("visit", entry.visit_id)))
    return SubjectSteps(tuple(steps), tuple(_other_actions(access, subject, status, url)))


def _other_actions(access: Access, subject: Subject, status: SubjectStatus, url) -> list:
    actions = []
    if status in AE_STATUSES and may(access, Step.REPORT_ADVERSE_EVENT, subject):
        actions.append(SubjectStep(_("Report an adverse event"), url("ae-new")))
    if status != SubjectStatus.SCREENED and may(access, Step.RECORD_DEVIATION, subject):
        actions.append(SubjectStep(_("Record a protocol deviation"), url("deviation-new")))
    if status not in FINAL_STATUSES and may(access, Step.CHANGE_STATUS, subject):
        actions.append(SubjectStep(_("Change the subject's status"), url("subject-status")))
    if (
        status in RANDOMIZED_STATUSES
        and access.blinded_at(subject.site_id)
        and may(access, Step.UNBLIND, subject)
    ):
        actions.append(SubjectStep(_("Emergency unblinding"), url("unblind"), danger=True))
    return actions
