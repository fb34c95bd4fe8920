"""Funnel-plot limits around the overall rate, and the flag of a site's rate.

Method (chosen: the normal approximation with z-scores). For a site with denominator n
(subjects, visits, forms) or t (patient-years), and the overall rate p0 (all sites' numerators
over all sites' denominators):

- binomial proportion (screen failures per screened subject, missed visits per due visit):
  the standard error under the overall rate is ``sqrt(p0 (1 - p0) / n)``;
- Poisson rate per exposure (AEs per patient-year, queries per form): ``sqrt(p0 / t)``.

The limits are ``p0 +- z * se`` with z the two-sided normal quantile of the level: 95% (z =
1.959964) and 99.7% (z = 2.967738, "three sigma"); a lower limit below 0 (or an upper above 1
for a proportion) is cut at the bound. A site's z-score is ``(rate - p0) / se``. This is
Spiegelhalter's funnel plot (D. J. Spiegelhalter, "Funnel plots for comparing institutional
performance", Statistics in Medicine 2005; 24:1185-1202, sections 3 and 4) with the normal
approximation he gives for large denominators, and the "normal approximation" analysis of the
R package gsm (Good Statistical Monitoring, Gilead/IMPALA: ``Analyze_NormalApprox``, the
z-score ``(x/n - p0) / sqrt(phi * p0 (1 - p0) / n)``).

Over-dispersion (optional, off by default): Spiegelhalter 2005 section 5 (and gsm's default)
multiplies the variance by phi = (1/k) * sum(z_i^2), from the k sites' z-scores winsorized at
their 10th and 90th percentiles, when phi > 1. It is off by default because a study has few
sites (one to seven here), phi from so few is unstable, and the flags must keep their
stated false-positive rate under the null (a fair site outside 95% in 5% of studies).

Flags: ``"ok"`` inside the 95% limits, ``"watch"`` (amber) outside 95% but inside 99.7%,
``"signal"`` (red) outside 99.7%; ``"no data"`` for a site with denominator 0 or when the
overall rate is 0 (no spread to judge against). ``direction`` is ``"high"``, ``"low"`` or ``""``;
a KRI watched in one direction only (missed visits: only too many) flags only that side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

Model = Literal["binomial", "poisson"]
Sides = Literal["both", "high", "low"]

#: The two funnel levels and their two-sided normal quantiles.
LEVELS: dict[str, float] = {"95": 0.95, "99.7": 0.997}
Z_95 = float(stats.norm.ppf(1 - (1 - 0.95) / 2))
Z_997 = float(stats.norm.ppf(1 - (1 - 0.997) / 2))

OK, WATCH, SIGNAL, NO_DATA = "ok", "watch", "signal", "no data"


@dataclass(frozen=True)
class Funnel:
    """Limits for one denominator (arrays when given arrays)."""

    lower_95: np.ndarray
    upper_95: np.ndarray
    lower_997: np.ndarray
    upper_997: np.ndarray


def standard_error(
    overall: float, denominator: np.ndarray | float, model: Model, phi: float = 1.0
) -> np.ndarray:
    """The rate's standard error under the overall rate at each denominator (inf at 0)."""
    n = np.asarray(denominator, dtype=float)
    spread = overall * (1 - overall) if model == "binomial" else overall
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 0, np.sqrt(phi * spread / np.where(n > 0, n, 1.0)), np.inf)


def limits(
    overall: float, denominator: np.ndarray | float, model: Model, phi: float = 1.0
) -> Funnel:
    """The 95% and 99.7% limits around `overall` at each denominator, cut at 0 (and 1)."""
    se = standard_error(overall, denominator, model, phi)
    top = 1.0 if model == "binomial" else np.inf

    def cut(x: np.ndarray) -> np.ndarray:
        return np.clip(x, 0.0, top)

    return Funnel(
        lower_95=cut(overall - Z_95 * se),
        upper_95=cut(overall + Z_95 * se),
        lower_997=cut(overall - Z_997 * se),
        upper_997=cut(overall + Z_997 * se),
    )


def overdispersion(z: np.ndarray) -> float:
    """Spiegelhalter's multiplicative over-dispersion phi from sites' z-scores (>= 1).

    The z-scores are winsorized at their 10th and 90th percentiles; phi = mean(z^2), and 1
    when that is below 1 (no under-dispersion adjustment).
    """
    values = np.asarray(z, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 1.0
    low, high = np.percentile(values, [10, 90])
    return max(1.0, float(np.mean(np.clip(values, low, high) ** 2)))


def funnel_table(
    sites: pd.DataFrame,
    model: Model,
    sides: Sides = "both",
    adjust_overdispersion: bool = False,
) -> pd.DataFrame:
    """Per site: the rate, the overall rate, the limits, z and the flag.

    `sites` has columns ``site``, ``numerator``, ``denominator`` (one row per site). Returns
    those columns plus ``rate``, ``overall_rate``, ``lower_95``, ``upper_95``, ``lower_997``,
    ``upper_997``, ``z``, ``flag`` (ok/watch/signal/no data), ``direction`` (high/low/"")
    and ``phi`` (1 unless over-dispersion is adjusted).
    """
    table = sites[["site", "numerator", "denominator"]].copy()
    numerator = table["numerator"].to_numpy(dtype=float)
    denominator = table["denominator"].to_numpy(dtype=float)
    total = denominator.sum()
    overall = float(numerator.sum() / total) if total > 0 else float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(
            denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan
        )
    phi = 1.0
    judged = np.isfinite(overall) and overall > 0 and not (model == "binomial" and overall >= 1)
    if judged:
        z = (rate - overall) / standard_error(overall, denominator, model)
        if adjust_overdispersion:
            phi = overdispersion(z)
            z = z / np.sqrt(phi)
        bounds = limits(overall, denominator, model, phi)
    else:
        z = np.full(len(table), np.nan)
        nan = np.full(len(table), np.nan)
        bounds = Funnel(nan, nan, nan, nan)
    z = np.where(denominator > 0, z, np.nan)
    flags, directions = flag(z, sides)
    table["rate"] = rate
    table["overall_rate"] = overall
    table["lower_95"] = np.where(denominator > 0, bounds.lower_95, np.nan)
    table["upper_95"] = np.where(denominator > 0, bounds.upper_95, np.nan)
    table["lower_997"] = np.where(denominator > 0, bounds.lower_997, np.nan)
    table["upper_997"] = np.where(denominator > 0, bounds.upper_997, np.nan)
    table["z"] = z
    table["flag"] = flags
    table["direction"] = directions
    table["phi"] = phi
    return table


def flag(z: np.ndarray, sides: Sides = "both") -> tuple[np.ndarray, np.ndarray]:
    """The flag and direction of each z-score (NaN -> "no data").

    Outside 95% means |z| > Z_95, outside 99.7% |z| > Z_997; a side not watched is "ok".
    """
    z = np.asarray(z, dtype=float)
    size = np.abs(np.nan_to_num(z, nan=0.0))
    watched = np.ones_like(z, dtype=bool)
    if sides == "high":
        watched = np.nan_to_num(z, nan=0.0) > 0
    elif sides == "low":
        watched = np.nan_to_num(z, nan=0.0) < 0
    flags = np.where(watched & (size > Z_997), SIGNAL, np.where(watched & (size > Z_95), WATCH, OK))
    flags = np.where(np.isnan(z), NO_DATA, flags).astype(object)
    directions = np.where(flags == OK, "", np.where(z > 0, "high", "low"))
    directions = np.where(flags == NO_DATA, "", directions).astype(object)
    return flags, directions
