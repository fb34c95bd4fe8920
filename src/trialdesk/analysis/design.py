"""Fixed-effects formulas and the design matrices built from them, parameterised like SAS.

A formula such as ``"RACE + SEX + ARMCD*AVISIT"`` names columns of a data frame. Text columns
(and columns wrapped in ``C(...)``) are categorical, numeric columns are continuous. ``1``
alone is the intercept-only model; every model has an intercept.

The design is built the way SAS PROC MIXED builds it: every categorical factor first gets one
indicator column per level, with its reference level ordered last, and then every column that
is a linear combination of the columns before it is dropped. For a hierarchical model this is
the usual treatment (dummy) coding; for a model such as ``AVISIT + ARMCD:AVISIT`` it gives a
treatment effect at every visit. Keeping the full set of indicator columns in view makes SAS's
LS means (equal weights over the levels of every other factor) and type 3 hypotheses a matter
of writing down a row vector over them.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from trialdesk.errors import AnalysisError, BadInput

# Relative size below which a column counts as a linear combination of earlier columns.
ALIAS_TOLERANCE = 1e-9

_NAME = r"[A-Za-z_.][A-Za-z0-9_.]*"
_VARIABLE = re.compile(rf"^(?:C\(\s*(?P<forced>{_NAME})\s*\)|(?P<plain>{_NAME}))$")


class FormulaError(BadInput):
    """A fixed-effects formula that does not parse or does not fit the data."""


@dataclass(frozen=True)
class Formula:
    """A parsed fixed-effects formula: its terms (tuples of variable names, lowest order first)."""

    text: str
    terms: tuple[tuple[str, ...], ...]
    forced_categorical: frozenset[str]

    @property
    def variables(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for term in self.terms:
            for name in term:
                seen.setdefault(name)
        return tuple(seen)


def parse_formula(text: str) -> Formula:
    """Parse ``"A + B + C*D"`` (``*`` expands to main effects and interaction, ``:`` is an
    interaction, ``1`` is the intercept-only model)."""
    stripped = text.strip()
    if stripped in {"", "1"}:
        return Formula(text=text, terms=(), forced_categorical=frozenset())
    terms: dict[tuple[str, ...], None] = {}
    forced: set[str] = set()
    for chunk in stripped.split("+"):
        chunk = chunk.strip()
        if chunk == "1":
            continue
        if not chunk:
            raise FormulaError(f"formula {text!r}: empty term; expected terms joined by '+'")
        if "*" in chunk and ":" in chunk:
            raise FormulaError(f"formula {text!r}: term {chunk!r} mixes '*' and ':'")
        separator = "*" if "*" in chunk else ":"
        names = []
        for part in chunk.split(separator):
            match = _VARIABLE.match(part.strip())
            if match is None:
                raise FormulaError(
                    f"formula {text!r}: {part.strip()!r} is not a column name or C(column)"
                )
            name = match.group("forced") or match.group("plain")
            if match.group("forced"):
                forced.add(name)
            names.append(name)
        if len(set(names)) != len(names):
            raise FormulaError(f"formula {text!r}: term {chunk!r} repeats a variable")
        if separator == "*":
            for size in range(1, len(names) + 1):
                for combination in itertools.combinations(names, size):
                    terms.setdefault(combination)
        else:
            terms.setdefault(tuple(names))
    ordered = sorted(terms, key=len)  # stable: formula order within each order of interaction
    return Formula(text=text, terms=tuple(ordered), forced_categorical=frozenset(forced))


def natural_key(value: object) -> tuple:
    """Sort 'VIS2' before 'VIS10'."""
    parts = re.split(r"(\d+)", str(value))
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts if p != "")


def levels_of(series: pd.Series) -> list[str]:
    """Levels of a categorical column as strings, in category order or natural sort order."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        present = set(series.dropna().astype(str))
        return [str(c) for c in series.cat.categories if str(c) in present]
    return sorted((str(v) for v in series.dropna().astype(str).unique()), key=natural_key)


@dataclass(frozen=True)
class Factor:
    """A categorical variable: its levels in display order and its reference level."""

    name: str
    levels: tuple[str, ...]
    reference: str

    @property
    def coding_order(self) -> tuple[str, ...]:
        """Levels with the reference last, so that the reference is the one aliased away."""
        return tuple(level for level in self.levels if level != self.reference) + (self.reference,)


@dataclass(frozen=True)
class Column:
    """One column of the full (over-parameterised) design: a term and one level per factor."""

    term: tuple[str, ...]
    levels: tuple[str | None, ...]  # None for a continuous variable

    @property
    def name(self) -> str:
        if not self.term:
            return "Intercept"
        return ":".join(
            name if level is None else f"{name}={level}"
            for name, level in zip(self.term, self.levels, strict=True)
        )


