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

The package: `build` writes the files; `document` renders the HTML from the `sections` (the
efficacy ones in `efficacy_sections`), built with `markup`; `tables` computes the analysis
tables and states the statistical choices; `pdf` prints with Chromium. The control arm every
comparison is made with is `Protocol.control_arm`.
"""

from trialdesk.analysis.report.build import ReportMeta, ReportResult, build_report
from trialdesk.analysis.report.pdf import PdfUnavailable

__all__ = [
    "PdfUnavailable",
    "ReportMeta",
    "ReportResult",
    "build_report",
]
