"""The study report: one self-contained HTML file (and its PDF) from the analysis datasets.

`build_report` writes into `out_dir`: `report.html` (CSS inline, figures as inline SVG), the
figure files, the datasets as CSV and, unless `pdf=False`, `report.pdf` printed by Debian's
Chromium through Playwright. The header records what the numbers come from: the protocol's
SHA-256, trialdesk's version and git commit, the SHA-256 of the datasets (their canonical
CSV), when and by whom the report was generated, and whether the database was reopened after
its lock.

A blinded report has pooled descriptive tables and figures only: the datasets are blinded
before anything is computed, so no arm can reach a table, a figure or a CSV file. An
unblinded report adds, by arm, the primary MMRM with LS means and differences to the control
arm, the ANCOVA at the primary visit and responder rates with risk differences.

Statistical choices (stated in the report as well):

- MMRM of the change from baseline at the primary parameter's post-baseline visits: fixed
  effects arm, visit, arm x visit, baseline, baseline x visit and the stratification factors
  (site too when the randomization is stratified by site and more than one site has patients);
  REML, Kenward-Roger degrees of freedom; unstructured covariance, else the first of Toeplitz,
  AR(1) and compound symmetry that converges.
- Control arm: the first placebo, sham or no-intervention arm, else the first active
  comparator, else the last arm.
- Responders (OMERACT-OARSI, Pham et al. 2004) at the primary visit in the ITT set, a patient
  without the follow-up value counted as a non-responder; risk differences with Newcombe's
  interval.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import math
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

import trialdesk
from trialdesk.analysis.datasets import (
    AnalysisDatasets,
    PrimaryEndpoint,
    StudyExtract,
    blind,
    build_datasets,
    canonical_csv,
    datasets_sha256,
    primary_endpoint,
)
from trialdesk.errors import AnalysisError, BadInput, TrialdeskError

if TYPE_CHECKING:
    from trialdesk.analysis.mmrm import MMRMResult
    from trialdesk.protocol import Protocol

CHROMIUM = Path("/usr/bin/chromium")
ALL_SUBJECTS = "All subjects"
CONTROL_PREFERENCE = (
    ("PLACEBO_COMPARATOR", "SHAM_COMPARATOR", "NO_INTERVENTION"),
    ("ACTIVE_COMPARATOR",),
)
#: Covariance structures tried in turn for the primary MMRM.
COVARIANCES = (
    ("us", "unstructured"),
    ("toep", "Toeplitz"),
    ("ar1", "first-order autoregressive"),
    ("cs", "compound symmetry"),
)
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
NON_BREAKING_HYPHEN = "\u2011"


class PdfUnavailable(TrialdeskError):
    """Chromium, which prints the PDF, is not installed."""


@dataclass(frozen=True)
class ReportMeta:
    """Who and what the report is for; `generated_at` defaults to now (UTC)."""

    study: str
    protocol_sha256: str
    generated_by: str
    locked: bool = False
    reopened_after_lock: bool = False
    generated_at: dt.datetime | None = None


@dataclass(frozen=True)
class ReportResult:
    html: Path
    pdf: Path | None
    figures: tuple[Path, ...]
    datasets: tuple[Path, ...]
    datasets_sha256: str
    blinded: bool


@dataclass(frozen=True)
class MmrmAnalysis:
    """The primary MMRM as reported: the fit, what was tried before it, and its tables."""

    fit: MMRMResult
    covariance: str
    notes: tuple[str, ...]
    formula: str
    lsmeans: pd.DataFrame
    differences: pd.DataFrame


@dataclass
class _Html:
    """The report body as it is written, section by section."""

    parts: list[str] = field(default_factory=list)
    sections: list[tuple[str, str]] = field(default_factory=list)

    def section(self, anchor: str, title: str) -> None:
        self.sections.append((anchor, title))
        number = len(self.sections)
        self.parts.append(f'<h2 id="{anchor}">{number}. {_e(title)}</h2>')

    def add(self, text: str) -> None:
        self.parts.append(text)

    def note(self, text: str) -> None:
        self.parts.append(f'<p class="note">{_e(text)}</p>')


# ---------------------------------------------------------------- entry point


def build_report(
    source: StudyExtract | AnalysisDatasets,
    protocol: Protocol,
    *,
    blinded: bool,
    out_dir: Path,
    pdf: bool = True,
    meta: ReportMeta,
) -> ReportResult:
    """Write the report, its figures and datasets into `out_dir` (created if needed)."""
    datasets = build_datasets(source, protocol) if isinstance(source, StudyExtract) else source
    if datasets.blinded and not blinded:
        raise BadInput("the datasets are blinded; an unblinded report needs unblinded datasets")
    if blinded:
        datasets = blind(datasets)
    if pdf:
        _require_chromium()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_paths = []
    for name, frame in datasets.frames().items():
        path = out_dir / f"{name}.csv"
        path.write_text(canonical_csv(frame), encoding="utf-8")
        csv_paths.append(path)
    arms = None if blinded else [(arm.id, arm.label) for arm in protocol.arms]
    figures: list[Path] = []
    digest = datasets_sha256(datasets)
    document = _document(datasets, digest, protocol, arms, meta, out_dir, figures, csv_paths)
    html_path = out_dir / "report.html"
    html_path.write_text(document, encoding="utf-8")
    pdf_path = None
    if pdf:
        pdf_path = out_dir / "report.pdf"
        print_pdf(
            html_path, pdf_path, footer=f"{meta.study} - {'BLINDED' if blinded else 'UNBLINDED'}"
        )
    return ReportResult(
        html=html_path,
        pdf=pdf_path,
        figures=tuple(figures),
        datasets=tuple(csv_paths),
        datasets_sha256=digest,
        blinded=blinded,
    )


def print_pdf(html_path: Path, pdf_path: Path, footer: str = "") -> None:
    """Print an HTML file to A4 PDF with Debian's Chromium (never a downloaded browser)."""
    from playwright.sync_api import Error, sync_playwright

    _require_chromium()
    template = (
        '<div style="font-size:7pt;width:100%;padding:0 14mm;color:#555;display:flex;'
        f'justify-content:space-between"><span>{_e(footer)}</span><span>page '
        '<span class="pageNumber"></span> of <span class="totalPages"></span></span></div>'
    )
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
            try:
                page = browser.new_page()
                page.goto(html_path.resolve().as_uri())
                page.pdf(
                    path=str(pdf_path),
                    format="A4",
                    print_background=True,
                    display_header_footer=True,
                    header_template="<span></span>",
                    footer_template=template,
                    margin={"top": "14mm", "bottom": "16mm", "left": "12mm", "right": "12mm"},
                )
            finally:
                browser.close()
    except Error as error:
        raise TrialdeskError(f"{pdf_path}: Chromium could not print the report ({error})") from None


