"""How an SDTM dataset is declared: its variables once, with everything each format needs.

A `Domain` names its variables (name, label, type, role, core, codelist, origin) and a
function giving its rows from a `Tabulation` (the study's facts every domain shares).
Dataset-JSON, XPT and define.xml are all written from these declarations, so a variable's
label or codelist is stated in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import groupby
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from trialdesk.exchange.sdtm.tabulation import Tabulation
    from trialdesk.exchange.sdtm.terminology import SponsorTerm

VariableType = Literal["text", "integer", "float", "date"]
Core = Literal["Req", "Exp", "Perm"]
Row = dict[str, Any]

#: XPT version 5 limits (SAS TS-140): names, labels and character values (in bytes).
NAME_LIMIT = 8
LABEL_LIMIT = 40
VALUE_LIMIT = 200


@dataclass(frozen=True)
class Variable:
    name: str
    label: str
    type: VariableType
    role: str  # SDTM role: Identifier, Topic, Timing, Grouping/Record/Result/Synonym Qualifier
    core: Core
    length: int = 200  # of a text value (Dataset-JSON length, define.xml Length)
    codelist: str | None = None  # a CDISC codelist (terminology.tsv) the values come from
    sponsor_codelist: bool = False  # the values form a sponsor-defined codelist (no CDISC one)
    origin: str = "Collected"  # define.xml def:Origin Type

    @property
    def numeric(self) -> bool:
        """A number (SAS numeric, null when missing); else text ("" when missing)."""
        return self.type in ("integer", "float")

    def __post_init__(self) -> None:
        if len(self.name) > NAME_LIMIT or len(self.label) > LABEL_LIMIT:
            raise ValueError(f"{self.name}: name over 8 or label over 40 characters")


@dataclass(frozen=True)
class Domain:
    name: str
    label: str
    observation_class: str  # define.xml def:Class: SPECIAL PURPOSE, EVENTS, FINDINGS...
    structure: str
    keys: tuple[str, ...]
    variables: tuple[Variable, ...]
    rows: Callable[[Tabulation], Iterable[Row]]
    sponsor_terms: tuple[SponsorTerm, ...] = ()
    #: A variable whose codelist depends on another variable's value in the same row:
    #: {variable: (that variable, {its value: codelist})}, e.g. DSDECOD by DSCAT.
    row_codelists: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)

    def codelist_of(self, variable: Variable, row: Row) -> str | None:
        """The CDISC codelist of `variable`'s value in `row` (None: no CDISC codelist)."""
        if variable.name in self.row_codelists:
            by, codelists = self.row_codelists[variable.name]
            return codelists.get(row[by])
        return variable.codelist

    def variable(self, name: str) -> Variable:
        return next(v for v in self.variables if v.name == name)


def numbered(rows: Iterable[Row], sequence: str) -> Iterator[Row]:
    """`rows` with `sequence` (--SEQ) counted 1, 2, ... within each USUBJID, in row order."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["USUBJID"]] = counts.get(row["USUBJID"], 0) + 1
        yield {**row, sequence: counts[row["USUBJID"]]}


def flag_last_before_exposure(
    rows: Iterable[Row], first_exposure: Callable[[str], str], prefix: str, keys: tuple[str, ...]
) -> Iterator[Row]:
    """`rows` (in subject order) with --LOBXFL "Y" on each subject's last row per test (`keys`)
    that has a result and is dated on or before the first exposure (`first_exposure(USUBJID)`,
    an ISO date, "" when never exposed), as SDTMIG 3.4 defines the flag."""
    flag, result, dated = f"{prefix}LOBXFL", f"{prefix}ORRES", f"{prefix}DTC"
    for usubjid, group in groupby(rows, key=lambda row: row["USUBJID"]):
        subject_rows = [{**row, flag: ""} for row in group]
        start = first_exposure(usubjid)
        last: dict[tuple[object, ...], int] = {}
        for position, row in enumerate(subject_rows):
            if start and row[result] != "" and row[dated] != "" and row[dated] <= start:
                last[tuple(row[key] for key in keys)] = position
        for position in last.values():
            subject_rows[position][flag] = "Y"
        yield from subject_rows


def text(value: object, limit: int = VALUE_LIMIT) -> str:
    """A character value: '' for none, cut on a word boundary when longer than `limit` bytes
    of UTF-8 (SAS lengths, and XPT v5's 200, count bytes: a criterion in Chinese is 3 a
    character)."""
    if value is None:
        return ""
    words = " ".join(str(value).split())
    if len(words.encode("utf-8")) <= limit:
        return words
    head = words.encode("utf-8")[:limit].decode("utf-8", errors="ignore")  # whole characters
    if words[len(head)] == " ":
        return head
    return head[: head.rfind(" ")] if " " in head else head
