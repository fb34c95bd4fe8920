"""The SQL engine: row-for-row equal to the evaluator, checked files, warnings, dialects."""

from __future__ import annotations

import csv
import datetime as dt
import functools
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trialdesk.eligibility import ProtocolCriteria
from trialdesk.eligibility.evaluation import judge
from trialdesk.eligibility.language import parse
from trialdesk.eligibility.screen import screen
from trialdesk.eligibility.sql import DIALECTS, condition_sql, screening_sql
from trialdesk.errors import EligibilityError
from trialdesk.protocol import load_protocol

from .conftest import CRITERIA, protocol_with

BOUNDARIES = [0, 1, 2, 3, 4, 6, 7, 17, 17.5, 21, 24, 29.9, 30, 30.1, 35, 40, 42, 50, 72, 75, 76]
BOUNDARIES += [80, 104, 105, 119.9, 120]


def value_strategy(item):
    kind = str(item.type)
    if kind == "boolean":
        values = st.booleans()
    elif kind == "string":
        values = st.sampled_from(item.codelist or ["a", "b"])
    elif kind == "date":
        values = st.dates().map(lambda d: d.isoformat())
    else:
        low = item.min if item.min is not None else 0
        high = item.max if item.max is not None else 1000
        fitting = [v for v in BOUNDARIES if low <= v <= high]
        if kind == "integer":
            values = st.sampled_from([int(v) for v in fitting]) | st.integers(int(low), int(high))
        else:
            values = st.sampled_from(fitting) | st.floats(low, high, allow_nan=False)
    return st.none() | values


def cohorts(criteria: ProtocolCriteria):
    columns = {name: value_strategy(item) for name, item in criteria.data_items.items()}
    answers = {cid: st.none() | st.booleans() for cid in criteria.attestation_ids}
    patient = st.fixed_dictionaries(
        {"items": st.fixed_dictionaries(columns), "answers": st.fixed_dictionaries(answers)}
    )
    return st.lists(patient, min_size=1, max_size=40)


def write_csv(path: Path, criteria: ProtocolCriteria, patients) -> None:
    def cell(value):
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        return repr(value) if isinstance(value, float) else str(value)

    names = list(criteria.data_items)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["patient_id", *names, *(f"attest_{c}" for c in criteria.attestation_ids)])
        for number, patient in enumerate(patients, 1):
            row = [patient["items"][name] for name in names]
            row += [patient["answers"][c] for c in criteria.attestation_ids]
            writer.writerow([f"P{number}", *map(cell, row)])


ARROW_TYPES = {
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "string": pa.string(),
    "date": pa.date32(),
}


def write_parquet(path: Path, criteria: ProtocolCriteria, patients) -> None:
    columns = {"patient_id": pa.array([f"P{n}" for n in range(1, len(patients) + 1)])}
    for name, item in criteria.data_items.items():
        values = [patient["items"][name] for patient in patients]
        if str(item.type) == "date":
            values = [None if v is None else dt.date.fromisoformat(v) for v in values]
        columns[name] = pa.array(values, type=ARROW_TYPES[str(item.type)])
    for cid in criteria.attestation_ids:
        columns[f"attest_{cid}"] = pa.array([p["answers"][cid] for p in patients], type=pa.bool_())
    pq.write_table(pa.table(columns), path)


