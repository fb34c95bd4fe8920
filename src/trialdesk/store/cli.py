"""`trialdesk study|site|user|token ...`: set a study up in the store, give users API
tokens; `trialdesk serve` runs the web app and REST API (the audit commands: `audit_cli`).

Django is imported inside the commands (through `open_store`), never at module level, so
registering these commands costs nothing to `trialdesk protocol ...` and the other areas.
Setup commands are audited as the operator: `operator:<login>`.
"""

from __future__ import annotations

import getpass
import os
import sys
from typing import TYPE_CHECKING

import typer

from trialdesk.terminal import JSON_OPTION, print_json, reports_errors

if TYPE_CHECKING:
    from trialdesk.store.models import Study

STUDY_OPTION = typer.Option(
    None, "--study", help="Protocol id of the study (needed when the store holds several)."
)


def register(app: typer.Typer) -> None:
    study_app = typer.Typer(
        help="Studies in the store: create, lock, unlock.", no_args_is_help=True
    )
    study_app.command("create")(create_study)
    study_app.command("lock")(lock_study)
    study_app.command("unlock")(unlock_study)
    app.add_typer(study_app, name="study")
    site_app = typer.Typer(help="Sites of a study.", no_args_is_help=True)
    site_app.command("add")(add_site)
    app.add_typer(site_app, name="site")
    user_app = typer.Typer(help="Users and their roles.", no_args_is_help=True)
    user_app.command("add")(add_user)
    app.add_typer(user_app, name="user")
    token_app = typer.Typer(help="API tokens of users: create, revoke.", no_args_is_help=True)
    token_app.command("create")(create_token)
    token_app.command("revoke")(revoke_token)
    app.add_typer(token_app, name="token")
    app.command("serve")(serve)


def _operator() -> str:
    return f"operator:{getpass.getuser()}"


def _study(protocol_id: str | None) -> Study:
    from trialdesk.store.database import open_store

    open_store()
    from trialdesk.store.services.setup import find_study

    return find_study(protocol_id)


@reports_errors
def create_study(
    protocol: str = typer.Argument(..., help="A shipped protocol id or a protocol file."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Load a protocol into the store and generate its allocation and kit lists."""
    from trialdesk.store.database import open_store

    open_store(create=True)
    from trialdesk.store.models import AllocationSlot, Stratum
    from trialdesk.store.services import create_study as create

    study = create(protocol, _operator())
    summary = {
        "study": study.protocol_id,
        "version": study.version,
        "protocol_sha256": study.protocol_sha256,
        "strata": Stratum.objects.filter(study=study).count(),
        "slots": AllocationSlot.objects.filter(stratum__study=study).count(),
    }
    if json_output:
        print_json(summary)
    else:
        typer.echo(
            f"created {study}: {summary['strata']} strata, {summary['slots']} allocation slots "
            "(the lists are readable by unblinded roles only)"
        )


@reports_errors
def lock_study(study: str | None = STUDY_OPTION) -> None:
    """Lock the database: every further write is refused."""
    chosen = _study(study)
    from trialdesk.store.services import lock_study as lock

    locked = lock(chosen, _operator())
    typer.echo(f"locked {locked}")


@reports_errors
def unlock_study(
    reason: str = typer.Option(..., "--reason", help="Why the locked database is reopened."),
    study: str | None = STUDY_OPTION,
) -> None:
    """Unlock a locked database (audited, and the study stays flagged as reopened)."""
    chosen = _study(study)
    from trialdesk.store.services import unlock_study as unlock

    unlocked = unlock(chosen, reason, _operator())
    typer.echo(f"unlocked {unlocked} (flagged as reopened after lock)")


@reports_errors
def add_site(
    code: str = typer.Argument(..., help="The site code from the protocol, e.g. 01."),
    name: str | None = typer.Option(None, "--name", help="Site name (default: the protocol's)."),
    study: str | None = STUDY_OPTION,
) -> None:
    """Open a protocol site in the store."""
    chosen = _study(study)
    from trialdesk.store.services import add_site as add

    site = add(chosen, code, _operator(), name)
    typer.echo(f"added site {site.code} ({site.name})")


@reports_errors
def add_user(
    name: str = typer.Argument(..., help="User name."),
    role: str = typer.Option(..., "--role", help="admin, data_manager, investigator, ..."),
    site: str | None = typer.Option(None, "--site", help="Bind the role to one site."),
    study: str | None = STUDY_OPTION,
) -> None:
    """Give a user a role in the study, study-wide or at one site."""
    chosen = _study(study)
    from trialdesk.store.services import add_user as add

    assignment = add(chosen, name, role, _operator(), site)
    where = f"at site {site}" if site else "study-wide"
    typer.echo(f"{name} is {assignment.role} {where}")


@reports_errors
def create_token(
    name: str = typer.Argument(..., help="User name."),
    label: str = typer.Option("", "--label", help="What the token is for (kept in the audit)."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Create an API token for a user; it is printed once and never kept."""
    from trialdesk.store.database import open_store

    open_store()
    from trialdesk.store.services.tokens import create_token as create
    from trialdesk.store.services.tokens import token_prefix

    token = create(name, _operator(), label)
    if json_output:
        print_json({"user": name, "prefix": token_prefix(token), "token": token})
    else:
        typer.echo(
            f"API token for {name} (prefix {token_prefix(token)}); it is shown this once, "
            "keep it safe:",
            err=True,
        )
        typer.echo(token)


@reports_errors
def revoke_token(
    prefix: str = typer.Argument(..., help="The token's prefix, as printed when created."),
) -> None:
    """Revoke an API token: requests with it are refused from now on."""
    from trialdesk.store.database import open_store

    open_store()
    from trialdesk.store.services.tokens import revoke_token as revoke

    revoked = revoke(prefix, _operator())
    typer.echo(f"revoked API token {revoked.prefix} of {revoked.user}")


@reports_errors
def serve(
    host: str = typer.Option(
        "127.0.0.1",
        "--host",
        help="Address to listen on (other host names need TRIALDESK_ALLOWED_HOSTS).",
    ),
    port: int = typer.Option(8000, "--port", min=1, max=65535),
    workers: int = typer.Option(
        (os.cpu_count() or 1) * 2 + 1, "--workers", min=1, help="Worker processes."
    ),
) -> None:
    """Run the web app and REST API (/api/v1/) with gunicorn, the store migrated first."""
    from trialdesk.store.database import open_store

    open_store()
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"  # IPv6 in brackets
    typer.echo(f"serving http://{address}/api/v1/ (docs: /api/v1/docs)", err=True)
    sys.stderr.flush()
    # gunicorn replaces this process: signals (Ctrl-C, SIGTERM) reach its master directly.
    os.execv(
        sys.executable,
        [sys.executable, "-m", "gunicorn", "trialdesk.web.wsgi:application"]
        + ["--bind", address, "--workers", str(workers), "--access-logfile", "-"]
        # The app is imported once and forked: workers start at once. No database connection
        # is open at that point (Django connects lazily).
        + ["--preload"]
        # No control socket: its default path in the home directory is shared by every server.
        + ["--no-control-socket"],
    )
