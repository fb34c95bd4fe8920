"""`trialdesk analyze mmrm|responder` and `trialdesk power`: analyses of files, no store.

Only Typer, Rich and the standard library are imported here; numpy, pandas and the analysis
modules are imported inside the commands. Nothing here knows of users or the store: the
`analyze report` command, which reads the store and applies its access policy, is the shell's
(`trialdesk.store.report_cli`); it adds itself to `analyze_app`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from trialdesk.errors import BadInput
from trialdesk.terminal import print_json, reports_errors

JSON_OPTION = typer.Option(False, "--json", help="Print one JSON document and nothing else.")


#: The `analyze` group; the shell adds the commands that need the store (`analyze report`).
analyze_app = typer.Typer(
    help="Analyses of trial data: MMRM, responders, the study report.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    analyze_app.command("mmrm")(mmrm_command)
    analyze_app.command("responder")(responder_command)
    app.add_typer(analyze_app, name="analyze")
    app.command("power")(power_command)


def _references(values: list[str]) -> dict[str, str]:
    references = {}
    for value in values:
        name, sep, level = value.partition("=")
        if not sep or not name or not level:
            raise BadInput(f"--reference {value!r}: expected COLUMN=LEVEL, e.g. ARMCD=PBO")
        references[name.strip()] = level.strip()
    return references


def _number(value: Any) -> Any:
    """JSON-safe float: NaN and infinities become null."""
    value = float(value)
    return value if value == value and abs(value) != float("inf") else None


@reports_errors
def mmrm_command(
    data: Path = typer.Argument(..., help="Long CSV: one row per subject and visit."),
    outcome: str = typer.Option(
        ..., "--outcome", help="Outcome column (numeric, empty = missing)."
    ),
    fixed: str = typer.Option(
        ..., "--fixed", help='Fixed effects, e.g. "RACE + SEX + ARMCD*AVISIT".'
    ),
    subject: str = typer.Option(..., "--subject", help="Subject id column."),
    visit: str = typer.Option(..., "--visit", help="Visit column."),
    covariance: str = typer.Option("us", "--covariance", help="us, cs, ar1 or toep."),
    method: str = typer.Option("reml", "--method", help="reml or ml."),
    df: str = typer.Option("satterthwaite", "--df", help="satterthwaite or kr (Kenward-Roger)."),
    reference: list[str] = typer.Option(
        [], "--reference", help="Reference level, COLUMN=LEVEL (repeatable)."
    ),
    arm: str | None = typer.Option(
        None, "--arm", help="Treatment column for LS means and contrasts (default: inferred)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Fit a mixed model for repeated measures (SAS PROC MIXED conventions)."""
    import pandas as pd

    from trialdesk.analysis.mmrm import fit_mmrm

    if not data.is_file():
        raise BadInput(f"{data}: no such file; expected a CSV file")
    try:
        frame = pd.read_csv(data)
    except (ValueError, pd.errors.ParserError) as error:
        raise BadInput(f"{data}: not a readable CSV file ({error})") from None
    fit = fit_mmrm(
        frame,
        outcome,
        fixed,
        subject,
        visit,
        covariance=covariance,
        method=method,
        df=df,
        references=_references(reference),
    )
    treatment = arm or _infer_arm(fit.formula.terms, list(fit.design.factors), visit)
    if treatment is not None and treatment not in fit.design.factors:
        raise BadInput(f"--arm {treatment!r} is not a categorical variable of the model")
    by_visit = visit in fit.design.factors
    lsmeans = contrasts = None
    if treatment is not None:
        factors = [treatment, visit] if by_visit and treatment != visit else [treatment]
        lsmeans = fit.lsmeans(factors)
        contrasts = fit.lsmean_differences(treatment, by=visit if len(factors) == 2 else None)
    coefficients = fit.coefficients()
    if as_json:
        print_json(
            {
                "model": {
                    "outcome": outcome,
                    "fixed": fixed,
                    "subject": subject,
                    "visit": visit,
                    "covariance": fit.structure,
                    "method": fit.method,
                    "df": fit.df_method,
                    "observations": fit.n_obs,
                    "subjects": fit.n_subjects,
                    "converged": fit.converged,
                },
                "coefficients": _records(coefficients),
                "loglik": {
                    "minus2": fit.minus2_loglik,
                    "aic": fit.aic,
                    "bic": fit.bic,
                },
                "visits": list(fit.visits),
                "covariance": fit.covariance.tolist(),
                "covariance_parameters": dict(fit.covariance_parameters),
                "lsmeans": _records(lsmeans) if lsmeans is not None else [],
                "contrasts": _records(contrasts) if contrasts is not None else [],
                "type3": _records(fit.type3()),
            }
        )
        return
    console = Console()
    console.print(fit.summary(), highlight=False)
    if lsmeans is not None and contrasts is not None:
        console.print(_table("LS means", lsmeans))
        console.print(_table(f"{treatment} differences from reference", contrasts))
    console.print(_table("Type 3 tests of fixed effects", fit.type3()))


