"""The report's sections in document order (`report_sections`), each writing its heading,
text and tables into the body; the efficacy sections are in `efficacy_sections`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from trialdesk.analysis.datasets import AnalysisDatasets, PrimaryEndpoint, primary_endpoint
from trialdesk.analysis.report.diary_section import diary_sections
from trialdesk.analysis.report.efficacy_sections import primary_section, responder_section
from trialdesk.analysis.report.markup import ReportBody, html_table, inline_figure, shown_once
from trialdesk.analysis.report.tables import (
    analysis_sets,
    baseline_characteristics,
    deviation_summary,
)

if TYPE_CHECKING:
    from trialdesk.analysis.report.build import DatasetFile
    from trialdesk.protocol import Protocol

NON_BREAKING_HYPHEN = "\u2011"


def report_sections(
    datasets: AnalysisDatasets,
    protocol: Protocol,
    arms: list[tuple[str, str]] | None,
    out_dir: Path,
    figures: list[Path],
    dataset_files: list[DatasetFile],
) -> ReportBody:
    """The report's body, section by section; the figures drawn are added to `figures`."""
    body = ReportBody()
    endpoint = primary_endpoint(protocol)
    _consort_section(body, datasets, arms, out_dir, figures)
    _analysis_sets_section(body, datasets, arms)
    _baseline_section(body, datasets, protocol, arms, endpoint)
    primary_section(body, datasets, protocol, arms, endpoint)
    responder_section(body, datasets, protocol, arms, endpoint)
    _figures_section(body, datasets, arms, endpoint, out_dir, figures)
    diary_sections(body, datasets, protocol, arms)
    _safety_section(body, datasets, arms)
    _deviations_section(body, datasets, arms)
    _unblinding_section(body, datasets)
    _datasets_section(body, dataset_files)
    return body


def _consort_section(
    body: ReportBody,
    datasets: AnalysisDatasets,
    arms: list[tuple[str, str]] | None,
    out_dir: Path,
    figures: list[Path],
) -> None:
    from trialdesk.analysis.consort import consort_flow
    from trialdesk.analysis.consort_diagram import draw_consort

    body.section("consort", "Participant flow (CONSORT)")
    flow = consort_flow(datasets.subjects, arms)
    svg_path, png_path = out_dir / "consort.svg", out_dir / "consort.png"
    draw_consort(flow, svg_path, png_path)
    figures += [svg_path, png_path]
    body.add(
        inline_figure(svg_path, "CONSORT 2010 flow diagram of the screened patients.", "consort")
    )


def _analysis_sets_section(
    body: ReportBody, datasets: AnalysisDatasets, arms: list[tuple[str, str]] | None
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


def _baseline_section(
    body: ReportBody,
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
            shown_once(table, "Characteristic"),
            table_id="baseline-characteristics",
            caption="Baseline characteristics",
            text_columns=2,
        )
    )


def _figures_section(
    body: ReportBody,
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
    parameter, visit = endpoint.parameter, endpoint.primary_visit
    drawn = [
        (
            plots.mean_change_figure(outcomes, parameter, arms, out_dir / "mean_change"),
            "mean-change",
            f"Mean change from baseline in {parameter} with 95% confidence intervals (ITT, "
            "observed values).",
        ),
        (
            plots.trajectories_figure(outcomes, parameter, arms, out_dir / "trajectories"),
            "trajectories",
            f"Individual trajectories of {parameter} (ITT).",
        ),
        (
            plots.waterfall_figure(outcomes, parameter, visit, arms, out_dir / "waterfall"),
            "waterfall",
            f"Change from baseline in {parameter} at {visit}, one bar per patient, sorted.",
        ),
    ]
    for files, name, caption in drawn:
        figures += [files.png, files.svg]
        body.add(inline_figure(files.svg, caption, f"figure-{name}"))


def _safety_section(
    body: ReportBody, datasets: AnalysisDatasets, arms: list[tuple[str, str]] | None
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


def _deviations_section(
    body: ReportBody, datasets: AnalysisDatasets, arms: list[tuple[str, str]] | None
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


def _unblinding_section(body: ReportBody, datasets: AnalysisDatasets) -> None:
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


def _datasets_section(body: ReportBody, dataset_files: list[DatasetFile]) -> None:
    body.section("datasets", "Datasets")
    body.add(
        "<p>The analysis datasets are written beside this report as CSV. Every row names the "
        "store records it derives from (<code>source_ids</code>, <code>source_id</code>, "
        "<code>baseline_source_id</code>), so each number can be traced to its form, "
        "allocation or event.</p>"
    )
    rows = [
        {"File": file.path.name, "Rows": str(file.rows), "SHA-256": file.sha256}
        for file in dataset_files
    ]
    body.add(
        html_table(
            pd.DataFrame(rows), table_id="dataset-files", caption="Dataset files", text_columns=1
        )
    )
