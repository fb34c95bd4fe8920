"""One patient's screening answers as a JSON document: `{"items": {...}, "attestations": {...}}`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trialdesk.errors import EligibilityError

SUBJECT_KEYS = ("items", "attestations")


@dataclass(frozen=True)
class SubjectAnswers:
    items: dict[str, Any]
    attestations: dict[str, Any]
    ignored_keys: tuple[str, ...] = ()


def read_subject(path: Path) -> SubjectAnswers:
    """Read and shape-check a subject file; values are checked later against each protocol."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise EligibilityError(f"{path}: cannot be read: {error.strerror}") from None
    except UnicodeDecodeError:
        raise EligibilityError(f"{path}: not UTF-8 text; expected a JSON document") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise EligibilityError(
            f"{path}:{error.lineno}: not JSON: {error.msg} (column {error.colno})"
        ) from None
    if not isinstance(document, dict):
        raise EligibilityError(f'{path}: expected an object {{"items": ..., "attestations": ...}}')
    parts = {}
    for key in SUBJECT_KEYS:
        part = document.get(key)
        if part is None:
            part = {}
        elif not isinstance(part, dict):
            shown = json.dumps(part)
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            raise EligibilityError(f"{path}: '{key}' must be an object of id: value, got {shown}")
        parts[key] = part
    ignored = tuple(key for key in document if key not in SUBJECT_KEYS)
    return SubjectAnswers(parts["items"], parts["attestations"], ignored)
