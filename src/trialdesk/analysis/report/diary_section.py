"""The report's section on a daily patient-reported diary (issue 14): compliance by site and,
in an unblinded report only, the mean daily value by arm over the first week and all days.

Numbers come from the `diaries` dataset (`trialdesk.analysis.datasets`): a patient's mean is
of the days reported (a missing day is missing, never 0), and the table summarises those
means over the patients with at least one day reported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from trialdesk.analysis.datasets import WEEK, AnalysisDatasets
from trialdesk.analysis.report.markup import ReportBody, escape, html_table, shown_once
from trialdesk.analysis.report.tables import format_number, rows_by_arm

if TYPE_CHECKING:
    from trialdesk.protocol import Protocol
    from trialdesk.protocol.patient_reports import PatientSchedule


def diary_sections(
    body: ReportBody,
    datasets: AnalysisDatasets,
    protocol: Protocol,
    arms: list[tuple[str, str]] | None,
) -> None:
    """One section per daily `patient_reported` schedule of the protocol; none without one."""
    for schedule in protocol.patient_reported:
        if schedule.kind != "daily":
            continue
        diaries = datasets.diaries[datasets.diaries["schedule"] == schedule.id]
        _diary_section(body, diaries, protocol, schedule, arms)


def periods(schedule: PatientSchedule) -> tuple[str, str]:
    """The labels of the first week's days and of all days, e.g. ("1-7", "1-30")."""
    week_end = min(schedule.first_day + WEEK - 1, schedule.last_day)
    return f"{schedule.first_day}-{week_end}", f"{schedule.first_day}-{schedule.last_day}"


def _diary_section(
    body: ReportBody,
    diaries: pd.DataFrame,
    protocol: Protocol,
    schedule: PatientSchedule,
    arms: list[tuple[str, str]] | None,
) -> None:
    name = schedule.id.replace("_", " ").capitalize()
    anchor = "diary-" + schedule.id.replace("_", "-")
    body.section(anchor, f"{name} (patient-reported)")
    week, days = periods(schedule)
    question = protocol.instrument_parameters.get(schedule.form, {}).get("question")
    rated = f" ({escape(question)})" if question else ""
    body.add(
        f"<p>Form <code>{escape(schedule.form)}</code>{rated}, one entry a day on days "
        f"{days}, {escape(schedule.opens)}-{escape(schedule.closes)} in the patient's time "
        f"zone, taken up to {schedule.grace_minutes} minutes late; randomized patients. A day "
        "counts reported when the form holds its value, sent from the phone or entered by "
        "site staff; a day not reported is missed once its window has passed. Compliance: "
        "answered, in time or late, of the days due.</p>"
    )
    body.add(
        html_table(
            compliance_by_site(diaries),
            table_id=f"{anchor}-compliance",
            caption="Diary compliance by site (days due at extraction)",
        )
    )
    if arms is None:
        body.note("Blinded report: the diary's values are summarised by arm when unblinded.")
        return
    body.add(
        html_table(
            shown_once(pain_by_arm(diaries, arms, week, days), "Days"),
            table_id=f"{anchor}-by-arm",
            caption=f"Mean daily value per patient over the days reported, days {week} and "
            f"{days}, by arm",
            text_columns=2,
        )
    )


def compliance_by_site(diaries: pd.DataFrame) -> pd.DataFrame:
    """Days answered in time, late and missed per site, with the share answered of those
    due; a total row when there is more than one site."""
    groups = [(site, frame) for site, frame in diaries.groupby("site", sort=True)]
    if len(groups) > 1:
        groups.append(("Total", diaries))
    rows = []
    for site, frame in groups:
        answered, late, missed = (int(frame[c].sum()) for c in ("answered", "late", "missed"))
        due = answered + late + missed
        rows.append(
            {
                "Site": str(site),
                "Patients": str(len(frame)),
                "Days due": str(due),
                "Answered": str(answered),
                "Late": str(late),
                "Missed": str(missed),
                "Share answered": (f"{100.0 * (answered + late) / due:.1f}%" if due else "–"),
            }
        )
    return pd.DataFrame(rows)


def pain_by_arm(
    diaries: pd.DataFrame, arms: list[tuple[str, str]], week: str, days: str
) -> pd.DataFrame:
    """Per arm: patients with a day reported, and the mean (SD) and median (min, max) of
    their means, over the first week's days and over all days."""
    groups = rows_by_arm(diaries, arms)
    headers = [f"{label} (N={len(frame)})" for label, frame in groups]
    rows = []
    for label, column in ((week, "mean_week1"), (days, "mean_all")):
        values = [pd.to_numeric(frame[column], errors="coerce").dropna() for _, frame in groups]
        statistics = {
            "Patients with a day reported": [str(len(v)) for v in values],
            "Mean (SD)": [_mean_sd(v) for v in values],
            "Median (min, max)": [_median_range(v) for v in values],
        }
        for statistic, cells in statistics.items():
            rows.append({"Days": label, "": statistic, **dict(zip(headers, cells, strict=True))})
    return pd.DataFrame(rows, columns=["Days", "", *headers])


def _mean_sd(values: pd.Series) -> str:
    if values.empty:
        return "–"
    sd = values.std(ddof=1) if len(values) > 1 else float("nan")
    return f"{format_number(values.mean())} ({format_number(sd)})"


def _median_range(values: pd.Series) -> str:
    if values.empty:
        return "–"
    return (
        f"{format_number(values.median(), 1)} ({format_number(values.min(), 1)}, "
        f"{format_number(values.max(), 1)})"
    )
