"""YAML reading that remembers where every value came from, and YAML writing for drafts.

Validation messages must name the file line of the offending field, so the document is
composed into nodes first and every mapping key and sequence item is indexed by its path.
The resolver is stricter than YAML 1.1: only `true`/`false` are booleans (a country code
`NO` stays a string) and dates stay strings (registry dates are partial, like `2023-10`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from trialdesk.errors import ProtocolError

Path = tuple[str | int, ...]


class StrictLoader(yaml.SafeLoader):
    """SafeLoader without YAML 1.1's yes/no/on/off booleans and without timestamps."""


_DROPPED_TAGS = ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")
StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _DROPPED_TAGS]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


@dataclass(frozen=True)
class LocatedDocument:
    """A parsed YAML document and the line (1-based) of every key and item in it.

    A document built in memory (a registry import) has no lines; its places are its name.
    """

    filename: str
    data: Any
    lines: dict[Path, int] = field(default_factory=dict)

    def line_of(self, path: Path) -> int:
        """The line of `path`, or of its nearest ancestor that is in the file."""
        for length in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:length]))
            if line is not None:
                return line
        return 1

    def where(self, path: Path) -> str:
        if not self.lines:
            return self.filename
        return f"{self.filename}:{self.line_of(path)}"


def dotted(path: Path) -> str:
    """('arms', 2, 'weight') -> 'arms[2].weight'."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(document)"


def read_located(text: str, filename: str) -> LocatedDocument:
    """Parse YAML text into data plus a line index; syntax errors become ProtocolError."""
    loader = StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ProtocolError([f"{filename}:1: (document): the file is empty"])
        problems: list[str] = []
        lines: dict[Path, int] = {(): node.start_mark.line + 1}
        _index(node, (), lines, problems, filename)
        if problems:
            raise ProtocolError(problems)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        raise ProtocolError(
            [f"{filename}:{line}: (document): YAML syntax: {error.problem}"]
        ) from None
    finally:
        loader.dispose()
    return LocatedDocument(filename, data, lines)


_TEXT_KEY_TAGS = ("tag:yaml.org,2002:str", "tag:yaml.org,2002:merge")


def _index(node: yaml.Node, path: Path, lines: dict, problems: list[str], filename: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in _TEXT_KEY_TAGS:
                problems.append(
                    f"{filename}:{line}: {dotted(path)}: a field name must be text, "
                    f"not {_node_kind(key_node)}"
                )
                continue
            key = key_node.value
            if key in seen:
                problems.append(
                    f"{filename}:{line}: {dotted((*path, key))}: "
                    f"duplicate key (first at line {seen[key]})"
                )
            seen[key] = line
            lines[(*path, key)] = line
            _index(value_node, (*path, key), lines, problems, filename)
    elif isinstance(node, yaml.SequenceNode):
        for position, item in enumerate(node.value):
            lines[(*path, position)] = item.start_mark.line + 1
            _index(item, (*path, position), lines, problems, filename)


def _node_kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return f"{node.tag.rsplit(':', 1)[-1]} {node.value!r} (quote it)"


class _DraftDumper(yaml.SafeDumper):
    """Block style, keys in model order, long texts as literal blocks."""


def _represent_text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_DraftDumper.add_representer(str, _represent_text)


def dump_yaml(data: Any) -> str:
    return yaml.dump(
        data, Dumper=_DraftDumper, sort_keys=False, allow_unicode=True, width=100, indent=2
    )
