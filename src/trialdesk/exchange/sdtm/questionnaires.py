"""QS: questionnaire items and scores (WOMAC, KOOS, NRS and VAS pain, the daily pain diary).

Terminology (CDISC CT 2025-03): QSCAT has WOMAC LK 3.1 INDEX (C122384) but no item test
codes for WOMAC (its wording is licensed); KOOS, a pain NRS, a pain VAS and a daily pain
diary have neither a category nor test codes. QSCAT is extensible, so KOOS, PAIN NRS, PAIN
VAS and PAIN DIARY are sponsor terms (def:ExtendedValue in define.xml), and every QSTESTCD
here is sponsor-defined: an instrument prefix and the item id (WOMAC P1 -> WOMP1, KOOS SP1 ->
KOOSSP1, diary day 12 -> PDDAY12), or the prefix and an abbreviation of a score. QSTEST is the
instrument's item or score label, cut to 40 characters.

One row per answered item and per computed score of each form record; an item with options
gives its option label as QSORRES and its value as QSSTRESC/QSSTRESN. A score whose method
only copies an item (NRS, VAS) is the item's row and is not repeated. The pain diary's rows
are dated on the day they rate (day 1 = the day after the injection); their visit is the
diary's return visit.
"""

from __future__ import annotations

import datetime as dt
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
from trialdesk.instruments.catalogue import get_instrument
from trialdesk.instruments.definition import Instrument


@dataclass(frozen=True)
class Questionnaire:
    instrument: str
    category: str  # QSCAT
    prefix: str  # of every QSTESTCD
    scores: dict[str, str]  # score id -> QSTESTCD suffix (scores not listed are not written)
    daily: bool = False  # the items rate consecutive days (the diary)


QUESTIONNAIRES = (
    Questionnaire(
        "womac",
        "WOMAC LK 3.1 INDEX",
        "WOM",
        {
            "pain": "PAIN",
            "stiffness": "STIFF",
            "function": "FUNC",
            "total": "TOTAL",
            "pain_100": "PN100",
            "stiffness_100": "ST100",
            "function_100": "FN100",
            "total_100": "TT100",
        },
    ),
    Questionnaire(
        "koos",
        "KOOS",
        "KOOS",
        {"pain": "PAIN", "symptoms": "SYMP", "adl": "ADL", "sport_rec": "SPRT", "qol": "QOL"},
    ),
    Questionnaire("nrs_pain", "PAIN NRS", "NRS", {}),
    Questionnaire("vas_pain", "PAIN VAS", "VAS", {}),
    Questionnaire(
        "pain_diary",
        "PAIN DIARY",
        "PD",
        {
            "days_reported": "NDAYS",
            "mean": "MEAN",
            "max": "MAX",
            "auc": "AUC",
            "days_nrs_ge_4": "NGE4",
        },
        daily=True,
    ),
)
SPONSOR_CATEGORIES = tuple(
    SponsorTerm("QSCAT", questionnaire.category, "CDISC CT 2025-03 has no category for it")
    for questionnaire in QUESTIONNAIRES
    if questionnaire.instrument != "womac"
)

QS_VARIABLES = (
    *SUBJECT_IDENTIFIERS,
    seq("QS"),
    Variable(
        "QSTESTCD",
        "Question Short Name",
        "text",
        "Topic",
        "Req",
        8,
        sponsor_codelist=True,
        origin="Assigned",
    ),
    Variable(
        "QSTEST",
        "Question Name",
        "text",
        "Synonym Qualifier",
        "Req",
        40,
        sponsor_codelist=True,
        origin="Assigned",
    ),
    Variable(
        "QSCAT",
        "Category of Question",
        "text",
        "Grouping Qualifier",
        "Req",
        40,
        "QSCAT",
        origin="Assigned",
    ),
    Variable("QSORRES", "Finding in Original Units", "text", "Result Qualifier", "Exp"),
    Variable(
        "QSSTRESC",
        "Character Result/Finding in Std Format",
        "text",
        "Result Qualifier",
        "Exp",
        origin="Derived",
    ),
    Variable(
        "QSSTRESN",
        "Numeric Finding in Standard Units",
        "float",
        "Result Qualifier",
        "Exp",
        origin="Derived",
    ),
    last_before_exposure("QS"),
    VISITNUM,
    VISIT,
    EPOCH,
    Variable("QSDTC", "Date/Time of Finding", "date", "Timing", "Exp"),
    day_variable("QSDY", "Study Day of Finding"),
)


