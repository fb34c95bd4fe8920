"""What every CLI command shares: one-line errors, JSON output and Rich tables.

Kept apart from `cli.py` so that area modules can use it without importing each other.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import typer

from trialdesk.errors import TrialdeskError

F = TypeVar("F", bound=Callable[..., Any])


def print_json(document: Any) -> None:
    """Print one JSON document on stdout and nothing else."""
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n")


def fail(message: str, code: int) -> None:
    """Print a one-line error on stderr and exit with `code`."""
    sys.stderr.write(f"error: {message}\n")
    raise typer.Exit(code)


def reports_errors(command: F) -> F:
    """Turn TrialdeskError into one-line messages and its exit code (2 bad input, 1 failure)."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except TrialdeskError as error:
            lines = str(error).splitlines() or [type(error).__name__]
            for line in lines:
                sys.stderr.write(f"error: {line}\n")
            raise typer.Exit(error.exit_code) from None

    return wrapper  # type: ignore[return-value]
