"""Item wording for display, per language: shipped short labels, or a licensee's own texts.

Languages are Django language codes: "en", "da", "zh-hans" (also accepted: "zh_Hans",
"da-DK"; a code that has no texts falls back to its first part, then to English).

What ships, and exactly what of it is paraphrase:

- English (`label` of each item and option in `definitions/<instrument>.yaml`). For the
  questionnaires, WOMAC (licensed, womac.org), KOOS and the KOOS-derived WOMAC (free to use,
  koos.nu, wording to be kept unchanged), the item labels AND the option labels are short
  paraphrases of the item content and response anchors, never the published wording. For the
  other instruments (study forms, clinical and laboratory measurements, MRI readings, HLA
  typing, public-domain pain scales, KL grade, CTCAE grade, ICH E2A seriousness) the labels
  are trialdesk's own names of the measurements; the KL grade and CTCAE grade option labels
  are condensed from the published grade descriptions (Kellgren and Lawrence 1957, NCI
  CTCAE), which carry no wording licence.
- Danish ("da") and Simplified Chinese ("zh-hans"), for every shipped instrument, in
  `definitions/texts/<instrument>.<language>.yaml`: translations of those English labels, so
  for KOOS and WOMAC they are paraphrases too. They are NOT the official Danish KOOS
  (koos.nu) nor the licensed Chinese WOMAC (womac.org), whose wording could not be obtained
  here and is not invented; each file's header says so and carries the licence note. Nothing
  ships of a language version's official wording, in any language.

The official wording of a language version comes from the site that holds it: a YAML (or
JSON) file passed to `load_item_texts` / `load_language_texts`, or placed in the directory
named by the environment variable TRIALDESK_ITEM_TEXTS:

- `<instrument>.yaml`: English wording (the original format, kept): item id -> text.
- `<instrument>.<language>.yaml` (e.g. `koos.da.yaml`, `womac.zh-hans.yaml`): the wording
  in that language, either the same flat mapping item id -> text, or the full format of the
  shipped files::

      items:                 # item id -> text
        P1: ...
      options:               # item id -> option value -> label (optional)
        P1: {0: ..., 1: ...}

A file wins over the shipped labels item by item (and option by option); anything it does
not give falls back to the shipped labels of that language, then to English. A file that
names an item or option the instrument does not have, or gives an empty text, is refused
with an InstrumentError naming the file and the item.
"""

from __future__ import annotations

import os
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from trialdesk.errors import InstrumentError
from trialdesk.instruments.answers import describe_item_ids
from trialdesk.instruments.catalogue import get_instrument, read_text, read_yaml

TEXTS_DIRECTORY_VARIABLE = "TRIALDESK_ITEM_TEXTS"
DEFAULT_LANGUAGE = "en"
#: Languages the shipped label files cover besides English.
SHIPPED_LANGUAGES = ("da", "zh-hans")

OptionLabels = dict[int | str, str]


class LanguageTexts:
    """One language's texts for one instrument: item id -> text, item id -> value -> label."""

    __slots__ = ("items", "options")

    def __init__(self, items: dict[str, str], options: dict[str, OptionLabels]) -> None:
        self.items = items
        self.options = options


def normalise_language(language: str | None) -> str:
    """The lower-case, hyphenated Django code of `language` ("zh_Hans" -> "zh-hans")."""
    if not language:
        return DEFAULT_LANGUAGE
    return language.strip().replace("_", "-").lower() or DEFAULT_LANGUAGE


def _candidates(language: str) -> list[str]:
    code = normalise_language(language)
    candidates = [code]
    if "-" in code:
        candidates.append(code.split("-", 1)[0])
    return candidates


def load_item_texts(instrument_id: str, path: Path) -> dict[str, str]:
    """Item id -> full wording from a licensee's file; every key must be an item."""
    return load_language_texts(instrument_id, path).items


def load_language_texts(instrument_id: str, path: Path) -> LanguageTexts:
    """Items' texts and options' labels from a file (flat or `items:`/`options:` format)."""
    return _parse_texts(instrument_id, read_text(path), str(path))


