"""The report's PDF: an HTML file printed to A4 by Debian's Chromium through Playwright."""

from __future__ import annotations

from pathlib import Path

from trialdesk.analysis.report.markup import escape
from trialdesk.errors import TrialdeskError

CHROMIUM = Path("/usr/bin/chromium")


class PdfUnavailable(TrialdeskError):
    """Chromium, which prints the PDF, is not installed."""


def print_pdf(html_path: Path, pdf_path: Path, footer: str = "") -> None:
    """Print an HTML file to A4 PDF with Debian's Chromium (never a downloaded browser)."""
    from playwright.sync_api import Error, sync_playwright

    require_chromium()
    template = (
        '<div style="font-size:7pt;width:100%;padding:0 14mm;color:#555;display:flex;'
        f'justify-content:space-between"><span>{escape(footer)}</span><span>page '
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


def require_chromium() -> None:
    """Raise PdfUnavailable, naming the package to install, unless Chromium is installed."""
    if not CHROMIUM.exists():
        raise PdfUnavailable(
            f"{CHROMIUM} not found: the PDF is printed by Chromium; install it with "
            "`apt-get install chromium` (or pass --no-pdf for the HTML only)"
        )
