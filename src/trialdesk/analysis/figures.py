"""Outcome figures by arm from the outcomes dataset: mean change from baseline with 95% CIs,
individual trajectories, and a waterfall of change per subject.

Each figure is written as ``<stem>.png`` (150 dpi) and ``<stem>.svg`` and returned with the
table it plots, so that a report can print the numbers beside the picture and a test can check
them. Arms keep their Okabe-Ito colour (safe for colour-blind readers) and marker by their
position in the protocol; blinded data are drawn pooled, as "All subjects". Means are of the
observed values at each visit (observed cases), not model estimates.

``write_figure`` writes these figures and the CONSORT diagram alike.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from scipy import stats

from trialdesk.analysis.frames import arm_groups, require_columns, text_value
from trialdesk.errors import BadInput

OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
MARKERS = ("o", "s", "^", "D", "v", "P", "X")
POOLED_LABEL = "All subjects"
OUTCOME_COLUMNS = (
    "subject",
    "arm",
    "visit",
    "visit_day",
    "parameter",
    "value",
    "change",
    "is_baseline",
)
#: Time units of the x axis by how far the schedule reaches: (from planned day, days per unit,
#: name). Months for follow-up of two years and more keep early visits apart and match visit
#: names such as M3, M12, Y5.
TIME_UNITS = ((730, 365.25 / 12, "months"), (56, 7.0, "weeks"), (0, 1.0, "days"))
#: Arm labels longer than this are replaced by the arm id in the n table under the axis.
SHORT_LABEL = 16
#: Fraction of the time axis between neighbouring arms at one visit, so that CIs stay apart.
DODGE = 0.012
CONFIDENCE = 0.95
#: Characters of legend labels that fit on one row above the axes.
LEGEND_ROW = 100
#: Characters per line of a panel title, by the number of panels in a row.
PANEL_TITLE_WIDTH = {1: 90, 2: 45, 3: 30}


@dataclass(frozen=True, eq=False)
class FigureFiles:
    """The written files and the table that was plotted. Iterating gives (png, svg)."""

    png: Path
    svg: Path
    data: pd.DataFrame = field(repr=False)

    def __iter__(self) -> Iterator[Path]:
        return iter((self.png, self.svg))


@dataclass(frozen=True)
class _Arm:
    arm: str | None
    label: str
    colour: str
    marker: str


def _parameter_rows(outcomes: pd.DataFrame, parameter: str) -> pd.DataFrame:
    require_columns(outcomes, OUTCOME_COLUMNS, "outcomes")
    rows = outcomes[outcomes["parameter"] == parameter]
    if rows.empty:
        known = ", ".join(sorted(map(str, outcomes["parameter"].unique())))
        raise BadInput(f"outcomes: no rows for parameter {parameter!r}; expected one of {known}")
    days = rows.groupby("visit")["visit_day"].nunique()
    if (days > 1).any():
        visit = days[days > 1].index[0]
        raise BadInput(f"outcomes: visit {visit!r} has several planned days; expected one")
    return rows.assign(arm=rows["arm"].map(text_value))


def _arms(rows: pd.DataFrame, arms: Sequence[tuple[str, str]] | None) -> list[_Arm]:
    groups = arm_groups(rows, arms, POOLED_LABEL)
    armless = rows["subject"][rows["arm"].isna()]
    if groups[0][0] is not None and not armless.empty:
        raise BadInput(
            f"outcomes: subject {armless.iloc[0]} has no arm; expected an arm in unblinded data"
        )
    return [
        _Arm(arm, label, OKABE_ITO[index % len(OKABE_ITO)], MARKERS[index % len(MARKERS)])
        for index, (arm, label) in enumerate(groups)
    ]


def _members(rows: pd.DataFrame, arm: _Arm) -> pd.DataFrame:
    return rows if arm.arm is None else rows[rows["arm"] == arm.arm]


def _time_scale(rows: pd.DataFrame) -> tuple[float, str]:
    """Days per unit of the time axis, and the unit's name."""
    reach = rows["visit_day"].abs().max()
    return next((days, name) for start, days, name in TIME_UNITS if reach >= start)


