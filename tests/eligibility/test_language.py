"""The criteria language: parsing with positions, precedence, and type checking."""

from __future__ import annotations

import subprocess
import sys

import pytest

from trialdesk.eligibility.language import (
    And,
    Arithmetic,
    Comparison,
    ItemRef,
    Literal,
    Membership,
    Negative,
    Not,
    Or,
    expression_problems,
    parse,
)
from trialdesk.errors import EligibilityError
from trialdesk.protocol.model import DataItem

from .conftest import ITEMS

NOT_IN_CODELIST = "is not in the codelist of oa_compartment (medial, lateral, dual)"
DATA_ITEMS = {item["id"]: DataItem.model_validate(item) for item in ITEMS}


def test_chained_comparison_keeps_every_operand_and_operator():
    tree = parse("40 <= age <= 75")
    assert isinstance(tree, Comparison)
    assert tree.operators == ("<=", "<=")
    assert [type(operand) for operand in tree.operands] == [Literal, ItemRef, Literal]
    assert tree.operands[1] == ItemRef(6, 9, "age")


@pytest.mark.parametrize("operator", ["<", "<=", ">", ">=", "==", "!="])
def test_every_comparison_operator(operator):
    tree = parse(f"bmi {operator} 30")
    assert isinstance(tree, Comparison) and tree.operators == (operator,)


def test_and_binds_tighter_than_or_and_not_tighter_than_and():
    tree = parse("a or not b and c")
    assert isinstance(tree, Or)
    assert isinstance(tree.operands[1], And)
    assert isinstance(tree.operands[1].operands[0], Not)


def test_arithmetic_precedence_and_left_associativity():
    tree = parse("a - b - c * d / e > 0")
    assert isinstance(tree, Comparison)
    left = tree.operands[0]
    assert isinstance(left, Arithmetic) and left.operator == "-"
    assert isinstance(left.left, Arithmetic) and left.left.operator == "-"
    product = left.right
    assert isinstance(product, Arithmetic) and product.operator == "/"
    assert isinstance(product.left, Arithmetic) and product.left.operator == "*"


def test_parentheses_override_precedence():
    tree = parse("(a or b) and c")
    assert isinstance(tree, And) and isinstance(tree.operands[0], Or)


def test_literals_and_unary_minus():
    tree = parse('x in {1, -2, 2.5, "s", true, false}')
    assert isinstance(tree, Membership) and not tree.negated
    assert [value.value for value in tree.values] == [1, -2, 2.5, "s", True, False]
    negative = parse("-age < -3")
    assert isinstance(negative, Comparison)
    assert isinstance(negative.operands[0], Negative)
    assert negative.operands[1] == Literal(7, 9, -3)


def test_not_in():
    tree = parse("kl_grade_index not in {2, 3}")
    assert isinstance(tree, Membership) and tree.negated


def test_single_quoted_strings():
    tree = parse("oa_compartment == 'medial'")
    assert isinstance(tree, Comparison) and tree.operands[1] == Literal(18, 26, "medial")


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("age > 3 and", "column 9: expected an operand after 'and'"),
        ("age >", "column 5: expected an operand after '>'"),
        ("age = 3", "column 5: '=' is not an operator; use '==' to test equality"),
        ("age > 3 && bmi < 2", "column 9: '&&' is not an operator; use 'and'"),
        ("!hiv_positive", "column 1: '!' is not an operator; use 'not'"),
        ("(age > 3", "column 1: expected ')' to close '(' at column 1"),
        ("age > 3)", "column 8: unexpected ')' after a complete condition"),
        ("age > 3 bmi", "column 9: unexpected 'bmi' after a complete condition"),
        ("age in 3", "column 8: expected '{' with the values after 'in'"),
        ("age in {2, bmi}", "column 12: expected a number, a string, true or false in { }"),
        ("age in {2, 3", "column 13: expected ',' or '}' to close '{' at column 8"),
        ('oa_compartment == "medial', "column 19: the string is not closed"),
        ("age > 3 $", "column 9: unexpected character '$'"),
        ("neutrophils < 10^9", "column 17: '^' is not an operator"),
        ("age > 3.", "column 7: malformed number '3.'"),
        ("", "column 1: the expression is empty"),
        ("()", "column 1: expected a condition or a value inside '( )'"),
    ],
)
def test_parse_errors_name_the_column(expression, message):
    with pytest.raises(EligibilityError) as raised:
        parse(expression)
    assert str(raised.value).startswith(message)
    assert expression_problems(expression, DATA_ITEMS)[0].startswith(message)


