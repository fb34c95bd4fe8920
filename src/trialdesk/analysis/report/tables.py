"""The report's analysis tables as data frames of formatted cells: analysis sets, baseline
characteristics, the primary parameter by visit, the primary MMRM and ANCOVA, OMERACT-OARSI
responders and protocol deviations.

Statistical choices (stated in the report as well):

- MMRM of the change from baseline at the primary parameter's post-baseline visits: fixed
  effects arm, visit, arm x visit, baseline, baseline x visit and the stratification factors
  (site too when the randomization is stratified by site and more than one site has patients);
  REML, Kenward-Roger degrees of freedom; unstructured covariance, else the first of Toeplitz,
  AR(1) and compound symmetry that converges.
- Control arm (`Protocol.control_arm`): the first placebo, sham or
  no-intervention arm, else the first active comparator, else the last arm.
- Responders (OMERACT-OARSI, Pham et al. 2004) at the primary visit in the ITT set, a patient
  without the follow-up value counted as a non-responder; risk differences with Newcombe's
  interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from trialdesk.analysis.datasets import AnalysisDatasets, PrimaryEndpoint
from trialdesk.errors import AnalysisError, BadInput

if TYPE_CHECKING:
    from trialdesk.analysis.ancova import AncovaResult
    from trialdesk.analysis.mmrm import MMRMResult
    from trialdesk.protocol import Protocol

ALL_SUBJECTS = "All subjects"
#: Covariance structures tried in turn for the primary MMRM.
COVARIANCES = ("us", "toep", "ar1", "cs")
#: OMERACT-OARSI domains on 0-100, higher is worse: (parameter, reversed) in preference order;
#: a reversed score (higher is better, as KOOS) enters as 100 - score.
RESPONDER_DOMAINS: dict[str, tuple[tuple[str, bool], ...]] = {
    "pain": (("womac.pain_100", False), ("koos.pain", True), ("vas_pain.pain", False)),
    "function": (("womac.function_100", False), ("koos.adl", True)),
    "global": (),
}
#: Instruments whose values are safety laboratory results, left out of the baseline table.
SAFETY_LAB_FORMS = frozenset({"labs"})
PRIMARY_BASELINE = "primary_baseline"


@dataclass(frozen=True)
class MmrmAnalysis:
    """The primary MMRM as reported: the fit, what was tried before it, and its tables."""

    fit: MMRMResult
    covariance: str
    notes: tuple[str, ...]
    formula: str
    lsmeans: pd.DataFrame
    differences: pd.DataFrame


# ---------------------------------------------------------------- arms and cells


def rows_by_arm(
    frame: pd.DataFrame, arms: list[tuple[str, str]] | None, total: bool = True
) -> list[tuple[str, pd.DataFrame]]:
    """(column label, rows) per arm in protocol order, then the total; pooled when blinded."""
    if arms is None:
        return [(ALL_SUBJECTS, frame)]
    groups = [(label, frame[frame["arm"] == arm_id]) for arm_id, label in arms]
    return groups + ([("Total", frame)] if total else [])


def _with_n(groups: list[tuple[str, pd.DataFrame]]) -> list[str]:
    return [f"{label} (N={frame['subject'].nunique()})" for label, frame in groups]


def format_number(value: Any, digits: int = 2) -> str:
    """`value` to `digits` decimals; "–" when missing or not finite."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}f}"


def format_p(value: float) -> str:
    """A p-value to three decimals, "<0.001" below that; "–" when missing."""
    if value is None or not math.isfinite(value):
        return "–"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def format_ci(lower: float, upper: float, digits: int = 2) -> str:
    """An interval, "lower to upper"."""
    return f"{format_number(lower, digits)} to {format_number(upper, digits)}"


def format_percent(count: int, n: int) -> str:
    """`count (x.x%)` of `n`; the count alone when `n` is 0."""
    return f"{count} ({100.0 * count / n:.1f}%)" if n else f"{count}"


# ---------------------------------------------------------------- analysis sets and baseline


def analysis_sets(subjects: pd.DataFrame, arms: list[tuple[str, str]] | None) -> pd.DataFrame:
    """Patients per analysis set and arm (sets as defined in trialdesk.analysis.datasets)."""
    randomized = subjects[subjects["itt"]]
    groups = rows_by_arm(randomized, arms)
    sets: dict[str, Callable[[pd.DataFrame], pd.Series]] = {
        "Randomized (ITT)": lambda frame: frame["itt"],
        "Safety (at least one administration)": lambda frame: frame["safety"],
        "Per protocol": lambda frame: frame["per_protocol"],
        "Analysed for the primary outcome": lambda frame: frame["analysed"],
        "Completed the study": lambda frame: frame["completed"],
        "Withdrawn": lambda frame: frame["discontinuation"] == "withdrawn",
        "Lost to follow-up": lambda frame: frame["discontinuation"] == "lost_to_follow_up",
    }
    rows = []
    for label, members in sets.items():
        row = {"Analysis set": label}
        for (_, frame), header in zip(groups, _with_n(groups), strict=True):
            row[header] = format_percent(int(members(frame).sum()), len(frame))
        rows.append(row)
    return pd.DataFrame(rows)