def _require_chromium() -> None:
    if not CHROMIUM.exists():
        raise PdfUnavailable(
            f"{CHROMIUM} not found: the PDF is printed by Chromium; install it with "
            "`apt-get install chromium` (or pass --no-pdf for the HTML only)"
        )


# ---------------------------------------------------------------- the document


def _document(
    datasets: AnalysisDatasets,
    digest: str,
    protocol: Protocol,
    arms: list[tuple[str, str]] | None,
    meta: ReportMeta,
    out_dir: Path,
    figures: list[Path],
    csv_paths: list[Path],
) -> str:
    body = _Html()
    endpoint = primary_endpoint(protocol)
    _consort_section(body, datasets, arms, out_dir, figures)
    _analysis_sets_section(body, datasets, arms)
    _baseline_section(body, datasets, protocol, arms, endpoint)
    _primary_section(body, datasets, protocol, arms, endpoint)
    _responder_section(body, datasets, protocol, arms, endpoint)
    _figures_section(body, datasets, arms, endpoint, out_dir, figures)
    _safety_section(body, datasets, arms)
    _deviations_section(body, datasets, arms)
    _unblinding_section(body, datasets)
    _datasets_section(body, datasets, csv_paths)
    header = _header(datasets.blinded, digest, protocol, meta)
    contents = "".join(
        f'<li><a href="#{anchor}">{_e(title)}</a></li>' for anchor, title in body.sections
    )
    title = f"{protocol.id} v{protocol.version} study report"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>"
        f'{header}<nav class="contents"><h2>Contents</h2><ol>{contents}</ol></nav>'
        f"{''.join(body.parts)}</body></html>\n"
    )


def _header(blinded: bool, digest: str, protocol: Protocol, meta: ReportMeta) -> str:
    generated_at = (meta.generated_at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    commit = git_commit()
    if blinded:
        banner = (
            '<div class="banner blinded">BLINDED: pooled over arms; no arm, no between-arm '
            "test and no LS-mean difference is shown</div>"
        )
    else:
        banner = '<div class="banner unblinded">UNBLINDED: results by randomized arm</div>'
    reopened = ""
    if meta.reopened_after_lock:
        reopened = (
            '<div class="banner reopened">Database reopened after lock: the data may differ '
            "from the data at the first lock</div>"
        )
    acronym = f" ({protocol.titles.acronym})" if protocol.titles.acronym else ""
    rows = [
        ("Study", meta.study + acronym, ""),
        ("Protocol version", protocol.version, ""),
        ("Protocol SHA-256", meta.protocol_sha256, "mono"),
        ("Database", "locked" if meta.locked else "open (data may still change)", ""),
        ("Datasets SHA-256 (canonical CSV)", digest, "mono"),
        ("trialdesk", f"{trialdesk.__version__}, commit {commit or 'not available'}", ""),
        ("Generated", f"{generated_at:%Y-%m-%d %H:%M:%S} UTC by {meta.generated_by}", ""),
    ]
    table = "".join(
        f'<tr><th scope="row">{_e(label)}</th><td class="{css}">{_e(value)}</td></tr>'
        for label, value, css in rows
    )
    title = protocol.titles.official or protocol.titles.brief
    return (
        f"<header><h1>{_e(protocol.id)} study report</h1>"
        f'<p class="title">{_e(title)}</p>{banner}{reopened}'
        f'<table class="meta" id="report-meta">{table}</table></header>'
    )


def git_commit() -> str | None:
    """The commit of the trialdesk source tree, "+ local changes" when it differs; or None."""
    if shutil.which("git") is None:
        return None
    where = Path(trialdesk.__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head} + local changes" if dirty else head


# ---------------------------------------------------------------- arms and tables


def control_arm(protocol: Protocol) -> str:
    """The comparator every other arm is compared with (see the module docstring)."""
    for types in CONTROL_PREFERENCE:
        for arm in protocol.arms:
            if str(arm.type) in types:
                return arm.id
    return protocol.arms[-1].id


def arm_groups(
    frame: pd.DataFrame, arms: list[tuple[str, str]] | None, total: bool = True
) -> list[tuple[str, pd.DataFrame]]:
    """(column label, rows) per arm in protocol order, then the total; pooled when blinded."""
    if arms is None:
        return [(ALL_SUBJECTS, frame)]
    groups = [(label, frame[frame["arm"] == arm_id]) for arm_id, label in arms]
    return groups + ([("Total", frame)] if total else [])


def _with_n(groups: list[tuple[str, pd.DataFrame]]) -> list[str]:
    return [f"{label} (N={frame['subject'].nunique()})" for label, frame in groups]


def _number(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}f}"


