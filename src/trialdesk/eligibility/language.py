"""The criteria language of protocol files: tokens, a typed expression tree, and type checking.

An `expression:` is parsed into frozen dataclasses and never evaluated as Python. The grammar,
loosest binding first::

    expression  := conjunction ("or" conjunction)*
    conjunction := negation ("and" negation)*
    negation    := "not" negation | comparison
    comparison  := sum (COMPARE sum)*  |  sum ["not"] "in" "{" literal ("," literal)* "}"
    sum         := product (("+" | "-") product)*
    product     := unary (("*" | "/") unary)*
    unary       := "-" unary | primary
    primary     := NUMBER | STRING | "true" | "false" | ITEM | "(" expression ")"

Comparisons chain as in mathematics: `40 <= age <= 75` means `40 <= age and age <= 75`.
This module imports nothing heavy: the protocol loader calls `expression_problems` for every
criterion while it validates a file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from trialdesk.errors import EligibilityError

if TYPE_CHECKING:
    from trialdesk.protocol.model import DataItem

COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")
NEGATED_COMPARISON = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}
MIRRORED_COMPARISON = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false"})
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

# Value kinds of the type checker. Data item types `integer` and `number` are both numbers.
NUMBER, BOOLEAN, STRING, DATE = "number", "boolean", "string", "date"
KIND_OF_ITEM_TYPE = {
    "integer": NUMBER,
    "number": NUMBER,
    "boolean": BOOLEAN,
    "string": STRING,
    "date": DATE,
}


# ---------------------------------------------------------------- the expression tree


@dataclass(frozen=True)
class Node:
    """Where a node sits in the source: offsets of its first and one-past-last character."""

    start: int
    end: int


@dataclass(frozen=True)
class Literal(Node):
    value: int | float | str | bool


@dataclass(frozen=True)
class ItemRef(Node):
    name: str


@dataclass(frozen=True)
class Negative(Node):
    operand: Expr


@dataclass(frozen=True)
class Arithmetic(Node):
    operator: str  # + - * /
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Comparison(Node):
    """A chain `a op1 b op2 c`: `operands` has one more element than `operators`."""

    operands: tuple[Expr, ...]
    operators: tuple[str, ...]

    def links(self) -> list[tuple[Expr, str, Expr]]:
        return [
            (self.operands[i], operator, self.operands[i + 1])
            for i, operator in enumerate(self.operators)
        ]


@dataclass(frozen=True)
class Membership(Node):
    operand: Expr
    values: tuple[Literal, ...]
    negated: bool


@dataclass(frozen=True)
class Not(Node):
    operand: Expr


@dataclass(frozen=True)
class And(Node):
    operands: tuple[Expr, ...]


@dataclass(frozen=True)
class Or(Node):
    operands: tuple[Expr, ...]


Expr = Literal | ItemRef | Negative | Arithmetic | Comparison | Membership | Not | And | Or


# ---------------------------------------------------------------- positions


def position(text: str, offset: int) -> str:
    """'column 12' (1-based), or 'line 2, column 3' when the expression spans lines."""
    if "\n" not in text:
        return f"column {offset + 1}"
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"line {line}, column {column}"


class _ParseError(Exception):
    def __init__(self, offset: int, message: str):
        super().__init__(message)
        self.offset = offset
        self.message = message


# ---------------------------------------------------------------- tokens


@dataclass(frozen=True)
class Token:
    kind: str  # number, string, name, keyword, operator, end
    text: str
    start: int
    value: int | float | str | None = None

    @property
    def end(self) -> int:
        return self.start + len(self.text)


_OPERATORS = ("<=", ">=", "==", "!=", "<", ">", "+", "-", "*", "/", "(", ")", "{", "}", ",")
_MISTAKES = {
    "&&": "use 'and'",
    "||": "use 'or'",
    "!": "use 'not'",
    "=": "use '==' to test equality",
    "&": "use 'and'",
    "|": "use 'or'",
    "^": "use '*' (there is no power operator)",
}
_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
            continue
        if char.isdigit():
            match = _NUMBER.match(text, i)
            assert match is not None
            if match.end() < len(text) and (
                text[match.end()] == "." or text[match.end()].isalpha()
            ):
                raise _ParseError(i, f"malformed number '{text[i : match.end() + 1]}'")
            literal = match.group()
            value: int | float = float(literal) if match.group(1) else int(literal)
            tokens.append(Token("number", literal, i, value))
            i = match.end()
            continue
        if char in "\"'":
            closing = text.find(char, i + 1)
            if closing < 0:
                raise _ParseError(i, "the string is not closed")
            tokens.append(Token("string", text[i : closing + 1], i, text[i + 1 : closing]))
            i = closing + 1
            continue
        if char.isalpha() or char == "_":
            match = _NAME.match(text, i)
            assert match is not None
            word = match.group()
            tokens.append(Token("keyword" if word in KEYWORDS else "name", word, i, word))
            i = match.end()
            continue
        two = text[i : i + 2]
        for mistake in (two, char):
            if mistake in _MISTAKES and not (mistake in ("!", "=") and two in _OPERATORS):
                raise _ParseError(i, f"'{mistake}' is not an operator; {_MISTAKES[mistake]}")
        operator = two if two in _OPERATORS else char if char in _OPERATORS else None
        if operator is None:
            raise _ParseError(i, f"unexpected character '{char}'")
        tokens.append(Token("operator", operator, i))
        i += len(operator)
    tokens.append(Token("end", "", len(text)))
    return tokens


# ---------------------------------------------------------------- parser


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def at(self, *texts: str) -> bool:
        return self.token.kind in ("operator", "keyword") and self.token.text in texts

    def advance(self) -> Token:
        token = self.token
        self.index += 1
        return token

    def parse(self) -> Expr:
        if self.token.kind == "end":
            raise _ParseError(0, "the expression is empty")
        expr = self.disjunction()
        if self.token.kind != "end":
            hint = " (missing 'and' or 'or'?)" if self.token.kind != "operator" else ""
            raise _ParseError(
                self.token.start, f"unexpected '{self.token.text}' after a complete condition{hint}"
            )
        return expr

    def _connective(self, word: str, operand, node_type):  # type: ignore[no-untyped-def]
        first = operand()
        operands = [first]
        while self.at(word):
            operator = self.advance()
            operands.append(self.operand_after(operator, operand))
        if len(operands) == 1:
            return first
        return node_type(first.start, operands[-1].end, tuple(operands))

    def operand_after(self, operator: Token, parse_operand):  # type: ignore[no-untyped-def]
        """Parse what must follow `operator`, or say that it is missing."""
        token = self.token
        comparison = token.kind == "operator" and token.text in COMPARISONS
        if token.kind == "end" or comparison or self.at(")", "}", ",", "and", "or", "*", "/", "+"):
            raise _ParseError(operator.start, f"expected an operand after '{operator.text}'")
        return parse_operand()

    def disjunction(self) -> Expr:
        return self._connective("or", self.conjunction, Or)

    def conjunction(self) -> Expr:
        return self._connective("and", self.negation, And)

    def negation(self) -> Expr:
        if self.at("not"):
            operator = self.advance()
            operand = self.operand_after(operator, self.negation)
            return Not(operator.start, operand.end, operand)
        return self.comparison()

    def comparison(self) -> Expr:
        first = self.sum()
        if self.at("in") or (self.at("not") and self.tokens[self.index + 1].text == "in"):
            negated = self.advance().text == "not"
            if negated:
                self.advance()
            return self.membership(first, negated)
        operands, operators = [first], []
        while self.token.kind == "operator" and self.token.text in COMPARISONS:
            operator = self.advance()
            operators.append(operator.text)
            operands.append(self.operand_after(operator, self.sum))
        if not operators:
            return first
        return Comparison(first.start, operands[-1].end, tuple(operands), tuple(operators))

    def membership(self, operand: Expr, negated: bool) -> Membership:
        opening = self.token
        if not self.at("{"):
            raise _ParseError(opening.start, "expected '{' with the values after 'in'")
        self.advance()
        values = [self.set_value()]
        while self.at(","):
            self.advance()
            values.append(self.set_value())
        if not self.at("}"):
            raise _ParseError(
                self.token.start,
                f"expected ',' or '}}' to close '{{' at {position(self.text, opening.start)}",
            )
        closing = self.advance()
        return Membership(operand.start, closing.end, operand, tuple(values), negated)

    def set_value(self) -> Literal:
        negative = self.at("-") and self.tokens[self.index + 1].kind == "number"
        minus = self.advance() if negative else None
        token = self.token
        if token.kind in ("number", "string") or self.at("true", "false"):
            self.advance()
            start = minus.start if minus else token.start
            return Literal(start, token.end, -token.value if minus else _literal_value(token))  # type: ignore[operator]
        raise _ParseError(token.start, "expected a number, a string, true or false in { }")

    def sum(self) -> Expr:
        left = self.product()
        while self.at("+", "-"):
            operator = self.advance()
            right = self.operand_after(operator, self.product)
            left = Arithmetic(left.start, right.end, operator.text, left, right)
        return left

    def product(self) -> Expr:
        left = self.unary()
        while self.at("*", "/"):
            operator = self.advance()
            right = self.operand_after(operator, self.unary)
            left = Arithmetic(left.start, right.end, operator.text, left, right)
        return left

    def unary(self) -> Expr:
        if self.at("-"):
            operator = self.advance()
            operand = self.operand_after(operator, self.unary)
            value = operand.value if isinstance(operand, Literal) else None
            if isinstance(value, int | float) and not isinstance(value, bool):
                return Literal(operator.start, operand.end, -value)
            return Negative(operator.start, operand.end, operand)
        return self.primary()

    def primary(self) -> Expr:
        token = self.token
        if token.kind in ("number", "string") or self.at("true", "false"):
            self.advance()
            return Literal(token.start, token.end, _literal_value(token))
        if token.kind == "name":
            self.advance()
            return ItemRef(token.start, token.end, token.text)
        if self.at("("):
            self.advance()
            if self.at(")"):
                raise _ParseError(token.start, "expected a condition or a value inside '( )'")
            inner = self.disjunction()
            if not self.at(")"):
                raise _ParseError(
                    self.token.start if self.token.kind != "end" else token.start,
                    f"expected ')' to close '(' at {position(self.text, token.start)}",
                )
            self.advance()
            return inner
        if token.kind == "end":
            raise _ParseError(token.start, "the expression ends where an operand is expected")
        raise _ParseError(token.start, f"expected an operand, found '{token.text}'")


def _literal_value(token: Token) -> int | float | str | bool:
    if token.kind == "keyword":
        return token.text == "true"
    assert token.value is not None
    return token.value


def parse(expression: str) -> Expr:
    """Parse an expression into its tree; EligibilityError names the position of a mistake."""
    try:
        return _Parser(expression).parse()
    except _ParseError as error:
        raise EligibilityError(f"{position(expression, error.offset)}: {error.message}") from None


# ---------------------------------------------------------------- type checking


@dataclass(frozen=True)
class _Checked:
    kind: str | None  # None when an earlier problem makes the kind unknowable
    text: str  # how a message quotes the operand


class _TypeChecker:
    def __init__(self, text: str, data_items: Mapping[str, DataItem]):
        self.text = text
        self.data_items = data_items
        self.problems: list[str] = []

    def problem(self, node: Node, message: str) -> None:
        self.problems.append(f"{position(self.text, node.start)}: {message}")

    def quote(self, node: Node) -> str:
        source = self.text[node.start : node.end]
        return source if isinstance(node, Literal) else f"'{source}'"

    def condition(self, node: Expr, context: str) -> None:
        checked = self.check(node)
        if checked.kind not in (None, BOOLEAN):
            self.problem(
                node, f"{context} needs a condition, but {checked.kind} {checked.text} is not one"
            )

    def check(self, node: Expr) -> _Checked:
        quoted = self.quote(node)
        match node:
            case Literal(value=value):
                kind = (
                    BOOLEAN
                    if isinstance(value, bool)
                    else STRING
                    if isinstance(value, str)
                    else NUMBER
                )
                return _Checked(kind, quoted)
            case ItemRef(name=name):
                item = self.data_items.get(name)
                if item is None:
                    self.problem(node, f"unknown data item '{name}'")
                    return _Checked(None, quoted)
                return _Checked(KIND_OF_ITEM_TYPE[str(item.type)], quoted)
            case Negative(operand=operand):
                self.number(operand, "'-'")
                return _Checked(NUMBER, quoted)
            case Arithmetic(operator=operator, left=left, right=right):
                self.number(left, f"'{operator}'")
                self.number(right, f"'{operator}'")
                return _Checked(NUMBER, quoted)
            case Comparison():
                for left, operator, right in node.links():
                    self.comparable(left, operator, right)
                return _Checked(BOOLEAN, quoted)
            case Membership(operand=operand, values=values):
                for value in values:
                    self.comparable(operand, "in", value)
                return _Checked(BOOLEAN, quoted)
            case Not(operand=operand):
                self.condition(operand, "'not'")
                return _Checked(BOOLEAN, quoted)
            case And(operands=operands) | Or(operands=operands):
                word = "'and'" if isinstance(node, And) else "'or'"
                for operand in operands:
                    self.condition(operand, word)
                return _Checked(BOOLEAN, quoted)
        raise AssertionError(node)

    def number(self, node: Expr, operator: str) -> None:
        checked = self.check(node)
        if checked.kind not in (None, NUMBER):
            self.problem(
                node, f"{operator} needs numbers, but {checked.kind} {checked.text} is not one"
            )

    def comparable(self, left: Expr, operator: str, right: Expr) -> None:
        """Both sides of one comparison: same kind, ordering only on numbers and dates."""
        checked_left, checked_right = self.check(left), self.check(right)
        kinds = {checked_left.kind, checked_right.kind}
        if None in kinds:
            return
        if kinds == {DATE, STRING}:
            literal = right if checked_right.kind == STRING else left
            if isinstance(literal, Literal) and ISO_DATE.fullmatch(str(literal.value)):
                return
            self.problem(literal, f"{self.quote(literal)} is not a date written YYYY-MM-DD")
            return
        if len(kinds) > 1:
            self.problem(
                left,
                f"cannot compare {checked_left.kind} {checked_left.text} "
                f"with {checked_right.kind} {checked_right.text}",
            )
            return
        kind = kinds.pop()
        if operator in ("<", "<=", ">", ">=") and kind in (STRING, BOOLEAN):
            self.problem(
                left, f"'{operator}' orders numbers and dates, not {kind} {checked_left.text}"
            )
            return
        if kind == STRING:
            self.in_codelist(left, right)
            self.in_codelist(right, left)

    def in_codelist(self, item: Expr, value: Expr) -> None:
        if not (isinstance(item, ItemRef) and isinstance(value, Literal)):
            return
        codelist = self.data_items[item.name].codelist
        if codelist is not None and value.value not in codelist:
            allowed = ", ".join(codelist)
            self.problem(
                value, f"{self.quote(value)} is not in the codelist of {item.name} ({allowed})"
            )


def check_types(expression: str, tree: Expr, data_items: Mapping[str, DataItem]) -> list[str]:
    """Type problems of a parsed expression: one message per problem, each with its position."""
    checker = _TypeChecker(expression, data_items)
    checker.condition(tree, "a criterion")
    return checker.problems


def expression_problems(expression: str, data_items: Mapping[str, DataItem]) -> list[str]:
    """Every problem of an expression against the protocol's data items; empty when fine.

    A parse error stops at the first mistake (what follows cannot be read reliably); type
    problems are all reported.
    """
    try:
        tree = parse(expression)
    except EligibilityError as error:
        return [str(error)]
    return check_types(expression, tree, data_items)


def compile_expression(expression: str, data_items: Mapping[str, DataItem]) -> Expr:
    """Parse and type-check, raising EligibilityError with every problem."""
    tree = parse(expression)
    problems = check_types(expression, tree, data_items)
    if problems:
        raise EligibilityError("; ".join(problems))
    return tree