def assert_screen_equals_evaluator(tmp_path, criteria, patients, fmt):
    cohort = tmp_path / "cohort.csv"
    write_csv(cohort, criteria, patients)
    if fmt == "parquet":
        cohort = tmp_path / "cohort.parquet"
        write_parquet(cohort, criteria, patients)
    out = tmp_path / "results.csv"
    report = screen(criteria, cohort, out)
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(patients) == report.patients
    verdicts = {"eligible": 0, "ineligible": 0, "incomplete": 0}
    ids = [criterion.id for criterion, _ in criteria.criteria]
    counts = {cid: {"pass": 0, "fail": 0, "unknown": 0} for cid in ids}
    first_failures = dict.fromkeys(ids, 0)
    only_failures = dict.fromkeys(ids, 0)
    for number, (row, patient) in enumerate(zip(rows, patients, strict=True), 1):
        expected = criteria.evaluate(patient["items"], patient["answers"])
        assert row["patient_id"] == f"P{number}"
        assert row["verdict"] == expected.verdict, (patient, expected)
        for result in expected.criteria:
            assert row[result.id] == result.result, (result, patient)
            counts[result.id][result.result] += 1
        verdicts[expected.verdict] += 1
        failing = [result.id for result in expected.criteria if result.result == "fail"]
        if failing:
            first_failures[failing[0]] += 1
            if len(failing) == 1:
                only_failures[failing[0]] += 1
    assert (report.eligible, report.ineligible, report.incomplete) == tuple(verdicts.values())
    assert report.to_json()["criteria"] == counts
    left = len(patients)
    for summary in report.criteria:
        left -= first_failures[summary.id]
        assert (summary.left, summary.only_failure) == (left, only_failures[summary.id])


@functools.cache
def criteria_of(name: str) -> ProtocolCriteria:
    protocol = protocol_with(CRITERIA) if name == "test" else load_protocol(name)
    return ProtocolCriteria.of(protocol)


@pytest.mark.parametrize("name", ["test", "NCT04208646", "NCT05933434"])
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_sql_screen_equals_the_evaluator(tmp_path, name, data):
    criteria = criteria_of(name)
    patients = data.draw(cohorts(criteria))
    fmt = data.draw(st.sampled_from(["csv", "parquet"]))
    assert_screen_equals_evaluator(tmp_path, criteria, patients, fmt)


# Random expressions over two numbers and a boolean: the compiled SQL against `judge`.
numbers = st.sampled_from(["x", "y"]).map(lambda name: name) | st.sampled_from(
    ["0", "1", "2", "0.1", "2.5", "-3"]
)


def arithmetic(depth: int):
    if depth == 0:
        return numbers
    inner = arithmetic(depth - 1)
    return numbers | st.tuples(inner, st.sampled_from("+-*/"), inner).map(
        lambda t: f"({t[0]} {t[1]} {t[2]})"
    )


def conditions(depth: int):
    comparison = st.tuples(
        arithmetic(1), st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), arithmetic(1)
    ).map(" ".join)
    membership = st.tuples(arithmetic(1), st.sampled_from(["in", "not in"])).map(
        lambda t: f"{t[0]} {t[1]} {{0, 1, 2.5}}"
    )
    leaf = comparison | membership | st.just("b") | st.just("x < y < 2")
    if depth == 0:
        return leaf
    inner = conditions(depth - 1)
    return (
        leaf
        | st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        )
        | inner.map(lambda c: f"not {c}")
    )


@settings(max_examples=150, deadline=None)
@given(
    expression=conditions(2),
    x=st.none()
    | st.sampled_from([0.0, 1.0, 2.0, 0.1, 2.5, -3.0, 0.30000000000000004])
    | st.floats(-10, 10),
    y=st.none() | st.sampled_from([0.0, 1.0, 2.0, 0.2, 2.5]) | st.floats(-10, 10),
    b=st.none() | st.booleans(),
)
def test_compiled_expressions_equal_the_evaluator(expression, x, y, b):
    tree = parse(expression)
    sql = condition_sql(tree, {"x": "number", "y": "number", "b": "boolean"}).sql("duckdb")
    connection = duckdb.connect()
    row = connection.execute(
        f"SELECT {sql} FROM (SELECT CAST(? AS DOUBLE) AS x, CAST(? AS DOUBLE) AS y,"
        " CAST(? AS BOOLEAN) AS b)",
        [x, y, b],
    ).fetchone()
    assert row[0] == judge(tree, {"x": x, "y": y, "b": b}).value, sql


@pytest.fixture
def criteria():
    return criteria_of("test")


