import textwrap

import pytest

from trialdesk.errors import InstrumentError
from trialdesk.instruments import get_instrument
from trialdesk.instruments.catalogue import parse_definition

NEW_QUESTIONNAIRE = """
id: sleep_index
title: A three-item sleep questionnaire
description: Sum of three 0-3 items; one may be missing.
licence: {name: test, item_wording: free}
sources: [test]
parameters:
  recall_period: {description: Recall period}
  language: {description: Language version, default: en}
items:
  - {id: Q1, label: falling asleep, type: integer, options: &grades
      [{value: 0, label: never}, {value: 1, label: rarely}, {value: 2, label: often},
       {value: 3, label: always}]}
  - {id: Q2, label: waking at night, type: integer, options: *grades}
  - {id: Q3, label: waking early, type: integer, options: *grades}
scores:
  - {id: total, label: Sleep problems, method: sum, items: [Q1, Q2, Q3], max_missing: 1,
     minimum: 0, maximum: 9, direction: higher_is_worse}
  - {id: total_100, label: Sleep problems 0-100, method: formula, formula: total * 100 / 9}
"""


def definition(**changes: str) -> str:
    """NEW_QUESTIONNAIRE with whole lines replaced, keyed by the line's start."""
    lines = NEW_QUESTIONNAIRE.splitlines()
    for start, replacement in changes.items():
        index = next(i for i, line in enumerate(lines) if line.strip().startswith(start))
        lines[index] = replacement
    return "\n".join(lines)


def test_a_new_questionnaire_is_a_new_file_not_new_code():
    instrument = parse_definition(NEW_QUESTIONNAIRE, "sleep_index.yaml")
    assert instrument.score({"Q1": 1, "Q2": 2}) == {"total": 4.5, "total_100": 50.0}
    assert instrument.score({"Q1": 1}) == {"total": None, "total_100": None}


def score_line(text: str) -> str:
    return "  - " + text


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            score_line("{id: x, label: x, method: sum, items: [Q1, Q9]}"),
            "score x: reads Q9, which is neither an item nor an earlier score",
        ),
        (
            score_line("{id: x, label: x, method: formula, formula: total_100 + 1}"),
            "score x: reads total_100",
        ),
        (score_line("{id: Q1, label: x, method: item, item: Q2}"), "score Q1: the id is already"),
        (
            score_line("{id: x, label: x, method: sum, items: [Q1, Q2], min_answered: 3}"),
            "needs more answers than it has items",
        ),
        (score_line("{id: x, label: x, method: sum, items: [Q1, Q1]}"), "listed twice"),
        (score_line("{id: x, label: x, method: median, items: [Q1]}"), "does not match any"),
        (
            score_line("{id: x, label: x, method: count, items: [Q1], at_least: 1, equals: 2}"),
            "exactly one of at_least and equals",
        ),
        (
            score_line("{id: x, label: x, method: any_true, items: [Q1]}"),
            "cannot read integer item Q1",
        ),
        (
            score_line(
                "{id: x, label: x, method: mean_0_100, items: [Q1], item_range: [0, 2], "
                "higher_item_is: worse}"
            ),
            "item Q1 runs outside item_range",
        ),
        (
            score_line("{id: x, label: x, method: auc, items: [Q1, Q2], times: [2, 1]}"),
            "times must increase",
        ),
        (
            score_line("{id: x, label: x, method: formula, formula: Q1.real}"),
            "is not allowed",
        ),
    ],
)
def test_a_score_that_does_not_fit_its_items_is_refused(line, message):
    with pytest.raises(InstrumentError, match=message) as error:
        parse_definition(definition(**{"- {id: total_100": line}), "sleep_index.yaml")
    assert str(error.value).startswith("sleep_index.yaml: ")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("  - {id: Q1, label: x, type: integer, options: *grades}", "item ids listed twice: Q1"),
        ("  - {id: Q2, label: x, type: code}", "a code item needs options"),
        ("  - {id: Q2, label: x, type: integer, options: [{value: a, label: a}]}", "need integer"),
        ("  - {id: Q2, label: x, type: number, minimum: 3, maximum: 1}", "minimum 3.0 > maximum"),
        (
            "  - {id: Q2, label: x, type: integer, minimum: 0, options: *grades}",
            "options or minimum/maximum, not both",
        ),
        ("  - {id: Q2, label: x, type: text, pattern: '(a'}", "pattern does not compile"),
        ("  - {id: Q2, label: x, type: integer, pattern: 'a'}", "only text items take a pattern"),
        ("  - {id: Q2, label: x, type: date}", "items.1.type"),
        ("  - {id: Q2, label: x, type: integer, colour: red}", "Extra inputs are not permitted"),
    ],
)
def test_an_item_that_does_not_make_sense_is_refused(line, message):
    with pytest.raises(InstrumentError, match=message):
        parse_definition(definition(**{"- {id: Q2": line}), "sleep_index.yaml")