def _p(value: float) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _ci(lower: float, upper: float, digits: int = 2) -> str:
    return f"{_number(lower, digits)} to {_number(upper, digits)}"


def _percent(count: int, n: int) -> str:
    return f"{count} ({100.0 * count / n:.1f}%)" if n else f"{count}"


def _e(text: Any) -> str:
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
        return f'<p class="empty" id="{table_id}">{_e(caption)}: {_e(empty)}</p>'

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
                top.append(f'<th class="text" rowspan="2">{_e(group)}</th>')
            elif i == text_columns or frame.columns[i - 1][0] != group:
                span = sum(1 for g, _ in frame.columns[i:] if g == group)
                top.append(f'<th class="group" colspan="{span}">{_e(group)}</th>')
            if i >= text_columns:
                bottom.append(f'<th class="{kind(i)}">{_e(name)}</th>')
        head = f"<tr>{''.join(top)}</tr><tr>{''.join(bottom)}</tr>"
    else:
        head = "<tr>" + "".join(
            f'<th class="{kind(i)}">{_e(c)}</th>' for i, c in enumerate(frame.columns)
        )
        head += "</tr>"
    rows = []
    for values in frame.itertuples(index=False):
        cells = "".join(f'<td class="{kind(i)}">{_e(v)}</td>' for i, v in enumerate(values))
        rows.append(f"<tr>{cells}</tr>")
    return (
        f'<table class="data {css_class}" id="{table_id}"><caption>{_e(caption)}</caption>'
        f"<thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"
    )


_NUMERIC_CELL = re.compile(r"^(?:[<>]?[-−]?\d+(?:\.\d+)?(?:\s.*)?|–|)$")
_DATE_CELL = re.compile(r"^\d{4}[-\u2011]\d{2}[-\u2011]\d{2}")


def _numeric_cell(text: str) -> bool:
    """A count, estimate, "n (%)" or interval (right-aligned), not a date or a code."""
    return bool(_NUMERIC_CELL.match(text)) and not _DATE_CELL.match(text)


