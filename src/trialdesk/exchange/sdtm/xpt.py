"""SAS transport (XPORT) version 5, written record by record (SAS TS-140).

pyreadstat writes XPT only from a whole pandas frame, which would hold a domain of a large
study in memory, so the file is written here as TS-140 ("The record layout of a data set in
SAS transport (XPORT) format") lays it out: 80-byte header records, one 140-byte NAMESTR per
variable, then the observations at a fixed width, the last record padded with blanks.
Numbers are IBM System/370 doubles (8 bytes, big-endian), a missing number is "." (0x2E)
followed by zeros; character values are UTF-8, padded with blanks.

A character variable is as wide as the longest value written (in bytes, at least 1), as
pyreadstat makes it, so the widths must be known before the first observation: `add` measures
each row as the domain is written to Dataset-JSON, and `write` then takes the rows again
(read back from the Dataset-JSON file one at a time). Integers and floats are SAS numbers,
dates ISO 8601 text as SDTM has them. The version 5 limits (8-character names, 40-character
labels, 200-byte values) are kept by the declarations (`domain.Variable`) and checked here.
The header's dates are the export's instant, so the file does not depend on when it is made.
"""

from __future__ import annotations

import datetime as dt
import math
import struct
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from trialdesk.errors import TrialdeskError
from trialdesk.exchange.sdtm.domain import VALUE_LIMIT, Domain, Row, Variable

RECORD = 80
NAMESTR_LENGTH = 140
NUMBER_WIDTH = 8
NUMERIC, CHARACTER = 1, 2
MISSING = b"." + bytes(7)
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
#: The release and system fields SAS (and pyreadstat) write in the library and member headers.
SAS_VERSION, SAS_SYSTEM = "6.06", "bsd4.2"


def _header(kind: str, numbers: str = "0" * 30) -> bytes:
    return f"HEADER RECORD*******{kind:<8}HEADER RECORD!!!!!!!{numbers}  ".encode("ascii")


def _field(value: str, width: int) -> bytes:
    """An ASCII header field of `width` bytes, padded with blanks."""
    if not value.isascii() or len(value) > width:
        raise TrialdeskError(f"XPT: {value!r} is not ASCII text of at most {width} characters")
    return value.encode("ascii").ljust(width, b" ")


def sas_datetime(moment: dt.datetime) -> str:
    """ddMMMyy:hh:mm:ss in UTC, as the headers hold it (06DEC26:22:52:12)."""
    utc = moment.astimezone(dt.UTC)
    return f"{utc:%d}{MONTHS[utc.month - 1]}{utc:%y:%H:%M:%S}"


def ibm_double(value: float | None) -> bytes:
    """`value` as an IBM System/370 double: sign bit, excess-64 exponent of 16, 56-bit
    fraction. Every IEEE double of the IBM range converts exactly (53 bits fit in 56 even
    after the shift to a power of 16)."""
    if value is None or math.isnan(value):
        return MISSING
    if value == 0:
        return bytes(8)
    mantissa, exponent = math.frexp(abs(value))  # abs(value) = mantissa * 2**exponent
    power = -(-exponent // 4)  # of 16: the fraction mantissa / 2**shift is in [1/16, 1)
    shift = 4 * power - exponent
    if not 0 <= power + 64 <= 127:
        raise TrialdeskError(f"XPT: {value!r} is outside the range of an IBM double")
    fraction = int(math.ldexp(mantissa, 56 - shift))
    sign = 0x80 if value < 0 else 0
    return bytes([sign | (power + 64)]) + fraction.to_bytes(7, "big")


def _number(value: float | None) -> bytes:
    return ibm_double(None if value is None else float(value))


def _character(value: object) -> bytes:
    return str(value).encode("utf-8") if value is not None else b""


class XptFile:
    """One dataset as XPT v5: `add` each row as it is written elsewhere, then `write` the rows
    again (each a list of values in the order of the domain's variables)."""

    def __init__(self, path: Path, domain: Domain, created: dt.datetime) -> None:
        self.path = path
        self.domain = domain
        self.created = created
        self.widths = {variable.name: 1 for variable in domain.variables if not variable.numeric}

    def add(self, row: Row) -> None:
        for name, width in self.widths.items():
            length = len(_character(row[name]))
            if length > width:
                if length > VALUE_LIMIT:
                    raise TrialdeskError(
                        f"XPT {self.domain.name}.{name}: {row[name]!r} is longer than "
                        f"{VALUE_LIMIT} bytes, the version 5 limit"
                    )
                self.widths[name] = length

    def write(self, rows: Iterable[Sequence[object]]) -> None:
        variables = self.domain.variables
        encoders = [self._encoder(variable) for variable in variables]
        with self.path.open("wb") as file:
            file.write(self._headers())
            written = 0
            for values in rows:
                observation = b"".join(
                    encode(value) for encode, value in zip(encoders, values, strict=True)
                )
                file.write(observation)
                written += len(observation)
            file.write(b" " * (-written % RECORD))

    def _encoder(self, variable: Variable) -> Callable[[Any], bytes]:
        if variable.numeric:
            return _number
        width = self.widths[variable.name]
        return lambda value: _character(value).ljust(width, b" ")

    def _width(self, variable: Variable) -> int:
        return NUMBER_WIDTH if variable.numeric else self.widths[variable.name]

    def _headers(self) -> bytes:
        stamp = sas_datetime(self.created).encode("ascii")
        domain = self.domain
        library = (
            _header("LIBRARY")
            + _field("SAS", 8) * 2
            + _field("SASLIB", 8)
            + _field(SAS_VERSION, 8)
            + _field(SAS_SYSTEM, 8)
            + b" " * 24
            + stamp
            + stamp.ljust(RECORD, b" ")
        )
        member = (
            _header("MEMBER", f"{0:017d}160{0:07d}{NAMESTR_LENGTH}")
            + _header("DSCRPTR")
            + _field("SAS", 8)
            + _field(domain.name, 8)
            + _field("SASDATA", 8)
            + _field(SAS_VERSION, 8)
            + _field(SAS_SYSTEM, 8)
            + b" " * 24
            + stamp
            + stamp
            + b" " * 16
            + _field(domain.label, 40)
            + b" " * 8
        )
        namestrs = b"".join(self._namestrs())
        return (
            library
            + member
            + _header("NAMESTR", f"{0:06d}{len(domain.variables):04d}{0:020d}")
            + namestrs
            + b" " * (-len(namestrs) % RECORD)
            + _header("OBS")
        )

    def _namestrs(self) -> Iterable[bytes]:
        position = 0
        for number, variable in enumerate(self.domain.variables, start=1):
            numeric = variable.numeric
            width = self._width(variable)
            yield (
                struct.pack(">hhhh", NUMERIC if numeric else CHARACTER, 0, width, number)
                + _field(variable.name, 8)
                + _field(variable.label, 40)
                + _field("", 8)  # no format
                + struct.pack(">hhh", 0, 0, 1 if numeric else 0)  # justification: right
                + bytes(2)
                + _field("", 8)  # no informat
                + struct.pack(">hhi", 0, 0, position)
                + bytes(52)
            )
            position += width
