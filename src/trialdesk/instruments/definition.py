"""The schema of an instrument definition file: items, constraints, scores, licence.

A definition is data (`definitions/<id>.yaml`); the scores name a method from
`scoring.py` and its parameters, so a new questionnaire whose scoring fits an existing
method is a new file, not new code.
"""

from __future__ import annotations

import itertools
import re
from abc import abstractmethod
from collections import ChainMap, Counter
from collections.abc import Mapping
from functools import cached_property
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    model_validator,
)

from trialdesk.errors import InstrumentError
from trialdesk.instruments import scoring
from trialdesk.instruments.answers import check_answers
from trialdesk.instruments.formula import Formula, FormulaSyntaxError

Identifier = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")]
Value = bool | int | float | str
Direction = Literal["higher_is_worse", "higher_is_better"]


def _formula_parses(text: str) -> str:
    try:
        Formula.parse(text)
    except FormulaSyntaxError as error:
        raise ValueError(str(error)) from None
    return text


FormulaText = Annotated[str, AfterValidator(_formula_parses)]


class Definition(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Option(Definition):
    """One allowed value of an item and its label (a Likert box, a grade, a code)."""

    value: StrictInt | StrictStr
    label: str


class Item(Definition):
    """One answer on a form."""

    id: Identifier
    label: str = Field(description="Short label; for licensed instruments a paraphrase.")
    type: Literal["integer", "number", "boolean", "text", "code"]
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    options: list[Option] = []
    pattern: str | None = Field(None, description="Regular expression a text answer must match.")
    example: str | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Item:
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"item {self.id}: minimum {self.minimum} > maximum {self.maximum}")
        if self.type == "code" and not self.options:
            raise ValueError(f"item {self.id}: a code item needs options")
        if self.options and (self.minimum is not None or self.maximum is not None):
            raise ValueError(f"item {self.id}: give options or minimum/maximum, not both")
        wanted = {"integer": int, "code": str}.get(self.type)
        if self.options and (
            wanted is None or any(type(o.value) is not wanted for o in self.options)
        ):
            raise ValueError(f"item {self.id}: options need {self.type} values")
        if self.pattern is not None:
            if self.type != "text":
                raise ValueError(f"item {self.id}: only text items take a pattern")
            try:
                re.compile(self.pattern)
            except re.error as error:
                raise ValueError(f"item {self.id}: pattern does not compile: {error}") from None
        return self

    @cached_property
    def option_values(self) -> frozenset[int | str]:
        """The values of the item's options (empty when it has none)."""
        return frozenset(option.value for option in self.options)

    @cached_property
    def lowest(self) -> float | None:
        """Smallest allowed value of a numeric item."""
        if self.options:
            return min(option.value for option in self.options)  # type: ignore[type-var]
        return self.minimum

    @cached_property
    def highest(self) -> float | None:
        """Largest allowed value of a numeric item."""
        if self.options:
            return max(option.value for option in self.options)  # type: ignore[type-var]
        return self.maximum

    def allowed(self) -> str:
        """What a valid answer looks like, in words, for error messages."""
        if self.type == "boolean":
            return "true or false"
        if self.type == "code":
            return "one of " + ", ".join(repr(option.value) for option in self.options)
        if self.type == "text":
            if self.pattern is None:
                return "text"
            example = f" such as {self.example!r}" if self.example else ""
            return f"text matching {self.pattern}{example}"
        noun = "an integer" if self.type == "integer" else "a number"
        values = [option.value for option in self.options]
        if values and values != list(range(min(values), max(values) + 1)):  # type: ignore[arg-type]
            return f"{noun}, one of " + ", ".join(str(value) for value in values)
        unit = f" {self.unit}" if self.unit else ""
        if self.lowest is not None and self.highest is not None:
            return f"{noun} from {_number(self.lowest)} to {_number(self.highest)}{unit}"
        if self.lowest is not None:
            return f"{noun} >= {_number(self.lowest)}{unit}"
        if self.highest is not None:
            return f"{noun} <= {_number(self.highest)}{unit}"
        return noun + unit


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