def _once(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """`column` shown on the first of each run of equal values only."""
    shown = frame.copy()
    shown.loc[shown[column].eq(shown[column].shift()), column] = ""
    return shown


def _svg(path: Path) -> str:
    """An SVG file's markup for inlining (its XML declaration and doctype dropped)."""
    text = path.read_text(encoding="utf-8")
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


def _figure(svg_path: Path, caption: str, figure_id: str) -> str:
    return (
        f'<figure id="{figure_id}">{_svg(svg_path)}<figcaption>{_e(caption)}</figcaption></figure>'
    )


# ---------------------------------------------------------------- CONSORT and analysis sets


def _consort_section(
    body: _Html,
    datasets: AnalysisDatasets,
    arms: list[tuple[str, str]] | None,
    out_dir: Path,
    figures: list[Path],
) -> None:
    from trialdesk.analysis.consort import consort_flow, draw_consort

    body.section("consort", "Participant flow (CONSORT)")
    flow = consort_flow(datasets.subjects, arms)
    svg_path, png_path = out_dir / "consort.svg", out_dir / "consort.png"
    draw_consort(flow, svg_path, png_path)
    figures += [svg_path, png_path]
    body.add(_figure(svg_path, "CONSORT 2010 flow diagram of the screened patients.", "consort"))


def analysis_sets(subjects: pd.DataFrame, arms: list[tuple[str, str]] | None) -> pd.DataFrame:
    """Patients per analysis set and arm (sets as defined in trialdesk.analysis.datasets)."""
    randomized = subjects[subjects["itt"]]
    groups = arm_groups(randomized, arms)
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
            row[header] = _percent(int(members(frame).sum()), len(frame))
        rows.append(row)
    return pd.DataFrame(rows)


def _analysis_sets_section(
    body: _Html, datasets: AnalysisDatasets, arms: list[tuple[str, str]] | None
) -> None:
    body.section("analysis-sets", "Analysis sets")
    subjects = datasets.subjects
    body.add(
        f"<p>{len(subjects)} patients screened, {int(subjects['randomized'].sum())} randomized. "
        "Percentages are of the randomized patients in each column. Per protocol: every "
        "administration given, no protocol deviation recorded by site staff, and the primary "
        "visit done within its window.</p>"
    )
    body.add(
        html_table(analysis_sets(subjects, arms), table_id="analysis-sets", caption="Analysis sets")
    )


# ---------------------------------------------------------------- baseline characteristics


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
    groups = arm_groups(subjects, arms)
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
                add(label, level, [_percent(int((k == level).sum()), len(k)) for k in known])
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


def _baseline_section(
    body: _Html,
    datasets: AnalysisDatasets,
    protocol: Protocol,
    arms: list[tuple[str, str]] | None,
    endpoint: PrimaryEndpoint | None,
) -> None:
    body.section("baseline", "Baseline characteristics")
    body.add(
        "<p>Randomized patients (ITT). Continuous values: n, mean (SD) and median (min, max); "
        "categories: n (% of patients with a value).</p>"
    )
    table = baseline_characteristics(datasets, protocol, arms, endpoint)
    body.add(
        html_table(
            _once(table, "Characteristic"),
            table_id="baseline-characteristics",
            caption="Baseline characteristics",
            text_columns=2,
        )
    )


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
    for code, name in COVARIANCES:
        try:
            fit = fit_mmrm(
                data,
                "change",
                formula,
                "subject",
                "visit",
                covariance=code,
                df="kr",
                references={"arm": control_arm(protocol)},
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


def _primary_section(
    body: _Html,
    datasets: AnalysisDatasets,
    protocol: Protocol,
    arms: list[tuple[str, str]] | None,
    endpoint: PrimaryEndpoint | None,
) -> None:
    body.section("primary", "Primary analysis")
    if endpoint is None:
        body.note("No outcome of the protocol has an instrument score: nothing to analyse.")
        return
    outcome = next(o for o in protocol.outcomes if o.id == endpoint.outcome_id)
    lead = (
        f"Primary outcome {outcome.id}: {outcome.measure}."
        if endpoint.is_primary_outcome
        else (
            "The primary outcome has no instrument score to analyse (it is "
            + "; ".join(o.measure for o in protocol.outcomes if o.kind == "primary")
            + f"); this section analyses the first outcome with a score, {outcome.id}: "
            f"{outcome.measure}."
        )
    )
    body.add(
        f"<p>{_e(lead)} Parameter <code>{_e(endpoint.parameter)}</code>, change from baseline "
        f"(the last value on or before day 0) at visits {_e(', '.join(endpoint.visits))}; "
        f"primary visit {_e(endpoint.primary_visit)}.</p>"
    )
    body.add(_descriptive_by_visit(datasets, arms, endpoint))
    if arms is None:
        body.note(
            "Blinded report: the MMRM, the ANCOVA and every comparison between arms are "
            "left out; the table above pools all randomized patients."
        )
        return
    _mmrm_block(body, datasets, protocol, arms, endpoint)
    _ancova_block(body, datasets, protocol, arms, endpoint)


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
    for label, frame in arm_groups(rows_of, arms, total=False):
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
    return f"{values.mean():.{digits}f} ({_number(sd, digits)})"


def _mean_ci(values: pd.Series) -> str:
    from scipy import stats

    if len(values) < 2:
        return "–"
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values))
    return _ci(values.mean() - half, values.mean() + half)


def _descriptive_by_visit(
    datasets: AnalysisDatasets, arms: list[tuple[str, str]] | None, endpoint: PrimaryEndpoint
) -> str:
    return html_table(
        _once(descriptive_by_visit(datasets, arms, endpoint), "Arm"),
        table_id="primary-descriptive",
        caption=f"Observed {endpoint.parameter} and change from baseline by visit (ITT)",
        text_columns=2,
    )