def test_missing_and_extra_columns_warn(tmp_path, criteria):
    cohort = tmp_path / "cohort.csv"
    cohort.write_text("patient_id,age,height,attest_I1\nP1,50,170,true\nP2,,180,\n")
    report = screen(criteria, cohort, tmp_path / "out.parquet")
    assert any("no column for oa_duration_months" in w for w in report.warnings)
    assert any("no attest_ column for E5" in w for w in report.warnings)
    assert any("ignored columns height" in w for w in report.warnings)
    counts = report.to_json()["criteria"]
    assert counts["AGE"] == {"pass": 1, "fail": 0, "unknown": 1}
    assert counts["I1"] == {"pass": 1, "fail": 0, "unknown": 1}
    assert counts["E3"] == {"pass": 0, "fail": 0, "unknown": 2}
    assert set(counts) == {c["id"] for c in CRITERIA}
    results = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert results[0]["patient_id"] == "P1" and results[0]["AGE"] == "pass"


@pytest.mark.parametrize(
    ("header", "rows", "message"),
    [
        (
            "patient_id,age",
            ["P1,50", "P2,abc"],
            "row 2 (patient P2), column age: expected an integer >= 0 <= 120, got 'abc'",
        ),
        ("patient_id,age", ["P1,50.5"], "row 1 (patient P1), column age: expected an integer"),
        (
            "patient_id,age",
            ["P1,121"],
            "row 1 (patient P1), column age: expected an integer >= 0 <= 120, got '121'",
        ),
        (
            "patient_id,bmi",
            ["P1,27", "P2,28", "P3,nan"],
            "row 3 (patient P3), column bmi: expected a number",
        ),
        (
            "patient_id,hiv_positive",
            ["P1,true", "P2,yes"],
            "row 2 (patient P2), column hiv_positive: expected true or false, got 'yes'",
        ),
        (
            "patient_id,attest_I1",
            ["P1,1"],
            "row 1 (patient P1), column attest_I1: expected true or false, got '1'",
        ),
        (
            "patient_id,oa_compartment",
            ["P1,medial", "P2,knee"],
            "row 2 (patient P2), column oa_compartment: "
            "expected one of medial, lateral, dual, got 'knee'",
        ),
        (
            "patient_id,screening_date",
            ["P1,2024-01-31", "P2,31/01/2024"],
            "row 2 (patient P2), column screening_date: expected a date YYYY-MM-DD",
        ),
        (
            "patient_id,age",
            ["P1,50", ",60"],
            "row 2, column patient_id: expected a patient id, got nothing",
        ),
        ("age", ["50"], "no patient_id column"),
    ],
)
def test_malformed_values_name_row_and_column(tmp_path, criteria, header, rows, message):
    cohort = tmp_path / "cohort.csv"
    cohort.write_text("\n".join([header, *rows]) + "\n")
    out = tmp_path / "out.csv"
    with pytest.raises(EligibilityError, match=message.replace("(", r"\(").replace(")", r"\)")):
        screen(criteria, cohort, out)
    assert not out.exists()


def test_parquet_column_of_the_wrong_type(tmp_path, criteria):
    cohort = tmp_path / "cohort.parquet"
    pq.write_table(pa.table({"patient_id": ["P1"], "bmi": [True]}), cohort)
    with pytest.raises(EligibilityError, match="column bmi: has type BOOLEAN, expected number"):
        screen(criteria, cohort, tmp_path / "out.csv")


def test_parquet_integers_given_as_floats(tmp_path, criteria):
    cohort = tmp_path / "cohort.parquet"
    pq.write_table(pa.table({"patient_id": [1, 2], "age": [50.0, 50.5]}), cohort)
    with pytest.raises(
        EligibilityError, match="row 2 \\(patient 2\\), column age: expected an integer"
    ):
        screen(criteria, cohort, tmp_path / "out.csv")


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_a_cohort_without_patients(tmp_path, criteria, suffix):
    cohort = tmp_path / "cohort.csv"
    write_csv(cohort, criteria, [])
    if suffix == "parquet":
        cohort = tmp_path / "cohort.parquet"
        write_parquet(cohort, criteria, [])
    out = tmp_path / f"out.{suffix}"
    report = screen(criteria, cohort, out)
    assert (report.patients, report.eligible, report.ineligible, report.incomplete) == (0, 0, 0, 0)
    assert all((c.passed, c.failed, c.unknown, c.left) == (0, 0, 0, 0) for c in report.criteria)
    ids = [criterion.id for criterion, _ in criteria.criteria]
    if suffix == "csv":
        assert out.read_text().splitlines() == [",".join(["patient_id", "verdict", *ids])]
    else:
        assert pq.read_table(out).column_names == ["patient_id", "verdict", *ids]


