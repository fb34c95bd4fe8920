"""Feasibility screening of a population file: the compiled criteria run in DuckDB.

The cohort (CSV or Parquet, one row per patient) is read once into a typed table `cohort`:
every value is checked against its data item (type, range, codelist) and the first malformed
value, in file order, is reported by row and column. The screening query of `sql.py` then runs
on that table, as `trialdesk eligibility sql` prints it except that its words (`pass`, `fail`,
`unknown`; the verdicts) are DuckDB ENUMs: a result takes one byte instead of a 16-byte string,
compares as an integer, and is written to CSV and Parquet as the same text. The results are
materialised once, copied to the results file, and grouped once for the summary. Rows are
numbered from 1 in file order, not counting the CSV header line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from trialdesk.eligibility.evaluation import ProtocolCriteria, number_text
from trialdesk.eligibility.sql import SQL_TYPES, attestation_column, criteria_select
from trialdesk.errors import EligibilityError

if TYPE_CHECKING:
    from trialdesk.protocol.model import DataItem

ROW = "_row"
RESULTS = ("pass", "fail", "unknown")
VERDICTS = ("eligible", "ineligible", "incomplete")
RESULT_TYPE = "criterion_result"
VERDICT_TYPE = "screen_verdict"
TALLY = "tally"
PATIENTS = "patients"
FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def file_format(path: Path) -> str:
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise EligibilityError(f"{path}: expected a .csv or .parquet file")
    return kind


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# ---------------------------------------------------------------- typing the cohort


@dataclass(frozen=True)
class TypedColumn:
    """How one cohort column becomes typed: its value, and when that value is malformed."""

    name: str
    value: str
    malformed: str
    expected: str


_TEXT_TYPES = ("VARCHAR",)
_INTEGER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER")
_FLOAT_TYPES = ("FLOAT", "DOUBLE", "HUGEINT", "UBIGINT")


def typed_column(name: str, kind: str, raw_type: str, item: DataItem | None) -> TypedColumn:
    """SQL that turns a raw column (text from CSV, or a Parquet type) into its item's type."""
    raw = quoted(name)
    text = raw_type in _TEXT_TYPES
    numeric_raw = (
        raw_type in _INTEGER_TYPES or raw_type in _FLOAT_TYPES or raw_type.startswith("DECIMAL")
    )
    if text:
        raw = f"NULLIF({raw}, '')"
    checks: list[str] = []
    if kind in ("integer", "number"):
        if not (text or numeric_raw):
            raise _wrong_type(name, raw_type, kind)
        double = f"TRY_CAST({raw} AS DOUBLE)" if text or raw_type != "DOUBLE" else raw
        checks.append(f"NOT coalesce(isfinite({double}), FALSE)")
        if kind == "integer":
            if raw_type in _INTEGER_TYPES:
                value = f"CAST({raw} AS BIGINT)"
                checks = []
            else:
                checks.append(f"{double} <> round({double})")
                value = f"CAST({double} AS BIGINT)"
            expected = "an integer"
        else:
            value = double
            expected = "a number"
        if item is not None and item.min is not None:
            checks.append(f"{double} < {item.min!r}")
            expected += f" >= {number_text(item.min)}"
        if item is not None and item.max is not None:
            checks.append(f"{double} > {item.max!r}")
            expected += f" <= {number_text(item.max)}"
    elif kind == "boolean":
        if text:
            value = f"CASE lower(trim({raw})) WHEN 'true' THEN TRUE WHEN 'false' THEN FALSE END"
            checks.append(f"{value} IS NULL")
        elif raw_type == "BOOLEAN":
            value = raw
        else:
            raise _wrong_type(name, raw_type, kind)
        expected = "true or false"
    elif kind == "date":
        if text:
            value = f"TRY_CAST({raw} AS DATE)"
            checks.append(f"NOT regexp_full_match({raw}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}')")
            checks.append(f"{value} IS NULL")
        elif raw_type == "DATE":
            value = raw
        else:
            raise _wrong_type(name, raw_type, kind)
        expected = "a date YYYY-MM-DD"
    else:
        if not text:
            raise _wrong_type(name, raw_type, kind)
        value = raw
        expected = "a string"
        if item is not None and item.codelist is not None:
            checks.append(f"{raw} NOT IN ({', '.join(literal(code) for code in item.codelist)})")
            expected = "one of " + ", ".join(item.codelist)
    malformed = f"{raw} IS NOT NULL AND ({' OR '.join(checks)})" if checks else "FALSE"
    return TypedColumn(name, f"CAST({value} AS {SQL_TYPES[kind]})", malformed, expected)