def _mmrm_block(
    body: _Html,
    datasets: AnalysisDatasets,
    protocol: Protocol,
    arms: list[tuple[str, str]],
    endpoint: PrimaryEndpoint,
) -> None:
    labels = dict(arms)
    control = control_arm(protocol)
    body.add("<h3>Mixed model for repeated measures</h3>")
    try:
        analysis = primary_mmrm(datasets, protocol, endpoint)
    except (AnalysisError, BadInput) as error:
        body.note(f"The MMRM could not be fitted: {error}")
        return
    fit = analysis.fit
    fallback = (
        " Unstructured covariance was not used: " + "; ".join(analysis.notes) + "."
        if analysis.notes
        else ""
    )
    body.add(
        f'<p id="mmrm-model" data-covariance="{fit.structure}" '
        f'data-formula="{_e(analysis.formula)}">'
        f"Change from baseline ~ <code>{_e(analysis.formula)}</code>; {analysis.covariance} "
        "covariance over visits within patient, REML, Kenward-Roger degrees of freedom and "
        f"standard errors; control arm {_e(labels[control])}. {fit.n_subjects} patients, "
        f"{fit.n_obs} observations (patients with a baseline and at least one post-baseline "
        f"value; missing visits are not imputed, missing at random is assumed).{_e(fallback)}"
        "</p>"
    )
    lsmeans = analysis.lsmeans
    counts = primary_data(datasets, protocol, endpoint).groupby(["arm", "visit"], observed=True)
    n_at = counts["subject"].nunique().to_dict()
    table = pd.DataFrame(
        {
            "Visit": lsmeans["visit"],
            "Arm": lsmeans["arm"].map(labels),
            "n": [
                str(n_at.get((a, v), 0))
                for a, v in zip(lsmeans["arm"], lsmeans["visit"], strict=True)
            ],
            "LS mean": lsmeans["estimate"].map(_number),
            "SE": lsmeans["se"].map(_number),
            "95% CI": [
                _ci(lo, hi) for lo, hi in zip(lsmeans["lower"], lsmeans["upper"], strict=True)
            ],
        }
    )
    body.add(
        html_table(
            _once(table, "Visit"),
            table_id="mmrm-lsmeans",
            caption=f"LS mean change from baseline in {endpoint.parameter} by visit and arm",
            text_columns=2,
        )
    )
    differences = analysis.differences
    diff_table = pd.DataFrame(
        {
            "Visit": differences["visit"],
            "Comparison": [
                f"{labels[a]} − {labels[r]}"
                for a, r in zip(differences["arm"], differences["reference"], strict=True)
            ],
            "Difference": differences["estimate"].map(_number),
            "SE": differences["se"].map(_number),
            "95% CI": [
                _ci(lo, hi)
                for lo, hi in zip(differences["lower"], differences["upper"], strict=True)
            ],
            "df": differences["df"].map(lambda v: _number(v, 1)),
            "p": differences["p"].map(_p),
        }
    )
    body.add(
        html_table(
            _once(diff_table, "Visit"),
            table_id="mmrm-differences",
            caption=(
                f"Difference in LS mean change from baseline to {labels[control]} (negative: "
                f"a larger decrease than on {labels[control]})"
            ),
            text_columns=2,
        )
    )


def _in_order(frame: pd.DataFrame, arms: Sequence[str], visits: Sequence[str]) -> pd.DataFrame:
    """Rows by visit in protocol order, then arm in protocol order."""
    keys = frame["visit"].map({v: i for i, v in enumerate(visits)}) * len(arms)
    keys = keys + frame["arm"].map({a: i for i, a in enumerate(arms)})
    return frame.iloc[np.argsort(keys.to_numpy(), kind="stable")].reset_index(drop=True)


def primary_ancova(
    datasets: AnalysisDatasets, protocol: Protocol, endpoint: PrimaryEndpoint
) -> Any:
    """ANCOVA of the change at the primary visit: arm + baseline + strata (complete cases)."""
    from trialdesk.analysis.ancova import ancova

    data = primary_data(datasets, protocol, endpoint)
    data = data[data["visit"] == endpoint.primary_visit].copy()
    data["arm"] = data["arm"].astype(str)
    strata = model_strata(protocol, datasets.subjects)
    return ancova(data, "change", "arm", "baseline", strata, reference=control_arm(protocol)), data


def _ancova_block(
    body: _Html,
    datasets: AnalysisDatasets,
    protocol: Protocol,
    arms: list[tuple[str, str]],
    endpoint: PrimaryEndpoint,
) -> None:
    labels = dict(arms)
    body.add(f"<h3>ANCOVA at {_e(endpoint.primary_visit)}</h3>")
    try:
        result, data = primary_ancova(datasets, protocol, endpoint)
    except (AnalysisError, BadInput) as error:
        body.note(f"The ANCOVA could not be fitted: {error}")
        return
    strata = model_strata(protocol, datasets.subjects)
    body.add(
        f"<p>Change from baseline at {_e(endpoint.primary_visit)} ~ arm + baseline"
        f"{''.join(' + ' + s for s in strata)}, ordinary least squares, patients with the "
        f"value at that visit ({result.n_obs} patients, {result.df_resid} residual df).</p>"
    )
    rows = []
    order = [arm.id for arm in protocol.arms]
    for effect in sorted(result.effects, key=lambda e: order.index(e.arm)):
        rows.append(
            {
                "Comparison": f"{labels[effect.arm]} − {labels[effect.reference]}",
                "n": f"{int((data['arm'] == effect.arm).sum())} vs "
                f"{int((data['arm'] == effect.reference).sum())}",
                "Difference": _number(effect.estimate),
                "SE": _number(effect.se),
                "95% CI": _ci(effect.lower, effect.upper),
                "p": _p(effect.p),
            }
        )
    body.add(
        html_table(
            pd.DataFrame(rows),
            table_id="ancova",
            caption=f"Adjusted difference in change from baseline at {endpoint.primary_visit}",
        )
    )


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


