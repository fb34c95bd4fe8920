"""HTML building blocks of the report: escaping, the body written section by section,
tables of formatted cells and figures inlined as SVG.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass
class ReportBody:
    """The report body as it is written, section by section."""

    parts: list[str] = field(default_factory=list)
    sections: list[tuple[str, str]] = field(default_factory=list)

    def section(self, anchor: str, title: str) -> None:
        self.sections.append((anchor, title))
        number = len(self.sections)
        self.parts.append(f'<h2 id="{anchor}">{number}. {escape(title)}</h2>')

    def add(self, text: str) -> None:
        self.parts.append(text)

    def note(self, text: str) -> None:
        self.parts.append(f'<p class="note">{escape(text)}</p>')


def escape(text: Any) -> str:
    """`text` for HTML, None as the empty string."""
    return html.escape("" if text is None else str(text))


def html_table(
    frame: pd.DataFrame,
    *,
    table_id: str,
    caption: str,
    text_columns: int = 1,
    empty: str = "None.",
    css_class: str = "",
) -> str:
    """A table of formatted cells; the first `text_columns` columns align left.

    A frame whose columns have two levels (arm, statistic) gets two header rows.
    """
    if frame.empty:
        return f'<p class="empty" id="{table_id}">{escape(caption)}: {escape(empty)}</p>'

    numeric = [
        i >= text_columns and all(_numeric_cell(str(v)) for v in frame.iloc[:, i])
        for i in range(frame.shape[1])
    ]

    def kind(i: int) -> str:
        return "num" if numeric[i] else "text"

    if isinstance(frame.columns, pd.MultiIndex):
        top, bottom = [], []
        for i, (group, name) in enumerate(frame.columns):
            if i < text_columns:
                top.append(f'<th class="text" rowspan="2">{escape(group)}</th>')
            elif i == text_columns or frame.columns[i - 1][0] != group:
                span = sum(1 for g, _ in frame.columns[i:] if g == group)
                top.append(f'<th class="group" colspan="{span}">{escape(group)}</th>')
            if i >= text_columns:
                bottom.append(f'<th class="{kind(i)}">{escape(name)}</th>')
        head = f"<tr>{''.join(top)}</tr><tr>{''.join(bottom)}</tr>"
    else:
        head = "<tr>" + "".join(
            f'<th class="{kind(i)}">{escape(c)}</th>' for i, c in enumerate(frame.columns)
        )
        head += "</tr>"
    rows = []
    for values in frame.itertuples(index=False):
        cells = "".join(f'<td class="{kind(i)}">{escape(v)}</td>' for i, v in enumerate(values))
        rows.append(f"<tr>{cells}</tr>")
    return (
        f'<table class="data {css_class}" id="{table_id}"><caption>{escape(caption)}</caption>'
        f"<thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"
    )


_NUMERIC_CELL = re.compile(r"^(?:[<>]?[-−]?\d+(?:\.\d+)?(?:\s.*)?|–|)$")
_DATE_CELL = re.compile(r"^\d{4}[-\u2011]\d{2}[-\u2011]\d{2}")


def _numeric_cell(text: str) -> bool:
    """A count, estimate, "n (%)" or interval (right-aligned), not a date or a code."""
    return bool(_NUMERIC_CELL.match(text)) and not _DATE_CELL.match(text)


def shown_once(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """`column` shown on the first of each run of equal values only."""
    shown = frame.copy()
    shown.loc[shown[column].eq(shown[column].shift()), column] = ""
    return shown


def _svg(path: Path) -> str:
    """An SVG file's markup for inlining (its XML declaration and doctype dropped)."""
    text = path.read_text(encoding="utf-8")
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


def inline_figure(svg_path: Path, caption: str, figure_id: str) -> str:
    """A figure with the SVG file inlined and its caption."""
    return (
        f'<figure id="{figure_id}">{_svg(svg_path)}'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )
