"""Three-valued (Kleene) evaluation of one patient against a protocol, with reasons in words.

`None` is unknown. A missing item makes a comparison unknown; `false and unknown` is false and
`true or unknown` is true. Each reason states the facts that decide a result, written from the
patient's values ("age 76 > 75", "creatinine 105 > ULN 104", "missing: womac_pain"), so the
same sentence explains a passing inclusion and a failing one.
"""

from __future__ import annotations

import datetime as dt
import math
import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any
from typing import Literal as TypingLiteral

from trialdesk.eligibility.language import (
    ISO_DATE,
    MIRRORED_COMPARISON,
    NEGATED_COMPARISON,
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
    compile_expression,
)
from trialdesk.errors import EligibilityError

if TYPE_CHECKING:
    from trialdesk.protocol.model import Criterion, DataItem, Protocol

Truth = bool | None
Result = TypingLiteral["pass", "fail", "unknown"]
Verdict = TypingLiteral["eligible", "ineligible", "incomplete"]
Value = int | float | str | bool | dt.date | None


# ---------------------------------------------------------------- patient values


def item_value(item: DataItem, value: Any) -> Value:
    """A JSON value checked against its data item: type, range and codelist.

    Numbers become floats and integers ints, as the SQL engine types them, so that arithmetic
    agrees between the two engines. A bool is not a number.
    """
    kind = str(item.type)
    if value is None:
        return None
    where = f"item '{item.id}'"
    if kind in ("integer", "number"):
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if not numeric or not math.isfinite(value):
            raise EligibilityError(f"{where}: expected {_a(kind)}, got {_shown(value)}")
        if kind == "integer":
            if isinstance(value, float) and not value.is_integer():
                raise EligibilityError(f"{where}: expected an integer, got {_shown(value)}")
            value = int(value)
        else:
            value = float(value)
        if item.min is not None and value < item.min:
            raise EligibilityError(
                f"{where}: {number_text(value)} is below the minimum {number_text(item.min)}"
            )
        if item.max is not None and value > item.max:
            raise EligibilityError(
                f"{where}: {number_text(value)} is above the maximum {number_text(item.max)}"
            )
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise EligibilityError(f"{where}: expected true or false, got {_shown(value)}")
        return value
    if kind == "date":
        if isinstance(value, dt.date):
            return value
        if not (isinstance(value, str) and ISO_DATE.fullmatch(value)):
            raise EligibilityError(f"{where}: expected a date YYYY-MM-DD, got {_shown(value)}")
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise EligibilityError(f"{where}: {value!r} is not a calendar date") from None
    if not isinstance(value, str):
        raise EligibilityError(f"{where}: expected a string, got {_shown(value)}")
    if item.codelist is not None and value not in item.codelist:
        allowed = ", ".join(item.codelist)
        raise EligibilityError(f"{where}: {value!r} is not one of {allowed}")
    return value


def _a(kind: str) -> str:
    return "an integer" if kind == "integer" else "a number"


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return f"{type(value).__name__} {value!r}" if isinstance(value, list | dict) else repr(value)


