"""`trialdesk export STUDY --format F --out PATH --user U`: the study in a standard format,
as --user may see it (`trialdesk.store.exports`)."""

from __future__ import annotations

from pathlib import Path

import typer

from trialdesk.terminal import JSON_OPTION, print_json, reports_errors


def register(app: typer.Typer) -> None:
    app.command("export")(export_command)


@reports_errors
def export_command(
    study: str = typer.Argument(..., help="Protocol id of the study in the store."),
    format: str = typer.Option(..., "--format", help="odm, sdtm, fhir, redcap or ctgov-results."),
    out: Path = typer.Option(..., "--out", help="The file or, for sdtm and redcap, the directory."),
    user: str = typer.Option(..., "--user", help="Who exports (a study user)."),
    version: str | None = typer.Option(None, "--version", help="Protocol version of the study."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Export the study as --user may see it: a blinded user's export has no arm, and an
    export with arms is recorded in the audit trail as an unblinded output. Exports are
    taken by study-wide data managers, statisticians and DMC statisticians."""
    from trialdesk.exchange import FORMATS
    from trialdesk.store.database import open_store

    if format not in FORMATS:  # before the store is opened
        from trialdesk.errors import BadInput

        raise BadInput(f"--format {format!r}: expected one of {', '.join(FORMATS)}")
    open_store()
    from trialdesk.store.access import access_for
    from trialdesk.store.errors import NotFound
    from trialdesk.store.exports import export_study
    from trialdesk.store.models import StudyUser
    from trialdesk.store.services.setup import find_study

    chosen = find_study(study, version)
    reader = StudyUser.objects.filter(username=user).first()
    if reader is None:
        raise NotFound(f"--user {user!r}: no such user in the store")
    access = access_for(chosen, reader)
    if not access.has_role:
        raise NotFound(
            f"--user {user!r} has no role in {chosen} (none given, revoked, or the user is "
            "deactivated); expected a user of the study"
        )
    result = export_study(access, format, out)
    if as_json:
        print_json(
            {
                "study": str(chosen),
                "format": format,
                "blinded": result.blinded,
                "files": [str(path) for path in result.files],
                "sha256": result.sha256,
                "unblinded_output": result.recorded_output,
            }
        )
    else:
        kind = "blinded" if result.blinded else "unblinded (recorded in the audit trail)"
        typer.echo(f"{chosen}: {format} export, {kind}, {len(result.files)} file(s) in {out}")
