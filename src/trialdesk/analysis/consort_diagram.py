"""The CONSORT 2010 flow diagram of a `ConsortFlow`: Enrollment, Allocation, Follow-Up and
Analysis rows, one column per arm, laid out in inches and drawn with matplotlib.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from trialdesk.analysis.consort import ArmFlow, ConsortBox, ConsortFlow
from trialdesk.analysis.figures import write_figure

if TYPE_CHECKING:
    import matplotlib.figure

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
