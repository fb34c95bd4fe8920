"""The registry's adverse events module: the safety set by arm, serious and other events.

Counted, as in the report's safety tables (`trialdesk.analysis.safety`): treatment-emergent
events (onset on or after day 0, the first administration) of the patients who received at
least one administration, here also no later than the protocol's last day of collection.
Serious means at least one ICH E2A criterion; "other" events are the non-serious ones, all
of them (frequency threshold 0). A death is an event with a fatal outcome, CTCAE grade 5 or
the criterion death. Terms are the investigators' verbatim terms: the store codes no MedDRA
term, so no organ system can be named and each event says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from trialdesk.analysis.datasets import AnalysisDatasets
from trialdesk.exchange.ctgov_outcomes import Groups
from trialdesk.protocol.model import Protocol

FREQUENCY_THRESHOLD = "0"
NOT_CODED = "Not coded"
SOURCE_VOCABULARY = "Verbatim terms (not coded to MedDRA)"
#: Events are reported by site staff when they learn of them, not asked by a checklist.
ASSESSMENT = "NON_SYSTEMATIC_ASSESSMENT"
COLLECTION_START = {
    "consent": "informed consent",
    "first_administration": "the first administration (day 0)",
}


@dataclass(frozen=True)
class SafetyEvents:
    """The safety set by arm and its counted events (rows of the adverse_events dataset)."""

    at_risk: dict[str, set[str]]
    events: pd.DataFrame

    def counts(self, arm: str) -> tuple[int, int, int]:
        """(at risk, with any event, with a serious event) of `arm`."""
        mine = self.events[self.events["arm"] == arm]
        serious = mine[mine["serious"]]
        return (
            len(self.at_risk.get(arm, ())),
            mine["subject"].nunique(),
            serious["subject"].nunique(),
        )


def safety_events(datasets: AnalysisDatasets, protocol: Protocol) -> SafetyEvents:
    subjects = datasets.subjects
    safety = subjects[subjects["safety"].astype(bool)]
    at_risk: dict[str, set[str]] = {}
    for subject, arm in zip(safety["subject"], safety["arm"], strict=True):
        at_risk.setdefault(arm, set()).add(subject)
    members = set(safety["subject"])
    events = datasets.adverse_events
    day = events["study_day"]
    counted = (
        events["subject"].isin(members)
        & day.notna()
        & (day.fillna(-1) >= 0)
        & (day.fillna(-1) <= protocol.safety.ae_reporting_end_day)
    )
    chosen = events[counted].copy()
    chosen["serious"] = chosen["serious"].astype(bool)
    return SafetyEvents(at_risk, chosen)


def _died(events: pd.DataFrame) -> pd.Series:
    criteria = (
        events["seriousness"]
        .fillna("")
        .map(lambda text: "death" in [part.strip() for part in str(text).split(",")])
    )
    return (events["outcome"] == "fatal") | (events["ctcae_grade"] == 5) | criteria.astype(bool)


def adverse_events_module(
    safety: SafetyEvents, protocol: Protocol, groups: Groups
) -> dict[str, Any]:
    events = safety.events
    event_groups = []
    for arm, group in groups:
        mine = events[events["arm"] == arm]
        at_risk = len(safety.at_risk.get(arm, ()))
        event_groups.append(
            {
                **group,
                "deathsNumAffected": int(mine.loc[_died(mine), "subject"].nunique()),
                "deathsNumAtRisk": at_risk,
                "seriousNumAffected": int(mine.loc[mine["serious"], "subject"].nunique()),
                "seriousNumAtRisk": at_risk,
                "otherNumAffected": int(mine.loc[~mine["serious"], "subject"].nunique()),
                "otherNumAtRisk": at_risk,
            }
        )
    start = COLLECTION_START[protocol.safety.ae_reporting_start]
    end = protocol.safety.ae_reporting_end_day
    return {
        "frequencyThreshold": FREQUENCY_THRESHOLD,
        "timeFrame": f"From {start} to day {end} after the first administration",
        "description": (
            f"Adverse events are collected from {start} to day {end} and entered by site staff "
            "as they become known, at visits or between them; serious adverse events are "
            f"reported within {protocol.safety.sae_reporting_hours} hours of awareness. "
            "Reported here: treatment-emergent events (onset on or after the first "
            "administration) of the patients who received at least one administration, by "
            "randomized arm. Serious: at least one ICH E2A criterion. Terms are the "
            "investigators' verbatim terms, not coded to MedDRA, so no organ system is given."
        ),
        "eventGroups": event_groups,
        "seriousEvents": _events(events[events["serious"]], safety, groups),
        "otherEvents": _events(events[~events["serious"]], safety, groups),
    }


def _events(events: pd.DataFrame, safety: SafetyEvents, groups: Groups) -> list[dict[str, Any]]:
    """One entry per term, the most frequent first (patients, then events, then the term)."""
    if events.empty:
        return []
    frequency = events.groupby("term").agg(
        subjects=("subject", "nunique"), events=("subject", "size")
    )
    frequency = frequency.reset_index().sort_values(
        ["subjects", "events", "term"], ascending=[False, False, True]
    )
    listed = []
    for term in frequency["term"]:
        of_term = events[events["term"] == term]
        stats = []
        for arm, group in groups:
            mine = of_term[of_term["arm"] == arm]
            stats.append(
                {
                    "groupId": group["id"],
                    "numEvents": len(mine),
                    "numAffected": int(mine["subject"].nunique()),
                    "numAtRisk": len(safety.at_risk.get(arm, ())),
                }
            )
        listed.append(
            {
                "term": term,
                "organSystem": NOT_CODED,
                "sourceVocabulary": SOURCE_VOCABULARY,
                "assessmentType": ASSESSMENT,
                "stats": stats,
            }
        )
    return listed
