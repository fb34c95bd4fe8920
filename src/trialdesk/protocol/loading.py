"""Loading a protocol file: YAML, then the schema, then the cross-checks, one line per problem.

Every problem is reported as `FILE:LINE: field.path: what was expected`, and all problems of a
file are reported together so a designer fixes them in one pass.
"""

from __future__ import annotations

import difflib
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from trialdesk.errors import ProtocolError, UnknownProtocol
from trialdesk.protocol.checks import cross_check
from trialdesk.protocol.model import (
    AGE_PATTERN,
    CRITERION_ID_PATTERN,
    NCT_NUMBER_PATTERN,
    PARTIAL_DATE_PATTERN,
    RATIO_PATTERN,
    SITE_CODE_PATTERN,
    Protocol,
)
from trialdesk.protocol.model_base import IDENTIFIER_PATTERN
from trialdesk.protocol.yamlfile import LocatedDocument, dotted, read_located

Validated = TypeVar("Validated", bound=BaseModel)

PATTERN_MEANINGS = {
    NCT_NUMBER_PATTERN: "an NCT number: 'NCT' and 8 digits",
    IDENTIFIER_PATTERN: "an identifier: a letter, then letters, digits or _",
    CRITERION_ID_PATTERN: "a criterion id: I1.., E1.., AGE or SEX",
    PARTIAL_DATE_PATTERN: "a date yyyy, yyyy-mm or yyyy-mm-dd",
    AGE_PATTERN: "an age such as '40 Years' or '6 Months'",
    SITE_CODE_PATTERN: "a site code of 2-6 capital letters or digits",
    RATIO_PATTERN: "a ratio such as 1:1 or 2:1:1",
}


@cache
def _shipped_ids() -> tuple[str, ...]:
    folder = resources.files("trialdesk.protocols")
    return tuple(
        sorted(
            entry.name.removesuffix(".yaml")
            for entry in folder.iterdir()
            if entry.name.endswith(".yaml")
        )
    )


def shipped_protocol_ids() -> list[str]:
    """Ids of the protocol files that ship with trialdesk, e.g. ['NCT04208646', ...]."""
    return list(_shipped_ids())


def protocol_source(reference: str | Path) -> tuple[str, str]:
    """(display name, YAML text) for a shipped protocol id or a path to a protocol file."""
    reference = str(reference)
    if reference in _shipped_ids():
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
        except OSError as error:
            raise UnknownProtocol(f"{path}: cannot read ({error.strerror})") from None
    known = ", ".join(_shipped_ids())
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
    return validated_protocol(document)


def validated_protocol(document: LocatedDocument) -> Protocol:
    """The protocol in `document` after the schema and the cross-checks, or ProtocolError.

    Cross-check problems are looked for only in a document that passed the schema, since
    they read the validated model.
    """
    protocol = validated(Protocol, document)
    problems = [
        f"{document.where(path)}: {dotted(path)}: {message}"
        for path, message in cross_check(protocol)
    ]
    if problems:
        raise ProtocolError(problems)
    return protocol


def validated(model: type[Validated], document: LocatedDocument) -> Validated:
    """`document` as a `model`, or ProtocolError with every problem once, in file-line order."""
    try:
        return model.model_validate(document.data)
    except ValidationError as error:
        located = dict.fromkeys(
            (document.line_of(path), f"{document.where(path)}: {dotted(path)}: {message}")
            for path, message in validation_problems(error, document.data, model)
        )
        raise ProtocolError([problem for _, problem in sorted(located)]) from None


def validation_problems(
    error: ValidationError, data: Any, model: type[BaseModel]
) -> list[tuple[tuple, str]]:
    """Each pydantic error of validating `data` as `model`: (path into `data`, plain message)."""
    problems = []
    for detail in error.errors():
        path = _data_path(detail["loc"], data)
        problems.append((path, _plain_message(detail, path, model)))
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


def _plain_message(detail: dict, path: tuple, model: type[BaseModel]) -> str:
    kind = detail["type"]
    context = detail.get("ctx") or {}
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return f"unknown field{_suggestion(path, model)}"
    if kind == "greater_than" and context.get("gt") == 0:
        return (
            "must be a positive integer" if _is_int_field(path, model) else "must be greater than 0"
        )
    if kind == "string_pattern_mismatch":
        pattern = context.get("pattern", "")
        return f"must be {PATTERN_MEANINGS.get(pattern, f'text matching {pattern}')}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "must be an integer"
    if kind in ("float_type", "float_parsing"):
        return "must be a number"
    if kind in ("bool_type", "bool_parsing"):
        return "must be true or false"
    if kind == "string_type":
        return "must be text"
    if kind == "list_type":
        return "must be a list"
    if kind in ("dict_type", "model_type"):
        return "must be a mapping of fields"
    if kind in ("enum", "literal_error"):
        expected = context.get("expected", "")
        return f"must be one of {expected}"
    if kind == "value_error":
        return str(context.get("error", detail["msg"]))
    message = detail["msg"]
    return message[0].lower() + message[1:]


def _suggestion(path: tuple, root: type[BaseModel]) -> str:
    """For an unknown field, name the closest allowed field of that part of the model."""
    model = _model_holding(path, root)
    if model is None:
        return ""
    allowed = list(model.model_fields)
    close = difflib.get_close_matches(str(path[-1]), allowed, n=1)
    return f" (did you mean '{close[0]}'?)" if close else f" (allowed: {', '.join(allowed)})"


def _is_int_field(path: tuple, root: type[BaseModel]) -> bool:
    model = _model_holding(path, root)
    field = model.model_fields.get(str(path[-1])) if model and path else None
    return field is not None and field.annotation is int


def _model_holding(path: tuple, root: type[BaseModel]) -> type[BaseModel] | None:
    """The model class (`root` or a part of it) that declares the last field of `path`."""
    model = root
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