def _tick(time: float) -> str:
    return f"{time:.0f}" if abs(time - round(time)) < 0.05 else f"{time:.1f}"


def _paths(path_stem: Path | str) -> tuple[Path, Path]:
    # Not with_suffix: a stem such as "womac.total" has a dot of its own.
    return Path(f"{path_stem}.png"), Path(f"{path_stem}.svg")


def write_figure(figure: Figure, png_path: Path | str, svg_path: Path | str) -> tuple[Path, Path]:
    """Write a matplotlib figure as a 150 dpi PNG and an SVG whose text stays text (searchable,
    and editable by the report's reader)."""
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


def _save(figure: Figure, path_stem: Path | str, data: pd.DataFrame) -> FigureFiles:
    png, svg = write_figure(figure, *_paths(path_stem))
    return FigureFiles(png, svg, data.reset_index(drop=True))


def _legend(axes, handles: list) -> None:
    """A legend above the axes, outside the data: one row when the labels fit, else one
    label per line."""
    labels = [handle.get_label() for handle in handles]
    columns = len(labels) if sum(len(text) + 6 for text in labels) <= LEGEND_ROW else 1
    axes.legend(
        handles=handles,
        loc="lower left",
        bbox_to_anchor=(0, 1.01),
        ncols=columns,
        frameon=False,
        fontsize=8,
        borderaxespad=0,
    )


def _summary(values: pd.Series) -> dict[str, float]:
    """n, mean, SD and the two-sided t confidence interval of the mean (NaN for n = 1)."""
    n = int(values.size)
    mean = float(values.mean())
    sd = float(values.std(ddof=1)) if n > 1 else math.nan
    half = (
        float(stats.t.ppf((1 + CONFIDENCE) / 2, n - 1)) * sd / math.sqrt(n) if n > 1 else math.nan
    )
    return {"n": n, "mean": mean, "sd": sd, "lower": mean - half, "upper": mean + half}


def mean_change_figure(
    outcomes: pd.DataFrame,
    parameter: str,
    arms: Sequence[tuple[str, str]] | None,
    path_stem: Path | str,
    *,
    label: str | None = None,
    unit: str = "points",
) -> FigureFiles:
    """Mean change from baseline with its 95% t confidence interval, by arm over the planned
    visits (post-baseline rows with a change), with n per arm and visit under the axis.

    ``data``: arm, arm_label, visit, visit_day, time (in the axis unit), x (time dodged per
    arm), n, mean, sd, lower, upper.
    """
    rows = _parameter_rows(outcomes, parameter)
    groups = _arms(rows, arms)
    rows = rows[~rows["is_baseline"].astype(bool) & rows["change"].notna()]
    if rows.empty:
        raise BadInput(f"outcomes: no post-baseline change of {parameter}; expected at least one")
    per_day, unit_of_time = _time_scale(rows)
    visits = rows.groupby("visit")["visit_day"].first().sort_values()
    times = visits / per_day
    span = float(times.max() - times.min()) or 1.0
    records = []
    for index, arm in enumerate(groups):
        offset = (index - (len(groups) - 1) / 2) * DODGE * span
        members = _members(rows, arm)
        for visit, day in visits.items():
            values = members.loc[members["visit"] == visit, "change"].astype(float)
            if values.empty:
                continue
            records.append(
                {
                    "arm": arm.arm,
                    "arm_label": arm.label,
                    "visit": visit,
                    "visit_day": int(day),
                    "time": day / per_day,
                    "x": day / per_day + offset,
                    **_summary(values),
                }
            )
    data = pd.DataFrame.from_records(records)
    name = label or parameter

    figure = Figure(figsize=(7.5, 5.0 + 0.2 * len(groups)), layout="constrained")
    grid = figure.add_gridspec(2, 1, height_ratios=[6, 0.4 + 0.3 * len(groups)])
    axes = figure.add_subplot(grid[0])
    table = figure.add_subplot(grid[1], sharex=axes)
    short = all(len(arm.label) <= SHORT_LABEL for arm in groups)
    handles = []
    for row, arm in enumerate(groups):
        drawn = data[[text_value(value) == arm.arm for value in data["arm"]]]
        handles.append(
            axes.errorbar(
                drawn["x"],
                drawn["mean"],
                yerr=[drawn["mean"] - drawn["lower"], drawn["upper"] - drawn["mean"]],
                color=arm.colour,
                marker=arm.marker,
                markersize=5,
                linewidth=1.5,
                capsize=3,
                label=arm.label if short or arm.arm is None else f"{arm.label} ({arm.arm})",
            )
        )
        for time, n in zip(drawn["time"], drawn["n"], strict=True):
            table.text(time, row, str(n), ha="center", va="center", fontsize=8, color=arm.colour)
    axes.axhline(0, color="0.45", linestyle="--", linewidth=0.8)
    axes.set_xticks(times.to_numpy(), [_tick(time) for time in times])
    axes.set_xlabel(f"Planned time since day 0 ({unit_of_time})")
    axes.set_ylabel(f"Change from baseline ({unit})")
    axes.grid(axis="y", color="0.9", linewidth=0.6)
    figure.suptitle(f"Mean change from baseline in {name} (± {CONFIDENCE:.0%} CI)", fontsize=11)
    table.set_ylim(len(groups) - 0.5, -0.5)
    table.set_yticks(
        range(len(groups)),
        [arm.label if short or arm.arm is None else arm.arm for arm in groups],
        fontsize=8,
    )
    for tick, arm in zip(table.get_yticklabels(), groups, strict=True):
        tick.set_color(arm.colour)
    table.tick_params(bottom=False, labelbottom=False, left=False)
    for spine in table.spines.values():
        spine.set_visible(False)
    table.set_title("Subjects with a value (n)", fontsize=8, loc="left")
    _legend(axes, handles)
    return _save(figure, path_stem, data)


