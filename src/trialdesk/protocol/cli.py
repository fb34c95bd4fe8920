"""`trialdesk protocol ...`: list, show, validate, schema, import, export."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from trialdesk.errors import BadInput, ProtocolError
from trialdesk.terminal import JSON_OPTION, json_text, print_json, reports_errors, write_output

protocol_app = typer.Typer(
    help="Study protocols: list, show, validate, JSON Schema, registry import and export.",
    no_args_is_help=True,
)

ProtocolArgument = Annotated[
    str, typer.Argument(help="a shipped protocol id (e.g. NCT04208646) or a protocol file path")
]


def register(app: typer.Typer) -> None:
    app.add_typer(protocol_app, name="protocol")


@protocol_app.command("list")
@reports_errors
def list_protocols(as_json: bool = JSON_OPTION) -> None:
    """List the protocols that ship with trialdesk."""
    from trialdesk.protocol import load_protocol, shipped_protocol_ids

    protocols = [load_protocol(identifier) for identifier in shipped_protocol_ids()]
    rows = [
        {
            "id": p.id,
            "title": p.titles.acronym or p.titles.brief,
            "phases": [phase.value for phase in p.phases],
            "arms": len(p.arms),
            "enrollment": p.enrollment.count,
            "status": p.status.overall.value,
        }
        for p in protocols
    ]
    if as_json:
        print_json(rows)
        return
    table = Table("id", "title", "phases", "arms", "enrollment", "status", title="Protocols")
    for row in rows:
        table.add_row(
            row["id"],
            row["title"],
            "/".join(row["phases"]),
            str(row["arms"]),
            str(row["enrollment"]),
            row["status"],
        )
    Console().print(table)


@protocol_app.command("show")
@reports_errors
def show(protocol: ProtocolArgument, as_json: bool = JSON_OPTION) -> None:
    """Show a protocol: design, arms, treatment plan, visits, criteria and assumptions."""
    from trialdesk.protocol import load_protocol
    from trialdesk.protocol.ctgov import protocol_document
    from trialdesk.protocol.summary import render_summary

    loaded = load_protocol(protocol)
    if as_json:
        print_json(protocol_document(loaded))
        return
    render_summary(loaded, Console())


@protocol_app.command("validate")
@reports_errors
def validate(
    protocols: Annotated[list[str], typer.Argument(help="protocol ids or files")],
    as_json: bool = JSON_OPTION,
) -> None:
    """Validate protocol files; every problem is one line FILE:LINE: field: expectation."""
    from trialdesk.protocol import load_protocol

    results = []
    for reference in protocols:
        try:
            loaded = load_protocol(reference)
            results.append({"protocol": reference, "id": loaded.id, "valid": True, "problems": []})
        except ProtocolError as error:
            results.append({"protocol": reference, "valid": False, "problems": error.problems})
        except BadInput as error:
            results.append({"protocol": reference, "valid": False, "problems": [str(error)]})
    if as_json:
        print_json(results)
    else:
        for result in results:
            if result["valid"]:
                typer.echo(f"{result['protocol']}: valid")
            for problem in result["problems"]:
                sys.stderr.write(f"error: {problem}\n")
    if not all(result["valid"] for result in results):
        raise typer.Exit(2)


@protocol_app.command("schema")
@reports_errors
def schema(
    out: Annotated[Path | None, typer.Option(help="write the schema to this file")] = None,
) -> None:
    """Print the JSON Schema of protocol files (for editors)."""
    from trialdesk.protocol.model import Protocol

    document = Protocol.model_json_schema(by_alias=True)
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["title"] = "trialdesk protocol"
    write_output(json_text(document), out)


@protocol_app.command("import")
@reports_errors
def import_(
    record: Annotated[
        Path,
        typer.Argument(
            help="a ClinicalTrials.gov study record (API v2 JSON or legacy XML), or a REDCap "
            "data dictionary (.csv, or a file whose first column is 'Variable / Field Name')"
        ),
    ],
    out: Annotated[Path | None, typer.Option(help="write the draft protocol YAML here")] = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Draft a protocol from a ClinicalTrials.gov record or a REDCap data dictionary."""
    from trialdesk.protocol.ctgov import import_record, protocol_document, read_record
    from trialdesk.protocol.redcap_dictionary import is_redcap_dictionary

    if is_redcap_dictionary(record):
        _import_dictionary(record, out, as_json)
        return
    imported = import_record(read_record(record))
    for warning in imported.warnings:
        sys.stderr.write(f"warning: {warning}\n")
    if out is not None:
        write_output(imported.to_yaml(), out)
        if as_json:
            print_json({"protocol": imported.protocol.id, "out": str(out)})
        else:
            sys.stderr.write(
                f"wrote {out}: {len(imported.protocol.eligibility.criteria)} criteria, "
                f"{len(imported.protocol.assumptions)} assumptions to review\n"
            )
    elif as_json:
        print_json(protocol_document(imported.protocol))
    else:
        sys.stdout.write(imported.to_yaml())


def _import_dictionary(dictionary: Path, out: Path | None, as_json: bool) -> None:
    """A REDCap data dictionary as a draft protocol at --out and its forms' instrument
    definitions in the folder beside it (NAME.instruments/)."""
    from trialdesk.protocol.redcap_dictionary import (
        import_dictionary,
        instruments_folder,
        read_dictionary,
    )

    if out is None:
        raise BadInput(
            f"{dictionary}: a REDCap dictionary imports to a draft protocol and its forms' "
            "instrument definitions; give --out FILE.yaml"
        )
    imported = import_dictionary(read_dictionary(dictionary), dictionary.name)
    written = imported.write(out)
    if as_json:
        print_json(
            {
                "protocol": imported.protocol_document["id"],
                "out": str(out),
                "instruments": [str(path) for path in written[1:]],
                "not_imported": list(imported.empty_forms),
            }
        )
    else:
        sys.stderr.write(
            f"wrote {out} and {len(written) - 1} instrument definitions in "
            f"{instruments_folder(out)}: {len(imported.protocol_document['assumptions'])} "
            "assumptions to review\n"
        )


@protocol_app.command("export")
@reports_errors
def export(
    protocol: ProtocolArgument,
    format: Annotated[str, typer.Option("--format", help="ctgov: ClinicalTrials.gov API v2")],
    out: Annotated[Path | None, typer.Option(help="write to this file instead of stdout")] = None,
) -> None:
    """Export a protocol as a registry record."""
    from trialdesk.protocol import load_protocol
    from trialdesk.protocol.ctgov import export_record

    if format != "ctgov":
        raise BadInput(f"--format {format}: unknown format (expected: ctgov)")
    write_output(json_text(export_record(load_protocol(protocol))), out)
