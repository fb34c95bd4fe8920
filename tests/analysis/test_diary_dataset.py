"""The pain diary in the analysis datasets (issue 14): STEMJOINT's daily `pain_diary` from a
hand-made extract, each number computed by hand in the comments."""

from __future__ import annotations

import datetime as dt
import math
from html.parser import HTMLParser
from pathlib import Path

import pytest

from trialdesk.analysis.datasets import STUDY_KEYS, StudyExtract, blind, build_datasets
from trialdesk.analysis.report import ReportMeta, build_report
from trialdesk.protocol import load_protocol

DAY0 = dt.date(2024, 3, 10)  # winter time in Copenhagen (UTC+1) through day 20
UTC = dt.UTC
#: Just after midnight UTC on 22 March: day 11 (21 March) closed at 23:00 UTC in Copenhagen
#: and its hour of grace ended at 00:00 UTC, so it is missed there; in UTC its window closes
#: at 00:00 and takes answers until 01:00, so it is not due yet.
EXTRACTED_AT = dt.datetime(2024, 3, 22, 0, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def protocol():
    return load_protocol("NCT05933434")


def subject(pk, code, status="treated", day0=DAY0):
    return {
        "id": pk,
        "code": code,
        "site": "AUH",
        "status": status,
        "age": 60,
        "sex": "female",
        "screened_on": dt.date(2024, 2, 20),
        "day0": day0,
    }


def allocation(pk, code, arm):
    return {
        "id": pk,
        "subject": code,
        "randomization_number": f"R-{pk:03d}",
        "stratum": "site=AUH,kl_grade=2",
        "arm": arm,
    }


def answer(pk, code, day, late=False):
    return {
        "id": pk,
        "subject": code,
        "schedule": "pain_diary",
        "day": day,
        "item": f"day{day}",
        "received_at": dt.datetime.combine(DAY0 + dt.timedelta(days=day), dt.time(19), UTC),
        "late": late,
    }


def koos_forms():
    """KOOS symptoms at baseline, 3 months and 5 years: the report's primary parameter."""
    values = {"S1": (50, 60, 65), "S2": (40, 45, 50), "S3": (55, 70, 75)}
    return tuple(
        {
            "id": 100 + 3 * number + index,
            "subject": code,
            "visit_id": visit,
            "form": "koos",
            "values": {},
            "scores": {"symptoms": value},
        }
        for number, (code, values) in enumerate(values.items())
        for index, (visit, value) in enumerate(zip(("BL", "M3", "Y5"), values, strict=True))
    )


@pytest.fixture(scope="module")
def extract():
    return diary_extract()


def diary_extract():
    # S1: days 1-7 = 3, 4, missing, 5, 6, 2, 4 and days 8-10 = 7, 0, 8; days 1, 2 and 4 sent
    # from the phone (day 2 late), the others entered by site staff from the paper diary.
    diary = {"day1": 3, "day2": 4, "day4": 5, "day5": 6, "day6": 2, "day7": 4}
    diary |= {"day8": 7, "day9": 0, "day10": 8}
    study = dict.fromkeys(STUDY_KEYS, "") | {
        "locked": False,
        "reopened_after_lock": False,
        "extracted_at": EXTRACTED_AT,
    }
    return StudyExtract(
        study=study,
        subjects=(
            subject(1, "S1"),
            subject(2, "S2"),
            subject(3, "S3", day0=None),
            subject(4, "S4", status="screened", day0=None),
        ),
        allocations=(allocation(11, "S1", "MSC"), allocation(12, "S2", "SALINE"))
        + (allocation(13, "S3", "MSC"),),
        forms=(
            *koos_forms(),
            {
                "id": 21,
                "subject": "S1",
                "visit_id": "D30",
                "form": "pain_diary",
                "values": diary | {"day11": None},
                "scores": {},
            },
            # S3 (day 0 not recorded): day 1 = 6 and day 8 = 2 entered by site staff.
            {
                "id": 22,
                "subject": "S3",
                "visit_id": "D30",
                "form": "pain_diary",
                "values": {"day1": 6, "day8": 2},
                "scores": {},
            },
        ),
        patient_links=(
            {
                "id": 31,
                "subject": "S1",
                "time_zone": "UTC",
                "created_at": EXTRACTED_AT.replace(day=1),
            },
            {
                "id": 32,
                "subject": "S1",
                "time_zone": "Europe/Copenhagen",
                "created_at": EXTRACTED_AT.replace(day=5),
            },
        ),
        patient_answers=(answer(41, "S1", 1), answer(42, "S1", 2, late=True), answer(43, "S1", 4)),
    )


@pytest.fixture(scope="module")
def diaries(extract, protocol):
    return build_datasets(extract, protocol).diaries.set_index("subject")


def test_means_are_of_the_reported_days_missing_is_not_zero(diaries):
    s1 = diaries.loc["S1"]
    assert s1["schedule"] == "pain_diary"
    # Days 1-7: six reported, (3 + 4 + 5 + 6 + 2 + 4) / 6 = 24 / 6 = 4.0.
    assert s1["reported_week1"] == 6
    assert s1["mean_week1"] == pytest.approx(4.0)
    # Days 1-30: nine reported, a 0 is a value: (24 + 7 + 0 + 8) / 9 = 39 / 9.
    assert s1["reported_all"] == 9
    assert s1["mean_all"] == pytest.approx(39 / 9)


def test_compliance_of_the_days_due_in_the_latest_links_zone(diaries):
    s1 = diaries.loc["S1"]
    # Due: days 1-11 (day 12 opens at 18:00 on 22 March). Reported 9, of them day 2 late;
    # missed: day 3 and day 11 (past its grace in Copenhagen, the latest link's zone).
    assert (s1["days_due"], s1["answered"], s1["late"], s1["missed"]) == (11, 8, 1, 2)
    assert s1["compliance"] == pytest.approx(9 / 11)
    assert s1["source_ids"] == ("FormRecord:21;PatientAnswer:41;PatientAnswer:42;PatientAnswer:43")


def test_a_subject_without_link_or_entry_has_missed_days_and_no_mean(diaries):
    s2 = diaries.loc["S2"]
    # No link: UTC, where day 11 still takes answers at 00:30; days 1-10 are missed.
    assert (s2["days_due"], s2["answered"], s2["late"], s2["missed"]) == (10, 0, 0, 10)
    assert s2["compliance"] == 0.0
    assert (s2["reported_week1"], s2["reported_all"]) == (0, 0)
    assert math.isnan(s2["mean_week1"]) and math.isnan(s2["mean_all"])
    assert s2["source_ids"] == ""


def test_only_randomized_subjects_and_no_missed_day_without_day_0(diaries):
    assert list(diaries.index) == ["S1", "S2", "S3"]
    s3 = diaries.loc["S3"]
    # Without day 0 no window is known: the two days reported are due and answered, no other.
    assert (s3["days_due"], s3["answered"], s3["missed"], s3["compliance"]) == (2, 2, 0, 1.0)
    # Days reported still count: day 1 = 6 in the first week; (6 + 2) / 2 = 4.0 overall.
    assert (s3["reported_week1"], s3["mean_week1"]) == (1, 6.0)
    assert (s3["reported_all"], s3["mean_all"]) == (2, 4.0)


def test_the_diary_is_blinded_like_every_dataset(extract, protocol):
    datasets = build_datasets(extract, protocol)
    assert list(datasets.diaries["arm"]) == ["MSC", "SALINE", "MSC"]
    blinded = blind(datasets).diaries
    assert list(blinded["arm"]) == [None, None, None]
    assert blinded["mean_week1"].iloc[0] == pytest.approx(4.0)


def test_a_protocol_without_a_daily_schedule_has_an_empty_diary():
    protocol = load_protocol("NCT04208646")
    study = dict.fromkeys(STUDY_KEYS, "") | {"locked": False, "reopened_after_lock": False}
    diaries = build_datasets(StudyExtract(study=study), protocol).diaries
    assert diaries.empty and "mean_all" in diaries.columns


# ---------------------------------------------------------------- the report's section


class TableRows(HTMLParser):
    """The cell texts of each <table id=...>, row by row, and every element id."""

    def __init__(self, text: str):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.ids: list[str] = []
        self._table: list[list[str]] | None = None
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.append(attributes["id"])
        if tag == "table":
            self._table = self.tables.setdefault(attributes.get("id") or "", [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            self._table[-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def report_page(extract, protocol, out: Path, blinded: bool) -> TableRows:
    meta = ReportMeta(study="NCT05933434 v1.0", protocol_sha256="0" * 64, generated_by="stat")
    result = build_report(extract, protocol, blinded=blinded, out_dir=out, pdf=False, meta=meta)
    return TableRows(result.html.read_text(encoding="utf-8"))


@pytest.mark.parametrize("blinded", [True, False], ids=["blinded", "unblinded"])
def test_the_report_has_the_diary_section_with_compliance_by_site(
    extract, protocol, tmp_path, blinded
):
    page = report_page(extract, protocol, tmp_path, blinded)
    assert "diary-pain-diary" in page.ids
    header, *rows = page.tables["diary-pain-diary-compliance"]
    assert header == [
        "Site",
        "Patients",
        "Days due",
        "Answered",
        "Late",
        "Missed",
        "Share answered",
    ]
    # S1: 11 due, 8 answered, 1 late, 2 missed; S2: 10 due, all missed; S3: 2 due, answered.
    # Answered in time or late of due: (10 + 1) / 23 = 47.826...%.
    assert rows == [["AUH", "3", "23", "10", "1", "12", "47.8%"]]
    if blinded:
        assert "diary-pain-diary-by-arm" not in page.ids


def test_the_unblinded_report_summarises_the_diary_by_arm(extract, protocol, tmp_path):
    _, *rows = report_page(extract, protocol, tmp_path, blinded=False).tables[
        "diary-pain-diary-by-arm"
    ]
    # Patients' means: MSC S1 = 4.0 (days 1-7) and 39/9 = 4.333 (days 1-30), S3 = 6.0 and
    # 4.0; SALINE S2 reported no day.
    # MSC days 1-7: mean (4 + 6) / 2 = 5.00, SD sqrt((1 + 1) / 1) = 1.41; median 5.0.
    # MSC days 1-30: mean (4.333 + 4) / 2 = 4.17, SD sqrt(2 x 0.1667^2) = 0.24; median 4.2.
    assert rows == [
        ["1-7", "Patients with a day reported", "2", "0", "2"],
        ["", "Mean (SD)", "5.00 (1.41)", "–", "5.00 (1.41)"],
        ["", "Median (min, max)", "5.0 (4.0, 6.0)", "–", "5.0 (4.0, 6.0)"],
        ["1-30", "Patients with a day reported", "2", "0", "2"],
        ["", "Mean (SD)", "4.17 (0.24)", "–", "4.17 (0.24)"],
        ["", "Median (min, max)", "4.2 (4.0, 4.3)", "–", "4.2 (4.0, 4.3)"],
    ]
