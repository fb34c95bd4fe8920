"""`trialdesk monitor report`: the central monitoring report from the store, as HTML and JSON.

The shell around the core (`trialdesk.monitoring`): it reads the store through an `Access`
(`trialdesk.store.monitoring_data`), hands the plain frames to `compute_kris` and
`run_checks`, and writes the core's report (`trialdesk.monitoring.report.write_report`):
monitoring.html, monitoring.json and one funnel plot SVG per KRI in --out.

- With --user: as that study user may read (a site-bound user's sites only, said in the
  report's scope); a user with no live role in the study is refused.
- Without --user: the operator (who runs the command on the store's host, as for the setup
  commands) reads as a study-wide monitor: every site, blinded.

Blinded either way: the monitoring data carry no arm, so nothing is shown by arm and nothing
is recorded as an unblinded output. Django is imported inside the command (`open_store`).
"""

from __future__ import annotations

import datetime as dt
import getpass
from pathlib import Path

import typer

from trialdesk.terminal import JSON_OPTION, print_json, reports_errors

monitor_app = typer.Typer(
    help="Central monitoring: key risk indicators and statistical checks per site.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(monitor_app, name="monitor")


@monitor_app.command("report")
@reports_errors
def report_command(
    study: str = typer.Argument(..., help="Protocol id of the study in the store."),
    out: Path = typer.Option(..., "--out", help="Directory for the HTML, JSON and SVG files."),
    user: str | None = typer.Option(
        None, "--user", help="Read as this study user (default: the operator, every site)."
    ),
    version: str | None = typer.Option(None, "--version", help="Protocol version of the study."),
    as_of: str | None = typer.Option(
        None, "--as-of", help="Date the data are read as of (YYYY-MM-DD; default today)."
    ),
    overdispersion: bool = typer.Option(
        False,
        "--overdispersion",
        help="Widen the funnel limits by each KRI's over-dispersion (Spiegelhalter 2005; for "
        "trials with many sites).",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Write the central monitoring report (KRIs with funnel limits, statistical checks).

    As --user may read (their sites only), or, without --user, as the operator reading every
    site. Blinded: nothing by arm.
    """
    from trialdesk.store.database import open_store

    open_store()
    from django.utils import timezone

    from trialdesk.errors import BadInput
    from trialdesk.monitoring.holidays import coverage
    from trialdesk.monitoring.kri import compute_kris
    from trialdesk.monitoring.report import ReportMeta, write_report
    from trialdesk.monitoring.statistical_checks import run_checks
    from trialdesk.store.access import Access, Grant, access_for, masked_roles
    from trialdesk.store.errors import NotFound
    from trialdesk.store.models import Role, StudyUser
    from trialdesk.store.monitoring_data import monitoring_data
    from trialdesk.store.services.setup import find_study

    try:
        day = dt.date.fromisoformat(as_of) if as_of else None
    except ValueError:
        raise BadInput(f"--as-of {as_of!r}: expected a date as YYYY-MM-DD") from None
    chosen = find_study(study, version)
    if user is None:
        reader_name = f"operator:{getpass.getuser()}"
        # The operator reads as a study-wide monitor: every site, the monitor's blinding.
        access = Access(
            chosen,
            StudyUser(username=reader_name),
            (Grant(Role.MONITOR, None, None),),
            masked_roles(chosen.protocol(), chosen.locked),
        )
    else:
        reader_name = user
        reader = StudyUser.objects.filter(username=user).first()
        if reader is None:
            raise NotFound(f"--user {user!r}: no such user in the store")
        access = access_for(chosen, reader)
        if not access.has_role:
            raise NotFound(
                f"--user {user!r} has no role in {chosen} (none given, revoked, or the user is "
                "deactivated); expected a user of the study"
            )
    sites = None if access.study_wide else sorted(access.sites().values_list("code", flat=True))
    scope = ""
    if sites is not None:
        named = f"site{'s' * (len(sites) > 1)} {', '.join(sites)}"
        scope = f"{named} only: the sites of {reader_name}'s roles"
    data = monitoring_data(access, day)
    kris = compute_kris(data, adjust_overdispersion=overdispersion)
    checks = run_checks(data.items, data.visits, data.sites)
    countries = sorted(set(data.sites["country"].astype(str)))
    notes = [f"Weekend and holiday visits, {c or 'no country'}: {coverage(c)}." for c in countries]
    if overdispersion:
        notes.append(
            "Funnel limits widened by each KRI's over-dispersion phi (Spiegelhalter 2005, "
            "z-scores winsorized at 10% and 90%), where phi > 1."
        )
    if len(data.sites) < 2:
        notes.append("One site: each statistical check compares a site with the others; none ran.")
    meta = ReportMeta(
        study=str(chosen),
        generated_by=reader_name,
        generated_at=timezone.now().isoformat(timespec="seconds"),
        as_of=data.as_of.isoformat(),
        scope=scope,
        notes=notes,
    )
    files = write_report(out, kris, checks, meta)
    flagged = kris[kris["flag"].isin(["watch", "signal"])]
    signals = checks[checks["flag"] == "signal"] if len(checks) else checks
    if as_json:
        print_json(
            {
                "study": str(chosen),
                "blinded": True,
                "generated_by": reader_name,
                "sites": sites,
                "as_of": meta.as_of,
                "html": str(files.html),
                "json": str(files.json),
                "figures": [str(path) for path in files.figures],
                "kri_flags": int(len(flagged)),
                "check_signals": int(len(signals)),
            }
        )
        return
    where = f" ({scope})" if scope else ""
    typer.echo(f"Central monitoring report of {chosen} for {reader_name}{where}, blinded:")
    typer.echo(f"  {files.html}")
    typer.echo(f"  {files.json}")
    typer.echo(f"  {len(files.figures)} funnel plots in {out}")
    typer.echo(
        f"  {len(flagged)} KRI flags (watch or signal), {len(signals)} statistical check signals"
    )
