"""Checking one form's answers against its instrument definition.

Every problem is an InstrumentError with one line that names the instrument, the item and
what is allowed. A missing answer is None (or absent); it is never coded as 0.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from trialdesk.errors import InstrumentError

if TYPE_CHECKING:
    from trialdesk.instruments.definition import Instrument, Item

_LISTED_ITEMS = 30


def check_answers(instrument: Instrument, answers: object) -> dict[str, Any]:
    """Every item of `instrument` mapped to its checked value, None where missing."""
    if not isinstance(answers, Mapping):
        raise InstrumentError(
            f"{instrument.id}: answers must be an object from item id to value, "
            f"not {type(answers).__name__}"
        )
    items = instrument.item_map
    for key in answers:
        if key not in items:
            raise InstrumentError(
                f"{instrument.id}: {key!r} is not an item of this instrument; "
                f"items are {describe_item_ids(instrument)}"
            )
    values = {
        item.id: check_value(instrument.id, item, answers.get(item.id)) for item in items.values()
    }
    for constraint in instrument.constraints:
        if constraint.parsed.evaluate(values) is False:
            names = ", ".join(sorted(constraint.parsed.names))
            raise InstrumentError(
                f"{instrument.id} items {names}: {constraint.message} ({constraint.formula})"
            )
    return values


def check_value(instrument_id: str, item: Item, value: object) -> Any:
    """`value` if it is a valid answer to `item` (None passes as missing)."""
    if value is None or _fits(item, value):
        return value
    raise InstrumentError(
        f"{instrument_id} item {item.id}: {_show(value)} is not allowed; expected {item.allowed()}"
    )


def _fits(item: Item, value: object) -> bool:
    match item.type:
        case "boolean":
            return isinstance(value, bool)
        case "code":
            return isinstance(value, str) and value in item.option_values
        case "text":
            return isinstance(value, str) and (
                item.pattern is None or re.fullmatch(item.pattern, value) is not None
            )
        case "integer" if item.options:
            return type(value) is int and value in item.option_values
        case "integer":
            return type(value) is int and _in_range(item, value)
        case _:
            return (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and math.isfinite(value)
                and _in_range(item, value)
            )


def _in_range(item: Item, value: float) -> bool:
    return (item.minimum is None or value >= item.minimum) and (
        item.maximum is None or value <= item.maximum
    )


def _show(value: object) -> str:
    """The value as the user wrote it in JSON, with its type when that is the problem."""
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, str):
        return f"{value!r} (text)"
    if isinstance(value, int | float):
        return repr(value)
    return f"a {type(value).__name__}"


def describe_item_ids(instrument: Instrument) -> str:
    """Item ids for a message, runs like P1..P5 shortened to P1-P5."""
    runs: list[list[str]] = []
    for item_id in (item.id for item in instrument.items):
        if runs and _follows(runs[-1][-1], item_id):
            runs[-1].append(item_id)
        else:
            runs.append([item_id])
    parts = [run[0] if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs]
    if len(parts) > _LISTED_ITEMS:
        return (
            ", ".join(parts[:_LISTED_ITEMS])
            + f" and {len(parts) - _LISTED_ITEMS} more (trialdesk instrument show {instrument.id})"
        )
    return ", ".join(parts)


def _follows(previous: str, current: str) -> bool:
    a = re.fullmatch(r"(.*?)(\d+)", previous)
    b = re.fullmatch(r"(.*?)(\d+)", current)
    return bool(a and b and a[1] == b[1] and int(b[2]) == int(a[2]) + 1)
