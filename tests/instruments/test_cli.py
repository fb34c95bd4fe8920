import json

import pytest
from typer.testing import CliRunner

from trialdesk.cli import app
from trialdesk.instruments import instrument_ids
from trialdesk.instruments.cli import display_value

runner = CliRunner()


def run(*args: str, stdin: str | None = None):
    return runner.invoke(app, list(args), input=stdin)


def test_instrument_list_json():
    result = run("instrument", "list", "--json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert [entry["id"] for entry in listed] == instrument_ids()
    womac = next(entry for entry in listed if entry["id"] == "womac")
    assert womac["items"] == 24
    assert womac["scores"][:4] == ["pain", "stiffness", "function", "total"]


def test_instrument_list_for_people():
    result = run("instrument", "list")
    assert result.exit_code == 0
    assert "koos" in result.stdout


def test_instrument_show_json_has_items_scores_and_licence():
    result = run("instrument", "show", "koos", "--json")
    assert result.exit_code == 0
    shown = json.loads(result.stdout)
    assert shown["licence"]["item_wording"] == "free"
    assert len(shown["items"]) == 42
    assert shown["items"][0]["text"] == "How often knee pain"
    assert [score["id"] for score in shown["scores"]] == [
        "pain",
        "symptoms",
        "adl",
        "sport_rec",
        "qol",
    ]


def test_instrument_show_for_people_with_licensed_texts(tmp_path):
    texts = tmp_path / "womac.yaml"
    texts.write_text("P1: The licensed question one\n")
    result = run("instrument", "show", "womac", "--texts", str(texts))
    assert result.exit_code == 0, result.output
    assert "The licensed question one" in result.stdout
    assert "higher is worse" in result.stdout


def test_instrument_show_unknown_exits_2():
    result = run("instrument", "show", "sf36")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: unknown instrument 'sf36'")


def write(tmp_path, document) -> str:
    path = tmp_path / "answers.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return str(path)


def test_score_json(tmp_path):
    path = write(tmp_path, {"P1": 1, "P2": 2, "P3": None, "P4": 2, "P5": 2, "S1": 3, "S2": 1})
    result = run("score", "womac", path, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "pain": 8.75,
        "stiffness": 4.0,
        "function": None,
        "total": None,
        "pain_100": 43.75,
        "stiffness_100": 50.0,
        "function_100": None,
        "total_100": None,
    }


def test_score_reads_stdin():
    result = run("score", "nrs_pain", "-", "--json", stdin='{"nrs": 4}')
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"pain": 4}


def test_score_for_people_rounds_half_up_for_display_only(tmp_path):
    path = write(tmp_path, {"P1": 1, "P2": 2, "P4": 2, "P5": 2})
    result = run("score", "womac", path)
    assert result.exit_code == 0
    assert "8.8" in result.stdout  # 8.75
    assert "43.8" in result.stdout  # 43.75
    assert "not computable" in result.stdout


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (31.25, "31.3"),
        (8.75, "8.8"),
        (41.666666666666664, "41.7"),
        (7, "7"),
        (None, "not computable"),
        (True, "yes"),
    ],
)
def test_display_value(value, shown):
    assert display_value(value) == shown


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"P1": 5}, "error: womac item P1: 5 is not allowed; expected an integer from 0 to 4"),
        ({"P1": True}, "error: womac item P1: true (a boolean) is not allowed"),
        ({"Q1": 1}, "error: womac: 'Q1' is not an item of this instrument"),
        ([1, 2], "error: womac: answers must be an object"),
        ('{"P1": 1,\n "P2": }', "answers.json:2:8: not valid JSON"),
    ],
)
def test_score_bad_answers_exit_2_with_one_line(tmp_path, document, message):
    result = run("score", "womac", write(tmp_path, document))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert message in result.stderr
    assert result.stderr.count("\n") == 1


def test_score_missing_file_exits_2(tmp_path):
    result = run("score", "womac", str(tmp_path / "none.json"))
    assert result.exit_code == 2
    assert "none.json: cannot read" in result.stderr


def test_score_an_answers_file_that_is_not_utf8_exits_2(tmp_path):
    path = tmp_path / "answers.json"
    path.write_bytes(b'\xff\xfe{"P1": 1}')
    result = run("score", "womac", str(path))
    assert result.exit_code == 2
    assert result.stderr == f"error: {path}: not UTF-8 text (invalid start byte)\n"