def _characteristics(
    protocol: Protocol, endpoint: PrimaryEndpoint | None
) -> list[tuple[str, str, bool]]:
    """(subjects column, label, categorical) of the baseline table, in protocol order.

    Age and sex, the stratification factors, then the protocol's numeric and coded data items
    except the one a factor reads and the safety laboratory values (safety, not baseline
    description), and the primary parameter at baseline.
    """
    items = {item.id: item for item in protocol.data_items}
    factors = protocol.randomization.stratification_factors if protocol.randomization else []
    chosen = [("age", "Age (years)", False), ("sex", "Sex", True)]
    for factor in factors:
        item = items.get(factor.item)
        chosen.append((factor.id, f"{item.label if item else factor.id} (stratum)", True))
    skipped = {"age", "sex"} | {factor.item for factor in factors} | {f.id for f in factors}
    for item in protocol.data_items:
        numeric = item.type.value in ("integer", "number")
        if item.id in skipped or item.form in SAFETY_LAB_FORMS or not (numeric or item.codelist):
            continue
        unit = f" ({item.unit})" if item.unit else ""
        chosen.append((item.id, f"{item.label}{unit}", bool(item.codelist)))
    if endpoint is not None:
        chosen.append((PRIMARY_BASELINE, f"{endpoint.parameter} at baseline", False))
    return chosen


def baseline_characteristics(
    datasets: AnalysisDatasets,
    protocol: Protocol,
    arms: list[tuple[str, str]] | None,
    endpoint: PrimaryEndpoint | None,
) -> pd.DataFrame:
    """Randomized patients' characteristics by arm: mean (SD) and median (min, max), or
    n (% of patients with a value); n or the missing count where values are missing."""
    subjects = datasets.subjects[datasets.subjects["itt"]].copy()
    if endpoint is not None:
        outcomes = datasets.outcomes
        baseline = outcomes[
            outcomes["is_baseline"] & (outcomes["parameter"] == endpoint.parameter)
        ].set_index("subject")["value"]
        subjects[PRIMARY_BASELINE] = subjects["subject"].map(baseline)
    groups = rows_by_arm(subjects, arms)
    headers = _with_n(groups)
    rows: list[dict[str, str]] = []

    def add(label: str, statistic: str, cells: list[str]) -> None:
        rows.append(
            {"Characteristic": label, "": statistic, **dict(zip(headers, cells, strict=True))}
        )

    for column, label, categorical in _characteristics(protocol, endpoint):
        if column not in subjects.columns or subjects[column].isna().all():
            continue
        missing = subjects[column].isna().any()
        if categorical:
            known = [frame[column].dropna().astype(str) for _, frame in groups]
            for level in sorted(subjects[column].dropna().astype(str).unique()):
                add(label, level, [format_percent(int((k == level).sum()), len(k)) for k in known])
            if missing:
                add(label, "Missing", [str(int(f[column].isna().sum())) for _, f in groups])
            continue
        values = [pd.to_numeric(frame[column], errors="coerce").dropna() for _, frame in groups]
        if missing:
            add(label, "n", [str(len(v)) for v in values])
        add(label, "Mean (SD)", [_mean_sd(v, 1) for v in values])
        add(label, "Median (min, max)", [_median_range(v) for v in values])
    return pd.DataFrame(rows, columns=["Characteristic", "", *headers])


def _median_range(values: pd.Series) -> str:
    if values.empty:
        return "–"
    return f"{values.median():.1f} ({values.min():.1f}, {values.max():.1f})"


# ---------------------------------------------------------------- primary analysis


def model_strata(protocol: Protocol, subjects: pd.DataFrame) -> list[str]:
    """Stratification factors that vary among the randomized patients (site included when the
    randomization is stratified by site)."""
    randomization = protocol.randomization
    names = [f.id for f in randomization.stratification_factors] if randomization else []
    if randomization is not None and randomization.stratify_by_site:
        names.append("site")
    randomized = subjects[subjects["itt"]]
    return [n for n in names if n in randomized and randomized[n].dropna().nunique() > 1]


