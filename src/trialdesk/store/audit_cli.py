"""`trialdesk audit ...`: verify the audit trail, sign checkpoints of it, show its history.

Django is imported inside the commands (through `open_store`), never at module level.
"""

from __future__ import annotations

from pathlib import Path

import typer

from trialdesk.store.cli import STUDY_OPTION, _study
from trialdesk.terminal import JSON_OPTION, print_json, reports_errors


def register(app: typer.Typer) -> None:
    audit_app = typer.Typer(help="The audit trail: verify it, show a subject's history.")
    audit_app.command("verify")(verify_audit)
    audit_app.command("checkpoint")(audit_checkpoint)
    audit_app.command("log")(audit_log)
    app.add_typer(audit_app, name="audit")


@reports_errors
def verify_audit(
    checkpoint: Path | None = typer.Option(
        None,
        "--checkpoint",
        help="Also check a checkpoint of `trialdesk audit checkpoint` (kept in another "
        "system): its signature, and that the trail still holds its event with its hash.",
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Recompute the audit chain and compare the store with it; exit 1 naming the first fault."""
    from trialdesk.store.checkpoint import read_checkpoint
    from trialdesk.store.database import open_store

    document = read_checkpoint(checkpoint) if checkpoint is not None else None
    open_store()
    from trialdesk.store.audit import verify_audit_chain
    from trialdesk.store.checkpoint import check_checkpoint

    verification = verify_audit_chain()
    problems = list(verification.problems)
    if document is not None:
        problems += check_checkpoint(document)
    if json_output:
        print_json(
            {
                "ok": not problems,
                "events": verification.events,
                "objects": verification.objects,
                "checkpoint": str(checkpoint) if checkpoint is not None else None,
                "problems": problems,
            }
        )
    elif not problems:
        held = (
            f"; checkpoint of audit event {document['seq']} ({document['time']}) holds"
            if document is not None
            else ""
        )
        typer.echo(
            f"audit trail intact: {verification.events} events, "
            f"{verification.objects} records match{held}"
        )
    if problems:
        if not json_output:
            more = len(problems) - 1
            typer.echo(f"error: {problems[0]}", err=True)
            if more:
                typer.echo(f"({more} more problem{'s' if more > 1 else ''})", err=True)
        raise typer.Exit(1)


@reports_errors
def audit_checkpoint(
    out: Path | None = typer.Option(
        None, "--out", help="Write the checkpoint to this file (default: print it)."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Sign the trail's head (sequence, hash, UTC time, store, studies) with the audit key.

    Keep the checkpoint in another system; `audit verify --checkpoint FILE` then notices a
    rewrite of the trail up to it, even by someone who has the key. Refused while the trail
    does not verify.
    """
    from trialdesk.store.database import open_store

    open_store()
    from trialdesk.store.checkpoint import take_checkpoint
    from trialdesk.terminal import json_text, write_output

    document = take_checkpoint()
    write_output(json_text(document), out)
    if out is None:
        return
    if json_output:
        print_json({"file": str(out), **document})
    else:
        typer.echo(
            f"checkpoint of audit event {document['seq']} ({document['time']}) written to "
            f"{out}; keep a copy in another system"
        )


@reports_errors
def audit_log(
    subject: str | None = typer.Argument(
        None, help="Subject code, e.g. 01-003 (the same as --subject); none: every event."
    ),
    subject_option: str | None = typer.Option(
        None, "--subject", help="Only this subject's events."
    ),
    user: str | None = typer.Option(
        None, "--user", help="Only events by this user (operator:<login> for setup steps)."
    ),
    action: str | None = typer.Option(
        None, "--action", help="Only this action, e.g. form.saved; 'subject.*' for a family."
    ),
    since: str | None = typer.Option(
        None, "--since", help="Only events on or after this date (YYYY-MM-DD, UTC)."
    ),
    until: str | None = typer.Option(
        None, "--until", help="Only events on or before this date (YYYY-MM-DD, UTC)."
    ),
    store_wide: bool = typer.Option(
        False, "--store-wide", help="The store-wide trail (users, API tokens), not a study's."
    ),
    study: str | None = STUDY_OPTION,
    csv_output: bool = typer.Option(
        False, "--csv", help="Every column of every event as CSV (RFC 4180) on stdout."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """The audit trail, oldest first: a study's, or a subject's, filtered by user, action, date.

    For people, each event takes two or three lines (seq, time, user, action; the object and
    field with old -> new; the reason) and no value is ever cut: a long value runs on, and
    the terminal wraps it. --csv and --json give every column.
    """
    import datetime as dt
    import sys

    from rich.console import Console
    from rich.text import Text

    from trialdesk.errors import BadInput

    def day(option: str, value: str | None) -> dt.date | None:
        if value is None:
            return None
        try:
            return dt.datetime.strptime(value, "%Y-%m-%d").date()
        except ValueError:
            raise BadInput(f"{option} {value!r}: expected a date YYYY-MM-DD (UTC)") from None

    if subject is not None and subject_option is not None and subject != subject_option:
        raise BadInput(
            f"SUBJECT {subject!r} and --subject {subject_option!r} differ; give one of them"
        )
    subject = subject if subject is not None else subject_option
    first_day, last_day = day("--since", since), day("--until", until)
    if first_day and last_day and first_day > last_day:
        raise BadInput(f"--since {first_day} is after --until {last_day}: no day is in both")
    if csv_output and json_output:
        raise BadInput("--csv and --json: choose one output")
    if store_wide and study is not None:
        raise BadInput("--store-wide and --study: the store-wide trail belongs to no study")

    if store_wide:
        from trialdesk.store.database import open_store

        open_store()
        label, title = "", "store-wide trail (users, API tokens)"
    else:
        chosen = _study(study)
        from trialdesk.store.audit import study_label

        label, title = study_label(chosen), str(chosen)
    from trialdesk.store.audit_log import AuditFilter, write_csv
    from trialdesk.store.errors import NotFound
    from trialdesk.store.models import AuditEvent

    chosen_filter = AuditFilter(subject, user, action, first_day, last_day)
    events = chosen_filter.apply(AuditEvent.objects.filter(study=label).order_by("seq"))
    described = chosen_filter.described()
    found = list(events)
    if (
        not found
        and subject is not None
        and not AuditEvent.objects.filter(study=label, subject=subject).exists()
    ):
        raise NotFound(f"{title}: no audit events for subject {subject!r}")

    if csv_output:
        write_csv(found, sys.stdout)
        return
    if json_output:
        rows = [
            {
                "seq": event.seq,
                "at": event.at.astimezone(dt.UTC).isoformat(),
                "by": event.by,
                "action": event.action,
                "subject": event.subject or None,
                "object": f"{event.object_type} {event.object_id}",
                "field": event.field,
                "old": event.old_value,
                "new": event.new_value,
                "reason": event.reason,
            }
            for event in found
        ]
        print_json(
            {
                "study": label or None,
                "subject": subject,
                "filters": {
                    "user": user,
                    "action": action,
                    "since": first_day and first_day.isoformat(),
                    "until": last_day and last_day.isoformat(),
                },
                "events": rows,
            }
        )
        return
    # Soft wrap: Rich neither breaks nor crops a line, whatever the width, piped or not.
    console = Console(soft_wrap=True, highlight=False)
    count = f"{len(found)} event{'s' if len(found) != 1 else ''}" if found else "no events"
    heading = f"{title}{' - ' + ', '.join(described) if described else ''}"
    console.print(Text(f"{heading}: {count} (times UTC)", style="bold"))
    indent = " " * 8
    for event in found:
        line = Text(f"{event.seq:>6}  ", style="dim")
        line.append(f"{event.at.astimezone(dt.UTC):%Y-%m-%d %H:%M}  {event.by}  ")
        line.append(event.action, style="bold")
        if event.subject and subject is None:
            line.append(f"  subject {event.subject}")
        console.print(line)
        console.print(
            Text(
                f"{indent}{event.object_type} {event.object_id} {event.field}: "
                f"{event.old_value} -> {event.new_value}"
            )
        )
        if event.reason:
            console.print(Text(f"{indent}reason: {event.reason}"))
