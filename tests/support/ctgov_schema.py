"""The official ClinicalTrials.gov `Study` schema (an OpenAPI 3.0 document) as a JSON Schema
validator, shared by the registry tests of the protocol and of the results export."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import yaml


def as_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema objects -> JSON Schema: local $defs refs, `nullable` as a null type."""
    if isinstance(node, dict):
        converted = {key: as_json_schema(value) for key, value in node.items()}
        if isinstance(converted.get("$ref"), str):
            converted["$ref"] = converted["$ref"].replace("#/components/schemas/", "#/$defs/")
        if converted.pop("nullable", False) and "type" in converted:
            converted["type"] = [converted["type"], "null"]
        return converted
    if isinstance(node, list):
        return [as_json_schema(item) for item in node]
    return node


def component_schemas(path: Path) -> dict[str, Any]:
    """The document's `components.schemas`, converted (`as_json_schema`)."""
    components = yaml.safe_load(path.read_text(encoding="utf-8"))["components"]["schemas"]
    return as_json_schema(components)


def study_validator(path: Path) -> Callable[[dict], list[str]]:
    """validate(document) -> one "path: message" per error against the `Study` schema."""
    schema = {"$ref": "#/$defs/Study", "$defs": component_schemas(path)}
    validator = jsonschema.Draft7Validator(schema)

    def validate(document: dict) -> list[str]:
        roundtripped = json.loads(json.dumps(document))
        return [
            f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
            for error in validator.iter_errors(roundtripped)
        ]

    return validate
