"""SDTM export: the files against the official schemas and CDISC's own examples.

Outside references: the Dataset-JSON 1.1 schema and CDISC's example datasets
(../shared/reference/sdtm), the Define-XML 2.1 schema shipped inside odmlib, two independent
XPT readers (pyreadstat and pandas.read_sas), the full CDISC CT 2025-03 release (the tar.xz,
not the package's subset) and the extract's rows. Each seed trial runs (the fixtures'
parameters), blinded and unblinded.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
import math
import re
import shutil
import subprocess
import sys
import tarfile
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pandas as pd
import pyreadstat
import pytest
import xmlschema
from lxml import etree

from support.exchange_trial import _environment, store_home
from trialdesk.errors import BadInput
from trialdesk.exchange import sdtm
from trialdesk.exchange.sdtm.domain import Domain, Variable
from trialdesk.exchange.sdtm.xpt import XptFile
from trialdesk.exchange.source import ExportSource, StoredBatches

#: ../shared/reference/sdtm beside the repository (CI always has it; tests/conftest.py).
REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "sdtm"
EXAMPLES = REFERENCE / "cdisc-dataset-json-examples"
ODM = "{http://www.cdisc.org/ns/odm/v1.3}"
DEF = "{http://www.cdisc.org/ns/def/v2.1}"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"


def datasets(directory: Path) -> dict[str, dict[str, Any]]:
    return {
        path.stem.upper(): json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(directory.glob("*.json"))
    }


def records(dataset: dict[str, Any]) -> list[dict[str, Any]]:
    names = [column["name"] for column in dataset["columns"]]
    return [dict(zip(names, row, strict=True)) for row in dataset["rows"]]


@pytest.fixture(scope="module")
def exports(
    unblinded: ExportSource, blinded: ExportSource, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """{"unblinded": DIR, "blinded": DIR} of one seed trial's SDTM export."""
    directories = {}
    for name, source in (("unblinded", unblinded), ("blinded", blinded)):
        out = tmp_path_factory.mktemp(f"sdtm-{source.protocol.id}-{name}")
        written = sdtm.write(source, out)
        assert sorted(written) == sorted(out.iterdir())
        directories[name] = out
    return directories


@pytest.fixture(scope="module", params=["unblinded", "blinded"])
def export(request: pytest.FixtureRequest, exports: dict[str, Path]) -> Path:
    return exports[request.param]


# ---------------------------------------------------------------- Dataset-JSON


def test_every_dataset_json_is_valid_against_the_official_schema(export: Path) -> None:
    schema = json.loads((REFERENCE / "dataset.schema.json").read_text())
    validator = jsonschema.Draft201909Validator(schema)
    written = datasets(export)
    assert {
        "DM",
        "DS",
        "EX",
        "AE",
        "SV",
        "QS",
        "VS",
        "LB",
        "MK",
        "TS",
        "TE",
        "TA",
        "TV",
        "TI",
    } <= set(written)
    for name, dataset in written.items():
        errors = [error.message for error in validator.iter_errors(dataset)]
        assert errors == [], name
        assert dataset["records"] == len(dataset["rows"]) > 0
        assert dataset["name"] == name and dataset["itemGroupOID"] == f"IG.{name}"


def test_dataset_json_values_have_their_columns_types(export: Path) -> None:
    """The schema does not type the rows' values (its Row is an array with object keywords),
    so each value is checked against its column's dataType here."""
    iso_date = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
    for name, dataset in datasets(export).items():
        for column, values in zip(
            dataset["columns"], zip(*dataset["rows"], strict=True), strict=True
        ):
            kind = column["dataType"]
            for value in values:
                if kind == "string":
                    assert isinstance(value, str), (name, column["name"], value)
                    assert len(value) <= column["length"], (name, column["name"], value)
                elif kind == "integer":
                    assert value is None or type(value) is int, (name, column["name"], value)
                elif kind in ("float", "double", "decimal"):
                    assert value is None or type(value) in (int, float), (name, column["name"])
                elif kind == "date":
                    assert value == "" or iso_date.match(value), (name, column["name"], value)
                else:
                    pytest.fail(f"{name}.{column['name']}: unexpected dataType {kind}")


