"""`trialdesk export STUDY --format F --out PATH --user U`: the study in a standard format.

The store's shell around `trialdesk.exchange`: the source is read through the access policy
(`export_feed.export_source`), so what --user may not see is not in it. An export with arms
(a reader who may see results by arm) is an unblinded output: its files are written to a
temporary place first, their SHA-256 recorded (`record_unblinded_output`, audited), and only
then moved to --out.
"""

from __future__ import annotations

import hashlib
import importlib
import shutil
import tempfile
from pathlib import Path

import typer

from trialdesk.terminal import JSON_OPTION, print_json, reports_errors


def register(app: typer.Typer) -> None:
    app.command("export")(export_command)


def files_sha256(paths: list[Path], root: Path) -> str:
    """One SHA-256 over the files' names (relative to `root`) and contents, in name order."""
    digest = hashlib.sha256()
    for path in sorted(paths, key=lambda p: p.relative_to(root).as_posix()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


@reports_errors
def export_command(
    study: str = typer.Argument(..., help="Protocol id of the study in the store."),
    format: str = typer.Option(..., "--format", help="odm, sdtm, fhir, redcap or ctgov-results."),
    out: Path = typer.Option(..., "--out", help="The file or, for sdtm and redcap, the directory."),
    user: str = typer.Option(..., "--user", help="Who exports (a study user)."),
    version: str | None = typer.Option(None, "--version", help="Protocol version of the study."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Export the study as --user may see it: a blinded user's export has no arm."""
    from trialdesk.errors import BadInput
    from trialdesk.exchange import FORMATS

    chosen_format = FORMATS.get(format)
    if chosen_format is None:
        raise BadInput(f"--format {format!r}: expected one of {', '.join(FORMATS)}")
    if out.exists() and not chosen_format.directory and out.is_dir():
        raise BadInput(f"--out {out}: a directory; --format {format} writes one file")
    if out.exists() and chosen_format.directory and not out.is_dir():
        raise BadInput(f"--out {out}: a file; --format {format} writes a directory")

    from trialdesk.store.database import open_store

    open_store()
    from trialdesk.store.access import access_for
    from trialdesk.store.errors import NotFound
    from trialdesk.store.export_feed import export_source
    from trialdesk.store.models import StudyUser
    from trialdesk.store.services.outputs import record_unblinded_output
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
    source = export_source(access)
    writer = importlib.import_module(chosen_format.module)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".export-") as staging:
        staged = Path(staging) / out.name
        written = writer.write(source, staged)
        digest = files_sha256(written, Path(staging))
        if not source.blinded:
            record_unblinded_output(chosen, user, f"{format} export", digest)
        if chosen_format.directory:
            out.mkdir(exist_ok=True)
            for path in written:
                target = out / path.relative_to(staged)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(path, target)
        else:
            shutil.move(staged, out)
    files = [
        str(out / p.relative_to(staged)) if chosen_format.directory else str(out) for p in written
    ]
    result = {
        "study": str(chosen),
        "format": format,
        "blinded": source.blinded,
        "files": files,
        "sha256": digest,
    }
    if as_json:
        print_json(result)
    else:
        kind = "blinded" if source.blinded else "unblinded (recorded in the audit trail)"
        typer.echo(f"{chosen}: {format} export, {kind}, {len(files)} file(s) in {out}")
