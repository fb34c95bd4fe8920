"""How a page shows a step the store refused: the service's own message (it names the place
and the expectation), under a heading in the user's language, with the HTTP status the API
gives the same refusal.

The services' messages are in English: they come from the core and the store, which every
interface shares. Pages check what they can themselves first (a form's fields, an item's
range) with messages in the user's language.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _

from trialdesk.errors import TrialdeskError
from trialdesk.store.errors import NotPermitted, RecordLocked, StudyLocked, SubjectStateError
from trialdesk.web.api.errors import STATUS_OF


@dataclass(frozen=True)
class Refusal:
    """What to show: `heading` (translated), `detail` (the service's words), `status`."""

    heading: str
    detail: str
    status: int


def refusal(error: TrialdeskError) -> Refusal:
    status = next((code for kind, code in STATUS_OF.items() if isinstance(error, kind)), 409)
    if isinstance(error, NotPermitted):
        heading = _("Your role does not allow this step.")
    elif isinstance(error, RecordLocked):
        heading = _("This record is locked: it accepts no changes.")
    elif isinstance(error, StudyLocked):
        heading = _("The study is locked: nothing can be changed.")
    elif isinstance(error, SubjectStateError):
        heading = _("Not possible for this subject now.")
    else:
        heading = _("Not saved.")
    return Refusal(heading, str(error), status)
