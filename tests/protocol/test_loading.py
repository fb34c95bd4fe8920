"""Loading protocol files: the shipped ones validate, broken ones fail with FILE:LINE: field."""

from __future__ import annotations

import re

import pytest

from trialdesk.errors import ProtocolError, UnknownProtocol
from trialdesk.protocol import load_protocol, parse_protocol, protocol_source, shipped_protocol_ids

SEED_IDS = ["NCT04208646", "NCT05933434"]


def test_both_seed_protocols_ship_and_validate():
    assert set(SEED_IDS) <= set(shipped_protocol_ids())
    for identifier in SEED_IDS:
        assert load_protocol(identifier).id == identifier


def test_a_protocol_loads_from_a_path(tmp_path):
    _, text = protocol_source("NCT05933434")
    path = tmp_path / "copy.yaml"
    path.write_text(text, encoding="utf-8")
    assert load_protocol(path).id == "NCT05933434"


def test_unknown_reference_names_the_shipped_ids():
    with pytest.raises(UnknownProtocol, match="NCT04208646"):
        load_protocol("NCT99999999")


def broken(old: str, new: str, count: int = 1) -> tuple[str, int]:
    """The NCT04208646 file with `old` replaced, and the line where the change starts."""
    _, text = protocol_source("NCT04208646")
    assert text.count(old) >= count, f"fixture text not found: {old!r}"
    position = text.index(old)
    return text.replace(old, new, count), text[:position].count("\n") + 1


def problems_of(text: str) -> list[str]:
    with pytest.raises(ProtocolError) as caught:
        parse_protocol(text, "NCT04208646.yaml")
    return caught.value.problems


def line_of(text: str, fragment: str) -> int:
    return text[: text.index(fragment)].count("\n") + 1


# Each case: (what is broken, replacement, expected field path, expected words).
BROKEN_FILES = [
    (
        "duplicate arm label",
        (
            "    label: Mesenchymal progenitor cells Dosage 2",
            "    label: Mesenchymal progenitor cells Dosage 1",
        ),
        "arms[1].label",
        "duplicate arm label 'Mesenchymal progenitor cells Dosage 1'",
    ),
    (
        "instrument setting left unset",
        ("    quadriceps_level_cm: 10\n", "    quadriceps_level: 10\n"),
        "instrument_parameters.knee_exam",
        "unknown parameter 'quadriceps_level'",
    ),
    (
        "data item field the instrument does not have",
        ("form: vitals, field: bmi}", "form: vitals, field: body_mass}"),
        "data_items[6].field",
        "'body_mass' is no item or score of vitals",
    ),
    (
        "arm weight zero",
        (
            "    weight: 1\n    interventions:\n      - intervention: no_mpc",
            "    weight: 0\n    interventions:\n      - intervention: no_mpc",
        ),
        "arms[2].weight",
        "must be a positive integer",
    ),
    (
        "unknown field with a suggestion",
        (
            "    description: Mesenchymal progenitor cells low-dose group\n    weight: 1",
            "    description: Mesenchymal progenitor cells low-dose group\n    wieght: 1",
        ),
        "arms[0].wieght",
        "unknown field (did you mean 'weight'?)",
    ),
    (
        "missing required field",
        ("  brief: Allogenic", "  brif: Allogenic"),
        "titles.brief",
        "required field is missing",
    ),
    (
        "bad enumeration",
        ("  masking: DOUBLE", "  masking: DOUBLE_BLIND"),
        "design.masking",
        "must be one of",
    ),
    (
        "bad NCT number",
        ("  nct_id: NCT04208646", "  nct_id: NCT0420864"),
        "identifiers.nct_id",
        "an NCT number",
    ),
    ("wrong type", ("  count: 106", "  count: many"), "enrollment.count", "must be an integer"),
    ("duplicate arm id", ("  - id: HIGH", "  - id: LOW"), "arms[1].id", "duplicate arm id 'LOW'"),
    (
        "undeclared form",
        (
            "    forms: [womac, vas_pain, knee_exam]\n  - id: W48",
            "    forms: [womac, vas_pain, knee_exams]\n  - id: W48",
        ),
        "visits[5].forms[2]",
        "unknown form 'knee_exams'",
    ),
    (
        "outcome time frame on an undeclared visit",
        ("    visits: [D0, W24, W48]", "    visits: [D0, W26, W48]"),
        "outcomes[3].visits[1]",
        "unknown visit 'W26'",
    ),
    (
        "expression on an undeclared data item",
        ("expression: bmi > 30", "expression: bmi_kg > 30"),
        "eligibility.criteria[10].expression",
        "bmi_kg",
    ),
    (
        "weights against the stated ratio",
        ('allocation_ratio: "1:1:1"', 'allocation_ratio: "2:1:1"'),
        "arms",
        "do not match the design ratio 2:1:1",
    ),
    (
        "overlapping visit windows",
        ("    day: 84\n    window_before: 7", "    day: 84\n    window_before: 70"),
        "visits[3].window_before",
        "would be ambiguous",
    ),
    (
        "expression and attestation together",
        ("      expression: bmi > 30", "      expression: bmi > 30\n      attestation: true"),
        "eligibility.criteria[10]",
        "exactly one of `expression` or `attestation: true`",
    ),
    (
        "block size not a multiple of the weights",
        ("block_sizes: [3, 6]", "block_sizes: [3, 4]"),
        "randomization.block_sizes[1]",
        "not a multiple of the arm weights' sum 3",
    ),
    (
        "first administration not on day 0",
        ("    label: Treatment cycle 1\n    day: 0", "    label: Treatment cycle 1\n    day: 2"),
        "treatment_plan[0].day",
        "must be on day 0",
    ),
    (
        "duplicate key",
        ("  org_study_id: CBM-ALAM.1-01", "  org_study_id: CBM-ALAM.1-01\n  org_study_id: X"),
        "identifiers.org_study_id",
        "duplicate key",
    ),
    ("YAML syntax", ("  count: 106", "  count: [106"), "(document)", "YAML syntax"),
    (
        "stratification on an undeclared item",
        ("      item: kl_grade_index", "      item: kl_index"),
        "randomization.stratification_factors[0].item",
        "unknown data item 'kl_index'",
    ),
]


