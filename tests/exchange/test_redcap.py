"""`--format redcap`: the data dictionary, the records, the events and the instrument-event
mapping of a locked virtual trial of each seed protocol.

Outside references: the header line of REDCapR's real data dictionaries, and the layouts of
its longitudinal project's `event.csv` (event_name, arm_num, unique_event_name,
custom_event_label) and `data.csv` (record id, redcap_event_name, each form's fields then
`<form>_complete`); the shipped instrument definitions for the round trip; the extract's rows
for the records; and REDCap's calculation syntax ([field], ^) evaluated here by hand.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from support.exchange_trial import _environment, store_home
from trialdesk.exchange import redcap
from trialdesk.exchange.source import ExportSource, StoredBatches
from trialdesk.instruments import get_instrument
from trialdesk.protocol import load_protocol
from trialdesk.protocol.redcap_dictionary import COLUMNS, import_dictionary, parse_dictionary

SHARED = Path(os.environ.get("TRIALDESK_SHARED", Path(__file__).resolve().parents[3] / "shared"))
REAL_DICTIONARY = SHARED / "reference/redcap/redcapr_clinical-trial-1_dictionary.csv"
#: The header of REDCapR's longitudinal project's event.csv.
EVENTS_HEADER = ["event_name", "arm_num", "unique_event_name", "custom_event_label"]
#: The columns of REDCap's instrument-event mappings (API "Export Instrument-Event Mappings").
MAPPING_HEADER = ["arm_num", "unique_event_name", "form"]
FILES = [
    "data_dictionary.csv",
    "events.csv",
    "instrument_event_mapping.csv",
    "records.csv",
    "repeating_instruments.csv",
]


def read_csv(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))


def as_dicts(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))


def export(source: ExportSource, tmp_path: Path) -> Path:
    out = tmp_path / "redcap"
    written = redcap.write(source, out)
    assert sorted(path.name for path in written) == FILES
    assert all(path.parent == out and path.is_file() for path in written)
    return out


def protocol_forms(source: ExportSource) -> list[str]:
    forms: list[str] = []
    for visit in source.protocol.visits:
        forms += [form for form in visit.forms if form not in forms]
    return forms


def trialdesk_ids(dictionary: list[dict[str, str]]) -> dict[tuple[str, str], str]:
    """(form, trialdesk id) -> REDCap variable, read from the names and their annotations."""
    names = {}
    for field in dictionary:
        annotation = field["Field Annotation"]
        kept = re.search(r"trialdesk_(?:id|score)=(\w+)", annotation)
        names[(field["Form Name"], kept.group(1) if kept else field["Variable / Field Name"])] = (
            field["Variable / Field Name"]
        )
    return names


# ------------------------------------------------------------------------------ dictionary


def test_the_dictionary_has_redcaps_columns_quoting_and_the_record_id_first(unblinded, tmp_path):
    out = export(unblinded, tmp_path)
    text = (out / "data_dictionary.csv").read_text(encoding="utf-8")
    real_header = REAL_DICTIONARY.read_text(encoding="utf-8").splitlines()[0]
    assert text.splitlines()[0] == real_header
    header, *rows = read_csv(out / "data_dictionary.csv")
    assert header == list(COLUMNS)
    assert all(len(row) == 18 for row in rows)
    assert rows[0][:5] == ["record_id", "subject", "", "text", "Subject code"]
    names = [row[0] for row in rows]
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", name) for name in names)
    # Every value REDCap would quote is quoted, and only those (the reference files' rule).
    for line, row in zip(text.splitlines()[1:], rows, strict=True):
        quoted = [
            '"' + v.replace('"', '""') + '"' if any(c in v for c in ' ,"') else v for v in row
        ]
        assert line == ",".join(quoted)


def test_a_seed_protocol_exports_to_a_dictionary_that_imports_back_to_the_same_forms_and_items(
    unblinded, tmp_path
):
    out = export(unblinded, tmp_path)
    text = (out / "data_dictionary.csv").read_text(encoding="utf-8")
    imported = import_dictionary(parse_dictionary(text, "seed.csv"), "seed.csv")
    definitions = {instrument.id: instrument for instrument in imported.instruments()}
    forms = protocol_forms(unblinded)
    assert list(definitions) == ["subject", *forms, "adverse_event"]
    for form in forms:
        shipped, back = get_instrument(form), definitions[form]
        assert (back.title, back.description) == (shipped.title, shipped.description)
        assert [
            (i.id, i.type, i.label, [(o.value, o.label) for o in i.options], i.minimum, i.maximum)
            + (i.unit,)
            for i in back.items
        ] == [
            (i.id, i.type, i.label, [(o.value, o.label) for o in i.options], i.minimum, i.maximum)
            + (i.unit,)
            for i in shipped.items
        ], form
        # Every score is a calc field that comes back as a score, or a read-only value
        # that the import leaves out, saying so.
        calculated = {score.id for score in back.scores}
        assert calculated <= {score.id for score in shipped.scores}
        left_out = next(f for f in imported.forms if f.form == form).left_out
        for score in shipped.scores:
            if score.id not in calculated:
                assert any("a score trialdesk computes" in why for why in left_out), score.id
    # The draft validates as a protocol file.
    draft = tmp_path / "draft.yaml"
    imported.write(draft)
    assert load_protocol(draft).version == "draft"


def test_the_seed_protocols_calc_fields_compute_what_trialdesk_stored(unblinded, tmp_path):
    """Each calc field, evaluated as REDCap would ([field] is its value, ^ a power), gives the
    score trialdesk stored for every form record whose inputs are all answered."""
    out = export(unblinded, tmp_path)
    dictionary = as_dicts(out / "data_dictionary.csv")
    variables = {v: k for k, v in trialdesk_ids(dictionary).items()}
    calcs = [field for field in dictionary if field["Field Type"] == "calc"]
    assert calcs
    checked = 0
    for field in calcs:
        form, score = variables[field["Variable / Field Name"]]
        calculation = field["Choices, Calculations, OR Slider Labels"]
        for record in (r for r in unblinded.whole().extract.forms if r["form"] == form):
            known = {**record["values"], **record["scores"]}
            names = re.findall(r"\[(\w+)\]", calculation)
            inputs = [known.get(variables[name][1]) for name in names]
            if None in inputs or record["scores"].get(score) is None:
                continue
            python = re.sub(
                r"\[(\w+)\]",
                lambda m, known=known: repr(known[variables[m.group(1)][1]]),
                calculation,
            )
            value = eval(python.replace("^", "**"), {"abs": abs, "min": min, "max": max})  # noqa: S307
            assert value == pytest.approx(record["scores"][score]), (form, score)
            checked += 1
    assert checked > 0


# ------------------------------------------------------------------------------ records


def expected_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dt.datetime):  # REDCap's datetime_seconds_ymd, here in UTC
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def test_records_hold_the_extracts_values_one_row_per_subject_and_event(
    unblinded, blinded, tmp_path
):
    for source in (unblinded, blinded):
        records_hold_the_extracts_values(source, tmp_path / str(source.blinded))


def records_hold_the_extracts_values(source: ExportSource, tmp_path: Path) -> None:
    out = export(source, tmp_path)
    extract = source.whole().extract
    dictionary = as_dicts(out / "data_dictionary.csv")
    names = trialdesk_ids(dictionary)
    events = {row["event_name"]: row["unique_event_name"] for row in as_dicts(out / "events.csv")}
    event_of = {visit.id: events[visit.label] for visit in source.protocol.visits}
    header, *_ = read_csv(out / "records.csv")
    # REDCap's layout (REDCapR's longitudinal-with-repeating-instrument data.csv): record id,
    # event, repeat instrument and instance, then each form's fields (no descriptive text, a
    # checkbox one column per choice) followed by <form>_complete.
    expected_header = [
        "record_id",
        "redcap_event_name",
        "redcap_repeat_instrument",
        "redcap_repeat_instance",
    ]
    for form in dict.fromkeys(field["Form Name"] for field in dictionary):
        for field in dictionary:
            name = field["Variable / Field Name"]
            if field["Form Name"] != form or field["Field Type"] == "descriptive":
                continue
            if field["Field Type"] == "checkbox":
                codes = [c.split(",")[0].strip() for c in field[COLUMNS[5]].split("|")]
                expected_header += [f"{name}___{code}" for code in codes]
            elif name != "record_id":
                expected_header.append(name)
        expected_header.append(f"{form}_complete")
    assert header == expected_header
    rows = {
        (
            row["record_id"],
            row["redcap_event_name"],
            row["redcap_repeat_instrument"],
            row["redcap_repeat_instance"],
        ): row
        for row in as_dicts(out / "records.csv")
    }
    first = event_of[source.protocol.visits[0].id]
    expected_rows = (
        {(s["code"], first, "", "") for s in extract.subjects}
        | {(r["subject"], event_of[r["visit_id"]], "", "") for r in extract.forms}
        | {
            (event["subject"], first, "adverse_event", str(event["number"]))
            for event in extract.adverse_events
        }
    )
    assert set(rows) == expected_rows
    assert extract.adverse_events
    for event in extract.adverse_events:
        row = rows[(event["subject"], first, "adverse_event", str(event["number"]))]
        for key in ("number", "term", "onset_date", "end_date", "ctcae_grade", "relatedness"):
            assert row[f"ae_{key}"] == expected_cell(event[key]), key
        for key in ("expected", "action_taken", "outcome", "report_due_at", "reported_at"):
            assert row[f"ae_{key}"] == expected_cell(event[key]), key
        for criterion in ("death", "life_threatening", "hospitalization", "disability"):
            assert row[f"ae_seriousness___{criterion}"] == str(
                int(criterion in event["seriousness"])
            )
        assert row["ae_seriousness___medically_important"] == str(
            int("medically_important" in event["seriousness"])
        )
        assert row["adverse_event_complete"] == "2" and row["subject_complete"] == ""
    assert any(event["seriousness"] for event in extract.adverse_events)
    checked = 0
    for record in extract.forms:
        row = rows[(record["subject"], event_of[record["visit_id"]], "", "")]
        assert row[f"{record['form']}_complete"] == "2"  # a locked study
        for part in ("values", "scores"):
            for key, value in record[part].items():
                cell = row[names[(record["form"], key)]]
                if isinstance(value, float):
                    assert float(cell) == value, (record["form"], key)
                else:
                    assert cell == expected_cell(value), (record["form"], key)
                checked += 1
    assert checked > 1000
    allocations = {a["subject"]: a for a in extract.allocations}
    kits = {(a["subject"], a["administration_id"]): a for a in extract.administrations}
    for subject in extract.subjects:
        row = rows[(subject["code"], first, "", "")]
        assert (row["site"], row["sex"], row["age"], row["status"]) == (
            subject["site"],
            subject["sex"],
            str(subject["age"]),
            subject["status"],
        )
        assert row["screened_on"] == expected_cell(subject["screened_on"])
        assert row["day0"] == expected_cell(subject["day0"])
        allocation = allocations.get(subject["code"], {})
        assert row["randomization_number"] == expected_cell(allocation.get("randomization_number"))
        assert row.get("arm") == (None if source.blinded else expected_cell(allocation.get("arm")))
        for administration in source.protocol.treatment_plan:
            kit = kits.get((subject["code"], administration.id), {})
            key = administration.id.lower()
            assert row[f"{key}_kit"] == expected_cell(kit.get("kit_number"))
            assert row[f"{key}_date"] == expected_cell(kit.get("administered_on"))


def test_the_files_are_the_same_whether_the_study_is_read_in_batches_or_at_once(
    unblinded, blinded, tmp_path
):
    for source in (unblinded, blinded):
        assert len(list(source.batches())) > 1  # 7 subjects a batch (support.exchange_trial)
        one = replace(source, read=StoredBatches((source.whole(),)))
        batched = export(source, tmp_path / f"batched-{source.blinded}")
        at_once = export(one, tmp_path / f"at-once-{source.blinded}")
        for name in FILES:
            assert (batched / name).read_bytes() == (at_once / name).read_bytes(), name


def test_events_and_mapping_are_the_visits_and_their_forms(blinded, tmp_path):
    out = export(blinded, tmp_path)
    events = read_csv(out / "events.csv")
    assert events[0] == EVENTS_HEADER
    visits = blinded.protocol.visits
    assert [row[0] for row in events[1:]] == [visit.label for visit in visits]
    assert {row[1] for row in events[1:]} == {"1"}
    unique = [row[2] for row in events[1:]]
    assert len(set(unique)) == len(unique)
    assert all(re.fullmatch(r"[a-z0-9_]{1,18}_arm_1", name) for name in unique)
    mapping = read_csv(out / "instrument_event_mapping.csv")
    assert mapping[0] == MAPPING_HEADER
    expected = [("1", unique[0], "subject"), ("1", unique[0], "adverse_event")] + [
        ("1", unique[k], form) for k, visit in enumerate(visits) for form in visit.forms
    ]
    assert [tuple(row) for row in mapping[1:]] == expected
    recorded = {row["redcap_event_name"] for row in as_dicts(out / "records.csv")}
    assert recorded <= set(unique)


def test_a_blinded_export_has_no_arm_anywhere(blinded, unblinded, tmp_path):
    arms = {arm.id for arm in blinded.protocol.arms} | {arm.label for arm in blinded.protocol.arms}
    out = export(blinded, tmp_path / "blinded")
    for path in out.iterdir():
        for row in read_csv(path):
            assert not arms & set(row), path.name
    dictionary = as_dicts(out / "data_dictionary.csv")
    assert "arm" not in {field["Variable / Field Name"] for field in dictionary}
    assert "arm" not in read_csv(out / "records.csv")[0]
    # The unblinded export has them, so the check above can fail.
    unblinded_out = export(unblinded, tmp_path / "unblinded")
    cells = {cell for row in read_csv(unblinded_out / "records.csv") for cell in row}
    assert {arm.id for arm in unblinded.protocol.arms} <= cells


def test_trialdesk_export_format_redcap_writes_the_directory(shared_dir, tmp_path):
    home = tmp_path / "store"
    shutil.copytree(store_home(shared_dir, "NCT05933434", 20), home)
    out = tmp_path / "export"
    environment = _environment(home)
    command = [sys.executable, "-m", "trialdesk.cli", "export", "NCT05933434", "--format"]
    result = subprocess.run(
        [*command, "redcap", "--out", str(out), "--user", "data_manager"],
        env=environment,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in out.iterdir()) == FILES
    assert "blinded" in result.stdout
    assert "arm" not in read_csv(out / "records.csv")[0]