def number_text(value: float) -> str:
    """A number as a message shows it: 10 rather than 10.0, 29.9 as written."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value)


def _text(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, int | float):
        return number_text(value)
    return str(value)


# ---------------------------------------------------------------- evaluation with reasons


@dataclass(frozen=True)
class Operand:
    """A computed value with how a reason shows it."""

    value: Value
    text: str
    missing: tuple[str, ...] = ()
    undefined: bool = False
    computed: bool = False  # arithmetic: the reason adds "(= value)"

    def shown(self) -> str:
        return f"{self.text} (= {_text(self.value)})" if self.computed else self.text


@dataclass(frozen=True)
class Judgement:
    value: Truth
    facts: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    undefined: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        if self.value is not None:
            return "; ".join(self.facts)
        parts = []
        if self.missing:
            parts.append("missing: " + ", ".join(self.missing))
        parts.extend(f"undefined: {text}" for text in self.undefined)
        return "; ".join(parts)


def _unique(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


_ARITHMETIC = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}


def _operand(node: Expr, values: Mapping[str, Value], uln_of: frozenset[str]) -> Operand:
    match node:
        case Literal(value=value):
            return Operand(value, _text(value))
        case ItemRef(name=name):
            value = values.get(name)
            if value is None:
                return Operand(None, name, missing=(name,))
            base = name.removesuffix("_uln")
            label = "ULN" if name != base and base in uln_of else name
            return Operand(value, f"{label} {_text(value)}")
        case Negative(operand=inner):
            operand = _operand(inner, values, uln_of)
            value = None if operand.value is None else -operand.value  # type: ignore[operator]
            return Operand(
                value, f"-{_grouped(inner, operand)}", operand.missing, operand.undefined, True
            )
        case Arithmetic(operator=symbol, left=left_node, right=right_node):
            left = _operand(left_node, values, uln_of)
            right = _operand(right_node, values, uln_of)
            text = f"{_grouped(left_node, left)} {symbol} {_grouped(right_node, right)}"
            missing = _unique(left.missing + right.missing)
            if left.value is None or right.value is None:
                return Operand(None, text, missing, left.undefined or right.undefined, True)
            if symbol == "/" and right.value == 0:
                return Operand(None, text, missing, True, True)
            result = _ARITHMETIC[symbol](left.value, right.value)
            return Operand(result, text, missing, False, True)
    raise AssertionError(node)


def _grouped(node: Expr, operand: Operand) -> str:
    return f"({operand.text})" if isinstance(node, Arithmetic) else operand.text


def _items_of(node: Expr) -> frozenset[str]:
    return frozenset([node.name]) if isinstance(node, ItemRef) else frozenset()


_COMPARE = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


def _compare(a: Value, comparison: str, b: Value) -> bool:
    if isinstance(a, dt.date) and isinstance(b, str):
        b = dt.date.fromisoformat(b)
    if isinstance(b, dt.date) and isinstance(a, str):
        a = dt.date.fromisoformat(a)
    return _COMPARE[comparison](a, b)


def _unknown(*operands: Operand, text: str) -> Judgement:
    missing = _unique(name for operand in operands for name in operand.missing)
    undefined = (f"division by zero in {text}",) if any(o.undefined for o in operands) else ()
    return Judgement(None, missing=missing, undefined=undefined)


def _link(
    left_node: Expr, comparison: str, right_node: Expr, values: Mapping[str, Value]
) -> Judgement:
    left = _operand(left_node, values, _items_of(right_node))
    right = _operand(right_node, values, _items_of(left_node))
    if left.value is None or right.value is None:
        return _unknown(left, right, text=f"{left.text} {comparison} {right.text}")
    holds = _compare(left.value, comparison, right.value)
    fact = comparison if holds else NEGATED_COMPARISON[comparison]
    if isinstance(left_node, Literal) and not isinstance(right_node, Literal):
        left, right, fact = right, left, MIRRORED_COMPARISON[fact]
    return Judgement(holds, (f"{left.shown()} {fact} {right.shown()}",))


def _combine(parts: list[Judgement], decisive: bool) -> Judgement:
    """Kleene `and` (decisive=False) or `or` (decisive=True) of already judged parts."""
    deciding = [part for part in parts if part.value is decisive]
    if deciding:
        return Judgement(decisive, _unique(f for part in deciding for f in part.facts))
    unknown = [part for part in parts if part.value is None]
    if unknown:
        return Judgement(
            None,
            missing=_unique(name for part in unknown for name in part.missing),
            undefined=_unique(text for part in unknown for text in part.undefined),
        )
    return Judgement(not decisive, _unique(f for part in parts for f in part.facts))


def judge(node: Expr, values: Mapping[str, Value]) -> Judgement:
    """The Kleene truth of a condition for one patient, with the facts that decide it."""
    match node:
        case Literal(value=value):
            return Judgement(bool(value), (_text(value),))
        case ItemRef(name=name):
            value = values.get(name)
            if value is None:
                return Judgement(None, missing=(name,))
            return Judgement(bool(value), (f"{name} is {_text(value)}",))
        case Comparison(operands=operands, operators=operators):
            judged = _combine([_link(a, op, b, values) for a, op, b in node.links()], False)
            if judged.value and len(operators) > 1:
                shown = [_operand(operand, values, frozenset()).shown() for operand in operands]
                chain = " ".join(f"{text} {op}" for text, op in zip(shown, operators, strict=False))
                return Judgement(True, (f"{chain} {shown[-1]}",))
            return judged
        case Membership(operand=operand_node, values=literals, negated=negated):
            operand = _operand(operand_node, values, frozenset())
            allowed = "{" + ", ".join(_text(literal.value) for literal in literals) + "}"
            if operand.value is None:
                return _unknown(operand, text=operand.text)
            found = any(_compare(operand.value, "==", literal.value) for literal in literals)
            word = "in" if found else "not in"
            return Judgement(found != negated, (f"{operand.shown()} {word} {allowed}",))
        case Not(operand=operand_node):
            inner = judge(operand_node, values)
            return Judgement(
                None if inner.value is None else not inner.value,
                inner.facts,
                inner.missing,
                inner.undefined,
            )
        case And(operands=operands):
            return _combine([judge(operand, values) for operand in operands], False)
        case Or(operands=operands):
            return _combine([judge(operand, values) for operand in operands], True)
    raise AssertionError(node)


# ---------------------------------------------------------------- criteria and verdict


@dataclass(frozen=True)
class CriterionResult:
    id: str
    type: TypingLiteral["inclusion", "exclusion"]
    result: Result
    reason: str
    missing: tuple[str, ...] = ()  # the items (or "attestation") that leave it unknown

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "type": self.type, "result": self.result, "reason": self.reason}


@dataclass(frozen=True)
class EligibilityResult:
    protocol: str
    verdict: Verdict
    criteria: tuple[CriterionResult, ...]
    ignored_items: tuple[str, ...] = ()
    ignored_attestations: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "verdict": self.verdict,
            "criteria": [criterion.to_json() for criterion in self.criteria],
        }

    def with_result(self, result: Result) -> list[CriterionResult]:
        return [criterion for criterion in self.criteria if criterion.result == result]

    @property
    def missing(self) -> list[str]:
        """What a coordinator still has to record: item ids and 'attestation <ID>'."""
        names: dict[str, None] = {}
        for criterion in self.with_result("unknown"):
            for name in criterion.missing:
                names["attestation " + criterion.id if name == "attestation" else name] = None
        return list(names)


def verdict_of(results: Iterable[Result]) -> Verdict:
    results = list(results)
    if "fail" in results:
        return "ineligible"
    if "unknown" in results:
        return "incomplete"
    return "eligible"


def criterion_result(criterion: Criterion, truth: Truth) -> Result:
    """The patient's side: a true inclusion passes, a true exclusion fails."""
    if truth is None:
        return "unknown"
    return "pass" if truth == (criterion.type == "inclusion") else "fail"


