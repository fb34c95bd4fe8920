"""`trialdesk randomization ...`: generate a list, check an imported one, assess a scheme.

Only Typer, Rich and the standard library at module level; numpy (through the algorithm
modules) and the protocol package load inside the commands.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import typer

from trialdesk.errors import RandomizationError
from trialdesk.terminal import JSON_OPTION, print_json, reports_errors

if TYPE_CHECKING:
    from trialdesk.randomization.assessment import Assessment
    from trialdesk.randomization.blocks import AllocationList
    from trialdesk.randomization.scheme import Scheme

PROTOCOL_ARGUMENT = typer.Argument(
    None, help="A shipped protocol id (e.g. NCT04208646) or a protocol file; or use --arms."
)
ARMS_OPTION = typer.Option(None, "--arms", help="Arms and weights, e.g. A:1,B:1,C:1.")
BLOCK_SIZES_OPTION = typer.Option(
    None, "--block-sizes", help="Allowed block sizes, e.g. 3,6 (default: 1x and 2x the weights)."
)
STRATA_OPTION = typer.Option(
    None, "--strata", help="A stratification factor and its levels, e.g. site=01,02,03. Repeat."
)
SEED_OPTION = typer.Option(None, "--seed", help="Seed (default: a fresh one from `secrets`).")


def register(app: typer.Typer) -> None:
    randomization_app = typer.Typer(
        help="Allocation lists, kit lists, list checks and scheme assessment (unblinded work).",
        no_args_is_help=True,
    )
    randomization_app.command("generate")(generate)
    randomization_app.command("check")(check)
    randomization_app.command("assess")(assess)
    app.add_typer(randomization_app, name="randomization")


@reports_errors
def generate(
    protocol: str | None = PROTOCOL_ARGUMENT,
    arms: str | None = ARMS_OPTION,
    block_sizes: str | None = BLOCK_SIZES_OPTION,
    strata: list[str] | None = STRATA_OPTION,
    per_stratum: int | None = typer.Option(
        None, "--per-stratum", help="Slots per stratum, at least (default: enrollment, or 100)."
    ),
    seed: int | None = SEED_OPTION,
    kits_per_subject: int | None = typer.Option(
        None,
        "--kits-per-subject",
        help="Kits per slot (default: the protocol's administrations; none with --arms).",
    ),
    spare_kits: int = typer.Option(0, "--spare-kits", help="Spare kits per arm."),
    first_kit_number: int = typer.Option(1001, "--first-kit-number", help="Lowest kit number."),
    kits_out: Path | None = typer.Option(None, "--kits-out", help="Write the kit map as CSV."),
    json_output: bool = JSON_OPTION,
    out: Path | None = typer.Option(None, "--out", help="Write the list as CSV."),
) -> None:
    """Generate a stratified permuted block list (unblinded: keep it from blinded roles)."""
    from trialdesk.randomization.blocks import BlockDesign, generate_allocation_list
    from trialdesk.randomization.kits import assign_kits
    from trialdesk.randomization.listfile import write_allocation_csv, write_kit_csv

    if json_output and out is not None:
        raise RandomizationError("--json and --out: choose one output")
    if out is not None and kits_out is not None and out.resolve() == kits_out.resolve():
        raise RandomizationError(f"--out and --kits-out: both are {out}; expected two files")
    if per_stratum is not None and per_stratum < 1:
        raise RandomizationError(f"--per-stratum: {per_stratum}; expected a whole number >= 1")
    if kits_per_subject is not None and kits_per_subject < 0:
        raise RandomizationError(
            f"--kits-per-subject: {kits_per_subject}; expected a whole number >= 0"
        )
    if spare_kits < 0:
        raise RandomizationError(f"--spare-kits: {spare_kits}; expected a whole number >= 0")
    scheme = _scheme(protocol, arms, block_sizes, strata)
    if scheme.method != "blocks":
        raise RandomizationError(
            f"{protocol}: randomization.method is {scheme.method!r}; a list is generated for "
            "'blocks' only (minimization allocates subject by subject)"
        )
    slots = per_stratum if per_stratum is not None else scheme.enrollment or 100
    design = BlockDesign(scheme.arms, scheme.block_sizes, scheme.factors, slots)
    allocation_list = generate_allocation_list(design, seed)
    kits = kits_per_subject if kits_per_subject is not None else scheme.administrations or 0
    kit_list = None
    if kits or spare_kits or kits_out:
        if not kits:
            raise RandomizationError("--kits-per-subject: spare kits or --kits-out need >= 1")
        if out is not None and kits_out is None:
            raise RandomizationError("--out with kits: give --kits-out FILE for the kit map")
        kit_list = assign_kits(
            allocation_list, kits, spare_kits, allocation_list.seed, first_kit_number
        )
    files: dict[Path, str] = {}
    if out is not None:
        files[out] = _csv_text(lambda stream: write_allocation_csv(allocation_list, stream))
    if kit_list is not None and kits_out is not None:
        factor_ids = allocation_list.factor_ids
        files[kits_out] = _csv_text(lambda stream: write_kit_csv(kit_list, factor_ids, stream))
    _write_all(files)
    if json_output:
        document = allocation_list.to_document()
        document["block_sizes"] = list(scheme.block_sizes)
        if kit_list is not None:
            for stratum_document, stratum_list in zip(
                document["strata"], allocation_list.strata, strict=True
            ):
                for slot in stratum_document["slots"]:
                    slot["kit_numbers"] = list(
                        kit_list.kit_numbers(stratum_list.stratum, slot["seq"])
                    )
            document["kits"] = [{"kit_number": k.kit_number, "arm": k.arm} for k in kit_list.kits]
        print_json(document)
        return
    _print_list_summary(allocation_list, out, kits_out if kit_list is not None else None)


@reports_errors
def check(
    file: Path = typer.Argument(..., help="The list as CSV: stratum columns, seq, arm[, block]."),
    arms: str = typer.Option(..., "--arms", help="Arms and weights, e.g. A:1,B:1,C:1."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Check an imported list: duplicates, unknown arms, gaps, the ratio in each block."""
    from trialdesk.randomization.design import parse_arms
    from trialdesk.randomization.listfile import read_allocation_csv

    allocation_list = read_allocation_csv(file, parse_arms(arms))
    per_arm = {arm_id: 0 for arm_id in allocation_list.arm_ids}
    for stratum_list in allocation_list.strata:
        for index in stratum_list.arm_index.tolist():
            per_arm[allocation_list.arm_ids[index]] += 1
    summary = {
        "file": str(file),
        "valid": True,
        "strata": len(allocation_list.strata),
        "slots": sum(per_arm.values()),
        "arms": per_arm,
        "blocks_checked": allocation_list.strata[0].block is not None,
    }
    if json_output:
        print_json(summary)
        return
    counts = ", ".join(f"{arm} {count}" for arm, count in per_arm.items())
    blocks = "block ratios checked" if summary["blocks_checked"] else "no block column"
    typer.echo(
        f"{file}: valid list, {summary['strata']} strata, {summary['slots']} slots "
        f"({counts}); {blocks}"
    )


