"""Criteria compiled to one SQL query: a SQLGlot tree built once, rendered per dialect.

The query reads a table `cohort` with `patient_id`, one typed column per data item (integer ->
BIGINT, number -> DOUBLE, boolean, string, date) and a boolean `attest_<ID>` column per
attestation, and returns `patient_id`, `verdict` and one `pass`/`fail`/`unknown` column per
criterion. SQL's NULL logic is Kleene logic, so a NULL condition is `unknown`; the compilation
keeps every other operation exact against the Python evaluator:

- `x in {..}` lists only literals (never NULL), so `IN` and `NOT (.. IN ..)` are exact;
- division casts to DOUBLE (integer division in PostgreSQL and Trino otherwise) and divides by
  `NULLIF(d, 0)`: a division by zero is unknown, as in the evaluator, not an error or infinity;
- a decimal literal inside arithmetic is cast to DOUBLE, since engines read `0.1` as DECIMAL
  and exact decimal arithmetic would disagree with binary floating point.
"""

from __future__ import annotations

import functools

from sqlglot import exp

from trialdesk.eligibility.evaluation import ProtocolCriteria
from trialdesk.eligibility.language import (
    DATE,
    KIND_OF_ITEM_TYPE,
    And,
    Arithmetic,
    Comparison,
    Expr,
    ItemRef,
    Literal,
    Membership,
    Negative,
    Not,
    Or,
)

DIALECTS = ("duckdb", "postgres", "spark", "trino", "bigquery")
COHORT_TABLE = "cohort"
CRITERIA_TABLE = "criteria"
SQL_TYPES = {
    "integer": "BIGINT",
    "number": "DOUBLE",
    "boolean": "BOOLEAN",
    "string": "VARCHAR",
    "date": "DATE",
}
_COMPARE = {"<": exp.LT, "<=": exp.LTE, ">": exp.GT, ">=": exp.GTE, "==": exp.EQ, "!=": exp.NEQ}
_ARITHMETIC = {"+": exp.Add, "-": exp.Sub, "*": exp.Mul}


def attestation_column(criterion_id: str) -> str:
    return f"attest_{criterion_id}"


def column(name: str) -> exp.Column:
    return exp.column(name, quoted=True)


class _Compiler:
    def __init__(self, item_kinds: dict[str, str]):
        self.item_kinds = item_kinds

    def is_date(self, node: Expr) -> bool:
        return isinstance(node, ItemRef) and self.item_kinds.get(node.name) == DATE

    def value(
        self, node: Expr, in_arithmetic: bool = False, as_date: bool = False
    ) -> exp.Expression:
        match node:
            case Literal(value=bool(value)):
                return exp.Boolean(this=value)
            case Literal(value=str(value)):
                literal = exp.Literal.string(value)
                return exp.cast(literal, "DATE") if as_date else literal
            case Literal(value=int(value)):
                return _signed(exp.Literal.number(abs(value)), value < 0)
            case Literal(value=float(value)):
                literal = _signed(exp.Literal.number(repr(abs(value))), value < 0)
                return exp.cast(literal, "DOUBLE") if in_arithmetic else literal
            case ItemRef(name=name):
                return column(name)
            case Negative(operand=operand):
                inner = self.value(operand, True)
                atom = isinstance(inner, exp.Column | exp.Paren | exp.Cast | exp.Literal)
                return exp.Neg(this=inner if atom else exp.Paren(this=inner))
            case Arithmetic(operator="/", left=left, right=right):
                numerator = exp.cast(self.value(left, True), "DOUBLE")
                denominator = exp.Nullif(
                    this=self.value(right, True), expression=exp.Literal.number(0)
                )
                return exp.Div(this=numerator, expression=denominator)
            case Arithmetic(operator=operator, left=left, right=right):
                tight = operator == "*"
                return _ARITHMETIC[operator](
                    this=_term(self.value(left, True), tight, right_side=False),
                    expression=_term(self.value(right, True), tight, right_side=True),
                )
        return exp.Paren(this=self.condition(node))

    def condition(self, node: Expr) -> exp.Expression:
        match node:
            case Comparison():
                links = []
                for left, operator, right in node.links():
                    dates = self.is_date(left) or self.is_date(right)
                    links.append(
                        _COMPARE[operator](
                            this=self.value(left, as_date=dates),
                            expression=self.value(right, as_date=dates),
                        )
                    )
                return _joined(exp.And, links)
            case Membership(operand=operand, values=values, negated=negated):
                dates = self.is_date(operand)
                membership = exp.In(
                    this=self.value(operand),
                    expressions=[self.value(value, as_date=dates) for value in values],
                )
                return exp.Not(this=exp.Paren(this=membership)) if negated else membership
            case Not(operand=operand):
                inner = self.condition(operand)
                return exp.Not(
                    this=inner if isinstance(inner, exp.Column) else exp.Paren(this=inner)
                )
            case And(operands=operands):
                return _joined(exp.And, [self.condition(operand) for operand in operands])
            case Or(operands=operands):
                return _joined(exp.Or, [self.condition(operand) for operand in operands])
        return self.value(node)


