"""SDTM export against the SDTMIG 3.4 rules that apply to these trials.

The variable lists below are copied from the SDTMIG 3.4 specification tables (the Core
column: Req must be present and populated, Exp must be present), and the rules from its
text (section numbers given), not from the export's declarations. Each seed trial runs,
blinded and unblinded.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from typing import Any

import pytest

from trialdesk.exchange import sdtm
from trialdesk.exchange.source import ExportSource

SUBJECT_DOMAINS = ("DM", "DS", "IE", "EX", "AE", "SV", "QS", "VS", "LB", "MK")

#: SDTMIG 3.4, Core = Req.
REQUIRED = {
    "DM": ("STUDYID", "DOMAIN", "USUBJID", "SUBJID", "SITEID", "SEX", "COUNTRY"),
    "AE": ("STUDYID", "DOMAIN", "USUBJID", "AESEQ", "AETERM", "AEDECOD"),
    "DS": ("STUDYID", "DOMAIN", "USUBJID", "DSSEQ", "DSTERM", "DSDECOD"),
    "EX": ("STUDYID", "DOMAIN", "USUBJID", "EXSEQ", "EXTRT"),
    "IE": (
        "STUDYID", "DOMAIN", "USUBJID", "IESEQ", "IETESTCD", "IETEST", "IECAT", "IEORRES",
        "IESTRESC",
    ),
    "SV": ("STUDYID", "DOMAIN", "USUBJID", "VISITNUM"),
    "QS": ("STUDYID", "DOMAIN", "USUBJID", "QSSEQ", "QSTESTCD", "QSTEST", "QSCAT"),
    "VS": ("STUDYID", "DOMAIN", "USUBJID", "VSSEQ", "VSTESTCD", "VSTEST"),
    "LB": ("STUDYID", "DOMAIN", "USUBJID", "LBSEQ", "LBTESTCD", "LBTEST"),
    "MK": ("STUDYID", "DOMAIN", "USUBJID", "MKSEQ", "MKTESTCD", "MKTEST"),
    "TS": ("STUDYID", "DOMAIN", "TSSEQ", "TSPARMCD", "TSPARM"),
    "TA": ("STUDYID", "DOMAIN", "ARMCD", "ARM", "TAETORD", "ETCD", "EPOCH"),
    "TE": ("STUDYID", "DOMAIN", "ETCD", "ELEMENT", "TESTRL"),
    "TV": ("STUDYID", "DOMAIN", "VISITNUM", "TVSTRL"),
    "TI": ("STUDYID", "DOMAIN", "IETESTCD", "IETEST", "IECAT"),
}  # fmt: skip
#: SDTMIG 3.4, Core = Exp.
EXPECTED = {
    "DM": (
        "RFSTDTC", "RFENDTC", "RFXSTDTC", "RFXENDTC", "RFICDTC", "RFPENDTC", "DTHDTC", "DTHFL",
        "AGE", "AGEU", "RACE", "ARMCD", "ARM", "ACTARMCD", "ACTARM", "ARMNRS", "ACTARMUD",
    ),
    "AE": (
        "AELLT", "AELLTCD", "AEPTCD", "AEHLT", "AEHLTCD", "AEHLGT", "AEHLGTCD", "AEBODSYS",
        "AEBDSYCD", "AESOC", "AESOCCD", "AESER", "AEACN", "AEREL", "AESTDTC", "AEENDTC",
    ),
    "DS": ("DSCAT", "DSSTDTC"),
    "EX": ("EXDOSE", "EXDOSU", "EXDOSFRM", "EXSTDTC", "EXENDTC"),
    "SV": ("SVSTDTC", "SVENDTC"),
    "QS": ("QSORRES", "QSSTRESC", "QSSTRESN", "QSLOBXFL", "VISITNUM", "QSDTC"),
    "VS": (
        "VSORRES", "VSORRESU", "VSSTRESC", "VSSTRESN", "VSSTRESU", "VSLOBXFL", "VISITNUM",
        "VSDTC",
    ),
    "LB": (
        "LBCAT", "LBORRES", "LBORRESU", "LBORNRLO", "LBORNRHI", "LBSTRESC", "LBSTRESN",
        "LBSTRESU", "LBSTNRLO", "LBSTNRHI", "LBNRIND", "LBLOBXFL", "VISITNUM", "LBDTC",
    ),
    "MK": ("MKORRES", "MKSTRESC", "MKSTRESN", "MKLOBXFL", "VISITNUM", "MKDTC"),
    "TS": ("TSVAL", "TSVALCD", "TSVCDREF", "TSVCDVER"),
    "TA": ("TABRANCH", "TATRANS"),
    "TV": ("ARMCD",),
}  # fmt: skip
#: Each date variable and the study day SDTMIG pairs with it.
STUDY_DAYS = {
    "AE": (("AESTDTC", "AESTDY"), ("AEENDTC", "AEENDY")),
    "DS": (("DSSTDTC", "DSSTDY"),),
    "EX": (("EXSTDTC", "EXSTDY"), ("EXENDTC", "EXENDY")),
    "IE": (("IEDTC", "IEDY"),),
    "SV": (("SVSTDTC", "SVSTDY"), ("SVENDTC", "SVENDY")),
    "QS": (("QSDTC", "QSDY"),),
    "VS": (("VSDTC", "VSDY"),),
    "LB": (("LBDTC", "LBDY"),),
    "MK": (("MKDTC", "MKDY"),),
}
#: ISO 8601 as SDTMIG 4.4.2 allows it in --DTC: a date, optionally with a time.
ISO_8601 = re.compile(
    r"^[0-9]{4}(-[0-9]{2}(-[0-9]{2}(T[0-9]{2}(:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?)?)?)?$"
)


@pytest.fixture(scope="module", params=["unblinded", "blinded"])
def written(
    request: pytest.FixtureRequest,
    unblinded: ExportSource,
    blinded: ExportSource,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, list[dict[str, Any]]]:
    """{dataset: [row as {variable: value}]} of one seed trial's export for one reader."""
    source = unblinded if request.param == "unblinded" else blinded
    out = tmp_path_factory.mktemp(f"sdtm-conformance-{request.param}")
    sdtm.write(source, out)
    tables = {}
    for path in sorted(out.glob("*.json")):
        dataset = json.loads(path.read_text(encoding="utf-8"))
        names = [column["name"] for column in dataset["columns"]]
        tables[dataset["name"]] = [dict(zip(names, row, strict=True)) for row in dataset["rows"]]
    return tables


