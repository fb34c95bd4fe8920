"""REDCap: a study's data dictionary and its records in REDCap's flat export layout.

`write(source, out)` writes into the directory `out`:

- `data_dictionary.csv`: the 18 columns (`trialdesk.protocol.redcap_dictionary`). The first
  form, `subject`, holds the record id (the subject code) and what the store knows of each
  subject (site, sex, age, status, dates, randomization number, each administration's kit and
  date, and the arm only in an unblinded export); then each form the protocol's visits
  collect, in visit order: a descriptive field with the instrument's title and description,
  its items (integer and number as text with validation, range and unit in the field note,
  code lists as radio or dropdown, booleans as yesno, free text as text; a text item whose
  pattern is a Y-M-D date as date_ymd), then its scores: a calc field where REDCap computes
  the score the same way (arithmetic, abs, min, max; an item score), else a read-only field
  with trialdesk's value, annotated `@READONLY trialdesk_score=ID` (a sum with proration,
  the KOOS 0-100 means: missing-item rules REDCap's calculations lack). Items an
  `item_missing` edit check names are required. No instrument has conditional items, so no
  field has branching logic. Last, `adverse_event`, a repeating form: term, dates, CTCAE
  grade, the ICH E2A seriousness criteria as a checkbox, relatedness, expectedness, action
  taken, outcome, and when the SAE report was due and made (UTC).
- `records.csv`: one row per subject and event (`redcap_event_name`) and one per adverse
  event (`redcap_repeat_instrument` adverse_event, `redcap_repeat_instance` its number, at
  the first event), the columns in dictionary order (descriptive fields have none; a
  checkbox one per choice, `field___code`, 1 or 0), each form followed by its
  `<form>_complete` status (2 "Complete" in a locked study, else 1 "Unverified").
- `repeating_instruments.csv`: the adverse event form, repeating at the first event.
- for a protocol of more than one visit (a longitudinal project), `events.csv` (one event
  per visit, all in REDCap's schedule arm 1, which is no treatment arm) and
  `instrument_event_mapping.csv` (the forms each visit collects; `subject` and
  `adverse_event` at the first).

REDCap variable names are lower case and unique in a project: an item whose lower-cased id is
taken gets its form's name in front, and an item whose name differs from its trialdesk id
keeps the id in the Field Annotation (`trialdesk_id=P1`), so the import gives it back.
"""

from __future__ import annotations

import ast
import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trialdesk.analysis.datasets import StudyExtract
from trialdesk.exchange.source import ExportSource
from trialdesk.instruments.catalogue import get_instrument
from trialdesk.instruments.definition import FormulaScore, Instrument, Item, ItemScore
from trialdesk.protocol.model import Protocol
from trialdesk.protocol.redcap_dictionary import (
    DATE_VALIDATION,
    SCORE_ANNOTATION,
    TEXT_VALIDATIONS,
    DictionaryField,
    choices_text,
    csv_line,
    dictionary_text,
    parse_choices,
)
from trialdesk.records import RecordField
from trialdesk.records.adverse_event import ADVERSE_EVENT

RECORD_ID = "record_id"
SUBJECT_FORM = "subject"
ADVERSE_EVENT_FORM = "adverse_event"
#: REDCap's text validation of a declared field's kind.
AE_VALIDATION = {"date": DATE_VALIDATION, "datetime": "datetime_seconds_ymd", "integer": "integer"}
#: Radio buttons up to this many choices, a dropdown beyond.
RADIO_CHOICES = 7
#: REDCap's unique event name: the event name's first 18 characters, then `_arm_N`.
EVENT_NAME_LENGTH = 18
SCHEDULE_ARM = 1
COMPLETE, UNVERIFIED = "2", "1"
#: Functions of trialdesk's formulas that REDCap's calculations have with the same meaning.
REDCAP_FUNCTIONS = frozenset({"abs", "min", "max"})


def write(source: ExportSource, out: Path) -> list[Path]:
    """The data dictionary, the records, the repeating forms and, for a longitudinal
    project, the events and the instrument-event mapping, in the directory `out`."""
    project = Project.of(source.protocol, blinded=source.blinded)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "data_dictionary.csv", out / "records.csv"]
    written[0].write_text(dictionary_text(project.dictionary), encoding="utf-8")
    with written[1].open("w", encoding="utf-8", newline="") as records:
        for line in project.record_lines(source):
            records.write(line)
    written.append(out / "repeating_instruments.csv")
    written[-1].write_text(project.repeating_text(), encoding="utf-8")
    if project.longitudinal:
        written.append(out / "events.csv")
        written[-1].write_text(project.events_text(), encoding="utf-8")
        written.append(out / "instrument_event_mapping.csv")
        written[-1].write_text(project.mapping_text(), encoding="utf-8")
    return written