def _wrong_type(name: str, raw_type: str, kind: str) -> EligibilityError:
    return EligibilityError(f"column {name}: has type {raw_type}, expected {kind} values")


# ---------------------------------------------------------------- the screen


@dataclass(frozen=True)
class CriterionCounts:
    id: str
    type: str
    text: str
    passed: int
    failed: int
    unknown: int
    only_failure: int  # patients this criterion alone makes ineligible
    left: int  # patients not failing this or any earlier criterion: the funnel


@dataclass(frozen=True)
class ScreenReport:
    protocol: str
    patients: int
    eligible: int
    ineligible: int
    incomplete: int
    criteria: tuple[CriterionCounts, ...]
    warnings: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "patients": self.patients,
            "eligible": self.eligible,
            "ineligible": self.ineligible,
            "incomplete": self.incomplete,
            "criteria": {
                c.id: {"pass": c.passed, "fail": c.failed, "unknown": c.unknown}
                for c in self.criteria
            },
        }


def load_cohort(
    connection: duckdb.DuckDBPyConnection, criteria: ProtocolCriteria, path: Path
) -> list[str]:
    """Check the file and create the typed view `cohort` on it; return warnings about columns."""
    is_csv = file_format(path) == "csv"
    if not path.is_file():
        raise EligibilityError(f"{path}: no such file")
    try:
        if is_csv:
            # A table keeps the file's order, so rowid numbers the rows as they are in the file.
            connection.execute(
                f"CREATE TEMP TABLE raw AS SELECT * FROM "
                f"read_csv({literal(str(path))}, header = true, all_varchar = true)"
            )
            source, row = "raw", "rowid + 1"
        else:
            source = f"read_parquet({literal(str(path))}, file_row_number = true)"
            row = "file_row_number + 1"
        described = connection.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
    except duckdb.Error as error:
        raise EligibilityError(f"{path}: cannot be read: {str(error).splitlines()[0]}") from None
    raw_types = {name: raw_type for name, raw_type, *_ in described if name != "file_row_number"}
    if "patient_id" not in raw_types:
        raise EligibilityError(f"{path}: no patient_id column")
    warnings = []
    wanted: dict[str, tuple[str, DataItem | None]] = {
        name: (str(item.type), item) for name, item in criteria.data_items.items()
    }
    for criterion_id in criteria.attestation_ids:
        wanted[attestation_column(criterion_id)] = ("boolean", None)
    absent_items = [name for name in criteria.data_items if name not in raw_types]
    absent_answers = [
        criterion_id
        for criterion_id in criteria.attestation_ids
        if attestation_column(criterion_id) not in raw_types
    ]
    extra = [name for name in raw_types if name != "patient_id" and name not in wanted]
    if absent_items:
        warnings.append(
            f"{path}: no column for {', '.join(absent_items)}: criteria reading them are unknown"
        )
    if absent_answers:
        warnings.append(
            f"{path}: no attest_ column for {', '.join(absent_answers)}: "
            "those attestations are unknown"
        )
    if extra:
        warnings.append(f"{path}: ignored columns {', '.join(extra)}")

    columns = [
        typed_column(name, kind, raw_types[name], item)
        for name, (kind, item) in wanted.items()
        if name in raw_types
    ]
    selected = ["CAST(patient_id AS VARCHAR) AS patient_id"]
    selected += [f"{c.value} AS {quoted(c.name)}" for c in columns]
    selected += [
        f"CAST(NULL AS {SQL_TYPES[kind]}) AS {quoted(name)}"
        for name, (kind, _) in wanted.items()
        if name not in raw_types
    ]
    checks = [("patient_id", "patient_id IS NULL", "a patient id")]
    checks += [(c.name, c.malformed, c.expected) for c in columns if c.malformed != "FALSE"]
    problem = " ".join(f"WHEN {malformed} THEN {literal(name)}" for name, malformed, _ in checks)
    try:
        bad = connection.execute(
            f"SELECT * FROM (SELECT {row} AS {ROW}, CAST(patient_id AS VARCHAR), "
            f"CASE {problem} END AS problem FROM {source}) "
            f"WHERE problem IS NOT NULL ORDER BY {ROW} LIMIT 1"
        ).fetchone()
        connection.execute(f"CREATE TEMP VIEW cohort AS SELECT {', '.join(selected)} FROM {source}")
    except duckdb.Error as error:
        raise EligibilityError(f"{path}: cannot be read: {str(error).splitlines()[0]}") from None
    if bad is not None:
        row_number, patient_id, name = bad
        raw_value = connection.execute(
            f"SELECT CAST({quoted(name)} AS VARCHAR) FROM {source} WHERE {row} = ?", [row_number]
        ).fetchone()
        expected = next(e for checked, _, e in checks if checked == name)
        shown = "nothing" if raw_value is None or raw_value[0] is None else repr(raw_value[0])
        patient = f" (patient {patient_id})" if patient_id is not None else ""
        raise EligibilityError(
            f"{path}: row {row_number}{patient}, column {name}: expected {expected}, got {shown}"
        )
    return warnings