def _signed(literal: exp.Expression, negative: bool) -> exp.Expression:
    return exp.Neg(this=literal) if negative else literal


def _term(expression: exp.Expression, tight: bool, right_side: bool) -> exp.Expression:
    """Parentheses that keep the tree's order of operations (floating point is not associative)."""
    sum_ = isinstance(expression, exp.Add | exp.Sub)
    product = isinstance(expression, exp.Mul | exp.Div)
    if (sum_ and (tight or right_side)) or (product and tight and right_side):
        return exp.Paren(this=expression)
    return expression


def _joined(connective: type[exp.Connector], parts: list[exp.Expression]) -> exp.Expression:
    """AND or OR of parts; a part of the other connective keeps its parentheses."""

    def grouped(part: exp.Expression) -> exp.Expression:
        other = isinstance(part, exp.Connector) and not isinstance(part, connective)
        return exp.Paren(this=part) if other else part

    result = grouped(parts[0])
    for part in parts[1:]:
        result = connective(this=result, expression=grouped(part))
    return result


def condition_sql(tree: Expr, item_kinds: dict[str, str]) -> exp.Expression:
    """A condition as a SQL boolean expression, NULL where the evaluator says unknown."""
    return _Compiler(item_kinds).condition(tree)


def _word(text: str, sql_type: str | None) -> exp.Expression:
    literal = exp.Literal.string(text)
    if sql_type is None:
        return literal
    return exp.cast(literal, exp.DataType.build(sql_type, udt=True))


def criteria_select(
    criteria: ProtocolCriteria,
    *,
    result_type: str | None = None,
    verdict_type: str | None = None,
) -> exp.Select:
    """The screening query: per-criterion results in a CTE, then the verdict.

    The result and verdict words are plain strings unless `result_type` / `verdict_type` name
    an SQL type to cast them to: the screen passes DuckDB ENUMs, which store one byte per
    result instead of a string and compare as integers, with the same words in its output.
    """
    word = functools.partial(_word, sql_type=result_type)
    item_kinds = {
        name: KIND_OF_ITEM_TYPE[str(item.type)] for name, item in criteria.data_items.items()
    }
    results = []
    for criterion, tree in criteria.criteria:
        if tree is None:
            condition: exp.Expression = column(attestation_column(criterion.id))
        else:
            condition = condition_sql(tree, item_kinds)
        when_true, when_false = (
            ("pass", "fail") if criterion.type == "inclusion" else ("fail", "pass")
        )
        case = (
            exp.Case(
                this=condition if isinstance(condition, exp.Column) else exp.Paren(this=condition)
            )
            .when(exp.true(), word(when_true))
            .when(exp.false(), word(when_false))
            .else_(word("unknown"))
        )
        results.append(exp.alias_(case, criterion.id, quoted=True))
    per_criterion = exp.select(column("patient_id"), *results).from_(COHORT_TABLE)
    ids = [column(criterion.id) for criterion, _ in criteria.criteria]
    verdict = (
        exp.Case()
        .when(
            exp.In(this=word("fail"), expressions=ids),
            _word("ineligible", verdict_type),
        )
        .when(
            exp.In(this=word("unknown"), expressions=list(ids)),
            _word("incomplete", verdict_type),
        )
        .else_(_word("eligible", verdict_type))
    )
    return (
        exp.select(column("patient_id"), exp.alias_(verdict, "verdict", quoted=True), *ids)
        .from_(CRITERIA_TABLE)
        .with_(CRITERIA_TABLE, as_=per_criterion)
    )


def screening_sql(criteria: ProtocolCriteria, dialect: str, pretty: bool = True) -> str:
    """The screening query in one SQL dialect."""
    return criteria_select(criteria).sql(dialect=dialect, pretty=pretty)
