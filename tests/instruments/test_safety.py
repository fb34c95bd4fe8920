"""AE seriousness (ICH E2A) and CTCAE grade."""

import pytest

from trialdesk.errors import InstrumentError
from trialdesk.instruments import score, validate_answers

CRITERIA = [
    "results_in_death",
    "life_threatening",
    "hospitalisation",
    "disability",
    "congenital_anomaly",
    "important_medical_event",
]


@pytest.mark.parametrize("criterion", CRITERIA)
def test_any_one_e2a_criterion_makes_an_event_serious(criterion):
    answers = dict.fromkeys(CRITERIA, False) | {criterion: True}
    assert score("ae_seriousness", answers) == {"serious": True}
    assert score("ae_seriousness", {criterion: True}) == {"serious": True}


def test_not_serious_only_when_all_six_are_no():
    assert score("ae_seriousness", dict.fromkeys(CRITERIA, False)) == {"serious": False}
    assert score("ae_seriousness", dict.fromkeys(CRITERIA[:5], False)) == {"serious": None}


def test_ctcae_grade_is_one_to_five():
    assert validate_answers("ctcae_grade", {"grade": 5}) == {"grade": 5}
    with pytest.raises(InstrumentError, match="expected an integer from 1 to 5"):
        validate_answers("ctcae_grade", {"grade": 0})
