"""Responder analyses: OMERACT-OARSI (Pham et al. 2004) and MCID-based responder rates by arm.

All domains are on 0-100 with higher = worse, so improvement = baseline - follow-up. A domain
whose baseline is 0 or whose baseline or follow-up is missing cannot show a relative
improvement and does not count (non-responder for that domain).

Thresholds are inclusive. Scores come from scaled raw scores (WOMAC function is raw x 100/68),
so an improvement that is exactly on a threshold can be off by one unit in the last place in
floating point; comparisons allow ``TOLERANCE`` (1e-9 points), far below any real difference
on a 0-100 scale. Relative thresholds are compared without dividing: improvement >= share x
baseline.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from trialdesk.errors import BadInput

TOLERANCE = 1e-9
DOMAINS = ("pain", "function", "global")
ANSWER_KEYS = tuple(f"{domain}_{time}" for domain in DOMAINS for time in ("baseline", "followup"))


def _improved(baseline: float | None, followup: float | None, share: float, points: float) -> bool:
    if baseline is None or followup is None or baseline == 0:
        return False
    improvement = baseline - followup
    return improvement >= points - TOLERANCE and improvement >= share * baseline - TOLERANCE


def _score(name: str, value: object) -> float | None:
    if value is None or (isinstance(value, numbers.Real) and math.isnan(value)):
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise BadInput(f"{name}: {value!r} is not a number; expected a score from 0 to 100")
    if not 0 <= value <= 100:
        raise BadInput(f"{name}: {value!r} is outside 0-100; expected a score from 0 to 100")
    return float(value)


def omeract_oarsi(
    pain_baseline: float | None,
    pain_followup: float | None,
    function_baseline: float | None,
    function_followup: float | None,
    global_baseline: float | None,
    global_followup: float | None,
) -> dict[str, bool]:
    """OMERACT-OARSI responder: (A) pain or function improved by >= 50% and >= 20 points, or
    (B) at least two of pain, function and patient global improved by >= 20% and >= 10 points.
    """
    values = {
        key: _score(key, value)
        for key, value in zip(
            ANSWER_KEYS,
            (
                pain_baseline,
                pain_followup,
                function_baseline,
                function_followup,
                global_baseline,
                global_followup,
            ),
            strict=True,
        )
    }
    pairs = {d: (values[f"{d}_baseline"], values[f"{d}_followup"]) for d in DOMAINS}
    high = any(_improved(*pairs[d], share=0.5, points=20.0) for d in ("pain", "function"))
    moderate = sum(_improved(*pairs[d], share=0.2, points=10.0) for d in DOMAINS)
    two_of_three = moderate >= 2
    return {
        "high_improvement": high,
        "two_of_three": two_of_three,
        "responder": high or two_of_three,
    }


def omeract_oarsi_answers(answers: Mapping[str, object]) -> dict[str, bool]:
    """``omeract_oarsi`` from a mapping with the six keys of ``ANSWER_KEYS`` (None = missing)."""
    unknown = sorted(set(answers) - set(ANSWER_KEYS))
    if unknown:
        raise BadInput(f"unknown key(s) {', '.join(unknown)}; expected {', '.join(ANSWER_KEYS)}")
    return omeract_oarsi(**{key: answers.get(key) for key in ANSWER_KEYS})  # type: ignore[arg-type]


def mcid_responders(
    baseline: Sequence[float] | np.ndarray,
    followup: Sequence[float] | np.ndarray,
    mcid: float,
    higher_is_worse: bool = True,
) -> np.ndarray:
    """Whether each patient improved by at least ``mcid`` points; missing = non-responder."""
    start = np.asarray(baseline, dtype=float)
    end = np.asarray(followup, dtype=float)
    improvement = start - end if higher_is_worse else end - start
    return np.nan_to_num(improvement, nan=-np.inf) >= mcid - TOLERANCE


@dataclass(frozen=True)
class RiskDifference:
    """Responder rate of one arm against the reference arm."""

    arm: str
    reference: str
    responders: int
    n: int
    reference_responders: int
    reference_n: int
    difference: float
    wald: tuple[float, float]
    newcombe: tuple[float, float]


def _wilson(count: int, n: int, z: float) -> tuple[float, float]:
    p = count / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def risk_difference(
    responders: int, n: int, reference_responders: int, reference_n: int, alpha: float = 0.05
) -> tuple[float, tuple[float, float], tuple[float, float]]:
    """Difference in proportions with the Wald interval and Newcombe's hybrid score interval.

    Newcombe (Stat Med 1998;17:873, method 10) combines the two Wilson intervals; it keeps
    its coverage with small arms and rates near 0 or 1, where Wald's does not. Report
    Newcombe as the primary interval.
    """
    if n <= 0 or reference_n <= 0:
        raise BadInput("each arm needs at least one patient for a responder rate")
    z = float(stats.norm.ppf(1 - alpha / 2))
    p1, p2 = responders / n, reference_responders / reference_n
    difference = p1 - p2
    se = math.sqrt(p1 * (1 - p1) / n + p2 * (1 - p2) / reference_n)
    wald = (difference - z * se, difference + z * se)
    l1, u1 = _wilson(responders, n, z)
    l2, u2 = _wilson(reference_responders, reference_n, z)
    newcombe = (
        difference - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
        difference + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2),
    )
    return difference, wald, newcombe


def responder_rates(
    arms: Sequence[str] | pd.Series,
    responders: Sequence[bool] | np.ndarray | pd.Series,
    reference: str,
    alpha: float = 0.05,
) -> list[RiskDifference]:
    """Responder rate of each arm against ``reference`` (one entry per patient, in order)."""
    table = pd.DataFrame({"arm": np.asarray(arms, dtype=str), "responder": np.asarray(responders)})
    if reference not in set(table["arm"]):
        raise BadInput(f"reference arm {reference!r} has no patients")
    counts = table.groupby("arm")["responder"].agg(["sum", "count"])
    base = counts.loc[reference]
    out = []
    for arm, row in counts.iterrows():
        if arm == reference:
            continue
        difference, wald, newcombe = risk_difference(
            int(row["sum"]), int(row["count"]), int(base["sum"]), int(base["count"]), alpha
        )
        out.append(
            RiskDifference(
                arm=str(arm),
                reference=reference,
                responders=int(row["sum"]),
                n=int(row["count"]),
                reference_responders=int(base["sum"]),
                reference_n=int(base["count"]),
                difference=difference,
                wald=wald,
                newcombe=newcombe,
            )
        )
    return out
