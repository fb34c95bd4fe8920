import dataclasses
import struct
import xml.etree.ElementTree as ElementTree

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trialdesk.analysis.consort import (
    DECLINED,
    NOT_MEETING_CRITERIA,
    OTHER_REASONS,
    ConsortFlow,
    DispositionError,
    consort_flow,
)
from trialdesk.analysis.consort_diagram import draw_consort
from trialdesk.errors import BadInput

ARMS = [("LOW", "Low dose"), ("HIGH", "High dose"), ("PBO", "Placebo")]
SVG = "{http://www.w3.org/2000/svg}"


def subject(code, status="completed", arm="LOW", **changes):
    """A subjects-dataset row; randomized statuses default to treated and analysed."""
    randomized = changes.get("randomized", status in {"treated", "in_follow_up", "completed"})
    randomized = randomized or status == "randomized"
    row = {
        "subject": code,
        "site": code.split("-")[0],
        "status": status,
        "screen_failure_reason": None,
        "randomized": randomized,
        "arm": arm if randomized else None,
        "arm_label": dict(ARMS).get(arm) if randomized else None,
        "treated": randomized and status != "randomized",
        "discontinuation_reason": None,
        "analysed": randomized and status != "randomized",
    }
    return row | changes


def frame(*rows):
    return pd.DataFrame(list(rows))


def two_arm_trial():
    return frame(
        subject("01-001", "screen_failed", screen_failure_reason="criteria I2, E4"),
        subject("01-002", "screen_failed", screen_failure_reason="criteria E4"),
        subject("01-003", "screen_failed", screen_failure_reason="Declined consent"),
        subject("01-004", "screen_failed", screen_failure_reason="moved abroad"),
        subject("01-005", "withdrawn", randomized=False, arm=None, treated=False, analysed=False),
        subject("01-006", "eligible"),
        subject("01-007", "completed", "LOW"),
        subject("01-008", "in_follow_up", "LOW", analysed=False),
        subject(
            "01-009",
            "withdrawn",
            "LOW",
            randomized=True,
            treated=False,
            analysed=False,
            discontinuation_reason="withdrew consent",
        ),
        subject("01-010", "randomized", "PBO"),
        subject(
            "01-011",
            "lost_to_follow_up",
            "PBO",
            randomized=True,
            treated=True,
            analysed=True,
            discontinuation_reason="moved away",
        ),
        subject(
            "01-012",
            "withdrawn",
            "PBO",
            randomized=True,
            treated=True,
            analysed=True,
            discontinuation_reason="adverse event",
        ),
    )


def test_structured_criteria_ids_count_as_not_meeting_criteria():
    """AGE and SEX (from the registry's age and sex limits) are criteria like I1 and E2."""
    flow = consort_flow(
        frame(
            subject("01-001", "screen_failed", screen_failure_reason="criteria AGE, I3"),
            subject("01-002", "screen_failed", screen_failure_reason="criteria E2, SEX"),
            subject("01-003", "completed", "LOW"),
        ),
        [ARMS[0]],
    )
    criteria = flow.exclusions[0]
    assert criteria.subjects == ("01-001", "01-002")
    assert [criterion for criterion, _ in criteria.reasons] == ["AGE", "SEX", "I3", "E2"]


