"""CONSORT 2010 participant flow from the subjects dataset, and its diagram.

Every box holds the ids of its subjects; a count is the length of that list. Each box is read
from the column that records its fact (``status`` for exclusions, loss to follow-up and
discontinuation, ``randomized``, ``arm``, ``treated``, ``analysed``) rather than derived from
another box, so a disposition that contradicts itself (a screen failure marked randomized, a
randomized subject without an arm in unblinded data, an analysed subject who was never
randomized) breaks the CONSORT arithmetic and ``consort_flow`` refuses to draw it.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from trialdesk.errors import BadInput

if TYPE_CHECKING:
    import matplotlib.figure

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


def require_columns(frame: pd.DataFrame, columns: Iterable[str], dataset: str) -> None:
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise BadInput(f"{dataset} dataset: missing column(s) {', '.join(missing)}")


def text_value(value: object) -> str | None:
    """A text cell, None when empty (None, NaN, pd.NA or only blanks)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    text = str(value).strip()
    return text or None


def arm_groups(
    frame: pd.DataFrame, arms: Sequence[tuple[str, str]] | None, pooled_label: str
) -> tuple[tuple[str | None, str], ...]:
    """The columns of a flow, table or figure: each arm (id, label) in the protocol's order, or
    one pooled group (None, ``pooled_label``) when the dataset is blinded (no arm anywhere).

    Without ``arms``, the arms found in ``frame`` are taken in the order of their ids, with the
    ``arm_label`` column for labels when there is one.
    """
    known = [
        (subject, text_value(arm))
        for subject, arm in zip(frame["subject"], frame["arm"], strict=True)
    ]
    present = [(subject, arm) for subject, arm in known if arm is not None]
    if not present:
        return ((None, pooled_label),)
    if arms is None:
        labels = frame["arm_label"] if "arm_label" in frame.columns else frame["arm"]
        found: dict[str, str] = {}
        for arm, label in zip(frame["arm"], labels, strict=True):
            if text_value(arm) is not None:
                found.setdefault(str(arm), text_value(label) or str(arm))
        return tuple(sorted(found.items()))
    ids = [arm_id for arm_id, _ in arms]
    if len(set(ids)) != len(ids) or not ids:
        raise BadInput(f"arms {ids}: expected the protocol's arms, each id once")
    for subject, arm in present:
        if arm not in ids:
            raise BadInput(
                f"subject {subject}: arm {arm!r} is not an arm of the protocol; "
                f"expected one of {', '.join(ids)}"
            )
    return tuple((arm_id, label) for arm_id, label in arms)


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
    exclusions = (
        _criteria_box(row for row in excluded if _exclusion_category(row) == NOT_MEETING_CRITERIA),
        *(
            _box(
                category,
                (row for row in excluded if _exclusion_category(row) == category),
                _exclusion_reason,
            )
            for category in (DECLINED, OTHER_REASONS)
        ),
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


def write_figure(
    figure: matplotlib.figure.Figure, png_path: Path | str, svg_path: Path | str
) -> tuple[Path, Path]:
    """Write a matplotlib figure as a 150 dpi PNG and an SVG whose text stays text (searchable,
    and editable by the report's reader)."""
    import matplotlib

    paths = Path(png_path), Path(svg_path)
    try:
        figure.savefig(paths[0], dpi=150, format="png")
        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "trialdesk"}):
            figure.savefig(paths[1], format="svg", metadata={"Date": None})
    except OSError as error:
        raise BadInput(
            f"{error.filename}: cannot be written: {error.strerror}; expected a writable path"
        ) from None
    return paths


# The diagram is laid out in inches (A4 is 8.27 in wide) and drawn on axes with 1 unit = 1 in.
FONT_SIZE = 8.0
LINE_HEIGHT = FONT_SIZE * 1.3 / 72
SECTION_FONT_SIZE = 9.0
PADDING = 0.07
ROW_GAP = 0.3
COLUMN_GAP = 0.2
MARGIN = 0.2
SECTION_WIDTH = 0.3
A4_WIDTH = 8.27
MIN_COLUMN_WIDTH = 2.3
MAX_COLUMN_WIDTH = 3.2
MAIN_BOX_WIDTH = 2.6
#: Where the text of a line of each level starts; its marker sits just before.
TEXT_INDENT = (0.0, 0.14, 0.27)
MARKER_WIDTH = 0.1
ITEM_MARKER = "\u2022"
REASON_MARKER = "\u2013"
#: A count stays whole when a line is wrapped.
_WORD = re.compile(r"\(n = \d+\)|\S+")
#: Reasons listed in one list before the rest are summed up in one line.
MAX_REASONS = 6
SECTION_COLOUR = "#cfe2f3"


@dataclass(frozen=True)
class _Line:
    text: str
    level: int = 0  # 0 heading, 1 item under a heading, 2 item under an item
    bold: bool = False
    marker: str = ""


