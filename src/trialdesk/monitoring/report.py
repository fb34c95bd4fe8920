"""The central monitoring report: HTML and JSON from the KRI and check results, with one
funnel plot per KRI as an SVG file beside the HTML (linked with ``<img>``).

Pure: it takes the frames `trialdesk.monitoring.kri.compute_kris` and
`trialdesk.monitoring.statistical_checks.run_checks` return and a `ReportMeta`, and writes
files; it reads no store. Blinded: nothing by arm, ever; a frame with an arm column is
refused. `funnel_svg` gives one plot's SVG bytes (the monitor's dashboard serves them too).
Status is said in words (ok, watch, signal, no data) as well as by colour and marker.
"""

from __future__ import annotations

import html
import io
import json
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from trialdesk.monitoring.funnel import NO_DATA, OK, SIGNAL, WATCH, Z_95, Z_997, limits
from trialdesk.monitoring.kri import KRIS
from trialdesk.monitoring.statistical_checks import CHECKS, SIGNAL_P, WATCH_P

HTML_NAME, JSON_NAME = "monitoring.html", "monitoring.json"

#: Marker and colour of each flag in the funnel plots (the marker says it without colour).
STYLE = {
    OK: ("o", "#4d4d4d"),
    WATCH: ("^", "#b35900"),
    SIGNAL: ("s", "#c00000"),
    NO_DATA: ("x", "#7f7f7f"),
}

CHECK_LABELS = {
    "digit_preference": "Digit preference (terminal digits)",
    "low_variance": "Variance far below the other sites'",
    "repeated_values": "Repeated identical values across visits",
    "weekend_visits": "Visits on weekends or public holidays",
    "identical_patterns": "Identical answer patterns across subjects",
}

METHOD = (
    "Funnel limits: normal approximation around the overall rate (Spiegelhalter, Statistics "
    "in Medicine 2005; gsm Analyze_NormalApprox), binomial for proportions and Poisson for "
    f"rates per patient-time; 95% (z = {Z_95:.2f}) and 99.7% (z = {Z_997:.2f}). Outside 95%: "
    "watch; outside 99.7%: signal. Statistical checks: each site against the other sites, "
    "p-values adjusted by Benjamini-Hochberg within each check; adjusted p below "
    f"{SIGNAL_P}: signal, below {WATCH_P}: watch."
)


@dataclass(frozen=True)
class ReportMeta:
    study: str
    generated_by: str
    generated_at: str
    as_of: str
    #: "" for every site of the study, else e.g. "site 01 only: the sites of coordinator-01".
    scope: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    json: Path
    figures: list[Path]


def _refuse_arms(*frames: pd.DataFrame) -> None:
    for frame in frames:
        if any("arm" in str(column).lower() for column in frame.columns):
            raise ValueError("the monitoring report is blinded: its data must have no arm column")


#: The words of a funnel plot (English); `funnel_svg` takes a translation of any of them.
FUNNEL_WORDS = {
    "limits_997": "99.7% limits",
    "limits_95": "95% limits",
    "overall": "overall",
    "rate": "rate",
    OK: OK,
    WATCH: WATCH,
    SIGNAL: SIGNAL,
    NO_DATA: NO_DATA,
}