def test_dataset_json_has_the_metadata_cdisc_examples_have(export: Path) -> None:
    example = json.loads((EXAMPLES / "dm.json").read_text())
    ours = datasets(export)["DM"]
    assert set(example) - {"rows"} <= set(ours)
    assert ours["datasetJSONVersion"].startswith("1.1")
    assert ours["metaDataRef"] == "define.xml"
    for column in ours["columns"]:
        assert {"itemOID", "name", "label", "dataType"} <= set(column)


#: Columns SDTMIG 3.4 permits that CDISC's (SDTMIG 3.3) examples do not use.
PERMISSIBLE_EXTRA = {"TV": {"VISITDY"}, "TE": {"TEDUR"}, "TA": set(), "TS": set(), "TI": set()}


@pytest.mark.parametrize("name", sorted(PERMISSIBLE_EXTRA))
def test_trial_design_columns_are_cdisc_examples(export: Path, name: str) -> None:
    example = json.loads((EXAMPLES / f"{name.lower()}.json").read_text())
    ours = datasets(export)[name]
    theirs = [column["name"] for column in example["columns"]]
    mine = [column["name"] for column in ours["columns"]]
    assert set(mine) - set(theirs) == PERMISSIBLE_EXTRA[name]
    assert [column for column in mine if column in theirs] == theirs
    types = {column["name"]: column["dataType"] for column in example["columns"]}
    for column in ours["columns"]:
        if column["name"] in types:
            assert column["dataType"] == types[column["name"]], (name, column["name"])


# ---------------------------------------------------------------- XPT


#: pandas' XPORT reader turns the IBM zero (eight zero bytes) into 16**-65 (5.4e-79) instead
#: of 0; `test_xpt_zero_is_the_ibm_zero` shows the bytes are the canonical zero.
PANDAS_ZERO = 16.0**-65


def _equal(read: Any, written: Any, zero: float = 0.0) -> bool:
    if written is None:
        return read is None or (isinstance(read, float) and math.isnan(read))
    if isinstance(written, str):
        return (read if isinstance(read, str) else "") == written
    return float(read) == float(written) or (written == 0 and abs(float(read)) == zero)


def test_every_xpt_reads_back_with_pyreadstat_and_pandas_as_the_json_rows(export: Path) -> None:
    for name, dataset in datasets(export).items():
        path = export / f"{name.lower()}.xpt"
        frame, meta = pyreadstat.read_xport(str(path))
        assert meta.table_name == name
        assert meta.file_label == dataset["label"]
        assert meta.column_names == [column["name"] for column in dataset["columns"]]
        assert meta.column_labels == [column["label"] for column in dataset["columns"]]
        by_pandas = pd.read_sas(str(path), format="xport", encoding="utf-8")
        assert list(by_pandas.columns) == meta.column_names
        assert len(frame) == len(by_pandas) == dataset["records"]
        for number, row in enumerate(dataset["rows"]):
            for column, value in zip(meta.column_names, row, strict=True):
                assert _equal(frame.at[number, column], value), (name, number, column, value)
                assert _equal(by_pandas.at[number, column], value, PANDAS_ZERO), (
                    name,
                    number,
                    column,
                )


#: Where a header holds the instant a file was made (SAS TS-140): the library header's created
#: and modified stamps, then the member header's, 16 bytes each. pyreadstat writes the time it
#: runs; the export writes its own instant, so the two files differ there only.
STAMPS = (80 + 64, 160, 5 * 80 + 64, 6 * 80)


def _masked(content: bytes) -> bytes:
    for offset in STAMPS:
        content = content[:offset] + b"*" * 16 + content[offset + 16 :]
    return content