@dataclass(frozen=True)
class Column:
    """One field of the dictionary and where its value comes from."""

    field: DictionaryField
    form: str  # the protocol form, or SUBJECT_FORM
    key: str  # the item or score id (or the subject fact)
    score: bool = False


@dataclass(frozen=True)
class Project:
    """The REDCap project of one protocol: its dictionary, its events and its forms' events."""

    protocol: Protocol
    columns: tuple[Column, ...]
    dictionary: list[DictionaryField]
    events: dict[str, str]  # visit id -> unique event name
    longitudinal: bool

    @classmethod
    def of(cls, protocol: Protocol, *, blinded: bool) -> Project:
        names = _VariableNames()
        columns = list(_subject_columns(protocol, names, blinded=blinded))
        dictionary = [column.field for column in columns]
        for form in collected_forms(protocol):
            instrument = get_instrument(form)
            required = _required_items(protocol, instrument)
            about = DictionaryField(
                name=names.take(f"{form}_about", form),
                form=form,
                section_header=instrument.title,
                field_type="descriptive",
                label=instrument.description,
            )
            dictionary.append(about)
            for item in instrument.items:
                column = Column(_item_field(item, form, names, item.id in required), form, item.id)
                columns.append(column)
                dictionary.append(column.field)
            for score_field, score_id in _score_fields(instrument, form, names, columns):
                columns.append(Column(score_field, form, score_id, score=True))
                dictionary.append(score_field)
        for column in _adverse_event_columns(names):
            columns.append(column)
            dictionary.append(column.field)
        return cls(
            protocol=protocol,
            columns=tuple(columns),
            dictionary=dictionary,
            events=_unique_event_names(protocol),
            longitudinal=len(protocol.visits) > 1,
        )

    # -- the records ------------------------------------------------------------------

    def header(self) -> list[str]:
        header = [RECORD_ID] + (["redcap_event_name"] if self.longitudinal else [])
        header += ["redcap_repeat_instrument", "redcap_repeat_instance"]
        for form, columns in self._columns_by_form():
            for column in columns:
                if column.field.name != RECORD_ID:
                    header.extend(_cell_names(column.field))
            header.append(f"{form}_complete")
        return header

    def record_lines(self, source: ExportSource) -> Iterator[str]:
        """The records CSV, one line at a time: a row per subject and event with data, then
        a row per adverse event (an instance of the repeating form at the first event),
        the subjects' rows written as their batch is read."""
        complete = COMPLETE if source.study.get("locked") else UNVERIFIED
        yield csv_line(self.header())
        for batch in source.batches():
            yield from self._batch_lines(batch.extract, complete)

    def _batch_lines(self, extract: StudyExtract, complete: str) -> Iterator[str]:
        """The records of a batch's subjects, in the batch's order."""
        forms_of: dict[tuple[str, str], dict[str, Any]] = defaultdict(dict)
        for record in extract.forms:
            forms_of[(record["subject"], record["visit_id"])][record["form"]] = record
        events_of: dict[str, list[Any]] = defaultdict(list)
        for event in extract.adverse_events:
            events_of[event["subject"]].append(event)
        facts = _subject_facts(extract)
        first_visit = self.protocol.visits[0].id
        for subject in extract.subjects:
            code = subject["code"]
            for visit in self.protocol.visits:
                records = forms_of.get((code, visit.id), {})
                if not records and visit.id != first_visit:
                    continue
                if visit.id == first_visit:
                    records = {**records, SUBJECT_FORM: {"values": facts[code], "scores": {}}}
                yield self._row(code, visit.id, ("", ""), records, complete)
            for event in sorted(events_of[code], key=lambda row: row["number"]):
                records = {ADVERSE_EVENT_FORM: {"values": event, "scores": {}}}
                instance = (ADVERSE_EVENT_FORM, str(event["number"]))
                yield self._row(code, first_visit, instance, records, complete)

    def _row(
        self,
        code: str,
        visit_id: str,
        instance: tuple[str, str],
        records: dict[str, Any],
        complete: str,
    ) -> str:
        row = [code] + ([self.events[visit_id]] if self.longitudinal else []) + list(instance)
        for form, columns in self._columns_by_form():
            record = records.get(form)
            for column in columns:
                if column.field.name != RECORD_ID:
                    row.extend(_cells(column, record))
            row.append("" if record is None else complete)
        return csv_line(row)

    def _columns_by_form(self) -> list[tuple[str, list[Column]]]:
        grouped: dict[str, list[Column]] = {}
        for column in self.columns:
            grouped.setdefault(column.form, []).append(column)
        return list(grouped.items())

    # -- events -----------------------------------------------------------------------

    def events_text(self) -> str:
        lines = [csv_line(["event_name", "arm_num", "unique_event_name", "custom_event_label"])]
        for visit in self.protocol.visits:
            lines.append(csv_line([visit.label, str(SCHEDULE_ARM), self.events[visit.id], ""]))
        return "".join(lines)

    def mapping_text(self) -> str:
        lines = [csv_line(["arm_num", "unique_event_name", "form"])]
        first = self.protocol.visits[0].id
        for visit in self.protocol.visits:
            at_first = [SUBJECT_FORM, ADVERSE_EVENT_FORM] if visit.id == first else []
            for form in dict.fromkeys(at_first + list(visit.forms)):
                lines.append(csv_line([str(SCHEDULE_ARM), self.events[visit.id], form]))
        return "".join(lines)

    def repeating_text(self) -> str:
        """The repeating forms, as REDCap's "Export Repeating Instruments and Events" gives
        them: the adverse event form at the first event, each instance labelled by its term."""
        label = f"[{self._variable(ADVERSE_EVENT_FORM, 'term')}]"
        if not self.longitudinal:
            return csv_line(["form_name", "custom_form_label"]) + csv_line(
                [ADVERSE_EVENT_FORM, label]
            )
        event = self.events[self.protocol.visits[0].id]
        return csv_line(["event_name", "form_name", "custom_form_label"]) + csv_line(
            [event, ADVERSE_EVENT_FORM, label]
        )

    def _variable(self, form: str, key: str) -> str:
        return next(c.field.name for c in self.columns if (c.form, c.key) == (form, key))


