"""CONSORT 2010 participant flow from the subjects dataset, and the invariants it must keep.

Every box holds the ids of its subjects; a count is the length of that list. Each box is read
from the column that records its fact (``status`` for exclusions, loss to follow-up and
discontinuation, ``randomized``, ``arm``, ``treated``, ``analysed``) rather than derived from
another box, so a disposition that contradicts itself (a screen failure marked randomized, a
randomized subject without an arm in unblinded data, an analysed subject who was never
randomized) breaks the CONSORT arithmetic and ``consort_flow`` refuses to draw it.

The diagram is drawn by ``trialdesk.analysis.consort_diagram``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from trialdesk.analysis.frames import arm_groups, require_columns, text_value
from trialdesk.errors import BadInput

STATUSES = (
    "screened",
    "screen_failed",
    "consented",
    "eligible",
    "randomized",
    "treated",
    "in_follow_up",
    "completed",
    "withdrawn",
    "lost_to_follow_up",
)
SCREENING_STATUSES = frozenset({"screened", "consented", "eligible"})
COLUMNS = (
    "subject",
    "status",
    "screen_failure_reason",
    "randomized",
    "arm",
    "treated",
    "discontinuation_reason",
    "analysed",
)
POOLED_LABEL = "All randomized"

NOT_MEETING_CRITERIA = "Not meeting eligibility criteria"
DECLINED = "Declined to participate"
OTHER_REASONS = "Other reasons"

# The eligibility service records an ineligible verdict as "criteria I2, E5" (criterion ids
# are any protocol identifier, e.g. "criteria AGE, I3"); a bare list needs I/E-numbered ids.
_CRITERION = r"[IE]\d+[a-z]?"
_IDENTIFIER = r"[A-Za-z][A-Za-z0-9_.-]*"
_CRITERIA_REASON = re.compile(
    rf"^(?:(?i:criteria|criterion)\s*:?\s*({_IDENTIFIER}(?:\s*,\s*{_IDENTIFIER})*)"
    rf"|({_CRITERION}(?:\s*,\s*{_CRITERION})*))$"
)
_DECLINED_REASON = re.compile(
    r"declin|refus|withdr[ae]w|unwilling|not willing|did not consent|no consent", re.IGNORECASE
)
NO_REASON = "reason not given"
NO_PRIMARY_VALUE = "no post-baseline value of the primary outcome"
#: One row of the subjects dataset.
Row = Mapping[str, object]
# How many ids a problem message lists before it summarises the rest.
MESSAGE_IDS = 10


class DispositionError(BadInput):
    """Subject dispositions whose CONSORT flow does not add up; one message per problem."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"subjects dataset: the CONSORT flow does not add up:\n{lines}")


@dataclass(frozen=True)
class ConsortBox:
    """One box of the diagram: its subjects and, where CONSORT asks for them, the reasons
    (reason text, subject ids), e.g. the failed criterion or the reason for withdrawal."""

    label: str
    subjects: tuple[str, ...]
    reasons: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def n(self) -> int:
        return len(self.subjects)


@dataclass(frozen=True)
class ArmFlow:
    """One column of the diagram from allocation on: an arm, or all randomized when blinded."""

    arm: str | None
    label: str
    allocated: ConsortBox
    received: ConsortBox
    not_received: ConsortBox
    lost_to_follow_up: ConsortBox
    discontinued: ConsortBox
    analysed: ConsortBox
    excluded_from_analysis: ConsortBox

    def boxes(self) -> tuple[ConsortBox, ...]:
        return (
            self.allocated,
            self.received,
            self.not_received,
            self.lost_to_follow_up,
            self.discontinued,
            self.analysed,
            self.excluded_from_analysis,
        )


@dataclass(frozen=True)
class ConsortFlow:
    assessed: ConsortBox
    excluded: ConsortBox
    #: Not meeting eligibility criteria, declined to participate, other reasons.
    exclusions: tuple[ConsortBox, ...]
    #: Screened, consented or eligible subjects not yet randomized nor excluded.
    still_screening: ConsortBox
    randomized: ConsortBox
    arms: tuple[ArmFlow, ...]

    @property
    def blinded(self) -> bool:
        return len(self.arms) == 1 and self.arms[0].arm is None

    def check_invariants(self) -> list[str]:
        """The CONSORT invariants this flow violates, each naming its boxes and subjects."""
        problems = []
        enrollment = (self.assessed, self.excluded, *self.exclusions, self.still_screening)
        for box in (*enrollment, self.randomized):
            problems += _box_problems(box, "")
        problems += _partition(
            self.assessed, (self.excluded, self.randomized, self.still_screening), ""
        )
        problems += _partition(self.excluded, self.exclusions, "")
        problems += _partition(self.randomized, [arm.allocated for arm in self.arms], "")
        for arm in self.arms:
            where = f"{arm.label}: "
            for box in arm.boxes():
                problems += _box_problems(box, where)
            problems += _partition(arm.allocated, (arm.received, arm.not_received), where)
            problems += _partition(arm.allocated, (arm.analysed, arm.excluded_from_analysis), where)
            for box in (arm.lost_to_follow_up, arm.discontinued):
                outside = set(box.subjects) - set(arm.allocated.subjects)
                if outside:
                    problems.append(
                        f"{where}{_ids(outside)} in '{box.label}' but not in "
                        f"'{arm.allocated.label}'"
                    )
            both = set(arm.lost_to_follow_up.subjects) & set(arm.discontinued.subjects)
            if both:
                problems.append(
                    f"{where}{_ids(both)} both lost to follow-up and discontinued; expected one"
                )
        return problems


