"""The registry's outcome measures with their statistical analyses, from unblinded datasets.

An outcome is reported when the project's analysis computes it:

- an outcome scored by an instrument (`parameter_of(outcome)`): the observed change from
  baseline, mean and standard deviation, per post-baseline visit of its time frame and arm
  (ITT patients with that change); analyses by the report's own models, the MMRM difference
  in LS mean change to the control arm at every visit and the ANCOVA at the last one
  (`trialdesk.analysis.report.tables.primary_mmrm` / `primary_ancova`, fitted to the
  outcome's parameter and visits as to the primary one);
- an adverse-event outcome (no instrument, "adverse event" in its registry measure): the
  participants of the safety set with at least one treatment-emergent and at least one
  serious treatment-emergent adverse event (the counts of
  `ctgov_adverse_events.safety_events`).

Any other outcome (an instrument without a named score, a measure no analysis reads) is left
out; `not_reported` names them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pandas as pd

from trialdesk.analysis.datasets import AnalysisDatasets, PrimaryEndpoint, parameter_of
from trialdesk.analysis.report.tables import model_strata, primary_ancova, primary_mmrm
from trialdesk.errors import AnalysisError, BadInput
from trialdesk.instruments.catalogue import get_instrument
from trialdesk.protocol.model import Outcome, Protocol

OUTCOME_TYPES = {"primary": "PRIMARY", "secondary": "SECONDARY", "other": "OTHER_PRE_SPECIFIED"}
#: The registry's unit for a score without a physical unit.
SCALE_UNIT = "units on a scale"
PARTICIPANTS = "Participants"
#: The registry's estimation parameter for a difference in change from baseline.
MEAN_DIFFERENCE = "Mean Difference (Net)"
MMRM_METHOD = "Mixed Models Analysis"
ANCOVA_METHOD = "ANCOVA"
ANY_EVENT = "Participants with at least one adverse event"
ANY_SERIOUS = "Participants with at least one serious adverse event"

#: (arm id, registry group) in protocol order.
Groups = list[tuple[str, dict[str, str]]]


def is_adverse_event_outcome(outcome: Outcome) -> bool:
    return outcome.instrument is None and "adverse event" in outcome.measure.lower()


def reported(protocol: Protocol) -> list[Outcome]:
    """The registered outcomes this export computes, in protocol order."""
    return [
        o
        for o in protocol.outcomes
        if _endpoint(protocol, o) is not None or is_adverse_event_outcome(o)
    ]


def not_reported(protocol: Protocol) -> list[Outcome]:
    chosen = {o.id for o in reported(protocol)}
    return [o for o in protocol.outcomes if o.id not in chosen]


def outcome_measures(
    datasets: AnalysisDatasets,
    protocol: Protocol,
    groups: Groups,
    safety_counts: Callable[[str], tuple[int, int, int]],
) -> list[dict[str, Any]]:
    """The outcome measures; `safety_counts(arm)` gives (at risk, with an event, with a
    serious event) of an arm."""
    measures = []
    for outcome in reported(protocol):
        endpoint = _endpoint(protocol, outcome)
        if endpoint is None:
            measures.append(_adverse_event_measure(outcome, groups, safety_counts))
        else:
            measures.append(_change_measure(datasets, protocol, outcome, endpoint, groups))
    return measures


def _endpoint(protocol: Protocol, outcome: Outcome) -> PrimaryEndpoint | None:
    """The outcome as the analysis reads an endpoint: its parameter at its post-baseline
    visits, the last one the analysis visit (as `primary_endpoint` does)."""
    parameter = parameter_of(outcome)
    days = {visit.id: visit.day for visit in protocol.visits}
    later = sorted((v for v in outcome.visits if days[v] > 0), key=days.__getitem__)
    if parameter is None or not later:
        return None
    return PrimaryEndpoint(
        outcome_id=outcome.id,
        measure=outcome.measure,
        parameter=parameter,
        visits=tuple(later),
        primary_visit=later[-1],
        is_primary_outcome=outcome.kind == "primary",
    )


def _base(outcome: Outcome, groups: Groups) -> dict[str, Any]:
    return {
        "type": OUTCOME_TYPES[outcome.kind],
        "title": outcome.measure,
        "description": outcome.description,
        "timeFrame": outcome.time_frame,
        "reportingStatus": "POSTED",
        "groups": [group for _, group in groups],
    }


def _denoms(counts: dict[str, int], groups: Groups) -> list[dict[str, Any]]:
    return [
        {
            "units": PARTICIPANTS,
            "counts": [
                {"groupId": group["id"], "value": str(counts.get(arm, 0))} for arm, group in groups
            ],
        }
    ]


def score_label(parameter: str) -> tuple[str, str]:
    """(label, unit) of an instrument score "<instrument>.<score>", from its definition."""
    instrument_id, name = parameter.split(".", 1)
    instrument = get_instrument(instrument_id)
    score = next((s for s in instrument.scores if s.id == name), None)
    if score is not None:
        return score.label, score.unit or SCALE_UNIT
    item = next((i for i in instrument.items if i.id == name), None)
    if item is not None:
        return item.label, item.unit or SCALE_UNIT
    return parameter, SCALE_UNIT


def decimal(value: Any, digits: int = 2) -> str | None:
    """A number as the registry's text, `digits` decimals; None when not finite."""
    if value is None or not math.isfinite(float(value)):
        return None
    return f"{float(value):.{digits}f}"


