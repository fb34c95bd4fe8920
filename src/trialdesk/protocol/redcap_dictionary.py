"""REDCap data dictionaries: reading and writing the CSV, and importing one as a draft protocol.

A data dictionary is REDCap's definition of a project's forms: one row per field, in the 18
columns below, in this order, quoted the way REDCap writes them (every header but
`Identifier?`; a value when it holds a space, a comma, a double quote or a line break). The
reader refuses a file that is not one, naming the line, the field, the column and what was
expected. `import_dictionary` turns the fields into instrument definitions (one per form) and
a draft protocol that validates: a dictionary has no visits, arms, eligibility or
randomization, so the draft holds placeholders for them, each listed in `assumptions` as "to
be completed", and its one visit collects no form until the forms are installed.

What does not become an item, and is said so in the draft's assumptions: the record id (the
first field: it becomes the subject code), fields flagged as identifiers (trialdesk stores no
direct identifiers), file uploads and dynamic SQL fields, and descriptive text (it becomes the
instrument's description). Branching logic, required flags and section headers are kept as
words in the item's description, since an instrument definition has no conditional items.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from trialdesk.errors import BadInput
from trialdesk.instruments.definition import Instrument
from trialdesk.instruments.formula import Formula, FormulaSyntaxError

COLUMNS = (
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
)
FIELD_TYPES = (
    "text",
    "notes",
    "radio",
    "dropdown",
    "checkbox",
    "yesno",
    "truefalse",
    "calc",
    "slider",
    "file",
    "descriptive",
    "sql",
)
CHOICE_TYPES = ("radio", "dropdown", "checkbox")

#: What an answer of each text validation looks like in REDCap's exported data: (item type,
#: pattern). Dates and times are exported as Y-M-D and 24-hour whatever their display order.
#: The patterns of contact and code validations approximate REDCap's own.
_DATE = r"\d{4}-\d{2}-\d{2}"
TEXT_VALIDATIONS: dict[str, tuple[str, str | None]] = {
    "integer": ("integer", None),
    "number": ("number", None),
    **{f"number_{n}dp": ("number", None) for n in range(1, 5)},
    "number_comma_decimal": ("text", r"-?\d+(,\d+)?"),
    **{f"number_{n}dp_comma_decimal": ("text", rf"-?\d+,\d{{{n}}}") for n in range(1, 5)},
    **{f"date_{order}": ("text", _DATE) for order in ("ymd", "dmy", "mdy")},
    **{f"datetime_{order}": ("text", _DATE + r" \d{2}:\d{2}") for order in ("ymd", "dmy", "mdy")},
    **{
        f"datetime_seconds_{order}": ("text", _DATE + r" \d{2}:\d{2}:\d{2}")
        for order in ("ymd", "dmy", "mdy")
    },
    "time": ("text", r"\d{2}:\d{2}"),
    "time_hh_mm_ss": ("text", r"\d{2}:\d{2}:\d{2}"),
    "time_mm_ss": ("text", r"\d{2}:\d{2}"),
    "email": ("text", r"[^@\s]+@[^@\s]+\.[^@\s]+"),
    "phone": ("text", r"\(?\d{3}\)?[ .-]?\d{3}[ .-]?\d{4}"),
    "phone_australia": ("text", r"\(?0\d\)?[ -]?\d{4}[ -]?\d{4}"),
    "zipcode": ("text", r"\d{5}(-\d{4})?"),
    "postalcode_australia": ("text", r"\d{4}"),
    "postalcode_canada": ("text", r"[A-Za-z]\d[A-Za-z] ?\d[A-Za-z]\d"),
    "postalcode_french": ("text", r"\d{5}"),
    "postalcode_germany": ("text", r"\d{5}"),
    "ssn": ("text", r"\d{3}-\d{2}-\d{4}"),
    "mrn_10d": ("text", r"\d{10}"),
    "mrn_generic": ("text", r"[A-Za-z0-9-]+"),
    "vmrn": ("text", r"\d{4,9}"),
    "alpha_only": ("text", r"[A-Za-z]+"),
}
#: Validations a file field takes.
FILE_VALIDATIONS = ("signature",)
#: The one validation trialdesk writes for a text item whose pattern is a date.
DATE_VALIDATION = "date_ymd"

VARIABLE_NAME = re.compile(r"[a-z][a-z0-9_]*")
INTEGER_CODE = re.compile(r"-?[1-9][0-9]*|0")
#: A trialdesk id kept in the Field Annotation when REDCap's lower-case name differs from it.
ID_ANNOTATION = re.compile(r"trialdesk_id=([A-Za-z][A-Za-z0-9_]*)")
#: Marks a score trialdesk computes by a rule a REDCap calculation lacks (its value only).
SCORE_ANNOTATION = "trialdesk_score="
SLIDER_DEFAULT = (0, 100)
TO_BE_COMPLETED = "to be completed"


@dataclass(frozen=True)
class DictionaryField:
    """One row of a data dictionary, its values in the order of `COLUMNS`."""

    name: str
    form: str
    section_header: str = ""
    field_type: str = "text"
    label: str = ""
    choices: str = ""
    note: str = ""
    validation: str = ""
    minimum: str = ""
    maximum: str = ""
    identifier: str = ""
    branching: str = ""
    required: str = ""
    alignment: str = ""
    question_number: str = ""
    matrix_group: str = ""
    matrix_ranking: str = ""
    annotation: str = ""

    def values(self) -> tuple[str, ...]:
        return astuple(self)


# ----------------------------------------------------------------------------- the CSV file


def csv_value(value: str) -> str:
    """`value` as REDCap writes it: quoted when it holds a space, comma, quote or line break."""
    if any(character in value for character in ' ,"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value


def csv_line(values: tuple[str, ...] | list[str]) -> str:
    return ",".join(csv_value(value) for value in values) + "\n"


def dictionary_text(dictionary: list[DictionaryField]) -> str:
    """The CSV text of a data dictionary, byte for byte as REDCap exports one."""
    header = ",".join(name if name == "Identifier?" else f'"{name}"' for name in COLUMNS)
    return header + "\n" + "".join(csv_line(field.values()) for field in dictionary)


def parse_choices(text: str) -> list[tuple[str, str]]:
    """'0, None | 1, Mild' -> [('0', 'None'), ('1', 'Mild')]; ValueError naming the part."""
    choices = []
    for part in text.split("|"):
        code, comma, label = part.strip().partition(",")
        if not comma or not code.strip():
            raise ValueError(f"'{part.strip()}' is not 'code, label'")
        choices.append((code.strip(), label.strip()))
    codes = [code for code, _ in choices]
    repeated = sorted({code for code in codes if codes.count(code) > 1})
    if repeated:
        raise ValueError(f"code {repeated[0]!r} is given twice")
    return choices


def choices_text(choices: list[tuple[str, str]]) -> str:
    return " | ".join(f"{code}, {label}" for code, label in choices)


def read_dictionary(path: Path) -> list[DictionaryField]:
    """The fields of a REDCap data dictionary file; BadInput naming the place otherwise."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except OSError as error:
        raise BadInput(f"{path}: cannot read ({error.strerror})") from None
    except UnicodeDecodeError as error:
        raise BadInput(f"{path}:1: not UTF-8 text ({error.reason})") from None
    return parse_dictionary(text, path.name)


