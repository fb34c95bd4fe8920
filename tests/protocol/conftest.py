"""The official ClinicalTrials.gov `Study` schema, as a JSON Schema validator."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml


def _as_json_schema(node):
    """OpenAPI 3.0 schema objects -> JSON Schema: local $defs refs, `nullable` as a null type."""
    if isinstance(node, dict):
        converted = {key: _as_json_schema(value) for key, value in node.items()}
        if isinstance(converted.get("$ref"), str):
            converted["$ref"] = converted["$ref"].replace("#/components/schemas/", "#/$defs/")
        if converted.pop("nullable", False) and "type" in converted:
            converted["type"] = [converted["type"], "null"]
        return converted
    if isinstance(node, list):
        return [_as_json_schema(item) for item in node]
    return node


@pytest.fixture(scope="session")
def study_validator(shared_dir):
    path = shared_dir / "reference/ctgov/schema/ctg-oas-v2.0.5.yaml"
    components = yaml.safe_load(path.read_text(encoding="utf-8"))["components"]["schemas"]
    schema = {"$ref": "#/$defs/Study", "$defs": _as_json_schema(components)}
    validator = jsonschema.Draft7Validator(schema)

    def validate(document: dict) -> list[str]:
        roundtripped = json.loads(json.dumps(document))
        return [
            f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
            for error in validator.iter_errors(roundtripped)
        ]

    return validate
