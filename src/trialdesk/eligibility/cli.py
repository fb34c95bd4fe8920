"""`trialdesk eligibility check|screen|sql|match` and `trialdesk synth patients`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from trialdesk.errors import EligibilityError
from trialdesk.terminal import JSON_OPTION, print_json, reports_errors

if TYPE_CHECKING:
    from trialdesk.eligibility.evaluation import EligibilityResult, ProtocolCriteria
    from trialdesk.eligibility.screen import ScreenReport

RESULT_STYLE = {"pass": "green", "fail": "red", "unknown": "yellow"}
VERDICT_STYLE = {"eligible": "bold green", "ineligible": "bold red", "incomplete": "bold yellow"}
#: `sql.DIALECTS`, repeated so that the CLI starts without importing SQLGlot (about 0.4 s).
DIALECTS = ("duckdb", "postgres", "spark", "trino", "bigquery")


def _warn(message: str) -> None:
    sys.stderr.write(f"warning: {message}\n")


def _criteria(protocol_ref: str) -> ProtocolCriteria:
    from trialdesk.eligibility.evaluation import ProtocolCriteria
    from trialdesk.protocol import load_protocol

    return ProtocolCriteria.of(load_protocol(protocol_ref))


def _warn_ignored(result: EligibilityResult) -> None:
    if result.ignored_items:
        _warn(f"{result.protocol} has no data item {', '.join(result.ignored_items)}; ignored")
    if result.ignored_attestations:
        ids = ", ".join(result.ignored_attestations)
        _warn(f"{result.protocol} has no attestation criterion {ids}; answers ignored")


def check(
    protocol: str = typer.Argument(..., help="protocol id or protocol file"),
    subject: Path = typer.Argument(..., help='JSON: {"items": {...}, "attestations": {...}}'),
    as_json: bool = JSON_OPTION,
) -> None:
    """One patient's eligibility: each criterion's result with its reason, and the verdict."""
    from trialdesk.eligibility.subject import read_subject

    criteria = _criteria(protocol)
    answers = read_subject(subject)
    if answers.ignored_keys:
        _warn(f"{subject}: ignored keys {', '.join(answers.ignored_keys)}")
    result = criteria.evaluate(answers.items, answers.attestations)
    _warn_ignored(result)
    if as_json:
        print_json(result.to_json())
        return
    console = Console()
    table = Table(title=f"{result.protocol}: eligibility")
    for heading in ("criterion", "type", "result", "reason"):
        table.add_column(heading)
    for criterion in result.criteria:
        style = RESULT_STYLE[criterion.result]
        result_cell = f"[{style}]{criterion.result}[/{style}]"
        table.add_row(criterion.id, criterion.type, result_cell, criterion.reason)
    console.print(table)
    console.print(f"verdict: [{VERDICT_STYLE[result.verdict]}]{result.verdict}[/]")
    if result.verdict == "incomplete":
        console.print("still missing: " + ", ".join(result.missing))


def _print_screen(report: ScreenReport) -> None:
    console = Console()
    funnel = Table(title=f"{report.protocol}: screening funnel ({report.patients} patients)")
    for heading in ("criterion", "type", "pass", "fail", "unknown", "left"):
        funnel.add_column(
            heading, justify="right" if heading not in ("criterion", "type") else "left"
        )
    for c in report.criteria:
        funnel.add_row(c.id, c.type, str(c.passed), str(c.failed), str(c.unknown), str(c.left))
    console.print(funnel)
    console.print(
        f"eligible [green]{report.eligible}[/], ineligible [red]{report.ineligible}[/], "
        f"incomplete [yellow]{report.incomplete}[/]"
    )
    excluding = sorted((c for c in report.criteria if c.failed), key=lambda c: -c.failed)[:5]
    if excluding:
        top = Table(title="criteria that exclude most patients")
        for heading in ("criterion", "excluded", "its only failure", "text"):
            top.add_column(heading, overflow="fold")
        for c in excluding:
            top.add_row(c.id, str(c.failed), str(c.only_failure), c.text)
        console.print(top)


def screen(
    protocol: str = typer.Argument(..., help="protocol id or protocol file"),
    cohort: Path = typer.Argument(..., help="CSV or Parquet, one row per patient"),
    out: Path = typer.Option(..., "--out", help="per-patient results, .csv or .parquet"),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
    plot: Path | None = typer.Option(None, "--plot", help="draw the funnel to a PNG file"),
) -> None:
    """Screen a population file: counts per criterion, the funnel, per-patient results."""
    from trialdesk.eligibility.screen import screen as run_screen

    if plot is not None:
        # Checked before the screen writes its results, so that a bad --plot changes nothing.
        if plot.suffix.lower() != ".png":
            raise EligibilityError(f"--plot: expected a .png file, got {plot}")
        if not plot.parent.is_dir():
            raise EligibilityError(f"--plot: {plot}: the directory {plot.parent} does not exist")
    criteria = _criteria(protocol)
    report = run_screen(criteria, cohort, out)
    for warning in report.warnings:
        _warn(warning)
    if plot is not None:
        from trialdesk.eligibility.plot import draw_funnel

        draw_funnel(report, plot)
    if as_json:
        print_json(report.to_json())
    else:
        _print_screen(report)


def sql(
    protocol: str = typer.Argument(..., help="protocol id or protocol file"),
    dialect: str = typer.Option("duckdb", "--dialect", help=" | ".join(DIALECTS)),
) -> None:
    """Print the criteria as one SQL query over a table `cohort`."""
    from trialdesk.eligibility.sql import screening_sql

    if dialect not in DIALECTS:
        raise EligibilityError(f"--dialect: {dialect!r}; expected one of {', '.join(DIALECTS)}")
    sys.stdout.write(screening_sql(_criteria(protocol), dialect) + ";\n")


def match(
    subject: Path = typer.Argument(..., help='JSON: {"items": {...}, "attestations": {...}}'),
    protocols: list[str] | None = typer.Argument(None, help="protocol ids or files (default: all)"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Find trials for one patient: eligible first, then incomplete, then ineligible."""
    from trialdesk.eligibility.match import match_trials
    from trialdesk.eligibility.subject import read_subject
    from trialdesk.protocol import load_protocol, shipped_protocol_ids

    answers = read_subject(subject)
    references = protocols or list(shipped_protocol_ids())
    matches, unknown = match_trials(
        [load_protocol(reference) for reference in references], answers.items, answers.attestations
    )
    if unknown:
        _warn(f"no protocol has data item {', '.join(unknown)}; ignored")
    if as_json:
        print_json({"trials": [m.to_json() for m in matches]})
        return
    console = Console()
    table = Table(title="trials for this patient")
    for heading in ("protocol", "title", "verdict", "what decides it"):
        table.add_column(heading, overflow="fold")
    for m in matches:
        if m.result.verdict == "ineligible":
            detail = "; ".join(f"{c.id}: {c.reason}" for c in m.result.with_result("fail"))
        elif m.result.verdict == "incomplete":
            detail = "missing: " + ", ".join(m.result.missing)
        else:
            detail = "all criteria pass"
        style = VERDICT_STYLE[m.result.verdict]
        table.add_row(m.protocol, m.title, f"[{style}]{m.result.verdict}[/]", detail)
    console.print(table)


