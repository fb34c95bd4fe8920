"""`trialdesk checks run STUDY` and `trialdesk query list STUDY`: the protocol's edit checks
over every subject, and the study's queries.

`checks run` runs through the query services (`services.queries.run_checks`), audited as the
operator (`operator:<login>`, as the setup commands are): it raises the queries of new
findings, closes those whose finding no longer holds, and finds time-dependent findings (an
SAE report now overdue) that no save has set off. `query list` reads as the operator: every
site, as a study-wide data manager would; nothing here is shown by arm. Django is imported
inside the commands (`open_store`).
"""

from __future__ import annotations

import getpass

import typer

from trialdesk.store.cli import _iso, _print, _short, _table
from trialdesk.terminal import JSON_OPTION, print_json, reports_errors

checks_app = typer.Typer(help="The protocol's edit checks: run them.", no_args_is_help=True)
query_app = typer.Typer(help="Queries to the sites: list them.", no_args_is_help=True)

STUDY_ARGUMENT = typer.Argument(..., help="Protocol id of the study in the store.")
VERSION_OPTION = typer.Option(None, "--version", help="Protocol version of the study.")


def register(app: typer.Typer) -> None:
    app.add_typer(checks_app, name="checks")
    app.add_typer(query_app, name="query")


def _operator() -> str:
    return f"operator:{getpass.getuser()}"


@checks_app.command("run")
@reports_errors
def run_command(
    study: str = STUDY_ARGUMENT, version: str | None = VERSION_OPTION, as_json: bool = JSON_OPTION
) -> None:
    """Run every edit check over every subject: raise, close and re-open automatic queries;
    print what each rule did and its queries still open or answered."""
    from trialdesk.store.database import open_store

    open_store()
    from trialdesk.store.services.queries import run_checks
    from trialdesk.store.services.setup import find_study

    chosen = find_study(study, version)
    summary = run_checks(chosen, _operator())
    if as_json:
        print_json(
            {
                "study": str(chosen),
                "rules": [
                    {
                        "rule": row.rule,
                        "text": row.text,
                        "raised": row.raised,
                        "closed": row.closed,
                        "reopened": row.reopened,
                        "open": row.open,
                        "answered": row.answered,
                    }
                    for row in summary
                ],
            }
        )
        return
    if not summary:
        typer.echo(f"{chosen}: the protocol has no edit checks")
        return
    table = _table(
        f"Edit checks of {chosen}", "rule", "raised", "closed", "re-opened", "open", "answered"
    )
    for row in summary:
        counts = (row.raised, row.closed, row.reopened, row.open, row.answered)
        table.add_row(row.rule, *(str(n) for n in counts))
    _print(table)


@query_app.command("list")
@reports_errors
def list_command(
    study: str = STUDY_ARGUMENT,
    status: str | None = typer.Option(None, "--status", help="open, answered or closed."),
    site: str | None = typer.Option(None, "--site", help="A site code."),
    version: str | None = VERSION_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """The study's queries, newest first: subject, number, place, status, rule, question and
    the latest message."""
    from trialdesk.store.database import open_store

    open_store()
    from trialdesk.errors import BadInput
    from trialdesk.store.access import Access, Grant, masked_roles
    from trialdesk.store.models import Role, Site, StudyUser
    from trialdesk.store.query_lists import queries
    from trialdesk.store.services.setup import find_study

    chosen = find_study(study, version)
    if site is not None and not Site.objects.filter(study=chosen, code=site).exists():
        raise BadInput(f"--site {site!r}: no such site in {chosen}")
    access = Access(
        chosen,
        StudyUser(username=_operator()),
        (Grant(Role.DATA_MANAGER, None, None),),
        masked_roles(chosen.protocol(), chosen.locked),
    )
    rows = queries(access, status=status, site=site)
    if as_json:
        print_json(
            {
                "study": str(chosen),
                "queries": [
                    {
                        "subject": row.subject,
                        "site": row.site,
                        "number": row.number,
                        "visit_id": row.visit_id,
                        "form": row.form,
                        "item": row.item,
                        "status": row.status,
                        "origin": row.origin,
                        "rule": row.rule,
                        "opened_by": row.opened_by,
                        "opened_at": _iso(row.opened_at),
                        "closed_at": _iso(row.closed_at),
                        "question": row.question,
                        "last_action": row.last_action,
                        "last_text": row.last_text,
                        "last_by": row.last_by,
                        "last_at": _iso(row.last_at),
                    }
                    for row in rows
                ],
            }
        )
        return
    if not rows:
        typer.echo(f"{chosen}: no queries")
        return
    table = _table(
        f"{len(rows)} quer{'ies' if len(rows) != 1 else 'y'} of {chosen} (times in UTC)",
        "query",
        "site",
        "on",
        "status",
        "rule",
        "opened",
        "question",
        "latest",
    )
    for row in rows:
        place = " ".join(part for part in (row.visit_id, row.form, row.item) if part)
        latest = f"{row.last_action} by {row.last_by or 'the edit checks'}: {row.last_text}"
        table.add_row(
            row.label,
            row.site,
            place or "subject",
            row.status,
            row.rule or "-",
            _short(row.opened_at),
            row.question,
            latest if row.last_action != "opened" else "",
        )
    _print(table)