def test_two_arm_flow_boxes_hold_their_subjects():
    flow = consort_flow(two_arm_trial(), [ARMS[0], ARMS[2]])
    assert flow.assessed.n == 12
    assert flow.excluded.subjects == ("01-001", "01-002", "01-003", "01-004", "01-005")
    criteria, declined, other = flow.exclusions
    assert (criteria.label, declined.label, other.label) == (
        NOT_MEETING_CRITERIA,
        DECLINED,
        OTHER_REASONS,
    )
    assert criteria.subjects == ("01-001", "01-002")
    # A subject failing two criteria is listed under both; inclusion criteria first.
    assert criteria.reasons == (("I2", ("01-001",)), ("E4", ("01-001", "01-002")))
    assert declined.subjects == ("01-003", "01-005")
    assert dict(declined.reasons) == {
        "Declined consent": ("01-003",),
        "reason not given": ("01-005",),
    }
    assert other.reasons == (("moved abroad", ("01-004",)),)
    assert flow.still_screening.subjects == ("01-006",)
    assert flow.randomized.n == 6

    low, placebo = flow.arms
    assert (low.arm, low.label, low.allocated.label) == ("LOW", "Low dose", "Allocated to Low dose")
    assert low.allocated.subjects == ("01-007", "01-008", "01-009")
    assert low.received.subjects == ("01-007", "01-008")
    assert low.not_received.reasons == (("withdrew consent", ("01-009",)),)
    assert low.discontinued.subjects == ("01-009",)
    assert low.lost_to_follow_up.n == 0
    assert low.analysed.subjects == ("01-007",)
    assert low.excluded_from_analysis.subjects == ("01-008", "01-009")

    assert placebo.allocated.subjects == ("01-010", "01-011", "01-012")
    assert placebo.not_received.reasons == (("awaiting first administration", ("01-010",)),)
    assert placebo.lost_to_follow_up.reasons == (("moved away", ("01-011",)),)
    assert placebo.discontinued.reasons == (("adverse event", ("01-012",)),)
    assert placebo.analysed.subjects == ("01-011", "01-012")
    assert flow.check_invariants() == []
    assert not flow.blinded


def test_arms_follow_the_protocol_order_and_default_to_the_data():
    rows = frame(subject("01-001", arm="PBO"), subject("01-002", arm="HIGH"), subject("01-003"))
    flow = consort_flow(rows, ARMS)
    assert [arm.arm for arm in flow.arms] == ["LOW", "HIGH", "PBO"]
    assert [arm.allocated.n for arm in flow.arms] == [1, 1, 1]
    found = consort_flow(rows)
    assert [(arm.arm, arm.label) for arm in found.arms] == [
        ("HIGH", "High dose"),
        ("LOW", "Low dose"),
        ("PBO", "Placebo"),
    ]


def test_an_arm_without_subjects_is_an_empty_column():
    flow = consort_flow(frame(subject("01-001"), subject("01-002", arm="PBO")), ARMS)
    assert [arm.allocated.n for arm in flow.arms] == [1, 0, 1]


def test_blinded_data_give_one_pooled_column():
    rows = two_arm_trial().assign(arm=None, arm_label=None)
    flow = consort_flow(rows, ARMS)
    assert flow.blinded
    (pooled,) = flow.arms
    assert (pooled.arm, pooled.allocated.label) == (None, "All randomized")
    assert pooled.allocated.n == 6
    assert pooled.received.n == 4
    assert pooled.discontinued.subjects == ("01-009", "01-012")


@pytest.mark.parametrize(
    ("changes", "arms", "expected"),
    [
        # A screen failure marked randomized is counted twice.
        ({"status": "screen_failed"}, ARMS, "in both 'Excluded' and 'Randomized'"),
        # A treated subject not marked randomized is in no enrollment box.
        ({"randomized": False}, ARMS, "subject 02-001 in none of the parts"),
        # A randomized subject without an arm in unblinded data is in no allocation box.
        ({"arm": None}, ARMS, "Randomized (2) = Allocated to Low dose (1)"),
        ({"lost": True}, None, "in 'Lost to follow-up' but not in 'All randomized'"),
    ],
)
def test_a_disposition_that_does_not_add_up_raises(changes, arms, expected):
    rows = [subject("02-001"), subject("02-002")]
    if changes.pop("lost", False):
        # Blinded: a subject lost to follow-up who was never randomized.
        rows = [row | {"arm": None} for row in rows]
        rows.append(subject("02-003", "lost_to_follow_up", randomized=False, arm=None))
    rows[0] |= changes
    with pytest.raises(DispositionError) as error:
        consort_flow(frame(*rows), arms)
    assert expected in str(error.value)
    assert isinstance(error.value, BadInput)


