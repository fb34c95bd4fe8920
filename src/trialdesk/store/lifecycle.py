"""The subject lifecycle as an explicit state machine (plain Python, no Django).

    screened -> screen_failed | consented -> eligible -> randomized -> treated -> in_follow_up
    -> completed; withdrawn (from consent on) and lost_to_follow_up (from randomization on)

A step from one status to another is allowed only along `TRANSITIONS`; anything else is a
SubjectStateError that names the subject, its status and the statuses the step needs.
"""

from __future__ import annotations

from enum import StrEnum

from trialdesk.store.errors import SubjectStateError


class SubjectStatus(StrEnum):
    SCREENED = "screened"
    SCREEN_FAILED = "screen_failed"
    CONSENTED = "consented"
    ELIGIBLE = "eligible"
    RANDOMIZED = "randomized"
    TREATED = "treated"
    IN_FOLLOW_UP = "in_follow_up"
    COMPLETED = "completed"
    WITHDRAWN = "withdrawn"
    LOST_TO_FOLLOW_UP = "lost_to_follow_up"


S = SubjectStatus

TRANSITIONS: dict[SubjectStatus, frozenset[SubjectStatus]] = {
    S.SCREENED: frozenset({S.CONSENTED, S.SCREEN_FAILED}),
    S.CONSENTED: frozenset({S.ELIGIBLE, S.SCREEN_FAILED, S.WITHDRAWN}),
    S.ELIGIBLE: frozenset({S.RANDOMIZED, S.SCREEN_FAILED, S.WITHDRAWN}),
    S.RANDOMIZED: frozenset({S.TREATED, S.WITHDRAWN, S.LOST_TO_FOLLOW_UP}),
    S.TREATED: frozenset({S.IN_FOLLOW_UP, S.WITHDRAWN, S.LOST_TO_FOLLOW_UP}),
    S.IN_FOLLOW_UP: frozenset({S.COMPLETED, S.WITHDRAWN, S.LOST_TO_FOLLOW_UP}),
    S.SCREEN_FAILED: frozenset(),
    S.COMPLETED: frozenset(),
    S.WITHDRAWN: frozenset(),
    S.LOST_TO_FOLLOW_UP: frozenset(),
}

#: Statuses of a subject who has been randomized, whatever happened afterwards.
RANDOMIZED_STATUSES = frozenset(
    {S.RANDOMIZED, S.TREATED, S.IN_FOLLOW_UP, S.COMPLETED, S.WITHDRAWN, S.LOST_TO_FOLLOW_UP}
)


def sources_of(target: SubjectStatus) -> list[SubjectStatus]:
    """The statuses from which `target` can be reached in one step."""
    return [status for status, targets in TRANSITIONS.items() if target in targets]


def check_transition(subject_code: str, current: str, target: SubjectStatus, step: str) -> None:
    """Raise SubjectStateError unless `current` -> `target` is an allowed step."""
    current_status = SubjectStatus(current)
    if target in TRANSITIONS[current_status]:
        return
    if target is S.RANDOMIZED and current_status in RANDOMIZED_STATUSES:
        raise SubjectStateError(f"subject {subject_code}: {step}: already randomized")
    allowed = ", ".join(status.value for status in sources_of(target))
    raise SubjectStateError(
        f"subject {subject_code} is {current_status.value}; {step} needs the subject to be "
        f"{allowed}"
    )