def primary_data(
    datasets: AnalysisDatasets, protocol: Protocol, endpoint: PrimaryEndpoint
) -> pd.DataFrame:
    """One row per ITT patient and post-baseline visit of the primary parameter with a change
    from baseline, with the model's strata as text and visits in protocol order."""
    outcomes = datasets.outcomes
    rows = outcomes[
        (outcomes["parameter"] == endpoint.parameter)
        & outcomes["visit"].isin(endpoint.visits)
        & outcomes["change"].notna()
    ]
    strata = model_strata(protocol, datasets.subjects)
    subjects = datasets.subjects[datasets.subjects["itt"]][["subject", *strata]]
    data = rows.merge(subjects, on="subject", how="inner")
    for name in strata:
        data[name] = data[name].astype(str)
    data["visit"] = pd.Categorical(data["visit"], categories=list(endpoint.visits))
    return data.reset_index(drop=True)


def primary_mmrm(
    datasets: AnalysisDatasets, protocol: Protocol, endpoint: PrimaryEndpoint
) -> MmrmAnalysis:
    """The primary MMRM by arm (unblinded datasets), with its covariance fallbacks."""
    from trialdesk.analysis.covariance import STRUCTURES
    from trialdesk.analysis.mmrm import fit_mmrm

    if datasets.blinded:
        raise BadInput("the primary MMRM compares arms; the datasets are blinded")
    data = primary_data(datasets, protocol, endpoint)
    data["arm"] = data["arm"].astype(str)
    strata = model_strata(protocol, datasets.subjects)
    terms = ["arm", "visit", "arm:visit", "baseline", "baseline:visit", *strata]
    if len(endpoint.visits) == 1 or data["visit"].nunique() == 1:
        terms = ["arm", "baseline", *strata]
    formula = " + ".join(terms)
    notes: list[str] = []
    for code in COVARIANCES:
        name = STRUCTURES[code].label
        try:
            fit = fit_mmrm(
                data,
                "change",
                formula,
                "subject",
                "visit",
                covariance=code,
                df="kr",
                references={"arm": protocol.control_arm()},
                visit_order=list(endpoint.visits),
            )
        except AnalysisError as error:
            notes.append(f"{name} covariance could not be fitted ({error})")
            continue
        if not fit.converged:
            notes.append(f"{name} covariance did not converge")
            continue
        if "visit" in fit.design.factors:
            lsmeans = fit.lsmeans(["arm", "visit"])
            differences = fit.lsmean_differences("arm", by="visit")
        else:  # one post-baseline visit: no visit term
            lsmeans = fit.lsmeans(["arm"]).assign(visit=endpoint.primary_visit)
            differences = fit.lsmean_differences("arm").assign(visit=endpoint.primary_visit)
        order = [arm.id for arm in protocol.arms]
        return MmrmAnalysis(
            fit,
            name,
            tuple(notes),
            formula,
            _in_order(lsmeans, order, endpoint.visits),
            _in_order(differences, order, endpoint.visits),
        )
    raise AnalysisError("the primary MMRM could not be fitted: " + "; ".join(notes))


def descriptive_by_visit(
    datasets: AnalysisDatasets, arms: list[tuple[str, str]] | None, endpoint: PrimaryEndpoint
) -> pd.DataFrame:
    """Observed values and changes of the primary parameter by visit (and arm)."""
    outcomes = datasets.outcomes
    rows_of = outcomes[
        (outcomes["parameter"] == endpoint.parameter)
        & (outcomes["is_baseline"] | outcomes["visit"].isin(endpoint.visits))
    ]
    itt = set(datasets.subjects.loc[datasets.subjects["itt"], "subject"])
    rows_of = rows_of[rows_of["subject"].isin(itt)]
    rows = []
    for label, frame in rows_by_arm(rows_of, arms, total=False):
        baseline = frame[frame["is_baseline"]]
        rows.append(_describe(label, "Baseline", baseline["value"], None))
        for visit in endpoint.visits:
            at = frame[frame["visit"] == visit]
            rows.append(_describe(label, visit, at["value"], at["change"]))
    return pd.DataFrame(rows)


def _describe(arm: str, visit: str, values: pd.Series, change: pd.Series | None) -> dict:
    values = values.dropna()
    row = {
        "Arm": arm,
        "Visit": visit,
        "n": str(len(values)),
        "Value, mean (SD)": _mean_sd(values),
        "Change, n": "–" if change is None else str(change.notna().sum()),
        "Change, mean (SD)": "–" if change is None else _mean_sd(change.dropna()),
        "Change, 95% CI of mean": "–" if change is None else _mean_ci(change.dropna()),
    }
    return row


def _mean_sd(values: pd.Series, digits: int = 2) -> str:
    if values.empty:
        return "–"
    sd = values.std(ddof=1) if len(values) > 1 else float("nan")
    return f"{values.mean():.{digits}f} ({format_number(sd, digits)})"


def _mean_ci(values: pd.Series) -> str:
    from scipy import stats

    if len(values) < 2:
        return "–"
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values))
    return format_ci(values.mean() - half, values.mean() + half)


