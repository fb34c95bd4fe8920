"""Outcome instruments as data, scored exactly as their manuals say.

Each instrument is a definition file in `definitions/` (items, constraints, scores, licence,
sources); its scores use the methods in `scoring.py`.

    >>> from trialdesk.instruments import score
    >>> score("nrs_pain", {"nrs": 6})
    {'pain': 6}

The public names are loaded on first use (PEP 562), so importing `trialdesk.instruments.cli`
to register the CLI does not import pydantic or YAML.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trialdesk.instruments.catalogue import get_instrument, instrument_ids, load_definition
    from trialdesk.instruments.definition import Instrument, Item
    from trialdesk.instruments.texts import item_texts, load_item_texts

_LAZY = {
    "get_instrument": "trialdesk.instruments.catalogue",
    "instrument_ids": "trialdesk.instruments.catalogue",
    "load_definition": "trialdesk.instruments.catalogue",
    "Instrument": "trialdesk.instruments.definition",
    "Item": "trialdesk.instruments.definition",
    "item_texts": "trialdesk.instruments.texts",
    "load_item_texts": "trialdesk.instruments.texts",
}

__all__ = [
    "Instrument",
    "Item",
    "get_instrument",
    "instrument_ids",
    "item_texts",
    "load_definition",
    "load_item_texts",
    "score",
    "validate_answers",
    "values_and_scores",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def score(instrument_id: str, answers: object) -> dict[str, Any]:
    """Scores of one completed form (None = not computable under the instrument's rules)."""
    from trialdesk.instruments.catalogue import get_instrument

    return get_instrument(instrument_id).score(answers)


def validate_answers(instrument_id: str, answers: object) -> dict[str, Any]:
    """Every item's checked value (None = missing); raises InstrumentError on bad input."""
    from trialdesk.instruments.catalogue import get_instrument

    return get_instrument(instrument_id).item_values(answers)


def values_and_scores(instrument_id: str, answers: object) -> tuple[dict[str, Any], dict[str, Any]]:
    """`validate_answers` and `score` of one form together, checking the answers once."""
    from trialdesk.instruments.catalogue import get_instrument

    return get_instrument(instrument_id).values_and_scores(answers)
