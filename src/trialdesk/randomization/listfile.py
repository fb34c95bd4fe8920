"""The CSV form of an allocation list: writing ours, reading and checking a statistician's.

Columns: one per stratification factor (any name), `seq`, `arm`, and optionally `block` and
`block_size`. One row per slot. Within each stratum `seq` runs 1, 2, ... n without gaps (the
order in which the stratum's slots are used); rows may come in any order.

Rows are numbered as in a spreadsheet: the header is row 1, the first slot row 2.
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from trialdesk.errors import RandomizationError
from trialdesk.randomization.blocks import AllocationList, StratumList
from trialdesk.randomization.design import (
    Arm,
    Stratum,
    check_arms,
    describe_stratum,
    ratio_text,
    total_weight,
    whole_number,
)
from trialdesk.randomization.kits import KitList

IMPORTED = "imported-csv"
FORMAT_VERSION = "1"
SLOT_COLUMNS = ("seq", "arm", "block", "block_size")
#: Enough problems to fix a file in a few rounds without flooding the terminal.
MOST_PROBLEMS = 20


def write_allocation_csv(allocation_list: AllocationList, stream: TextIO) -> None:
    """Write the list, one row per slot, strata in list order (block columns if known)."""
    blocks = allocation_list.strata[0].block is not None
    sizes = allocation_list.strata[0].block_size is not None
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(
        [*allocation_list.factor_ids, "seq", "arm"]
        + (["block"] if blocks else [])
        + (["block_size"] if sizes else [])
    )
    for stratum_list in allocation_list.strata:
        levels = [level for _, level in stratum_list.stratum]
        for slot in stratum_list.slots(allocation_list.arm_ids):
            writer.writerow(
                [*levels, slot.seq, slot.arm]
                + ([slot.block] if blocks else [])
                + ([slot.block_size] if sizes else [])
            )


def write_kit_csv(kit_list: KitList, factor_ids: Sequence[str], stream: TextIO) -> None:
    """Write the kit map (unblinded), by kit number; spare kits have empty slot columns."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(["kit_number", "arm", *factor_ids, "seq", "administration"])
    for kit in kit_list.kits:
        levels = [level for _, level in kit.stratum] if kit.stratum is not None else []
        levels += [""] * (len(factor_ids) - len(levels))
        writer.writerow([kit.kit_number, kit.arm, *levels, kit.seq or "", kit.administration or ""])


@dataclass(frozen=True)
class _Row:
    line: int
    stratum: Stratum
    seq: int
    arm: str
    block: int | None
    block_size: int | None


def read_allocation_csv(path: Path, arms: Sequence[Arm]) -> AllocationList:
    """Read and check a list; every problem names its row and column. Returns an AllocationList.

    Checks: required columns, whole numbers, known arms, no duplicate seq in a stratum, seq
    1..n without gaps in each stratum, and when `block` is given: each block's rows are
    consecutive, its size matches `block_size` (if given) and it holds the exact ratio.
    """
    arms = check_arms(arms, "--arms")
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as error:
        raise RandomizationError(f"{name}: cannot read ({error.strerror})") from None
    except UnicodeDecodeError:
        raise RandomizationError(f"{name}: not UTF-8 text") from None
    reader = csv.reader(io.StringIO(text))
    header = [column.strip() for column in next(reader, [])]
    _check_header(name, header)
    problems: list[str] = []
    rows = _parse_rows(name, header, reader, {arm.id for arm in arms}, problems)
    if not rows and not problems:
        problems.append(f"{name}: no slot rows after the header")
    by_stratum: dict[Stratum, list[_Row]] = defaultdict(list)
    for row in rows:
        by_stratum[row.stratum].append(row)
    for stratum, stratum_rows in by_stratum.items():
        stratum_rows.sort(key=lambda row: row.seq)
        _check_sequence(name, stratum, stratum_rows, problems)
        if "block" in header:
            _check_blocks(name, stratum, stratum_rows, arms, problems)
    if problems:
        extra = len(problems) - MOST_PROBLEMS
        shown = problems[:MOST_PROBLEMS] + ([f"{name}: ... and {extra} more"] if extra > 0 else [])
        raise RandomizationError("\n".join(shown))
    arm_ids = [arm.id for arm in arms]
    has_blocks = "block" in header
    has_sizes = "block_size" in header
    return AllocationList(
        algorithm=IMPORTED,
        version=FORMAT_VERSION,
        seed=None,
        arms=arms,
        factor_ids=tuple(column for column in header if column not in SLOT_COLUMNS),
        strata=tuple(
            StratumList(
                stratum=stratum,
                arm_index=np.array([arm_ids.index(row.arm) for row in rows], dtype=np.int8),
                block=np.array([row.block for row in rows]) if has_blocks else None,
                block_size=np.array([row.block_size for row in rows]) if has_sizes else None,
            )
            for stratum, rows in by_stratum.items()
        ),
    )


