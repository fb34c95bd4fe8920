"""One study as a FHIR R4 Bundle (type collection) in JSON, built with fhir.resources' R4B
models (R4's element names for ResearchStudy and ResearchSubject).

Entries, in this order: the sponsor's Organization, the ResearchStudy, a Questionnaire per
instrument the protocol uses, then per subject in code order its Patient and ResearchSubject,
a QuestionnaireResponse per form record (followed by its Observations for labs and vital
signs; a record of an instrument the protocol does not name comes after that instrument's
Questionnaire, written once) and an AdverseEvent per adverse event. Every fullUrl is a
deterministic urn:uuid and every reference points at one of them (a QuestionnaireResponse's
questionnaire at a Questionnaire's url, which is its fullUrl).

The Bundle is written entry by entry as the study is read batch by batch
(`ExportSource.batches()`): each resource is a validated model serialized on its own into the
entry array, so neither the whole Bundle nor the whole study is ever held, and the file is the
same whatever the batch size.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.resource import Resource

from trialdesk.analysis.datasets import Row
from trialdesk.exchange.fhir import codes
from trialdesk.exchange.fhir.adverse_events import adverse_event
from trialdesk.exchange.fhir.observations import CATEGORIES, observations
from trialdesk.exchange.fhir.questionnaires import (
    questionnaire,
    questionnaire_response,
    used_instruments,
)
from trialdesk.exchange.fhir.study import patient, research_study, research_subject, sponsor
from trialdesk.exchange.source import ExportSource, SourceBatch, by_subject
from trialdesk.instruments.catalogue import get_instrument
from trialdesk.instruments.definition import Instrument
from trialdesk.protocol.model import Protocol


def write(source: ExportSource, out: Path) -> list[Path]:
    """Write the Bundle of `source` to the file `out`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    header = Bundle(
        id=codes.resource_id(source.protocol.id, "Bundle", source.exported_at.isoformat()),
        type="collection",
        timestamp=source.exported_at.isoformat(),
    ).model_dump_json()
    with out.open("w", encoding="utf-8") as stream:
        stream.write(header.removesuffix("}") + ',"entry":[')
        for number, (fullurl, resource) in enumerate(entries(source)):
            stream.write(",\n" if number else "\n")
            stream.write(f'{{"fullUrl":{json.dumps(fullurl)},"resource":')
            stream.write(resource.model_dump_json())
            stream.write("}")
        stream.write("\n]}\n")
    return [out]


def entries(source: ExportSource) -> Iterator[tuple[str, Resource]]:
    """(fullUrl, resource) of every entry, in Bundle order."""
    protocol = source.protocol
    yield sponsor(protocol)
    yield research_study(protocol)
    instruments = {
        instrument_id: get_instrument(instrument_id) for instrument_id in used_instruments(protocol)
    }
    for instrument in instruments.values():
        yield questionnaire(instrument)
    for batch in source.batches():
        yield from _subject_entries(protocol, batch, instruments)


def _subject_entries(
    protocol: Protocol, batch: SourceBatch, instruments: dict[str, Instrument]
) -> Iterator[tuple[str, Resource]]:
    """The entries of each subject of `batch`, in code order. A form record of an instrument
    the protocol does not name gets that instrument's Questionnaire first (added to
    `instruments`, so once per Bundle), for its response's reference to resolve."""
    extract = batch.extract
    allocations = {row["subject"]: row for row in extract.allocations}
    treated = {row["subject"] for row in extract.administrations if row["administered_on"]}
    visit_dates = {(v["subject"], v["visit_id"]): v["actual_date"] for v in extract.visits}
    changed = _last_changed(batch.audit)
    forms = by_subject(extract.forms)
    adverse_events = by_subject(extract.adverse_events)
    for subject in sorted(extract.subjects, key=lambda row: row["code"]):
        code = subject["code"]
        yield patient(protocol, subject)
        yield research_subject(protocol, subject, allocations.get(code), code in treated)
        for form in forms[code]:
            if form["form"] not in instruments:
                instruments[form["form"]] = get_instrument(form["form"])
                yield questionnaire(instruments[form["form"]])
            instrument = instruments[form["form"]]
            visit_date = visit_dates.get((code, form["visit_id"]))
            response = questionnaire_response(
                protocol, instrument, form, changed.get(str(form["id"]), visit_date)
            )
            yield response
            if instrument.id in CATEGORIES:
                yield from observations(protocol, instrument, form, visit_date, response[0])
        for event in adverse_events[code]:
            yield adverse_event(protocol, event)


def _last_changed(audit: Iterable[Row]) -> dict[str, dt.datetime]:
    """{form record id: when it was last changed}, from the audit trail (in seq order)."""
    return {row["object_id"]: row["at"] for row in audit if row["object_type"] == "FormRecord"}