def funnel_svg(
    kri_rows: pd.DataFrame,
    kri: str,
    words: Mapping[str, str] | None = None,
    title: str | None = None,
    unit: str | None = None,
) -> bytes:
    """One KRI's funnel plot as SVG: each site's rate against its denominator, the overall
    rate, and the 95% and 99.7% limits as curves over the denominators' range.

    `words` translates any of `FUNNEL_WORDS` (the legend and axis), `title` and `unit` the
    KRI's label and denominator (English `KRIS` by default): the dashboard's languages.
    """
    import matplotlib
    from matplotlib.figure import Figure

    _refuse_arms(kri_rows)
    said = {**FUNNEL_WORDS, **(words or {})}
    definition = KRIS[kri]
    rows = kri_rows[kri_rows["kri"] == kri]
    figure = Figure(figsize=(6.4, 4.2))
    figure.subplots_adjust(left=0.1, right=0.97, top=0.92, bottom=0.12)
    axes = figure.subplots()
    overall = float(rows["overall_rate"].iloc[0]) if len(rows) else float("nan")
    top = float(rows["denominator"].max()) if len(rows) else 0.0
    if np.isfinite(overall) and overall > 0 and top > 0:
        low = float(rows.loc[rows["denominator"] > 0, "denominator"].min())
        grid = np.linspace(max(low / 2, top / 100), top * 1.05, 200)
        bounds = limits(overall, grid, definition.model)
        # only the sides the KRI watches (a low query rate is no risk: no lower limit)
        sides = ["upper"] * (definition.sides != "low") + ["lower"] * (definition.sides != "high")
        for level, style, colour in (("997", "--", "#c00000"), ("95", ":", "#b35900")):
            for n, side in enumerate(sides):
                axes.plot(
                    grid,
                    getattr(bounds, f"{side}_{level}"),
                    color=colour,
                    linestyle=style,
                    label=said[f"limits_{level}"] if n == 0 else None,
                )
        axes.axhline(
            overall, color="#1f4e79", linewidth=1, label=f"{said['overall']} {overall:.3g}"
        )
    for flag, (marker, colour) in STYLE.items():
        points = rows[rows["flag"] == flag]
        if len(points):
            axes.scatter(
                points["denominator"],
                points["rate"].fillna(0),
                marker=marker,
                color=colour,
                label=f"{said[flag]} ({len(points)})",
                zorder=3,
            )
    labelled = rows if len(rows) <= 12 else rows[rows["flag"].isin([WATCH, SIGNAL])]
    for _, row in labelled.iterrows():
        if np.isfinite(row["rate"]):
            axes.annotate(
                str(row["site"]),
                (row["denominator"], row["rate"]),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize=8,
            )
    axes.set_xlabel(unit or definition.unit)
    axes.set_ylabel(said["rate"])
    axes.set_title(title or definition.label, fontsize=10)
    axes.set_xlim(left=0)
    axes.set_ylim(bottom=0)
    axes.legend(fontsize=7, loc="best")
    buffer = io.BytesIO()
    # Text stays text in the SVG (svg.fonttype none): the browser's fonts draw it, so
    # matplotlib's own fonts lacking CJK glyphs do not matter.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Glyph .* missing from font", category=UserWarning
        )
        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "trialdesk"}):
            figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def _plain(value: object) -> object:
    if isinstance(value, float | np.floating):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, object]]:
    return [
        {str(key): _plain(value) for key, value in row.items()}
        for row in frame.to_dict(orient="records")
    ]


def figure_name(kri: str) -> str:
    return f"funnel-{kri.replace('_', '-')}.svg"


def report_json(kris: pd.DataFrame, checks: pd.DataFrame, meta: ReportMeta) -> dict[str, object]:
    """The report as JSON-ready data (NaN and infinities as null)."""
    _refuse_arms(kris, checks)
    flagged = kris[kris["flag"].isin([WATCH, SIGNAL])]
    return {
        "study": meta.study,
        "generated_by": meta.generated_by,
        "generated_at": meta.generated_at,
        "as_of": meta.as_of,
        "scope": meta.scope or "all sites",
        "blinded": True,
        "method": METHOD,
        "notes": list(meta.notes),
        "summary": {
            "sites": int(kris["site"].nunique()) if len(kris) else 0,
            "kri_watch": int((flagged["flag"] == WATCH).sum()),
            "kri_signal": int((flagged["flag"] == SIGNAL).sum()),
            "check_watch": int((checks["flag"] == WATCH).sum()) if len(checks) else 0,
            "check_signal": int((checks["flag"] == SIGNAL).sum()) if len(checks) else 0,
        },
        "kris": _records(kris),
        "checks": _records(checks),
        "figures": {kri: figure_name(kri) for kri in KRIS},
    }


