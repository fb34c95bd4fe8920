"""`trialdesk epro ...`: patients answering at home (issue 14): personal links and reminders.

Django is imported inside the commands (`open_store`).
"""

from __future__ import annotations

from typing import Any

import typer

from trialdesk.terminal import JSON_OPTION, print_json, reports_errors

epro_app = typer.Typer(
    help="Patients answering at home: personal links and reminders.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(epro_app, name="epro")


# ---------------------------------------------------------------- personal links

STUDY_ARGUMENT = typer.Argument(..., help="Protocol id of the study in the store.")
SUBJECT_ARGUMENT = typer.Argument(..., help="The subject's code, e.g. AUH-001.")
BY_OPTION = typer.Option(
    ..., "--by", help="The coordinator or investigator of the subject's site taking the step."
)
VERSION_OPTION = typer.Option(None, "--version", help="Protocol version of the study.")


def _link_document(chosen: Any, link: Any) -> dict:
    return {
        "study": str(chosen),
        "subject": link.subject.code,
        "language": link.language,
        "time_zone": link.time_zone,
        "email_on_file": bool(link.sealed_email),
        "created_by": link.created_by.username,
        "created_at": link.created_at,
        "revoked_by": link.revoked_by.username if link.revoked_by else None,
        "revoked_at": link.revoked_at,
    }


def server_address(base_url: str) -> str:
    """The server's address patients reach (http or https, maybe a path prefix), without a
    final slash: the patient's pages are below it at /p/<token>/."""
    from urllib.parse import urlsplit

    from trialdesk.errors import BadInput

    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise BadInput(
            f"--base-url {base_url!r}: expected the server's address, e.g. "
            "https://trial.example.org or http://127.0.0.1:8000"
        )
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


@epro_app.command("invite")
@reports_errors
def invite_command(
    study: str = STUDY_ARGUMENT,
    subject: str = SUBJECT_ARGUMENT,
    by: str = BY_OPTION,
    language: str = typer.Option("en", "--language", help="en, da or zh-hans."),
    time_zone: str = typer.Option(
        ..., "--time-zone", help="The patient's IANA time zone, e.g. Europe/Copenhagen."
    ),
    email: str = typer.Option("", "--email", help="For reminders; stored sealed, never shown."),
    base_url: str = typer.Option(
        "http://127.0.0.1:8000", "--base-url", help="The address patients reach the server at."
    ),
    version: str | None = VERSION_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Give the subject a personal link to answer at home (a live one is revoked: a reissue),
    and print its address once, with a QR code to scan: it is stored as a SHA-256 only and
    cannot be shown again."""
    import sys

    address = server_address(base_url)  # refused before anything is written
    from trialdesk.store.database import open_store

    open_store()
    import segno

    from trialdesk.store.reminders import personal_link_url
    from trialdesk.store.services.patient_reports import invite_patient
    from trialdesk.store.services.setup import find_study

    chosen = find_study(study, version)
    link, token = invite_patient(
        chosen, subject, by, language=language, time_zone=time_zone, email=email
    )
    url = personal_link_url(token, address)
    emailed = _send_invitation(link, token, address)
    if as_json:
        print_json({**_link_document(chosen, link), "token": token, "url": url, "emailed": emailed})
        return
    typer.echo(f"{chosen}, subject {link.subject.code}: personal link ({language}, {time_zone})")
    typer.echo(url)
    segno.make(url, error="m").terminal(out=sys.stdout, compact=True)
    typer.echo("Shown once: give it to the patient now; it cannot be shown again.")
    if emailed:
        typer.echo("The invitation with this link was emailed to the patient.")


def _send_invitation(link: Any, token: str, address: str) -> bool:
    """Email the invitation with the link; a refusal of the mail server is told on stderr
    and leaves the link as made."""
    import sys

    from trialdesk.store.reminders import email_invitation

    emailed, refusal = email_invitation(link, token, address)
    if refusal:
        sys.stderr.write(
            f"warning: the invitation email was not sent ({refusal}); give the "
            "link to the patient now\n"
        )
    return emailed


@epro_app.command("revoke")
@reports_errors
def revoke_command(
    study: str = STUDY_ARGUMENT,
    subject: str = SUBJECT_ARGUMENT,
    by: str = BY_OPTION,
    reason: str = typer.Option(..., "--reason", help="Why the link is revoked (audited)."),
    version: str | None = VERSION_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Revoke the subject's live personal link: it opens nothing from now on."""
    from trialdesk.store.database import open_store

    open_store()
    from trialdesk.store.services.patient_reports import revoke_patient_link
    from trialdesk.store.services.setup import find_study

    chosen = find_study(study, version)
    link = revoke_patient_link(chosen, subject, by, reason)
    if as_json:
        print_json(_link_document(chosen, link))
        return
    typer.echo(f"{chosen}, subject {link.subject.code}: personal link revoked ({reason.strip()})")


# ---------------------------------------------------------------- reminders


@epro_app.command("remind")
@reports_errors
def remind_command(
    now: str | None = typer.Option(
        None, "--now", help="The moment to send for (ISO 8601 with offset); default: the clock."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Send the patients' reminders due now, each once: a diary entry that opened, a day
    missed. Run it every 15 minutes (docs/epro.md). Exit 1 if a message was refused (it is
    tried again on the next run)."""
    import datetime as dt
    import sys

    from trialdesk.errors import BadInput

    moment = None
    if now is not None:
        try:
            moment = dt.datetime.fromisoformat(now)
        except ValueError:
            raise BadInput(f"--now {now!r}: expected an ISO 8601 instant") from None
        if moment.tzinfo is None:
            raise BadInput(f"--now {now!r}: the instant has no offset (e.g. +01:00 or Z)")
    from trialdesk.store.database import open_store

    open_store()
    from trialdesk.store.models import ReminderKind
    from trialdesk.store.reminders import send_due

    run = send_due(moment)
    counts = {kind.value: run.sent[kind.value] for kind in ReminderKind}
    if as_json:
        print_json({"sent": counts, "failed": list(run.failed)})
    else:
        for kind, count in counts.items():
            typer.echo(f"{kind}: {count} sent")
    for failure in run.failed:
        sys.stderr.write(f"error: {failure}\n")
    if run.failed:
        raise typer.Exit(1)
