"""ClinicalTrials.gov results: one API v2 study record with its results section, as JSON.

The record is the registry export of the protocol (`trialdesk.protocol.ctgov.export_record`)
with `hasResults` true and a `resultsSection` computed from the analysis datasets of the
whole study (`analysis_datasets`: `build_datasets` of each batch of subjects, the per-subject
frames concatenated, so the study's rows are never all in memory):

- participantFlowModule: one group per arm and one period, "Overall Study": STARTED
  (allocated), received the allocated intervention, COMPLETED, NOT COMPLETED, and the reasons
  for not completing (lost to follow-up, each recorded reason for withdrawal, follow-up not
  finished at the lock), read from the report's CONSORT flow (`consort_flow`);
- baselineCharacteristicsModule: age, sex, region of enrollment (the sites' countries) and
  the primary parameter at baseline of the randomized patients, by arm and in total;
- outcomeMeasuresModule: `ctgov_outcomes`;
- adverseEventsModule: `ctgov_adverse_events`;
- moreInfoModule: the point of contact, when the protocol names a contact.

Results by arm are written only from a locked database and an unblinded source (a reader
who may see arms); anything else is refused before a file is written. Counts, means and
limits are text, as the registry's schema has them; adverse-event counts are integers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from trialdesk.analysis.consort import NO_REASON, ArmFlow, ConsortFlow, consort_flow
from trialdesk.analysis.datasets import (
    AnalysisDatasets,
    StudyExtract,
    build_datasets,
    primary_endpoint,
)
from trialdesk.errors import BadInput
from trialdesk.exchange.ctgov_adverse_events import adverse_events_module, safety_events
from trialdesk.exchange.ctgov_outcomes import Groups, decimal, outcome_measures, score_label
from trialdesk.exchange.source import ExportSource
from trialdesk.protocol.ctgov import export_record
from trialdesk.protocol.model import Protocol

PERIOD = "Overall Study"
RECEIVED = "Received allocated intervention"
LOST = "Lost to Follow-up"
NOT_FINISHED = "Follow-up not finished at database lock"
WITHDRAWN_WITHOUT_REASON = "Withdrawal, reason not recorded"
TOTAL = {"title": "Total", "description": "Total of all reporting groups"}
PARTICIPANTS = "Participants"


def write(source: ExportSource, out: Path) -> list[Path]:
    """Write the study record with its results section to the file `out`."""
    record = results_record(source)
    try:
        out.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as error:
        raise BadInput(
            f"{out}: cannot be written ({error.strerror}); expected a writable path"
        ) from None
    return [out]


def results_record(source: ExportSource) -> dict[str, Any]:
    """The API v2 `Study` of a locked study read by an unblinded reader."""
    protocol = source.protocol
    check_results_source(source)
    datasets = analysis_datasets(source)
    safety = safety_events(datasets, protocol)
    results = {
        "participantFlowModule": participant_flow(datasets, protocol),
        "baselineCharacteristicsModule": baseline_characteristics(datasets, protocol),
        "outcomeMeasuresModule": {
            "outcomeMeasures": outcome_measures(
                datasets, protocol, groups(protocol, "OG"), safety.counts
            )
        },
        "adverseEventsModule": adverse_events_module(safety, protocol, groups(protocol, "EG")),
        "moreInfoModule": _more_info(protocol),
    }
    record = export_record(protocol)
    return {
        "protocolSection": record["protocolSection"],
        "resultsSection": without_empty(results),
        "hasResults": True,
    }


def check_results_source(source: ExportSource) -> None:
    """Refuse an open study and a blinded reader's source, naming the study and the reader."""
    study = source.study
    if not study.get("locked"):
        state = "reopened after its lock" if study.get("reopened_after_lock") else "open"
        raise BadInput(
            f"{source.protocol.id}: the database is {state}; registry results are written "
            "from a locked study only (lock the database first)"
        )
    if source.blinded:
        raise _blinded_refusal(source)


def _blinded_refusal(source: ExportSource) -> BadInput:
    return BadInput(
        f"{source.protocol.id}: the export source of {source.exported_by!r} is blinded; results "
        "by arm need a reader who may see the arms after the lock (e.g. the statistician)"
    )


# ------------------------------------------------------------------- datasets

