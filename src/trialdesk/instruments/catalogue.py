"""Finding and loading instrument definitions: the shipped `definitions/*.yaml` files.

Definitions are read through importlib.resources so they are found in a wheel as well as
in a source checkout. A definition file that does not validate raises InstrumentError with
one line per problem, each naming the file and the field.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from trialdesk.errors import InstrumentError
from trialdesk.instruments.definition import Instrument

_SUFFIX = ".yaml"


def _definitions() -> Any:
    return resources.files("trialdesk.instruments") / "definitions"


@cache
def _shipped_ids() -> tuple[str, ...]:
    return tuple(
        sorted(
            entry.name.removesuffix(_SUFFIX)
            for entry in _definitions().iterdir()
            if entry.name.endswith(_SUFFIX)
        )
    )


def instrument_ids() -> list[str]:
    """Ids of every shipped instrument, sorted."""
    return list(_shipped_ids())


@cache
def get_instrument(instrument_id: str) -> Instrument:
    """The shipped instrument `instrument_id`."""
    if instrument_id not in _shipped_ids():
        raise InstrumentError(
            f"unknown instrument {instrument_id!r}; instruments are {', '.join(_shipped_ids())}"
        )
    name = f"definitions/{instrument_id}{_SUFFIX}"
    instrument = parse_definition(
        (_definitions() / f"{instrument_id}{_SUFFIX}").read_text(encoding="utf-8"), name
    )
    if instrument.id != instrument_id:
        raise InstrumentError(f"{name}: id is {instrument.id!r}, expected {instrument_id!r}")
    return instrument


def load_definition(path: Path) -> Instrument:
    """An instrument from a definition file outside the package (to try a new one)."""
    return parse_definition(read_text(path), str(path))


def read_text(path: Path) -> str:
    """The UTF-8 text of a file the user named; InstrumentError if it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise InstrumentError(f"{path}: cannot read: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise InstrumentError(f"{path}: not UTF-8 text ({error.reason})") from None


def read_yaml(text: str, origin: str, expected: str = "YAML") -> Any:
    """The YAML document in `text`; a syntax error names `origin`, its line and the problem."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{origin}:{mark.line + 1}" if mark is not None else origin
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise InstrumentError(f"{where}: not valid {expected}: {problem}") from None


def parse_definition(text: str, origin: str) -> Instrument:
    """An instrument from the YAML `text` of a definition; `origin` names it in errors."""
    document = read_yaml(text, origin)
    if not isinstance(document, dict):
        raise InstrumentError(f"{origin}: a definition must be a mapping of fields")
    base_id = document.get("items_from")
    if base_id is not None:
        if "items" in document or "constraints" in document:
            raise InstrumentError(f"{origin}: give either items_from or items, not both")
        if not isinstance(base_id, str):
            raise InstrumentError(
                f"{origin}: items_from: expected an instrument id, not {base_id!r}"
            )
        try:
            base = get_instrument(base_id)
        except InstrumentError as error:
            raise InstrumentError(f"{origin}: items_from: {error}") from None
        document = {**document, "items": list(base.items), "constraints": list(base.constraints)}
    try:
        return Instrument.model_validate(document)
    except ValidationError as error:
        raise InstrumentError(
            "\n".join(
                f"{origin}: {'.'.join(str(part) for part in problem['loc']) or 'definition'}: "
                f"{problem['msg']}"
                for problem in error.errors()
            )
        ) from None