def collected_forms(protocol: Protocol) -> list[str]:
    """The forms the protocol's visits collect, in the order they first appear."""
    return list(dict.fromkeys(form for visit in protocol.visits for form in visit.forms))


class _VariableNames:
    """REDCap's variable names of a project: lower case, unique, not a form's status field."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def take(self, wanted: str, form: str) -> str:
        candidates = [wanted.lower(), f"{form}_{wanted.lower()}"]
        for candidate in candidates:
            if candidate not in self.used and not candidate.endswith("_complete"):
                self.used.add(candidate)
                return candidate
        number = 2
        while f"{candidates[1]}_{number}" in self.used:
            number += 1
        self.used.add(f"{candidates[1]}_{number}")
        return f"{candidates[1]}_{number}"


def _field(names: _VariableNames, key: str, form: str, **columns: str) -> DictionaryField:
    name = names.take(key, form)
    annotation = f"trialdesk_id={key}" if name != key else ""
    return DictionaryField(name=name, form=form, annotation=annotation, **columns)


def _subject_columns(protocol: Protocol, names: _VariableNames, *, blinded: bool) -> list[Column]:
    """The subject form: the record id first, then the subject's facts from the store."""
    form = SUBJECT_FORM
    date = {"validation": DATE_VALIDATION}
    facts: list[tuple[str, dict[str, str]]] = [
        (RECORD_ID, {"label": "Subject code"}),
        (
            "site",
            {
                "field_type": "dropdown",
                "label": "Site",
                "choices": choices_text([(site.id, site.name) for site in protocol.sites]),
            }
            if protocol.sites
            else {"label": "Site"},
        ),
        ("sex", {"field_type": "radio", "label": "Sex", "choices": "female, Female | male, Male"}),
        ("age", {"label": "Age at screening", "validation": "integer", "note": "years"}),
        ("status", {"label": "Status"}),
        ("screened_on", {"label": "Screened on"} | date),
        ("day0", {"label": "Day 0 (first administration)"} | date),
        ("randomization_number", {"label": "Randomization number"}),
    ]
    for administration in protocol.treatment_plan:
        key = administration.id.lower()
        facts.append((f"{key}_kit", {"label": f"{administration.label}: kit number"}))
        facts.append((f"{key}_date", {"label": f"{administration.label}: date"} | date))
    if not blinded:
        arms = choices_text([(arm.id, arm.label) for arm in protocol.arms])
        facts.append(("arm", {"field_type": "radio", "label": "Arm", "choices": arms}))
    return [Column(_field(names, key, form, **columns), form, key) for key, columns in facts]


