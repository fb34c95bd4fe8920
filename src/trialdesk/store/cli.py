"""`trialdesk study|site|user|role|token ...`: set a study up in the store, give users API
tokens, list and take access away; `trialdesk serve` runs the web app and REST API (the audit
commands: `audit_cli`).

Django is imported inside the commands (through `open_store`), never at module level, so
registering these commands costs nothing to `trialdesk protocol ...` and the other areas.
Setup commands are audited as the operator: `operator:<login>`. Listings print Rich tables
whose cells wrap (never cut with an ellipsis) in any width, piped or not; `--json` gives every
value in full.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import sys
from typing import TYPE_CHECKING, Any

import typer

from trialdesk.errors import BadInput
from trialdesk.terminal import JSON_OPTION, print_json, reports_errors

if TYPE_CHECKING:
    from rich.table import Table

    from trialdesk.store.models import RoleAssignment, Study

STUDY_OPTION = typer.Option(
    None, "--study", help="Protocol id of the study (needed when the store holds several)."
)
LISTED_STUDY_OPTION = typer.Option(
    None, "--study", help="Protocol id of one study (default: every study in the store)."
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
    site_app.command("list")(list_sites)
    app.add_typer(site_app, name="site")
    user_app = typer.Typer(help="Users and their roles.", no_args_is_help=True)
    user_app.command("add")(add_user)
    user_app.command("list")(list_users)
    user_app.command("deactivate")(deactivate_user)
    user_app.command("password")(set_user_password)
    user_app.command("name")(set_user_name)
    app.add_typer(user_app, name="user")
    role_app = typer.Typer(help="Roles of users in a study: revoke.", no_args_is_help=True)
    role_app.command("revoke")(revoke_role)
    app.add_typer(role_app, name="role")
    token_app = typer.Typer(help="API tokens of users: create, list, revoke.", no_args_is_help=True)
    token_app.command("create")(create_token)
    token_app.command("list")(list_tokens)
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


def _listed_study(protocol_id: str | None) -> Study | None:
    """The store opened; the study named, or None to list every study's."""
    from trialdesk.store.database import open_store

    open_store()
    if protocol_id is None:
        return None
    from trialdesk.store.services.setup import find_study

    return find_study(protocol_id)


def _iso(at: dt.datetime | None) -> str | None:
    return at.astimezone(dt.UTC).isoformat() if at else None


def _short(at: dt.datetime) -> str:
    """A time for people, to the minute, in UTC (tables say so in their title)."""
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")