def trajectories_figure(
    outcomes: pd.DataFrame,
    parameter: str,
    arms: Sequence[tuple[str, str]] | None,
    path_stem: Path | str,
    *,
    label: str | None = None,
    unit: str = "points",
) -> FigureFiles:
    """Each subject's values over the planned visits (baseline included) as thin translucent
    lines, one panel per arm, with the arm's mean at each visit in bold.

    ``data``: arm, arm_label, visit, visit_day, time, n, mean (the bold line).
    """
    rows = _parameter_rows(outcomes, parameter)
    groups = _arms(rows, arms)
    rows = rows[rows["value"].notna()]
    per_day, unit_of_time = _time_scale(rows)
    rows = rows.assign(time=rows["visit_day"] / per_day).sort_values(["subject", "visit_day"])
    name = label or parameter
    columns = min(len(groups), 3)
    lines = math.ceil(len(groups) / columns)
    figure = Figure(figsize=(max(7.5, 3.0 * columns), 0.8 + 3.4 * lines), layout="constrained")
    panels = figure.subplots(lines, columns, sharex=True, sharey=True, squeeze=False).ravel()
    records = []
    for panel, arm in zip(panels, groups, strict=False):
        members = _members(rows, arm)
        for _, subject in members.groupby("subject"):
            # Small markers keep a subject with a single value visible.
            panel.plot(
                subject["time"],
                subject["value"],
                color=arm.colour,
                linewidth=0.7,
                marker=".",
                markersize=3,
                alpha=0.35,
            )
        means = members.groupby("visit").agg(
            visit_day=("visit_day", "first"), n=("value", "size"), mean=("value", "mean")
        )
        means = means.sort_values("visit_day").reset_index()
        panel.plot(
            means["visit_day"] / per_day,
            means["mean"],
            color="black",
            linewidth=2.5,
            marker=arm.marker,
            markersize=5,
        )
        title = f"{arm.label} (n = {members['subject'].nunique()})"
        panel.set_title(textwrap.fill(title, PANEL_TITLE_WIDTH[columns]), fontsize=9)
        panel.grid(axis="y", color="0.9", linewidth=0.6)
        records += [
            {"arm": arm.arm, "arm_label": arm.label, **mean, "time": mean["visit_day"] / per_day}
            for mean in means.to_dict("records")
        ]
    for panel in panels[len(groups) :]:
        panel.set_visible(False)
    for panel in panels[: len(groups)]:
        panel.set_xlabel(f"Planned time since day 0 ({unit_of_time})")
    figure.supylabel(f"{name} ({unit})", fontsize=10)
    by_arm = "" if groups[0].arm is None else ", by arm"
    figure.suptitle(f"{name} per subject over time{by_arm}", fontsize=11)
    figure.legend(
        handles=[
            Line2D([], [], color="0.4", linewidth=0.7, marker=".", alpha=0.6, label="One subject"),
            Line2D([], [], color="black", linewidth=2.5, label="Mean of the observed values"),
        ],
        loc="outside lower center",
        ncols=2,
        frameon=False,
        fontsize=8,
    )
    data = pd.DataFrame.from_records(records)
    return _save(
        figure, path_stem, data[["arm", "arm_label", "visit", "visit_day", "time", "n", "mean"]]
    )