# A whole-section check, or a missing field, reports the line of the section it belongs to.
SECTION_LINES = {
    "arms": "arms:\n",
    "titles.brief": "titles:\n",
    "eligibility.criteria[10]": "    - id: E3\n",
    "instrument_parameters.knee_exam": "  knee_exam:\n",
}


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [case[1:] for case in BROKEN_FILES],
    ids=[case[0] for case in BROKEN_FILES],
)
def test_a_broken_file_names_file_line_and_field(change, path, words):
    text, first_line = broken(*change)
    problems = problems_of(text)
    matching = [p for p in problems if f": {path}: " in p and words in p]
    assert matching, f"no problem on {path} with {words!r} in:\n" + "\n".join(problems)
    problem = matching[0]
    assert re.match(r"^NCT04208646\.yaml:[0-9]+: ", problem)
    reported_line = int(problem.split(":")[1])
    if path in SECTION_LINES:
        assert reported_line == line_of(text, SECTION_LINES[path])
    else:
        # The changed lines; a YAML syntax error may only show on the line after.
        last_line = first_line + change[1].count("\n") + (1 if path == "(document)" else 0)
        assert first_line <= reported_line <= last_line, problem


def test_the_weight_problem_reports_the_exact_line():
    text, _ = broken(
        "    weight: 1\n    interventions:\n      - intervention: no_mpc",
        "    weight: 0\n    interventions:\n      - intervention: no_mpc",
    )
    expected = line_of(text, "    weight: 0")
    assert (
        f"NCT04208646.yaml:{expected}: arms[2].weight: must be a positive integer"
        in problems_of(text)
    )


def test_every_problem_of_a_file_is_reported_at_once():
    text, _ = broken("  masking: DOUBLE", "  masking: TRIPLE_BLIND")
    text = text.replace("  count: 106", "  count: -5")
    problems = problems_of(text)
    assert any("design.masking" in p for p in problems)
    assert any("enrollment.count" in p for p in problems)


def test_an_empty_file_is_rejected():
    with pytest.raises(ProtocolError, match=r"x\.yaml:1: \(document\): the file is empty"):
        parse_protocol("", "x.yaml")


def test_a_list_is_not_a_protocol():
    with pytest.raises(ProtocolError, match=r"x\.yaml:1: \(document\): expected a mapping"):
        parse_protocol("- a\n- b\n", "x.yaml")


def test_yes_and_no_stay_strings_and_dates_stay_text():
    text, _ = broken(
        '  - {id: "01", name: Site 01, country: China}',
        '  - {id: "01", name: Site 01, country: NO}',
    )
    protocol = parse_protocol(text, "NCT04208646.yaml")
    assert protocol.sites[0].country == "NO"
    _, stemjoint = protocol_source("NCT05933434")
    unquoted = stemjoint.replace('date: "2023-07-06"', "date: 2023-07-06")
    assert parse_protocol(unquoted, "s.yaml").status.first_posted.date == "2023-07-06"


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ("[a, b]", "a field name must be text, not a list"),
        ("1", "a field name must be text, not int '1' (quote it)"),
        ("~", "a field name must be text, not null '~' (quote it)"),
    ],
)
def test_a_field_name_that_is_not_text_names_its_line(key, words):
    _, text = protocol_source("NCT04208646")
    line = text.count("\n") + 1
    assert problems_of(f"{text}{key}: x\n") == [f"NCT04208646.yaml:{line}: (document): {words}"]
    nested, _ = broken("instrument_parameters:\n", f"instrument_parameters:\n  {key}: {{}}\n")
    place = line_of(nested, "instrument_parameters:\n") + 1
    assert problems_of(nested) == [f"NCT04208646.yaml:{place}: instrument_parameters: {words}"]
