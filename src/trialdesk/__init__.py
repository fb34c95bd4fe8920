"""trialdesk: run randomized, blinded clinical trials from a protocol file to a locked database."""

__version__ = "0.1.0"
