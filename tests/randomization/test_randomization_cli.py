"""`trialdesk randomization ...` through the real command line app."""

from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

from trialdesk.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, ["randomization", *args])


def run_json(*args: str) -> dict:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_generate_with_arms_and_strata_prints_the_list_as_json():
    document = run_json(
        "generate", "--arms", "A:1,B:1,C:1", "--block-sizes", "3,6",
        "--strata", "site=01,02,03", "--strata", "kl=2,3", "--per-stratum", "10", "--seed", "42",
    )  # fmt: skip
    assert document["algorithm"] == "stratified-permuted-blocks"
    assert document["version"] == "1"
    assert document["seed"] == 42
    assert len(document["strata"]) == 6
    first = document["strata"][0]
    assert first["stratum"] == {"site": "01", "kl": "2"}
    assert len(first["slots"]) >= 10
    assert set(first["slots"][0]) == {"seq", "arm", "block", "block_size"}
    assert [slot["seq"] for slot in first["slots"]] == list(range(1, len(first["slots"]) + 1))


def test_generate_without_strata_has_one_empty_stratum_and_is_reproducible():
    args = ("generate", "--arms", "A,B", "--per-stratum", "8", "--seed", "7")
    document = run_json(*args)
    assert [stratum["stratum"] for stratum in document["strata"]] == [{}]
    assert document["block_sizes"] == [2, 4]
    assert run_json(*args) == document
    assert run_json("generate", "--arms", "A,B", "--per-stratum", "8")["seed"] != 7


def test_generate_from_a_shipped_protocol_numbers_two_kits_per_subject():
    document = run_json("generate", "NCT04208646", "--per-stratum", "6", "--seed", "1")
    assert [arm["id"] for arm in document["arms"]] == ["LOW", "HIGH", "PBO"]
    assert set(document["strata"][0]["stratum"]) == {"site", "kl_grade"}
    assert len(document["strata"]) == 14
    kit_arms = {kit["kit_number"]: kit["arm"] for kit in document["kits"]}
    for stratum in document["strata"]:
        for slot in stratum["slots"]:
            assert len(slot["kit_numbers"]) == 2
            assert {kit_arms[number] for number in slot["kit_numbers"]} == {slot["arm"]}


def test_a_list_written_to_csv_passes_the_check(tmp_path):
    out, kits = tmp_path / "list.csv", tmp_path / "kits.csv"
    result = run(
        "generate", "--arms", "A:2,B:1", "--block-sizes", "3,6", "--strata", "site=01,02",
        "--per-stratum", "12", "--seed", "3", "--kits-per-subject", "1", "--spare-kits", "2",
        "--out", str(out), "--kits-out", str(kits),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["site", "seq", "arm", "block", "block_size"]
    kit_rows = list(csv.DictReader(kits.open()))
    assert len(kit_rows) == len(rows) + 4
    assert sum(row["seq"] == "" for row in kit_rows) == 4
    checked = run_json("check", str(out), "--arms", "A:2,B:1")
    assert checked["valid"] is True
    assert checked["slots"] == len(rows)
    assert checked["arms"]["A"] == 2 * checked["arms"]["B"]
    assert "valid list" in run("check", str(out), "--arms", "A:2,B:1").stdout


def test_check_reports_each_problem_with_row_and_column_and_exits_2(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("site,seq,arm\n01,1,A\n01,1,B\n01,2,X\n", encoding="utf-8")
    result = run("check", str(path), "--arms", "A,B")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: {path}, row 3, column 'seq': duplicate seq 1 in stratum site=01 (first at row 2)",
        f"error: {path}, row 4, column 'arm': unknown arm 'X'; expected one of A, B",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("generate", "--arms", "A:x,B"), "--arms: weight 'x' of arm 'A' is not a whole number"),
        (("generate", "--arms", "A,B,C", "--block-sizes", "4"), "block size 4 cannot hold"),
        (("generate", "--arms", "A,B", "--strata", "site"), "--strata: 'site' is not NAME=LEVEL"),
        (("generate",), "give a PROTOCOL or --arms"),
        (("generate", "NCT04208646", "--arms", "A,B"), "give a PROTOCOL or --arms"),
        (("generate", "NCT00000000"), "NCT00000000"),
        (("generate", "--arms", "A,B", "--json", "--out", "x.csv"), "--json and --out"),
        (("assess", "--arms", "A,B", "--method", "urn"), "method: 'urn'"),
        (("assess", "--arms", "A,B", "--strata", "kl=2,3", "--method", "minimization",
          "--factors", "age:2"), "--factors: no factor 'age'"),
        (("generate", "--arms", "A:\u00b2,B"), "--arms: weight '\u00b2' of arm 'A' is not a whole"),
        (("generate", "--arms", "A,B", "--block-sizes", "\u00b2"),
         "--block-sizes: block size '\u00b2' is not a whole number"),
        (("generate", "--arms", "A,B", "--block-sizes", "3"),
         "--block-sizes: block size 3 cannot hold the ratio 1:1"),
        (("generate", "--arms", "A,B", "--strata", "site=01", "--strata", "site=02"),
         "--strata: factor 'site' appears twice"),
        (("generate", "--arms", "A,B", "--per-stratum", "0"), "--per-stratum: 0; expected"),
        (("generate", "--arms", "A,B", "--spare-kits", "-1"), "--spare-kits: -1; expected"),
        (("generate", "--arms", "A,B", "--kits-per-subject", "-1"),
         "--kits-per-subject: -1; expected"),
        (("generate", "--arms", "A,B", "--kits-per-subject", "1", "--out", "x.csv",
          "--kits-out", "./x.csv"), "--out and --kits-out: both are x.csv"),
    ],
)  # fmt: skip
def test_bad_input_exits_2_with_one_line_naming_the_place(args, message):
    result = run(*args)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert message in lines[0]


