"""The registry's eligibility text: one Markdown string <-> criteria with verbatim texts.

Registry texts are usually "Inclusion Criteria:" and "Exclusion Criteria:" headings over bullet
or numbered lists, sometimes with free paragraphs between the items. Each bullet, numbered item
or free paragraph becomes one criterion; a line that continues an item (no blank line before
it, no bullet) stays part of that item. Markdown escapes (`\\<`) are undone, since the
criterion text is the words, not their Markdown spelling.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

HEADING = re.compile(
    r"^\s*(?:#+\s*)?(?:\*\*)?\s*(?:key\s+|main\s+|general\s+)?"
    r"(inclusion|exclusion)(?:\s+criteria)?\s*(?:\*\*)?\s*:?\s*(?:\*\*)?\s*$",
    re.IGNORECASE,
)
ITEM = re.compile(r"^\s*(?:[*+\-•]|\(?[0-9]{1,3}[.)]|\(?[a-zA-Z][.)])\s+(.*)$")
NUMBERED_NO_SPACE = re.compile(r"^\s*[0-9]{1,3}\.(?=[A-Z])(.*)$")
ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!<>~|])")


def unescape(text: str) -> str:
    return ESCAPE.sub(r"\1", text)


def escape(text: str) -> str:
    return re.sub(r"([\\<>])", r"\\\1", text)


def split_criteria_text(text: str) -> list[dict[str, Any]]:
    """Criteria dicts (id, type, text) in registry order: I1.. for inclusion, E1.. for exclusion."""
    kind = "inclusion"
    found: list[tuple[str, list[str]]] = []
    current: list[str] | None = None
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.rstrip()
        if not line.strip():
            current = None
            continue
        heading = HEADING.match(line)
        if heading:
            kind = heading.group(1).lower()
            current = None
            continue
        item = ITEM.match(line) or NUMBERED_NO_SPACE.match(line)
        if item and item.group(1).strip():
            current = [item.group(1).strip()]
            found.append((kind, current))
        elif current is not None:
            current.append(line.strip())
        else:
            current = [line.strip()]
            found.append((kind, current))
    counters = {"inclusion": 0, "exclusion": 0}
    criteria = []
    for kind, lines in found:
        counters[kind] += 1
        prefix = "I" if kind == "inclusion" else "E"
        criteria.append(
            {"id": f"{prefix}{counters[kind]}", "type": kind, "text": unescape(" ".join(lines))}
        )
    return criteria


def compose_criteria_text(criteria: Sequence[Any]) -> str:
    """The registry's Markdown for criteria objects with `.type` and `.text`."""
    sections = []
    for kind, heading in (
        ("inclusion", "Inclusion Criteria:"),
        ("exclusion", "Exclusion Criteria:"),
    ):
        items = [c.text for c in criteria if c.type == kind]
        if items:
            bullets = "\n".join("* " + escape(" ".join(text.split("\n"))) for text in items)
            sections.append(f"{heading}\n\n{bullets}")
    return "\n\n".join(sections)