def _ids(ids: Iterable[str]) -> str:
    ordered = sorted(ids)
    shown = ", ".join(ordered[:MESSAGE_IDS])
    more = len(ordered) - MESSAGE_IDS
    noun = "subject" if len(ordered) == 1 else "subjects"
    return f"{noun} {shown}" + (f" and {more} more" if more > 0 else "")


def _box_problems(box: ConsortBox, where: str) -> list[str]:
    problems = []
    seen = set(box.subjects)
    if len(seen) != box.n:
        twice = {s for s, count in Counter(box.subjects).items() if count > 1}
        problems.append(f"{where}'{box.label}' holds {_ids(twice)} more than once")
    if box.reasons:
        with_reason = {s for _, ids in box.reasons for s in ids}
        if with_reason - seen:
            problems.append(f"{where}'{box.label}' gives reasons for {_ids(with_reason - seen)}")
        if seen - with_reason:
            problems.append(f"{where}'{box.label}' gives no reason for {_ids(seen - with_reason)}")
    return problems


def _partition(whole: ConsortBox, parts: Sequence[ConsortBox], where: str) -> list[str]:
    """Problems unless ``parts`` are disjoint and together hold exactly ``whole``."""
    details = []
    for index, part in enumerate(parts):
        for other in parts[index + 1 :]:
            both = set(part.subjects) & set(other.subjects)
            if both:
                details.append(f"{_ids(both)} in both '{part.label}' and '{other.label}'")
    union = {s for part in parts for s in part.subjects}
    missing = set(whole.subjects) - union
    if missing:
        details.append(f"{_ids(missing)} in none of the parts")
    extra = union - set(whole.subjects)
    if extra:
        details.append(f"{_ids(extra)} in a part but not in '{whole.label}'")
    if not details:
        return []
    sums = " + ".join(f"{part.label} ({part.n})" for part in parts)
    return [f"{where}{whole.label} ({whole.n}) = {sums} fails: {'; '.join(details)}"]


def _flag(row: Row, column: str) -> bool:
    value = row[column]
    if value is None or (not isinstance(value, bool) and pd.isna(value)):
        raise BadInput(f"subject {row['subject']}: {column} is empty; expected True or False")
    return bool(value)


def _box(
    label: str, rows: Iterable[Row], reason_of: Callable[[Row], str] | None = None
) -> ConsortBox:
    """A box of ``rows``, with each subject's ``reason_of(row)`` when CONSORT asks for
    reasons, the most frequent reason first."""
    rows = list(rows)
    subjects = tuple(str(row["subject"]) for row in rows)
    if reason_of is None:
        return ConsortBox(label, subjects)
    by_reason: dict[str, list[str]] = {}
    for row in rows:
        by_reason.setdefault(reason_of(row), []).append(str(row["subject"]))
    order = sorted(by_reason, key=lambda reason: (-len(by_reason[reason]), reason))
    return ConsortBox(label, subjects, tuple((r, tuple(by_reason[r])) for r in order))


def _criteria_box(rows: Iterable[Row]) -> ConsortBox:
    """Screen failures by failed criterion, in protocol order (inclusion first); a subject
    who failed several criteria is listed under each."""
    rows = list(rows)
    by_criterion: dict[str, list[str]] = {}
    for row in rows:
        for criterion in _failed_criteria(row) or ():
            by_criterion.setdefault(criterion, []).append(str(row["subject"]))
    return ConsortBox(
        NOT_MEETING_CRITERIA,
        tuple(str(row["subject"]) for row in rows),
        tuple((c, tuple(by_criterion[c])) for c in sorted(by_criterion, key=_criterion_order)),
    )


def _criterion_order(criterion: str) -> tuple[int, int, str]:
    """Structured limits (AGE, SEX) first, then inclusion I1.. and exclusion E1.. by number."""
    number = re.search(r"\d+", criterion)
    kind = "IE".find(criterion[0]) if number else -1
    return (kind, int(number.group()) if number else 0, criterion)