def test_required_variables_are_present_and_populated_expected_ones_present(
    written: dict[str, list[dict[str, Any]]],
) -> None:
    for name, required in REQUIRED.items():
        rows = written[name]
        for variable in required:
            assert variable in rows[0], (name, variable)
            assert all(row[variable] not in ("", None) for row in rows), (name, variable)
        for variable in EXPECTED.get(name, ()):
            assert variable in rows[0], (name, variable)


def test_every_dataset_names_its_study_and_domain(written: dict[str, list[dict[str, Any]]]) -> None:
    studies = {row["STUDYID"] for rows in written.values() for row in rows}
    assert len(studies) == 1
    for name, rows in written.items():
        assert {row["DOMAIN"] for row in rows} == {name}


def test_seq_is_unique_within_each_subject(written: dict[str, list[dict[str, Any]]]) -> None:
    """SDTMIG 4.1.2.8: --SEQ is unique for each record within a domain and USUBJID."""
    for name in SUBJECT_DOMAINS:
        if name in ("DM", "SV") or name not in written:
            continue
        keys = Counter((row["USUBJID"], row[f"{name}SEQ"]) for row in written[name])
        assert max(keys.values()) == 1, name
        assert all(isinstance(seq, int) and seq >= 1 for _subject, seq in keys)
    ts = Counter((row["TSPARMCD"], row["TSSEQ"]) for row in written["TS"])
    assert max(ts.values()) == 1


def test_one_dm_row_per_subject_and_every_usubjid_in_dm(
    written: dict[str, list[dict[str, Any]]],
) -> None:
    """SDTMIG 5.2 (DM): one record per subject; every subject of every domain is in DM."""
    dm = Counter(row["USUBJID"] for row in written["DM"])
    assert max(dm.values()) == 1
    for row in written["DM"]:
        assert row["USUBJID"] == f"{row['STUDYID']}-{row['SUBJID']}"
    for name in SUBJECT_DOMAINS:
        assert {row["USUBJID"] for row in written.get(name, [])} <= set(dm), name