def _adverse_event_columns(names: _VariableNames) -> list[Column]:
    """The repeating adverse event form: one instance per event, a field per declared field
    of the adverse event (`trialdesk.records.adverse_event`) with its label and codes."""
    return [
        Column(
            _field(names, f"ae_{field.name}", ADVERSE_EVENT_FORM, **_ae_field(field)),
            ADVERSE_EVENT_FORM,
            field.name,
        )
        for field in ADVERSE_EVENT
    ]


def _single_choice(choices: int) -> str:
    """REDCap's field type of one choice among `choices`: radio buttons, or a dropdown."""
    return "radio" if choices <= RADIO_CHOICES else "dropdown"


def _ae_field(field: RecordField) -> dict[str, str]:
    """A declared field as REDCap's field type, validation and choices: a list of codes is a
    checkbox, one code a radio (a dropdown beyond RADIO_CHOICES), a yes/no a yesno field;
    times are UTC; a field the site must report is required."""
    column = {"label": field.label}
    if field.reported and not field.optional and field.kind != "codes":
        column["required"] = "y"
    if field.kind == "codes":
        column["field_type"] = "checkbox"
    elif field.kind == "code":
        column["field_type"] = _single_choice(len(field.codes))
    elif field.kind == "boolean":
        column["field_type"] = "yesno"
    if field.kind in ("code", "codes"):
        column["choices"] = choices_text([(str(code.value), code.label) for code in field.codes])
    validation = AE_VALIDATION.get(field.kind)
    if validation:
        column["validation"] = validation
    if field.kind == "datetime":
        column["note"] = "UTC"
    return column


def _subject_facts(extract: StudyExtract) -> dict[str, dict[str, Any]]:
    """Each subject's values of the subject form, by subject code."""
    facts: dict[str, dict[str, Any]] = {
        subject["code"]: {
            RECORD_ID: subject["code"],
            "site": subject["site"],
            "sex": subject["sex"],
            "age": subject["age"],
            "status": subject["status"],
            "screened_on": subject["screened_on"],
            "day0": subject["day0"],
        }
        for subject in extract.subjects
    }
    for allocation in extract.allocations:
        values = facts.get(allocation["subject"])
        if values is not None:
            values["randomization_number"] = allocation["randomization_number"]
            values["arm"] = allocation["arm"]
    for administration in extract.administrations:
        values = facts.get(administration["subject"])
        if values is not None:
            key = administration["administration_id"].lower()
            values[f"{key}_kit"] = administration["kit_number"]
            values[f"{key}_date"] = administration["administered_on"]
    return facts


def _required_items(protocol: Protocol, instrument: Instrument) -> set[str]:
    """Items an `item_missing` edit check of the protocol names (all of the form's when it
    names none)."""
    required: set[str] = set()
    for rule in protocol.edit_checks:
        if rule.kind == "item_missing" and rule.form == instrument.id:
            required.update(rule.items or [item.id for item in instrument.items])
    return required


def _item_field(item: Item, form: str, names: _VariableNames, required: bool) -> DictionaryField:
    columns: dict[str, str] = {"label": item.label}
    if required:
        columns["required"] = "y"
    if item.options:
        choices = [(str(option.value), option.label) for option in item.options]
        kind = _single_choice(len(choices))
        return _field(
            names, item.id, form, field_type=kind, choices=choices_text(choices), **columns
        )
    if item.type == "boolean":
        return _field(names, item.id, form, field_type="yesno", **columns)
    if item.type in ("integer", "number"):
        columns |= {"validation": item.type, "note": item.unit or ""}
        columns |= {"minimum": _number_text(item.minimum), "maximum": _number_text(item.maximum)}
        return _field(names, item.id, form, **columns)
    if item.pattern is not None and item.pattern == TEXT_VALIDATIONS[DATE_VALIDATION][1]:
        columns["validation"] = DATE_VALIDATION
    return _field(names, item.id, form, **columns)