def _failed_criteria(row: Row) -> list[str] | None:
    reason = text_value(row["screen_failure_reason"])
    match = _CRITERIA_REASON.match(reason) if reason else None
    if match is None:
        return None
    return [part.strip() for part in (match.group(1) or match.group(2)).split(",")]


def _exclusion_category(row: Row) -> str:
    """Not meeting criteria when the reason is the failed criteria; declined to participate for
    a withdrawal before randomization (consent withdrawn) or a reason that says so; other."""
    if row["status"] == "screen_failed" and _failed_criteria(row):
        return NOT_MEETING_CRITERIA
    reason = text_value(row["screen_failure_reason"]) or ""
    if row["status"] == "withdrawn" or _DECLINED_REASON.search(reason):
        return DECLINED
    return OTHER_REASONS


def _exclusion_reason(row: Row) -> str:
    return (
        text_value(row["screen_failure_reason"])
        or text_value(row["discontinuation_reason"])
        or NO_REASON
    )


def _discontinuation_reason(row: Row) -> str:
    return text_value(row["discontinuation_reason"]) or NO_REASON


def _not_received_reason(row: Row) -> str:
    if row["status"] == "withdrawn":
        return text_value(row["discontinuation_reason"]) or "withdrawn"
    if row["status"] == "lost_to_follow_up":
        return "lost to follow-up"
    if row["status"] == "randomized":
        return "awaiting first administration"
    return NO_REASON


def _arm_flow(rows: list[dict], arm: str | None, label: str) -> ArmFlow:
    members = [row for row in rows if arm is None or text_value(row["arm"]) == arm]
    allocated = [row for row in members if row["randomized"]]
    heading = POOLED_LABEL if arm is None else f"Allocated to {label}"
    return ArmFlow(
        arm=arm,
        label=label,
        allocated=_box(heading, allocated),
        received=_box("Received allocated intervention", (r for r in members if r["treated"])),
        not_received=_box(
            "Did not receive allocated intervention",
            (r for r in allocated if not r["treated"]),
            _not_received_reason,
        ),
        lost_to_follow_up=_box(
            "Lost to follow-up",
            (r for r in members if r["status"] == "lost_to_follow_up"),
            _discontinuation_reason,
        ),
        discontinued=_box(
            "Discontinued",
            (r for r in allocated if r["status"] == "withdrawn"),
            _discontinuation_reason,
        ),
        analysed=_box("Analysed", (r for r in members if r["analysed"])),
        excluded_from_analysis=_box(
            "Excluded from analysis",
            (r for r in allocated if not r["analysed"]),
            lambda row: NO_PRIMARY_VALUE,
        ),
    )


def consort_flow(
    subjects: pd.DataFrame, arms: Sequence[tuple[str, str]] | None = None
) -> ConsortFlow:
    """The CONSORT flow of the ``subjects`` dataset; raises DispositionError when it does not
    add up. Blinded data (no arm anywhere) give one pooled column, "All randomized"."""
    require_columns(subjects, COLUMNS, "subjects")
    rows = subjects.to_dict("records")
    seen: set[str] = set()
    for row in rows:
        subject = str(row["subject"])
        if subject in seen:
            raise BadInput(f"subject {subject}: more than one row; expected one per subject")
        seen.add(subject)
        if row["status"] not in STATUSES:
            raise BadInput(
                f"subject {subject}: status {row['status']!r} is not a lifecycle status; "
                f"expected one of {', '.join(STATUSES)}"
            )
        for column in ("randomized", "treated", "analysed"):
            row[column] = _flag(row, column)
    groups = arm_groups(subjects, arms, POOLED_LABEL)
    excluded = [
        row
        for row in rows
        if row["status"] == "screen_failed"
        or (row["status"] == "withdrawn" and not row["randomized"])
    ]
    by_category: dict[str, list[dict]] = {NOT_MEETING_CRITERIA: [], DECLINED: [], OTHER_REASONS: []}
    for row in excluded:
        by_category[_exclusion_category(row)].append(row)
    exclusions = (
        _criteria_box(by_category[NOT_MEETING_CRITERIA]),
        _box(DECLINED, by_category[DECLINED], _exclusion_reason),
        _box(OTHER_REASONS, by_category[OTHER_REASONS], _exclusion_reason),
    )
    flow = ConsortFlow(
        assessed=_box("Assessed for eligibility", rows),
        excluded=_box("Excluded", excluded),
        exclusions=exclusions,
        still_screening=_box(
            "Still in screening", (row for row in rows if row["status"] in SCREENING_STATUSES)
        ),
        randomized=_box("Randomized", (row for row in rows if row["randomized"])),
        arms=tuple(_arm_flow(rows, arm, label) for arm, label in groups),
    )
    problems = flow.check_invariants()
    if problems:
        raise DispositionError(problems)
    return flow
