"""Three-valued evaluation of one patient: truth tables, attestations, values, reasons."""

from __future__ import annotations

import itertools

import pytest

from trialdesk.eligibility import evaluate
from trialdesk.eligibility.evaluation import judge
from trialdesk.eligibility.language import parse
from trialdesk.errors import EligibilityError

from .conftest import CRITERIA, protocol_with

TRUTHS = (True, False, None)


def kleene_and(a, b):
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def kleene_or(a, b):
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


@pytest.mark.parametrize(("a", "b"), list(itertools.product(TRUTHS, TRUTHS)))
def test_truth_tables(a, b):
    values = {"a": a, "b": b}
    assert judge(parse("a and b"), values).value is kleene_and(a, b)
    assert judge(parse("a or b"), values).value is kleene_or(a, b)
    assert judge(parse("not a"), values).value is (None if a is None else not a)
    assert judge(parse("a == b"), values).value is (None if None in (a, b) else a == b)


def test_false_and_unknown_is_false_and_true_or_unknown_is_true():
    assert judge(parse("x > 1 and y > 1"), {"x": 0}).value is False
    assert judge(parse("x > 1 or y > 1"), {"x": 2}).value is True
    assert judge(parse("x > 1 or y > 1"), {"x": 0}).value is None


@pytest.mark.parametrize(
    ("expression", "values", "truth"),
    [
        ("x + y == 5", {"x": 2, "y": 3}, True),
        ("x - y == -1", {"x": 2, "y": 3}, True),
        ("x * y == 6", {"x": 2, "y": 3}, True),
        ("x / y > 0.66", {"x": 2, "y": 3}, True),
        ("x / y > 0.67", {"x": 2, "y": 3}, False),
        ("x / y > 0", {"x": 2, "y": 0}, None),
        ("-x < 0", {"x": 2}, True),
        ("x + y > 0", {"x": 2}, None),
        ("x in {1, 2}", {"x": 2}, True),
        ("x not in {1, 2}", {"x": 2}, False),
        ("x not in {1, 2}", {}, None),
        ("x in {1, 2}", {}, None),
        ("1 < x < 3", {"x": 2}, True),
        ("1 < x < 3", {"x": 3}, False),
        ("1 < x <= 3 != y", {"x": 3, "y": 3}, False),
        ('s == "a"', {"s": "a"}, True),
        ("true", {}, True),
        ("2 * 3 == 6", {}, True),
    ],
)
def test_operators(expression, values, truth):
    assert judge(parse(expression), values).value is truth


@pytest.fixture
def complete_patient():
    items = {
        "age": 58,
        "oa_duration_months": 24,
        "womac_total": 40,
        "womac_pain": 10,
        "kl_grade_index": 2,
        "oa_compartment": "medial",
        "bmi": 27.5,
        "creatinine": 80,
        "creatinine_uln": 104,
        "bilirubin": 10,
        "bilirubin_uln": 21,
        "hiv_positive": False,
        "hbv_positive": False,
    }
    return items, {"I1": True, "E5": False}


def results_of(result):
    return {criterion.id: criterion.result for criterion in result.criteria}


def test_eligible_patient(protocol, complete_patient):
    result = evaluate(protocol, *complete_patient)
    assert result.verdict == "eligible"
    assert set(results_of(result).values()) == {"pass"}
    reasons = {criterion.id: criterion.reason for criterion in result.criteria}
    assert reasons["AGE"] == "40 <= age 58 <= 75"
    assert reasons["E3"] == "bmi 27.5 <= 30"
    assert reasons["I1"] == "investigator answered yes"


def test_reasons_for_failures(protocol, complete_patient):
    items, attestations = complete_patient
    items |= {"age": 76, "creatinine": 105, "bilirubin": 45, "kl_grade_index": 4, "bmi": 31}
    result = evaluate(protocol, items, attestations)
    reasons = {criterion.id: criterion.reason for criterion in result.criteria}
    assert result.verdict == "ineligible"
    assert reasons["AGE"] == "age 76 > 75"
    assert reasons["E3"] == "bmi 31 > 30"
    assert reasons["E4"] == "creatinine 105 > ULN 104; bilirubin 45 > 2 * ULN 21 (= 42)"
    assert reasons["I6"] == "kl_grade_index 4 not in {2, 3}"
    items["age"] = 39
    assert evaluate(protocol, items, attestations).criteria[0].reason == "age 39 < 40"


def test_missing_items_make_criteria_unknown(protocol, complete_patient):
    items, attestations = complete_patient
    del items["womac_pain"]
    result = evaluate(protocol, items, attestations)
    assert result.verdict == "incomplete"
    i5 = result.criteria[3]
    assert (i5.id, i5.result, i5.reason) == ("I5", "unknown", "missing: womac_pain")
    assert result.missing == ["womac_pain"]
    items["womac_total"] = 80
    i5 = evaluate(protocol, items, attestations).criteria[3]
    assert (i5.result, i5.reason) == ("fail", "womac_total 80 > 72")


