from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from trialdesk.analysis.safety import (
    ae_by_grade,
    ae_by_relatedness,
    ae_by_term,
    ae_overview,
    sae_listing,
)
from trialdesk.errors import BadInput

ARMS = [("CELLS", "Cells"), ("SALINE", "Saline")]
DAY0 = date(2024, 3, 1)
CELLS, SALINE, TOTAL = "Cells (N = 3)", "Saline (N = 1)", "Total (N = 4)"
N_PCT, EVENTS = "Subjects n (%)", "Events"


def subjects(blinded=False):
    rows = [
        ("01-001", "CELLS", True),
        ("01-002", "CELLS", True),
        ("01-003", "CELLS", True),  # treated, no adverse event: in the denominator only
        ("02-001", "SALINE", True),
        ("02-002", "SALINE", False),  # randomized, never treated: not in the safety set
    ]
    return pd.DataFrame(
        [
            {"subject": s, "arm": None if blinded else arm, "safety": safety}
            for s, arm, safety in rows
        ]
    )


def event(subject, number, term, grade, *, relatedness="not_related", day=10, **changes):
    arm = "SALINE" if subject.startswith("02") else "CELLS"
    row = {
        "subject": subject,
        "arm": arm,
        "number": number,
        "term": term,
        "onset_date": DAY0 + timedelta(days=day or 0),
        "end_date": None,
        "study_day": day,
        "ctcae_grade": grade,
        "serious": False,
        "seriousness": "",
        "relatedness": relatedness,
        "related": relatedness in {"possible", "probable", "certain"},
        "expected": None,
        "action_taken": "dose_not_changed",
        "outcome": "recovered",
        "report_due_at": None,
        "reported_at": None,
        "reported_late": False,
        "source_id": f"AdverseEvent:{number}",
    }
    return row | changes


def adverse_events(blinded=False):
    due = datetime(2024, 3, 20, 9, 30, tzinfo=UTC)
    rows = [
        # Two headaches of one subject: one subject for the term, two events, worst grade 3.
        event("01-001", 1, "Headache", 1, relatedness="possible"),
        event("01-001", 2, "Headache", 3, relatedness="unlikely", day=40),
        event(
            "01-002",
            1,
            "Knee effusion",
            2,
            relatedness="probable",
            serious=True,
            seriousness="hospitalization,medically_important",
            action_taken="drug_withdrawn",
            report_due_at=due,
            reported_at=due + timedelta(hours=30),
            reported_late=True,
        ),
        event("02-001", 1, "Headache", 1),
        event(
            "02-001",
            2,
            "Fall",
            5,
            serious=True,
            seriousness="death",
            outcome="fatal",
            report_due_at=due,
        ),
        # Before day 0 (pre-treatment) and of a subject outside the safety set: not counted.
        event("02-001", 3, "Rash", 1, day=-3),
        event("02-002", 1, "Rash", 1, day=None),
    ]
    data = pd.DataFrame(rows)
    return data.assign(arm=None) if blinded else data


def test_overview_counts_subjects_over_the_safety_set():
    table = ae_overview(adverse_events(), subjects(), ARMS)
    assert list(table.columns.get_level_values(0).unique()) == [CELLS, SALINE, TOTAL]
    assert table.loc["Any adverse event", (CELLS, N_PCT)] == "2 (66.7%)"
    assert table.loc["Any adverse event", (CELLS, EVENTS)] == 3
    assert table.loc["Any adverse event", (SALINE, N_PCT)] == "1 (100.0%)"
    assert table.loc["Any adverse event", (SALINE, EVENTS)] == 2
    assert table.loc["Any adverse event", (TOTAL, N_PCT)] == "3 (75.0%)"
    related = "Related adverse event (possible, probable or certain)"
    assert table.loc[related, (CELLS, N_PCT)] == "2 (66.7%)"
    assert table.loc[related, (SALINE, N_PCT)] == "0"
    assert table.loc["Serious adverse event", (TOTAL, N_PCT)] == "2 (50.0%)"
    assert table.loc["Adverse event of CTCAE grade 3 or higher", (CELLS, N_PCT)] == "1 (33.3%)"
    assert table.loc["Fatal adverse event (death)", (SALINE, N_PCT)] == "1 (100.0%)"
    assert table.loc["Fatal adverse event (death)", (CELLS, EVENTS)] == 0
    withdrawal = "Adverse event leading to withdrawal of study treatment"
    assert table.loc[withdrawal, (CELLS, N_PCT)] == "1 (33.3%)"


