"""SDTM: the study as CDISC tabulation datasets, each as Dataset-JSON 1.1 and SAS XPT v5,
with define.xml (Define-XML 2.1) describing them.

`write(source, out)` writes into the directory `out`: dm.json and dm.xpt, ... for DM, DS, IE,
EX, AE, SV, QS, VS, LB, MK (the subject domains that have rows) and the trial design domains TS,
TE, TA, TV, TI, then define.xml. Each row is checked as it is written: every value of a CDISC
codelist must be one of its terms (terminology.tsv) or a sponsor term the domain declares
for an extensible codelist, and no character value may be longer than its variable allows
(in bytes of UTF-8, as SAS counts).
The subject domains are written a batch of subjects at a time (`ExportSource.batches`), every
domain's file open at once: rows reach Dataset-JSON as they are made, and a domain's XPT file
is written after, from them (its character widths are the longest values).
See docs/exchange/sdtm.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from trialdesk import __version__
from trialdesk.analysis.datasets import StudyExtract
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

#: The domains of the subjects' rows, then those of the trial design, in the order of define.xml.
SUBJECT_DOMAINS: tuple[Domain, ...] = (DM, DS, IE, EX, AE, SV, QS, VS, LB, MK)
TRIAL_DESIGN_DOMAINS: tuple[Domain, ...] = (TS, TE, TA, TV, TI)
DOMAINS = SUBJECT_DOMAINS + TRIAL_DESIGN_DOMAINS
SOURCE_SYSTEM = {"name": "trialdesk", "version": __version__}


def write(source: ExportSource, out: Path) -> list[Path]:
    """Write the SDTM datasets and define.xml of `source` into the directory `out`.

    The subject domains are written together, batch after batch of the source (subjects in
    code order, so each domain's rows in USUBJID order); the trial design domains after them,
    from the protocol and the count of allocated subjects (TS ACTSUB)."""
    no_subject = StudyExtract(study=source.study)
    study = Tabulation(source.protocol, source.blinded, no_subject)
    site_countries(study)  # bad input is refused before anything is written
    out.mkdir(parents=True, exist_ok=True)
    study_oid = f"trialdesk/{study.studyid}"
    metadata_version = f"MDV.{study.studyid}.SDTMIG.3.4"
    header = {
        "datasetJSONCreationDateTime": _instant(source.exported_at),
        "datasetJSONVersion": DATASET_JSON_VERSION,
        "originator": "trialdesk",
        "sourceSystem": SOURCE_SYSTEM,
        "studyOID": study_oid,
        "metaDataVersionOID": metadata_version,
        "metaDataRef": "define.xml",
    }
    extracted = source.study.get("extracted_at")
    if extracted is not None:
        header["dbLastModifiedDateTime"] = _instant(extracted)
    with ExitStack() as files:

        def dataset_of(domain: Domain) -> _Dataset:
            return _Dataset(out, domain, header, source.exported_at, files)

        subject_datasets = [dataset_of(domain) for domain in SUBJECT_DOMAINS]
        allocated = 0
        for batch in source.batches():
            tabulation = Tabulation(source.protocol, source.blinded, batch.extract)
            allocated += len(batch.extract.allocations)
            for dataset in subject_datasets:
                dataset.add(dataset.domain.rows(tabulation))
        design = Tabulation(source.protocol, source.blinded, no_subject, allocated)
        design_datasets = [dataset_of(domain) for domain in TRIAL_DESIGN_DOMAINS]
        for dataset in design_datasets:
            dataset.add(dataset.domain.rows(design))
    datasets = [d for d in (*subject_datasets, *design_datasets) if d.profile.records]
    written = [path for dataset in datasets for path in dataset.finish()]
    define = out / "define.xml"
    write_define(
        define,
        [dataset.profile for dataset in datasets],
        study_oid=study_oid,
        study_name=study.studyid,
        description=source.protocol.titles.official or source.protocol.titles.brief,
        protocol_name=source.protocol.id,
        metadata_version_oid=metadata_version,
        created=source.exported_at,
        source_version=SOURCE_SYSTEM["version"],
    )
    return [*written, define]


class _Dataset:
    """One domain as it is written: its Dataset-JSON file, made at the first row (a domain
    with no row has no file) and closed with `files`; the widths of its XPT file and its
    define.xml profile, measured row by row. `finish` writes the XPT file, once `files` is
    closed, from the Dataset-JSON rows."""

    def __init__(
        self,
        out: Path,
        domain: Domain,
        header: dict[str, Any],
        created: dt.datetime,
        files: ExitStack,
    ) -> None:
        self.domain = domain
        self.path = out / f"{domain.name.lower()}.json"
        self.header = header
        self.files = files
        self.xpt = XptFile(out / f"{domain.name.lower()}.xpt", domain, created)
        self.profile = DatasetProfile(domain)
        self._file: DatasetJsonFile | None = None

    def add(self, rows: Iterable[Row]) -> None:
        for made in rows:
            row = _complete(self.domain, made)
            _check(self.domain, row)
            if self._file is None:
                self._file = self.files.enter_context(
                    DatasetJsonFile(self.path, self.domain, self.header)
                )
            self._file.add(row)
            self.xpt.add(row)
            self.profile.add(row)

    def finish(self) -> list[Path]:
        self.xpt.write(written_rows(self.path))
        return [self.path, self.xpt.path]


def _instant(moment: dt.datetime) -> str:
    """An aware instant as ISO 8601 in UTC, to the second: 2026-12-04T14:30:38Z."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _complete(domain: Domain, row: Row) -> Row:
    """The row with every declared variable: one a domain does not give is null ("" or None)."""
    undeclared = set(row) - {variable.name for variable in domain.variables}
    if undeclared:
        raise TrialdeskError(f"SDTM {domain.name}: undeclared variables {sorted(undeclared)}")
    return {
        variable.name: row.get(variable.name, None if variable.numeric else "")
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