def write_results(connection: duckdb.DuckDBPyConnection, query: str, out: Path) -> None:
    """Write a query's rows to a CSV or Parquet file, whole or not at all."""
    kind = file_format(out)
    partial = out.with_name(f".{out.name}.partial")
    options = "FORMAT csv, HEADER true" if kind == "csv" else "FORMAT parquet"
    try:
        connection.execute(f"COPY ({query}) TO {literal(str(partial))} ({options})")
        os.replace(partial, out)
    except (duckdb.Error, OSError) as error:
        partial.unlink(missing_ok=True)
        raise EligibilityError(f"{out}: cannot be written: {str(error).splitlines()[0]}") from None


def summarize(
    connection: duckdb.DuckDBPyConnection, criteria: ProtocolCriteria, warnings: list[str]
) -> ScreenReport:
    ids = [criterion.id for criterion, _ in criteria.criteria]
    # One pass over the patients: how many share each combination of results. Every count of
    # the summary is then a sum over these combinations (thousands, for a million patients of
    # the seed trials) instead of another pass over the patients.
    connection.execute(
        f"CREATE TEMP TABLE {TALLY} AS SELECT verdict, {', '.join(map(quoted, ids))}, "
        f"count(*) AS {PATIENTS} FROM results GROUP BY ALL"
    )

    def total(condition: str = "TRUE") -> str:
        return f"CAST(coalesce(sum({PATIENTS}) FILTER ({condition}), 0) AS BIGINT)"

    counts = [total()]
    counts += [total(f"verdict = '{v}'") for v in VERDICTS]
    for criterion_id in ids:
        counts += [total(f"{quoted(criterion_id)} = '{r}'") for r in RESULTS]
    totals = connection.execute(f"SELECT {', '.join(counts)} FROM {TALLY}").fetchone()
    assert totals is not None
    first_failure = " ".join(
        f"WHEN {quoted(criterion_id)} = 'fail' THEN {index}"
        for index, criterion_id in enumerate(ids)
    )
    failures = " + ".join(
        f"CAST({quoted(criterion_id)} = 'fail' AS INTEGER)" for criterion_id in ids
    )
    funnel = connection.execute(
        f"SELECT CASE {first_failure} END AS first_failure, ({failures}) = 1 AS only, {total()} "
        f"FROM {TALLY} GROUP BY ALL"
    ).fetchall()
    removed_at = [0] * len(ids)
    only = [0] * len(ids)
    for first, alone, count in funnel:
        if first is not None:
            removed_at[first] += count
            if alone:
                only[first] += count
    patients = totals[0]
    left = patients
    per_criterion = []
    for index, (criterion, _) in enumerate(criteria.criteria):
        left -= removed_at[index]
        passed, failed, unknown = totals[4 + 3 * index : 7 + 3 * index]
        per_criterion.append(
            CriterionCounts(
                criterion.id,
                criterion.type,
                criterion.text,
                passed,
                failed,
                unknown,
                only[index],
                left,
            )
        )
    return ScreenReport(
        criteria.protocol_id,
        patients,
        totals[1],
        totals[2],
        totals[3],
        tuple(per_criterion),
        tuple(warnings),
    )


def screen(criteria: ProtocolCriteria, cohort: Path, out: Path | None) -> ScreenReport:
    """Screen every patient of a cohort file; write per-patient results to `out` if given."""
    if out is not None:
        file_format(out)
        if out.resolve() == cohort.resolve():
            raise EligibilityError(f"{out}: is the cohort file; expected another file for results")
    connection = duckdb.connect()
    connection.execute("SET enable_progress_bar = false")
    try:
        warnings = load_cohort(connection, criteria, cohort)
        connection.execute(
            f"CREATE TYPE {RESULT_TYPE} AS ENUM ({', '.join(map(literal, RESULTS))})"
        )
        connection.execute(
            f"CREATE TYPE {VERDICT_TYPE} AS ENUM ({', '.join(map(literal, VERDICTS))})"
        )
        query = criteria_select(criteria, result_type=RESULT_TYPE, verdict_type=VERDICT_TYPE)
        connection.execute(f"CREATE TEMP TABLE results AS {query.sql(dialect='duckdb')}")
        if out is not None:
            write_results(connection, "SELECT * FROM results", out)
        return summarize(connection, criteria, warnings)
    finally:
        connection.close()
