"""The enrolment pages' words for statuses and results, and how their form fields are read:
each check names the field and what is expected, in the user's language."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

STATUS_LABELS = {
    "screened": gettext_lazy("Screened"),
    "screen_failed": gettext_lazy("Screen failure"),
    "consented": gettext_lazy("Consented"),
    "eligible": gettext_lazy("Eligible"),
    "randomized": gettext_lazy("Randomized"),
    "treated": gettext_lazy("Treated"),
    "in_follow_up": gettext_lazy("In follow-up"),
    "completed": gettext_lazy("Completed"),
    "withdrawn": gettext_lazy("Withdrawn"),
    "lost_to_follow_up": gettext_lazy("Lost to follow-up"),
}
VERDICT_LABELS = {
    "eligible": gettext_lazy("Eligible"),
    "ineligible": gettext_lazy("Not eligible"),
    "incomplete": gettext_lazy("Incomplete: values or confirmations missing"),
}
#: The badge class of each verdict and result (the text says it too: never colour alone).
VERDICT_BADGES = {"eligible": "ok", "ineligible": "late", "incomplete": "warn"}


class FieldErrors(dict[str, str]):
    """Field name -> message; the page links each message to its input."""


def whole_number(
    errors: FieldErrors, name: str, label: str, raw: str, low: int, high: int
) -> int | None:
    text = raw.strip()
    if not text:
        errors[name] = _("%(field)s is required.") % {"field": label}
        return None
    try:
        value = int(text)
    except ValueError:
        errors[name] = _("%(field)s: expected a whole number, got “%(value)s”.") % {
            "field": label,
            "value": text,
        }
        return None
    if not low <= value <= high:
        errors[name] = _("%(field)s: expected a number from %(low)s to %(high)s.") % {
            "field": label,
            "low": low,
            "high": high,
        }
        return None
    return value


def past_date(errors: FieldErrors, name: str, label: str, raw: str) -> dt.date | None:
    """A date (YYYY-MM-DD, as `<input type=date>` sends it) not after today in the user's
    time zone."""
    text = raw.strip()
    if not text:
        errors[name] = _("%(field)s is required.") % {"field": label}
        return None
    try:
        value = dt.date.fromisoformat(text)
    except ValueError:
        errors[name] = _("%(field)s: expected a date (year-month-day), got “%(value)s”.") % {
            "field": label,
            "value": text,
        }
        return None
    if value > timezone.localdate():
        errors[name] = _("%(field)s: the date is in the future.") % {"field": label}
        return None
    return value


def required_text(errors: FieldErrors, name: str, label: str, raw: str, longest: int) -> str | None:
    text = raw.strip()
    if not text:
        errors[name] = _("%(field)s is required.") % {"field": label}
        return None
    if len(text) > longest:
        errors[name] = _("%(field)s: at most %(count)s characters.") % {
            "field": label,
            "count": longest,
        }
        return None
    return text


def choice(errors: FieldErrors, name: str, label: str, raw: str, allowed: list[str]) -> str | None:
    if raw not in allowed:
        errors[name] = _("%(field)s: choose one of the options.") % {"field": label}
        return None
    return raw
