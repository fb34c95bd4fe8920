"""A form page's rules, from the instrument definition: how each item is asked (widget, range
hint, choices in the user's language), how the items are grouped (per subscale where the
scores define subscales), how typed text becomes item values with a message in the user's
language that names the item and what is expected, and the live score preview.

Nothing here writes: the page saves through `trialdesk.store.services.forms.save_form`, whose
rules (reasons where a saved value changes, the visit date first) stay in the store.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from trialdesk.errors import InstrumentError
from trialdesk.instruments.definition import Instrument, Item, MeanTo100Score, SumScore
from trialdesk.instruments.texts import item_texts, option_labels

#: A code list with at most this many options is shown as radio buttons, longer ones as a
#: select.
MAX_RADIO_OPTIONS = 6
#: Scores whose items make a subscale of the form (a heading above its items).
SUBSCALE_SCORES = (SumScore, MeanTo100Score)
#: The raw text of one input the page takes (longer text is refused with a message).
MAX_INPUT_LENGTH = 2000


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


@dataclass
class Question:
    """One item as the page asks it."""

    id: str
    label: str
    kind: str  # radios, select, number, yesno, text
    unit: str | None
    hint: str
    choices: list[Choice] = field(default_factory=list)
    step: str = "any"
    minimum: str | None = None
    maximum: str | None = None
    description: str | None = None
    #: Needed to save the form: only where the definition says so (an item a score reads is
    #: not required; the score is just not computable without it).
    required: bool = False

    @property
    def shows_hint(self) -> bool:
        """A typed answer gets the expectation as a hint; listed answers speak for
        themselves (a description, if any, is shown either way)."""
        return self.kind in ("number", "text") or bool(self.description)


@dataclass
class Group:
    """Items under one heading (a subscale's score label); `label` None: no heading."""

    label: str | None
    questions: list[Question]


def questions(instrument: Instrument, language: str) -> list[Group]:
    """The items of the form as the page asks them, grouped per subscale, in the
    definition's order."""
    texts = item_texts(instrument.id, language)
    labels = option_labels(instrument.id, language)
    subscale_of = _subscales(instrument)
    groups: list[Group] = []
    for item in instrument.items:
        question = _question(item, texts.get(item.id, item.label), labels.get(item.id, {}))
        label = subscale_of.get(item.id)
        if groups and groups[-1].label == label:
            groups[-1].questions.append(question)
        else:
            groups.append(Group(label, [question]))
    return groups


def _subscales(instrument: Instrument) -> dict[str, str]:
    """Item id -> the label of the subscale score it belongs to; an item claimed by an earlier
    subscale stays there (a total over all items makes no group)."""
    claimed: dict[str, str] = {}
    for score in instrument.scores:
        subscale = isinstance(score, SUBSCALE_SCORES) and len(score.items) > 1
        if subscale and not any(item in claimed for item in score.items):
            claimed.update(dict.fromkeys(score.items, score.label))
    return claimed


def _question(item: Item, label: str, option_texts: Mapping[Any, str]) -> Question:
    choices = [
        Choice(str(option.value), option_texts.get(option.value, option.label))
        for option in item.options
    ]
    common = {
        "id": item.id,
        "label": label,
        "unit": item.unit,
        "hint": expectation(item),
        "description": item.description,
        "required": bool(getattr(item, "required", False)),
    }
    if item.type == "boolean":
        return Question(
            kind="yesno", choices=[Choice("true", _("Yes")), Choice("false", _("No"))], **common
        )
    if choices:
        kind = "radios" if len(choices) <= MAX_RADIO_OPTIONS else "select"
        return Question(kind=kind, choices=choices, **common)
    if item.type in ("integer", "number"):
        return Question(
            kind="number",
            step="1" if item.type == "integer" else "any",
            minimum=_number(item.minimum),
            maximum=_number(item.maximum),
            **common,
        )
    return Question(kind="text", **common)


def expectation(item: Item) -> str:
    """What a valid answer to the item is, in the user's language."""
    unit = f" {item.unit}" if item.unit else ""
    if item.type == "boolean":
        return _("yes or no")
    if item.options:
        return _("one of the listed answers")
    if item.type == "text":
        if item.pattern is None:
            return _("text")
        if item.example:
            return _("text in the form %(example)s") % {"example": item.example}
        return _("text matching %(pattern)s") % {"pattern": item.pattern}
    low, high = _number(item.minimum), _number(item.maximum)
    whole = item.type == "integer"
    if low is not None and high is not None:
        text = (
            _("a whole number from %(low)s to %(high)s")
            if whole
            else _("a number from %(low)s to %(high)s")
        )
    elif low is not None:
        text = (
            _("a whole number of at least %(low)s") if whole else _("a number of at least %(low)s")
        )
    elif high is not None:
        text = (
            _("a whole number of at most %(high)s") if whole else _("a number of at most %(high)s")
        )
    else:
        text = _("a whole number") if whole else _("a number")
    return (text % {"low": low, "high": high}) + unit


def _number(value: float | None) -> str | None:
    if value is None:
        return None
    return str(int(value)) if float(value).is_integer() else str(value)


# ---------------------------------------------------------------- typed text to values


@dataclass
class Entry:
    """What the user typed, read: `values` item id -> value (None: no answer) for the items
    that read well, `errors` item id -> message for the others, `raw` as typed."""

    raw: dict[str, str]
    values: dict[str, Any]
    errors: dict[str, str]


def read_entry(instrument: Instrument, data: Mapping[str, str]) -> Entry:
    """The items' typed text (a form's POST: item id -> text; an absent item is empty)."""
    raw = {item.id: str(data.get(item.id, "")) for item in instrument.items}
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for item in instrument.items:
        try:
            values[item.id] = _value(item, raw[item.id])
        except ValueError:
            errors[item.id] = _("%(item)s: expected %(expected)s") % {
                "item": item.id,
                "expected": expectation(item),
            }
    return Entry(raw, values, errors)


def _value(item: Item, text: str) -> Any:
    """The item's value from its typed text; ValueError if it is not one."""
    text = text.strip()
    if not text:
        return None
    if len(text) > MAX_INPUT_LENGTH:
        raise ValueError(text)
    if item.type == "boolean":
        if text not in ("true", "false"):
            raise ValueError(text)
        return text == "true"
    if item.type == "code":
        if text not in item.option_values:
            raise ValueError(text)
        return text
    if item.type == "text":
        if item.pattern is not None and re.fullmatch(item.pattern, text) is None:
            raise ValueError(text)
        return text
    number = _parse_number(text)
    if item.type == "integer":
        if not float(number).is_integer():
            raise ValueError(text)
        number = int(number)
        if item.options and number not in item.option_values:
            raise ValueError(text)
    elif float(number).is_integer() and "." not in text and "," not in text:
        number = int(number)
    if (item.minimum is not None and number < item.minimum) or (
        item.maximum is not None and number > item.maximum
    ):
        raise ValueError(text)
    return number


def _parse_number(text: str) -> float:
    """A number as people type it: "70.5", or with a decimal comma "70,5" (Danish)."""
    cleaned = text.replace(" ", "").replace("\u00a0", "")
    if cleaned.count(",") == 1 and "." not in cleaned:
        cleaned = cleaned.replace(",", ".")
    if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", cleaned):
        raise ValueError(text)
    number = float(cleaned)
    if not math.isfinite(number):
        raise ValueError(text)
    return number


def as_text(item: Item, value: Any) -> str:
    """A saved value as the input shows it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and item.type == "integer":
        return str(int(value))
    return str(value)


# ---------------------------------------------------------------- the score preview


@dataclass(frozen=True)
class ScoreLine:
    label: str
    value: str | None  # None: not computable yet
    unit: str | None


@dataclass
class Preview:
    scores: list[ScoreLine]
    problem: str | None  # a rule across items the values break (the definition's words)


def preview(instrument: Instrument, values: Mapping[str, Any]) -> Preview:
    """The instrument's scores for the values read so far (invalid ones left out)."""
    try:
        _, scores = instrument.values_and_scores(dict(values))
    except InstrumentError as error:
        return Preview([], str(error))
    lines = [
        ScoreLine(score.label, _shown(scores.get(score.id)), score.unit)
        for score in instrument.scores
    ]
    return Preview(lines, None)


def _shown(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, float):
        return f"{value:.1f}" if not value.is_integer() else str(int(value))
    return str(value)