def patients(
    protocol: str = typer.Argument(..., help="protocol id or protocol file"),
    n: int = typer.Option(..., "--n", help="number of patients"),
    seed: int = typer.Option(..., "--seed", help="random seed: the same seed gives the same file"),
    out: Path = typer.Option(..., "--out", help=".csv or .parquet"),
) -> None:
    """A synthetic screening population with realistic values and missing data."""
    from trialdesk.eligibility.screen import file_format
    from trialdesk.eligibility.synth import synthetic_patients, write_cohort
    from trialdesk.protocol import load_protocol

    file_format(out)  # before drawing the patients, which takes a while for a large --n
    cohort = synthetic_patients(load_protocol(protocol), n, seed)
    write_cohort(cohort, out)
    sys.stderr.write(f"{n} patients written to {out}\n")


def register(app: typer.Typer) -> None:
    eligibility_app = typer.Typer(
        help="Computable eligibility: check a patient, screen a population, print the SQL.",
        no_args_is_help=True,
    )
    for command in (check, screen, sql, match):
        eligibility_app.command(command.__name__)(reports_errors(command))
    app.add_typer(eligibility_app, name="eligibility")
    synth_app = typer.Typer(
        help="Synthetic data for demos, tests and benchmarks.", no_args_is_help=True
    )
    synth_app.command("patients")(reports_errors(patients))
    app.add_typer(synth_app, name="synth")
