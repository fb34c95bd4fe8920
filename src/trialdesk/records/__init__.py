"""Each kind of record's fields, declared once: names, kinds, codes with their labels.

The store's model and audit state, the services' checks, the REST API's schemas and rows,
the extract, the analysis datasets, the web pages' vocabularies and the exporters read a
record's fields from its declaration here (`adverse_event.ADVERSE_EVENT`), so a field added
or a code renamed is one change. No Django: the core's analysis and exporters import it.

Labels are English; `gettext_noop` marks them for `make messages` (the catalogue in
`records/locale`), and the web pages show them translated.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["text", "date", "datetime", "integer", "boolean", "code", "codes"]


def gettext_noop(message: str) -> str:
    """Marks `message` for translation (xgettext's keyword); the text itself is unchanged."""
    return message


@dataclass(frozen=True)
class Code:
    """One value of a coded field, with its label; `value` as stored (str, int or bool)."""

    value: Any
    label: str
    #: A text name for a value that is not text (True is "expected"), as a form sends it.
    name: str = ""


@dataclass(frozen=True)
class RecordField:
    """One field: `kind` says its type; `code`: one of `codes`, `codes`: a list of them (each
    once, in the codes' order); `optional`: may be empty (None); `reported`: the site enters
    it (else the store sets it)."""

    name: str
    kind: Kind
    label: str
    codes: tuple[Code, ...] = ()
    optional: bool = False
    reported: bool = True
    max_length: int | None = None

    @property
    def values(self) -> tuple[Any, ...]:
        return tuple(code.value for code in self.codes)

    def label_of(self, value: Any) -> str:
        """The label of a code (the value itself when it is not one)."""
        return next((code.label for code in self.codes if code.value == value), str(value))


@dataclass(frozen=True)
class Record:
    """A kind of record: its fields in the order the store keeps them."""

    name: str
    fields: tuple[RecordField, ...]

    def __iter__(self) -> Iterator[RecordField]:
        return iter(self.fields)

    def __getitem__(self, name: str) -> RecordField:
        for declared in self.fields:
            if declared.name == name:
                return declared
        raise KeyError(f"{self.name} has no field {name!r}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(declared.name for declared in self.fields)

    @property
    def reported(self) -> tuple[str, ...]:
        """The fields a site enters and may correct."""
        return tuple(declared.name for declared in self.fields if declared.reported)

    @property
    def coded(self) -> tuple[RecordField, ...]:
        """The fields of one text code each (kind "code" with text values)."""
        return tuple(
            declared
            for declared in self.fields
            if declared.kind == "code" and all(isinstance(v, str) for v in declared.values)
        )