def _score_fields(
    instrument: Instrument, form: str, names: _VariableNames, columns: list[Column]
) -> Iterator[tuple[DictionaryField, str]]:
    """A field per score: a calc field where REDCap computes it the same way (a formula in
    arithmetic, abs, min and max over items and earlier such scores; an item score), else a
    read-only field holding trialdesk's value (sums with proration, the KOOS 0-100 means,
    counts: rules for missing items that a REDCap calculation does not have)."""
    variables = {column.key: column.field.name for column in columns if column.form == form}
    for score in instrument.scores:
        calculation = None
        if isinstance(score, ItemScore):
            calculation = f"[{variables[score.item]}]"
        elif (
            isinstance(score, FormulaScore)
            and _redcap_arithmetic(score.parsed.tree)
            and score.parsed.names <= variables.keys()
        ):
            calculation = _calculation(score.formula, variables)
        if calculation is not None:
            field = _field(
                names,
                score.id,
                form,
                field_type="calc",
                label=score.label,
                choices=calculation,
                note=score.unit or "",
            )
            variables[score.id] = field.name
        else:
            field = _computed_field(score, form, names)
        yield field, score.id


def _computed_field(score: Any, form: str, names: _VariableNames) -> DictionaryField:
    """A score REDCap cannot recompute: its value, read-only, marked `trialdesk_score=ID`."""
    name = names.take(score.id, form)
    columns = {"label": score.label, "annotation": f"@READONLY {SCORE_ANNOTATION}{score.id}"}
    if score.type == "boolean":
        return DictionaryField(name=name, form=form, field_type="yesno", **columns)
    return DictionaryField(
        name=name,
        form=form,
        note=score.unit or "",
        validation=score.type,
        minimum=_number_text(score.minimum),
        maximum=_number_text(score.maximum),
        **columns,
    )


def _redcap_arithmetic(node: ast.AST) -> bool:
    """Whether a formula holds only what REDCap's calculations write the same way."""
    for part in ast.walk(node):
        if isinstance(part, ast.Call):
            if not (isinstance(part.func, ast.Name) and part.func.id in REDCAP_FUNCTIONS):
                return False
        elif not isinstance(
            part, (ast.BinOp, ast.UnaryOp, ast.USub, ast.Constant, ast.Name, ast.Load, ast.operator)
        ):
            return False
    return True


def _calculation(formula: str, variables: dict[str, str]) -> str:
    """A formula in REDCap's calculation syntax: ids as [variable], powers as ^."""
    return re.sub(
        r"[A-Za-z_][A-Za-z0-9_]*",
        lambda match: (
            match.group(0)
            if match.group(0) in REDCAP_FUNCTIONS
            else f"[{variables[match.group(0)]}]"
        ),
        formula.replace("**", "^"),
    )


def _unique_event_names(protocol: Protocol) -> dict[str, str]:
    """REDCap's unique event name of each visit, from its label: lower case, spaces as _,
    other characters dropped, the first 18 characters, then `_arm_1`."""
    names: dict[str, str] = {}
    for visit in protocol.visits:
        stem = re.sub(r"[^a-z0-9_]", "", visit.label.lower().replace(" ", "_"))
        stem = stem[:EVENT_NAME_LENGTH].strip("_") or visit.id.lower()
        name, number = stem, 2
        while f"{name}_arm_{SCHEDULE_ARM}" in names.values():
            name = f"{stem[: EVENT_NAME_LENGTH - 2]}_{number}"
            number += 1
        names[visit.id] = f"{name}_arm_{SCHEDULE_ARM}"
    return names


def _cell_names(field: DictionaryField) -> list[str]:
    """The records columns of a field: one per choice of a checkbox (`field___code`)."""
    if field.field_type == "checkbox":
        return [f"{field.name}___{code}" for code, _ in parse_choices(field.choices)]
    return [field.name]


def _cells(column: Column, record: dict[str, Any] | None) -> list[str]:
    if record is None:
        return ["" for _ in _cell_names(column.field)]
    value = record["scores" if column.score else "values"].get(column.key)
    if column.field.field_type == "checkbox":
        chosen = set(value or ())
        return ["1" if code in chosen else "0" for code, _ in parse_choices(column.field.choices)]
    return [export_value(value)]


def export_value(value: Any) -> str:
    """A value as REDCap exports it: booleans 1/0, dates Y-M-D, whole numbers without .0."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return _number_text(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _number_text(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else repr(float(value))