def test_every_xpt_is_the_file_pyreadstat_writes_of_the_json_rows(
    export: Path, tmp_path: Path
) -> None:
    """The same frame written by pyreadstat (ReadStat's XPT v5 writer): character columns
    as wide as their longest value, numbers as IBM doubles, the same bytes but the stamps
    (ours the instant of the Dataset-JSON's creation, in SAS's ddMMMyy:hh:mm:ss)."""
    for name, dataset in datasets(export).items():
        created = dt.datetime.fromisoformat(dataset["datasetJSONCreationDateTime"])
        stamp = created.strftime("%d%b%y:%H:%M:%S").upper()
        columns = dataset["columns"]
        frame = pd.DataFrame(
            {
                column["name"]: pd.Series(
                    [row[number] for row in dataset["rows"]],
                    dtype="object" if column["dataType"] in ("string", "date") else "float64",
                )
                for number, column in enumerate(columns)
            }
        )
        theirs = tmp_path / f"{name.lower()}.xpt"
        pyreadstat.write_xport(
            frame,
            str(theirs),
            file_label=dataset["label"],
            column_labels=[column["label"] for column in columns],
            table_name=name,
            file_format_version=5,
        )
        ours = (export / f"{name.lower()}.xpt").read_bytes()
        assert _masked(ours) == _masked(theirs.read_bytes()), name
        assert [ours[offset : offset + 16].decode() for offset in STAMPS] == [stamp] * 4


def test_xpt_numbers_and_text_beyond_the_trials_are_pyreadstats_bytes(tmp_path: Path) -> None:
    """Values the trials do not have: negative, tiny and large numbers, a missing number, a
    column of empty values, multi-byte text (its width in bytes), a line break in a value."""
    variables = (
        Variable("NUMBER", "A number", "float", "Result Qualifier", "Perm"),
        Variable("EMPTY", "Always empty", "text", "Record Qualifier", "Perm"),
        Variable("WORDS", "Some words", "text", "Record Qualifier", "Perm"),
    )
    domain = Domain("ZZ", "Values", "FINDINGS", "One record per value", (), variables, list)
    numbers = [0.0, -0.0, 1.0, -1.0, 0.1, 1 / 3, -2.5e-5, 123456789.125, 1e-70, 5e70, None]
    rows = [
        {"NUMBER": number, "EMPTY": "", "WORDS": ("genou 、膝\n" * position)[:40]}
        for position, number in enumerate(numbers)
    ]
    created = dt.datetime(2026, 12, 4, 14, 30, 38, tzinfo=dt.UTC)
    ours = XptFile(tmp_path / "ours.xpt", domain, created)
    for row in rows:
        ours.add(row)
    ours.write([row[variable.name] for variable in variables] for row in rows)
    frame = pd.DataFrame(
        {
            "NUMBER": pd.Series([row["NUMBER"] for row in rows], dtype="float64"),
            "EMPTY": pd.Series([row["EMPTY"] for row in rows], dtype="object"),
            "WORDS": pd.Series([row["WORDS"] for row in rows], dtype="object"),
        }
    )
    theirs = tmp_path / "theirs.xpt"
    pyreadstat.write_xport(
        frame,
        str(theirs),
        file_label="Values",
        column_labels=[variable.label for variable in variables],
        table_name="ZZ",
        file_format_version=5,
    )
    assert _masked(ours.path.read_bytes()) == _masked(theirs.read_bytes())


def test_xpt_zero_is_the_ibm_zero(export: Path) -> None:
    """A zero in a SAS transport file is eight zero bytes (SAS TS-140's IBM double); the
    first numeric zero of VS..QS is found by its position in the observation."""
    for name in ("QS",):
        path = export / f"{name.lower()}.xpt"
        frame, meta = pyreadstat.read_xport(str(path))
        content = path.read_bytes()
        data = content[content.rindex(b"HEADER RECORD*******OBS     HEADER RECORD!!!!!!!") + 80 :]
        widths = [meta.variable_storage_width[column] for column in meta.column_names]
        width = sum(widths)
        column = "QSSTRESN"
        zero_rows = frame.index[frame[column] == 0]
        assert len(zero_rows) > 0
        offset = zero_rows[0] * width + sum(widths[: meta.column_names.index(column)])
        assert data[offset : offset + 8] == bytes(8)


