"""`trialdesk epro ...`: patients answering at home (issue 14): personal links and reminders.

Django is imported inside the commands (`open_store`).
"""

from __future__ import annotations

import typer

epro_app = typer.Typer(
    help="Patients answering at home: personal links and reminders.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(epro_app, name="epro")
