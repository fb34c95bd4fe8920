"""The subject state machine on its own (no database)."""

from __future__ import annotations

import pytest

from trialdesk.store.errors import SubjectStateError
from trialdesk.store.lifecycle import TRANSITIONS, SubjectStatus, check_transition

S = SubjectStatus
LEGAL = {(source, target) for source, targets in TRANSITIONS.items() for target in targets}
ILLEGAL = [(a, b) for a in S for b in S if (a, b) not in LEGAL]


def test_the_issue_chain_is_legal() -> None:
    chain = [S.SCREENED, S.CONSENTED, S.ELIGIBLE, S.RANDOMIZED, S.TREATED, S.IN_FOLLOW_UP]
    for source, target in zip(chain, [*chain[1:], S.COMPLETED], strict=True):
        check_transition("01-001", source, target, "step")


@pytest.mark.parametrize(("source", "target"), ILLEGAL, ids=lambda s: s.value)
def test_every_other_step_is_refused(source: SubjectStatus, target: SubjectStatus) -> None:
    with pytest.raises(SubjectStateError, match="01-001"):
        check_transition("01-001", source, target, "step")


def test_terminal_statuses_have_no_way_out() -> None:
    for status in (S.SCREEN_FAILED, S.COMPLETED, S.WITHDRAWN, S.LOST_TO_FOLLOW_UP):
        assert TRANSITIONS[status] == frozenset()


def test_second_randomization_says_so() -> None:
    with pytest.raises(SubjectStateError, match="already randomized"):
        check_transition("01-001", S.TREATED, S.RANDOMIZED, "randomization")


def test_refusal_names_the_statuses_the_step_needs() -> None:
    with pytest.raises(SubjectStateError, match="is screened; randomization needs .*eligible"):
        check_transition("01-001", S.SCREENED, S.RANDOMIZED, "randomization")
