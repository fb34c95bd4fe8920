"""Fixtures every test area may use."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# Test and benchmark machinery (the throwaway PostgreSQL, the HTTP load client) lives in
# tests/support/, outside the installed package: `from support.throwaway import ...`.
sys.path.insert(0, str(Path(__file__).parent))

SHARED = Path(os.environ.get("TRIALDESK_SHARED", Path(__file__).resolve().parents[2] / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The project's shared/ folder (seeds and third-party reference files) beside the repo.

    CI always has it; a developer clone without it skips these tests with the reason.
    """
    if SHARED.is_dir():
        return SHARED
    if os.environ.get("CI"):
        pytest.fail(f"{SHARED} is missing: CI must run with shared/ beside the repository")
    pytest.skip(f"needs {SHARED} (set TRIALDESK_SHARED to the shared/ folder)")
