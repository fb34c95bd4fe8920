"""The time zones a user picks from on the account page: the IANA names where the studies'
sites and their monitors work, and the other common ones, each shown with its offset now."""

from __future__ import annotations

import datetime as dt
import zoneinfo

#: Sorted by offset within a region; UTC first. Asia/Shanghai covers every site in China.
COMMON_TIME_ZONES = (
    "UTC",
    "Europe/Copenhagen",
    "Europe/London",
    "Europe/Dublin",
    "Europe/Lisbon",
    "Europe/Amsterdam",
    "Europe/Berlin",
    "Europe/Brussels",
    "Europe/Madrid",
    "Europe/Oslo",
    "Europe/Paris",
    "Europe/Rome",
    "Europe/Stockholm",
    "Europe/Vienna",
    "Europe/Warsaw",
    "Europe/Zurich",
    "Atlantic/Reykjavik",
    "America/Nuuk",
    "Atlantic/Faroe",
    "Europe/Athens",
    "Europe/Helsinki",
    "Europe/Istanbul",
    "Europe/Moscow",
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Taipei",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Asia/Seoul",
    "Asia/Kolkata",
    "Asia/Dubai",
    "Australia/Sydney",
    "Pacific/Auckland",
    "Africa/Johannesburg",
    "America/Sao_Paulo",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Toronto",
)


def offset_label(name: str, at: dt.datetime) -> str:
    """`Europe/Copenhagen (UTC+01:00)`: the zone's offset at `at`."""
    offset = at.astimezone(zoneinfo.ZoneInfo(name)).utcoffset() or dt.timedelta(0)
    minutes = round(offset.total_seconds() / 60)
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"{name} (UTC{sign}{hours:02d}:{rest:02d})"


def time_zone_choices(current: str, at: dt.datetime) -> list[tuple[str, str]]:
    """(IANA name, label) for the select; a current zone outside the list (a valid IANA name
    chosen before the list changed) is kept in it."""
    names = list(COMMON_TIME_ZONES)
    if current and current not in names and current in zoneinfo.available_timezones():
        names.append(current)
    return [(name, offset_label(name, at)) for name in names]