def _in_order(frame: pd.DataFrame, arms: Sequence[str], visits: Sequence[str]) -> pd.DataFrame:
    """Rows by visit in protocol order, then arm in protocol order."""
    keys = frame["visit"].map({v: i for i, v in enumerate(visits)}) * len(arms)
    keys = keys + frame["arm"].map({a: i for i, a in enumerate(arms)})
    return frame.iloc[np.argsort(keys.to_numpy(), kind="stable")].reset_index(drop=True)


def primary_ancova(
    datasets: AnalysisDatasets, protocol: Protocol, endpoint: PrimaryEndpoint
) -> tuple[AncovaResult, pd.DataFrame]:
    """ANCOVA of the change at the primary visit: arm + baseline + strata (complete cases),
    and the rows it is fitted to."""
    from trialdesk.analysis.ancova import ancova

    data = primary_data(datasets, protocol, endpoint)
    data = data[data["visit"] == endpoint.primary_visit].copy()
    data["arm"] = data["arm"].astype(str)
    strata = model_strata(protocol, datasets.subjects)
    return ancova(data, "change", "arm", "baseline", strata, reference=protocol.control_arm()), data


# ---------------------------------------------------------------- responders


def responder_domains(outcomes: pd.DataFrame) -> dict[str, tuple[str, bool] | None]:
    """The parameter used for each OMERACT-OARSI domain, or None when it is not collected."""
    present = set(outcomes["parameter"].unique())
    return {
        domain: next((choice for choice in choices if choice[0] in present), None)
        for domain, choices in RESPONDER_DOMAINS.items()
    }


def omeract_responders(
    datasets: AnalysisDatasets, endpoint: PrimaryEndpoint
) -> pd.DataFrame | None:
    """Per ITT patient: arm and OMERACT-OARSI responder status at the primary visit, or None
    when neither pain nor function is collected on a 0-100 scale."""
    from trialdesk.analysis.responder import omeract_oarsi

    domains = responder_domains(datasets.outcomes)
    if domains["pain"] is None and domains["function"] is None:
        return None
    outcomes = datasets.outcomes
    scores: dict[str, tuple[pd.Series, pd.Series]] = {}
    for domain, choice in domains.items():
        if choice is None:
            continue
        parameter, reversed_scale = choice
        rows = outcomes[outcomes["parameter"] == parameter]
        baseline = rows[rows["is_baseline"]].set_index("subject")["value"]
        followup = rows[rows["visit"] == endpoint.primary_visit].set_index("subject")["value"]
        if reversed_scale:
            baseline, followup = 100.0 - baseline, 100.0 - followup
        scores[domain] = (baseline, followup)
    itt = datasets.subjects[datasets.subjects["itt"]]
    rows = []
    for subject, arm in zip(itt["subject"], itt["arm"], strict=True):
        values = {}
        for domain in ("pain", "function", "global"):
            baseline, followup = scores.get(domain, (pd.Series(dtype=float),) * 2)
            values[f"{domain}_baseline"] = _value(baseline, subject)
            values[f"{domain}_followup"] = _value(followup, subject)
        result = omeract_oarsi(**values)
        rows.append({"subject": subject, "arm": arm, **result})
    return pd.DataFrame(
        rows, columns=["subject", "arm", "high_improvement", "two_of_three", "responder"]
    )


def _value(series: pd.Series, subject: str) -> float | None:
    value = series.get(subject)
    return None if value is None or pd.isna(value) else float(value)


# ---------------------------------------------------------------- protocol deviations


def deviation_summary(
    deviations: pd.DataFrame, subjects: pd.DataFrame, arms: list[tuple[str, str]] | None
) -> pd.DataFrame:
    """Per kind of deviation and arm: patients with at least one, n (% of randomized), and
    the number of deviations (columns: (arm header, "Patients n (%)" | "Deviations"))."""
    randomized = subjects[subjects["itt"]]
    groups = rows_by_arm(randomized, arms)
    headers = _with_n(groups)
    rows = []
    kinds = deviations.groupby(["automatic", "kind"], sort=True) if not deviations.empty else []
    for (automatic, kind), frame in kinds:
        words = kind.replace("_", " ")
        row = {("Deviation", ""): f"{words} (recorded by the store)" if automatic else words}
        for (_, group), header in zip(groups, headers, strict=True):
            mine = frame[frame["subject"].isin(group["subject"])]
            row[(header, "Patients n (%)")] = format_percent(mine["subject"].nunique(), len(group))
            row[(header, "Deviations")] = str(len(mine))
        rows.append(row)
    columns = [("Deviation", "")]
    columns += [(h, statistic) for h in headers for statistic in ("Patients n (%)", "Deviations")]
    return pd.DataFrame(rows, columns=pd.MultiIndex.from_tuples(columns))