def test_a_yaml_error_names_the_line():
    with pytest.raises(InstrumentError, match=r"^broken.yaml:2: not valid YAML"):
        parse_definition("id: x\ntitle: a: b\n", "broken.yaml")


def test_a_definition_must_be_a_mapping():
    with pytest.raises(InstrumentError, match="must be a mapping"):
        parse_definition("- a\n- b\n", "list.yaml")


def test_items_from_borrows_another_instruments_items():
    text = textwrap.dedent(
        """
        id: koos_pain_only
        title: KOOS pain, all items required
        description: test
        licence: {name: test, item_wording: free}
        sources: [test]
        items_from: koos
        scores:
          - {id: pain, label: pain, method: mean_0_100, items: [P1, P2, P3, P4, P5, P6, P7, P8, P9],
             item_range: [0, 4], higher_item_is: worse}
        """
    )
    instrument = parse_definition(text, "koos_pain_only.yaml")
    assert instrument.items == get_instrument("koos").items
    assert instrument.score({f"P{k}": 2 for k in range(1, 10)}) == {"pain": 50.0}
    with pytest.raises(InstrumentError, match="either items_from or items"):
        parse_definition(text + "items: []\n", "koos_pain_only.yaml")


@pytest.mark.parametrize(
    ("items_from", "message"),
    [
        ("koos_v9", r"^own.yaml: items_from: unknown instrument 'koos_v9'; instruments are ae_"),
        ("[koos]", r"^own.yaml: items_from: expected an instrument id, not \['koos'\]$"),
    ],
)
def test_items_from_an_unknown_instrument_names_the_file(items_from, message):
    text = NEW_QUESTIONNAIRE.split("items:")[0] + f"items_from: {items_from}\n"
    with pytest.raises(InstrumentError, match=message):
        parse_definition(text, "own.yaml")


def test_parameters_take_protocol_settings_over_defaults():
    instrument = parse_definition(NEW_QUESTIONNAIRE, "sleep_index.yaml")
    assert instrument.resolve_parameters({"recall_period": "last week"}) == {
        "recall_period": "last week",
        "language": "en",
    }


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "the protocol must set parameter 'recall_period'"),
        ({"recall_period": "x", "colour": "red"}, "unknown parameter 'colour'"),
        ({"recall_period": 7}, "parameter 'recall_period' = 7 is not text"),
    ],
)
def test_parameter_settings_are_checked(settings, message):
    instrument = parse_definition(NEW_QUESTIONNAIRE, "sleep_index.yaml")
    with pytest.raises(InstrumentError, match=message):
        instrument.resolve_parameters(settings)


@pytest.mark.parametrize(
    ("instrument_id", "item_id", "allowed"),
    [
        ("womac", "P1", "an integer from 0 to 4"),
        ("ctcae_grade", "grade", "an integer from 1 to 5"),
        ("vitals", "weight_kg", "a number from 25 to 300 kg"),
        ("labs", "alt", "a number from 0 to 20000 U/L"),
        ("labs", "hiv_positive", "true or false"),
        ("labs", "pregnancy_test", "one of 'negative', 'positive', 'not_applicable'"),
        ("hla_typing", "hla_a_1", "such as 'A*02:01'"),
    ],
)
def test_items_say_what_they_allow(instrument_id, item_id, allowed):
    assert allowed in get_instrument(instrument_id).item_map[item_id].allowed()