def _table(title: str, *columns: str) -> Table:
    """A table whose cells wrap, folding a word longer than its column, rather than cut."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _print(table: Table) -> None:
    from rich.console import Console

    Console(highlight=False).print(table)


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
def lock_study(
    study: str | None = STUDY_OPTION,
    reason: str = typer.Option("", "--reason", help="Why the database is locked now (audited)."),
    override_reason: str = typer.Option(
        "",
        "--override-reason",
        help="Lock although queries are open or answered or casebooks of randomized subjects "
        "are unsigned, and why (audited with what was overridden).",
    ),
) -> None:
    """Lock the database: every further write is refused. Refused while queries are open or
    casebooks unsigned, unless overridden with a reason."""
    chosen = _study(study)
    from trialdesk.store.audit import study_label
    from trialdesk.store.errors import StudyLocked
    from trialdesk.store.models import AuditEvent
    from trialdesk.store.services import lock_study as lock

    try:
        locked = lock(chosen, _operator(), reason, override_reason=override_reason)
    except StudyLocked:
        # Nothing to do, and nothing written: the database is locked as asked.
        event = (
            AuditEvent.objects.filter(study=study_label(chosen), action="study.locked")
            .order_by("-seq")
            .first()
        )
        since = f" (since {_short(event.at)} UTC, by {event.by})" if event else ""
        typer.echo(f"{chosen} is already locked{since}")
        return
    typer.echo(f"locked {locked}" + (" (override recorded)" if override_reason.strip() else ""))


@reports_errors
def unlock_study(
    reason: str = typer.Option(..., "--reason", help="Why the locked database is reopened."),
    study: str | None = STUDY_OPTION,
) -> None:
    """Unlock a locked database (audited, and the study stays flagged as reopened)."""
    chosen = _study(study)
    if not chosen.locked:
        # The state asked for already holds: say so, write nothing, exit 0 (as lock does).
        typer.echo(f"{chosen} is not locked: nothing to unlock")
        return
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
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Also set the web app password, read from stdin."
    ),
    full_name: str = typer.Option(
        "", "--name", help="The printed name the user's electronic signatures show."
    ),
) -> None:
    """Give a user a role in the study, study-wide or at one site."""
    chosen = _study(study)
    from trialdesk.store.services import add_user as add
    from trialdesk.store.services.accounts import check_password_rules, set_password

    password = _password_from_stdin() if password_stdin else None
    if password is not None:
        check_password_rules(name, password)  # before the role: a refused password adds nothing
    assignment = add(chosen, name, role, _operator(), site, full_name)
    where = f"at site {site}" if site else "study-wide"
    typer.echo(f"{name} is {assignment.role} {where}")
    if password is not None:
        set_password(name, password, _operator())
        typer.echo(f"{name} signs in to the web app with the password given")


@reports_errors
def set_user_password(
    name: str = typer.Argument(..., help="User name."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from stdin (the only way to give it)."
    ),
) -> None:
    """Set the password a user signs in to the web app with (Argon2-hashed; audited)."""
    if not password_stdin:
        raise BadInput("give the password on stdin with --password-stdin (never as an argument)")
    password = _password_from_stdin()
    from trialdesk.store.database import open_store

    open_store()
    from trialdesk.store.services.accounts import set_password

    set_password(name, password, _operator())
    typer.echo(f"{name} signs in to the web app with the new password")


@reports_errors
def set_user_name(
    name: str = typer.Argument(..., help="User name."),
    full_name: str = typer.Argument(..., help='The printed name, e.g. "Ines Holm, MD".'),
) -> None:
    """Set the printed name a user's electronic signatures show (audited); an investigator
    without one cannot sign."""
    from trialdesk.store.database import open_store

    open_store()
    from trialdesk.store.services.setup import set_full_name

    user = set_full_name(name, full_name, _operator())
    typer.echo(f"{user.username} signs as {user.full_name}")


def _password_from_stdin() -> str:
    """The first line of stdin, without its line ending (a password may have spaces)."""
    line = sys.stdin.readline()
    password = line.rstrip("\r\n")
    if not password:
        raise BadInput("--password-stdin: stdin gave no password (expected one line)")
    return password


@reports_errors
def list_sites(study: str | None = LISTED_STUDY_OPTION, json_output: bool = JSON_OPTION) -> None:
    """The open sites: code, name, subjects, and users with a role bound to the site."""
    chosen = _listed_study(study)
    from trialdesk.store.services.setup import list_sites as sites_of

    sites = sites_of(chosen)
    if json_output:
        print_json(
            {
                "sites": [
                    {
                        "study": site.study.protocol_id,
                        "version": site.study.version,
                        "code": site.code,
                        "name": site.name,
                        "subjects": site.subject_count,
                        "users": site.user_count,
                    }
                    for site in sites
                ]
            }
        )
        return
    if not sites:
        typer.echo(f"no open sites{f' in {chosen}' if chosen else ''}")
        return
    table = _table(
        f"{len(sites)} site{'s' if len(sites) != 1 else ''}{f' of {chosen}' if chosen else ''}",
        "study",
        "site",
        "name",
        "subjects",
        "site users",
    )
    for site in sites:
        table.add_row(
            str(site.study), site.code, site.name, str(site.subject_count), str(site.user_count)
        )
    _print(table)


def _role_text(assignment: RoleAssignment, with_study: bool) -> str:
    where = f" at site {assignment.site.code}" if assignment.site else " (study-wide)"
    study = f"{assignment.study}: " if with_study else ""
    revoked = (
        f", revoked {assignment.revoked_at.astimezone(dt.UTC):%Y-%m-%d}"
        if assignment.revoked_at
        else ""
    )
    return f"{study}{assignment.role}{where}{revoked}"


@reports_errors
def list_users(study: str | None = LISTED_STUDY_OPTION, json_output: bool = JSON_OPTION) -> None:
    """Users: active or deactivated, their roles and sites (revoked ones marked), tokens."""
    chosen = _listed_study(study)
    from trialdesk.store.services.setup import list_users as users_of

    users = users_of(chosen)
    if json_output:
        print_json({"users": [_user_document(user) for user in users]})
        return
    if not users:
        typer.echo(f"no users{f' in {chosen}' if chosen else ''}")
        return
    studies = {assignment.study_id for user in users for assignment in user.listed_roles}
    table = _table(
        f"{len(users)} user{'s' if len(users) != 1 else ''}{f' of {chosen}' if chosen else ''}"
        " (dates UTC)",
        "user",
        "status",
        "roles",
        "API tokens",
    )
    for user in users:
        status = (
            f"deactivated {user.deactivated_at.astimezone(dt.UTC):%Y-%m-%d}"
            if user.deactivated_at
            else "active"
        )
        roles = "\n".join(_role_text(a, len(studies) > 1) for a in user.listed_roles) or "none"
        tokens = (
            f"{_live_tokens(user)} live of {user.tokens_total}" if user.tokens_total else "none"
        )
        table.add_row(user.username, status, roles, tokens)
    _print(table)


def _user_document(user: Any) -> dict[str, Any]:
    return {
        "user": user.username,
        "created_at": _iso(user.created_at),
        "active": user.deactivated_at is None,
        "deactivated_at": _iso(user.deactivated_at),
        "roles": [
            {
                "study": assignment.study.protocol_id,
                "version": assignment.study.version,
                "role": assignment.role,
                "site": assignment.site.code if assignment.site else None,
                "revoked_at": _iso(assignment.revoked_at),
            }
            for assignment in user.listed_roles
        ],
        "tokens": {"live": _live_tokens(user), "total": user.tokens_total},
    }


def _live_tokens(user: Any) -> int:
    """Tokens that let the user in: not revoked, and the user not deactivated."""
    return 0 if user.deactivated_at else user.tokens_live


@reports_errors
def deactivate_user(
    name: str = typer.Argument(..., help="User name."),
    reason: str = typer.Option(..., "--reason", help="Why the user loses access (audited)."),
) -> None:
    """Deactivate a user in every study: their API tokens and roles stop working (audited)."""
    from trialdesk.store.database import open_store

    open_store()
    from trialdesk.store.services.setup import deactivate_user as deactivate

    user = deactivate(name, reason, _operator())
    typer.echo(
        f"deactivated {user.username} at {_short(user.deactivated_at)} UTC: their API tokens "
        "and roles no longer let them in"
    )


@reports_errors
def revoke_role(
    name: str = typer.Argument(..., help="User name."),
    role: str = typer.Option(..., "--role", help="The role to revoke: coordinator, ..."),
    site: str | None = typer.Option(
        None, "--site", help="The site the role is bound to (none: the study-wide role)."
    ),
    reason: str = typer.Option(..., "--reason", help="Why the role is revoked (audited)."),
    study: str | None = STUDY_OPTION,
) -> None:
    """Revoke one role of a user in the study; the user's other roles are kept."""
    chosen = _study(study)
    from trialdesk.store.services.setup import revoke_role as revoke

    assignment = revoke(chosen, name, role, reason, _operator(), site)
    where = f"at site {site}" if site else "study-wide"
    typer.echo(f"revoked {name}'s role {assignment.role} {where} in {chosen}")


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
def list_tokens(
    user: str | None = typer.Option(None, "--user", help="Only this user's tokens."),
    json_output: bool = JSON_OPTION,
) -> None:
    """API tokens: prefix, user, created, revoked (the tokens themselves are never kept)."""
    from trialdesk.store.database import open_store

    open_store()
    from trialdesk.store.services.tokens import list_tokens as tokens_of

    tokens = tokens_of(user)
    if json_output:
        print_json(
            {
                "tokens": [
                    {
                        "prefix": token.prefix,
                        "user": token.user.username,
                        "created_at": _iso(token.created_at),
                        "revoked_at": _iso(token.revoked_at),
                        "user_deactivated_at": _iso(token.user.deactivated_at),
                        "live": token.revoked_at is None and token.user.deactivated_at is None,
                    }
                    for token in tokens
                ]
            }
        )
        return
    if not tokens:
        typer.echo(f"no API tokens{f' of {user}' if user else ''}")
        return
    table = _table(
        f"{len(tokens)} API token{'s' if len(tokens) != 1 else ''}"
        f"{f' of {user}' if user else ''} (times UTC)",
        "prefix",
        "user",
        "created",
        "revoked",
    )
    for token in tokens:
        revoked = _short(token.revoked_at) if token.revoked_at else ""
        if not revoked and token.user.deactivated_at:
            revoked = "(user deactivated)"
        table.add_row(token.prefix, token.user.username, _short(token.created_at), revoked)
    _print(table)


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
        + ["--no-control-socket"]
        # gunicorn's largest request line (its default, 4094, answers longer URLs itself as
        # text): the app refuses URLs over its own, lower limit with a JSON 414.
        + ["--limit-request-line", "8190"],
    )
