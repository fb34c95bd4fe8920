"""The report's HTML document: the header that records what the numbers come from, the
contents, the sections, and the CSS for screen and print.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import trialdesk
from trialdesk.analysis.datasets import AnalysisDatasets
from trialdesk.analysis.report.markup import escape
from trialdesk.analysis.report.sections import report_sections

if TYPE_CHECKING:
    from trialdesk.analysis.report.build import DatasetFile, ReportMeta
    from trialdesk.protocol import Protocol


def render_document(
    datasets: AnalysisDatasets,
    digest: str,
    protocol: Protocol,
    arms: list[tuple[str, str]] | None,
    meta: ReportMeta,
    out_dir: Path,
    figures: list[Path],
    dataset_files: list[DatasetFile],
) -> str:
    """The report as one HTML page with its CSS inline; the figures drawn are added to
    `figures`."""
    body = report_sections(datasets, protocol, arms, out_dir, figures, dataset_files)
    header = _header(datasets.blinded, digest, protocol, meta)
    contents = "".join(
        f'<li><a href="#{anchor}">{escape(title)}</a></li>' for anchor, title in body.sections
    )
    title = f"{protocol.id} v{protocol.version} study report"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
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
    if meta.scope:
        rows.insert(3, ("Subjects", meta.scope, ""))
    if meta.recorded_as:
        rows.append(("Unblinded output recorded", meta.recorded_as, ""))
    table = "".join(
        f'<tr><th scope="row">{escape(label)}</th><td class="{css}">{escape(value)}</td></tr>'
        for label, value, css in rows
    )
    title = protocol.titles.official or protocol.titles.brief
    return (
        f"<header><h1>{escape(protocol.id)} study report</h1>"
        f'<p class="title">{escape(title)}</p>{banner}{reopened}'
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
