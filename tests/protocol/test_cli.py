"""`trialdesk protocol ...` through the real command line app."""

from __future__ import annotations

import json

import yaml
from typer.testing import CliRunner

from trialdesk.cli import app
from trialdesk.protocol import protocol_source

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def test_list_shows_both_seed_protocols_as_json():
    result = run("protocol", "list", "--json")
    assert result.exit_code == 0
    rows = {row["id"]: row for row in json.loads(result.stdout)}
    assert rows["NCT04208646"]["arms"] == 3
    assert rows["NCT05933434"]["title"] == "STEMJOINT"


def test_show_prints_tables_for_people_and_the_document_as_json():
    result = run("protocol", "show", "NCT05933434")
    assert result.exit_code == 0
    assert "Assumptions" in result.stdout and "Aarhus University Hospital" not in result.stderr
    document = json.loads(run("protocol", "show", "NCT05933434", "--json").stdout)
    assert document["enrollment"]["count"] == 80
    assert document["sponsor"]["lead"]["class"] == "OTHER"


def test_validate_accepts_ids_and_paths_and_rejects_broken_files(tmp_path):
    _, text = protocol_source("NCT04208646")
    good = tmp_path / "good.yaml"
    good.write_text(text)
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("  count: 106", "  count: -1"))
    ok = run("protocol", "validate", "NCT04208646", str(good))
    assert ok.exit_code == 0
    assert "valid" in ok.stdout
    failed = run("protocol", "validate", str(good), str(bad))
    assert failed.exit_code == 2
    assert f"{bad}:" in failed.stderr and "enrollment.count" in failed.stderr
    as_json = run("protocol", "validate", str(bad), "--json")
    assert as_json.exit_code == 2
    assert json.loads(as_json.stdout)[0]["valid"] is False


def test_an_unknown_protocol_is_bad_input():
    result = run("protocol", "show", "NCT00000000")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: NCT00000000: no such protocol file")
    assert len(result.stderr.strip().splitlines()) == 1


def test_schema_is_a_json_schema_of_the_model():
    document = json.loads(run("protocol", "schema").stdout)
    assert document["title"] == "trialdesk protocol"
    assert "arms" in document["properties"]


def test_export_to_stdout_and_file(tmp_path):
    result = run("protocol", "export", "NCT04208646", "--format", "ctgov")
    assert result.exit_code == 0
    section = json.loads(result.stdout)["protocolSection"]
    assert section["identificationModule"]["nctId"] == "NCT04208646"
    out = tmp_path / "record.json"
    assert (
        run("protocol", "export", "NCT04208646", "--format", "ctgov", "--out", str(out)).exit_code
        == 0
    )
    assert json.loads(out.read_text()) == json.loads(result.stdout)
    wrong = run("protocol", "export", "NCT04208646", "--format", "odm")
    assert wrong.exit_code == 2 and "unknown format" in wrong.stderr


def test_import_writes_a_draft_that_validates(tmp_path):
    record = tmp_path / "record.json"
    run("protocol", "export", "NCT05933434", "--format", "ctgov", "--out", str(record))
    draft = tmp_path / "draft.yaml"
    result = run("protocol", "import", str(record), "--out", str(draft))
    assert result.exit_code == 0
    assert yaml.safe_load(draft.read_text())["id"] == "NCT05933434"
    assert run("protocol", "validate", str(draft)).exit_code == 0
    to_stdout = run("protocol", "import", str(record), "--json")
    assert json.loads(to_stdout.stdout)["titles"]["acronym"] == "STEMJOINT"


def test_import_of_a_bad_file_exits_2_with_one_line(tmp_path):
    record = tmp_path / "record.json"
    record.write_text("[1, 2")
    result = run("protocol", "import", str(record))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "not valid JSON" in result.stderr


def test_an_out_file_that_cannot_be_written_exits_2_naming_it(tmp_path):
    missing = tmp_path / "no-such-folder"
    record = tmp_path / "record.json"
    run("protocol", "export", "NCT05933434", "--format", "ctgov", "--out", str(record))
    for command, out in (
        (("protocol", "export", "NCT05933434", "--format", "ctgov"), missing / "record.json"),
        (("protocol", "schema"), missing / "schema.json"),
        (("protocol", "import", str(record)), missing / "draft.yaml"),
    ):
        result = run(*command, "--out", str(out))
        assert result.exit_code == 2, command
        assert result.stderr.endswith(
            f"error: {out}: cannot write (No such file or directory)\n"
        ), result.stderr
    assert not missing.exists()


def test_importing_a_folder_exits_2_with_one_line(tmp_path):
    result = run("protocol", "import", str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr == f"error: {tmp_path}: cannot read (Is a directory)\n"
