"""`build_report`: the datasets (blinded when asked) written as CSV, then the HTML report
and its PDF; `ReportMeta` says who and what the report is for, `ReportResult` what was written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from trialdesk.analysis.datasets import (
    AnalysisDatasets,
    StudyExtract,
    blind,
    build_datasets,
    canonical_csvs,
    csvs_sha256,
)
from trialdesk.analysis.report.document import render_document
from trialdesk.analysis.report.pdf import print_pdf, require_chromium
from trialdesk.errors import BadInput

if TYPE_CHECKING:
    from trialdesk.protocol import Protocol

#: The columns that name a subject's arm, left out of a blinded report's CSV files.
ARM_COLUMNS = ("arm", "arm_label")


@dataclass(frozen=True)
class ReportMeta:
    """Who and what the report is for; `generated_at` defaults to now (UTC).

    `scope` says which subjects the data cover when not all of the study's (e.g. "sites 01,
    02 only"); `recorded_as` names the record of an unblinded report's production (e.g. its
    audit event). Both are plain text given by the caller and shown in the header.
    """

    study: str
    protocol_sha256: str
    generated_by: str
    locked: bool = False
    reopened_after_lock: bool = False
    generated_at: dt.datetime | None = None
    scope: str = ""
    recorded_as: str = ""


@dataclass(frozen=True)
class DatasetFile:
    """One dataset written beside the report as canonical CSV."""

    path: Path
    rows: int
    sha256: str


@dataclass(frozen=True)
class ReportResult:
    html: Path
    pdf: Path | None
    figures: tuple[Path, ...]
    datasets: tuple[Path, ...]
    datasets_sha256: str
    blinded: bool


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
        require_chromium()
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BadInput(
            f"{out_dir}: cannot be made a directory ({error.strerror}); expected a writable "
            "directory for the report"
        ) from None
    # A blinded report's CSV files have no arm columns at all, not empty ones.
    written = _without_arms(datasets) if blinded else datasets
    csvs = canonical_csvs(written)
    files = []
    for (name, text), frame in zip(csvs.items(), written.frames().values(), strict=True):
        path = out_dir / f"{name}.csv"
        _write(path, text)
        files.append(DatasetFile(path, len(frame), hashlib.sha256(text.encode()).hexdigest()))
    arms = None if blinded else [(arm.id, arm.label) for arm in protocol.arms]
    figures: list[Path] = []
    digest = csvs_sha256(csvs)
    document = render_document(datasets, digest, protocol, arms, meta, out_dir, figures, files)
    html_path = out_dir / "report.html"
    _write(html_path, document)
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
        datasets=tuple(file.path for file in files),
        datasets_sha256=digest,
        blinded=blinded,
    )


def _without_arms(datasets: AnalysisDatasets) -> AnalysisDatasets:
    frames = {
        name: frame.drop(columns=[c for c in ARM_COLUMNS if c in frame.columns])
        for name, frame in datasets.frames().items()
    }
    return replace(datasets, **frames)


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise BadInput(
            f"{path}: cannot be written ({error.strerror}); expected a writable path"
        ) from None