ATTESTATION_REASONS = {
    True: "investigator answered yes",
    False: "investigator answered no",
    None: "missing: investigator's answer",
}


@dataclass(frozen=True)
class ProtocolCriteria:
    """A protocol's criteria parsed and type-checked once, to evaluate many patients."""

    protocol_id: str
    data_items: Mapping[str, DataItem]
    criteria: tuple[tuple[Criterion, Expr | None], ...]

    @classmethod
    def of(cls, protocol: Protocol) -> ProtocolCriteria:
        data_items = {item.id: item for item in protocol.data_items}
        compiled = []
        for criterion in protocol.eligibility.criteria:
            tree = None
            if criterion.expression is not None:
                try:
                    tree = compile_expression(criterion.expression, data_items)
                except EligibilityError as error:
                    raise EligibilityError(f"criterion {criterion.id}: {error}") from None
            compiled.append((criterion, tree))
        return cls(protocol.id, data_items, tuple(compiled))

    @cached_property
    def attestation_ids(self) -> tuple[str, ...]:
        return tuple(criterion.id for criterion, tree in self.criteria if tree is None)

    def patient_values(self, items: Mapping[str, Any]) -> tuple[dict[str, Value], list[str]]:
        """The values of the protocol's items, checked; and the item ids it does not know."""
        values = {}
        ignored = []
        for name, value in items.items():
            item = self.data_items.get(name)
            if item is None:
                ignored.append(name)
            else:
                values[name] = item_value(item, value)
        return values, ignored

    def evaluate(
        self, items: Mapping[str, Any], attestations: Mapping[str, bool]
    ) -> EligibilityResult:
        values, ignored_items = self.patient_values(items)
        for criterion_id, answer in attestations.items():
            if answer is not None and not isinstance(answer, bool):
                raise EligibilityError(
                    f"attestation '{criterion_id}': expected true or false, got {_shown(answer)}"
                )
        results = []
        for criterion, tree in self.criteria:
            if tree is None:
                answer = attestations.get(criterion.id)
                missing: tuple[str, ...] = ("attestation",) if answer is None else ()
                outcome = criterion_result(criterion, answer)
                reason = ATTESTATION_REASONS[answer]
            else:
                judgement = judge(tree, values)
                outcome = criterion_result(criterion, judgement.value)
                reason = judgement.reason
                missing = judgement.missing
            results.append(CriterionResult(criterion.id, criterion.type, outcome, reason, missing))
        return EligibilityResult(
            self.protocol_id,
            verdict_of(result.result for result in results),
            tuple(results),
            tuple(ignored_items),
            tuple(sorted(set(attestations).difference(self.attestation_ids))),
        )


def evaluate(
    protocol: Protocol, items: Mapping[str, Any], attestations: Mapping[str, bool]
) -> EligibilityResult:
    """One patient's eligibility: per-criterion results with reasons, and the verdict.

    Items the protocol does not define and answers for criteria that are not attestations are
    ignored and listed in the result; a value of the wrong type is an EligibilityError.
    """
    return ProtocolCriteria.of(protocol).evaluate(items, attestations)
