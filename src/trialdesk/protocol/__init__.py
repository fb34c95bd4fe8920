"""The study protocol: its model, loading with file:line errors, and registry interchange."""

from trialdesk.protocol.loading import (
    load_protocol,
    parse_protocol,
    protocol_source,
    shipped_protocol_ids,
)
from trialdesk.protocol.model import Protocol

__all__ = ["Protocol", "load_protocol", "parse_protocol", "protocol_source", "shipped_protocol_ids"]
