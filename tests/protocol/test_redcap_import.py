"""REDCap data dictionaries: reading the four real REDCapR exports, importing each to a draft
protocol that `trialdesk protocol validate` accepts, and refusing bad dictionaries.

Expected values come from the files themselves read with the csv module, from the field types
the reference folder's README lists per file, and from hand rules written out here.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from trialdesk.errors import BadInput
from trialdesk.instruments import load_definition
from trialdesk.protocol import load_protocol
from trialdesk.protocol.redcap_dictionary import (
    COLUMNS,
    dictionary_text,
    import_dictionary,
    parse_dictionary,
    read_dictionary,
)

DICTIONARIES = (
    "redcapr_clinical-trial-1_dictionary.csv",
    "redcapr_longitudinal_dictionary.csv",
    "redcapr_survey_dictionary.csv",
    "redcapr_validation-types-1_dictionary.csv",
)
#: The field types each file uses, as reference/redcap/README.md lists them.
README_FIELD_TYPES = {
    "redcapr_validation-types-1_dictionary.csv": {
        "text",
        "notes",
        "radio",
        "dropdown",
        "checkbox",
        "yesno",
        "truefalse",
        "calc",
        "slider",
        "file",
        "descriptive",
        "sql",
    },
    "redcapr_longitudinal_dictionary.csv": {
        "text",
        "radio",
        "dropdown",
        "checkbox",
        "yesno",
        "slider",
        "calc",
        "notes",
        "file",
    },
    "redcapr_clinical-trial-1_dictionary.csv": {"text", "radio"},
    "redcapr_survey_dictionary.csv": {
        "text",
        "notes",
        "radio",
        "dropdown",
        "checkbox",
        "yesno",
        "truefalse",
    },
}
#: The README's field counts.
README_FIELDS = {
    "redcapr_validation-types-1_dictionary.csv": 50,
    "redcapr_longitudinal_dictionary.csv": 95,
    "redcapr_clinical-trial-1_dictionary.csv": 12,
    "redcapr_survey_dictionary.csv": 25,
}
#: The header as the README and standards.md §5 write it.
HEADER = [
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
]


def reference(shared_dir: Path, name: str) -> Path:
    return shared_dir / "reference/redcap" / name


def csv_rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "trialdesk.cli", *args], capture_output=True, text=True
    )


# ------------------------------------------------------------------------ reading the files


@pytest.mark.parametrize("name", DICTIONARIES)
def test_parsing_equals_the_real_dictionary_column_by_column(shared_dir, name):
    path = reference(shared_dir, name)
    header, *rows = csv_rows(path)
    assert header == HEADER == list(COLUMNS)
    fields = read_dictionary(path)
    assert len(fields) == len(rows) == README_FIELDS[name]
    for field, row in zip(fields, rows, strict=True):
        for column, (parsed, expected) in enumerate(zip(field.values(), row, strict=True)):
            assert parsed == expected, f"{name} field {row[0]}, column {HEADER[column]}"
    assert {field.field_type for field in fields} == README_FIELD_TYPES[name]
    assert [field.field_type for field in fields] == [row[3] for row in rows]


@pytest.mark.parametrize("name", DICTIONARIES)
def test_writing_gives_back_the_real_file_byte_for_byte(shared_dir, name):
    path = reference(shared_dir, name)
    assert dictionary_text(read_dictionary(path)) == path.read_text(encoding="utf-8")


# ------------------------------------------------------------------- importing to a draft


@pytest.mark.parametrize("name", DICTIONARIES)
def test_each_real_dictionary_imports_to_a_draft_that_validates(shared_dir, tmp_path, name):
    path = reference(shared_dir, name)
    out = tmp_path / "draft.yaml"
    imported = cli("protocol", "import", str(path), "--out", str(out), "--json")
    assert imported.returncode == 0, imported.stderr
    written = json.loads(imported.stdout)
    validated = cli("protocol", "validate", str(out))
    assert validated.returncode == 0, validated.stderr
    assert validated.stdout.strip() == f"{out}: valid"
    protocol = load_protocol(out)
    header, *rows = csv_rows(path)
    forms = list(dict.fromkeys(row[1] for row in rows))
    definitions = {Path(p).stem: load_definition(Path(p)) for p in written["instruments"]}
    assert list(definitions) == forms
    assert sorted(definitions) == sorted(p.stem for p in (tmp_path / "draft.instruments").iterdir())
    # Every field but the record id, identifiers, files, SQL and descriptive text is an item
    # (a checkbox one per choice) or a score, in dictionary order.
    record_id = rows[0][0]
    for form in forms:
        expected = []
        for row in rows:
            if row[1] != form or row[0] == record_id or row[10] == "y":
                continue
            if row[3] in ("file", "sql", "descriptive"):
                continue
            if row[3] == "checkbox":
                codes = [part.split(",")[0].strip() for part in row[5].split("|")]
                expected += [f"{row[0]}___{code}" for code in codes]
            else:
                expected.append(row[0])
        definition = definitions[form]
        item_ids = [item.id for item in definition.items]
        assert sorted(item_ids + [score.id for score in definition.scores]) == sorted(expected)
        assert item_ids == [field for field in expected if field in item_ids], form
    # What the draft leaves to be completed is said in its assumptions.
    topics = {assumption.what for assumption in protocol.assumptions}
    assert {"visits", "arms", "eligibility", "randomization", "treatment_plan"} <= topics
    assert {f"forms.{form}" for form in forms} <= topics
    assert protocol.visits[0].forms == []
    assert f"'{record_id}'" in next(a.value for a in protocol.assumptions if a.what == "subjects")


def test_field_types_become_the_items_the_dictionary_describes(shared_dir):
    """Hand-read from redcapr_clinical-trial-1 and redcapr_longitudinal."""
    trial = import_dictionary(
        read_dictionary(reference(shared_dir, DICTIONARIES[0])), DICTIONARIES[0]
    )
    demographics = {item.id: item for item in trial.instruments()[0].items}
    # record_id is the subject code; name_last, name_first, address, phone, dob are
    # identifiers (Identifier? y): none of them is an item.
    assert list(demographics) == ["ethnicity", "race", "gender", "height", "weight", "email"]
    assert demographics["height"].type == "number"
    assert (demographics["height"].minimum, demographics["height"].maximum) == (0, 250)
    assert demographics["weight"].type == "integer"
    assert (demographics["weight"].minimum, demographics["weight"].maximum) == (0, 300)
    assert [(o.value, o.label) for o in demographics["gender"].options] == [
        (0, "Female"),
        (1, "Male"),
    ]
    assert demographics["email"].type == "text" and demographics["email"].pattern is None

    longitudinal = import_dictionary(
        read_dictionary(reference(shared_dir, DICTIONARIES[1])), DICTIONARIES[1]
    )
    items = {item.id: item for item in longitudinal.instruments()[0].items}
    assert items["date_enrolled"].pattern == r"\d{4}-\d{2}-\d{2}"
    assert items["given_birth"].type == "boolean"
    assert '[sex] = "0"' in items["given_birth"].description
    assert [items[f"gym___{day}"].type for day in range(5)] == ["boolean"] * 5
    assert items["gym___0"].label == "Gym (Weight Training): Monday"
    assert (items["specify_mood"].minimum, items["specify_mood"].maximum) == (0, 100)
    assert "Very sad | Indifferent | Very happy" in items["specify_mood"].description
    assert [o.value for o in items["race"].options] == [0, 1, 2, 3, 4, 5, 6]
    # round() is not in trialdesk's formula language: BMI stays a number, its rule in words.
    assert items["bmi"].type == "number" and "round(" in items["bmi"].description
    assert items["comments"].type == "text"
    # A descriptive field's section header titles the form, its text describes it; the
    # calculated field 3+4 is a formula score; the slider's range is its min and max.
    types = import_dictionary(
        read_dictionary(reference(shared_dir, DICTIONARIES[3])), DICTIONARIES[3]
    )
    form = types.instruments()[0]
    assert [(s.id, s.formula) for s in form.scores] == [("f_calculated", "3+4")]
    by_id = {item.id: item for item in form.items}
    assert (by_id["f_slider"].minimum, by_id["f_slider"].maximum) == (-1, 101)
    assert by_id["f_true_false"].type == by_id["f_yes_no"].type == "boolean"
    assert by_id["v_integer"].type == "integer" and by_id["v_number_2dp"].type == "number"
    assert by_id["v_datetime_seconds_ymd"].pattern == r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}"
    assert "f_file_upload" not in by_id and "f_signature" not in by_id and "f_sql" not in by_id
    assert "f_descriptive" not in by_id


# ------------------------------------------------------------------------- bad dictionaries

GOOD_HEADER = dictionary_text([]).splitlines()[0]


def bad(rows: list[str], header: str = GOOD_HEADER) -> str:
    return header + "\n" + "".join(row + "\n" for row in rows)


def refused(text: str) -> str:
    with pytest.raises(BadInput) as error:
        parse_dictionary(text, "bad.csv")
    return str(error.value)


def test_a_missing_column_is_refused_naming_it_and_the_expected_columns():
    header = GOOD_HEADER.replace('"Field Note",', "")
    message = refused(bad(["record_id,f,,text,ID,,,,,,,,,,,,"], header))
    assert message.startswith("bad.csv:1: column 7 'Field Note' is missing")
    assert "expected the 18 columns of a REDCap data dictionary, in order" in message


def test_an_unknown_field_type_is_refused_naming_line_field_column_and_the_types():
    message = refused(
        bad(["record_id,f,,text,ID,,,,,,,,,,,,,", "visit_date,f,,date,Date,,,,,,,,,,,,,"])
    )
    assert message.startswith(
        "bad.csv:3: column 'Field Type' of field 'visit_date': 'date' is not a REDCap field type"
    )
    assert "(expected one of text, notes, radio, dropdown, checkbox" in message


@pytest.mark.parametrize(
    ("choices", "problem"),
    [
        ('"0, No | Yes"', "'Yes' is not 'code, label'"),
        ('"0, No | 0, Yes"', "code '0' is given twice"),
        ("", "a radio field needs its choices"),
    ],
)
def test_bad_choices_are_refused_naming_line_field_column_and_the_syntax(choices, problem):
    message = refused(
        bad(["record_id,f,,text,ID,,,,,,,,,,,,,", f"smoker,f,,radio,Smoker,{choices},,,,,,,,,,,,"])
    )
    assert message.startswith(
        "bad.csv:3: column 'Choices, Calculations, OR Slider Labels' of field 'smoker': " + problem
    )
    if choices:
        assert message.endswith("(expected 'code, label | code, label | ...')")


def test_other_bad_rows_are_refused_with_their_place():
    first = "record_id,f,,text,ID,,,,,,,,,,,,,"
    assert refused(bad([first, "age,f,,text,Age,,,years,,,,,,,,,,"])).startswith(
        "bad.csv:3: column 'Text Validation Type OR Show Slider Number' of field 'age': "
        "'years' is not a text validation type"
    )
    assert refused(bad([first, "age,f,,text,Age,,,integer,zero,,,,,,,,,"])).startswith(
        "bad.csv:3: column 'Text Validation Min' of field 'age': 'zero' is not a number"
    )
    assert refused(bad([first, "Age,f,,text,Age,,,,,,,,,,,,,"])).startswith(
        "bad.csv:3: column 'Variable / Field Name': 'Age' is not a REDCap variable name"
    )
    assert refused(bad([first, "record_id,f,,text,Again,,,,,,,,,,,,,"])).startswith(
        "bad.csv:3: column 'Variable / Field Name': 'record_id' is already the field of line 2"
    )
    assert refused(bad([first, "age,f,,text,Age"])) == (
        "bad.csv:3: 5 values (expected 18, one per column)"
    )
    assert refused(bad([])) == "bad.csv:2: no fields (expected one row per field)"


def test_the_cli_refuses_a_bad_dictionary_with_exit_2_and_writes_nothing(tmp_path):
    path = tmp_path / "study.csv"
    path.write_text(bad(["record_id,f,,text,ID,,,,,,,,,,,,,", "x,f,,date,X,,,,,,,,,,,,,"]))
    out = tmp_path / "draft.yaml"
    result = cli("protocol", "import", str(path), "--out", str(out))
    assert result.returncode == 2
    assert "study.csv:3: column 'Field Type' of field 'x'" in result.stderr
    assert sorted(tmp_path.iterdir()) == [path]


def test_a_dictionary_is_told_from_a_registry_record_by_suffix_or_first_column(
    shared_dir, tmp_path
):
    """A .csv file is a dictionary; so is any file that starts with 'Variable / Field Name'."""
    text = reference(shared_dir, DICTIONARIES[0]).read_text(encoding="utf-8")
    renamed = tmp_path / "dictionary.txt"
    renamed.write_text(text)
    out = tmp_path / "draft.yaml"
    assert cli("protocol", "import", str(renamed), "--out", str(out)).returncode == 0
    document = yaml.safe_load(out.read_text())
    assert document["id"] == "dictionary" and document["version"] == "draft"
    without_out = cli("protocol", "import", str(renamed))
    assert without_out.returncode == 2 and "give --out FILE.yaml" in without_out.stderr
    registry = shared_dir / "reference/ctgov/api-v2/NCT00763412.json"
    assert cli("protocol", "import", str(registry)).returncode == 0