def test_assess_blocks_prints_the_guess_rate_and_imbalance_as_json():
    document = run_json(
        "assess", "--arms", "A,B", "--block-sizes", "4", "--subjects", "48",
        "--simulations", "2000", "--seed", "1",
    )  # fmt: skip
    assert abs(document["guess_rate"] - 17 / 24) < 4 * document["guess_rate_se"] + 1e-4
    assert document["imbalance"]["overall"]["max"] == 0
    assert document["scheme"]["method"] == "blocks"


def test_assess_minimization_with_factor_weights():
    document = run_json(
        "assess", "--arms", "A,B,C", "--method", "minimization", "--p", "0.9",
        "--strata", "site=01,02,03", "--strata", "kl=2,3", "--factors", "kl:2",
        "--subjects", "60", "--simulations", "500", "--seed", "2",
    )  # fmt: skip
    assert document["scheme"]["p"] == 0.9
    assert set(document["imbalance"]["marginal"]) == {"site", "kl"}
    assert "preferred_arm_guess_rate" in document


def test_assess_a_protocol_for_people():
    result = run("assess", "NCT05933434", "--simulations", "500", "--seed", "3")
    assert result.exit_code == 0, result.output
    assert "guess rate (convergence strategy)" in result.stdout
    assert "margin kl_grade" in result.stdout
    assert "blocks of 2, 4; arms MSC:1, SALINE:1; factors site (1), kl_grade (2)" in result.stdout
    assert "80 subjects per trial" in result.stdout


def test_generate_writes_the_list_and_the_kit_map_or_neither(tmp_path):
    out, kits = tmp_path / "list.csv", tmp_path / "missing" / "kits.csv"
    result = run(
        "generate", "--arms", "A,B", "--per-stratum", "4", "--kits-per-subject", "1",
        "--out", str(out), "--kits-out", str(kits),
    )  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: {kits}: cannot write (No such file or directory)"
    ]
    assert list(tmp_path.iterdir()) == []


def test_check_a_list_with_a_seq_in_other_digits_exits_2(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("seq,arm\n\u00b2,A\n", encoding="utf-8")
    result = run("check", str(path), "--arms", "A,B")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: {path}, row 2, column 'seq': '\u00b2' is not a whole number >= 1"
    ]
