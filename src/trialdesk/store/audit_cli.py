"""`trialdesk audit ...`: verify the audit trail, show a subject's history.

Django is imported inside the commands (through `open_store`), never at module level.
"""

from __future__ import annotations

import typer

from trialdesk.store.cli import STUDY_OPTION, _study
from trialdesk.terminal import JSON_OPTION, print_json, reports_errors


def register(app: typer.Typer) -> None:
    audit_app = typer.Typer(help="The audit trail: verify it, show a subject's history.")
    audit_app.command("verify")(verify_audit)
    audit_app.command("log")(audit_log)
    app.add_typer(audit_app, name="audit")


@reports_errors
def verify_audit(json_output: bool = JSON_OPTION) -> None:
    """Recompute the audit chain and compare the store with it; exit 1 naming the first fault."""
    from trialdesk.store.database import open_store

    open_store()
    from trialdesk.store.audit import verify_audit_chain

    verification = verify_audit_chain()
    if json_output:
        print_json(
            {
                "ok": verification.ok,
                "events": verification.events,
                "objects": verification.objects,
                "problems": list(verification.problems),
            }
        )
    elif verification.ok:
        typer.echo(
            f"audit trail intact: {verification.events} events, "
            f"{verification.objects} records match"
        )
    if not verification.ok:
        if not json_output:
            more = len(verification.problems) - 1
            typer.echo(f"error: {verification.problems[0]}", err=True)
            if more:
                typer.echo(f"({more} more problem{'s' if more > 1 else ''})", err=True)
        raise typer.Exit(1)


@reports_errors
def audit_log(
    subject: str = typer.Argument(..., help="Subject code, e.g. 01-003."),
    study: str | None = STUDY_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """A subject's history: every audited change, oldest first."""
    from rich.console import Console
    from rich.table import Table

    chosen = _study(study)
    from trialdesk.store.audit import study_label
    from trialdesk.store.errors import NotFound
    from trialdesk.store.models import AuditEvent

    events = list(
        AuditEvent.objects.filter(study=study_label(chosen), subject=subject).order_by("seq")
    )
    if not events:
        raise NotFound(f"{chosen}: no audit events for subject {subject!r}")
    rows = [
        {
            "seq": event.seq,
            "at": event.at.isoformat(),
            "by": event.by,
            "action": event.action,
            "object": f"{event.object_type} {event.object_id}",
            "field": event.field,
            "old": event.old_value,
            "new": event.new_value,
            "reason": event.reason,
        }
        for event in events
    ]
    if json_output:
        print_json({"study": str(chosen), "subject": subject, "events": rows})
        return
    table = Table(title=f"{chosen} - subject {subject}")
    for column in ("seq", "at", "by", "action", "object", "field", "old", "new", "reason"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(value) for value in row.values()))
    Console().print(table)