def p_value(value: float) -> str | None:
    if value is None or not math.isfinite(value):
        return None
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _change_measure(
    datasets: AnalysisDatasets,
    protocol: Protocol,
    outcome: Outcome,
    endpoint: PrimaryEndpoint,
    groups: Groups,
) -> dict[str, Any]:
    label, unit = score_label(endpoint.parameter)
    itt = set(datasets.subjects.loc[datasets.subjects["itt"].astype(bool), "subject"])
    rows = datasets.outcomes
    rows = rows[
        (rows["parameter"] == endpoint.parameter)
        & rows["visit"].isin(endpoint.visits)
        & rows["change"].notna()
        & rows["subject"].isin(itt)
    ]
    analysed = rows.groupby("arm")["subject"].nunique().to_dict()
    classes = []
    for visit_id in endpoint.visits:
        at = rows[rows["visit"] == visit_id]
        counts = at.groupby("arm")["subject"].nunique().to_dict()
        measurements = []
        for arm, group in groups:
            change = at.loc[at["arm"] == arm, "change"].astype(float)
            measurements.append(_mean_sd(group["id"], change))
        classes.append(
            {
                "title": protocol.visit(visit_id).label,
                "denoms": _denoms(counts, groups),
                "categories": [{"measurements": measurements}],
            }
        )
    measure = _base(outcome, groups) | {
        "description": " ".join(
            part
            for part in (
                outcome.description,
                f"{label} ({endpoint.parameter}): change from baseline (the last value on or "
                "before day 0) at each visit of the time frame, observed values.",
            )
            if part
        ),
        "populationDescription": (
            "Randomized patients (ITT) with a baseline and at least one post-baseline value; "
            "at each visit those with the value. Missing values are not imputed."
        ),
        "paramType": "MEAN",
        "dispersionType": "Standard Deviation",
        "unitOfMeasure": unit,
        "denoms": _denoms(analysed, groups),
        "classes": classes,
        "analyses": _analyses(datasets, protocol, endpoint, groups),
    }
    return measure


def _mean_sd(group_id: str, values: pd.Series) -> dict[str, Any]:
    if values.empty:
        return {"groupId": group_id, "value": "NA", "comment": "No participant with the value"}
    measurement = {"groupId": group_id, "value": decimal(values.mean())}
    spread = decimal(values.std(ddof=1)) if len(values) > 1 else None
    if spread is None:
        measurement["comment"] = "Standard deviation not estimable from one participant"
    else:
        measurement["spread"] = spread
    return measurement