def test_by_term_counts_a_subject_once_per_term_and_sorts_by_frequency():
    table = ae_by_term(adverse_events(), subjects(), ARMS)
    assert list(table.index) == ["Any adverse event", "Headache", "Fall", "Knee effusion"]
    assert table.loc["Headache", (CELLS, N_PCT)] == "1 (33.3%)"
    assert table.loc["Headache", (CELLS, EVENTS)] == 2
    assert table.loc["Headache", (TOTAL, N_PCT)] == "2 (50.0%)"
    assert table.loc["Headache", (TOTAL, EVENTS)] == 3
    assert "Rash" not in table.index


def test_by_grade_takes_each_subjects_worst_grade_per_term():
    table = ae_by_grade(adverse_events(), subjects(), ARMS)
    assert table.index.names == ["Term", "Worst CTCAE grade"]
    headache = table.loc["Headache"]
    assert list(headache.index) == [f"Grade {grade}" for grade in range(1, 6)]
    assert headache.loc["Grade 3", CELLS] == "1 (33.3%)"
    assert headache.loc["Grade 1", CELLS] == "0"
    assert headache.loc["Grade 1", SALINE] == "1 (100.0%)"
    overall = table.loc["Any adverse event"]
    assert overall[TOTAL].tolist() == ["0", "1 (25.0%)", "1 (25.0%)", "0", "1 (25.0%)"]


def test_by_relatedness_takes_the_strongest_relatedness_per_term():
    table = ae_by_relatedness(adverse_events(), subjects(), ARMS)
    headache = table.loc["Headache", CELLS]
    assert headache.tolist() == ["0", "0", "1 (33.3%)", "0", "0"]
    assert list(headache.index) == ["Not related", "Unlikely", "Possible", "Probable", "Certain"]
    assert table.loc[("Knee effusion", "Probable"), TOTAL] == "1 (25.0%)"


def test_blinded_tables_pool_the_safety_set():
    table = ae_overview(adverse_events(blinded=True), subjects(blinded=True))
    assert list(table.columns) == [
        ("All subjects (N = 4)", N_PCT),
        ("All subjects (N = 4)", EVENTS),
    ]
    assert table.loc["Any adverse event", ("All subjects (N = 4)", N_PCT)] == "3 (75.0%)"
    grades = ae_by_grade(adverse_events(blinded=True), subjects(blinded=True))
    assert list(grades.columns) == ["All subjects (N = 4)"]


def test_no_adverse_events_gives_zero_rows():
    table = ae_by_term(adverse_events().iloc[:0], subjects(), ARMS)
    assert list(table.index) == ["Any adverse event"]
    assert table.loc["Any adverse event", (TOTAL, N_PCT)] == "0"


def test_sae_listing_has_one_row_per_serious_event():
    listing = sae_listing(adverse_events(), ARMS)
    assert listing.to_dict("records") == [
        {
            "Subject": "01-002",
            "Arm": "Cells",
            "AE": 1,
            "Term": "Knee effusion",
            "Onset": "2024-03-11",
            "Study day": 10,
            "Seriousness criteria": "hospitalization, medically important",
            "CTCAE grade": 2,
            "Relatedness": "Probable",
            "Outcome": "recovered",
            "Report due": "2024-03-20 09:30 UTC",
            "Reported": "2024-03-21 15:30 UTC",
            "Late": "yes",
        },
        {
            "Subject": "02-001",
            "Arm": "Saline",
            "AE": 2,
            "Term": "Fall",
            "Onset": "2024-03-11",
            "Study day": 10,
            "Seriousness criteria": "death",
            "CTCAE grade": 5,
            "Relatedness": "Not related",
            "Outcome": "fatal",
            "Report due": "2024-03-20 09:30 UTC",
            "Reported": "",
            "Late": "no",
        },
    ]
    assert "Arm" not in sae_listing(adverse_events(blinded=True)).columns


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"subject": "09-009"}, "subject 09-009, adverse event 1: the subject is not in"),
        ({"ctcae_grade": 7}, "subject 01-001, adverse event 1: CTCAE grade 7; expected 1 to 5"),
        ({"relatedness": "maybe"}, "relatedness 'maybe'; expected one of not_related"),
        ({"arm": "SALINE"}, "arm 'SALINE' differs from the subject's arm 'CELLS'"),
        ({"study_day": None}, "no study day for a treated subject"),
    ],
)
def test_bad_adverse_events_are_rejected(changes, expected):
    events = pd.DataFrame([event("01-001", 1, "Headache", 1) | changes])
    with pytest.raises(BadInput, match=expected):
        ae_overview(events, subjects(), ARMS)


def test_a_safety_subject_without_arm_in_unblinded_data_is_rejected():
    data = subjects()
    data.loc[0, "arm"] = None
    with pytest.raises(BadInput, match="subject 01-001: in the safety set without an arm"):
        ae_by_term(adverse_events(), data, ARMS)