@dataclass(frozen=True)
class _Placed:
    x: float
    y: float
    width: float
    lines: tuple[tuple[float, str, bool, str], ...]  # (indent, wrapped text, bold, marker)

    @property
    def height(self) -> float:
        return 2 * PADDING + len(self.lines) * LINE_HEIGHT

    def with_height(self, height: float) -> _Placed:
        missing = math.ceil((height - self.height) / LINE_HEIGHT - 1e-9)
        return _Placed(self.x, self.y, self.width, self.lines + ((0.0, "", False, ""),) * missing)


def _counted(box: ConsortBox, level: int, bold: bool = False) -> list[_Line]:
    marker = ITEM_MARKER if level else ""
    lines = [_Line(f"{box.label} (n = {box.n})", level, bold, marker)]
    reasons = list(box.reasons)
    if len(reasons) > MAX_REASONS:
        rest = reasons[MAX_REASONS - 1 :]
        rest_ids = {s for _, ids in rest for s in ids}
        reasons = reasons[: MAX_REASONS - 1]
        reasons.append((f"{len(rest)} other reasons", tuple(rest_ids)))
    lines += [
        _Line(f"{reason} (n = {len(ids)})", level + 1, marker=REASON_MARKER)
        for reason, ids in reasons
    ]
    return lines


class _Wrapper:
    """Wraps lines to a width in inches, measuring text with the Agg renderer."""

    def __init__(self) -> None:
        from matplotlib.backends.backend_agg import RendererAgg
        from matplotlib.font_manager import FontProperties

        self._renderer = RendererAgg(100, 100, 72)
        self._font = FontProperties

    def width(self, text: str, bold: bool, size: float = FONT_SIZE) -> float:
        font = self._font(size=size, weight="bold" if bold else "normal")
        width, _, _ = self._renderer.get_text_width_height_descent(text, font, ismath=False)
        return width / 72

    def place(self, x: float, y: float, width: float, lines: list[_Line]) -> _Placed:
        placed = []
        for line in lines:
            indent = TEXT_INDENT[line.level]
            room = width - 2 * PADDING - indent
            wrapped: list[str] = []
            for word in _WORD.findall(line.text):
                candidate = f"{wrapped[-1]} {word}" if wrapped else word
                if wrapped and self.width(candidate, line.bold) <= room:
                    wrapped[-1] = candidate
                else:
                    wrapped.append(word)
            for index, text in enumerate(wrapped):
                marker = line.marker if index == 0 else ""
                placed.append((indent, text, line.bold, marker))
        return _Placed(x, y, width, tuple(placed))


def _allocation_lines(arm: ArmFlow) -> list[_Line]:
    return [
        _Line(f"{arm.allocated.label} (n = {arm.allocated.n})", bold=True),
        *_counted(arm.received, 1),
        *_counted(arm.not_received, 1),
    ]


def _follow_up_lines(arm: ArmFlow) -> list[_Line]:
    return [*_counted(arm.lost_to_follow_up, 0), *_counted(arm.discontinued, 0)]


def _analysis_lines(arm: ArmFlow) -> list[_Line]:
    return [*_counted(arm.analysed, 0, bold=True), *_counted(arm.excluded_from_analysis, 1)]


def _excluded_lines(flow: ConsortFlow) -> list[_Line]:
    lines = [_Line(f"{flow.excluded.label} (n = {flow.excluded.n})", bold=True)]
    for box in flow.exclusions:
        lines += _counted(box, 1)
    return lines


@dataclass
class _Diagram:
    """The laid-out diagram: boxes, connector polylines (the last one ends in an arrow head or
    not) and the section bands on the left, in inches from the top left corner."""

    width: float
    title: str
    boxes: list[_Placed]
    connectors: list[tuple[list[tuple[float, float]], bool]]
    sections: list[tuple[str, float, float]]
    height: float = 0.0


