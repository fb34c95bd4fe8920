"""SDTM: the study as CDISC tabulation datasets, each as Dataset-JSON 1.1 and SAS XPT v5,
with define.xml (Define-XML 2.1) describing them.

`write(source, out)` writes into the directory `out`: dm.json and dm.xpt, ... for DM, DS, IE,
EX, AE, SV, QS, VS, LB, MK (the subject domains that have rows) and the trial design domains TS,
TE, TA, TV, TI, then define.xml. Each row is checked as it is written: every value of a CDISC
codelist must be one of its terms (terminology.tsv) or a sponsor term the domain declares
for an extensible codelist, and no character value may be longer than its variable allows
(in bytes of UTF-8, as SAS counts).
Rows reach Dataset-JSON as they are made; a domain's XPT file is written after, from them
(its character widths are the longest values).
See docs/exchange/sdtm.md.
"""

from __future__ import annotations

import datetime as dt
from itertools import chain
from pathlib import Path

from trialdesk import __version__
from trialdesk.errors import TrialdeskError
from trialdesk.exchange.sdtm.dataset_json import DATASET_JSON_VERSION, DatasetJsonFile, written_rows
from trialdesk.exchange.sdtm.define import DatasetProfile, write_define
from trialdesk.exchange.sdtm.design import TA, TE, TI, TS, TV
from trialdesk.exchange.sdtm.domain import Domain, Row
from trialdesk.exchange.sdtm.events import AE, DS
from trialdesk.exchange.sdtm.findings import IE, LB, MK, VS
from trialdesk.exchange.sdtm.interventions import EX
from trialdesk.exchange.sdtm.questionnaires import QS
from trialdesk.exchange.sdtm.special import DM, SV, site_countries
from trialdesk.exchange.sdtm.tabulation import Tabulation
from trialdesk.exchange.sdtm.terminology import codelists
from trialdesk.exchange.sdtm.xpt import XptFile
from trialdesk.exchange.source import ExportSource

#: Every domain the export can write, in the order of define.xml.
DOMAINS: tuple[Domain, ...] = (DM, DS, IE, EX, AE, SV, QS, VS, LB, MK, TS, TE, TA, TV, TI)
NUMERIC = ("integer", "float")
SOURCE_SYSTEM = {"name": "trialdesk", "version": __version__}


def write(source: ExportSource, out: Path) -> list[Path]:
    """Write the SDTM datasets and define.xml of `source` into the directory `out`."""
    tabulation = Tabulation(source)
    site_countries(tabulation)  # bad input is refused before anything is written
    out.mkdir(parents=True, exist_ok=True)
    created = _instant(source.exported_at)
    study_oid = f"trialdesk/{tabulation.studyid}"
    metadata_version = f"MDV.{tabulation.studyid}.SDTMIG.3.4"
    header = {
        "datasetJSONCreationDateTime": created,
        "datasetJSONVersion": DATASET_JSON_VERSION,
        "originator": "trialdesk",
        "sourceSystem": SOURCE_SYSTEM,
        "studyOID": study_oid,
        "metaDataVersionOID": metadata_version,
        "metaDataRef": "define.xml",
    }
    extracted = source.extract.study.get("extracted_at")
    if extracted is not None:
        header["dbLastModifiedDateTime"] = _instant(extracted)
    written: list[Path] = []
    profiles: list[DatasetProfile] = []
    for domain in DOMAINS:
        rows = iter(domain.rows(tabulation))
        first = next(rows, None)
        if first is None:
            continue
        profile = DatasetProfile(domain)
        json_path = out / f"{domain.name.lower()}.json"
        xpt = XptFile(out / f"{domain.name.lower()}.xpt", domain, source.exported_at)
        with DatasetJsonFile(json_path, domain, header) as dataset:
            for made in chain([first], rows):
                row = _complete(domain, made)
                _check(domain, row)
                dataset.add(row)
                xpt.add(row)
                profile.add(row)
        xpt.write(written_rows(json_path))
        profiles.append(profile)
        written += [json_path, xpt.path]
    define = out / "define.xml"
    write_define(
        define,
        profiles,
        study_oid=study_oid,
        study_name=tabulation.studyid,
        description=source.protocol.titles.official or source.protocol.titles.brief,
        protocol_name=source.protocol.id,
        metadata_version_oid=metadata_version,
        created=source.exported_at,
        source_version=SOURCE_SYSTEM["version"],
    )
    return [*written, define]


def _instant(moment: dt.datetime) -> str:
    """An aware instant as ISO 8601 in UTC, to the second: 2026-12-04T14:30:38Z."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _complete(domain: Domain, row: Row) -> Row:
    """The row with every declared variable: one a domain does not give is null ("" or None)."""
    undeclared = set(row) - {variable.name for variable in domain.variables}
    if undeclared:
        raise TrialdeskError(f"SDTM {domain.name}: undeclared variables {sorted(undeclared)}")
    return {
        variable.name: row.get(variable.name, None if variable.type in NUMERIC else "")
        for variable in domain.variables
    }


def _check(domain: Domain, row: Row) -> None:
    """A value the declarations do not allow is a bug of the export: stop, name it."""
    sponsor = {(term.codelist, term.value) for term in domain.sponsor_terms}
    for variable in domain.variables:
        value = row[variable.name]
        if variable.type in ("text", "date") and not isinstance(value, str):
            raise TrialdeskError(f"SDTM {domain.name}.{variable.name}: {value!r} is not text")
        if variable.type == "text" and len(value.encode("utf-8")) > variable.length:
            raise TrialdeskError(
                f"SDTM {domain.name}.{variable.name}: {value!r} is longer than "
                f"{variable.length} bytes"
            )
        codelist = domain.codelist_of(variable, row)
        if codelist is None or value == "":
            continue
        known = codelists()[codelist]
        if value not in known.terms and not (known.extensible and (codelist, value) in sponsor):
            undeclared = " (extensible; not declared a sponsor term)" if known.extensible else ""
            raise TrialdeskError(
                f"SDTM {domain.name}.{variable.name}: {value!r} is not a term of codelist "
                f"{codelist}{undeclared}"
            )