def _number_text(value: float | int) -> str:
    return format(value, ".12g") if isinstance(value, float) else str(value)


def test_codes(questionnaire: Questionnaire) -> dict[str, tuple[str, str]]:
    """Item or score id -> (QSTESTCD, QSTEST) of one questionnaire."""
    instrument = get_instrument(questionnaire.instrument)
    codes = {
        item.id: (_item_code(questionnaire.prefix, item.id), text(item.label, 40))
        for item in instrument.items
    }
    for score in instrument.scores:
        if score.id in questionnaire.scores:
            codes[score.id] = (
                questionnaire.prefix + questionnaire.scores[score.id],
                text(score.label, 40),
            )
    return codes


def _item_code(prefix: str, item_id: str) -> str:
    """The instrument prefix and the item id; a single-item scale's item is the prefix alone."""
    return prefix if item_id.upper() == prefix else prefix + item_id.upper()


def qs_rows(tabulation: Tabulation) -> Iterator[Row]:
    by_form = {questionnaire.instrument: questionnaire for questionnaire in QUESTIONNAIRES}
    codes = {name: test_codes(questionnaire) for name, questionnaire in by_form.items()}
    records = sorted(
        (record for record in tabulation.extract.forms if record["form"] in by_form),
        key=lambda record: (
            record["subject"],
            tabulation.visitnum[record["visit_id"]],
            list(by_form).index(record["form"]),
        ),
    )
    rows = (
        row
        for record in records
        for row in _record_rows(tabulation, by_form[record["form"]], codes[record["form"]], record)
    )
    flagged = flag_last_before_exposure(
        rows, tabulation.first_exposure, "QS", ("QSCAT", "QSTESTCD")
    )
    yield from numbered(flagged, "QSSEQ")


def _record_rows(
    tabulation: Tabulation,
    questionnaire: Questionnaire,
    codes: dict[str, tuple[str, str]],
    record: Row,
) -> Iterator[Row]:
    instrument: Instrument = get_instrument(questionnaire.instrument)
    subject, visit_id = record["subject"], record["visit_id"]
    visit_date = tabulation.visit_dates.get((subject, visit_id))
    timing = visit_columns(tabulation, visit_id)
    for item in instrument.items:
        value = record["values"].get(item.id)
        if value is None or isinstance(value, bool):
            continue
        labels = {option.value: option.label for option in item.options}
        date = _rated_on(tabulation, subject, item.id) if questionnaire.daily else visit_date
        yield _row(
            tabulation,
            questionnaire,
            codes[item.id],
            subject,
            timing,
            date,
            text(labels[value]).upper() if value in labels else _number_text(value),
            value,
        )
    for score_id in questionnaire.scores:
        value = record["scores"].get(score_id)
        if value is None or isinstance(value, bool):
            continue
        yield _row(
            tabulation,
            questionnaire,
            codes[score_id],
            subject,
            timing,
            visit_date,
            _number_text(value),
            value,
        )


def _rated_on(tabulation: Tabulation, subject: str, item_id: str) -> dt.date | None:
    start = tabulation.reference_start.get(subject)
    day = int(item_id.removeprefix("day"))
    return start + dt.timedelta(days=day) if start is not None else None


def _row(
    tabulation: Tabulation,
    questionnaire: Questionnaire,
    code: tuple[str, str],
    subject: str,
    timing: Row,
    date: dt.date | None,
    original: str,
    value: float | int | str,
) -> Row:
    numeric = isinstance(value, int | float)
    return {
        **subject_row(tabulation, "QS", subject),
        "QSTESTCD": code[0],
        "QSTEST": code[1],
        "QSCAT": questionnaire.category,
        "QSORRES": original,
        "QSSTRESC": _number_text(value) if numeric else original,
        "QSSTRESN": float(value) if numeric else None,
        **timing,
        "QSDTC": iso_date(date),
        "QSDY": tabulation.study_day_of(subject, date),
    }


QS = Domain(
    "QS",
    "Questionnaires",
    "FINDINGS",
    "One record per questionnaire per question per time point per visit per subject",
    ("STUDYID", "USUBJID", "QSCAT", "QSTESTCD", "VISITNUM"),
    QS_VARIABLES,
    qs_rows,
    SPONSOR_CATEGORIES,
)
