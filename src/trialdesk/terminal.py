"""What every CLI command shares: one-line errors, the --json option and JSON output, --out files.

Kept apart from `cli.py` so that area modules can use it without importing each other.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import typer

from trialdesk.errors import BadInput, TrialdeskError

F = TypeVar("F", bound=Callable[..., Any])

JSON_OPTION = typer.Option(False, "--json", help="Print one JSON document and nothing else.")


def json_text(document: Any) -> str:
    """One JSON document as the CLI prints it: indented, Unicode kept, a final newline."""
    return json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n"


def print_json(document: Any) -> None:
    """Print one JSON document on stdout and nothing else."""
    sys.stdout.write(json_text(document))


def write_output(text: str, out: Path | None) -> None:
    """Write `text` to the file `out`, or to stdout when there is none.

    A file that cannot be written is bad input (the --out argument), not a traceback.
    """
    if out is None:
        sys.stdout.write(text)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as error:
        raise BadInput(f"{out}: cannot write ({error.strerror})") from None


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