def _layout(flow: ConsortFlow, title: str) -> _Diagram:
    wrapper = _Wrapper()
    count = len(flow.arms)
    width = max(
        A4_WIDTH,
        2 * MARGIN
        + SECTION_WIDTH
        + COLUMN_GAP
        + count * MIN_COLUMN_WIDTH
        + (count - 1) * COLUMN_GAP,
    )
    left = MARGIN + SECTION_WIDTH + COLUMN_GAP
    right = width - MARGIN
    centre = (left + right) / 2
    column = min(MAX_COLUMN_WIDTH, (right - left - (count - 1) * COLUMN_GAP) / count)
    start = centre - (count * column + (count - 1) * COLUMN_GAP) / 2
    columns = [start + index * (column + COLUMN_GAP) for index in range(count)]
    diagram = _Diagram(width, title, [], [], [])

    top = MARGIN + 0.35
    assessed = wrapper.place(
        centre - MAIN_BOX_WIDTH / 2,
        top,
        MAIN_BOX_WIDTH,
        [_Line(f"{flow.assessed.label} (n = {flow.assessed.n})", bold=True)],
    )
    side_x = centre + 0.35
    side_width = min(MAX_COLUMN_WIDTH, right - side_x)
    side_y = top + assessed.height + ROW_GAP / 2
    side_boxes = [wrapper.place(side_x, side_y, side_width, _excluded_lines(flow))]
    if flow.still_screening.n:
        side_y += side_boxes[0].height + ROW_GAP / 2
        side_boxes.append(
            wrapper.place(side_x, side_y, side_width, _counted(flow.still_screening, 0, True))
        )
    randomized_y = side_boxes[-1].y + side_boxes[-1].height + ROW_GAP / 2
    randomized = wrapper.place(
        centre - MAIN_BOX_WIDTH / 2,
        randomized_y,
        MAIN_BOX_WIDTH,
        [_Line(f"{flow.randomized.label} (n = {flow.randomized.n})", bold=True)],
    )
    diagram.boxes += [assessed, *side_boxes, randomized]
    diagram.connectors.append(([(centre, top + assessed.height), (centre, randomized_y)], True))
    for box in side_boxes:
        middle = box.y + min(box.height / 2, PADDING + LINE_HEIGHT / 2)
        diagram.connectors.append(([(centre, middle), (side_x, middle)], True))
    diagram.sections.append(("Enrollment", top, randomized_y + randomized.height))

    y = randomized_y + randomized.height
    split = y + ROW_GAP / 2
    centres = [x + column / 2 for x in columns]
    diagram.connectors.append(([(centre, y), (centre, split)], False))
    diagram.connectors.append(([(centres[0], split), (centres[-1], split)], False))
    y += ROW_GAP
    for index, (name, lines_of) in enumerate(
        (
            ("Allocation", _allocation_lines),
            ("Follow-Up", _follow_up_lines),
            ("Analysis", _analysis_lines),
        )
    ):
        row = [
            wrapper.place(x, y, column, lines_of(arm))
            for x, arm in zip(columns, flow.arms, strict=True)
        ]
        # The band's rotated name must fit beside the row.
        name_height = wrapper.width(name, True, SECTION_FONT_SIZE) + 2 * PADDING
        row = [box.with_height(max(name_height, *(box.height for box in row))) for box in row]
        height = row[0].height
        diagram.boxes += row
        for x in centres:
            origin = split if index == 0 else y - ROW_GAP
            diagram.connectors.append(([(x, origin), (x, y)], True))
        diagram.sections.append((name, y, y + height))
        y += height + ROW_GAP
    diagram.height = y - ROW_GAP + MARGIN
    return diagram


def _render(diagram: _Diagram) -> matplotlib.figure.Figure:
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyBboxPatch, Rectangle

    figure = Figure(figsize=(diagram.width, diagram.height))
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, diagram.width)
    axes.set_ylim(diagram.height, 0)
    axes.axis("off")
    axes.text(
        diagram.width / 2, MARGIN, diagram.title, ha="center", va="top", fontsize=11, weight="bold"
    )
    for name, top, bottom in diagram.sections:
        axes.add_patch(
            FancyBboxPatch(
                (MARGIN, top),
                SECTION_WIDTH,
                bottom - top,
                boxstyle="round,pad=0,rounding_size=0.06",
                facecolor=SECTION_COLOUR,
                edgecolor="#5b7fa6",
                linewidth=0.8,
            )
        )
        axes.text(
            MARGIN + SECTION_WIDTH / 2,
            (top + bottom) / 2,
            name,
            rotation=90,
            ha="center",
            va="center",
            fontsize=SECTION_FONT_SIZE,
            weight="bold",
        )
    for box in diagram.boxes:
        axes.add_patch(
            Rectangle(
                (box.x, box.y),
                box.width,
                box.height,
                facecolor="white",
                edgecolor="black",
                linewidth=0.8,
            )
        )
        for index, (indent, text, bold, marker) in enumerate(box.lines):
            y = box.y + PADDING + index * LINE_HEIGHT
            x = box.x + PADDING + indent
            weight = "bold" if bold else "normal"
            for at, shown in ((x - MARKER_WIDTH, marker), (x, text)):
                if shown:
                    axes.text(at, y, shown, ha="left", va="top", fontsize=FONT_SIZE, weight=weight)
    for points, arrow in diagram.connectors:
        (x0, y0), (x1, y1) = points
        if arrow:
            axes.annotate(
                "",
                xy=(x1, y1),
                xytext=(x0, y0),
                arrowprops={
                    "arrowstyle": "-|>",
                    "color": "black",
                    "lw": 0.8,
                    "shrinkA": 0,
                    "shrinkB": 0,
                    "mutation_scale": 8,
                },
            )
        else:
            axes.plot([x0, x1], [y0, y1], color="black", linewidth=0.8, solid_capstyle="butt")
    return figure


def draw_consort(
    flow: ConsortFlow,
    svg_path: Path | str,
    png_path: Path | str,
    title: str = "Participant flow (CONSORT 2010)",
) -> tuple[Path, Path]:
    """Draw the CONSORT 2010 flow diagram (Enrollment, Allocation, Follow-Up and Analysis rows,
    one column per arm) as an SVG and a 150 dpi PNG; returns (svg, png)."""
    png, svg = write_figure(_render(_layout(flow, title)), png_path, svg_path)
    return svg, png
