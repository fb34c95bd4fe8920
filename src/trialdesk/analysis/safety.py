"""Safety tables: adverse event incidence by arm over the safety set, and the SAE listing.

The denominator of every percentage is the arm's safety set (subjects with at least one
administration). Incidence tables count treatment-emergent events of safety-set subjects:
onset on or after day 0, the first administration; an earlier event is a pre-treatment event
and belongs to the subject's history, not to the arm's safety profile. A subject with several
events of a term counts once for that term, at the worst grade or the strongest relatedness
of those events; event columns count every event.

Cells are formatted for the report: "n (x.x%)", and "0" when no subject has the event.
Blinded data (no arm anywhere) give one pooled column, "All subjects"; unblinded data give
one column per arm in the protocol's order and a total.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from trialdesk.analysis.frames import arm_groups, require_columns, text_value
from trialdesk.errors import BadInput
from trialdesk.records.adverse_event import ADVERSE_EVENT

POOLED_LABEL = "All subjects"
ANY_EVENT = "Any adverse event"
GRADES = (1, 2, 3, 4, 5)
#: WHO-UMC causality categories, weakest first.
RELATEDNESS = tuple((code.value, code.label) for code in ADVERSE_EVENT["relatedness"].codes)
SUBJECT_COLUMNS = ("subject", "arm", "safety")
EVENT_COLUMNS = (
    "subject",
    "arm",
    "number",
    "term",
    "study_day",
    "ctcae_grade",
    "serious",
    "seriousness",
    "relatedness",
    "related",
    "action_taken",
    "outcome",
)
LISTING_COLUMNS = (
    "subject",
    "arm",
    "number",
    "term",
    "onset_date",
    "study_day",
    "seriousness",
    "serious",
    "ctcae_grade",
    "relatedness",
    "outcome",
    "report_due_at",
    "reported_at",
    "reported_late",
)


@dataclass(frozen=True)
class _Column:
    """One column group of a table: an arm, the pooled safety set or the total."""

    header: str
    subjects: frozenset[str]


def _event_place(event: pd.Series) -> str:
    return f"subject {event['subject']}, adverse event {event['number']}"


def _safety_columns(
    subjects: pd.DataFrame, arms: Sequence[tuple[str, str]] | None
) -> tuple[list[_Column], dict[str, str | None]]:
    """The table's columns and each safety-set subject's arm (None when blinded)."""
    require_columns(subjects, SUBJECT_COLUMNS, "subjects")
    groups = arm_groups(subjects, arms, POOLED_LABEL)
    blinded = groups[0][0] is None
    arm_of: dict[str, str | None] = {}
    for row in subjects.itertuples(index=False):
        if pd.isna(row.safety):
            raise BadInput(f"subject {row.subject}: safety is empty; expected True or False")
        if not row.safety:
            continue
        arm = text_value(row.arm)
        if arm is None and not blinded:
            raise BadInput(
                f"subject {row.subject}: in the safety set without an arm; expected an arm "
                "in an unblinded dataset"
            )
        arm_of[str(row.subject)] = arm
    columns = [
        _Column(
            f"{label} (N = {sum(arm == arm_id for arm in arm_of.values())})",
            frozenset(s for s, arm in arm_of.items() if arm == arm_id),
        )
        for arm_id, label in groups
    ]
    if not blinded:
        columns.append(_Column(f"Total (N = {len(arm_of)})", frozenset(arm_of)))
    return columns, arm_of


def _safety_events(
    adverse_events: pd.DataFrame, subjects: pd.DataFrame, arms: Sequence[tuple[str, str]] | None
) -> tuple[pd.DataFrame, list[_Column]]:
    """Treatment-emergent events of safety-set subjects, checked, and the table's columns."""
    require_columns(adverse_events, EVENT_COLUMNS, "adverse_events")
    columns, arm_of = _safety_columns(subjects, arms)
    known = set(subjects["subject"].astype(str))
    relatedness = {value for value, _ in RELATEDNESS}
    kept = []
    for index, event in adverse_events.iterrows():
        subject = str(event["subject"])
        if subject not in known:
            raise BadInput(f"{_event_place(event)}: the subject is not in the subjects dataset")
        if event["ctcae_grade"] not in GRADES:
            raise BadInput(
                f"{_event_place(event)}: CTCAE grade {event['ctcae_grade']!r}; expected 1 to 5"
            )
        if event["relatedness"] not in relatedness:
            raise BadInput(
                f"{_event_place(event)}: relatedness {event['relatedness']!r}; expected one of "
                f"{', '.join(value for value, _ in RELATEDNESS)}"
            )
        if subject not in arm_of:
            continue
        if text_value(event["arm"]) not in (None, arm_of[subject]):
            raise BadInput(
                f"{_event_place(event)}: arm {event['arm']!r} differs from the subject's arm "
                f"{arm_of[subject]!r} in the subjects dataset"
            )
        if pd.isna(event["study_day"]):
            raise BadInput(
                f"{_event_place(event)}: no study day for a treated subject; expected onset "
                "minus day 0"
            )
        if event["study_day"] >= 0:
            kept.append(index)
    events = adverse_events.loc[kept].assign(subject=lambda frame: frame["subject"].astype(str))
    return events, columns