def _number(value: object, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e9:
        return f"{int(value)}"
    return f"{value:.{digits}g}" if isinstance(value, float) else html.escape(str(value))


def _flag(flag: str, direction: str = "") -> str:
    words = f"{flag} ({direction})" if direction else flag
    return f'<span class="flag {flag.replace(" ", "-")}">{html.escape(words)}</span>'


def _kri_section(kris: pd.DataFrame, kri: str) -> str:
    definition = KRIS[kri]
    rows = kris[kris["kri"] == kri].sort_values(["flag", "site"], key=_flag_order)
    body = "".join(
        "<tr>"
        f'<th scope="row">{html.escape(str(r["site"]))}</th>'
        f"<td>{_number(r['numerator'])}</td><td>{_number(r['denominator'])}</td>"
        f"<td>{_number(r['rate'])}</td>"
        f"<td>{_number(r['lower_95'])} – {_number(r['upper_95'])}</td>"
        f"<td>{_number(r['lower_997'])} – {_number(r['upper_997'])}</td>"
        f"<td>{_number(r['z'], 2)}</td><td>{_flag(r['flag'], r['direction'])}</td>"
        f"<td>{html.escape(str(r['detail']))}</td>"
        "</tr>"
        for _, r in rows.iterrows()
    )
    overall = rows["overall_rate"].iloc[0] if len(rows) else float("nan")
    alt = f"Funnel plot of {definition.label}: each site's rate against its {definition.unit}"
    return (
        f'<section id="{kri}"><h3>{html.escape(definition.label)}</h3>'
        f"<p>Overall rate {_number(float(overall))}; {definition.model} model; flagged "
        f"{'in both directions' if definition.sides == 'both' else 'when ' + definition.sides}"
        f'.</p><img src="{figure_name(kri)}" alt="{html.escape(alt)}" width="640" height="420">'
        '<table><thead><tr><th scope="col">Site</th><th scope="col">Numerator</th>'
        f'<th scope="col">Denominator ({html.escape(definition.unit)})</th>'
        '<th scope="col">Rate</th><th scope="col">95% limits</th>'
        '<th scope="col">99.7% limits</th><th scope="col">z</th><th scope="col">Flag</th>'
        f'<th scope="col">Detail</th></tr></thead><tbody>{body}</tbody></table></section>'
    )


def _flag_order(column: pd.Series) -> pd.Series:
    if column.name != "flag":
        return column
    return column.map({SIGNAL: 0, WATCH: 1, OK: 2, NO_DATA: 3})


def _summary_table(kris: pd.DataFrame) -> str:
    if kris.empty:
        return "<p>No site to show.</p>"
    table = kris.pivot(index="site", columns="kri", values="flag")
    directions = kris.pivot(index="site", columns="kri", values="direction")
    head = "".join(f'<th scope="col">{html.escape(KRIS[k].label)}</th>' for k in KRIS)
    body = "".join(
        f'<tr><th scope="row">{html.escape(str(site))}</th>'
        + "".join(f"<td>{_flag(table.at[site, k], directions.at[site, k])}</td>" for k in KRIS)
        + "</tr>"
        for site in table.index
    )
    head = f'<thead><tr><th scope="col">Site</th>{head}</tr></thead>'
    return f"<table>{head}<tbody>{body}</tbody></table>"


def _checks_section(checks: pd.DataFrame) -> str:
    if checks.empty:
        return (
            "<p>No statistical check could run: each compares a site with the other sites, "
            "and needs enough values at more than one site.</p>"
        )
    counts = "".join(
        f'<tr><th scope="row">{html.escape(CHECK_LABELS[c])}</th>'
        f"<td>{int((checks['check'] == c).sum())}</td>"
        f"<td>{int(((checks['check'] == c) & (checks['flag'] == WATCH)).sum())}</td>"
        f"<td>{int(((checks['check'] == c) & (checks['flag'] == SIGNAL)).sum())}</td></tr>"
        for c in CHECKS
    )
    flagged = checks[checks["flag"] != OK].sort_values(["p_adjusted", "site"])
    rows = "".join(
        "<tr>"
        f'<th scope="row">{html.escape(str(r["site"]))}</th>'
        f"<td>{html.escape(CHECK_LABELS[r['check']])}</td>"
        f"<td>{html.escape(str(r['item']))}</td><td>{_number(r['n'])}</td>"
        f"<td>{_number(r['statistic'])}</td><td>{_number(r['p_value'], 2)}</td>"
        f"<td>{_number(r['p_adjusted'], 2)}</td><td>{_flag(r['flag'])}</td>"
        f"<td>{html.escape(str(r['detail']))}</td></tr>"
        for _, r in flagged.iterrows()
    )
    listing = (
        '<table><thead><tr><th scope="col">Site</th><th scope="col">Check</th>'
        '<th scope="col">Item</th><th scope="col">n</th><th scope="col">Statistic</th>'
        '<th scope="col">p</th><th scope="col">Adjusted p</th><th scope="col">Flag</th>'
        f'<th scope="col">Detail</th></tr></thead><tbody>{rows}</tbody></table>'
        if len(flagged)
        else "<p>No test is flagged.</p>"
    )
    return (
        '<table><thead><tr><th scope="col">Check</th><th scope="col">Tests</th>'
        '<th scope="col">Watch</th><th scope="col">Signal</th></tr></thead>'
        f"<tbody>{counts}</tbody></table><h3>Flagged tests</h3>{listing}"
    )


STYLESHEET = """
body { font-family: sans-serif; margin: 2rem; color: #1a1a1a; max-width: 72rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { border: 1px solid #999; padding: 0.2rem 0.5rem; text-align: left; }
.flag.watch { color: #8a4500; font-weight: bold; }
.flag.signal { color: #c00000; font-weight: bold; }
.flag.no-data { color: #595959; }
img { max-width: 100%; height: auto; display: block; }
"""


def report_html(kris: pd.DataFrame, checks: pd.DataFrame, meta: ReportMeta) -> str:
    """The report as one HTML document (the funnel plots are ``<img>`` of `figure_name`)."""
    _refuse_arms(kris, checks)
    scope = meta.scope or "all sites"
    notes = "".join(f"<li>{html.escape(note)}</li>" for note in meta.notes)
    sections = "".join(_kri_section(kris, kri) for kri in KRIS)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Central monitoring: {html.escape(meta.study)}</title>"
        f"<style>{STYLESHEET}</style></head><body>"
        f"<h1>Central monitoring: {html.escape(meta.study)}</h1>"
        f"<p>Blinded: nothing in this report is by arm. Data as of {html.escape(meta.as_of)}; "
        f"{html.escape(scope)}. Generated by {html.escape(meta.generated_by)} at "
        f"{html.escape(meta.generated_at)}.</p>"
        f"<p>{html.escape(METHOD)}</p>"
        + (f"<ul>{notes}</ul>" if notes else "")
        + "<h2>Key risk indicators: flags per site</h2>"
        + _summary_table(kris)
        + f"<h2>Key risk indicators</h2>{sections}"
        + f"<h2>Statistical checks</h2>{_checks_section(checks)}</body></html>"
    )


def write_report(
    out_dir: Path, kris: pd.DataFrame, checks: pd.DataFrame, meta: ReportMeta
) -> ReportFiles:
    """Write monitoring.html, monitoring.json and one funnel SVG per KRI into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = []
    for kri in KRIS:
        path = out_dir / figure_name(kri)
        path.write_bytes(funnel_svg(kris, kri))
        figures.append(path)
    html_path, json_path = out_dir / HTML_NAME, out_dir / JSON_NAME
    html_path.write_text(report_html(kris, checks, meta), encoding="utf-8")
    json_path.write_text(
        json.dumps(report_json(kris, checks, meta), indent=2, default=str, ensure_ascii=False),
        encoding="utf-8",
    )
    return ReportFiles(html=html_path, json=json_path, figures=figures)
