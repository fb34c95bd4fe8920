"""The study protocol: its model, loading with file:line errors, and registry interchange.

Names load on first use so that `trialdesk` starts without importing pydantic.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trialdesk.protocol.loading import (
        load_protocol,
        parse_protocol,
        protocol_source,
        shipped_protocol_ids,
    )
    from trialdesk.protocol.model import Protocol

_EXPORTS = {
    "Protocol": "trialdesk.protocol.model",
    "load_protocol": "trialdesk.protocol.loading",
    "parse_protocol": "trialdesk.protocol.loading",
    "protocol_source": "trialdesk.protocol.loading",
    "shipped_protocol_ids": "trialdesk.protocol.loading",
}

__all__ = [
    "Protocol",
    "load_protocol",
    "parse_protocol",
    "protocol_source",
    "shipped_protocol_ids",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'trialdesk.protocol' has no attribute {name!r}")
