"""`trialdesk eligibility ...` and `trialdesk synth patients` through the real Typer app."""

from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

from trialdesk.cli import app
from trialdesk.protocol import load_protocol

from .conftest import ELIGIBLE_STEMJOINT

RUNNER = CliRunner()


def run(*args):
    return RUNNER.invoke(app, [str(arg) for arg in args])


@pytest.fixture
def subject(tmp_path):
    def write(items, attestations=None):
        path = tmp_path / "subject.json"
        path.write_text(json.dumps({"items": items, "attestations": attestations or {}}))
        return path

    return write


def test_check_json(subject):
    result = run("eligibility", "check", "NCT04208646", subject({"age": 76, "bmi": 31}), "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["protocol"] == "NCT04208646"
    assert document["verdict"] == "ineligible"
    by_id = {c["id"]: c for c in document["criteria"]}
    assert by_id["AGE"] == {
        "id": "AGE",
        "type": "inclusion",
        "result": "fail",
        "reason": "age 76 > 75",
    }
    assert by_id["E3"]["result"] == "fail"
    assert by_id["I5"]["reason"] == "missing: womac_total, womac_pain"
    assert set(by_id["I1"]) == {"id", "type", "result", "reason"}


def test_check_table(subject):
    result = run("eligibility", "check", "NCT05933434", subject(ELIGIBLE_STEMJOINT))
    assert result.exit_code == 0, result.output
    assert "incomplete" in result.stdout and "40 <= age 60 <= 75" in result.stdout


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ({"age": "58"}, "error: item 'age': expected an integer, got \"58\""),
        ({"bmi": True}, "error: item 'bmi': expected a number, got true"),
    ],
)
def test_check_bad_values_exit_2(subject, items, message):
    result = run("eligibility", "check", "NCT04208646", subject(items))
    assert result.exit_code == 2
    assert result.stderr.strip() == message


def test_check_bad_json_exits_2(tmp_path):
    path = tmp_path / "subject.json"
    path.write_text('{"items": {"age": 5,}}')
    result = run("eligibility", "check", "NCT04208646", path)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}:1: not JSON")


def test_match_orders_trials(subject):
    attestations = {"I6": True, "I7": True}
    items = ELIGIBLE_STEMJOINT | {"bmi": 31}
    result = run("eligibility", "match", subject(items, attestations), "--json")
    assert result.exit_code == 0, result.output
    trials = json.loads(result.stdout)["trials"]
    assert [t["protocol"] for t in trials] == ["NCT05933434", "NCT04208646"]
    assert trials[0]["verdict"] == "incomplete"
    assert "attestation E2" in trials[0]["missing"]
    assert trials[1]["verdict"] == "ineligible"
    assert trials[1]["failing"] == [{"id": "E3", "reason": "bmi 31 > 30"}]
    table = run("eligibility", "match", subject(ELIGIBLE_STEMJOINT), "NCT05933434")
    assert table.exit_code == 0 and "NCT05933434" in table.stdout


def test_synth_screen_plot_and_sql(tmp_path):
    cohort = tmp_path / "cohort.csv"
    made = run("synth", "patients", "NCT04208646", "--n", 300, "--seed", 7, "--out", cohort)
    assert made.exit_code == 0, made.output
    again = tmp_path / "again.csv"
    run("synth", "patients", "NCT04208646", "--n", 300, "--seed", 7, "--out", again)
    assert cohort.read_bytes() == again.read_bytes()
    with cohort.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 300 and any(row["womac_pain"] == "" for row in rows)

    out, plot = tmp_path / "results.parquet", tmp_path / "funnel.png"
    result = run(
        "eligibility", "screen", "NCT04208646", cohort, "--out", out, "--json", "--plot", plot
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["patients"] == 300
    assert summary["eligible"] + summary["ineligible"] + summary["incomplete"] == 300
    criteria = load_protocol("NCT04208646").eligibility.criteria
    assert list(summary["criteria"]) == [c.id for c in criteria]
    assert all(sum(counts.values()) == 300 for counts in summary["criteria"].values())
    assert out.exists() and plot.read_bytes()[:4] == b"\x89PNG"

    table = run("eligibility", "screen", "NCT04208646", cohort, "--out", tmp_path / "r.csv")
    assert table.exit_code == 0 and "exclude most patients" in table.stdout

    sql = run("eligibility", "sql", "NCT05933434", "--dialect", "trino")
    assert sql.exit_code == 0 and '"ap_laxity_mm" >= 3' in sql.stdout


def test_screen_malformed_cohort_exits_2(tmp_path):
    cohort = tmp_path / "cohort.csv"
    cohort.write_text("patient_id,age,bmi\nP1,50,27\nP2,61,heavy\n")
    result = run("eligibility", "screen", "NCT04208646", cohort, "--out", tmp_path / "out.csv")
    assert result.exit_code == 2
    assert (
        "row 2 (patient P2), column bmi: expected a number >= 10 <= 80, got 'heavy'"
        in result.stderr
    )
    assert len(result.stderr.splitlines()) == 1


def test_sql_unknown_dialect_exits_2():
    result = run("eligibility", "sql", "NCT04208646", "--dialect", "oracle")
    assert result.exit_code == 2


def test_sql_unknown_dialect_is_one_line_naming_the_option():
    result = run("eligibility", "sql", "NCT04208646", "--dialect", "oracle")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: --dialect: 'oracle'; expected one of duckdb, postgres, spark, trino, bigquery"
    ]


def test_the_cli_lists_the_dialects_the_compiler_renders():
    from trialdesk.eligibility import cli, sql

    assert cli.DIALECTS == sql.DIALECTS


def test_check_a_subject_whose_items_are_not_an_object_exits_2(tmp_path):
    path = tmp_path / "subject.json"
    path.write_text('{"items": [60]}')
    result = run("eligibility", "check", "NCT04208646", path)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: {path}: 'items' must be an object of id: value, got [60]"
    ]


@pytest.fixture
def cohort(tmp_path):
    path = tmp_path / "cohort.csv"
    path.write_text("patient_id,age\nP1,50\n")
    return path


def test_screen_refuses_to_write_its_results_over_the_cohort(cohort):
    before = cohort.read_bytes()
    result = run("eligibility", "screen", "NCT04208646", cohort, "--out", cohort)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: {cohort}: is the cohort file; expected another file for results"
    ]
    assert cohort.read_bytes() == before


@pytest.mark.parametrize(
    ("plot", "message"),
    [
        ("funnel.jpg", "--plot: expected a .png file, got {plot}"),
        ("missing/funnel.png", "--plot: {plot}: the directory {parent} does not exist"),
    ],
)
def test_a_bad_plot_path_writes_no_results(tmp_path, cohort, plot, message):
    out, plot_path = tmp_path / "results.csv", tmp_path / plot
    result = run("eligibility", "screen", "NCT04208646", cohort, "--out", out, "--plot", plot_path)
    assert result.exit_code == 2
    expected = message.format(plot=plot_path, parent=plot_path.parent)
    assert result.stderr.splitlines() == [f"error: {expected}"]
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--n", 0, "--out", "cohort.csv"), "error: --n: expected at least 1 patient, got 0"),
        (("--n", 5, "--out", "cohort.xlsx"), "expected a .csv or .parquet file"),
    ],
)
def test_synth_bad_options_are_one_line(tmp_path, args, message):
    args = tuple(tmp_path / arg if str(arg).startswith("cohort") else arg for arg in args)
    result = run("synth", "patients", "NCT04208646", "--seed", 1, *args)
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1 and message in result.stderr
    assert not list(tmp_path.iterdir())