def _responder_section(
    body: _Html,
    datasets: AnalysisDatasets,
    protocol: Protocol,
    arms: list[tuple[str, str]] | None,
    endpoint: PrimaryEndpoint | None,
) -> None:
    from trialdesk.analysis.responder import risk_difference

    body.section("responders", "Responders (OMERACT-OARSI)")
    if endpoint is None:
        body.note("No primary visit: responder rates are not computed.")
        return
    domains = responder_domains(datasets.outcomes)
    responders = omeract_responders(datasets, endpoint)
    if responders is None:
        body.note(
            "Neither pain nor function is collected on a 0-100 scale (WOMAC, KOOS or pain "
            "VAS): OMERACT-OARSI responder rates cannot be computed."
        )
        return
    used = ", ".join(
        f"{domain}: {choice[0]}" + (" as 100 − score" if choice[1] else "")
        for domain, choice in domains.items()
        if choice is not None
    )
    missing = [domain for domain, choice in domains.items() if choice is None]
    caveat = (
        f" Not collected: {', '.join(missing)}; a domain not collected counts as not "
        "improved, so these rates are a lower bound of the OMERACT-OARSI rate."
        if missing
        else ""
    )
    body.add(
        f"<p>Responder at {_e(endpoint.primary_visit)}: pain or function improved by at least "
        "50% and 20 points, or at least two of pain, function and patient global improved by "
        f"at least 20% and 10 points (Pham et al. 2004). Domains used: {_e(used)}.{_e(caveat)} "
        "ITT patients; a patient without the value at the visit counts as a non-responder."
        "</p>"
    )
    rows = []
    for label, frame in arm_groups(responders, arms):
        rows.append(
            {"Arm": label, "Responders": _percent(int(frame["responder"].sum()), len(frame))}
        )
    body.add(html_table(pd.DataFrame(rows), table_id="responder-rates", caption="Responder rates"))
    if arms is None:
        body.note("Blinded report: no comparison between arms.")
        return
    labels = dict(arms)
    control = control_arm(protocol)
    reference = responders[responders["arm"] == control]
    differences = []
    for arm_id, label in arms:
        if arm_id == control:
            continue
        group = responders[responders["arm"] == arm_id]
        if group.empty or reference.empty:
            continue
        difference, _, newcombe = risk_difference(
            int(group["responder"].sum()),
            len(group),
            int(reference["responder"].sum()),
            len(reference),
        )
        differences.append(
            {
                "Comparison": f"{label} − {labels[control]}",
                "Risk difference (%)": _number(100 * difference, 1),
                "95% CI (Newcombe, %)": _ci(100 * newcombe[0], 100 * newcombe[1], 1),
            }
        )
    body.add(
        html_table(
            pd.DataFrame(differences),
            table_id="responder-differences",
            caption=f"Responder rate difference to {labels[control]}",
        )
    )


# ---------------------------------------------------------------- figures


def _figures_section(
    body: _Html,
    datasets: AnalysisDatasets,
    arms: list[tuple[str, str]] | None,
    endpoint: PrimaryEndpoint | None,
    out_dir: Path,
    figures: list[Path],
) -> None:
    from trialdesk.analysis import figures as plots

    body.section("figures", "Figures")
    if endpoint is None:
        body.note("No analysable outcome: no figures.")
        return
    itt = set(datasets.subjects.loc[datasets.subjects["itt"], "subject"])
    outcomes = datasets.outcomes[datasets.outcomes["subject"].isin(itt)]
    parameter = endpoint.parameter
    drawn: list[tuple[Callable[[Path], Sequence[Path]], str, str]] = [
        (
            lambda stem: plots.mean_change_figure(outcomes, parameter, arms, stem),
            "mean_change",
            f"Mean change from baseline in {parameter} with 95% confidence intervals (ITT, "
            "observed values).",
        ),
        (
            lambda stem: plots.trajectories_figure(outcomes, parameter, arms, stem),
            "trajectories",
            f"Individual trajectories of {parameter} (ITT).",
        ),
        (
            lambda stem: plots.waterfall_figure(
                outcomes, parameter, endpoint.primary_visit, arms, stem
            ),
            "waterfall",
            f"Change from baseline in {parameter} at {endpoint.primary_visit}, one bar per "
            "patient, sorted.",
        ),
    ]
    for draw, name, caption in drawn:
        paths = [Path(p) for p in draw(out_dir / name)]
        figures.extend(paths)
        svg = next((p for p in paths if p.suffix == ".svg"), None)
        if svg is not None:
            body.add(_figure(svg, caption, f"figure-{name.replace('_', '-')}"))


# ---------------------------------------------------------------- safety, deviations, unblinding


def _safety_section(
    body: _Html, datasets: AnalysisDatasets, arms: list[tuple[str, str]] | None
) -> None:
    from trialdesk.analysis import safety

    body.section("safety", "Safety")
    events, subjects = datasets.adverse_events, datasets.subjects
    body.add(
        "<p>Safety set: patients with at least one administration. Treatment-emergent "
        "adverse events (onset on or after day 0), n (% of the safety set) of patients and "
        "number of events; a patient counts once per row, at the worst grade or the strongest "
        "relatedness. Terms as reported (not MedDRA coded). Related = possible, probable or "
        "certain (WHO-UMC).</p>"
    )
    tables = [
        (safety.ae_overview(events, subjects, arms), "ae-overview", "Overview", 1),
        (safety.ae_by_term(events, subjects, arms), "ae-by-term", "Adverse events by term", 1),
        (
            _without_empty_levels(safety.ae_by_grade(events, subjects, arms)),
            "ae-by-grade",
            "Patients by worst CTCAE grade (grades no patient had are left out)",
            2,
        ),
        (
            _without_empty_levels(safety.ae_by_relatedness(events, subjects, arms)),
            "ae-by-relatedness",
            "Patients by strongest relatedness to the study treatment (categories no patient "
            "had are left out)",
            2,
        ),
    ]
    for frame, table_id, caption, index_columns in tables:
        body.add(
            html_table(
                _index_as_columns(frame, "Adverse event"),
                table_id=table_id,
                caption=caption,
                text_columns=index_columns,
            )
        )
    # Arm ids keep the listing narrow; the caption gives their labels.
    ids = None if arms is None else [(arm_id, arm_id) for arm_id, _ in arms]
    listing = _compact_listing(safety.sae_listing(events, ids))
    late = int(events["reported_late"].sum()) if not events.empty else 0
    legend = "" if arms is None else "; arms: " + ", ".join(f"{i} = {label}" for i, label in arms)
    body.add(
        html_table(
            listing,
            css_class="listing",
            table_id="sae-listing",
            caption=f"Serious adverse events ({len(listing)}; reported after the deadline: "
            f"{late}{legend})",
            text_columns=1 if arms is None else 2,
        )
    )


def _compact_listing(listing: pd.DataFrame) -> pd.DataFrame:
    """The SAE listing narrowed to fit a portrait page: shorter headers, onset with its study
    day, report times without the repeated "UTC" (said once in the header), dates with
    non-breaking hyphens so that a narrow column wraps between date and time, never inside."""
    if listing.empty:
        return listing

    def unbroken(text: str) -> str:
        return text.removesuffix(" UTC").replace("-", NON_BREAKING_HYPHEN)

    compact = listing.copy()
    compact["Onset (day)"] = [
        f"{unbroken(onset)} ({day})"
        for onset, day in zip(listing["Onset"], listing["Study day"], strict=True)
    ]
    for column in ("Report due", "Reported"):
        compact[f"{column} (UTC)"] = listing[column].map(unbroken)
    compact = compact.rename(
        columns={"Seriousness criteria": "Seriousness", "CTCAE grade": "Grade"}
    )
    order = ["Subject", "Arm", "AE", "Term", "Onset (day)", "Seriousness", "Grade"]
    order += ["Relatedness", "Outcome", "Report due (UTC)", "Reported (UTC)", "Late"]
    return compact[[column for column in order if column in compact.columns]]