def test_xpt_keeps_the_version_5_limits(export: Path) -> None:
    for path in sorted(export.glob("*.xpt")):
        assert path.read_bytes().startswith(b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!")
        frame, meta = pyreadstat.read_xport(str(path))
        assert len(meta.table_name) <= 8
        assert all(len(name) <= 8 for name in meta.column_names)
        assert all(len(label) <= 40 for label in meta.column_labels)
        assert max(meta.variable_storage_width.values()) <= 200, path.name  # bytes
        for column in frame.columns:
            if frame[column].dtype == object:
                widest = frame[column].map(lambda value: len(value.encode("utf-8"))).max()
                assert widest <= 200, (path.name, column)


# ---------------------------------------------------------------- define.xml


@cache
def define_schema() -> xmlschema.XMLSchema:
    location = resources.files("odmlib") / "schemas" / "define" / "2.1" / "define2-1-0.xsd"
    return xmlschema.XMLSchema(str(location))


def test_define_xml_is_valid_against_the_define_2_1_schema(export: Path) -> None:
    errors = [
        str(error.reason) for error in define_schema().iter_errors(str(export / "define.xml"))
    ]
    assert errors == []


def test_the_define_schema_catches_an_invalid_document() -> None:
    """A control: CDISC's own example define.xml names its standard 'STDTMIG' (sic), which the
    schema's enumeration refuses."""
    errors = list(define_schema().iter_errors(str(EXAMPLES / "define.xml")))
    assert errors and any("STDTMIG" in str(error) for error in errors)


def test_define_names_every_dataset_and_variable_written(export: Path) -> None:
    tree = etree.parse(str(export / "define.xml"))
    version = tree.find(f"{ODM}Study/{ODM}MetaDataVersion")
    items = {item.get("OID"): item for item in version.iter(f"{ODM}ItemDef")}
    groups = {group.get("Name"): group for group in version.iter(f"{ODM}ItemGroupDef")}
    written = datasets(export)
    assert set(groups) == set(written)
    for name, dataset in written.items():
        group = groups[name]
        refs = group.findall(f"{ODM}ItemRef")
        assert [ref.get("ItemOID") for ref in refs] == [c["itemOID"] for c in dataset["columns"]]
        assert [items[ref.get("ItemOID")].get("Name") for ref in refs] == [
            column["name"] for column in dataset["columns"]
        ]
        leaf = group.find(f"{DEF}leaf")
        assert (export / leaf.get(XLINK_HREF)).is_file()
        label = group.find(f"{ODM}Description/{ODM}TranslatedText").text
        assert label == dataset["label"]


def test_define_codelists_hold_every_coded_value_written(export: Path) -> None:
    tree = etree.parse(str(export / "define.xml"))
    version = tree.find(f"{ODM}Study/{ODM}MetaDataVersion")
    codelists = {
        codelist.get("OID"): {item.get("CodedValue") for item in codelist}
        for codelist in version.iter(f"{ODM}CodeList")
    }
    coded = 0
    for name, dataset in datasets(export).items():
        for column in dataset["columns"]:
            item = version.find(f"{ODM}ItemDef[@OID='{column['itemOID']}']")
            ref = item.find(f"{ODM}CodeListRef")
            if ref is None:
                continue
            coded += 1
            values = {row[column["name"]] for row in records(dataset)} - {"", None}
            assert {str(value) for value in values} <= codelists[ref.get("CodeListOID")], (
                name,
                column["name"],
            )
    assert coded > 20


# ---------------------------------------------------------------- terminology


@cache
def full_terminology() -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, str]]]:
    """({codelist submission value: codelist row}, {codelist code: {term: term code}}) of the
    full NCI EVS release."""
    with tarfile.open(REFERENCE / "SDTM_Terminology_2025-03-25.txt.tar.xz") as archive:
        member = next(m for m in archive.getmembers() if m.name.endswith(".txt"))
        text = archive.extractfile(member).read().decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text), delimiter="\t"))
    heads = {row["CDISC Submission Value"]: row for row in rows if not row["Codelist Code"]}
    terms: dict[str, dict[str, str]] = {}
    for row in rows:
        if row["Codelist Code"]:
            terms.setdefault(row["Codelist Code"], {})[row["CDISC Submission Value"]] = row["Code"]
    return heads, terms