def _n_percent(count: int, total: int) -> str:
    return "0" if count == 0 else f"{count} ({100 * count / total:.1f}%)"


def _incidence(events: pd.DataFrame, rows: dict[str, pd.Series], columns: list[_Column]):
    """Subjects n (%) and event counts per column for each row's event mask."""
    table = {}
    for column in columns:
        in_column = events["subject"].isin(column.subjects)
        total = len(column.subjects)
        subjects, counts = [], []
        for mask in rows.values():
            chosen = events.loc[mask & in_column, "subject"]
            subjects.append(_n_percent(chosen.nunique(), total))
            counts.append(len(chosen))
        table[(column.header, "Subjects n (%)")] = subjects
        table[(column.header, "Events")] = counts
    return pd.DataFrame(table, index=pd.Index(list(rows), name=None))


def _criteria(seriousness: object) -> list[str]:
    text = text_value(seriousness) or ""
    return [part.strip() for part in text.split(",") if part.strip()]


def ae_overview(
    adverse_events: pd.DataFrame,
    subjects: pd.DataFrame,
    arms: Sequence[tuple[str, str]] | None = None,
) -> pd.DataFrame:
    """Subjects with any, related, serious, grade >= 3, fatal and treatment-withdrawing
    adverse events, n (%) of the safety set, with event counts.

    A death is an event with a fatal outcome, CTCAE grade 5 or the seriousness criterion
    death. "Leading to withdrawal" is the action taken with the study treatment
    (drug_withdrawn), as in CDISC AEACN.
    """
    events, columns = _safety_events(adverse_events, subjects, arms)
    everything = pd.Series(True, index=events.index)
    rows = {
        ANY_EVENT: everything,
        "Related adverse event (possible, probable or certain)": events["related"].astype(bool),
        "Serious adverse event": events["serious"].astype(bool),
        "Adverse event of CTCAE grade 3 or higher": events["ctcae_grade"] >= 3,
        "Fatal adverse event (death)": (events["outcome"] == "fatal")
        | (events["ctcae_grade"] == 5)
        | events["seriousness"].map(lambda value: "death" in _criteria(value)).astype(bool),
        "Adverse event leading to withdrawal of study treatment": events["action_taken"]
        == "drug_withdrawn",
    }
    return _incidence(events, rows, columns)


def _terms_by_frequency(events: pd.DataFrame) -> list[str]:
    counts = events.groupby("term").agg(subjects=("subject", "nunique"), events=("subject", "size"))
    counts = counts.reset_index().sort_values(
        ["subjects", "events", "term"], ascending=[False, False, True]
    )
    return counts["term"].tolist()


def ae_by_term(
    adverse_events: pd.DataFrame,
    subjects: pd.DataFrame,
    arms: Sequence[tuple[str, str]] | None = None,
) -> pd.DataFrame:
    """Subjects with each reported term, n (%) of the safety set, with event counts; the most
    frequent term overall first, after the "Any adverse event" row. Terms are as reported
    (not coded to MedDRA)."""
    events, columns = _safety_events(adverse_events, subjects, arms)
    rows = {ANY_EVENT: pd.Series(True, index=events.index)}
    rows |= {term: events["term"] == term for term in _terms_by_frequency(events)}
    return _incidence(events, rows, columns)