def parse_dictionary(text: str, filename: str) -> list[DictionaryField]:
    """The fields of data dictionary CSV `text`; `filename` names it in errors."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise BadInput(f"{filename}:1: the file is empty (expected the header of a dictionary)")
        _check_header(header, filename)
        dictionary: list[DictionaryField] = []
        seen: dict[str, int] = {}
        start = reader.line_num + 1
        for row in reader:
            where = f"{filename}:{start}"
            start = reader.line_num + 1
            if not any(value.strip() for value in row):
                continue
            if len(row) != len(COLUMNS):
                raise BadInput(
                    f"{where}: {len(row)} values (expected {len(COLUMNS)}, one per column)"
                )
            field = DictionaryField(*row)
            _check_field(field, where)
            if field.name in seen:
                raise BadInput(
                    f"{where}: column 'Variable / Field Name': '{field.name}' is already the "
                    f"field of line {seen[field.name]} (expected unique field names)"
                )
            seen[field.name] = int(where.rsplit(":", 1)[1])
            dictionary.append(field)
    except csv.Error as error:
        raise BadInput(f"{filename}:{reader.line_num}: not CSV ({error})") from None
    if not dictionary:
        raise BadInput(f"{filename}:2: no fields (expected one row per field)")
    return dictionary


def _check_header(header: list[str], filename: str) -> None:
    for position, expected in enumerate(COLUMNS):
        got = header[position] if position < len(header) else None
        if got != expected:
            found = "missing" if expected not in header else f"'{got}' in its place"
            raise BadInput(
                f"{filename}:1: column {position + 1} '{expected}' is {found} "
                f"(expected the {len(COLUMNS)} columns of a REDCap data dictionary, in order: "
                f"{', '.join(COLUMNS)})"
            )
    if len(header) > len(COLUMNS):
        raise BadInput(
            f"{filename}:1: column {len(COLUMNS) + 1} '{header[len(COLUMNS)]}' is not a "
            f"dictionary column (expected {len(COLUMNS)} columns)"
        )


def _check_field(field: DictionaryField, where: str) -> None:
    def refuse(column: str, problem: str) -> BadInput:
        return BadInput(f"{where}: column '{column}' of field '{field.name}': {problem}")

    if not VARIABLE_NAME.fullmatch(field.name):
        raise BadInput(
            f"{where}: column 'Variable / Field Name': '{field.name}' is not a REDCap variable "
            "name (expected lower-case letters, digits and _, starting with a letter)"
        )
    if not VARIABLE_NAME.fullmatch(field.form):
        raise refuse(
            "Form Name",
            f"'{field.form}' is not a form name (expected lower-case letters, digits and _)",
        )
    if field.field_type not in FIELD_TYPES:
        raise refuse(
            "Field Type",
            f"'{field.field_type}' is not a REDCap field type "
            f"(expected one of {', '.join(FIELD_TYPES)})",
        )
    choices_column = COLUMNS[5]
    if field.field_type in CHOICE_TYPES:
        if not field.choices.strip():
            raise refuse(choices_column, f"a {field.field_type} field needs its choices")
        try:
            parse_choices(field.choices)
        except ValueError as error:
            raise refuse(
                choices_column, f"{error} (expected 'code, label | code, label | ...')"
            ) from None
    if field.field_type == "calc" and not field.choices.strip():
        raise refuse(choices_column, "a calc field needs its calculation")
    validation_column = COLUMNS[7]
    if field.field_type == "text" and field.validation not in ("", *TEXT_VALIDATIONS):
        raise refuse(
            validation_column,
            f"'{field.validation}' is not a text validation type "
            f"(expected one of {', '.join(TEXT_VALIDATIONS)})",
        )
    if field.field_type == "file" and field.validation not in ("", *FILE_VALIDATIONS):
        raise refuse(validation_column, f"'{field.validation}' (expected empty or signature)")
    numeric = field.field_type == "slider" or TEXT_VALIDATIONS.get(field.validation, ("",))[0] in (
        "integer",
        "number",
    )
    for column, value in ((COLUMNS[8], field.minimum), (COLUMNS[9], field.maximum)):
        if numeric and value and _number(value) is None:
            raise refuse(column, f"'{value}' is not a number")
    for column, value in ((COLUMNS[10], field.identifier), (COLUMNS[12], field.required)):
        if value not in ("", "y"):
            raise refuse(column, f"'{value}' (expected y or empty)")


def _number(text: str) -> float | int | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value.is_integer() else value


# ------------------------------------------------------------------- dictionary -> draft


@dataclass(frozen=True)
class FormImport:
    """One form of the dictionary as an instrument definition, and what was left out."""

    form: str
    document: dict[str, Any]  # the definition file's content
    left_out: tuple[str, ...]  # "field (why)"
    notes: tuple[str, ...]  # branching, required fields, untranslated calculations


@dataclass(frozen=True)
class DictionaryImport:
    """A data dictionary as a draft protocol and the instrument definitions of its forms."""

    source: str
    record_id: str
    protocol_document: dict[str, Any]
    forms: tuple[FormImport, ...]
    empty_forms: tuple[str, ...]  # forms with no field trialdesk keeps

    def instruments(self) -> list[Instrument]:
        return [Instrument.model_validate(form.document) for form in self.forms]

    def protocol_yaml(self) -> str:
        from trialdesk.protocol.yamlfile import dump_yaml

        header = (
            f"# Draft protocol imported from the REDCap data dictionary {self.source}.\n"
            f"# Complete every assumption marked '{TO_BE_COMPLETED}'.\n"
        )
        return header + dump_yaml(self.protocol_document)

    def write(self, out: Path) -> list[Path]:
        """The draft at `out` and each form's definition in `instruments_folder(out)`."""
        from trialdesk.protocol.yamlfile import dump_yaml

        folder = instruments_folder(out)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for form in self.forms:
            path = folder / f"{form.form}.yaml"
            path.write_text(
                f"# Instrument imported from form '{form.form}' of {self.source}.\n"
                + dump_yaml(form.document),
                encoding="utf-8",
            )
            written.append(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(self.protocol_yaml(), encoding="utf-8")
        return [out, *written]


def instruments_folder(out: Path) -> Path:
    """Where the instrument definitions of a draft written to `out` go: `NAME.instruments/`."""
    return out.parent / f"{out.stem}.instruments"


def is_redcap_dictionary(path: Path) -> bool:
    """By suffix (.csv) or by content (the dictionary's first header)."""
    if path.suffix.lower() == ".csv":
        return True
    try:
        with path.open(encoding="utf-8-sig") as opened:
            start = opened.read(len(COLUMNS[0]) + 1)
    except (OSError, UnicodeDecodeError):
        return False
    return start.lstrip('"').startswith(COLUMNS[0])


def import_dictionary(dictionary: list[DictionaryField], source: str) -> DictionaryImport:
    """The draft protocol and instrument definitions of a parsed data dictionary."""
    record_id = dictionary[0].name
    by_form: dict[str, list[DictionaryField]] = {}
    for field in dictionary[1:]:
        by_form.setdefault(field.form, []).append(field)
    by_form.setdefault(dictionary[0].form, [])
    forms, empty = [], []
    for form, form_fields in by_form.items():
        imported = _form_import(form, form_fields, source)
        if imported is None:
            empty.append(form)
        else:
            forms.append(imported)
    document = _draft_protocol(source, record_id, dictionary[0].form, forms, empty)
    from trialdesk.protocol.loading import validated_protocol
    from trialdesk.protocol.yamlfile import LocatedDocument

    validated_protocol(LocatedDocument(source, document))
    return DictionaryImport(source, record_id, document, tuple(forms), tuple(empty))


def item_id(field: DictionaryField) -> str:
    """The trialdesk id of a field: the one its annotation keeps, else its REDCap name."""
    kept = ID_ANNOTATION.search(field.annotation)
    return kept.group(1) if kept else field.name


def _form_import(form: str, form_fields: list[DictionaryField], source: str) -> FormImport | None:
    items: list[dict[str, Any]] = []
    scores: list[dict[str, Any]] = []
    texts: list[str] = []
    left_out: list[str] = []
    notes: list[str] = []
    title = form.replace("_", " ").capitalize()
    ids: dict[str, str] = {}  # REDCap name -> trialdesk id, of the items and scores so far
    for field in form_fields:
        kind = field.field_type
        if kind == "descriptive":
            if field.section_header and not items and not texts:
                title = field.section_header
            texts.append(field.label)
            continue
        if field.identifier == "y":
            left_out.append(f"{field.name} (an identifier: trialdesk stores none)")
            continue
        if SCORE_ANNOTATION in field.annotation:
            left_out.append(f"{field.name} (a score trialdesk computes; its rule is not here)")
            continue
        if kind in ("file", "sql"):
            why = "a file upload" if kind == "file" else "choices from a database query"
            left_out.append(f"{field.name} ({why})")
            continue
        described = _described(field, notes)
        if kind == "checkbox":
            for code, label in parse_choices(field.choices):
                suffix = re.sub(r"[^a-z0-9]", "_", code.lower())
                boolean = _item(f"{field.name}___{suffix}", f"{field.label}: {label}", "boolean")
                items.append(_with_words(boolean, described))
            continue
        if kind == "calc":
            score = _score(field, ids)
            if score is not None:
                scores.append(score)
                ids[field.name] = score["id"]
                continue
            notes.append(
                f"{field.name}: the calculation {field.choices!r} is not in trialdesk's formula "
                "language (numbers, ids, + - * / **, abs, min, max) and is imported as a number"
            )
            described = [*described, f"Calculated in REDCap: {field.choices}"]
        item = _with_words(_typed_item(field), described)
        ids[field.name] = item["id"]
        items.append(item)
    if not items:
        return None
    description = " ".join(text for text in texts if text) or (
        f"Form '{form}' of the REDCap data dictionary {source}."
    )
    document: dict[str, Any] = {
        "id": form,
        "title": title,
        "description": description,
        "licence": {
            "name": f"{TO_BE_COMPLETED}: the licence of this form's wording",
            "item_wording": "licensed",
            "notice": "The labels are the REDCap dictionary's wording; confirm the form's "
            "licence before shipping it.",
        },
        "sources": [f"REDCap data dictionary {source}, form {form}"],
        "items": items,
    }
    if scores:
        document["scores"] = scores
    try:
        Instrument.model_validate(document)
    except ValidationError as error:
        problem = error.errors()[0]
        raise BadInput(
            f"{source}: form '{form}': {problem['msg']} "
            f"(at {'.'.join(str(part) for part in problem['loc'])})"
        ) from None
    return FormImport(form, document, tuple(left_out), tuple(notes))


def _item(identifier: str, label: str, kind: str) -> dict[str, Any]:
    return {"id": identifier, "label": label or identifier, "type": kind}


def _typed_item(field: DictionaryField) -> dict[str, Any]:
    """The item of a text, notes, radio, dropdown, yes/no, true/false, slider or calc field."""
    identifier = item_id(field)
    kind = field.field_type
    if kind in ("yesno", "truefalse"):
        return _item(identifier, field.label, "boolean")
    if kind in ("radio", "dropdown"):
        choices = parse_choices(field.choices)
        if all(INTEGER_CODE.fullmatch(code) for code, _ in choices):
            options = [{"value": int(code), "label": label} for code, label in choices]
            return _item(identifier, field.label, "integer") | {"options": options}
        options = [{"value": code, "label": label} for code, label in choices]
        return _item(identifier, field.label, "code") | {"options": options}
    if kind == "slider":
        lowest = _number(field.minimum) if field.minimum else SLIDER_DEFAULT[0]
        highest = _number(field.maximum) if field.maximum else SLIDER_DEFAULT[1]
        anchors = " | ".join(part.strip() for part in field.choices.split("|"))
        item = _item(identifier, field.label, "integer") | {"minimum": lowest, "maximum": highest}
        return item | _unit(field) | ({"description": f"Slider: {anchors}"} if anchors else {})
    if kind == "calc":
        return _item(identifier, field.label, "number") | _unit(field)
    if kind == "notes" or not field.validation:
        return _item(identifier, field.label, "text") | _note(field)
    item_type, pattern = TEXT_VALIDATIONS[field.validation]
    item = _item(identifier, field.label, item_type)
    if item_type in ("integer", "number"):
        for key, value in (("minimum", field.minimum), ("maximum", field.maximum)):
            if value:
                item[key] = _number(value)
        return item | _unit(field)
    item["pattern"] = pattern
    limits = " ".join(
        f"{word} {value}"
        for word, value in (("from", field.minimum), ("to", field.maximum))
        if value
    )
    words = [field.note] + ([f"REDCap limits: {limits}."] if limits else [])
    description = " ".join(word for word in words if word)
    return item | ({"description": description} if description else {})


def _unit(field: DictionaryField) -> dict[str, Any]:
    """A number's field note is its unit (the exporter writes the unit there)."""
    return {"unit": field.note} if field.note else {}


def _note(field: DictionaryField) -> dict[str, Any]:
    return {"description": field.note} if field.note else {}


def _described(field: DictionaryField, notes: list[str]) -> list[str]:
    """What the item's description keeps of the field's branching and required flag."""
    words = []
    if field.branching:
        words.append(f"Shown only if {field.branching}.")
        notes.append(f"{field.name}: shown only if {field.branching} (not enforced)")
    if field.required == "y":
        words.append("Required in REDCap.")
        notes.append(f"{field.name}: required in REDCap (an item_missing edit check can say so)")
    return words


def _with_words(item: dict[str, Any], words: list[str]) -> dict[str, Any]:
    """`item` with `words` added to its description."""
    text = " ".join([item["description"], *words] if "description" in item else words)
    return item | {"description": text} if text else item


def _score(field: DictionaryField, ids: dict[str, str]) -> dict[str, Any] | None:
    """A calc field as a formula score, when its calculation reads only this form's earlier
    fields with arithmetic trialdesk's formula language has."""
    names = re.findall(r"\[([^\]]*)\]", field.choices)
    if any(name not in ids for name in names):
        return None
    formula = re.sub(r"\[([^\]]*)\]", lambda match: ids[match.group(1)], field.choices)
    formula = formula.replace("^", "**")
    try:
        Formula.parse(formula)
    except FormulaSyntaxError:
        return None
    score: dict[str, Any] = {
        "id": item_id(field),
        "label": field.label or field.name,
        "method": "formula",
        "formula": formula,
    }
    return score | _unit(field)


def _draft_protocol(
    source: str,
    record_id: str,
    first_form: str,
    forms: list[FormImport],
    empty: list[str],
) -> dict[str, Any]:
    assumptions = [
        {
            "what": "visits",
            "value": "one visit V1 on day 0 that collects no form",
            "why": "a data dictionary defines forms, not events; install the forms' definitions "
            f"({', '.join(form.form for form in forms)}) and name them at their visits; "
            + TO_BE_COMPLETED,
        },
        {
            "what": "subjects",
            "value": f"the record id field '{record_id}' (form {first_form}) is the subject code",
            "why": "REDCap's first field identifies the record; trialdesk codes subjects SITE-NNN",
        },
        {
            "what": "arms",
            "value": "one arm A1 of type OTHER",
            "why": "a data dictionary holds no arms; " + TO_BE_COMPLETED,
        },
        {
            "what": "design",
            "value": "interventional, single group, not randomized, not masked, purpose OTHER",
            "why": "a data dictionary holds no design; " + TO_BE_COMPLETED,
        },
        {
            "what": "treatment_plan",
            "value": "one administration on day 0",
            "why": "a data dictionary holds no treatment plan; " + TO_BE_COMPLETED,
        },
        {
            "what": "eligibility",
            "value": "no criteria",
            "why": "a data dictionary holds no eligibility criteria; " + TO_BE_COMPLETED,
        },
        {
            "what": "randomization",
            "value": "none",
            "why": "a data dictionary holds no randomization; " + TO_BE_COMPLETED,
        },
        {
            "what": "safety",
            "value": "AEs from consent to day 1; serious AEs reported within 24 hours",
            "why": "a data dictionary holds no safety reporting rules; " + TO_BE_COMPLETED,
        },
    ]
    for form in forms:
        kept = len(form.document["items"])
        scores = len(form.document.get("scores", []))
        value = f"instrument {form.form}: {kept} items" + (f", {scores} scores" if scores else "")
        why = [f"form '{form.form}' of {source}"]
        if form.left_out:
            why.append("not imported: " + "; ".join(form.left_out))
        why.extend(form.notes)
        assumptions.append({"what": f"forms.{form.form}", "value": value, "why": ". ".join(why)})
    for form in empty:
        assumptions.append(
            {
                "what": f"forms.{form}",
                "value": "not imported",
                "why": f"form '{form}' of {source} has no field trialdesk keeps",
            }
        )
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(source).stem).lstrip("_.-") or "draft"
    return {
        "schema_version": 1,
        "id": stem,
        "version": "draft",
        "identifiers": {},
        "titles": {"brief": f"Draft from the REDCap data dictionary {source}"},
        "phases": ["NA"],
        "status": {"overall": "NOT_YET_RECRUITING"},
        "sponsor": {"lead": {"name": TO_BE_COMPLETED}},
        "conditions": [TO_BE_COMPLETED],
        "design": {
            "study_type": "INTERVENTIONAL",
            "allocation": "NA",
            "intervention_model": "SINGLE_GROUP",
            "primary_purpose": "OTHER",
            "masking": "NONE",
        },
        "enrollment": {"count": 0, "type": "ESTIMATED"},
        "arms": [{"id": "A1", "label": TO_BE_COMPLETED, "type": "OTHER", "weight": 1}],
        "treatment_plan": [{"id": "T1", "label": "First administration", "day": 0}],
        "visits": [{"id": "V1", "label": TO_BE_COMPLETED, "day": 0, "forms": []}],
        "eligibility": {"criteria": []},
        "safety": {
            "ae_reporting_start": "consent",
            "ae_reporting_end_day": 1,
            "sae_reporting_hours": 24,
        },
        "assumptions": assumptions,
    }