#: Which CDISC codelist each coded variable takes its values from (SDTMIG 3.4, CT 2025-03).
CODELISTS = {
    "DOMAIN": "DOMAIN",
    "EPOCH": "EPOCH",
    "SEX": "SEX",
    "AGEU": "AGEU",
    "RACE": "RACE",
    "DTHFL": "NY",
    "ARMNRS": "ARMNULRS",
    "AESER": "NY",
    "AESDTH": "NY",
    "AESLIFE": "NY",
    "AESHOSP": "NY",
    "AESDISAB": "NY",
    "AESCONG": "NY",
    "AESMIE": "NY",
    "AEACN": "ACN",
    "AEOUT": "OUT",
    "DSCAT": "DSCAT",
    "IECAT": "IECAT",
    "IEORRES": "NY",
    "IESTRESC": "NY",
    "EXROUTE": "ROUTE",
    "EXDOSFRM": "FRM",
    "EXLOC": "LOC",
    "EXLAT": "LAT",
    "EXDOSU": "UNIT",
    "VSTESTCD": "VSTESTCD",
    "VSTEST": "VSTEST",
    "VSORRESU": "VSRESU",
    "VSSTRESU": "VSRESU",
    "VSLOBXFL": "NY",
    "LBTESTCD": "LBTESTCD",
    "LBTEST": "LBTEST",
    "LBORRESU": "UNIT",
    "LBSTRESU": "UNIT",
    "LBLOBXFL": "NY",
    "QSCAT": "QSCAT",
    "MKTESTCD": "MUSCTSCD",
    "MKTEST": "MUSCTS",
    "MKORRESU": "UNIT",
    "MKSTRESU": "UNIT",
    "MKLOC": "LOC",
    "MKLAT": "LAT",
    "MKMETHOD": "METHOD",
    "MKLOBXFL": "NY",
    "QSLOBXFL": "NY",
    "TSPARMCD": "TSPARMCD",
    "TSPARM": "TSPARM",
}
#: DSDECOD's codelist follows DSCAT (SDTMIG 3.4 DS assumptions).
DSDECOD_BY_DSCAT = {"PROTOCOL MILESTONE": "PROTMLST", "DISPOSITION EVENT": "NCOMPLT"}
#: TSVAL's codelist per parameter (SDTMIG 3.4 appendix C1, trial summary codes).
TSVAL_BY_PARAMETER = {
    "TPHASE": "TPHASE",
    "STYPE": "STYPE",
    "RANDOM": "NY",
    "TBLIND": "TBLIND",
    "INTMODEL": "INTMODEL",
    "TCNTRL": "TCNTRL",
    "TINDTP": "TINDTP",
    "TTYPE": "TTYPE",
    "SEXPOP": "SEXPOP",
    "HLTSUBJI": "NY",
    "INTTYPE": "INTTYPE",
    "ROUTE": "ROUTE",
}


def _extended_values(export: Path) -> set[tuple[str, str]]:
    """(CodeList OID, value) of every item define.xml flags def:ExtendedValue="Yes"."""
    tree = etree.parse(str(export / "define.xml"))
    return {
        (item.getparent().get("OID"), item.get("CodedValue"))
        for item in tree.iter(f"{ODM}EnumeratedItem", f"{ODM}CodeListItem")
        if item.get(f"{DEF}ExtendedValue") == "Yes"
    }


def test_coded_values_are_cdisc_terms_or_flagged_sponsor_terms_of_extensible_codelists(
    export: Path,
) -> None:
    heads, terms = full_terminology()
    extended = _extended_values(export)
    checked = sponsor = 0
    for name, dataset in datasets(export).items():
        for row in records(dataset):
            for variable, value in row.items():
                if variable == "DSDECOD":
                    codelist = DSDECOD_BY_DSCAT[row["DSCAT"]]
                elif variable == "TSVAL":
                    codelist = TSVAL_BY_PARAMETER.get(row["TSPARMCD"])
                else:
                    codelist = CODELISTS.get(variable)
                if codelist is None or value in ("", None):
                    continue
                head = heads[codelist]
                checked += 1
                if value in terms[head["Code"]]:
                    continue
                sponsor += 1
                assert head["Codelist Extensible (Yes/No)"] == "Yes", (name, variable, value)
                assert (f"CL.{name}.{variable}", value) in extended, (name, variable, value)
    assert checked > 1000
    assert sponsor > 0  # KOOS, PAIN NRS/VAS/DIARY in QSCAT at least


