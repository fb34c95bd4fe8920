"""A patient's screening answers file: its shape is checked before any protocol reads it."""

from __future__ import annotations

import json

import pytest

from trialdesk.eligibility.subject import read_subject
from trialdesk.errors import EligibilityError


def test_items_attestations_and_ignored_keys(tmp_path):
    path = tmp_path / "subject.json"
    path.write_text(json.dumps({"items": {"age": 60}, "attestations": None, "note": "x"}))
    answers = read_subject(path)
    assert (answers.items, answers.attestations, answers.ignored_keys) == (
        {"age": 60},
        {},
        ("note",),
    )


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"items": []}, "'items' must be an object of id: value, got []"),
        ({"items": {}, "attestations": 0}, "'attestations' must be an object of id: value, got 0"),
        ({"items": ""}, "'items' must be an object of id: value, got \"\""),
        ([], 'expected an object {"items": ..., "attestations": ...}'),
    ],
)
def test_a_part_that_is_not_an_object_is_rejected(tmp_path, document, message):
    path = tmp_path / "subject.json"
    path.write_text(json.dumps(document))
    with pytest.raises(EligibilityError) as raised:
        read_subject(path)
    assert str(raised.value) == f"{path}: {message}"


def test_a_file_that_is_not_utf8_is_rejected(tmp_path):
    path = tmp_path / "subject.json"
    path.write_bytes(b'\xff\xfe{"items": {}}')
    with pytest.raises(EligibilityError, match="not UTF-8 text"):
        read_subject(path)