class Constraint(Definition):
    """A rule across items, e.g. full-thickness cartilage loss <= area of any loss."""

    formula: FormulaText
    message: str

    @cached_property
    def parsed(self) -> Formula:
        return Formula.parse(self.formula)


class ScoreDefinition(Definition):
    """What every score has: id, label, range and direction for display and analysis."""

    id: Identifier
    label: str
    type: Literal["number", "integer", "boolean"] = "number"
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    direction: Direction | None = None
    description: str | None = None

    @abstractmethod
    def inputs(self) -> frozenset[str]:
        """The item or earlier score ids this score reads."""

    @abstractmethod
    def compute(self, values: Mapping[str, Any]) -> Value | None:
        """The score from validated item values and the scores computed before it."""


class ItemSetScore(ScoreDefinition):
    """A score over a set of items with a missing-data rule.

    `max_missing` and `min_answered` may be given alone or together; with neither, every
    item must be answered.
    """

    items: list[Identifier] = Field(min_length=1)
    max_missing: int | None = Field(None, ge=0)
    min_answered: int | None = Field(None, ge=0)

    item_types: ClassVar[frozenset[str]] = frozenset({"integer", "number"})

    @model_validator(mode="after")
    def _rule_fits(self) -> ItemSetScore:
        if len(set(self.items)) != len(self.items):
            raise ValueError(f"score {self.id}: an item is listed twice")
        if self.required > len(self.items):
            raise ValueError(f"score {self.id}: needs more answers than it has items")
        return self

    @property
    def required(self) -> int:
        """Fewest answered items with which the score is computable."""
        if self.max_missing is None and self.min_answered is None:
            return len(self.items)
        bounds = [self.min_answered or 0]
        if self.max_missing is not None:
            bounds.append(len(self.items) - self.max_missing)
        return max(bounds)

    def inputs(self) -> frozenset[str]:
        return frozenset(self.items)

    def item_values(self, values: Mapping[str, Any]) -> list[Any]:
        return [values[item] for item in self.items]


class SumScore(ItemSetScore):
    """Sum of the items, each missing item replaced by the mean of the answered ones."""

    method: Literal["sum"]

    def compute(self, values: Mapping[str, Any]) -> float | None:
        return scoring.prorated_sum(self.item_values(values), self.required)


class MeanTo100Score(ItemSetScore):
    """Mean of the answered items transformed to 0-100 with 100 the best state (KOOS)."""

    method: Literal["mean_0_100"]
    item_range: tuple[float, float]
    higher_item_is: Literal["worse", "better"]

    def compute(self, values: Mapping[str, Any]) -> float | None:
        lowest, highest = self.item_range
        return scoring.mean_0_100(
            self.item_values(values),
            self.required,
            lowest,
            highest,
            higher_item_is_worse=self.higher_item_is == "worse",
        )


class MeanScore(ItemSetScore):
    """Plain mean of the answered items."""

    method: Literal["mean"]

    def compute(self, values: Mapping[str, Any]) -> float | None:
        return scoring.plain_mean(self.item_values(values), self.required)


class MaximumScore(ItemSetScore):
    """Largest answered item."""

    method: Literal["max"]

    def compute(self, values: Mapping[str, Any]) -> Value | None:
        return scoring.maximum(self.item_values(values), self.required)


class AnsweredScore(ItemSetScore):
    """Number of answered items (e.g. days reported in a diary); never missing."""

    method: Literal["answered"]
    item_types: ClassVar[frozenset[str]] = frozenset(
        {"integer", "number", "boolean", "text", "code"}
    )
    type: Literal["integer"] = "integer"
    min_answered: int | None = 0

    def compute(self, values: Mapping[str, Any]) -> int:
        return len(scoring.answered(self.item_values(values)))