def test_codes_written_are_the_terms_cdisc_codes(export: Path) -> None:
    """TSVALCD, and every nci:ExtCodeID alias of define.xml, is the C-code the full release
    gives the value; a test code and its name (VSTESTCD/VSTEST, LBTESTCD/LBTEST) are one term."""
    heads, terms = full_terminology()
    for row in records(datasets(export)["TS"]):
        codelist = TSVAL_BY_PARAMETER.get(row["TSPARMCD"])
        expected = terms[heads[codelist]["Code"]][row["TSVAL"]] if codelist else ""
        assert row["TSVALCD"] == expected, row
        assert row["TSPARM"] in terms[heads["TSPARM"]["Code"]]
        parm_code = terms[heads["TSPARM"]["Code"]][row["TSPARM"]]
        assert terms[heads["TSPARMCD"]["Code"]][row["TSPARMCD"]] == parm_code
    for prefix in ("VS", "LB"):
        for row in records(datasets(export)[prefix]):
            code = terms[heads[f"{prefix}TESTCD"]["Code"]][row[f"{prefix}TESTCD"]]
            assert terms[heads[f"{prefix}TEST"]["Code"]][row[f"{prefix}TEST"]] == code
    tree = etree.parse(str(export / "define.xml"))
    every_term = {code for codelist in terms.values() for code in codelist.values()}
    codelist_codes = {head["Code"] for head in heads.values()}
    aliases = [alias.get("Name") for alias in tree.iter(f"{ODM}Alias")]
    assert aliases and set(aliases) <= every_term | codelist_codes


def test_womac_is_cdiscs_category_and_koos_a_flagged_sponsor_category(export: Path) -> None:
    qs = records(datasets(export)["QS"])
    categories = {row["QSCAT"] for row in qs}
    heads, terms = full_terminology()
    qscat = terms[heads["QSCAT"]["Code"]]
    assert qscat.get("WOMAC LK 3.1 INDEX") == "C122384"  # the reference README's code
    extended = _extended_values(export)
    if "WOMAC LK 3.1 INDEX" in categories:
        assert ("CL.QS.QSCAT", "WOMAC LK 3.1 INDEX") not in extended
    if "KOOS" in categories:
        assert "KOOS" not in qscat and ("CL.QS.QSCAT", "KOOS") in extended
    tree = etree.parse(str(export / "define.xml"))
    testcd = tree.find(f".//{ODM}CodeList[@OID='CL.QS.QSTESTCD']")
    assert testcd.get(f"{DEF}IsNonStandard") == "Yes"  # no CDISC codelist: sponsor-defined
    comment = tree.find(f".//{DEF}CommentDef[@OID='{testcd.get(f'{DEF}CommentOID')}']")
    assert "Sponsor-defined" in "".join(comment.itertext())
    decodes = {
        item.get("CodedValue"): item.find(f"{ODM}Decode/{ODM}TranslatedText").text
        for item in testcd.iter(f"{ODM}CodeListItem")
    }
    assert decodes == {row["QSTESTCD"]: row["QSTEST"] for row in qs}


# ---------------------------------------------------------------- what the rows hold