def test_dates_are_iso_8601_and_study_days_follow_them(
    written: dict[str, list[dict[str, Any]]],
) -> None:
    """SDTMIG 4.4.2 (ISO 8601) and 4.4.4 (study day: date - RFSTDTC + 1 on or after the
    reference start, date - RFSTDTC before it; there is no day 0)."""
    for name, rows in written.items():
        for variable in (v for v in rows[0] if v.endswith("DTC")):
            for row in rows:
                value = row[variable]
                assert value == "" or ISO_8601.match(value), (name, variable, value)
                if value:
                    dt.date.fromisoformat(value[:10])
    start = {row["USUBJID"]: row["RFSTDTC"] for row in written["DM"]}
    for name, pairs in STUDY_DAYS.items():
        for row in written.get(name, []):
            for date_variable, day_variable in pairs:
                reference, date = start[row["USUBJID"]], row[date_variable]
                if not reference or not date:
                    assert row[day_variable] is None, (name, day_variable, row)
                    continue
                days = (dt.date.fromisoformat(date) - dt.date.fromisoformat(reference)).days
                assert row[day_variable] == (days + 1 if days >= 0 else days), (name, row)


def _epoch_of_study_day(written: dict[str, list[dict[str, Any]]]) -> Any:
    """The epoch of a study day from TA (element order) and TE (planned durations): the first
    element ends before study day 1 (the reference start); each later one lasts its TEDUR."""
    arm = written["TA"][0]["ARMCD"]
    path = sorted((r for r in written["TA"] if r["ARMCD"] == arm), key=lambda r: r["TAETORD"])
    duration = {row["ETCD"]: row["TEDUR"] for row in written["TE"]}

    def epoch(day: int) -> str:
        if day < 1:
            return path[0]["EPOCH"]
        first = 1
        for element in path[1:]:
            span = re.fullmatch(r"P([0-9]+)D", duration[element["ETCD"]] or "")
            if span is None or day < first + int(span.group(1)):
                return element["EPOCH"]
            first += int(span.group(1))
        return path[-1]["EPOCH"]

    return epoch


def test_visits_and_epochs_are_those_of_the_trial_design(
    written: dict[str, list[dict[str, Any]]], unblinded: ExportSource
) -> None:
    """Every VISITNUM/VISIT of a subject domain is a TV visit; a record's EPOCH is the TA
    epoch in which its visit's planned study day falls (SDTMIG 5.3 and 7.2-7.4)."""
    tv = {row["VISITNUM"]: row for row in written["TV"]}
    assert len(tv) == len(written["TV"])
    protocol_days = sorted(visit.day for visit in unblinded.protocol.visits)
    assert [tv[n]["VISITDY"] for n in sorted(tv)] == [d + 1 if d >= 0 else d for d in protocol_days]
    epoch = _epoch_of_study_day(written)
    epochs = {row["EPOCH"] for row in written["TA"]}
    checked = 0
    for name in SUBJECT_DOMAINS:
        for row in written.get(name, []):
            if "EPOCH" in row and row["EPOCH"]:
                assert row["EPOCH"] in epochs, (name, row["EPOCH"])
            if row.get("VISITNUM") is None:
                continue
            visit = tv[row["VISITNUM"]]
            assert row["VISIT"] == visit["VISIT"], (name, row)
            if "EPOCH" in row:
                assert row["EPOCH"] == epoch(visit["VISITDY"]), (name, row)
                checked += 1
    assert checked > 100
    for row in written.get("AE", []):
        expected = epoch(row["AESTDY"]) if row["AESTDY"] is not None else written["TA"][0]["EPOCH"]
        assert row["EPOCH"] == expected, row


def test_arms_of_dm_are_the_trial_arms_or_null_with_a_reason(
    written: dict[str, list[dict[str, Any]]],
) -> None:
    """SDTMIG 5.2 DM: ARMNRS says why exactly when ARMCD or ACTARMCD is null; ARMCD and
    ACTARMCD are TA's arms; RFXSTDTC/RFXENDTC are the first and last EXSTDTC."""
    arms = {row["ARMCD"]: row["ARM"] for row in written["TA"]}
    for row in written["DM"]:
        assert (row["ARMCD"] == "" or row["ACTARMCD"] == "") == (row["ARMNRS"] != ""), row
        if row["ARMCD"]:
            assert arms[row["ARMCD"]] == row["ARM"]
        if row["ACTARMCD"]:
            assert arms[row["ACTARMCD"]] == row["ACTARM"]
    exposure: dict[str, list[str]] = {}
    for row in written.get("EX", []):
        exposure.setdefault(row["USUBJID"], []).append(row["EXSTDTC"])
    for row in written["DM"]:
        given = exposure.get(row["USUBJID"], [])
        assert row["RFXSTDTC"] == (min(given) if given else "")
        assert row["RFXENDTC"] == (max(given) if given else "")


