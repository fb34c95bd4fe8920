import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trialdesk.cli import app

DATA = Path(__file__).parent / "data" / "fev_data.csv"
M1 = [
    "analyze",
    "mmrm",
    str(DATA),
    "--outcome",
    "FEV1",
    "--fixed",
    "RACE + SEX + ARMCD*AVISIT",
    "--subject",
    "USUBJID",
    "--visit",
    "AVISIT",
    "--reference",
    "ARMCD=PBO",
    "--reference",
    "AVISIT=VIS1",
    "--reference",
    "SEX=Male",
]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_mmrm_json_reproduces_sas_m1(runner):
    result = runner.invoke(app, [*M1, "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    coefficients = {c["term"]: c for c in document["coefficients"]}
    assert coefficients["ARMCD=TRT"]["estimate"] == pytest.approx(3.7745, abs=1e-3)
    assert coefficients["ARMCD=TRT:AVISIT=VIS4"]["se"] == pytest.approx(1.8510, rel=1e-3)
    assert set(coefficients["Intercept"]) >= {"term", "estimate", "se", "df", "t", "p"}
    assert document["loglik"]["minus2"] == pytest.approx(3386.4499, abs=1e-3)
    assert document["loglik"]["aic"] == pytest.approx(3406.4, abs=0.05)
    assert len(document["covariance"]) == 4 and document["visits"][0] == "VIS1"
    vis4 = next(c for c in document["contrasts"] if c["AVISIT"] == "VIS4")
    assert vis4["estimate"] == pytest.approx(4.3985, abs=1e-3)
    assert len(document["lsmeans"]) == 8


def test_mmrm_human_output_and_intercept_only_model(runner):
    result = runner.invoke(app, [*M1[:5], "--fixed", "1", *M1[7:11]])
    assert result.exit_code == 0, result.output
    assert "Intercept" in result.stdout


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--outcome", "FEV2"], "'FEV2'"),
        (["--reference", "ARMCD=XYZ"], "'XYZ'"),
        (["--outcome", "RACE"], "not a number"),
        (["--covariance", "banded"], "'banded'"),
        (["--fixed", "RACE + AGE"], "'AGE'"),
    ],
)
def test_mmrm_bad_input_is_one_line_and_exit_2(runner, change, message):
    result = runner.invoke(app, [*M1, *change])
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_responder_command(runner, tmp_path):
    answers = tmp_path / "answers.json"
    answers.write_text(
        json.dumps(
            {
                "pain_baseline": 40,
                "pain_followup": 20,
                "function_baseline": 50,
                "function_followup": 45,
                "global_baseline": 60,
                "global_followup": 60,
            }
        )
    )
    result = runner.invoke(app, ["analyze", "responder", str(answers), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "high_improvement": True,
        "two_of_three": False,
        "responder": True,
    }
    answers.write_text('{"pain_baseline": 40, "pain_later": 20}')
    result = runner.invoke(app, ["analyze", "responder", str(answers), "--json"])
    assert result.exit_code == 2 and "pain_later" in result.stderr


def test_power_command_without_protocol(runner):
    result = runner.invoke(
        app,
        [
            "power",
            "--arms",
            "PBO,TRT",
            "--n-per-arm",
            "33",
            "--effect",
            "7",
            "--sd",
            "10",
            "--correlation",
            "0",
            "--trials",
            "4000",
            "--seed",
            "5",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    (comparison,) = json.loads(result.stdout)["comparisons"]
    assert comparison["arm"] == "TRT" and comparison["control"] == "PBO"
    assert abs(comparison["power"] - 0.7997) < 3 * comparison["power_mcse"]


def test_power_command_reads_the_protocol(runner):
    result = runner.invoke(
        app, ["power", "NCT04208646", "--effect", "10", "--sd", "20", "--trials", "200", "--json"]
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert sum(document["design"]["n_per_arm"]) == 106
    assert len(document["comparisons"]) == 2


def test_power_command_compares_with_the_placebo_arm(runner):
    # NCT05933434 lists its active comparator (MSC) before its placebo (SALINE): the placebo
    # is the control, as in the report.
    result = runner.invoke(
        app, ["power", "NCT05933434", "--effect", "8", "--sd", "15", "--trials", "50", "--json"]
    )
    assert result.exit_code == 0, result.output
    (comparison,) = json.loads(result.stdout)["comparisons"]
    assert (comparison["arm"], comparison["control"]) == ("MSC", "SALINE")


def test_power_command_bad_design_is_one_line_and_exit_2(runner):
    result = runner.invoke(
        app, ["power", "--arms", "PBO,PBO", "--n-per-arm", "10", "--effect", "1", "--sd", "1"]
    )
    assert result.exit_code == 2
    assert "expected each arm once" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