def test_null_is_missing(protocol, complete_patient):
    items, attestations = complete_patient
    items["bmi"] = None
    assert results_of(evaluate(protocol, items, attestations))["E3"] == "unknown"


def test_exclusion_being_true_fails(protocol, complete_patient):
    items, attestations = complete_patient
    items["hbv_positive"] = True
    e18 = evaluate(protocol, items, attestations).criteria[-1]
    assert (e18.type, e18.result, e18.reason) == ("exclusion", "fail", "hbv_positive is true")
    items["hbv_positive"] = None
    assert evaluate(protocol, items, attestations).criteria[-1].result == "unknown"


@pytest.mark.parametrize(
    ("answers", "i1", "e5", "verdict"),
    [
        ({"I1": True, "E5": False}, "pass", "pass", "eligible"),
        ({"I1": False, "E5": False}, "fail", "pass", "ineligible"),
        ({"I1": True, "E5": True}, "pass", "fail", "ineligible"),
        ({"I1": True}, "pass", "unknown", "incomplete"),
        ({}, "unknown", "unknown", "incomplete"),
        ({"I1": None, "E5": True}, "unknown", "fail", "ineligible"),
    ],
)
def test_attestations(protocol, complete_patient, answers, i1, e5, verdict):
    result = evaluate(protocol, complete_patient[0], answers)
    results = results_of(result)
    assert (results["I1"], results["E5"], result.verdict) == (i1, e5, verdict)
    if e5 == "unknown":
        e5_result = next(c for c in result.criteria if c.id == "E5")
        assert e5_result.reason == "missing: investigator's answer"
        assert "attestation E5" in result.missing


def test_unknown_items_and_answers_are_ignored_and_listed(protocol, complete_patient):
    items, attestations = complete_patient
    result = evaluate(protocol, items | {"height": 170}, attestations | {"AGE": True, "E99": False})
    assert result.verdict == "eligible"
    assert result.ignored_items == ("height",)
    assert result.ignored_attestations == ("AGE", "E99")


@pytest.mark.parametrize(
    ("item", "value", "message"),
    [
        ("age", "58", "item 'age': expected an integer, got \"58\""),
        ("age", 58.5, "item 'age': expected an integer, got 58.5"),
        ("age", True, "item 'age': expected an integer, got true"),
        ("bmi", False, "item 'bmi': expected a number, got false"),
        ("bmi", "27.5", "item 'bmi': expected a number, got \"27.5\""),
        ("bmi", float("nan"), "item 'bmi': expected a number, got nan"),
        ("bmi", [27], "item 'bmi': expected a number, got list [27]"),
        ("bmi", 9, "item 'bmi': 9 is below the minimum 10"),
        ("age", 121, "item 'age': 121 is above the maximum 120"),
        ("hiv_positive", "false", "item 'hiv_positive': expected true or false, got \"false\""),
        ("hiv_positive", 0, "item 'hiv_positive': expected true or false, got 0"),
        (
            "oa_compartment",
            "patellar",
            "item 'oa_compartment': 'patellar' is not one of medial, lateral, dual",
        ),
        ("oa_compartment", 1, "item 'oa_compartment': expected a string, got 1"),
        (
            "screening_date",
            "2024-02-30",
            "item 'screening_date': '2024-02-30' is not a calendar date",
        ),
        ("screening_date", "31/01/2024", "item 'screening_date': expected a date YYYY-MM-DD"),
    ],
)
def test_values_are_checked_against_their_data_item(protocol, item, value, message):
    with pytest.raises(EligibilityError) as raised:
        evaluate(protocol, {item: value}, {})
    assert str(raised.value).startswith(message)


def test_integral_float_is_an_integer(protocol):
    result = evaluate(protocol, {"age": 58.0}, {})
    assert result.criteria[0].reason == "40 <= age 58 <= 75"


def test_attestation_answers_must_be_booleans(protocol):
    with pytest.raises(
        EligibilityError, match="attestation 'I1': expected true or false, got \"yes\""
    ):
        evaluate(protocol, {}, {"I1": "yes"})


def test_dates(complete_patient):
    criteria = [
        {
            "id": "I1",
            "type": "inclusion",
            "text": "recent",
            "expression": 'screening_date >= "2024-01-31"',
        }
    ]
    protocol = protocol_with(criteria)
    assert evaluate(protocol, {"screening_date": "2024-01-31"}, {}).verdict == "eligible"
    assert evaluate(protocol, {"screening_date": "2024-01-30"}, {}).verdict == "ineligible"


def test_a_bad_expression_names_the_criterion():
    criteria = [dict(CRITERIA[0], expression="age > 'x'")]
    with pytest.raises(EligibilityError, match=r"criterion AGE: column 1: cannot compare"):
        evaluate(protocol_with(criteria), {}, {})