def _by_level(
    events: pd.DataFrame, columns: list[_Column], rank: pd.Series, labels: Sequence[str]
) -> pd.DataFrame:
    """Subjects per term at their highest ``rank`` (an index into ``labels``) for that term."""
    ranked = events.assign(rank=rank)
    terms = [ANY_EVENT, *_terms_by_frequency(events)]
    worst = pd.concat(
        [
            ranked.groupby("subject")["rank"].max().reset_index().assign(term=ANY_EVENT),
            ranked.groupby(["term", "subject"])["rank"].max().reset_index(),
        ]
    )
    index = pd.MultiIndex.from_product([terms, labels], names=["Term", "Level"])
    table = {}
    for column in columns:
        chosen = worst[worst["subject"].isin(column.subjects)]
        counts = chosen.groupby(["term", "rank"]).size()
        table[column.header] = [
            _n_percent(int(counts.get((term, level), 0)), len(column.subjects))
            for term in terms
            for level in range(len(labels))
        ]
    return pd.DataFrame(table, index=index)


def ae_by_grade(
    adverse_events: pd.DataFrame,
    subjects: pd.DataFrame,
    arms: Sequence[tuple[str, str]] | None = None,
) -> pd.DataFrame:
    """Subjects by worst CTCAE grade for each term (and for any adverse event), n (%) of the
    safety set; rows (term, grade) with terms by frequency and grades 1 to 5."""
    events, columns = _safety_events(adverse_events, subjects, arms)
    table = _by_level(
        events, columns, events["ctcae_grade"].astype(int) - 1, [f"Grade {g}" for g in GRADES]
    )
    return table.rename_axis(["Term", "Worst CTCAE grade"])


def ae_by_relatedness(
    adverse_events: pd.DataFrame,
    subjects: pd.DataFrame,
    arms: Sequence[tuple[str, str]] | None = None,
) -> pd.DataFrame:
    """Subjects by strongest relatedness to the study treatment for each term (and for any
    adverse event), n (%) of the safety set; rows (term, WHO-UMC category), weakest first."""
    events, columns = _safety_events(adverse_events, subjects, arms)
    rank = {value: index for index, (value, _) in enumerate(RELATEDNESS)}
    table = _by_level(
        events, columns, events["relatedness"].map(rank), [label for _, label in RELATEDNESS]
    )
    return table.rename_axis(["Term", "Strongest relatedness"])


def _date(value: object) -> str:
    return "" if value is None or pd.isna(value) else pd.Timestamp(value).date().isoformat()


def _utc(value: object) -> str:
    if value is None or pd.isna(value):
        return ""
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.strftime("%Y-%m-%d %H:%M UTC")


def sae_listing(
    adverse_events: pd.DataFrame, arms: Sequence[tuple[str, str]] | None = None
) -> pd.DataFrame:
    """One row per serious adverse event, by subject and event number, with its ICH E2A
    criteria and its expedited report: due, reported (blank when not yet) and late.

    The arm column is there only when the data are unblinded; ``arms`` gives its labels.
    """
    require_columns(adverse_events, LISTING_COLUMNS, "adverse_events")
    serious = adverse_events[adverse_events["serious"].astype(bool)]
    serious = serious.sort_values(
        ["subject", "number"],
        key=lambda column: column.astype(str) if column.name == "subject" else column.astype(int),
    )
    labels = dict(arms or ())
    unblinded = adverse_events["arm"].map(text_value).notna().any()
    listing = pd.DataFrame(
        {
            "Subject": serious["subject"].astype(str),
            "Arm": serious["arm"].map(lambda arm: labels.get(text_value(arm), text_value(arm))),
            "AE": serious["number"].astype(int),
            "Term": serious["term"],
            "Onset": serious["onset_date"].map(_date),
            "Study day": serious["study_day"].map(lambda day: "" if pd.isna(day) else int(day)),
            "Seriousness criteria": serious["seriousness"].map(
                lambda value: ", ".join(_criteria(value)).replace("_", " ")
            ),
            "CTCAE grade": serious["ctcae_grade"].astype(int),
            "Relatedness": serious["relatedness"].map(dict(RELATEDNESS)),
            "Outcome": serious["outcome"].map(lambda value: str(value).replace("_", " ")),
            "Report due": serious["report_due_at"].map(_utc),
            "Reported": serious["reported_at"].map(_utc),
            "Late": serious["reported_late"].map(
                lambda late: "" if late is None or pd.isna(late) else "yes" if late else "no"
            ),
        }
    ).reset_index(drop=True)
    return listing if unblinded else listing.drop(columns="Arm")
