import pytest

from trialdesk.instruments.formula import Formula, FormulaSyntaxError


def test_arithmetic_follows_python_precedence():
    assert Formula.parse("a + b * 2 ** 2 / 4 - -c").evaluate({"a": 1, "b": 2, "c": 3}) == 6


def test_names_are_the_ids_read():
    assert Formula.parse("weight_kg / (height_cm / 100) ** 2").names == {"weight_kg", "height_cm"}


def test_a_missing_input_makes_the_result_missing():
    assert Formula.parse("pain + stiffness").evaluate({"pain": 3.0, "stiffness": None}) is None
    assert Formula.parse("pain + stiffness").evaluate({"pain": 3.0}) is None


def test_comparisons_chain_and_combine():
    formula = Formula.parse("0 <= a < 3 and not (b == 1) or c != c")
    assert formula.evaluate({"a": 2, "b": 0, "c": 1}) is True
    assert formula.evaluate({"a": 3, "b": 0, "c": 1}) is False
    assert formula.evaluate({"a": 2, "b": 1, "c": 1}) is False


def test_functions_abs_min_max():
    assert Formula.parse("abs(a) + min(a, b) + max(a, b, 10)").evaluate({"a": -4, "b": 2}) == 10


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os')",
        "a.real",
        "a[0]",
        "lambda: 1",
        "'text'",
        "True",
        "open(a)",
        "min()",
        "a if b else c",
        "a // b",
    ],
)
def test_anything_but_arithmetic_is_refused(text):
    with pytest.raises(FormulaSyntaxError, match="is not allowed"):
        Formula.parse(text)


def test_a_syntax_error_names_the_formula():
    with pytest.raises(FormulaSyntaxError, match="'a \\+' does not parse"):
        Formula.parse("a +")