def _parse_texts(instrument_id: str, text: str, origin: str) -> LanguageTexts:
    instrument = get_instrument(instrument_id)
    document = read_yaml(text, origin, expected="YAML or JSON")
    if not isinstance(document, dict):
        raise InstrumentError(f"{origin}: expected a mapping from item id to text")
    structured = bool(document) and set(document) <= {"items", "options"}
    if structured:
        items_part = document.get("items") or {}
        options_part = document.get("options") or {}
        if not isinstance(items_part, dict):
            raise InstrumentError(f"{origin}: items: expected a mapping from item id to text")
        if not isinstance(options_part, dict):
            raise InstrumentError(
                f"{origin}: options: expected a mapping from item id to its options' labels"
            )
    else:
        items_part, options_part = document, {}
    items: dict[str, str] = {}
    for item_id, text_ in items_part.items():
        _item(instrument, item_id, origin)
        if not isinstance(text_, str) or not text_.strip():
            raise InstrumentError(f"{origin}: item {item_id}: expected its text, got {text_!r}")
        items[item_id] = text_
    options: dict[str, OptionLabels] = {}
    for item_id, labels in options_part.items():
        item = _item(instrument, item_id, origin)
        if not item.options:
            raise InstrumentError(f"{origin}: item {item_id}: has no options to label")
        if not isinstance(labels, dict):
            raise InstrumentError(
                f"{origin}: item {item_id}: expected a mapping from option value to label"
            )
        checked: OptionLabels = {}
        for raw_value, label in labels.items():
            value = _option_value(item, raw_value)
            if value is None:
                allowed = ", ".join(repr(option.value) for option in item.options)
                raise InstrumentError(
                    f"{origin}: item {item_id}: {raw_value!r} is not one of its options ({allowed})"
                )
            if not isinstance(label, str) or not label.strip():
                raise InstrumentError(
                    f"{origin}: item {item_id}: option {value!r}: expected its label, got {label!r}"
                )
            checked[value] = label
        options[item_id] = checked
    return LanguageTexts(items, options)


def _item(instrument: Any, item_id: object, origin: str) -> Any:
    if not isinstance(item_id, str) or item_id not in instrument.item_map:
        raise InstrumentError(
            f"{origin}: {item_id!r} is not an item of {instrument.id}; "
            f"items are {describe_item_ids(instrument)}"
        )
    return instrument.item_map[item_id]


def _option_value(item: Any, raw: object) -> int | str | None:
    """The option value `raw` names (JSON keys are strings, so "2" names the integer 2)."""
    if raw in item.option_values and type(raw) is not bool:
        return raw  # type: ignore[return-value]
    if isinstance(raw, str) and item.type == "integer":
        try:
            number = int(raw)
        except ValueError:
            return None
        return number if number in item.option_values else None
    return None


def _shipped_directory() -> Any:
    return resources.files("trialdesk.instruments") / "definitions" / "texts"


@cache
def shipped_texts(instrument_id: str, language: str) -> LanguageTexts | None:
    """The shipped labels of `instrument_id` in `language` (None where none ship)."""
    name = f"{instrument_id}.{language}.yaml"
    entry = _shipped_directory() / name
    if not entry.is_file():
        return None
    return _parse_texts(
        instrument_id, entry.read_text(encoding="utf-8"), f"definitions/texts/{name}"
    )


def _licensee_file(instrument_id: str, language: str) -> Path | None:
    directory = os.environ.get(TEXTS_DIRECTORY_VARIABLE)
    if not directory:
        return None
    names = [f"{instrument_id}.{language}.yaml"]
    if language == DEFAULT_LANGUAGE:
        names.insert(0, f"{instrument_id}.yaml")
    for name in names:
        path = Path(directory) / name
        if path.is_file():
            return path
    return None


def _layers(instrument_id: str, language: str) -> list[LanguageTexts]:
    """Texts from least to most specific: shipped English, licensee English, then language."""
    layers: list[LanguageTexts] = []
    codes = [DEFAULT_LANGUAGE]
    for code in reversed(_candidates(language)):
        if code not in codes:
            codes.append(code)
    for code in codes:
        shipped = shipped_texts(instrument_id, code) if code != DEFAULT_LANGUAGE else None
        if shipped is not None:
            layers.append(shipped)
        path = _licensee_file(instrument_id, code)
        if path is not None:
            layers.append(load_language_texts(instrument_id, path))
    return layers


def item_texts(instrument_id: str, language: str = DEFAULT_LANGUAGE) -> dict[str, str]:
    """Item id -> text to show in `language`: a licensee's wording where provided, else the
    shipped label of that language, else English."""
    instrument = get_instrument(instrument_id)
    texts = {item.id: item.label for item in instrument.items}
    for layer in _layers(instrument_id, language):
        texts.update(layer.items)
    return texts


def option_labels(
    instrument_id: str, language: str = DEFAULT_LANGUAGE
) -> dict[str, dict[int | str, str]]:
    """Item id -> option value -> label in `language` (items without options map to {}),
    falling back option by option to English."""
    instrument = get_instrument(instrument_id)
    labels = {
        item.id: {option.value: option.label for option in item.options}
        for item in instrument.items
    }
    for layer in _layers(instrument_id, language):
        for item_id, options in layer.options.items():
            labels[item_id].update(options)
    return labels