def _check_header(name: str, header: list[str]) -> None:
    if not header:
        raise RandomizationError(f"{name}: empty file; expected a header row")
    for column in ("seq", "arm"):
        if column not in header:
            raise RandomizationError(
                f"{name}, row 1: no column {column!r}; expected stratum columns, seq, arm "
                "and optionally block, block_size"
            )
    for column, count in Counter(header).items():
        if count > 1 or not column:
            raise RandomizationError(f"{name}, row 1: column {column!r} is not unique or empty")
    if "block_size" in header and "block" not in header:
        raise RandomizationError(f"{name}, row 1: column 'block_size' needs a 'block' column")


def _parse_rows(
    name: str, header: list[str], reader, arm_ids: set[str], problems: list[str]
) -> list[_Row]:
    factor_columns = [column for column in header if column not in SLOT_COLUMNS]
    first_row: dict[tuple[Stratum, int], int] = {}
    rows = []
    for line, values in enumerate(reader, 2):
        if not any(value.strip() for value in values):
            continue
        if len(values) != len(header):
            problems.append(f"{name}, row {line}: {len(values)} cells; expected {len(header)}")
            continue
        cells = dict(zip(header, (value.strip() for value in values), strict=True))
        row_problems = len(problems)
        for column in factor_columns:
            if not cells[column]:
                problems.append(f"{name}, row {line}, column {column!r}: empty stratum level")
        seq = _whole_number(name, line, "seq", cells["seq"], problems)
        if cells["arm"] not in arm_ids:
            problems.append(
                f"{name}, row {line}, column 'arm': unknown arm {cells['arm']!r}; "
                f"expected one of {', '.join(sorted(arm_ids))}"
            )
        block = _whole_number(name, line, "block", cells.get("block"), problems)
        block_size = _whole_number(name, line, "block_size", cells.get("block_size"), problems)
        if len(problems) > row_problems or seq is None:
            continue
        stratum = tuple((column, cells[column]) for column in factor_columns)
        if (stratum, seq) in first_row:
            problems.append(
                f"{name}, row {line}, column 'seq': duplicate seq {seq} in stratum "
                f"{describe_stratum(stratum)} (first at row {first_row[(stratum, seq)]})"
            )
            continue
        first_row[(stratum, seq)] = line
        rows.append(_Row(line, stratum, seq, cells["arm"], block, block_size))
    return rows


def _whole_number(
    name: str, line: int, column: str, text: str | None, problems: list[str]
) -> int | None:
    if text is None:
        return None
    number = whole_number(text)
    if number is None or number < 1:
        problems.append(
            f"{name}, row {line}, column {column!r}: {text!r} is not a whole number >= 1"
        )
        return None
    return number


def _check_sequence(name: str, stratum: Stratum, rows: list[_Row], problems: list[str]) -> None:
    present = {row.seq for row in rows}
    missing = [seq for seq in range(1, rows[-1].seq + 1) if seq not in present]
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        problems.append(
            f"{name}, column 'seq': stratum {describe_stratum(stratum)} has gaps: no seq "
            f"{shown} (expected 1..{rows[-1].seq} without gaps)"
        )


def _check_blocks(
    name: str, stratum: Stratum, rows: list[_Row], arms: Sequence[Arm], problems: list[str]
) -> None:
    unit = total_weight(arms)
    blocks: dict[int | None, list[_Row]] = {}
    for previous, row in zip([None, *rows], rows, strict=False):
        resumed = previous is not None and row.block != previous.block and row.block in blocks
        if resumed:
            problems.append(
                f"{name}, row {row.line}, column 'block': block {row.block} of stratum "
                f"{describe_stratum(stratum)} resumes after another block; its slots must be "
                "consecutive in seq"
            )
        blocks.setdefault(row.block, []).append(row)
    for number, block_rows in blocks.items():
        size = len(block_rows)
        where = f"{name}, rows {_lines(block_rows)}"
        stated = {row.block_size for row in block_rows if row.block_size is not None}
        if stated and stated != {size}:
            problems.append(
                f"{where}, column 'block_size': block {number} of stratum "
                f"{describe_stratum(stratum)} has {size} slots, block_size says "
                f"{', '.join(map(str, sorted(stated)))}"
            )
        counts = Counter(row.arm for row in block_rows)
        expected = {arm.id: arm.weight * size / unit for arm in arms}
        if any(counts[arm.id] != expected[arm.id] for arm in arms):
            held = ", ".join(f"{arm.id} {counts[arm.id]}" for arm in arms)
            problems.append(
                f"{where}, column 'arm': block {number} of stratum {describe_stratum(stratum)} "
                f"holds {held}; expected the ratio {ratio_text(arms)} exactly"
            )


def _lines(rows: list[_Row]) -> str:
    lines = sorted(row.line for row in rows)
    return f"{lines[0]}-{lines[-1]}" if len(lines) > 1 else str(lines[0])