@dataclass(frozen=True)
class Design:
    """The design of a fitted model: factors, covariate means, kept and aliased columns.

    ``matrix`` holds the kept columns for the rows used in the fit. ``alias`` expresses every
    full column in terms of the kept columns (identity on kept ones), which is what makes a
    row vector over the full columns estimable or not.
    """

    formula: Formula
    factors: Mapping[str, Factor]
    covariate_means: Mapping[str, float]
    full_columns: tuple[Column, ...]
    kept: tuple[int, ...]
    alias: np.ndarray  # (n_full, n_kept)
    matrix: np.ndarray  # (n_rows, n_kept)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.full_columns[i].name for i in self.kept)

    def restrict(self, full_row: np.ndarray) -> np.ndarray:
        """Map a row vector over the full columns to the kept columns (NaN if not estimable)."""
        if not _estimable(full_row, self.alias, self.kept):
            return np.full(len(self.kept), np.nan)
        # SAS's solution sets aliased coefficients to zero; an estimable row gives the same
        # value for every solution, so it only needs its kept entries.
        return full_row[list(self.kept)]

    def lsmean_row(self, selection: Mapping[str, str]) -> np.ndarray:
        """SAS LSMEANS row over the full columns: the chosen levels of the factors in
        ``selection``, equal weights over the levels of every other factor, and continuous
        covariates at their means over the rows used."""
        row = np.zeros(len(self.full_columns))
        for index, column in enumerate(self.full_columns):
            weight = 1.0
            for name, level in zip(column.term, column.levels, strict=True):
                if level is None:
                    weight *= self.covariate_means[name]
                elif name in selection:
                    weight *= 1.0 if selection[name] == level else 0.0
                else:
                    weight /= len(self.factors[name].levels)
            row[index] = weight
        return row


def _estimable(full_row: np.ndarray, alias: np.ndarray, kept: Sequence[int]) -> bool:
    kept_set = set(kept)
    scale = max(1.0, float(np.abs(full_row).max()))
    for j in range(alias.shape[0]):
        if j in kept_set:
            continue
        # Null vector n_j = e_j - sum_k alias[j, k] e_kept[k]; estimable rows have L n_j = 0.
        value = full_row[j] - full_row[list(kept)] @ alias[j]
        if abs(value) > 1e-8 * scale:
            return False
    return True


def check_columns(data: pd.DataFrame, formula: Formula) -> None:
    """Raise FormulaError naming the first variable of the formula that is not a column."""
    for name in formula.variables:
        if name not in data.columns:
            raise FormulaError(
                f"column {name!r} named in formula {formula.text!r} is not in the data "
                f"(columns: {', '.join(map(str, data.columns))})"
            )


def classify(
    data: pd.DataFrame, formula: Formula, references: Mapping[str, str]
) -> tuple[dict[str, Factor], list[str]]:
    """Split the formula's variables into factors and continuous covariates."""
    check_columns(data, formula)
    factors: dict[str, Factor] = {}
    continuous: list[str] = []
    for name in formula.variables:
        series = data[name]
        numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
        if numeric and name not in formula.forced_categorical:
            continuous.append(name)
            continue
        levels = tuple(levels_of(series))
        if not levels:
            raise AnalysisError(f"column {name!r} has no values in the rows analysed")
        reference = references.get(name, levels[0])
        if reference not in levels:
            raise BadInput(
                f"reference level {reference!r} for column {name!r} is not one of its levels "
                f"({', '.join(levels)})"
            )
        factors[name] = Factor(name=name, levels=levels, reference=reference)
    for name in references:
        if name not in factors:
            raise BadInput(
                f"reference level given for column {name!r}, which is not a categorical "
                "variable of the formula"
            )
    return factors, continuous


