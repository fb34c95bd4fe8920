"""`trialdesk instrument list|show` and `trialdesk score ID ANSWERS.json`.

Only Typer, Rich and the standard library are imported here; the instrument package (pydantic,
YAML) is imported inside the commands.
"""

from __future__ import annotations

import json
import sys
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from trialdesk.errors import InstrumentError
from trialdesk.terminal import JSON_OPTION, print_json, reports_errors


def register(app: typer.Typer) -> None:
    instrument_app = typer.Typer(
        help="Outcome instruments (questionnaires, assessments, data forms) and their scoring.",
        no_args_is_help=True,
    )
    instrument_app.command("list")(list_instruments)
    instrument_app.command("show")(show_instrument)
    app.add_typer(instrument_app, name="instrument")
    app.command("score")(score_answers)


@reports_errors
def list_instruments(as_json: bool = JSON_OPTION) -> None:
    """List the shipped instruments."""
    from trialdesk.instruments import get_instrument, instrument_ids

    instruments = [get_instrument(instrument_id) for instrument_id in instrument_ids()]
    if as_json:
        print_json(
            [
                {
                    "id": instrument.id,
                    "title": instrument.title,
                    "items": len(instrument.items),
                    "scores": [score.id for score in instrument.scores],
                    "licence": instrument.licence.name,
                }
                for instrument in instruments
            ]
        )
        return
    table = Table("id", "title", "items", "scores")
    for instrument in instruments:
        table.add_row(
            instrument.id,
            instrument.title,
            str(len(instrument.items)),
            ", ".join(score.id for score in instrument.scores) or "-",
        )
    Console().print(table)


@reports_errors
def show_instrument(
    instrument_id: str = typer.Argument(..., metavar="ID", help="Instrument id, e.g. womac."),
    texts: Path | None = typer.Option(
        None, "--texts", help="YAML/JSON file of licensed item wording (item id -> text)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Show an instrument's items, scores, licence and sources."""
    from trialdesk.instruments import get_instrument, item_texts, load_item_texts

    instrument = get_instrument(instrument_id)
    wording = item_texts(instrument_id)
    if texts is not None:
        wording.update(load_item_texts(instrument_id, texts))
    if as_json:
        document = instrument.model_dump(mode="json", exclude_none=True)
        for item in document["items"]:
            item["text"] = wording[item["id"]]
        print_json(document)
        return
    console = Console()
    console.print(f"[bold]{instrument.id}[/bold]: {instrument.title}")
    console.print(instrument.description)
    console.print(f"Licence: {instrument.licence.name}")
    for name, parameter in instrument.parameters.items():
        setting = (
            "set by the protocol" if parameter.default is None else f"default {parameter.default}"
        )
        console.print(f"Parameter {name}: {parameter.description} ({setting})")
    items = Table("item", "text", "allowed")
    for item in instrument.items:
        items.add_row(item.id, wording[item.id], item.allowed())
    console.print(items)
    if instrument.scores:
        scores = Table("score", "label", "method", "range", "direction")
        for score in instrument.scores:
            scores.add_row(
                score.id,
                score.label,
                score.method,
                _range(score.minimum, score.maximum),
                (score.direction or "").replace("_", " "),
            )
        console.print(scores)
    for source in instrument.sources:
        console.print(f"Source: {source}")


@reports_errors
def score_answers(
    instrument_id: str = typer.Argument(..., metavar="ID", help="Instrument id, e.g. koos."),
    answers_path: Path = typer.Argument(
        ...,
        metavar="ANSWERS.json",
        help="JSON object item id -> value (null = missing); - = stdin.",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Score one completed form. Scores that cannot be computed are null."""
    from trialdesk.instruments import get_instrument

    instrument = get_instrument(instrument_id)
    scores = instrument.score(_read_answers(answers_path))
    if as_json:
        print_json(scores)
        return
    table = Table("score", "value", "label")
    for definition in instrument.scores:
        table.add_row(definition.id, display_value(scores[definition.id]), definition.label)
    Console().print(table)


def _read_answers(path: Path) -> Any:
    from trialdesk.instruments.catalogue import read_text

    name = "stdin" if str(path) == "-" else str(path)
    text = sys.stdin.read() if name == "stdin" else read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InstrumentError(
            f"{name}:{error.lineno}:{error.colno}: not valid JSON: {error.msg}"
        ) from None


def display_value(value: object) -> str:
    """A score for people: floats rounded half-up to one decimal, missing as 'not computable'."""
    if value is None:
        return "not computable"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return str(Decimal(repr(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))
    return str(value)


def _range(minimum: float | None, maximum: float | None) -> str:
    if minimum is None and maximum is None:
        return ""
    return (
        f"{'' if minimum is None else f'{minimum:g}'}-{'' if maximum is None else f'{maximum:g}'}"
    )
