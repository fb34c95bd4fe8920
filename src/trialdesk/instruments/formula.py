"""Derived-score formulas: a small arithmetic language over item and score ids.

A definition file may say `formula: weight_kg / (height_cm / 100) ** 2`. The text is parsed
once with Python's `ast` and only numbers, names, arithmetic, comparisons, `and`/`or`/`not`
and the functions `abs`, `min`, `max` are accepted, so a definition file can never run code.
A formula whose inputs include a missing value is itself missing (None).
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {"abs": abs, "min": min, "max": max}


class FormulaSyntaxError(ValueError):
    """A formula that is not in the accepted arithmetic language."""


@dataclass(frozen=True)
class Formula:
    """A parsed formula; `names` are the item or score ids it reads."""

    text: str
    tree: ast.expr
    names: frozenset[str]

    @classmethod
    def parse(cls, text: str) -> Formula:
        try:
            tree = ast.parse(text, mode="eval").body
        except SyntaxError as error:
            raise FormulaSyntaxError(f"formula {text!r} does not parse: {error.msg}") from None
        names: set[str] = set()
        _check(tree, text, names)
        return cls(text=text, tree=tree, names=frozenset(names))

    def evaluate(self, values: Mapping[str, Any]) -> Any:
        """The formula's value, or None when any value it reads is missing."""
        if any(values.get(name) is None for name in self.names):
            return None
        return _evaluate(self.tree, values)


def _check(node: ast.expr, text: str, names: set[str]) -> None:
    match node:
        case ast.Constant(value=value) if isinstance(value, int | float) and not isinstance(
            value, bool
        ):
            return
        case ast.Name(id=name):
            names.add(name)
        case ast.BinOp(left=left, op=op, right=right) if type(op) in _BINARY:
            _check(left, text, names)
            _check(right, text, names)
        case ast.UnaryOp(op=ast.USub() | ast.Not(), operand=operand):
            _check(operand, text, names)
        case ast.Compare(left=left, ops=ops, comparators=comparators) if all(
            type(op) in _COMPARE for op in ops
        ):
            for part in (left, *comparators):
                _check(part, text, names)
        case ast.BoolOp(values=operands):
            for operand in operands:
                _check(operand, text, names)
        case ast.Call(func=ast.Name(id=function), args=args, keywords=[]) if (
            function in _FUNCTIONS and args
        ):
            for argument in args:
                _check(argument, text, names)
        case _:
            raise FormulaSyntaxError(
                f"formula {text!r}: {ast.unparse(node)!r} is not allowed "
                "(use numbers, ids, + - * / **, comparisons, and/or/not, abs, min, max)"
            )


def _evaluate(node: ast.expr, values: Mapping[str, Any]) -> Any:
    match node:
        case ast.Constant(value=value):
            return value
        case ast.Name(id=name):
            return values[name]
        case ast.BinOp(left=left, op=op, right=right):
            return _BINARY[type(op)](_evaluate(left, values), _evaluate(right, values))
        case ast.UnaryOp(op=ast.USub(), operand=operand):
            return -_evaluate(operand, values)
        case ast.UnaryOp(operand=operand):
            return not _evaluate(operand, values)
        case ast.Compare(left=left, ops=ops, comparators=comparators):
            current = _evaluate(left, values)
            for op, comparator in zip(ops, comparators, strict=True):
                following = _evaluate(comparator, values)
                if not _COMPARE[type(op)](current, following):
                    return False
                current = following
            return True
        case ast.BoolOp(op=ast.And(), values=operands):
            return all(_evaluate(operand, values) for operand in operands)
        case ast.BoolOp(values=operands):
            return any(_evaluate(operand, values) for operand in operands)
        case ast.Call(func=ast.Name(id=function), args=args):
            return _FUNCTIONS[function](*(_evaluate(argument, values) for argument in args))
    raise AssertionError(f"unchecked formula node {ast.dump(node)}")