def build_design(data: pd.DataFrame, formula: Formula, references: Mapping[str, str]) -> Design:
    """Build the SAS-style design for the rows of ``data`` (all rows are used)."""
    factors, continuous = classify(data, formula, references)
    values = {name: data[name].to_numpy(dtype=float) for name in continuous}
    labels = {name: data[name].astype(str).to_numpy() for name in factors}
    columns: list[Column] = [Column(term=(), levels=())]
    vectors: list[np.ndarray] = [np.ones(len(data))]
    for term in formula.terms:
        choices = [factors[name].coding_order if name in factors else (None,) for name in term]
        for combination in itertools.product(*choices):
            vector = np.ones(len(data))
            for name, level in zip(term, combination, strict=True):
                vector = vector * (values[name] if level is None else labels[name] == level)
            columns.append(Column(term=term, levels=combination))
            vectors.append(vector)
    full = np.column_stack(vectors)
    kept = _independent_columns(full)
    kept = _display_order(kept, columns, factors)
    matrix = full[:, kept]
    coefficients, *_ = np.linalg.lstsq(matrix, full, rcond=None)
    coefficients[:, kept] = np.eye(len(kept))  # exact, not merely to rounding
    return Design(
        formula=formula,
        factors=factors,
        covariate_means={name: float(values[name].mean()) for name in continuous},
        full_columns=tuple(columns),
        kept=tuple(kept),
        alias=coefficients.T,
        matrix=matrix,
    )


def _independent_columns(full: np.ndarray) -> list[int]:
    """Indices of the columns that are not linear combinations of the columns before them."""
    gram = full.T @ full
    kept: list[int] = []
    for j in range(gram.shape[0]):
        diagonal = gram[j, j]
        if diagonal <= 0:
            continue
        if kept:
            block = gram[np.ix_(kept, kept)]
            cross = gram[kept, j]
            residual = diagonal - cross @ np.linalg.solve(block, cross)
        else:
            residual = diagonal
        if residual > ALIAS_TOLERANCE * diagonal:
            kept.append(j)
    return kept


def _display_order(
    kept: list[int], columns: list[Column], factors: Mapping[str, Factor]
) -> list[int]:
    """Within a term, show kept columns in level order (the reference was only moved last to be
    the one aliased away)."""

    def key(index: int) -> tuple:
        column = columns[index]
        positions = tuple(
            0 if level is None else factors[name].levels.index(level)
            for name, level in zip(column.term, column.levels, strict=True)
        )
        return positions

    by_term: dict[tuple[str, ...], list[int]] = {}
    for index in kept:
        by_term.setdefault(columns[index].term, []).append(index)
    ordered: list[int] = []
    for indices in by_term.values():
        ordered.extend(sorted(indices, key=key))
    return ordered


def type3_hypotheses(design: Design, data: pd.DataFrame) -> dict[str, np.ndarray]:
    """Type 3 hypothesis matrices (over the kept columns) for every term of the formula.

    The model is re-expressed with centred treatment coding (indicator of each non-reference
    level minus 1/levels) for each factor whose marginal term is in the model, and full
    indicator coding otherwise (R's rule). Centred columns sum to zero over the levels, so the
    type 3 hypothesis for a term is that its coefficients are zero: factors averaged with
    equal weights, continuous covariates at zero, as SAS does when no cell is empty. Each row
    is "level minus reference" (an interaction contrast for interactions), SAS's own basis;
    the basis matters because SAS combines per-row Satterthwaite df for multi-df tests.
    """
    formula = design.formula
    present = {(): True} | {term: True for term in formula.terms}
    labels = {name: data[name].astype(str).to_numpy() for name in design.factors}
    blocks: list[tuple[tuple[str, ...], np.ndarray]] = [((), np.ones((len(data), 1)))]
    for term in formula.terms:
        block = np.ones((len(data), 1))
        for name in term:
            if name in design.factors:
                factor = design.factors[name]
                marginal = tuple(n for n in term if n != name)
                if marginal in present:
                    others = [lv for lv in factor.levels if lv != factor.reference]
                    coded = np.column_stack([labels[name] == lv for lv in others]) - 1.0 / len(
                        factor.levels
                    )
                else:
                    coded = np.column_stack([labels[name] == lv for lv in factor.levels])
                coded = coded.astype(float)
            else:
                coded = data[name].to_numpy(dtype=float)[:, None]
            block = (block[:, :, None] * coded[:, None, :]).reshape(len(data), -1)
        blocks.append((term, block))
    recoded = np.column_stack([b for _, b in blocks])
    transform, *_ = np.linalg.lstsq(recoded, design.matrix, rcond=None)
    misfit = np.abs(recoded @ transform - design.matrix).max()
    full_rank = np.linalg.matrix_rank(recoded) == recoded.shape[1]
    if not full_rank or misfit > 1e-6 * max(1.0, np.abs(design.matrix).max()):
        raise AnalysisError(
            "type 3 tests need every combination of factor levels in an interaction to be "
            "observed; some cells are empty"
        )
    hypotheses: dict[str, np.ndarray] = {}
    start = 1
    for term, block in blocks[1:]:
        rows = transform[start : start + block.shape[1]]
        start += block.shape[1]
        hypotheses["*".join(term)] = rows
    return hypotheses
