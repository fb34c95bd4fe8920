"""`trialdesk demo run PROTOCOL`: a virtual trial from screening to database lock in the store.

Django is imported inside the command (through `open_store`), never at module level, so
registering it costs the other areas nothing.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import typer

from trialdesk.errors import BadInput
from trialdesk.terminal import JSON_OPTION, print_json, reports_errors

if TYPE_CHECKING:
    from rich.table import Table

    from trialdesk.store.demo import TrialSummary


def register(app: typer.Typer) -> None:
    demo_app = typer.Typer(
        help="Virtual trials driven through the store's services.", no_args_is_help=True
    )
    demo_app.command("run")(run_demo)
    demo_app.command("logins")(print_demo_logins)
    app.add_typer(demo_app, name="demo")


@reports_errors
def run_demo(
    protocol: str = typer.Argument(..., help="A shipped protocol id or a protocol file."),
    patients: int | None = typer.Option(
        None, "--patients", help="Subjects to randomize (default: the protocol's enrollment)."
    ),
    seed: int = typer.Option(
        0, "--seed", help="Seed of everything the demo draws (the store draws the allocation)."
    ),
    effect: list[str] = typer.Option(
        [],
        "--effect",
        help="ARM=POINTS: the arm's improvement beyond the response every arm has, in WOMAC "
        "0-100 points at the last visit (repeat per arm; default 0 for the control arm: the first "
        "placebo, sham or no-intervention arm, else the first active comparator; 8 for the "
        "others).",
    ),
    lock: bool = typer.Option(
        True, "--lock/--no-lock", help="Lock the database at the end (default) or leave it open."
    ),
    misbehaving_sites: bool = typer.Option(
        False,
        "--misbehaving-sites",
        help="Seed three misbehaving sites, the largest: one fabricates vitals and knee "
        "examinations (low variance, digit preference), one enters its data late, one "
        "under-reports adverse events. The trial then runs on a simulated clock and needs a "
        "store whose audit trail ends before the trial begins (an empty store).",
    ),
    misbehave: list[str] = typer.Option(
        [],
        "--misbehave",
        help="SITE=HOW: this site misbehaves so (fabricates, enters-late, under-reports-aes); "
        "repeat per site; wins over --misbehaving-sites for the sites it names.",
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Run a whole virtual trial in the store: screening, randomization, visits, adverse
    events, withdrawals, database lock; then verify the audit trail."""
    effects = parse_effects(effect)
    misbehaviour = parse_misbehaviour(misbehave)
    from trialdesk.store.database import open_store

    open_store(create=True)
    from trialdesk.store.demo import run_virtual_trial

    if json_output:
        summary = run_virtual_trial(
            protocol,
            patients=patients,
            seed=seed,
            effects=effects,
            lock=lock,
            misbehaving_sites=misbehaving_sites,
            misbehaviour=misbehaviour,
        )
        print_json(summary.to_json())
    else:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        columns = (BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress("{task.description}", *columns, transient=True) as bar:
            task = bar.add_task(f"{protocol}: screened patients", total=None)
            summary = run_virtual_trial(
                protocol,
                patients=patients,
                seed=seed,
                effects=effects,
                lock=lock,
                misbehaving_sites=misbehaving_sites,
                misbehaviour=misbehaviour,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        Console().print(summary_table(summary))
    if not summary.audit_verified:
        typer.echo("error: the audit trail does not verify (trialdesk audit verify)", err=True)
        raise typer.Exit(1)


@reports_errors
def print_demo_logins(json_output: bool = JSON_OPTION) -> None:
    """New passwords and API tokens for the demo's users (only users the demo made), printed:
    for trying the web app and the API on a demo store."""
    from trialdesk.store.database import open_store

    open_store()
    from trialdesk.store.demo.logins import demo_logins

    logins = demo_logins()
    if json_output:
        print_json({"logins": [login.__dict__ for login in logins]})
        return
    if not logins:
        typer.echo("no demo users in this store (trialdesk demo run makes them)")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="demo sign-ins (web app: user name and password; API: Bearer token)")
    for column in ("user", "roles", "password", "API token"):
        table.add_column(column, overflow="fold")
    for login in logins:
        table.add_row(login.username, login.roles, login.password, login.token)
    Console(width=200).print(table)


def parse_effects(pairs: list[str]) -> dict[str, float]:
    """`["HIGH=12", "LOW=6"]` -> {"HIGH": 12.0, "LOW": 6.0}; the arms are checked later."""
    effects: dict[str, float] = {}
    for pair in pairs:
        arm, equals, points = (part.strip() for part in pair.partition("="))
        try:
            value = float(points)
        except ValueError:
            value = math.nan
        if not equals or not arm or not math.isfinite(value):
            raise BadInput(f"--effect {pair!r}: expected ARM=POINTS, e.g. HIGH=10")
        if arm in effects:
            raise BadInput(f"--effect: arm {arm} is given twice")
        effects[arm] = value
    return effects


def parse_misbehaviour(pairs: list[str]) -> dict[str, str]:
    """`["05=fabricates"]` -> {"05": "fabricates"}; sites and kinds are checked later."""
    chosen: dict[str, str] = {}
    for pair in pairs:
        site, equals, kind = (part.strip() for part in pair.partition("="))
        if not equals or not site or not kind:
            raise BadInput(f"--misbehave {pair!r}: expected SITE=HOW, e.g. 03=enters-late")
        if site in chosen:
            raise BadInput(f"--misbehave: site {site} is given twice")
        chosen[site] = kind
    return chosen


def summary_table(summary: TrialSummary) -> Table:
    """The run's figures for people: counts only, arms as counts per arm."""
    from rich.table import Table

    table = Table(title=f"{summary.study}: virtual trial, seed {summary.seed}", show_header=False)
    table.add_column("")
    table.add_column("", justify="right")
    rows: list[tuple[str, object]] = [
        ("period", f"{summary.first_screening} .. {summary.last_visit}"),
        ("screened", summary.screened),
        ("screen failures", sum(summary.screen_failures.values())),
        *((f"  {reason}", count) for reason, count in summary.screen_failures.items()),
        ("still in screening", summary.in_screening),
        ("randomized", sum(summary.randomized.values())),
        *((f"  arm {arm}", count) for arm, count in summary.randomized.items()),
        ("treated", summary.treated),
        ("completed", summary.completed),
        ("withdrawn", summary.withdrawn),
        ("lost to follow-up", summary.lost_to_follow_up),
        ("visits done", summary.visits_done),
        ("visits missed", summary.visits_missed),
        ("forms saved", summary.forms_saved),
        ("adverse events", summary.adverse_events),
        ("  serious", summary.serious_adverse_events),
        ("  SAE reports late", summary.late_sae_reports),
        ("deviations, automatic", summary.deviations_automatic),
        ("deviations, manual", summary.deviations_manual),
        ("audit events", summary.audit_events),
        ("audit trail", "verified" if summary.audit_verified else "DOES NOT VERIFY"),
        ("database", "locked" if summary.locked else "open"),
        *((f"site {site} misbehaves", how) for site, how in summary.misbehaving_sites.items()),
        ("time", f"{summary.elapsed_seconds:.1f} s"),
    ]
    for label, value in rows:
        table.add_row(label, str(value))
    return table
