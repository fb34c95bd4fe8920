"""What every part of the protocol model is built on: the frozen base and the identifier
type (apart from `model`, so that sections kept in their own modules can use them)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

IDENTIFIER_PATTERN = r"^[A-Za-z][A-Za-z0-9_]*$"

Identifier = Annotated[
    str,
    Field(pattern=IDENTIFIER_PATTERN, max_length=40, description="letters, digits, _"),
]


class Frozen(BaseModel):
    """Base of every protocol part: immutable, and unknown fields are an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")