def test_analysed_but_never_randomized_raises_when_blinded():
    rows = frame(
        subject("03-001", arm=None),
        subject("03-002", "screen_failed", analysed=True, screen_failure_reason="criteria I1"),
    )
    with pytest.raises(DispositionError, match="03-002 in a part but not in 'All randomized'"):
        consort_flow(rows)


def test_check_invariants_names_the_broken_box():
    flow = consort_flow(two_arm_trial(), [ARMS[0], ARMS[2]])
    low = flow.arms[0]
    broken = dataclasses.replace(
        flow,
        arms=(
            dataclasses.replace(low, received=dataclasses.replace(low.received, subjects=())),
            flow.arms[1],
        ),
    )
    assert broken.check_invariants() == [
        "Low dose: Allocated to Low dose (3) = Received allocated intervention (0) + Did not "
        "receive allocated intervention (1) fails: subjects 01-007, 01-008 in none of the parts"
    ]
    doubled = dataclasses.replace(
        flow, randomized=dataclasses.replace(flow.randomized, subjects=flow.randomized.subjects * 2)
    )
    assert "'Randomized' holds subjects" in doubled.check_invariants()[0]


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([subject("04-001"), subject("04-001")], "subject 04-001: more than one row"),
        ([subject("04-001", status="dead")], "status 'dead' is not a lifecycle status"),
        ([subject("04-001", arm="MID")], "arm 'MID' is not an arm of the protocol"),
        ([subject("04-001", treated=None)], "subject 04-001: treated is empty"),
    ],
)
def test_bad_subjects_rows_are_rejected(rows, expected):
    with pytest.raises(BadInput, match=expected):
        consort_flow(frame(*rows), ARMS)


def test_a_missing_column_is_named():
    with pytest.raises(BadInput, match="missing column.*analysed"):
        consort_flow(frame(subject("05-001")).drop(columns="analysed"))


STATUSES_BEFORE = ["screened", "consented", "eligible"]


@st.composite
def trials(draw):
    """A subjects dataset whose every subject followed the lifecycle."""
    arms = draw(st.sampled_from([None, ARMS[:2], ARMS]))
    rows = []
    for index in range(draw(st.integers(0, 25))):
        code = f"{index % 3 + 1:02d}-{index:03d}"
        fate = draw(st.sampled_from(["screening", "failed", "withdrawn", "randomized"]))
        if fate == "screening":
            rows.append(subject(code, draw(st.sampled_from(STATUSES_BEFORE))))
        elif fate == "failed":
            reason = draw(st.sampled_from(["criteria I1", "criteria I3, E2", "refused", "other"]))
            rows.append(subject(code, "screen_failed", screen_failure_reason=reason))
        elif fate == "withdrawn":
            rows.append(subject(code, "withdrawn", randomized=False, arm=None, treated=False))
        else:
            status = draw(
                st.sampled_from(
                    ["randomized", "treated", "in_follow_up", "completed"]
                    + ["withdrawn", "lost_to_follow_up"]
                )
            )
            treated = status not in {"randomized", "withdrawn", "lost_to_follow_up"} or draw(
                st.booleans()
            )
            rows.append(
                subject(
                    code,
                    status,
                    arm=draw(st.sampled_from(arms))[0] if arms else None,
                    randomized=True,
                    treated=treated and status != "randomized",
                    analysed=draw(st.booleans()),
                    discontinuation_reason=draw(st.sampled_from([None, "moved", "AE"])),
                )
            )
    columns = list(subject("00-000"))
    return pd.DataFrame(rows, columns=columns), arms


def ids(mask, data):
    return tuple(data.loc[mask, "subject"])