def waterfall_figure(
    outcomes: pd.DataFrame,
    parameter: str,
    visit: str,
    arms: Sequence[tuple[str, str]] | None,
    path_stem: Path | str,
    *,
    threshold: float | None = None,
    threshold_label: str = "Threshold",
    label: str | None = None,
    unit: str = "points",
) -> FigureFiles:
    """Change from baseline at ``visit``, one bar per subject sorted from the largest increase
    to the largest decrease, coloured by arm, with a dashed line at ``threshold`` (e.g. minus
    the MCID) when given.

    ``data``: position, subject, arm, arm_label, change.
    """
    rows = _parameter_rows(outcomes, parameter)
    groups = _arms(rows, arms)
    at_visit = rows[(rows["visit"] == visit) & rows["change"].notna()]
    if at_visit.empty:
        known = ", ".join(map(str, rows["visit"].unique()))
        raise BadInput(
            f"outcomes: no change of {parameter} at visit {visit!r}; expected one of {known}"
        )
    twice = at_visit["subject"][at_visit["subject"].duplicated()]
    if not twice.empty:
        raise BadInput(
            f"outcomes: subject {twice.iloc[0]} has several {parameter} rows at visit {visit}; "
            "expected one"
        )
    label_of = {arm.arm: arm for arm in groups}
    pooled = groups[0].arm is None
    data = at_visit.assign(
        arm_label=at_visit["arm"].map(lambda arm: label_of[None if pooled else arm].label)
    ).sort_values(["change", "subject"], ascending=[False, True])
    data = data.assign(position=np.arange(len(data)))[
        ["position", "subject", "arm", "arm_label", "change"]
    ]
    name = label or parameter

    figure = Figure(figsize=(7.5, 4.8), layout="constrained")
    axes = figure.add_subplot()
    colours = data["arm"].map(lambda arm: label_of[None if pooled else arm].colour)
    axes.bar(data["position"], data["change"], width=0.85, color=colours.tolist(), linewidth=0)
    axes.axhline(0, color="black", linewidth=0.8)
    handles: list = [
        Patch(color=arm.colour, label=f"{arm.label} (n = {(data['arm_label'] == arm.label).sum()})")
        for arm in groups
    ]
    if threshold is not None:
        handles.append(
            axes.axhline(
                threshold,
                color="0.25",
                linestyle="--",
                linewidth=1.0,
                label=f"{threshold_label} ({threshold:g} {unit})".replace("-", "\u2212"),
            )
        )
    axes.set_xlim(-0.6, len(data) - 0.4)
    axes.set_xticks([])
    axes.set_xlabel("Subjects, ordered by change")
    axes.set_ylabel(f"Change from baseline at {visit} ({unit})")
    axes.grid(axis="y", color="0.9", linewidth=0.6)
    axes.set_axisbelow(True)
    figure.suptitle(f"Change from baseline in {name} at {visit}, per subject", fontsize=11)
    _legend(axes, handles)
    return _save(figure, path_stem, data)