def test_questionnaire_rows_are_the_form_records_answers(
    exports: dict[str, Path], unblinded: ExportSource
) -> None:
    """Each QS result of a form record equals the record's item value (a hand-built map of the
    test codes: instrument prefix and item id)."""
    prefixes = {
        "womac": "WOM",
        "koos": "KOOS",
        "pain_diary": "PD",
        "nrs_pain": "NRS",
        "vas_pain": "VAS",
    }
    qs = records(datasets(exports["unblinded"])["QS"])
    by_key = {(row["USUBJID"], row["VISITNUM"], row["QSTESTCD"]): row for row in qs}
    visitnum = {
        visit.id: number
        for number, visit in enumerate(sorted(unblinded.protocol.visits, key=lambda v: v.day), 1)
    }
    studyid = unblinded.protocol.identifiers.org_study_id
    compared = 0
    for record in unblinded.whole().extract.forms:
        prefix = prefixes.get(record["form"])
        if prefix is None:
            continue
        for item, value in record["values"].items():
            if value is None:  # a day the diary was not filled: no row
                continue
            code = prefix if item.upper() == prefix else prefix + item.upper()
            row = by_key[(f"{studyid}-{record['subject']}", visitnum[record["visit_id"]], code)]
            assert row["QSSTRESN"] == value
            compared += 1
    assert compared > 100


def test_counts_are_the_extracts(exports: dict[str, Path], unblinded: ExportSource) -> None:
    written = datasets(exports["unblinded"])
    extract = unblinded.whole().extract
    assert written["DM"]["records"] == len(extract.subjects)
    assert written["AE"]["records"] == len(extract.adverse_events)
    assert written["SV"]["records"] == sum(
        1 for visit in extract.visits if visit["status"] == "done" and visit["actual_date"]
    )
    assert written["EX"]["records"] == len(extract.administrations)
    assert written["TI"]["records"] == len(unblinded.protocol.eligibility.criteria)
    assert written["TV"]["records"] == len(unblinded.protocol.visits)


#: SDTMIG 3.4's AE seriousness flags, by hand, beside the store's ICH E2A criteria (the codes of
#: the API's `seriousness` enum, docs/store.md).
SERIOUSNESS_FLAGS = {
    "AESDTH": "death",
    "AESLIFE": "life_threatening",
    "AESHOSP": "hospitalization",
    "AESDISAB": "disability",
    "AESCONG": "congenital_anomaly",
    "AESMIE": "medically_important",
}


def test_each_seriousness_flag_is_its_criterion(
    exports: dict[str, Path], unblinded: ExportSource
) -> None:
    study = unblinded.protocol.identifiers.org_study_id or unblinded.protocol.id
    criteria = {
        (f"{study}-{event['subject']}", str(event["number"])): set(event["seriousness"] or ())
        for event in unblinded.whole().extract.adverse_events
    }
    assert any(criteria.values()), "the trial has serious events"
    rows = records(datasets(exports["unblinded"])["AE"])
    for row in rows:
        met = criteria[(row["USUBJID"], row["AESPID"])]
        for flag, criterion in SERIOUSNESS_FLAGS.items():
            assert row[flag] == ("Y" if criterion in met else "N"), (row["USUBJID"], flag)
    flagged = {flag for row in rows for flag in SERIOUSNESS_FLAGS if row[flag] == "Y"}
    assert "AESHOSP" in flagged  # the virtual trial's serious events include hospitalizations


# ---------------------------------------------------------------- blinding


def test_a_blinded_export_has_no_arm_and_no_product_by_arm(
    exports: dict[str, Path], unblinded: ExportSource
) -> None:
    blinded = datasets(exports["blinded"])
    dm = records(blinded["DM"])
    for row in dm:
        assert row["ARMCD"] == row["ARM"] == row["ACTARMCD"] == row["ACTARM"] == ""
        assert row["ARMNRS"] in ("BLINDED", "SCREEN FAILURE")
    protocol = unblinded.protocol
    names = {i.name.upper() for i in protocol.interventions}
    doses = {ai.dose for arm in protocol.arms for ai in arm.interventions if ai.dose}
    arm_of = {
        f"{protocol.identifiers.org_study_id}-{a['subject']}": a["arm"]
        for a in unblinded.whole().extract.allocations
    }
    ex_by_arm: dict[str, set[tuple[Any, ...]]] = {}
    for row in records(blinded["EX"]):
        assert row["EXTRT"] not in names and row["EXDOSTXT"] not in doses
        kept = tuple(
            v
            for k, v in row.items()
            if k not in ("USUBJID", "EXSEQ", "EXLAT") and not k.endswith(("DTC", "DY"))
        )
        ex_by_arm.setdefault(arm_of[row["USUBJID"]], set()).add(kept)
    assert len({frozenset(rows) for rows in ex_by_arm.values()}) == 1  # the same in every arm
    everything = "".join((exports["blinded"] / f"{n}.json").read_text() for n in ("dm", "ex"))
    for arm in protocol.arms:
        assert f'"{arm.label}"' not in everything