@settings(max_examples=60, deadline=None)
@given(trials())
def test_every_lifecycle_gives_a_flow_that_adds_up(trial):
    data, arms = trial
    flow = consort_flow(data, arms)
    assert isinstance(flow, ConsortFlow)
    assert flow.check_invariants() == []
    status, randomized = data["status"], data["randomized"].astype(bool)
    assert flow.assessed.subjects == tuple(data["subject"])
    assert flow.randomized.subjects == ids(randomized, data)
    excluded = (status == "screen_failed") | ((status == "withdrawn") & ~randomized)
    assert flow.excluded.subjects == ids(excluded, data)
    assert sum(box.n for box in flow.exclusions) == flow.excluded.n
    assert flow.still_screening.subjects == ids(status.isin(STATUSES_BEFORE), data)
    assert flow.assessed.n == flow.excluded.n + flow.randomized.n + flow.still_screening.n
    # No arm anywhere (blinded, or nobody randomized yet) gives the pooled column.
    assert len(flow.arms) == (len(arms) if data["arm"].notna().any() else 1)
    for arm in flow.arms:
        member = randomized if arm.arm is None else data["arm"] == arm.arm
        treated, analysed = data["treated"].astype(bool), data["analysed"].astype(bool)
        assert arm.allocated.subjects == ids(member & randomized, data)
        assert arm.received.subjects == ids(member & treated, data)
        assert arm.not_received.subjects == ids(member & randomized & ~treated, data)
        assert arm.lost_to_follow_up.subjects == ids(member & (status == "lost_to_follow_up"), data)
        assert arm.discontinued.subjects == ids(member & randomized & (status == "withdrawn"), data)
        assert arm.analysed.subjects == ids(member & analysed, data)
        assert arm.allocated.n == arm.received.n + arm.not_received.n
        assert arm.allocated.n == arm.analysed.n + arm.excluded_from_analysis.n
        for box in arm.boxes():
            assert box.n == len(box.subjects)
    assert flow.randomized.n == sum(arm.allocated.n for arm in flow.arms)


def svg_texts(path):
    root = ElementTree.parse(path).getroot()
    return ["".join(element.itertext()) for element in root.iter(f"{SVG}text")]


def png_size(path):
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


@pytest.mark.parametrize("arms", [ARMS[:2], ARMS, None], ids=["two arms", "three arms", "pooled"])
def test_diagram_shows_every_count(tmp_path, arms):
    data = two_arm_trial()
    if arms is None:
        data = data.assign(arm=None)
    else:
        data["arm"] = data["arm"].replace({"PBO": arms[-1][0]})
        data.loc[data["subject"] == "01-008", "arm"] = arms[1][0]
    flow = consort_flow(data, arms)
    svg, png = draw_consort(flow, tmp_path / "consort.svg", tmp_path / "consort.png")
    texts = svg_texts(svg)
    for expected in (
        "Assessed for eligibility (n = 12)",
        "Excluded (n = 5)",
        "Still in screening (n = 1)",
        "Randomized (n = 6)",
        "I2 (n = 1)",
        "E4 (n = 2)",
    ):
        assert expected in texts
    for arm in flow.arms:
        assert f"{arm.allocated.label} (n = {arm.allocated.n})" in " ".join(texts)
        assert f"Analysed (n = {arm.analysed.n})" in texts
    for section in ("Enrollment", "Allocation", "Follow-Up", "Analysis"):
        assert section in texts
    width, height = png_size(png)
    assert width == round(8.27 * 150)  # A4 width at 150 dpi, up to three arms
    assert height > width / 2


def test_many_reasons_are_summed_up_in_one_line(tmp_path):
    rows = [subject("06-000")] + [
        subject(f"06-{index:03d}", "screen_failed", screen_failure_reason=f"reason {index}")
        for index in range(1, 10)
    ]
    svg, _ = draw_consort(consort_flow(frame(*rows)), tmp_path / "c.svg", tmp_path / "c.png")
    texts = svg_texts(svg)
    assert "reason 5 (n = 1)" in texts
    assert "4 other reasons (n = 4)" in texts
    assert "reason 6 (n = 1)" not in texts


def test_an_unwritable_path_is_bad_input(tmp_path):
    flow = consort_flow(frame(subject("07-001")))
    with pytest.raises(BadInput, match="cannot be written"):
        draw_consort(flow, tmp_path / "missing" / "c.svg", tmp_path / "c.png")
