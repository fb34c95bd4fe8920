"""Item wording for display: shipped short labels, or a licensee's own file of full texts.

WOMAC wording is licensed (womac.org), so only paraphrased labels ship with trialdesk. A site
that holds the licence puts the wording in a YAML (or JSON) file mapping item id to text and
either passes it to `load_item_texts` or names a directory of such files, `<instrument>.yaml`,
in the environment variable TRIALDESK_ITEM_TEXTS.
"""

from __future__ import annotations

import os
from pathlib import Path

from trialdesk.errors import InstrumentError
from trialdesk.instruments.answers import describe_item_ids
from trialdesk.instruments.catalogue import get_instrument, read_text, read_yaml

TEXTS_DIRECTORY_VARIABLE = "TRIALDESK_ITEM_TEXTS"


def load_item_texts(instrument_id: str, path: Path) -> dict[str, str]:
    """Item id -> full wording from a licensee's file; every key must be an item."""
    instrument = get_instrument(instrument_id)
    document = read_yaml(read_text(path), str(path), expected="YAML or JSON")
    if not isinstance(document, dict):
        raise InstrumentError(f"{path}: expected a mapping from item id to text")
    for item_id, text in document.items():
        if item_id not in instrument.item_map:
            raise InstrumentError(
                f"{path}: {item_id!r} is not an item of {instrument_id}; "
                f"items are {describe_item_ids(instrument)}"
            )
        if not isinstance(text, str) or not text.strip():
            raise InstrumentError(f"{path}: item {item_id}: expected its text, got {text!r}")
    return dict(document)


def item_texts(instrument_id: str) -> dict[str, str]:
    """Text to show for each item: the licensee's wording where provided, else the label."""
    instrument = get_instrument(instrument_id)
    texts = {item.id: item.label for item in instrument.items}
    directory = os.environ.get(TEXTS_DIRECTORY_VARIABLE)
    if directory:
        path = Path(directory) / f"{instrument_id}.yaml"
        if path.is_file():
            texts.update(load_item_texts(instrument_id, path))
    return texts