class CountScore(ItemSetScore):
    """Number of answered items that are at least `at_least`, or equal to `equals`."""

    method: Literal["count"]
    item_types: ClassVar[frozenset[str]] = frozenset({"integer", "number", "boolean", "code"})
    type: Literal["integer"] = "integer"
    at_least: float | None = None
    equals: StrictInt | StrictStr | bool | None = None

    @model_validator(mode="after")
    def _one_condition(self) -> CountScore:
        if (self.at_least is None) == (self.equals is None):
            raise ValueError(f"score {self.id}: give exactly one of at_least and equals")
        return self

    def compute(self, values: Mapping[str, Any]) -> int | None:
        return scoring.count_meeting(
            self.item_values(values), self.required, at_least=self.at_least, equals=self.equals
        )


class AreaScore(ItemSetScore):
    """Trapezoid area under the answered items, item k at time `times[k]` (default k + 1)."""

    method: Literal["auc"]
    times: list[float] | None = None

    @model_validator(mode="after")
    def _times_fit(self) -> AreaScore:
        times = self.item_times
        if len(times) != len(self.items) or any(b <= a for a, b in itertools.pairwise(times)):
            raise ValueError(f"score {self.id}: times must increase, one per item")
        return self

    @property
    def item_times(self) -> list[float]:
        return self.times if self.times is not None else [k + 1.0 for k in range(len(self.items))]

    def compute(self, values: Mapping[str, Any]) -> float | None:
        return scoring.trapezoid_area(self.item_values(values), self.item_times, self.required)


class AnyTrueScore(ItemSetScore):
    """True if any item is true, False if all are false, otherwise not computable."""

    method: Literal["any_true"]
    item_types: ClassVar[frozenset[str]] = frozenset({"boolean"})
    type: Literal["boolean"] = "boolean"
    min_answered: int | None = 0

    def compute(self, values: Mapping[str, Any]) -> bool | None:
        return scoring.any_true(self.item_values(values))


class ItemScore(ScoreDefinition):
    """One item reported as a score (NRS, VAS, a grade)."""

    method: Literal["item"]
    item: Identifier

    def inputs(self) -> frozenset[str]:
        return frozenset({self.item})

    def compute(self, values: Mapping[str, Any]) -> Value | None:
        return values[self.item]


class FormulaScore(ScoreDefinition):
    """A formula over items and earlier scores; missing when any input is missing."""

    method: Literal["formula"]
    formula: FormulaText

    @cached_property
    def parsed(self) -> Formula:
        return Formula.parse(self.formula)

    def inputs(self) -> frozenset[str]:
        return self.parsed.names

    def compute(self, values: Mapping[str, Any]) -> Value | None:
        return self.parsed.evaluate(values)


Score = Annotated[
    SumScore
    | MeanTo100Score
    | MeanScore
    | MaximumScore
    | AnsweredScore
    | CountScore
    | AreaScore
    | AnyTrueScore
    | ItemScore
    | FormulaScore,
    Field(discriminator="method"),
]


class Parameter(Definition):
    """A value the protocol sets for the instrument (a recall period, a measuring level)."""

    description: str
    type: Literal["text", "number", "integer"] = "text"
    unit: str | None = None
    default: StrictStr | StrictInt | float | None = Field(
        None, description="None means the protocol must set it."
    )


class Licence(Definition):
    """Who owns the instrument and what may be shipped."""

    name: str
    url: str | None = None
    item_wording: Literal["licensed", "free", "not_applicable"] = Field(
        description="licensed: only paraphrased labels are shipped and a licensee loads the "
        "wording from a file; free: the wording may be shipped with attribution; "
        "not_applicable: a clinical measurement with no questionnaire wording."
    )
    notice: str | None = None