def _infer_arm(terms: tuple[tuple[str, ...], ...], factors: list[str], visit: str) -> str | None:
    """The factor crossed with the visit, else the first factor that is not the visit."""
    for term in terms:
        if len(term) == 2 and visit in term:
            other = term[0] if term[1] == visit else term[1]
            if other in factors:
                return other
    return next((name for name in factors if name != visit), None)


def _records(frame: Any) -> list[dict[str, Any]]:
    records = []
    for row in frame.to_dict(orient="records"):
        records.append(
            {
                key: _number(value) if isinstance(value, int | float) else value
                for key, value in row.items()
            }
        )
    return records


def _table(title: str, frame: Any) -> Table:
    table = Table(*map(str, frame.columns), title=title)
    for row in frame.itertuples(index=False):
        table.add_row(
            *(f"{value:.4g}" if isinstance(value, float) else str(value) for value in row)
        )
    return table


@reports_errors
def responder_command(
    answers: Path = typer.Argument(..., help="JSON with the six 0-100 scores (null = missing)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """OMERACT-OARSI responder status from baseline and follow-up scores."""
    from trialdesk.analysis.responder import omeract_oarsi_answers

    if not answers.is_file():
        raise BadInput(f"{answers}: no such file; expected a JSON file")
    try:
        document = json.loads(answers.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise BadInput(f"{answers}:{error.lineno}: not valid JSON ({error.msg})") from None
    if not isinstance(document, dict):
        raise BadInput(f"{answers}: expected a JSON object with the six scores")
    result = omeract_oarsi_answers(document)
    if as_json:
        print_json(result)
        return
    table = Table("criterion", "met", title="OMERACT-OARSI")
    for key, value in result.items():
        table.add_row(key, "yes" if value else "no")
    Console().print(table)


@reports_errors
def power_command(
    protocol: str | None = typer.Argument(
        None, help="Protocol id or file: arms, weights, enrolment and primary-outcome visits."
    ),
    effect: float = typer.Option(..., "--effect", help="Mean difference at the primary visit."),
    sd: float = typer.Option(..., "--sd", help="Standard deviation of the outcome."),
    correlation: float = typer.Option(0.5, "--correlation", help="Correlation between visits."),
    structure: str = typer.Option("cs", "--structure", help="Correlation structure: cs or ar1."),
    dropout: float = typer.Option(0.0, "--dropout", help="Share lost by the primary visit."),
    trials: int = typer.Option(10_000, "--trials", help="Simulated trials (each under H1 and H0)."),
    seed: int = typer.Option(20240101, "--seed", help="Random seed."),
    alpha: float = typer.Option(0.05, "--alpha", help="Two-sided significance level."),
    analysis: str = typer.Option("ancova", "--analysis", help="ancova or mmrm."),
    arms: str | None = typer.Option(None, "--arms", help="Arm ids, control first: PBO,TRT."),
    n_per_arm: str | None = typer.Option(
        None, "--n-per-arm", help="Patients per arm: one number, or one per arm (33,33)."
    ),
    visits: str | None = typer.Option(
        None, "--visits", help="Post-baseline visits, primary last: W4,W12,W24."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Power and type I error of the primary analysis by simulation."""
    from trialdesk.analysis.power import TrialDesign, simulate_power

    arm_ids, counts, visit_ids = _design_source(protocol, arms, n_per_arm, visits)
    design = TrialDesign(
        arms=arm_ids,
        n_per_arm=counts,
        visits=visit_ids,
        effect=effect,
        sd=sd,
        correlation=correlation,
        correlation_structure=structure,
        dropout=dropout,
        alpha=alpha,
        analysis=analysis,
    )
    result = simulate_power(design, trials, seed)
    if as_json:
        print_json(
            {
                "design": {
                    "arms": list(design.arms),
                    "n_per_arm": list(design.n_per_arm),
                    "visits": list(design.visits),
                    "effect": effect,
                    "sd": sd,
                    "correlation": correlation,
                    "structure": structure,
                    "dropout": dropout,
                    "alpha": alpha,
                    "analysis": analysis,
                },
                "trials": trials,
                "seed": seed,
                "comparisons": [vars(c) for c in result.comparisons],
            }
        )
        return
    table = Table(
        "comparison",
        "power",
        "MC SE",
        "type I error",
        "MC SE",
        title=f"{analysis.upper()} at {design.visits[-1]}, {trials} trials, seed {seed}",
    )
    for c in result.comparisons:
        table.add_row(
            f"{c.arm} vs {c.control}",
            f"{c.power:.4f}",
            f"{c.power_mcse:.4f}",
            f"{c.type1_error:.4f}",
            f"{c.type1_mcse:.4f}",
        )
    Console().print(table)


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _design_source(
    protocol: str | None, arms: str | None, n_per_arm: str | None, visits: str | None
) -> tuple[tuple[str, ...], tuple[int, ...], tuple[str, ...]]:
    """Arms, patients per arm and visits from the options, else from the protocol."""
    from trialdesk.analysis.power import split_by_weights

    arm_ids = _split(arms) if arms else ()
    visit_ids = _split(visits) if visits else ()
    counts: tuple[int, ...] = ()
    if n_per_arm:
        try:
            counts = tuple(int(part) for part in _split(n_per_arm))
        except ValueError:
            raise BadInput(f"--n-per-arm {n_per_arm!r}: expected whole numbers") from None
    if protocol is not None:
        from trialdesk.protocol import load_protocol

        study = load_protocol(protocol)
        # Control first: the arm the report compares every other arm with.
        control = study.control_arm()
        ordered = sorted(study.arms, key=lambda arm: arm.id != control)
        arm_ids = arm_ids or tuple(arm.id for arm in ordered)
        if not counts:
            weights = [arm.weight for arm in ordered]
            counts = split_by_weights(study.enrollment.count, weights)
        if not visit_ids:
            visit_ids = _primary_visits(study)
    if not arm_ids:
        arm_ids = ("control", "active")
    if len(counts) == 1:
        counts = counts * len(arm_ids)
    if not counts:
        raise BadInput("give --n-per-arm (or a PROTOCOL with an enrolment count)")
    if len(counts) != len(arm_ids):
        raise BadInput(f"--n-per-arm has {len(counts)} numbers for {len(arm_ids)} arms")
    return arm_ids, counts, visit_ids or ("primary",)


def _primary_visits(study: Any) -> tuple[str, ...]:
    """Visits after day 0 up to the primary outcome's last visit (every visit if none)."""
    days = {visit.id: visit.day for visit in study.visits}
    primary = next((o for o in study.outcomes if o.kind == "primary"), None)
    last_day = max(days[v] for v in primary.visits) if primary and primary.visits else None
    return tuple(
        visit.id
        for visit in sorted(study.visits, key=lambda v: v.day)
        if visit.day > 0 and (last_day is None or visit.day <= last_day)
    )