def test_the_screen_runs_the_printed_query(tmp_path, criteria):
    """The screen's ENUM-typed words give the same rows as the portable query `sql` prints."""
    patients = [
        {
            "items": dict.fromkeys(criteria.data_items),
            "answers": dict.fromkeys(criteria.attestation_ids),
        },
        {
            "items": {**dict.fromkeys(criteria.data_items), "age": 50, "bmi": 35.0},
            "answers": dict.fromkeys(criteria.attestation_ids, True),
        },
    ]
    cohort = tmp_path / "cohort.parquet"
    write_parquet(cohort, criteria, patients)
    screen(criteria, cohort, tmp_path / "out.parquet")
    connection = duckdb.connect()
    connection.execute(f"CREATE VIEW cohort AS SELECT * FROM read_parquet('{cohort}')")
    printed = connection.execute(screening_sql(criteria, "duckdb")).fetchall()
    assert pq.read_table(tmp_path / "out.parquet").to_pylist() == [
        dict(
            zip(["patient_id", "verdict", *(c.id for c, _ in criteria.criteria)], row, strict=True)
        )
        for row in printed
    ]
    assert all(isinstance(value, str) for row in printed for value in row)


def test_bad_file_names(tmp_path, criteria):
    with pytest.raises(EligibilityError, match="expected a .csv or .parquet file"):
        screen(criteria, tmp_path / "cohort.xlsx", tmp_path / "out.csv")
    with pytest.raises(EligibilityError, match="no such file"):
        screen(criteria, tmp_path / "cohort.csv", tmp_path / "out.csv")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_dialect_renders_a_query_that_parses_back(dialect):
    sql = screening_sql(criteria_of("NCT04208646"), dialect)
    assert sqlglot.parse_one(sql, read=dialect) is not None
    assert "NOT IN" not in sql.upper().replace("NOT (", "")


def test_division_is_true_division_and_safe_in_every_dialect():
    tree = parse("x / y > 1")
    assert "NULLIF" in condition_sql(tree, {"x": "number", "y": "number"}).sql("postgres")
    assert "CAST(" in condition_sql(tree, {"x": "number", "y": "number"}).sql("trino")


def test_printed_duckdb_query_runs_on_a_typed_table(criteria):
    connection = duckdb.connect()
    sql = screening_sql(criteria, "duckdb")
    types = {
        "integer": "BIGINT",
        "number": "DOUBLE",
        "boolean": "BOOLEAN",
        "string": "VARCHAR",
        "date": "DATE",
    }
    definitions = ", ".join(
        [f'"{name}" {types[str(item.type)]}' for name, item in criteria.data_items.items()]
        + [f'"attest_{cid}" BOOLEAN' for cid in criteria.attestation_ids]
    )
    connection.execute(f"CREATE TABLE cohort (patient_id VARCHAR, {definitions})")
    connection.execute("INSERT INTO cohort (patient_id, age) VALUES ('P1', 80)")
    assert connection.execute(sql).fetchone()[:3] == ("P1", "ineligible", "fail")


def test_the_results_never_replace_the_cohort(tmp_path, criteria):
    cohort = tmp_path / "cohort.csv"
    cohort.write_text("patient_id,age\nP1,50\n")
    with pytest.raises(EligibilityError, match="is the cohort file"):
        screen(criteria, cohort, tmp_path / "." / "cohort.csv")
    assert cohort.read_text() == "patient_id,age\nP1,50\n"
