"""The one `trialdesk` command. Each area adds its subcommands through `register(app)`.

Area modules import only Typer and Rich at module level; heavy libraries (pandas, DuckDB,
Django) are imported inside the commands that need them, so `trialdesk protocol ...` starts
fast and never touches a database.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="trialdesk",
    help="Run randomized, blinded clinical trials: protocol, eligibility, randomization, "
    "forms, audit trail, exports and analysis.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

AREAS = [
    "trialdesk.protocol.cli",
    "trialdesk.randomization.cli",
    "trialdesk.eligibility.cli",
    "trialdesk.instruments.cli",
    "trialdesk.analysis.cli",
    "trialdesk.store.report_cli",
    "trialdesk.store.cli",
    "trialdesk.store.audit_cli",
    "trialdesk.store.demo_cli",
    "trialdesk.store.monitor_cli",
    "trialdesk.store.checks_cli",
    "trialdesk.store.epro_cli",
    "trialdesk.store.export_cli",
    "trialdesk.store.import_cli",
]

for area in AREAS:
    importlib.import_module(area).register(app)


def _print_version(asked: bool) -> None:
    if asked:
        from importlib.metadata import PackageNotFoundError, version

        try:
            installed = version("trialdesk")
        except PackageNotFoundError:  # run from a source tree that was never installed
            installed = "unknown (not installed)"
        typer.echo(f"trialdesk {installed}")
        raise typer.Exit()


@app.callback()
def _options(
    show_version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the installed trialdesk version and exit.",
    ),
) -> None:
    """Run randomized, blinded clinical trials: protocol, eligibility, randomization, forms,
    audit trail, exports and analysis."""


def main() -> None:
    app()


if __name__ == "__main__":
    main()
