"""The server's clock, which decides whether a patient's diary entry takes an answer.

`TRIALDESK_CLOCK_FILE` names a file holding an ISO 8601 instant with its offset (e.g.
2026-03-02T19:30:00+01:00) that stands for "now" while the file exists: for the browser
tests and demonstrations of a served store, which move a patient's evening forward without
waiting for it. `trialdesk serve` says so when it is set; a production server never sets it
(it would let whoever writes the file back-fill a diary).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from django.utils import timezone

from trialdesk.errors import BadInput

CLOCK_FILE_VARIABLE = "TRIALDESK_CLOCK_FILE"


def now() -> dt.datetime:
    """The current instant (UTC), or the one the clock file holds."""
    name = os.environ.get(CLOCK_FILE_VARIABLE)
    if not name:
        return timezone.now()
    path = Path(name)
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return timezone.now()
    try:
        instant = dt.datetime.fromisoformat(text)
    except ValueError:
        raise BadInput(
            f"{path}: expected an ISO 8601 instant, e.g. 2026-03-02T19:30:00+01:00"
        ) from None
    if instant.tzinfo is None:
        raise BadInput(f"{path}: the instant {text!r} has no offset (e.g. +01:00 or Z)")
    return instant.astimezone(dt.UTC)
