"""The screening funnel as a chart: patients left after each criterion, and who each removes."""

from __future__ import annotations

from pathlib import Path

from trialdesk.eligibility.screen import ScreenReport
from trialdesk.errors import EligibilityError


def draw_funnel(report: ScreenReport, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    labels = ["all", *(c.id for c in report.criteria)]
    left = [report.patients, *(c.left for c in report.criteria)]
    removed = [0, *(previous - now for previous, now in zip(left, left[1:], strict=False))]
    figure, axes = pyplot.subplots(figsize=(max(6.0, 0.35 * len(labels)), 4.5))
    axes.bar(labels, left, color="#3b7dd8", label="patients left")
    axes.bar(labels, removed, bottom=left, color="#d8583b", label="removed by this criterion")
    axes.set_title(
        f"{report.protocol}: {report.eligible} eligible, {report.incomplete} incomplete "
        f"of {report.patients} patients"
    )
    axes.set_ylabel("patients")
    axes.tick_params(axis="x", labelrotation=90)
    axes.legend()
    figure.tight_layout()
    try:
        figure.savefig(path, dpi=120)
    except OSError as error:
        raise EligibilityError(f"{path}: cannot be written: {error.strerror}") from None
    finally:
        pyplot.close(figure)
