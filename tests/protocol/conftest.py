"""The official ClinicalTrials.gov `Study` schema, as a JSON Schema validator."""

from __future__ import annotations

import pytest

from support.ctgov_schema import study_validator as official_study_validator


@pytest.fixture(scope="session")
def study_validator(shared_dir):
    return official_study_validator(shared_dir / "reference/ctgov/schema/ctg-oas-v2.0.5.yaml")
