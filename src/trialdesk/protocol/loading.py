"""Loading a protocol file: YAML, then the schema, then the cross-checks, one line per problem.

Every problem is reported as `FILE:LINE: field.path: what was expected`, and all problems of a
file are reported together so a designer fixes them in one pass.
"""

from __future__ import annotations

import difflib
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from trialdesk.errors import ProtocolError, UnknownProtocol
from trialdesk.protocol.checks import cross_check
from trialdesk.protocol.model import Protocol
from trialdesk.protocol.yamlfile import LocatedDocument, dotted, read_located

PATTERN_MEANINGS = {
    r"^NCT[0-9]{8}$": "an NCT number: 'NCT' and 8 digits",
    r"^[A-Za-z][A-Za-z0-9_]*$": "an identifier: a letter, then letters, digits or _",
    r"^(I[0-9]+|E[0-9]+|AGE|SEX)$": "a criterion id: I1.., E1.., AGE or SEX",
    r"^[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?$": "a date yyyy, yyyy-mm or yyyy-mm-dd",
    r"^[A-Z0-9]{2,6}$": "a site code of 2-6 capital letters or digits",
    r"^[1-9][0-9]*(:[1-9][0-9]*)+$": "a ratio such as 1:1 or 2:1:1",
}


def shipped_protocol_ids() -> list[str]:
    """Ids of the protocol files that ship with trialdesk, e.g. ['NCT04208646', ...]."""
    folder = resources.files("trialdesk.protocols")
    return sorted(
        entry.name.removesuffix(".yaml")
        for entry in folder.iterdir()
        if entry.name.endswith(".yaml")
    )


def protocol_source(reference: str | Path) -> tuple[str, str]:
    """(display name, YAML text) for a shipped protocol id or a path to a protocol file."""
    reference = str(reference)
    if reference in shipped_protocol_ids():
        entry = resources.files("trialdesk.protocols").joinpath(f"{reference}.yaml")
        return f"{reference}.yaml", entry.read_text(encoding="utf-8")
    path = Path(reference)
    if path.is_file():
        try:
            return str(path), path.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            raise ProtocolError(
                [f"{path}:1: (document): not UTF-8 text ({error.reason})"]
            ) from None
    known = ", ".join(shipped_protocol_ids())
    raise UnknownProtocol(
        f"{reference}: no such protocol file, and not a shipped protocol id (shipped: {known})"
    )


def load_protocol(reference: str | Path) -> Protocol:
    """Load and fully validate a shipped protocol (by id) or a protocol file (by path)."""
    name, text = protocol_source(reference)
    return parse_protocol(text, name)


def parse_protocol(text: str, filename: str) -> Protocol:
    """Validate protocol YAML text; raise ProtocolError listing every problem with its line."""
    document = read_located(text, filename)
    if not isinstance(document.data, dict):
        raise ProtocolError([f"{filename}:1: (document): expected a mapping of protocol fields"])
    try:
        protocol = Protocol.model_validate(document.data)
    except ValidationError as error:
        raise ProtocolError(schema_problems(error, document)) from None
    problems = [
        f"{document.where(path)}: {dotted(path)}: {message}"
        for path, message in cross_check(protocol)
    ]
    if problems:
        raise ProtocolError(problems)
    return protocol


def schema_problems(error: ValidationError, document: LocatedDocument) -> list[str]:
    located = {
        (document.line_of(path), f"{document.where(path)}: {dotted(path)}: {message}")
        for path, message in validation_problems(error, document.data)
    }
    return [problem for _, problem in sorted(located)]


def validation_problems(error: ValidationError, data: Any) -> list[tuple[tuple, str]]:
    """Each pydantic error as (path into `data`, plain message)."""
    problems = []
    for detail in error.errors():
        path = _data_path(detail["loc"], data)
        problems.append((path, _plain_message(detail, path)))
    return problems


def _data_path(loc: tuple, data: Any) -> tuple[str | int, ...]:
    """Keep the parts of a pydantic location that name fields; drop its union/validator tags."""
    path: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(part, int) and isinstance(node, list) and part < len(node):
            path.append(part)
            node = node[part]
        elif isinstance(part, str) and isinstance(node, dict):
            path.append(part)
            node = node.get(part)
        elif isinstance(part, str) and node is None and part.isidentifier():
            path.append(part)
    return tuple(path)


def _plain_message(detail: dict, path: tuple) -> str:
    kind = detail["type"]
    context = detail.get("ctx") or {}
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return f"unknown field{_suggestion(path)}"
    if kind == "greater_than" and context.get("gt") == 0:
        return "must be a positive integer" if _is_int_field(path) else "must be greater than 0"
    if kind == "string_pattern_mismatch":
        pattern = context.get("pattern", "")
        return f"must be {PATTERN_MEANINGS.get(pattern, f'text matching {pattern}')}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "must be an integer"
    if kind in ("float_type", "float_parsing"):
        return "must be a number"
    if kind in ("bool_type", "bool_parsing"):
        return "must be true or false"
    if kind in ("enum", "literal_error"):
        expected = context.get("expected", "")
        return f"must be one of {expected}"
    if kind == "value_error":
        return str(context.get("error", detail["msg"]))
    message = detail["msg"]
    return message[0].lower() + message[1:]


def _suggestion(path: tuple) -> str:
    """For an unknown field, name the closest allowed field of that part of the model."""
    model = _model_holding(path)
    if model is None:
        return ""
    allowed = list(model.model_fields)
    close = difflib.get_close_matches(str(path[-1]), allowed, n=1)
    return f" (did you mean '{close[0]}'?)" if close else f" (allowed: {', '.join(allowed)})"


def _is_int_field(path: tuple) -> bool:
    model = _model_holding(path)
    field = model.model_fields.get(str(path[-1])) if model and path else None
    return field is not None and field.annotation is int


def _model_holding(path: tuple) -> type[BaseModel] | None:
    """The model class that declares the last field of `path`."""
    model: type[BaseModel] = Protocol
    for part in path[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        inner = _model_of(field.annotation) if field else None
        if inner is None:
            return None
        model = inner
    return model


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in getattr(annotation, "__args__", ()):
        found = _model_of(argument)
        if found is not None:
            return found
    return None