def test_ie_holds_the_criteria_not_met_as_ti_states_them(
    written: dict[str, list[dict[str, Any]]],
) -> None:
    """SDTMIG 6.3.4 (IE): only the criteria not met; an inclusion not met is N, an exclusion
    met is Y; each criterion is in TI with the same text and category."""
    ti = {row["IETESTCD"]: row for row in written["TI"]}
    for row in written.get("IE", []):
        assert row["IEORRES"] == {"INCLUSION": "N", "EXCLUSION": "Y"}[row["IECAT"]]
        assert row["IESTRESC"] == row["IEORRES"]
        criterion = ti[row["IETESTCD"]]
        assert (row["IETEST"], row["IECAT"]) == (criterion["IETEST"], criterion["IECAT"])


def test_disposition_has_each_subjects_consent_and_one_final_status(
    written: dict[str, list[dict[str, Any]]],
) -> None:
    consent = {
        row["USUBJID"]: row["DSSTDTC"]
        for row in written["DS"]
        if row["DSDECOD"] == "INFORMED CONSENT OBTAINED"
    }
    for row in written["DM"]:
        assert consent[row["USUBJID"]] == row["RFICDTC"]
    final = Counter(row["USUBJID"] for row in written["DS"] if row["DSCAT"] == "DISPOSITION EVENT")
    assert max(final.values()) == 1
    failures = {r["USUBJID"] for r in written["DS"] if r["DSDECOD"] == "SCREEN FAILURE"}
    for row in written["DM"]:
        if row["USUBJID"] in failures:
            assert row["ARMNRS"] == "SCREEN FAILURE" and row["RFSTDTC"] == ""


#: The test a --LOBXFL is kept for, per domain (with the category or side that splits it).
FLAGGED_TESTS = {
    "VS": ("VSTESTCD",),
    "LB": ("LBTESTCD",),
    "QS": ("QSCAT", "QSTESTCD"),
    "MK": ("MKTESTCD", "MKLAT"),
}


def test_last_observation_before_exposure_is_flagged_once_per_test(
    written: dict[str, list[dict[str, Any]]],
) -> None:
    """SDTMIG 3.4 --LOBXFL: "Y" on the last record with a result on or before the first
    exposure (RFXSTDTC), one per subject and test, none for a subject never exposed."""
    exposure = {row["USUBJID"]: row["RFXSTDTC"] for row in written["DM"]}
    for name, keys in FLAGGED_TESTS.items():
        latest: dict[tuple[Any, ...], str] = {}
        flagged: Counter[tuple[Any, ...]] = Counter()
        for row in written[name]:
            test = (row["USUBJID"], *(row[key] for key in keys))
            start = exposure[row["USUBJID"]]
            eligible = start and row[f"{name}ORRES"] and row[f"{name}DTC"] <= start
            if eligible:
                latest[test] = max(latest.get(test, ""), row[f"{name}DTC"])
            if row[f"{name}LOBXFL"] == "Y":
                assert eligible, (name, row)
                flagged[test] += 1
        assert set(flagged) == set(latest), name
        assert set(flagged.values()) == {1}, name
        for row in written[name]:
            if row[f"{name}LOBXFL"] == "Y":
                assert row[f"{name}DTC"] == latest[(row["USUBJID"], *(row[k] for k in keys))]


def test_adverse_events_are_serious_when_a_criterion_is_and_end_after_they_start(
    written: dict[str, list[dict[str, Any]]],
) -> None:
    """SDTMIG 6.2.1 AE assumptions: AESER is Y when any seriousness criterion (AESCONG,
    AESDISAB, AESDTH, AESHOSP, AESLIFE, AESMIE) is Y; an event ends on or after its start."""
    criteria = ("AESCONG", "AESDISAB", "AESDTH", "AESHOSP", "AESLIFE", "AESMIE")
    for row in written.get("AE", []):
        if any(row[flag] == "Y" for flag in criteria):
            assert row["AESER"] == "Y", row
        if row["AESTDTC"] and row["AEENDTC"]:
            assert row["AEENDTC"] >= row["AESTDTC"], row
