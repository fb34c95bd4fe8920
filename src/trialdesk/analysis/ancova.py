"""ANCOVA of change from baseline at one visit: change ~ arm + baseline + strata, by OLS.

The EMA guideline on covariate adjustment (2015) asks for the stratification factors in the
model. Patients without the change at that visit are left out (complete cases); the MMRM is
the analysis that uses their earlier visits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from trialdesk.analysis.design import build_design, parse_formula
from trialdesk.errors import AnalysisError, BadInput


@dataclass(frozen=True)
class TreatmentEffect:
    """One arm against the reference arm, adjusted for baseline and strata."""

    arm: str
    reference: str
    estimate: float
    se: float
    df: int
    t: float
    p: float
    lower: float
    upper: float


@dataclass(frozen=True)
class AncovaResult:
    terms: tuple[str, ...]
    params: np.ndarray
    bse: np.ndarray
    df_resid: int
    n_obs: int
    residual_variance: float
    effects: tuple[TreatmentEffect, ...]


def ancova(
    data: pd.DataFrame,
    change: str,
    arm: str,
    baseline: str,
    strata: Sequence[str] = (),
    reference: str | None = None,
    alpha: float = 0.05,
) -> AncovaResult:
    """Treatment effects on ``change`` adjusted for ``baseline`` and the ``strata`` factors."""
    columns = [change, arm, baseline, *strata]
    for name in columns:
        if name not in data.columns:
            raise BadInput(f"column {name!r} is not in the data")
    if not pd.api.types.is_numeric_dtype(data[change]):
        raise BadInput(f"column {change!r} must be numeric (change from baseline)")
    if not pd.api.types.is_numeric_dtype(data[baseline]):
        raise BadInput(f"column {baseline!r} must be numeric (baseline value)")
    used = data.dropna(subset=columns).reset_index(drop=True)
    # Text for the arm and strata so that numeric codes are factors, not covariates.
    used = used.assign(**{name: used[name].astype(str) for name in (arm, *strata)})
    formula = parse_formula(" + ".join([arm, baseline, *strata]))
    design = build_design(used, formula, {arm: reference} if reference is not None else {})
    x, y = design.matrix, used[change].to_numpy(dtype=float)
    n, p = x.shape
    if n <= p:
        raise AnalysisError(f"{n} patients cannot estimate {p} ANCOVA coefficients")
    gram_inverse = np.linalg.inv(x.T @ x)
    params = gram_inverse @ x.T @ y
    df = n - p
    variance = float(((y - x @ params) ** 2).sum() / df)
    bse = np.sqrt(variance * np.diag(gram_inverse))
    quantile = float(stats.t.ppf(1 - alpha / 2, df))
    factor = design.factors[arm]
    effects = []
    for position, index in enumerate(design.kept):
        column = design.full_columns[index]
        if column.term != (arm,):
            continue
        estimate, se = float(params[position]), float(bse[position])
        t = estimate / se
        effects.append(
            TreatmentEffect(
                arm=str(column.levels[0]),
                reference=factor.reference,
                estimate=estimate,
                se=se,
                df=df,
                t=t,
                p=float(2 * stats.t.sf(abs(t), df)),
                lower=estimate - quantile * se,
                upper=estimate + quantile * se,
            )
        )
    return AncovaResult(
        terms=design.names,
        params=params,
        bse=bse,
        df_resid=df,
        n_obs=n,
        residual_variance=variance,
        effects=tuple(effects),
    )
