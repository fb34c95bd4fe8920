"""SAS transport (XPORT) version 5 through pyreadstat, one file per dataset.

pyreadstat writes a whole pandas frame, so unlike Dataset-JSON an XPT dataset is held in
memory until it is written: one domain at a time, never the whole study. Character variables
stay character ("" when missing); integers and floats are SAS numbers (8-byte doubles), dates
ISO 8601 text as SDTM has them. Version 5 limits (8-character names, 40-character labels,
200-character values) are kept by the declarations (`domain.Variable`) and `domain.text`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyreadstat

from trialdesk.exchange.sdtm.domain import Domain, Row


class XptFile:
    """Collects one dataset's rows; `write` writes them as XPT v5."""

    def __init__(self, path: Path, domain: Domain) -> None:
        self.path = path
        self.domain = domain
        self._columns: dict[str, list[object]] = {v.name: [] for v in domain.variables}

    def add(self, row: Row) -> None:
        for name, values in self._columns.items():
            values.append(row[name])

    def write(self) -> None:
        frame = pd.DataFrame(
            {
                variable.name: (
                    pd.Series(self._columns[variable.name], dtype="float64")
                    if variable.type in ("integer", "float")
                    else pd.Series(self._columns[variable.name], dtype="object")
                )
                for variable in self.domain.variables
            }
        )
        pyreadstat.write_xport(
            frame,
            str(self.path),
            file_label=self.domain.label,
            column_labels=[variable.label for variable in self.domain.variables],
            table_name=self.domain.name,
            file_format_version=5,
        )