def _analyses(
    datasets: AnalysisDatasets, protocol: Protocol, endpoint: PrimaryEndpoint, groups: Groups
) -> list[dict[str, Any]]:
    """MMRM differences at every visit, then the ANCOVA at the last; a model that cannot be
    fitted to these data gives no analysis."""
    ids = {arm: group["id"] for arm, group in groups}
    labels = {arm.id: arm.label for arm in protocol.arms}
    analyses = []
    try:
        mmrm = primary_mmrm(datasets, protocol, endpoint)
    except (AnalysisError, BadInput):
        mmrm = None
    if mmrm is not None:
        for row in mmrm.differences.itertuples(index=False):
            visit = protocol.visit(row.visit).label
            analyses.append(
                _difference(
                    [ids[row.arm], ids[row.reference]],
                    f"{labels[row.arm]} versus {labels[row.reference]} at {visit}",
                    MMRM_METHOD,
                    (row.estimate, row.se, row.lower, row.upper, row.p),
                    f"Difference in least-squares mean change from baseline at {visit}; MMRM "
                    f"change ~ {mmrm.formula}, {mmrm.covariance} covariance, REML, "
                    f"Kenward-Roger degrees of freedom ({row.df:.1f}).",
                )
            )
    try:
        result, data = primary_ancova(datasets, protocol, endpoint)
    except (AnalysisError, BadInput):
        return analyses
    visit = protocol.visit(endpoint.primary_visit).label
    covariates = " + ".join(["baseline", *model_strata(protocol, datasets.subjects)])
    for effect in sorted(result.effects, key=lambda e: list(ids).index(e.arm)):
        analyses.append(
            _difference(
                [ids[effect.arm], ids[effect.reference]],
                f"{labels[effect.arm]} versus {labels[effect.reference]} at {visit}",
                ANCOVA_METHOD,
                (effect.estimate, effect.se, effect.lower, effect.upper, effect.p),
                f"Difference in change from baseline at {visit}; ANCOVA change ~ arm + "
                f"{covariates}, ordinary least squares, {result.n_obs} patients with the value, "
                f"{result.df_resid} residual degrees of freedom.",
            )
        )
    return analyses


def _difference(
    group_ids: list[str],
    description: str,
    method: str,
    numbers: tuple[float, float, float, float, float],
    comment: str,
) -> dict[str, Any]:
    estimate, se, lower, upper, p = numbers
    return {
        "groupIds": group_ids,
        "groupDescription": description,
        "testedNonInferiority": False,
        "nonInferiorityType": "SUPERIORITY",
        "pValue": p_value(p),
        "statisticalMethod": method,
        "paramType": MEAN_DIFFERENCE,
        "paramValue": decimal(estimate),
        "dispersionType": "STANDARD_ERROR_OF_MEAN",
        "dispersionValue": decimal(se),
        "ciPctValue": "95",
        "ciNumSides": "TWO_SIDED",
        "ciLowerLimit": decimal(lower),
        "ciUpperLimit": decimal(upper),
        "estimateComment": comment,
    }


def _adverse_event_measure(
    outcome: Outcome, groups: Groups, safety_counts: Callable[[str], tuple[int, int, int]]
) -> dict[str, Any]:
    counts = {arm: safety_counts(arm) for arm, _ in groups}
    categories = [
        {
            "title": title,
            "measurements": [
                {"groupId": group["id"], "value": str(counts[arm][index])} for arm, group in groups
            ],
        }
        for index, title in ((1, ANY_EVENT), (2, ANY_SERIOUS))
    ]
    return _base(outcome, groups) | {
        "populationDescription": (
            "Safety set: patients who received at least one administration; treatment-emergent "
            "adverse events (onset on or after the first administration)."
        ),
        "paramType": "COUNT_OF_PARTICIPANTS",
        "unitOfMeasure": PARTICIPANTS,
        "denoms": _denoms({arm: at_risk for arm, (at_risk, _, _) in counts.items()}, groups),
        "classes": [{"categories": categories}],
    }
