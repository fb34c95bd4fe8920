"""Analysis datasets from a hand-made extract: baseline, change, flags, lineage, blinding."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from trialdesk.analysis.datasets import (
    StudyExtract,
    blind,
    build_datasets,
    datasets_sha256,
    primary_endpoint,
)
from trialdesk.errors import BadInput
from trialdesk.protocol import parse_protocol

KNEE_TEST = Path(__file__).parents[1] / "store" / "protocols" / "KNEE-TEST.yaml"
OUTCOMES = """
outcomes:
  - id: WOMAC_TOTAL
    kind: primary
    measure: Change from baseline in WOMAC total score
    time_frame: Baseline, week 3 and week 12
    visits: [D0, W3, W12]
    instrument: womac
    parameter: total
"""
DAY0 = dt.date(2024, 3, 20)
UTC = dt.UTC


@pytest.fixture(scope="module")
def protocol():
    return parse_protocol(KNEE_TEST.read_text(encoding="utf-8") + OUTCOMES, "KNEE-TEST.yaml")


def subject(pk, code, status, day0=DAY0):
    return {
        "id": pk,
        "code": code,
        "site": code[:2],
        "status": status,
        "age": 60 + pk,
        "sex": "female" if pk % 2 else "male",
        "screened_on": dt.date(2024, 3, 1),
        "day0": day0,
    }


def womac(pk, code, visit, total, pain=5):
    # A bool and a missing score must not become parameters.
    scores = {"total": total, "pain": pain, "complete": True, "pain_100": None}
    return {
        "id": pk,
        "subject": code,
        "visit_id": visit,
        "form": "womac",
        "values": {},
        "scores": scores,
    }


def screening(pk, code, kl_grade, bmi=24.2):
    return [
        {
            "id": pk,
            "subject": code,
            "visit_id": "SCR",
            "form": "kl_grade",
            "values": {"index_knee": kl_grade, "contralateral_knee": 1},
            "scores": {"max_grade": 2},
        },
        {
            "id": pk + 1,
            "subject": code,
            "visit_id": "SCR",
            "form": "vitals",
            "values": {"height_cm": 170, "weight_kg": 70},
            "scores": {"bmi": bmi},
        },
    ]


def visit(pk, code, visit_id, actual, status="done"):
    target = DAY0 + dt.timedelta(days={"W3": 21, "W12": 84}.get(visit_id, 0))
    window = {"W3": 3, "W12": 7}.get(visit_id, 0)
    return {
        "id": pk,
        "subject": code,
        "visit_id": visit_id,
        "status": status,
        "actual_date": actual,
        "window_start": target - dt.timedelta(days=window),
        "window_end": target + dt.timedelta(days=window),
    }


def allocation(pk, code, arm, kl="2"):
    return {
        "id": pk,
        "subject": code,
        "randomization_number": f"R01-{pk:03d}",
        "stratum": f"site={code[:2]},kl_grade={kl}",
        "arm": arm,
    }


def kits(pk, code, count):
    return [
        {
            "id": pk + i,
            "subject": code,
            "administration_id": f"C{i + 1}",
            "administered_on": DAY0 + dt.timedelta(days=21 * i),
            "kit_number": pk + i,
        }
        for i in range(count)
    ]


@pytest.fixture(scope="module")
def extract():
    """Seven patients, each showing one rule (see the comments)."""
    w12 = DAY0 + dt.timedelta(days=84)
    return StudyExtract(
        study={
            "protocol_id": "KNEE-TEST",
            "version": "1.0",
            "protocol_sha256": "0" * 64,
            "locked": True,
            "reopened_after_lock": False,
            "extracted_at": dt.datetime(2024, 9, 1, tzinfo=UTC),
        },
        subjects=(
            subject(1, "01-001", "completed"),  # baseline at D0 wins over screening
            subject(2, "01-002", "withdrawn"),  # no D0 value: baseline from screening
            subject(3, "01-003", "in_follow_up"),  # baseline 0, primary visit missed
            subject(4, "02-001", "treated"),  # no baseline at all
            subject(5, "02-002", "screen_failed", None),  # ineligible: criteria I2, E1
            subject(6, "02-003", "screen_failed", None),  # declined
            subject(7, "01-004", "completed"),  # primary visit out of its window
        ),
        status_changes=(
            {"id": 101, "subject": "01-002", "status": "withdrawn", "reason": "moved away"},
            {"id": 102, "subject": "02-002", "status": "screen_failed", "reason": "criteria"},
            {"id": 103, "subject": "02-003", "status": "screen_failed", "reason": "declined"},
        ),
        eligibility=(
            {
                "id": 201,
                "subject": "02-002",
                "verdict": "ineligible",
                "criteria": [
                    {"id": "I2", "result": "fail"},
                    {"id": "I3", "result": "pass"},
                    {"id": "E1", "result": "fail"},
                ],
            },
        ),
        allocations=(
            allocation(11, "01-001", "CELLS"),
            allocation(12, "01-002", "SALINE", kl="3"),
            allocation(13, "01-003", "CELLS"),
            allocation(14, "02-001", "SALINE"),
            allocation(15, "01-004", "SALINE"),
        ),
        administrations=(
            *kits(300, "01-001", 2),
            *kits(310, "01-002", 1),
            *kits(320, "01-003", 2),
            *kits(330, "02-001", 1),
            *kits(340, "01-004", 2),
        ),
        visits=(
            visit(401, "01-001", "W12", w12),
            visit(402, "01-003", "W12", None, "missed"),
            visit(403, "01-004", "W12", w12 + dt.timedelta(days=9)),
        ),
        forms=(
            *screening(500, "01-001", 2),
            *screening(510, "02-002", 4, bmi=36.0),
            womac(601, "01-001", "SCR", 30),
            womac(602, "01-001", "D0", 40),
            womac(603, "01-001", "W3", 30),
            womac(604, "01-001", "W12", 20),
            womac(611, "01-002", "SCR", 24),
            womac(612, "01-002", "W3", 12),
            womac(621, "01-003", "D0", 0, pain=0),
            womac(622, "01-003", "W3", 6),
            womac(631, "02-001", "W3", 33),
            womac(641, "01-004", "D0", 50),
            womac(642, "01-004", "W12", 45),
            womac(651, "02-002", "SCR", 70),  # a screen failure: not in the outcomes
        ),
        adverse_events=(
            {
                "id": 701,
                "subject": "01-001",
                "number": 1,
                "term": "Knee effusion",
                "onset_date": DAY0 + dt.timedelta(days=2),
                "end_date": None,
                "ctcae_grade": 2,
                "seriousness": [],
                "relatedness": "probable",
                "expected": True,
                "action_taken": "dose_not_changed",
                "outcome": "recovered",
                "awareness_at": dt.datetime(2024, 3, 22, 10, tzinfo=UTC),
                "report_due_at": None,
                "reported_at": None,
            },
            {
                "id": 702,
                "subject": "01-002",
                "number": 1,
                "term": "Pneumonia",
                "onset_date": DAY0 + dt.timedelta(days=30),
                "end_date": None,
                "ctcae_grade": 3,
                "seriousness": ["hospitalization", "medically_important"],
                "relatedness": "unlikely",
                "expected": False,
                "action_taken": "not_applicable",
                "outcome": "recovering",
                "awareness_at": dt.datetime(2024, 4, 20, 9, tzinfo=UTC),
                "report_due_at": dt.datetime(2024, 4, 21, 9, tzinfo=UTC),
                "reported_at": dt.datetime(2024, 4, 22, 9, tzinfo=UTC),
            },
            {
                "id": 703,
                "subject": "01-003",
                "number": 1,
                "term": "Fall",
                "onset_date": DAY0 + dt.timedelta(days=40),
                "end_date": None,
                "ctcae_grade": 3,
                "seriousness": ["hospitalization"],
                "relatedness": "not_related",
                "expected": None,
                "action_taken": "not_applicable",
                "outcome": "recovered",
                "awareness_at": dt.datetime(2024, 4, 30, 9, tzinfo=UTC),
                "report_due_at": dt.datetime(2024, 5, 1, 9, tzinfo=UTC),
                "reported_at": None,
            },
        ),
        deviations=(
            {
                "id": 801,
                "subject": "01-004",
                "visit_id": "W12",
                "kind": "visit_out_of_window",
                "description": "late",
                "detected_on": w12,
                "automatic": True,
            },
        ),
        unblindings=(
            {
                "id": 901,
                "subject": "01-002",
                "user": "ines",
                "reason": "anaphylaxis",
                "unblinded_at": dt.datetime(2024, 4, 20, 12, tzinfo=UTC),
            },
        ),
    )


@pytest.fixture(scope="module")
def datasets(extract, protocol):
    return build_datasets(extract, protocol)


def row(frame, **where):
    selected = frame
    for column, value in where.items():
        selected = selected[selected[column] == value]
    assert len(selected) == 1, where
    return selected.iloc[0]


def test_primary_endpoint_is_the_primary_outcome_at_its_last_visit(protocol):
    endpoint = primary_endpoint(protocol)
    assert endpoint.parameter == "womac.total"
    assert endpoint.visits == ("W3", "W12")
    assert endpoint.primary_visit == "W12"
    assert endpoint.is_primary_outcome


def test_baseline_is_the_last_value_on_or_before_day_0(datasets):
    outcomes = datasets.outcomes
    first = row(outcomes, subject="01-001", parameter="womac.total", visit="W12")
    assert first["baseline"] == 40.0  # D0, not the screening 30
    assert first["change"] == -20.0
    assert first["percent_change"] == pytest.approx(-50.0)
    from_screening = row(outcomes, subject="01-002", parameter="womac.total", visit="W3")
    assert from_screening["baseline"] == 24.0
    assert from_screening["change"] == -12.0
    flagged = outcomes[outcomes["is_baseline"] & (outcomes["parameter"] == "womac.total")]
    assert dict(zip(flagged["subject"], flagged["visit"], strict=True)) == {
        "01-001": "D0",
        "01-002": "SCR",
        "01-003": "D0",
        "01-004": "D0",
    }


def test_change_only_after_day_0(datasets):
    outcomes = datasets.outcomes
    before = outcomes[outcomes["visit_day"] <= 0]
    assert before["change"].isna().all() and before["percent_change"].isna().all()
    assert row(outcomes, subject="01-001", parameter="womac.total", visit="SCR")["baseline"] == 40


def test_baseline_zero_gives_no_percent_change(datasets):
    at_w3 = row(datasets.outcomes, subject="01-003", parameter="womac.total", visit="W3")
    assert at_w3["baseline"] == 0.0 and at_w3["change"] == 6.0
    assert math.isnan(at_w3["percent_change"])


def test_missing_baseline_gives_no_change(datasets):
    at_w3 = row(datasets.outcomes, subject="02-001", parameter="womac.total", visit="W3")
    assert math.isnan(at_w3["baseline"]) and math.isnan(at_w3["change"])
    assert at_w3["baseline_source_id"] is None


def test_only_numeric_scores_of_randomized_patients_are_parameters(datasets):
    outcomes = datasets.outcomes
    assert set(outcomes["parameter"]) == {"womac.total", "womac.pain"}
    assert "02-002" not in set(outcomes["subject"])
    assert list(outcomes.columns[:5]) == ["subject", "arm", "visit", "visit_day", "parameter"]


def test_subject_rows_and_screen_failures(datasets):
    subjects = datasets.subjects.set_index("subject")
    assert list(subjects.index) == [
        "01-001",
        "01-002",
        "01-003",
        "01-004",
        "02-001",
        "02-002",
        "02-003",
    ]
    assert subjects.loc["02-002", "screen_failure_reason"] == "criteria I2, E1"
    assert subjects.loc["02-003", "screen_failure_reason"] == "declined"
    assert subjects.loc["01-001", "screen_failure_reason"] is None
    assert subjects.loc["01-002", "discontinuation"] == "withdrawn"
    assert subjects.loc["01-002", "discontinuation_reason"] == "moved away"
    assert subjects.loc["01-001", "arm_label"] == "Cells"
    assert subjects.loc["01-002", "kl_grade"] == "3"  # from the stratum, not the forms
    assert subjects.loc["02-002", "kl_grade"] == "4"  # not randomized: from the screening form
    assert subjects.loc["02-002", "bmi"] == 36.0
    assert subjects.loc["01-001", "administrations"] == 2


def test_analysis_set_flags(datasets):
    flags = datasets.subjects.set_index("subject")[["itt", "safety", "per_protocol", "analysed"]]
    assert flags.to_dict("index") == {
        # every administration, W12 done in its window
        "01-001": {"itt": True, "safety": True, "per_protocol": True, "analysed": True},
        # one administration of two
        "01-002": {"itt": True, "safety": True, "per_protocol": False, "analysed": True},
        # primary visit missed, but a W3 value
        "01-003": {"itt": True, "safety": True, "per_protocol": False, "analysed": True},
        # W12 nine days late
        "01-004": {"itt": True, "safety": True, "per_protocol": False, "analysed": True},
        # a W3 value without baseline still counts as a post-baseline value
        "02-001": {"itt": True, "safety": True, "per_protocol": False, "analysed": True},
        "02-002": {"itt": False, "safety": False, "per_protocol": False, "analysed": False},
        "02-003": {"itt": False, "safety": False, "per_protocol": False, "analysed": False},
    }


def test_a_recorded_deviation_excludes_from_per_protocol(extract, protocol):
    deviation = {
        "id": 802,
        "subject": "01-001",
        "visit_id": None,
        "kind": "dosing_error",
        "description": "half dose",
        "detected_on": DAY0,
        "automatic": False,
    }
    changed = replace(extract, deviations=extract.deviations + (deviation,))
    subjects = build_datasets(changed, protocol).subjects.set_index("subject")
    assert not subjects.loc["01-001", "per_protocol"]


def test_outcome_lineage_points_at_the_form_records(extract, datasets):
    forms = {f"FormRecord:{form['id']}": form for form in extract.forms}
    for values in datasets.outcomes.itertuples(index=False):
        record = forms[values.source_id]
        score = values.parameter.split(".", 1)[1]
        assert (record["subject"], record["visit_id"], record["form"]) == (
            values.subject,
            values.visit,
            "womac",
        )
        assert record["scores"][score] == values.value
        if values.baseline_source_id is not None:
            baseline = forms[values.baseline_source_id]
            assert baseline["subject"] == values.subject
            assert baseline["scores"][score] == values.baseline


def test_subject_lineage_names_its_records(datasets):
    ids = datasets.subjects.set_index("subject")["source_ids"]
    assert ids["01-001"].split(";") == [
        "Subject:1",
        "Allocation:11",
        "Kit:300",
        "Kit:301",
        "FormRecord:500",
        "FormRecord:501",
    ]
    assert ids["01-002"].split(";") == ["Subject:2", "Allocation:12", "Kit:310", "AuditEvent:101"]
    assert ids["02-002"].split(";") == [
        "Subject:5",
        "EligibilityRecord:201",
        "FormRecord:510",
        "FormRecord:511",
    ]


def test_adverse_events(datasets):
    events = datasets.adverse_events.set_index("source_id")
    effusion, pneumonia, fall = (events.loc[f"AdverseEvent:{pk}"] for pk in (701, 702, 703))
    assert (effusion["study_day"], effusion["related"], effusion["serious"]) == (2, True, False)
    assert effusion["arm"] == "CELLS"
    assert pneumonia["seriousness"] == "hospitalization, medically_important"
    assert not pneumonia["related"]
    assert pneumonia["reported_late"]  # reported a day after it was due
    assert fall["reported_late"]  # never reported, due before the extract
    assert not effusion["reported_late"]


def test_blind_removes_every_arm_and_keeps_the_rest(datasets):
    blinded = blind(datasets)
    assert blinded.blinded and not datasets.blinded
    for name, frame in blinded.frames().items():
        original = datasets.frames()[name]
        for column in ("arm", "arm_label"):
            if column in frame.columns:
                assert frame[column].isna().all(), (name, column)
        others = [c for c in frame.columns if c not in ("arm", "arm_label")]
        pd.testing.assert_frame_equal(frame[others], original[others])
    assert datasets.subjects["arm"].notna().any()  # the original is unchanged
    csv = "".join(frame.to_csv() for frame in blinded.frames().values())
    assert "CELLS" not in csv and "SALINE" not in csv and "Saline" not in csv


def test_datasets_hash_follows_the_values(extract, protocol, datasets):
    assert datasets_sha256(build_datasets(extract, protocol)) == datasets_sha256(datasets)
    forms = list(extract.forms)
    forms[3] = womac(604, "01-001", "W12", 21)
    changed = build_datasets(replace(extract, forms=tuple(forms)), protocol)
    assert datasets_sha256(changed) != datasets_sha256(datasets)


def test_a_row_without_a_key_is_refused(extract, protocol):
    broken = dict(extract.forms[0])
    del broken["scores"]
    with pytest.raises(BadInput, match=r"table 'forms', row 1: missing key\(s\) scores"):
        build_datasets(replace(extract, forms=(broken, *extract.forms[1:])), protocol)


def test_a_row_of_an_unknown_subject_is_refused(extract, protocol):
    stray = {**extract.forms[0], "subject": "09-001"}
    with pytest.raises(BadInput, match=r"table 'forms', row 1: subject '09-001' is not in"):
        build_datasets(replace(extract, forms=(stray,)), protocol)


def test_a_form_at_a_visit_the_protocol_does_not_have_is_refused(extract, protocol):
    (form,) = [form for form in extract.forms if form["id"] == 602]
    stray = {**form, "visit_id": "W99"}
    with pytest.raises(BadInput, match=r"table 'forms', row 1: subject 01-001, visit 'W99' is not"):
        build_datasets(replace(extract, forms=(stray,)), protocol)