class Instrument(Definition):
    """A questionnaire, assessment or data form, with its scoring."""

    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    title: str
    version: str | None = None
    description: str
    licence: Licence
    sources: list[str] = Field(min_length=1)
    items_from: str | None = Field(
        None, description="Another instrument whose items (and constraints) this one scores."
    )
    parameters: dict[Identifier, Parameter] = {}
    items: list[Item] = Field(min_length=1)
    constraints: list[Constraint] = []
    scores: list[Score] = []

    @model_validator(mode="after")
    def _references_resolve(self) -> Instrument:
        counts = Counter(item.id for item in self.items)
        duplicates = sorted(item_id for item_id, count in counts.items() if count > 1)
        if duplicates:
            raise ValueError(f"item ids listed twice: {', '.join(duplicates)}")
        known = set(counts)
        for constraint in self.constraints:
            unknown = constraint.parsed.names - known
            if unknown:
                raise ValueError(
                    f"constraint {constraint.formula!r} reads unknown {sorted(unknown)}"
                )
        for score in self.scores:
            if score.id in known:
                raise ValueError(f"score {score.id}: the id is already an item or an earlier score")
            unknown = score.inputs() - known
            if unknown:
                raise ValueError(
                    f"score {score.id}: reads {', '.join(sorted(unknown))}, "
                    "which is neither an item nor an earlier score"
                )
            known.add(score.id)
            if isinstance(score, ItemSetScore):
                self._check_item_types(score)
        return self

    def _check_item_types(self, score: ItemSetScore) -> None:
        for item_id in score.items:
            item = self.item_map[item_id]
            if item.type not in score.item_types:
                raise ValueError(
                    f"score {score.id}: its method cannot read {item.type} item {item_id}"
                )
            if isinstance(score, MeanTo100Score):
                lowest, highest = score.item_range
                if item.lowest is None or item.highest is None:
                    raise ValueError(f"score {score.id}: item {item_id} needs a bounded range")
                if item.lowest < lowest or item.highest > highest:
                    raise ValueError(
                        f"score {score.id}: item {item_id} runs outside item_range "
                        f"{lowest}-{highest}"
                    )

    @cached_property
    def item_map(self) -> dict[str, Item]:
        return {item.id: item for item in self.items}

    def item_values(self, answers: object) -> dict[str, Value | None]:
        """Every item's validated value (None = missing); raises InstrumentError on bad input."""
        return check_answers(self, answers)

    def score(self, answers: object) -> dict[str, Value | None]:
        """The instrument's scores (None = not computable) from one form's answers."""
        return self.values_and_scores(answers)[1]

    def values_and_scores(
        self, answers: object
    ) -> tuple[dict[str, Value | None], dict[str, Value | None]]:
        """Every item's validated value and the scores, checking the answers once."""
        values = self.item_values(answers)
        scores: dict[str, Value | None] = {}
        readable = ChainMap(scores, values)
        for definition in self.scores:
            scores[definition.id] = definition.compute(readable)
        return values, scores

    def resolve_parameters(self, settings: Mapping[str, object]) -> dict[str, object]:
        """The protocol's parameter settings merged over the defaults, all of them set."""
        unknown = sorted(set(settings) - set(self.parameters))
        if unknown:
            raise InstrumentError(
                f"{self.id}: unknown parameter {unknown[0]!r}; parameters are "
                + (", ".join(self.parameters) or "none")
            )
        for name, value in settings.items():
            if not _is_type(value, self.parameters[name].type):
                raise InstrumentError(
                    f"{self.id}: parameter {name!r} = {value!r} is not {self.parameters[name].type}"
                )
        resolved = {name: settings.get(name, p.default) for name, p in self.parameters.items()}
        unset = [name for name, value in resolved.items() if value is None]
        if unset:
            raise InstrumentError(f"{self.id}: the protocol must set parameter {unset[0]!r}")
        return resolved


def _is_type(value: object, kind: str) -> bool:
    if isinstance(value, bool):
        return False
    if kind == "text":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int)
    return isinstance(value, int | float)