def _without_empty_levels(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of a (term, level) table where some column counts a patient."""
    return frame[(frame != "0").any(axis=1)]


def _index_as_columns(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    """The row labels as leading text columns (header `label` when the index has no name)."""
    names = [name or label for name in frame.index.names]
    flat = frame.copy()
    flat.index = flat.index.set_names(names)
    flat = flat.reset_index()
    if isinstance(frame.columns, pd.MultiIndex):
        flat.columns = pd.MultiIndex.from_tuples(
            [(c, "") if not isinstance(c, tuple) else c for c in flat.columns]
        )
    if len(names) > 1:  # each term once, on its first line
        first = flat.columns[0]
        flat.loc[flat[first].duplicated(), first] = ""
    return flat


def deviation_summary(
    deviations: pd.DataFrame, subjects: pd.DataFrame, arms: list[tuple[str, str]] | None
) -> pd.DataFrame:
    """Per kind of deviation and arm: patients with at least one, n (% of randomized), and
    the number of deviations (columns: (arm header, "Patients n (%)" | "Deviations"))."""
    randomized = subjects[subjects["itt"]]
    groups = arm_groups(randomized, arms)
    headers = _with_n(groups)
    rows = []
    kinds = deviations.groupby(["automatic", "kind"], sort=True) if not deviations.empty else []
    for (automatic, kind), frame in kinds:
        words = kind.replace("_", " ")
        row = {("Deviation", ""): f"{words} (recorded by the store)" if automatic else words}
        for (_, group), header in zip(groups, headers, strict=True):
            mine = frame[frame["subject"].isin(group["subject"])]
            row[(header, "Patients n (%)")] = _percent(mine["subject"].nunique(), len(group))
            row[(header, "Deviations")] = str(len(mine))
        rows.append(row)
    columns = [("Deviation", "")]
    columns += [(h, statistic) for h in headers for statistic in ("Patients n (%)", "Deviations")]
    return pd.DataFrame(rows, columns=pd.MultiIndex.from_tuples(columns))


def _deviations_section(
    body: _Html, datasets: AnalysisDatasets, arms: list[tuple[str, str]] | None
) -> None:
    body.section("deviations", "Protocol deviations")
    body.add(
        "<p>Patients with at least one deviation of each kind, n (% of randomized), and the "
        "number of deviations. The store records visits outside their window itself; the "
        "other deviations are recorded by site staff.</p>"
    )
    table = deviation_summary(datasets.deviations, datasets.subjects, arms)
    body.add(
        html_table(
            table,
            table_id="deviations",
            caption="Protocol deviations",
            text_columns=1,
            css_class="compact",
        )
    )


def _unblinding_section(body: _Html, datasets: AnalysisDatasets) -> None:
    body.section("unblinding", "Emergency unblindings")
    frame = datasets.unblindings
    listing = pd.DataFrame(
        {
            "Subject": frame["subject"],
            "Unblinded at": frame["unblinded_at"].map(
                lambda at: f"{at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"
            ),
            "By": frame["user"],
            "Reason": frame["reason"],
        }
    )
    body.add(
        html_table(
            listing,
            table_id="unblindings",
            caption="Emergency unblindings (the arm revealed is not shown)",
            text_columns=4,
        )
    )


def _datasets_section(body: _Html, datasets: AnalysisDatasets, csv_paths: list[Path]) -> None:
    body.section("datasets", "Datasets")
    body.add(
        "<p>The analysis datasets are written beside this report as CSV. Every row names the "
        "store records it derives from (<code>source_ids</code>, <code>source_id</code>, "
        "<code>baseline_source_id</code>), so each number can be traced to its form, "
        "allocation or event.</p>"
    )
    rows = []
    for path, frame in zip(csv_paths, datasets.frames().values(), strict=True):
        digest = hashlib.sha256(canonical_csv(frame).encode("utf-8")).hexdigest()
        rows.append({"File": path.name, "Rows": str(len(frame)), "SHA-256": digest})
    body.add(
        html_table(
            pd.DataFrame(rows), table_id="dataset-files", caption="Dataset files", text_columns=1
        )
    )


CSS = """
@page { size: A4; margin: 14mm 12mm 16mm 12mm; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; font-size: 9.5pt;
  color: #1a1a1a; max-width: 190mm; margin: 0 auto; padding: 8mm 0; line-height: 1.35; }
h1 { font-size: 17pt; margin: 0 0 2pt 0; }
h2 { font-size: 12.5pt; border-bottom: 1.5pt solid #2b4c7e; padding-bottom: 2pt;
  margin: 18pt 0 6pt 0; color: #2b4c7e; break-after: avoid; }
h3 { font-size: 10.5pt; margin: 10pt 0 4pt 0; break-after: avoid; }
p { margin: 4pt 0 6pt 0; }
p.title { font-size: 10.5pt; color: #333; margin-bottom: 6pt; }
p.note { background: #f3f4f6; border-left: 3pt solid #9aa5b1; padding: 4pt 6pt; }
p.empty { color: #555; font-style: italic; }
code, .mono { font-family: "DejaVu Sans Mono", monospace; font-size: 8.5pt; }
.banner { font-weight: bold; padding: 5pt 8pt; margin: 6pt 0; border-radius: 2pt;
  letter-spacing: 0.02em; }
.banner.blinded { background: #e7eef8; border: 1pt solid #2b4c7e; color: #1d3557; }
.banner.unblinded { background: #fde8e8; border: 1pt solid #b42318; color: #8a1c12; }
.banner.reopened { background: #fff4d6; border: 1pt solid #b7791f; color: #7a4d00; }
table { border-collapse: collapse; margin: 4pt 0 10pt 0; break-inside: auto; }
tr { break-inside: avoid; }
table.meta th { text-align: left; font-weight: normal; color: #555; padding: 1pt 10pt 1pt 0;
  vertical-align: top; white-space: nowrap; }
table.meta td { padding: 1pt 0; }
table.meta td.mono { word-break: break-all; }
table.data { width: 100%; font-size: 8.5pt; }
table.data.compact { font-size: 7.5pt; }
table.data.listing { font-size: 7pt; }
table.listing td, table.listing th, table.compact td, table.compact th { padding: 2pt 3pt; }
table.listing td.text { overflow-wrap: break-word; }
table.data caption { text-align: left; font-weight: bold; padding-bottom: 3pt;
  caption-side: top; }
table.data th { background: #eef1f5; border-top: 1pt solid #555; border-bottom: 1pt solid #555;
  padding: 3pt 5pt; vertical-align: bottom; }
table.data td { padding: 2pt 5pt; border-bottom: 0.5pt solid #dde1e6; vertical-align: top; }
table.data tbody tr:last-child td { border-bottom: 1pt solid #555; }
.num { text-align: right; }
td.num, #baseline-characteristics td:nth-child(2) { white-space: nowrap; }
table.data td.text:first-child, table.data th.text:first-child { min-width: 32mm; }
table.listing td.text:first-child, table.listing th.text:first-child { min-width: 0; }
.text { text-align: left; }
figure { margin: 6pt 0 12pt 0; break-inside: avoid; text-align: center; }
figure svg { max-width: 100%; height: auto; }
figcaption { font-size: 8.5pt; color: #333; margin-top: 3pt; text-align: left; }
nav.contents ol { columns: 2; font-size: 9pt; margin: 2pt 0 0 0; }
nav.contents h2 { border: none; margin-top: 10pt; }
a { color: #2b4c7e; text-decoration: none; }
@media print { h2 { break-before: auto; } }
"""