#: The stable sorts `build_datasets` gives its frames; the batches' frames, concatenated, are
#: sorted again by them (the subjects by site first, so not in the batches' code order).
FRAME_ORDER = {
    "subjects": ["site", "subject"],
    "outcomes": ["subject", "parameter", "visit_day"],
    "adverse_events": ["subject", "number"],
    "deviations": ["subject", "detected_on"],
}


def analysis_datasets(source: ExportSource) -> AnalysisDatasets:
    """`build_datasets` of the whole study, frame for frame, built a batch at a time.

    Every row of the datasets is one subject's and derived from that subject's rows only
    (baselines, flags, diaries), and each batch holds its subjects with all their rows, so the
    datasets of the batches, concatenated and put in `build_datasets`' order, are those of
    the whole study. An allocation without its arm (a blinded read) is refused.
    """
    built = []
    for batch in source.batches():
        if any(row["arm"] is None for row in batch.extract.allocations):
            raise _blinded_refusal(source)
        built.append(build_datasets(batch.extract, source.protocol))
    if not built:
        return build_datasets(StudyExtract(study=source.study), source.protocol)
    frames = {name: _concatenated([d.frames()[name] for d in built]) for name in built[0].frames()}
    for name, columns in FRAME_ORDER.items():
        frames[name] = frames[name].sort_values(columns, kind="stable", ignore_index=True)
    frames["diaries"] = _diary_order(frames["diaries"], source.protocol)
    return AnalysisDatasets(**frames)