def test_positions_in_a_multi_line_expression():
    with pytest.raises(EligibilityError, match="line 2, column 1: expected an operand after 'and'"):
        parse("age > 3\nand or bmi > 3")


@pytest.mark.parametrize(
    ("expression", "problems"),
    [
        ("bmi2 > 30", ["column 1: unknown data item 'bmi2'"]),
        ("bmi > 30 and bmi2 > 3", ["column 14: unknown data item 'bmi2'"]),
        (
            "not hiv_positive > 30",
            ["column 5: cannot compare boolean 'hiv_positive' with number 30"],
        ),
        ("age > 'a'", ["column 1: cannot compare number 'age' with string 'a'"]),
        ("age", ["column 1: a criterion needs a condition, but number 'age' is not one"]),
        ("age and bmi > 3", ["column 1: 'and' needs a condition, but number 'age' is not one"]),
        ("bmi > 3 or 2", ["column 12: 'or' needs a condition, but number 2 is not one"]),
        ("not age", ["column 5: 'not' needs a condition, but number 'age' is not one"]),
        (
            "hiv_positive + 1 > 2",
            ["column 1: '+' needs numbers, but boolean 'hiv_positive' is not one"],
        ),
        (
            "-hiv_positive < 2",
            ["column 2: '-' needs numbers, but boolean 'hiv_positive' is not one"],
        ),
        (
            "hiv_positive < true",
            ["column 1: '<' orders numbers and dates, not boolean 'hiv_positive'"],
        ),
        (
            'oa_compartment > "medial"',
            ["column 1: '>' orders numbers and dates, not string 'oa_compartment'"],
        ),
        (
            'oa_compartment in {"medial", "medail"}',
            [f'column 30: "medail" {NOT_IN_CODELIST}'],
        ),
        (
            'oa_compartment == "x"',
            ['column 19: "x" is not in the codelist of oa_compartment (medial, lateral, dual)'],
        ),
        (
            'kl_grade_index in {2, "3"}',
            ["column 1: cannot compare number 'kl_grade_index' with string \"3\""],
        ),
        ('screening_date < "2024-13"', ['column 18: "2024-13" is not a date written YYYY-MM-DD']),
        (
            "bmi2 > 1 or bmi3 < 2",
            ["column 1: unknown data item 'bmi2'", "column 13: unknown data item 'bmi3'"],
        ),
    ],
)
def test_type_problems(expression, problems):
    assert expression_problems(expression, DATA_ITEMS) == problems


@pytest.mark.parametrize(
    "expression",
    [
        "40 <= age <= 75",
        "6 < oa_duration_months < 120",
        "24 <= womac_total <= 72 and 7 <= womac_pain <= 17",
        "kl_grade_index in {2, 3}",
        "creatinine > creatinine_uln or bilirubin > 2 * bilirubin_uln",
        "hiv_positive or hbv_positive",
        "not hiv_positive and hbv_positive == false",
        'oa_compartment in {"medial", "lateral", "dual"}',
        'screening_date >= "2024-01-31"',
        "(womac_total - womac_pain) / 2 + -1 * bmi >= 0",
        "true",
    ],
)
def test_valid_expressions_have_no_problems(expression):
    assert expression_problems(expression, DATA_ITEMS) == []


def test_the_language_module_imports_nothing_heavy():
    code = (
        "import sys, trialdesk.eligibility.language as l; "
        "print(sorted({m.split('.')[0] for m in sys.modules}"
        " & {'pandas', 'duckdb', 'sqlglot', 'numpy'}))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert output.stdout.strip() == "[]"
