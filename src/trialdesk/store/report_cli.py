"""`trialdesk analyze report`: the study report from the store, as the access policy allows.

The shell around the core's `trialdesk.analysis.report.build_report`: it reads the store,
asks the access policy (`trialdesk.store.access`) what the user may see, and hands plain
datasets to the core, which knows nothing of users or the store. The command joins the core's
`analyze` group (`trialdesk.analysis.cli.analyze_app`).

- Results by arm (the unblinded report, datasets with arms) only for a user who may see them
  (`Access.may_see_results_by_arm`: the study-wide statistician after the lock, the data
  monitoring committee's statistician at any time). Their production is recorded first
  (`record_unblinded_output`, with the SHA-256 of the datasets it is computed from), then the
  files are written; the report's header names the record and its audit event.
- Everyone else with a role in the study (a pharmacist, a monitor, the statistician before the
  lock, site staff) gets a blinded report, of the subjects they may read (`Access.subjects()`:
  a site-bound user's sites only, said in the header), and nothing is recorded.
- A user with no live role in the study is refused.

Django is imported inside the command (through `open_store`), never at module level.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any

import typer

from trialdesk.terminal import JSON_OPTION, print_json, reports_errors

#: What the record of an unblinded report's production says was produced.
UNBLINDED_REPORT = "analysis report"


def register(app: typer.Typer) -> None:
    from trialdesk.analysis.cli import analyze_app

    analyze_app.command("report")(report_command)


@reports_errors
def report_command(
    study: str = typer.Argument(..., help="Protocol id of the study in the store."),
    out: Path = typer.Option(..., "--out", help="Directory for the report, figures and CSV."),
    user: str = typer.Option(..., "--user", help="Who generates the report (a study user)."),
    version: str | None = typer.Option(None, "--version", help="Protocol version of the study."),
    no_pdf: bool = typer.Option(False, "--no-pdf", help="Write the HTML only, no PDF."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Write the study report (HTML and PDF) from the store, as --user may see it.

    Results by arm only for the study-wide statistician after the lock or the DMC
    statistician, recorded in the audit trail; a blinded report of the subjects they may read
    for everyone else.
    """
    from rich.console import Console

    from trialdesk.store.database import open_store

    open_store()
    from trialdesk.analysis.datasets import build_datasets, canonical_csvs, csvs_sha256
    from trialdesk.analysis.report import ReportMeta, build_report
    from trialdesk.analysis.report.pdf import require_chromium
    from trialdesk.errors import BadInput, TrialdeskError
    from trialdesk.store.access import access_for
    from trialdesk.store.errors import NotFound
    from trialdesk.store.extract import extract_study
    from trialdesk.store.models import AuditEvent, StudyUser
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
    unblinded = access.may_see_results_by_arm
    protocol = chosen.protocol()
    sites = None if access.study_wide else sorted(access.sites().values_list("code", flat=True))
    named_sites = "" if sites is None else f"site{'s' * (len(sites) > 1)} {', '.join(sites)}"
    scope = f"{named_sites} only: the sites of {user}'s roles" if sites is not None else ""
    working = f"Writing the {'unblinded' if unblinded else 'blinded'} report..."
    recorded = None
    source: Any = extract_study(access)
    if not source.allocations:  # the report's tables need at least one randomized subject
        where = f" at {named_sites} (the sites of --user {user!r})" if sites is not None else ""
        raise BadInput(f"{chosen}: no randomized subject{where}; the report needs at least one")
    with nullcontext() if as_json else Console(stderr=True).status(working):
        if unblinded:
            if not no_pdf:
                require_chromium()  # before the record: a report that cannot print is not made
            source = build_datasets(source, protocol)
            digest = csvs_sha256(canonical_csvs(source))
            output = record_unblinded_output(chosen, user, UNBLINDED_REPORT, digest)
            seq = (
                AuditEvent.objects.filter(object_type="UnblindedOutput", object_id=str(output.pk))
                .order_by("seq")
                .values_list("seq", flat=True)
                .first()
            )
            recorded = {
                "id": output.pk,
                "audit_seq": seq,
                "what": output.what,
                "input_sha256": output.input_sha256,
                "produced_at": output.produced_at.isoformat(),
            }
        meta = ReportMeta(
            study=str(chosen),
            protocol_sha256=chosen.protocol_sha256,
            generated_by=user,
            locked=chosen.locked,
            reopened_after_lock=chosen.reopened_after_lock,
            generated_at=output.produced_at if recorded else None,
            scope=scope,
            recorded_as=(
                f"UnblindedOutput {recorded['id']}, audit event {recorded['audit_seq']} "
                "(output.unblinded); its input SHA-256 is the datasets SHA-256 above"
                if recorded
                else ""
            ),
        )
        result = build_report(
            source,
            protocol,
            blinded=not unblinded,
            out_dir=out,
            pdf=not no_pdf,
            meta=meta,
        )
    if recorded and result.datasets_sha256 != recorded["input_sha256"]:
        raise TrialdeskError(
            f"the report's datasets SHA-256 {result.datasets_sha256} is not the one recorded "
            f"in UnblindedOutput {recorded['id']} ({recorded['input_sha256']})"
        )
    paths = {
        "html": str(result.html),
        "pdf": str(result.pdf) if result.pdf else None,
        "figures": [str(path) for path in result.figures],
        "datasets": [str(path) for path in result.datasets],
    }
    if as_json:
        print_json(
            {
                "study": str(chosen),
                "blinded": result.blinded,
                "generated_by": user,
                "sites": sites,
                "datasets_sha256": result.datasets_sha256,
                "unblinded_output": recorded,
                **paths,
            }
        )
        return
    where = f" ({scope})" if scope else ""
    typer.echo(
        f"{'BLINDED' if result.blinded else 'UNBLINDED'} report of {chosen} for {user}{where}:"
    )
    typer.echo(f"  {result.html}")
    if result.pdf:
        typer.echo(f"  {result.pdf}")
    typer.echo(f"  {len(result.figures)} figure files and {len(result.datasets)} datasets in {out}")
    if recorded:
        typer.echo(
            f"  recorded as UnblindedOutput {recorded['id']} (audit event {recorded['audit_seq']})"
        )