def _concatenated(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The batches' rows of one frame as one frame, typed as one frame of all the rows is: a
    column whose type differs between batches (no value at all in one batch, numbers or
    instants in another) is typed again from all its values, text kept as objects and None."""
    filled = [part for part in parts if len(part)] or parts[:1]
    frame = pd.concat(filled, ignore_index=True)
    for column in frame.columns:
        if len({part[column].dtype for part in filled}) > 1:
            typed = pd.Series(frame[column].tolist(), index=frame.index)
            if pd.api.types.is_string_dtype(typed):
                typed = typed.astype(object).where(typed.notna(), None)
            frame[column] = typed
    return frame


def _diary_order(diaries: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    """Diaries as `build_datasets` lists them: by daily schedule, then in subjects' order."""
    rank = {s.id: number for number, s in enumerate(protocol.patient_reported)}
    return diaries.sort_values(
        ["schedule", "site", "subject"],
        key=lambda column: column.map(rank) if column.name == "schedule" else column,
        kind="stable",
        ignore_index=True,
    )


def groups(protocol: Protocol, prefix: str) -> Groups:
    """The registry's groups of a module, one per arm: FG000, FG001... for prefix "FG"."""
    return [
        (
            arm.id,
            without_empty(
                {"id": f"{prefix}{index:03d}", "title": arm.label, "description": arm.description}
            ),
        )
        for index, arm in enumerate(protocol.arms)
    ]


def _achievements(groups_: Groups, counts: dict[str, int]) -> list[dict[str, str]]:
    return [
        {"groupId": group["id"], "numSubjects": str(counts.get(arm, 0))} for arm, group in groups_
    ]


# ------------------------------------------------------------------- participant flow


def participant_flow(datasets: AnalysisDatasets, protocol: Protocol) -> dict[str, Any]:
    flow_groups = groups(protocol, "FG")
    flow = consort_flow(datasets.subjects, [(arm.id, arm.label) for arm in protocol.arms])
    arms = {arm_flow.arm: arm_flow for arm_flow in flow.arms}
    subjects = datasets.subjects
    completed = {
        arm: set(
            subjects.loc[subjects["completed"].astype(bool) & (subjects["arm"] == arm), "subject"]
        )
        & set(arms[arm].allocated.subjects)
        for arm in arms
    }
    started = {arm: arm_flow.allocated.n for arm, arm_flow in arms.items()}
    milestones = [
        ("STARTED", started),
        (RECEIVED, {arm: arm_flow.received.n for arm, arm_flow in arms.items()}),
        ("COMPLETED", {arm: len(done) for arm, done in completed.items()}),
        ("NOT COMPLETED", {arm: started[arm] - len(completed[arm]) for arm in arms}),
    ]
    return {
        "recruitmentDetails": _recruitment(subjects, protocol),
        "preAssignmentDetails": _pre_assignment(flow),
        "groups": [group for _, group in flow_groups],
        "periods": [
            {
                "title": PERIOD,
                "milestones": [
                    {"type": kind, "achievements": _achievements(flow_groups, counts)}
                    for kind, counts in milestones
                ],
                "dropWithdraws": [
                    {"type": kind, "reasons": _achievements(flow_groups, counts)}
                    for kind, counts in _not_completed_reasons(arms, completed).items()
                ],
            }
        ],
    }


def _not_completed_reasons(
    arms: dict[str, ArmFlow], completed: dict[str, set[str]]
) -> dict[str, dict[str, int]]:
    """{reason: {arm: patients}}: lost to follow-up, each reason for withdrawal (the most
    frequent first), then those whose follow-up had not ended at the lock."""
    reasons: dict[str, dict[str, int]] = {}
    for arm, arm_flow in arms.items():
        if arm_flow.lost_to_follow_up.n:
            reasons.setdefault(LOST, {})[arm] = arm_flow.lost_to_follow_up.n
    withdrawals: dict[str, dict[str, int]] = {}
    for arm, arm_flow in arms.items():
        for reason, subjects in arm_flow.discontinued.reasons:
            kind = WITHDRAWN_WITHOUT_REASON if reason == NO_REASON else reason
            withdrawals.setdefault(kind, {})[arm] = len(subjects)
    for kind in sorted(withdrawals, key=lambda k: (-sum(withdrawals[k].values()), k)):
        reasons[kind] = withdrawals[kind]
    for arm, arm_flow in arms.items():
        ended = (
            completed[arm]
            | set(arm_flow.lost_to_follow_up.subjects)
            | set(arm_flow.discontinued.subjects)
        )
        ongoing = set(arm_flow.allocated.subjects) - ended
        if ongoing:
            reasons.setdefault(NOT_FINISHED, {})[arm] = len(ongoing)
    return reasons


def _recruitment(subjects: pd.DataFrame, protocol: Protocol) -> str:
    names = {site.id: site.name for site in protocol.sites}
    sites = sorted(set(subjects["site"]))
    screened = subjects["screened_on"].dropna()
    period = (
        f" between {min(screened).isoformat()} and {max(screened).isoformat()}"
        if not screened.empty
        else ""
    )
    where = "; ".join(f"{site} ({names[site]})" if site in names else site for site in sites)
    count = "1 site" if len(sites) == 1 else f"{len(sites)} sites"
    return f"Patients were screened{period} at {count}: {where}."


def _pre_assignment(flow: ConsortFlow) -> str:
    parts = [f"{box.label.lower()} {box.n}" for box in flow.exclusions if box.n]
    text = f"{flow.assessed.n} patients were assessed for eligibility and {flow.randomized.n} "
    text += "randomized"
    if flow.excluded.n:
        text += f"; {flow.excluded.n} were excluded before randomization ({', '.join(parts)})"
    if flow.still_screening.n:
        text += f"; {flow.still_screening.n} were still in screening at the lock"
    return text + "."


# ------------------------------------------------------------------- baseline


def baseline_characteristics(datasets: AnalysisDatasets, protocol: Protocol) -> dict[str, Any]:
    """Age, sex, region and the primary parameter at baseline of the randomized (ITT)."""
    baseline_groups = groups(protocol, "BG")
    total_id = f"BG{len(baseline_groups):03d}"
    columns = [(arm, group["id"]) for arm, group in baseline_groups] + [(None, total_id)]
    subjects = datasets.subjects[datasets.subjects["itt"].astype(bool)].copy()

    def of(arm: str | None) -> pd.DataFrame:
        return subjects if arm is None else subjects[subjects["arm"] == arm]

    measures = [
        _continuous("Age, Continuous", "years", "age", of, columns, 1),
        {
            "title": "Sex: Female, Male",
            "paramType": "COUNT_OF_PARTICIPANTS",
            "unitOfMeasure": PARTICIPANTS,
            "classes": [
                {
                    "categories": [
                        {
                            "title": title,
                            "measurements": [
                                {
                                    "groupId": group_id,
                                    "value": str(int((of(arm)["sex"] == sex).sum())),
                                }
                                for arm, group_id in columns
                            ],
                        }
                        for sex, title in (("female", "Female"), ("male", "Male"))
                    ]
                }
            ],
        },
    ]
    region = _region_of_enrollment(subjects, protocol, of, columns)
    if region is not None:
        measures.append(region)
    endpoint = primary_endpoint(protocol)
    if endpoint is not None:
        outcomes = datasets.outcomes
        at_baseline = outcomes[
            outcomes["is_baseline"].astype(bool) & (outcomes["parameter"] == endpoint.parameter)
        ].set_index("subject")["value"]
        subjects["primary_baseline"] = subjects["subject"].map(at_baseline)
        label, unit = score_label(endpoint.parameter)
        measure = _continuous(f"{label} at baseline", unit, "primary_baseline", of, columns, 2)
        outcome = next(o for o in protocol.outcomes if o.id == endpoint.outcome_id)
        measure["description"] = (
            f"The parameter of the primary outcome, {outcome.measure}: the last value on or "
            "before day 0."
            if endpoint.is_primary_outcome
            else f"The primary outcome has no score; the first outcome with one, "
            f"{outcome.measure}: the last value on or before day 0."
        )
        measures.append(measure)
    return {
        "populationDescription": "Randomized patients (intention to treat).",
        "groups": [group for _, group in baseline_groups] + [{"id": total_id, **TOTAL}],
        "denoms": [
            {
                "units": PARTICIPANTS,
                "counts": [
                    {"groupId": group_id, "value": str(len(of(arm)))} for arm, group_id in columns
                ],
            }
        ],
        "measures": measures,
    }


def _region_of_enrollment(
    subjects: pd.DataFrame, protocol: Protocol, of: Any, columns: list[tuple[str | None, str]]
) -> dict[str, Any] | None:
    """Patients by the country of their site, when the protocol gives every site's country."""
    countries = {site.id: site.country for site in protocol.sites}
    sites = set(subjects["site"])
    if not sites or any(countries.get(site) is None for site in sites):
        return None
    return {
        "title": "Region of Enrollment",
        "paramType": "COUNT_OF_PARTICIPANTS",
        "unitOfMeasure": PARTICIPANTS,
        "classes": [
            {
                "title": country,
                "categories": [
                    {
                        "measurements": [
                            {
                                "groupId": group_id,
                                "value": str(int(of(arm)["site"].map(countries).eq(country).sum())),
                            }
                            for arm, group_id in columns
                        ]
                    }
                ],
            }
            for country in sorted({countries[site] for site in sites})
        ],
    }


def _continuous(
    title: str, unit: str, column: str, of: Any, columns: list[tuple[str | None, str]], digits: int
) -> dict[str, Any]:
    """Mean (standard deviation) per column; the patients with a value as the measure's
    denominators when some have none."""
    measurements, counted, missing = [], [], False
    for arm, group_id in columns:
        values = pd.to_numeric(of(arm)[column], errors="coerce").dropna()
        missing = missing or len(values) < len(of(arm))
        counted.append({"groupId": group_id, "value": str(len(values))})
        measurements.append(
            {
                "groupId": group_id,
                "value": decimal(values.mean(), digits) if len(values) else "NA",
                "spread": decimal(values.std(ddof=1), digits) if len(values) > 1 else None,
            }
        )
    measure = {
        "title": title,
        "paramType": "MEAN",
        "dispersionType": "STANDARD_DEVIATION",
        "unitOfMeasure": unit,
        "classes": [{"categories": [{"measurements": measurements}]}],
    }
    if missing:
        measure["denoms"] = [{"units": PARTICIPANTS, "counts": counted}]
    return measure


# ------------------------------------------------------------------- more information


def _more_info(protocol: Protocol) -> dict[str, Any] | None:
    contact = next((c for c in protocol.contacts if c.role == "CONTACT"), None)
    if contact is None:
        return None
    return {
        "pointOfContact": {
            "title": contact.name,
            "organization": contact.affiliation or protocol.sponsor.lead.name,
            "email": contact.email,
            "phone": contact.phone,
        }
    }


def without_empty(value: Any) -> Any:
    """Drop None, empty lists and empty objects, as the registry leaves absent fields out."""
    if isinstance(value, dict):
        kept = {key: without_empty(item) for key, item in value.items()}
        return {key: item for key, item in kept.items() if item not in (None, [], {})}
    if isinstance(value, list):
        return [without_empty(item) for item in value if item is not None]
    return value
