"""`trialdesk import odm STUDY FILE --by USER [--reason R]`: clinical data from a standard file.

The store's shell around `trialdesk.store.odm_import`: the file is read and checked, then
written in one audited transaction as --by's entry (a coordinator, investigator or assessor
of the subjects' sites), or refused as a whole with the file's line and what was expected.
"""

from __future__ import annotations

from pathlib import Path

import typer

from trialdesk.terminal import JSON_OPTION, print_json, reports_errors

import_app = typer.Typer(
    help="Load clinical data from a standard file into a study.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(import_app, name="import")


@import_app.command("odm")
@reports_errors
def import_odm_command(
    study: str = typer.Argument(..., help="Protocol id of the study in the store."),
    file: Path = typer.Argument(..., help="The CDISC ODM 1.3 file (its ClinicalData)."),
    by: str = typer.Option(..., "--by", help="Who enters the data (a study user)."),
    reason: str = typer.Option(
        "", "--reason", help="Reason for change of every saved value the file changes."
    ),
    version: str | None = typer.Option(None, "--version", help="Protocol version of the study."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Load the file's ClinicalData into STUDY through the form services (audited, checked
    like any entry); all or nothing."""
    from trialdesk.store.database import open_store

    open_store()
    from trialdesk.store.odm_import import import_odm
    from trialdesk.store.services.setup import find_study

    result = import_odm(find_study(study, version), file, by, reason)
    if as_json:
        print_json(result.as_json())
    else:
        typer.echo(
            f"{result.study}: {result.forms} form(s) in {file}: {result.entered} entered, "
            f"{result.changed} changed, {result.unchanged} unchanged "
            f"({result.audit_events} audit events)"
        )