def test_an_unblinded_export_has_the_allocated_arms(
    exports: dict[str, Path], unblinded: ExportSource
) -> None:
    protocol = unblinded.protocol
    studyid = protocol.identifiers.org_study_id
    allocations = unblinded.whole().extract.allocations
    arms = {f"{studyid}-{a['subject']}": protocol.arm(a["arm"]) for a in allocations}
    written = datasets(exports["unblinded"])
    for row in records(written["DM"]):
        arm = arms.get(row["USUBJID"])
        if arm is None:
            assert (row["ARMCD"], row["ARMNRS"]) == ("", "SCREEN FAILURE")
        else:
            assert (row["ARMCD"], row["ARM"], row["ACTARMCD"]) == (arm.id, arm.label, arm.id)
    for row in records(written["EX"]):
        product = protocol.intervention(arms[row["USUBJID"]].interventions[0].intervention)
        assert row["EXTRT"] == product.name.upper()


# ---------------------------------------------------------------- batches


def test_the_files_are_the_same_whatever_the_batches(
    unblinded: ExportSource, blinded: ExportSource, tmp_path: Path
) -> None:
    """The source read 7 subjects a batch (tests/support) and the same study as one batch
    write the same directory, byte for byte: every .json, .xpt and define.xml."""
    for name, source in (("unblinded", unblinded), ("blinded", blinded)):
        assert len(list(source.batches())) > 1
        one = dataclasses.replace(source, read=StoredBatches((source.whole(),)))
        batched, whole = tmp_path / f"{name}-batched", tmp_path / f"{name}-whole"
        sdtm.write(source, batched)
        sdtm.write(one, whole)
        files = sorted(path.name for path in batched.iterdir())
        assert files == sorted(path.name for path in whole.iterdir())
        assert {Path(file).suffix for file in files} == {".json", ".xpt", ".xml"}
        for file in files:
            assert (batched / file).read_bytes() == (whole / file).read_bytes(), (name, file)


# ---------------------------------------------------------------- the command


def test_trialdesk_export_format_sdtm_writes_the_directory_as_the_user_may_see_it(
    shared_dir: Path, tmp_path: Path
) -> None:
    home = tmp_path / "store"
    shutil.copytree(store_home(shared_dir, "NCT05933434", 20), home)
    environment = _environment(home)
    arms = {}
    for user in ("data_manager", "statistician"):
        out = tmp_path / user
        command = [sys.executable, "-m", "trialdesk.cli", "export", "NCT05933434"]
        result = subprocess.run(
            [*command, "--format", "sdtm", "--out", str(out), "--user", user],
            env=environment,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
        names = {path.name for path in out.iterdir()}
        assert {"define.xml", "dm.json", "dm.xpt", "qs.json", "qs.xpt", "ts.json"} <= names
        dm = records(json.loads((out / "dm.json").read_text()))
        arms[user] = {row["ARMCD"] for row in dm}
    assert arms["data_manager"] == {""}
    assert arms["statistician"] - {""} == {"MSC", "SALINE"}


def test_a_site_country_without_an_iso_code_is_refused_naming_the_site(
    unblinded: ExportSource, tmp_path: Path
) -> None:
    sites = [site.model_copy(update={"country": "Atlantis"}) for site in unblinded.protocol.sites]
    protocol = unblinded.protocol.model_copy(update={"sites": sites})
    source = dataclasses.replace(unblinded, protocol=protocol)
    with pytest.raises(BadInput, match=r"sites\[0\] .*country 'Atlantis'; expected one of"):
        sdtm.write(source, tmp_path / "out")
    assert not (tmp_path / "out").exists()
