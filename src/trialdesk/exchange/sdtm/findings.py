"""Findings: IE (criteria not met), VS (vital signs) and LB (safety laboratory tests).

IE holds, as SDTMIG asks, only the criteria a subject did not meet: an inclusion criterion
failed (IEORRES N) or an exclusion criterion met (IEORRES Y), from the eligibility verdicts.
IETESTCD is the protocol's criterion id (I1.., E1.., AGE), as in TI.

VS and LB are one row per test per form record: the test codes, names and units are CDISC
terms (VSTESTCD/VSTEST/VSRESU, LBTESTCD/LBTEST/UNIT). Results are in the units entered (SI),
so the standard result equals the original one. LB gives the site's upper limit of normal
where the form records it. The infection serology (HIV, HBV, HCV, syphilis) belongs to the
microbiology domains (MB/IS) and is not written.

MK holds the knee examination (both knees: range of motion, extension deficit, effusion,
circumferences, laxity, alignment, joint space width) and the Kellgren-Lawrence grade, one row
per knee, MKLAT the index knee's side or the other. CDISC CT 2025-03's MUSCTSCD has no such
terms (ROMEXT is a range of extension, not the deficit the form records), so every MK test
code and name is a sponsor term of the extensible MUSCTSCD/MUSCTS.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from trialdesk.exchange.sdtm.common import (
    EPOCH,
    SUBJECT_IDENTIFIERS,
    VISIT,
    VISITNUM,
    day_variable,
    last_before_exposure,
    seq,
    subject_row,
    visit_columns,
)
from trialdesk.exchange.sdtm.domain import (
    Domain,
    Row,
    Variable,
    flag_last_before_exposure,
    numbered,
    text,
)
from trialdesk.exchange.sdtm.tabulation import Tabulation, iso_date
from trialdesk.exchange.sdtm.terminology import SponsorTerm

IE_VARIABLES = (
    *SUBJECT_IDENTIFIERS,
    seq("IE"),
    Variable(
        "IETESTCD",
        "Inclusion/Exclusion Criterion Short Name",
        "text",
        "Topic",
        "Req",
        8,
        sponsor_codelist=True,
        origin="Protocol",
    ),
    Variable(
        "IETEST",
        "Inclusion/Exclusion Criterion",
        "text",
        "Synonym Qualifier",
        "Req",
        origin="Protocol",
    ),
    Variable(
        "IECAT",
        "Inclusion/Exclusion Category",
        "text",
        "Grouping Qualifier",
        "Req",
        10,
        "IECAT",
        origin="Protocol",
    ),
    Variable(
        "IEORRES", "I/E Criterion Original Result", "text", "Result Qualifier", "Req", 1, "NY"
    ),
    Variable(
        "IESTRESC",
        "I/E Criterion Result in Std Format",
        "text",
        "Result Qualifier",
        "Req",
        1,
        "NY",
        origin="Derived",
    ),
    VISITNUM,
    VISIT,
    EPOCH,
    Variable("IEDTC", "Date/Time of Collection", "date", "Timing", "Perm"),
    day_variable("IEDY", "Study Day of Collection"),
)


def ie_rows(tabulation: Tabulation) -> Iterator[Row]:
    yield from numbered(_ie(tabulation), "IESEQ")


def _ie(tabulation: Tabulation) -> Iterator[Row]:
    screening = tabulation.visits[0].id
    screened_on = {subject["code"]: subject["screened_on"] for subject in tabulation.subjects}
    verdicts = sorted(tabulation.extract.eligibility, key=lambda row: (row["subject"], row["id"]))
    latest = {row["subject"]: row for row in verdicts}
    for subject, verdict in sorted(latest.items()):
        for result in verdict["criteria"]:
            if result.get("result") != "fail":
                continue
            criterion = tabulation.protocol.criterion(result["id"])
            answer = "N" if criterion.type == "inclusion" else "Y"
            date = screened_on.get(subject)
            yield {
                **subject_row(tabulation, "IE", subject),
                "IETESTCD": criterion.id,
                "IETEST": text(criterion.text),
                "IECAT": criterion.type.upper(),
                "IEORRES": answer,
                "IESTRESC": answer,
                **visit_columns(tabulation, screening),
                "IEDTC": iso_date(date),
                "IEDY": tabulation.study_day_of(subject, date),
            }


@dataclass(frozen=True)
class Test:
    """One test of a findings domain: the form item it comes from and its CDISC names."""

    item: str  # the form's item, or score, id
    code: str  # --TESTCD
    name: str  # --TEST
    unit: str  # "" for a qualitative result
    category: str = ""
    upper_limit_item: str | None = None  # the form item holding the site's ULN


VITAL_SIGNS = (
    Test("height_cm", "HEIGHT", "Height", "cm"),
    Test("weight_kg", "WEIGHT", "Weight", "kg"),
    Test("bmi", "BMI", "Body Mass Index", "kg/m2"),
    Test("systolic_bp", "SYSBP", "Systolic Blood Pressure", "mmHg"),
    Test("diastolic_bp", "DIABP", "Diastolic Blood Pressure", "mmHg"),
    Test("pulse", "PULSE", "Pulse Rate", "beats/min"),
    Test("temperature_c", "TEMP", "Temperature", "C"),
)
LAB_TESTS = (
    Test("haemoglobin", "HGB", "Hemoglobin", "g/L", "HEMATOLOGY"),
    Test("leukocytes", "WBC", "Leukocytes", "10^9/L", "HEMATOLOGY"),
    Test("neutrophils", "NEUT", "Neutrophils", "10^9/L", "HEMATOLOGY"),
    Test("platelets", "PLAT", "Platelets", "10^9/L", "HEMATOLOGY"),
    Test("albumin", "ALB", "Albumin", "g/L", "CHEMISTRY"),
    Test("creatinine", "CREAT", "Creatinine", "umol/L", "CHEMISTRY", "creatinine_uln"),
    Test("bilirubin", "BILI", "Bilirubin", "umol/L", "CHEMISTRY", "bilirubin_uln"),
    Test("alt", "ALT", "Alanine Aminotransferase", "U/L", "CHEMISTRY", "alt_uln"),
    Test("ast", "AST", "Aspartate Aminotransferase", "U/L", "CHEMISTRY", "ast_uln"),
    Test("pregnancy_test", "HCG", "Choriogonadotropin Beta", "", "PREGNANCY TEST"),
)
#: Qualitative results as the forms record them -> SDTM's original result.
QUALITATIVE = {"negative": "NEGATIVE", "positive": "POSITIVE"}


def _number_text(value: float | int) -> str:
    return format(value, ".12g") if isinstance(value, float) else str(value)


def _result_variables(prefix: str, unit_codelist: str) -> tuple[Variable, ...]:
    return (
        Variable(
            f"{prefix}ORRES",
            "Result or Finding in Original Units",
            "text",
            "Result Qualifier",
            "Exp",
            40,
        ),
        Variable(
            f"{prefix}ORRESU",
            "Original Units",
            "text",
            "Variable Qualifier",
            "Exp",
            20,
            unit_codelist,
        ),
        Variable(
            f"{prefix}STRESC",
            "Character Result/Finding in Std Format",
            "text",
            "Result Qualifier",
            "Exp",
            40,
            origin="Derived",
        ),
        Variable(
            f"{prefix}STRESN",
            "Numeric Result/Finding in Standard Units",
            "float",
            "Result Qualifier",
            "Exp",
            origin="Derived",
        ),
        Variable(
            f"{prefix}STRESU",
            "Standard Units",
            "text",
            "Variable Qualifier",
            "Exp",
            20,
            unit_codelist,
            origin="Derived",
        ),
    )


def _test_variables(prefix: str, code_label: str, name_label: str) -> tuple[Variable, ...]:
    return (
        Variable(
            f"{prefix}TESTCD",
            code_label,
            "text",
            "Topic",
            "Req",
            8,
            f"{prefix}TESTCD",
            origin="Assigned",
        ),
        Variable(
            f"{prefix}TEST",
            name_label,
            "text",
            "Synonym Qualifier",
            "Req",
            40,
            f"{prefix}TEST",
            origin="Assigned",
        ),
    )


VS_VARIABLES = (
    *SUBJECT_IDENTIFIERS,
    seq("VS"),
    *_test_variables("VS", "Vital Signs Test Short Name", "Vital Signs Test Name"),
    *_result_variables("VS", "VSRESU"),
    last_before_exposure("VS"),
    VISITNUM,
    VISIT,
    EPOCH,
    Variable("VSDTC", "Date/Time of Measurements", "date", "Timing", "Exp"),
    day_variable("VSDY", "Study Day of Vital Signs"),
)
LB_VARIABLES = (
    *SUBJECT_IDENTIFIERS,
    seq("LB"),
    *_test_variables("LB", "Lab Test or Examination Short Name", "Lab Test or Examination Name"),
    Variable(
        "LBCAT",
        "Category for Lab Test",
        "text",
        "Grouping Qualifier",
        "Exp",
        20,
        sponsor_codelist=True,
        origin="Assigned",
    ),
    *_result_variables("LB", "UNIT"),
    Variable(
        "LBORNRLO",
        "Reference Range Lower Limit in Orig Unit",
        "text",
        "Variable Qualifier",
        "Exp",
        20,
    ),
    Variable(
        "LBORNRHI",
        "Reference Range Upper Limit in Orig Unit",
        "text",
        "Variable Qualifier",
        "Exp",
        20,
    ),
    Variable(
        "LBSTNRLO",
        "Reference Range Lower Limit-Std Units",
        "float",
        "Variable Qualifier",
        "Exp",
        origin="Derived",
    ),
    Variable(
        "LBSTNRHI",
        "Reference Range Upper Limit-Std Units",
        "float",
        "Variable Qualifier",
        "Exp",
        origin="Derived",
    ),
    Variable(
        "LBNRIND",
        "Reference Range Indicator",
        "text",
        "Variable Qualifier",
        "Exp",
        10,
        origin="Derived",
    ),
    last_before_exposure("LB"),
    VISITNUM,
    VISIT,
    EPOCH,
    Variable("LBDTC", "Date/Time of Specimen Collection", "date", "Timing", "Exp"),
    day_variable("LBDY", "Study Day of Specimen Collection"),
)


def form_findings(
    tabulation: Tabulation, prefix: str, form: str, tests: tuple[Test, ...]
) -> Iterator[Row]:
    records = sorted(
        (record for record in tabulation.extract.forms if record["form"] == form),
        key=lambda record: (record["subject"], tabulation.visitnum[record["visit_id"]]),
    )
    rows = (
        row for record in records for row in _record_findings(tabulation, prefix, record, tests)
    )
    flagged = flag_last_before_exposure(
        rows, tabulation.first_exposure, prefix, (f"{prefix}TESTCD",)
    )
    yield from numbered(flagged, f"{prefix}SEQ")


def _record_findings(
    tabulation: Tabulation, prefix: str, record: Row, tests: tuple[Test, ...]
) -> Iterator[Row]:
    subject, visit_id = record["subject"], record["visit_id"]
    date = tabulation.visit_dates.get((subject, visit_id))
    values = {**record["values"], **record["scores"]}
    for test in tests:
        value = values.get(test.item)
        if value is None or value == "not_applicable" or isinstance(value, bool):
            continue
        numeric = isinstance(value, int | float)
        original = (
            _number_text(value) if numeric else QUALITATIVE.get(str(value), text(value).upper())
        )
        row = {
            **subject_row(tabulation, prefix, subject),
            f"{prefix}TESTCD": test.code,
            f"{prefix}TEST": test.name,
            f"{prefix}ORRES": original,
            f"{prefix}ORRESU": test.unit if numeric else "",
            f"{prefix}STRESC": original,
            f"{prefix}STRESN": float(value) if numeric else None,
            f"{prefix}STRESU": test.unit if numeric else "",
            **visit_columns(tabulation, visit_id),
            f"{prefix}DTC": iso_date(date),
            f"{prefix}DY": tabulation.study_day_of(subject, date),
        }
        if prefix == "LB":
            limit = values.get(test.upper_limit_item) if test.upper_limit_item else None
            row["LBCAT"] = test.category
            row["LBORNRHI"] = _number_text(limit) if limit is not None else ""
            row["LBSTNRHI"] = float(limit) if limit is not None else None
        yield row


IE = Domain(
    "IE",
    "Inclusion/Exclusion Criteria Not Met",
    "FINDINGS",
    "One record per inclusion/exclusion criterion not met per subject",
    ("STUDYID", "USUBJID", "IETESTCD"),
    IE_VARIABLES,
    ie_rows,
)
VS = Domain(
    "VS",
    "Vital Signs",
    "FINDINGS",
    "One record per vital sign measurement per visit per subject",
    ("STUDYID", "USUBJID", "VSTESTCD", "VISITNUM"),
    VS_VARIABLES,
    lambda tabulation: form_findings(tabulation, "VS", "vitals", VITAL_SIGNS),
)
LB = Domain(
    "LB",
    "Laboratory Test Results",
    "FINDINGS",
    "One record per lab test per visit per subject",
    ("STUDYID", "USUBJID", "LBTESTCD", "VISITNUM"),
    LB_VARIABLES,
    lambda tabulation: form_findings(tabulation, "LB", "labs", LAB_TESTS),
)


@dataclass(frozen=True)
class KneeTest:
    """A measurement of each knee on a form: the item after its knee prefix, and its names."""

    measurement: str  # e.g. flexion_deg, read as index_flexion_deg and contralateral_...
    code: str
    name: str
    unit: str  # "" for a yes/no or a grade
    method: str = ""


KNEE_TESTS = {
    "knee_exam": (
        KneeTest("flexion_deg", "ROMFLX", "Range of Motion, Flexion", "deg"),
        KneeTest("extension_deg", "EXTDEF", "Extension Deficit", "deg"),
        KneeTest("effusion", "EFFUSION", "Joint Effusion", ""),
        KneeTest("knee_circumference_cm", "KNEECIRC", "Knee Circumference at Mid-Patella", "cm"),
        KneeTest("quadriceps_circumference_cm", "THIGHCIR", "Thigh Circumference", "cm"),
        KneeTest("ap_laxity_mm", "APLAX", "Anterior-Posterior Laxity", "mm"),
        KneeTest("alignment_deg", "HKAANGLE", "Hip-Knee-Ankle Alignment, Varus Positive", "deg"),
        KneeTest("joint_space_width_mm", "MINJSW", "Minimum Joint Space Width", "mm", "X-RAY"),
    ),
    "kl_grade": (KneeTest("knee", "KLGRADE", "Kellgren-Lawrence Grade", "", "X-RAY"),),
}
KNEE_SPONSOR_TERMS = tuple(
    SponsorTerm(codelist, value, "CDISC CT 2025-03 has no term for this knee finding")
    for tests in KNEE_TESTS.values()
    for test in tests
    for codelist, value in (("MUSCTSCD", test.code), ("MUSCTS", test.name))
)
OTHER_SIDE = {"LEFT": "RIGHT", "RIGHT": "LEFT"}

MK_VARIABLES = (
    *SUBJECT_IDENTIFIERS,
    seq("MK"),
    Variable(
        "MKTESTCD",
        "Short Name of Musculoskeletal Test",
        "text",
        "Topic",
        "Req",
        8,
        "MUSCTSCD",
        origin="Assigned",
    ),
    Variable(
        "MKTEST",
        "Name of Musculoskeletal Test",
        "text",
        "Synonym Qualifier",
        "Req",
        40,
        "MUSCTS",
        origin="Assigned",
    ),
    *_result_variables("MK", "UNIT"),
    Variable(
        "MKLOC",
        "Location Used for the Measurement",
        "text",
        "Record Qualifier",
        "Perm",
        20,
        "LOC",
        origin="Assigned",
    ),
    Variable("MKLAT", "Laterality", "text", "Variable Qualifier", "Perm", 10, "LAT"),
    Variable(
        "MKMETHOD",
        "Method of Test or Examination",
        "text",
        "Record Qualifier",
        "Perm",
        20,
        "METHOD",
        origin="Assigned",
    ),
    last_before_exposure("MK"),
    VISITNUM,
    VISIT,
    EPOCH,
    Variable("MKDTC", "Date/Time of Collection", "date", "Timing", "Exp"),
    day_variable("MKDY", "Study Day of Collection"),
)


def mk_rows(tabulation: Tabulation) -> Iterator[Row]:
    records = sorted(
        (record for record in tabulation.extract.forms if record["form"] in KNEE_TESTS),
        key=lambda record: (
            record["subject"],
            tabulation.visitnum[record["visit_id"]],
            list(KNEE_TESTS).index(record["form"]),
        ),
    )
    rows = (row for record in records for row in _knee_findings(tabulation, record))
    flagged = flag_last_before_exposure(
        rows, tabulation.first_exposure, "MK", ("MKTESTCD", "MKLAT")
    )
    yield from numbered(flagged, "MKSEQ")


def _knee_findings(tabulation: Tabulation, record: Row) -> Iterator[Row]:
    subject, visit_id = record["subject"], record["visit_id"]
    date = tabulation.visit_dates.get((subject, visit_id))
    index_side = tabulation.index_knee.get(subject, "")
    prefixes = (
        ("index_knee", "contralateral_knee")
        if record["form"] == "kl_grade"
        else ("index_", "contralateral_")
    )
    for test in KNEE_TESTS[record["form"]]:
        for prefix, side in zip(
            prefixes, (index_side, OTHER_SIDE.get(index_side, "")), strict=True
        ):
            item = prefix if record["form"] == "kl_grade" else prefix + test.measurement
            value = record["values"].get(item)
            if value is None:
                continue
            if isinstance(value, bool):
                original, number = ("Y" if value else "N"), None
            else:
                original, number = _number_text(value), float(value)
            unit = test.unit if number is not None else ""
            yield {
                **subject_row(tabulation, "MK", subject),
                "MKTESTCD": test.code,
                "MKTEST": test.name,
                "MKORRES": original,
                "MKORRESU": unit,
                "MKSTRESC": original,
                "MKSTRESN": number,
                "MKSTRESU": unit,
                "MKLOC": "KNEE JOINT",
                "MKLAT": side,
                "MKMETHOD": test.method,
                **visit_columns(tabulation, visit_id),
                "MKDTC": iso_date(date),
                "MKDY": tabulation.study_day_of(subject, date),
            }


MK = Domain(
    "MK",
    "Musculoskeletal System Findings",
    "FINDINGS",
    "One record per assessment per visit per subject",
    ("STUDYID", "USUBJID", "MKTESTCD", "MKLAT", "VISITNUM"),
    MK_VARIABLES,
    mk_rows,
    KNEE_SPONSOR_TERMS,
)
