"""The protocol's `patient_reported:` section: broken schedules are refused naming the file,
line, field and what was expected; a new questionnaire at home (KOOS before M3) is a few lines
of YAML and no code."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from trialdesk.errors import ProtocolError
from trialdesk.protocol import load_protocol, parse_protocol, protocol_source
from trialdesk.schedule.diary import entries

NAME = "NCT05933434.yaml"
DIARY = """patient_reported:
  - id: pain_diary
    form: pain_diary
    visit: D30
    kind: daily
    first_day: 1
    last_day: 30
    item: "day{day}"
    opens: "18:00"
    closes: "23:59"
    grace_minutes: 60
"""
#: KOOS at home in the week before the 3-month visit (M3 is day 91, window 77-105).
KOOS_AT_HOME = """  - id: koos_home
    form: koos
    visit: M3
    kind: once
    first_day: 84
    last_day: 91
    grace_minutes: 120
"""


def stemjoint() -> str:
    _, text = protocol_source("NCT05933434")
    assert DIARY in text, "the STEMJOINT pain diary schedule is not as this test expects"
    return text


def problems_of(text: str) -> list[str]:
    with pytest.raises(ProtocolError) as caught:
        parse_protocol(text, NAME)
    return caught.value.problems


def line_of(text: str, fragment: str) -> int:
    return text[: text.index(fragment)].count("\n") + 1


def with_diary(old: str, new: str) -> str:
    text = stemjoint()
    changed = DIARY.replace(old, new, 1)
    assert changed != DIARY, old
    return text.replace(DIARY, changed, 1)


def diary_line(text: str, fragment: str) -> int:
    """The line of `fragment` inside the patient_reported section of `text`."""
    start = text.index("patient_reported:")
    return text[: text.index(fragment, start)].count("\n") + 1


@pytest.mark.parametrize(
    ("old", "new", "fragment", "expected"),
    [
        (
            'opens: "18:00"',
            'opens: "6pm"',
            "opens:",
            "patient_reported[0].opens: '6pm' is not a local time HH:MM (00:00 to 23:59)",
        ),
        (
            'opens: "18:00"',
            'opens: "18:0"',
            "opens:",
            "patient_reported[0].opens: '18:0' is not a local time HH:MM (00:00 to 23:59)",
        ),
        (
            'closes: "23:59"',
            'closes: "24:00"',
            "closes:",
            "patient_reported[0].closes: '24:00' is not a local time HH:MM (00:00 to 23:59)",
        ),
        (
            "first_day: 1\n",
            "first_day: 0\n",
            "first_day:",
            "patient_reported[0].first_day: patients answer at home from day 1 (after day 0)",
        ),
        (
            "visit: D30",
            "visit: D31",
            "visit: D31",
            "patient_reported[0].visit: unknown visit 'D31'",
        ),
        (
            "    form: pain_diary\n",
            "    form: pain_dairy\n",
            "form: pain_dairy",
            "patient_reported[0].form: unknown form 'pain_dairy'",
        ),
        (
            "    form: pain_diary\n",
            "    form: koos\n",
            "form: koos",
            "patient_reported[0].form: form 'koos' is not collected at D30",
        ),
        (
            'item: "day{day}"',
            'item: "d{day}"',
            "item:",
            "patient_reported[0].item: day 1: 'd1' is no item of pain_diary",
        ),
        (
            "last_day: 30",
            "last_day: 31",
            "item:",
            "patient_reported[0].item: day 31: 'day31' is no item of pain_diary",
        ),
        (
            "grace_minutes: 60",
            "grace_minutes: -5",
            "grace_minutes:",
            "patient_reported[0].grace_minutes: input should be greater than or equal to 0",
        ),
        (
            "kind: daily",
            "kind: weekly",
            "kind:",
            "patient_reported[0].kind: must be one of 'daily' or 'once'",
        ),
    ],
)
def test_a_broken_field_is_named_with_its_line(
    old: str, new: str, fragment: str, expected: str
) -> None:
    text = with_diary(old, new)
    found = problems_of(text)
    wanted = f"{NAME}:{diary_line(text, fragment)}: {expected}"
    assert wanted in found, found


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('opens: "18:00"', 'opens: "23:59"', "pain_diary: opens 23:59 is not before closes 23:59"),
        (
            'opens: "18:00"\n    closes: "23:59"',
            'opens: "23:00"\n    closes: "22:00"',
            "pain_diary: opens 23:00 is not before closes 22:00",
        ),
        ('item: "day{day}"', 'item: "day"', 'a daily schedule needs item with "{day}"'),
        ('    item: "day{day}"\n', "", 'a daily schedule needs item with "{day}"'),
        ("last_day: 30", "last_day: 0", "pain_diary: last_day 0 is before first_day 1"),
    ],
)
def test_an_inconsistent_schedule_is_named_at_its_entry(old: str, new: str, expected: str) -> None:
    text = with_diary(old, new)
    found = problems_of(text)
    entry_line = diary_line(text, "- id: pain_diary")
    assert any(
        problem.startswith(f"{NAME}:{entry_line}: patient_reported[0]: ") and expected in problem
        for problem in found
    ), found


def test_a_once_schedule_with_an_item_is_refused() -> None:
    text = stemjoint().replace(
        DIARY, DIARY + KOOS_AT_HOME.replace("kind: once", "kind: once\n    item: P1")
    )
    found = problems_of(text)
    line = diary_line(text, "- id: koos_home")
    expected = "koos_home: a once schedule answers the whole form; no item"
    assert f"{NAME}:{line}: patient_reported[1]: {expected}" in found, found


def test_a_duplicate_schedule_id_is_refused() -> None:
    text = stemjoint().replace(DIARY, DIARY + DIARY.removeprefix("patient_reported:\n"))
    found = problems_of(text)
    assert any(
        "patient_reported[1].id: duplicate schedule id 'pain_diary'" in problem for problem in found
    ), found


def test_koos_at_home_before_m3_is_added_in_the_protocol_file_alone(tmp_path) -> None:
    path = tmp_path / NAME
    path.write_text(stemjoint().replace(DIARY, DIARY + KOOS_AT_HOME), encoding="utf-8")
    protocol = load_protocol(path)
    diary, koos = protocol.patient_reported
    assert diary.id == "pain_diary"
    assert (koos.id, koos.form, koos.visit, koos.kind) == ("koos_home", "koos", "M3", "once")
    assert (koos.first_day, koos.last_day, koos.item, koos.grace_minutes) == (84, 91, None, 120)
    # Open all day by default: 00:00 on day 84 to 24:00 on day 91, in the patient's zone.
    (entry,) = entries(koos, dt.date(2026, 1, 10), ZoneInfo("Europe/Copenhagen"))
    # Day 84 is 4 April 2026, day 91 11 April, both in summer time (UTC+2).
    assert entry.opens_at == dt.datetime(2026, 4, 3, 22, 0, tzinfo=dt.UTC)
    assert entry.closes_at == dt.datetime(2026, 4, 11, 22, 0, tzinfo=dt.UTC)
    assert entry.late_until == dt.datetime(2026, 4, 12, 0, 0, tzinfo=dt.UTC)
