"""What patients answer at home, on their own phones (`patient_reported:`): which form, at
which visit, on which days, and at which hours of the patient's own time zone.

Two kinds of schedule, one entry each in the protocol file:

    daily       one entry a day, from `first_day` to `last_day` (days after day 0, the
                first administration: day 1 is the day after it), each day filling the
                form's item `item` with `{day}` replaced by the day's number (STEMJOINT's
                pain diary: `day{day}` from day 1 to 30)
    once        the whole form once, on any day from `first_day` to `last_day` (e.g. KOOS at
                home in the week before the 3-month visit: days 84 to 91)

Each day an entry is open from `opens` to `closes` (local times, `HH:MM`, both inclusive:
18:00-23:59 is open from 18:00:00 to 23:59:59) in the patient's time zone, which is stored
with the invitation. An answer received up to `grace_minutes` after closing is taken and
counted late; after that the day is missed and can never be filled (paper diaries are
back-filled: Stone et al., BMJ 2002). The server's clock decides; what the phone's clock
said is recorded beside it. Which entries are open when is `trialdesk.schedule.diary`;
this module is the schema only.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, field_validator, model_validator

from trialdesk.protocol.model_base import Frozen

LocalTime = str


def _parse_time(text: str) -> dt.time:
    try:
        hours, minutes = text.split(":")
        if len(hours) != 2 or len(minutes) != 2:
            raise ValueError
        return dt.time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(f"{text!r} is not a local time HH:MM (00:00 to 23:59)") from None


class PatientSchedule(Frozen):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="e.g. pain_diary")
    form: str = Field(description="the instrument the patient answers")
    visit: str = Field(description="the visit whose form record holds the answers")
    kind: Literal["daily", "once"]
    first_day: int = Field(description="first day (relative to day 0) an entry opens")
    last_day: int = Field(description="last day (relative to day 0) an entry opens")
    item: str | None = Field(
        None, description='daily: the item of each day, with "{day}" for its number'
    )
    opens: LocalTime = Field("00:00", description="local time the day's entry opens, HH:MM")
    closes: LocalTime = Field("23:59", description="local time it closes (inclusive), HH:MM")
    grace_minutes: int = Field(
        0, ge=0, le=720, description="minutes after closing an answer is still taken (late)"
    )

    @field_validator("opens", "closes")
    @classmethod
    def _local_time(cls, text: str) -> str:
        _parse_time(text)
        return text

    @model_validator(mode="after")
    def _consistent(self) -> PatientSchedule:
        if self.last_day < self.first_day:
            raise ValueError(
                f"{self.id}: last_day {self.last_day} is before first_day {self.first_day}"
            )
        if self.kind == "daily" and (self.item is None or "{day}" not in self.item):
            raise ValueError(
                f'{self.id}: a daily schedule needs item with "{{day}}", e.g. day{{day}}'
            )
        if self.kind == "once" and self.item is not None:
            raise ValueError(f"{self.id}: a once schedule answers the whole form; no item")
        if self.opening_time >= self.closing_time:
            raise ValueError(f"{self.id}: opens {self.opens} is not before closes {self.closes}")
        return self

    @property
    def opening_time(self) -> dt.time:
        return _parse_time(self.opens)

    @property
    def closing_time(self) -> dt.time:
        return _parse_time(self.closes)

    @property
    def days(self) -> range:
        return range(self.first_day, self.last_day + 1)

    def item_of_day(self, day: int) -> str:
        """The daily schedule's item for `day`."""
        assert self.item is not None, "only a daily schedule has an item per day"
        return self.item.replace("{day}", str(day))
