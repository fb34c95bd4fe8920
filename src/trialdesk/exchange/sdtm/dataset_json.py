"""Dataset-JSON 1.1 (CDISC): one file per dataset, its rows written as they come.

The metadata comes first, then "rows" one array per record, and "records" (the count) last,
so a dataset of any size is written without being held in memory. Each row is a line of its
own, so `written_rows` reads them back one at a time (for the XPT file, written after).
Missing character values are "" and missing numbers null, as in CDISC's example datasets.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from trialdesk.exchange.sdtm.domain import Domain, Row, Variable

DATASET_JSON_VERSION = "1.1.0"
DATA_TYPES = {"text": "string", "integer": "integer", "float": "float", "date": "date"}


def item_oid(domain: Domain, variable: Variable) -> str:
    return f"IT.{domain.name}.{variable.name}"


def column(domain: Domain, variable: Variable) -> dict[str, Any]:
    described: dict[str, Any] = {
        "itemOID": item_oid(domain, variable),
        "name": variable.name,
        "label": variable.label,
        "dataType": DATA_TYPES[variable.type],
    }
    if variable.type == "text":
        described["length"] = variable.length
    if variable.name in domain.keys:
        described["keySequence"] = domain.keys.index(variable.name) + 1
    return described


class DatasetJsonFile:
    """Writes one dataset: `add` each row, then close (a context manager)."""

    def __init__(self, path: Path, domain: Domain, header: dict[str, Any]) -> None:
        self.path = path
        self.domain = domain
        self.records = 0
        self._file: IO[str] = path.open("w", encoding="utf-8")
        metadata = {
            **header,
            "fileOID": f"{header['studyOID']}/{domain.name}",
            "itemGroupOID": f"IG.{domain.name}",
            "name": domain.name,
            "label": domain.label,
            "columns": [column(domain, variable) for variable in domain.variables],
        }
        opening = json.dumps(metadata, ensure_ascii=False)
        self._file.write(opening[:-1] + ', "rows": [')

    def add(self, row: Row) -> None:
        values = [row[variable.name] for variable in self.domain.variables]
        self._file.write(
            ("," if self.records else "") + "\n" + json.dumps(values, ensure_ascii=False)
        )
        self.records += 1

    def __enter__(self) -> DatasetJsonFile:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if kind is None:
            self._file.write(f'\n], "records": {self.records}}}\n')
        self._file.close()


def written_rows(path: Path) -> Iterator[list[Any]]:
    """The rows of a file `DatasetJsonFile` wrote, one at a time, in order: the metadata is
    the first line, each row a line (JSON escapes any line break in a value), then the end."""
    with path.open(encoding="utf-8") as file:
        next(file)
        for line in file:
            if line.startswith("]"):
                return
            yield json.loads(line.rstrip().removesuffix(","))