@reports_errors
def assess(
    protocol: str | None = PROTOCOL_ARGUMENT,
    arms: str | None = ARMS_OPTION,
    block_sizes: str | None = BLOCK_SIZES_OPTION,
    strata: list[str] | None = STRATA_OPTION,
    method: str | None = typer.Option(
        None, "--method", help="blocks or minimization (default: the protocol's, or blocks)."
    ),
    p: float | None = typer.Option(
        None, "--p", help="Minimization: probability of the preferred arm (default 0.8)."
    ),
    measure: str = typer.Option("range", "--measure", help="Minimization: range or variance."),
    factors: str | None = typer.Option(
        None, "--factors", help="Minimization factor weights, e.g. site:1,kl_grade:2 (default 1)."
    ),
    subjects: int | None = typer.Option(
        None, "--subjects", help="Subjects per trial (default: enrollment, or 100)."
    ),
    simulations: int = typer.Option(10_000, "--simulations", help="Simulated trials."),
    seed: int | None = SEED_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Simulate a scheme: guess rate (convergence strategy) and final imbalance."""
    from dataclasses import replace

    from trialdesk.randomization.assessment import assess_blocks, assess_minimization
    from trialdesk.randomization.minimization import MinimizationDesign
    from trialdesk.randomization.scheme import parse_factor_weights, with_factor_weights

    scheme = _scheme(protocol, arms, block_sizes, strata)
    scheme = replace(scheme, method=method or scheme.method, p=p if p is not None else scheme.p)
    if factors:
        scheme = with_factor_weights(scheme, parse_factor_weights(factors))
    subjects = subjects if subjects is not None else scheme.enrollment or 100
    with _progress(simulations, enabled=not json_output) as progress:
        if scheme.method == "blocks":
            result = assess_blocks(
                scheme.arms,
                scheme.block_sizes,
                scheme.factors,
                subjects,
                simulations,
                seed,
                progress,
            )
        else:
            design = MinimizationDesign(scheme.arms, scheme.factors, scheme.p, measure)
            result = assess_minimization(design, subjects, simulations, seed, progress)
    if json_output:
        print_json(result.to_document())
        return
    _print_assessment(result)


def _scheme(
    protocol: str | None, arms: str | None, block_sizes: str | None, strata: list[str] | None
) -> Scheme:
    """The scheme from a protocol or --arms; --block-sizes and --strata override the protocol."""
    from dataclasses import replace

    from trialdesk.randomization.design import (
        check_block_sizes,
        check_factors,
        parse_arms,
        parse_block_sizes,
        parse_factor,
    )
    from trialdesk.randomization.scheme import Scheme, scheme_from_protocol

    if (protocol is None) == (arms is None):
        raise RandomizationError("give a PROTOCOL or --arms A:1,B:1 (one of them)")
    if protocol is not None:
        from trialdesk.protocol import load_protocol

        scheme = scheme_from_protocol(load_protocol(protocol))
    else:
        scheme = Scheme(parse_arms(arms or ""), ())
    if strata:
        factors = check_factors([parse_factor(text) for text in strata], "--strata")
        scheme = replace(scheme, factors=factors)
    if block_sizes:
        sizes = check_block_sizes(parse_block_sizes(block_sizes), scheme.arms, "--block-sizes")
        scheme = replace(scheme, block_sizes=sizes)
    return scheme


def _csv_text(write: Callable[[TextIO], None]) -> str:
    stream = io.StringIO(newline="")
    write(stream)
    return stream.getvalue()


def _write_all(files: dict[Path, str]) -> None:
    """Write every file or none: the list without its kit map would be half the output."""
    partials = {path: path.with_name(f".{path.name}.partial") for path in files}
    current = None
    try:
        for current, text in files.items():
            with partials[current].open("w", encoding="utf-8", newline="") as stream:
                stream.write(text)
        for current, partial in partials.items():
            os.replace(partial, current)
    except OSError as error:
        for partial in partials.values():
            partial.unlink(missing_ok=True)
        raise RandomizationError(f"{current}: cannot write ({error.strerror})") from None


@contextmanager
def _progress(total: int, enabled: bool) -> Iterator[Callable[[int], None] | None]:
    """A Rich progress bar on stderr over simulated trials; nothing when disabled."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("simulating trials", total=total)
        yield lambda done: bar.advance(task, done)


def _print_list_summary(
    allocation_list: AllocationList, out: Path | None, kits_out: Path | None
) -> None:
    from rich.console import Console
    from rich.table import Table

    from trialdesk.randomization.design import describe_stratum

    console = Console(soft_wrap=True)
    console.print(
        f"{allocation_list.algorithm} v{allocation_list.version}, seed {allocation_list.seed} "
        "[bold]UNBLINDED: store where only unblinded roles can read it[/bold]"
    )
    table = Table("stratum", "slots", "blocks", *allocation_list.arm_ids)
    for stratum_list in allocation_list.strata:
        counts = [
            int((stratum_list.arm_index == i).sum()) for i in range(len(allocation_list.arms))
        ]
        table.add_row(
            describe_stratum(stratum_list.stratum),
            str(len(stratum_list)),
            str(int(stratum_list.block[-1])),
            *map(str, counts),
        )
    console.print(table)
    if out is not None:
        console.print(f"list written to {out}")
    if kits_out is not None:
        console.print(f"kit map written to {kits_out}")
    if out is None:
        console.print("use --out FILE.csv or --json for the slots", style="dim")


def _print_assessment(result: Assessment) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(soft_wrap=True)
    scheme = result.scheme
    arms = ", ".join(f"{arm}:{weight}" for arm, weight in scheme["arms"].items())
    factors = ", ".join(f"{name} ({len(levels)})" for name, levels in scheme["factors"].items())
    method = scheme["method"]
    if method == "blocks":
        method += f" of {', '.join(map(str, scheme['block_sizes']))}"
    else:
        method += f", p = {scheme['p']}, {scheme['measure']}"
    console.print(f"{method}; arms {arms}; factors {factors or '(none)'}")
    console.print(
        f"{result.subjects} subjects per trial, {result.simulations} simulated trials, "
        f"seed {result.seed}"
    )
    console.print(
        f"guess rate (convergence strategy): {result.guess_rate:.4f} "
        f"± {1.96 * result.guess_rate_se:.4f} (95% Monte Carlo)"
    )
    if result.preferred_arm_guess_rate is not None:
        console.print(
            f"guess rate (knowing the preferred arm): {result.preferred_arm_guess_rate:.4f}"
        )
    table = Table("imbalance (max - min)", "mean", "p50", "p90", "p95", "p99", "max")
    rows = [("within stratum", result.within_stratum), ("overall", result.overall)]
    rows += [(f"margin {name}", distribution) for name, distribution in result.marginal.items()]
    for label, distribution in rows:
        table.add_row(
            label,
            f"{distribution.mean:.3f}",
            *(f"{value:g}" for value in distribution.percentiles.values()),
            f"{distribution.max:g}",
        )
    console.print(table)
