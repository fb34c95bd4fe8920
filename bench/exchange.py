"""Benchmark: every export format of a study of 10,000 subjects x 8 visits, read in batches of
subjects (streaming) against one batch that holds the whole study (the baseline).

The store (`bench_store`): NCT04208646 with an 8th visit, enrolling as many subjects as the
benchmark loads (so that every stratum's allocation list has a slot for each), its 7 sites, a
study-wide statistician, and the subjects' casebooks loaded in bulk. Each subject is then
allocated in bulk to the next free slot of its stratum (its site and a KL grade of 2 or 3 at
random: the bulk screening forms hold grades 0-4, not only eligible ones) and given the kit
of its first administration on day 0, and the database is locked (with an override reason:
the bulk casebooks are not signed), so that the statistician reads arms and ctgov-results
may be written. The bulk rows have no audit events, no adverse events and no signatures:
the exports hold the casebooks, allocations and administrations, not an audit trail.

Each export runs in a fresh child process, as `trialdesk export` does it (one read snapshot,
`export_source`, the format's `write`), without the staging and the unblinded output's record:
- streaming: batches of `BATCH_SUBJECTS` (`trialdesk.store.export_feed`);
- baseline: one batch of every subject, the whole study in memory at once.
Time is the export's wall time; peak RSS is the child's `ru_maxrss` after the export, "growth"
that less its RSS before it (Django, the store connection and the writer's modules loaded).
The output sizes of the two runs are compared as a sanity check (their timestamps have the same
width).

Run: .venv/bin/python bench/exchange.py [--subjects 10000] [--backend sqlite|postgresql]
     [--formats odm,sdtm,...] [--batch N] [--store DIR (SQLite, kept and reused)]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bench_store import STUDY, analyze_if_postgresql, bench_protocol, load_casebooks

from support.throwaway import ThrowawayPostgres

FORMATS = ("odm", "sdtm", "fhir", "redcap", "ctgov-results")
READER = "bench-statistician"
OPERATOR = "operator:bench"


# ---------------------------------------------------------------- the store (child process)


def build(protocol: str, subjects: int) -> dict[str, Any]:
    """The study by the services, the casebooks in bulk, every subject allocated and dosed,
    then the lock."""
    from trialdesk.store.database import open_store

    open_store(create=True)
    from trialdesk.store.services import add_site, add_user, create_study
    from trialdesk.store.services.setup import lock_study

    study = create_study(protocol, OPERATOR)
    for site in study.protocol().sites:
        add_site(study, site.id, OPERATOR)
    add_user(study, READER, "statistician", OPERATOR)
    casebooks = load_casebooks(study, subjects)
    allocated = allocate(study, casebooks)
    analyze_if_postgresql()
    lock_study(
        study,
        OPERATOR,
        "bench export",
        override_reason="the benchmark's casebooks are loaded in bulk, not signed",
    )
    return {
        "subjects": len(casebooks.subjects),
        "visits": len(casebooks.visits),
        "forms": len(casebooks.records),
        "allocations": allocated,
    }


def allocate(study: Any, casebooks: Any) -> int:
    """Each subject takes the next slot of its stratum (its site, a random level of the
    stratification factor) and the kit of its first administration."""
    from django.db import transaction

    from trialdesk.randomization.scheme import SITE_FACTOR
    from trialdesk.store.models import Allocation, AllocationSlot, Kit, Stratum

    protocol = study.protocol()
    factor = protocol.randomization.stratification_factors[0]
    first = protocol.treatment_plan[0].id
    strata = {stratum.key: stratum for stratum in Stratum.objects.filter(study=study)}
    free: dict[int, list[AllocationSlot]] = {}
    for slot in AllocationSlot.objects.filter(stratum__study=study).order_by("seq"):
        free.setdefault(slot.stratum_id, []).append(slot)
    rng = random.Random(12)
    allocations, kits = [], []
    with transaction.atomic():
        for subject in casebooks.subjects:
            grade = rng.choice(factor.levels)
            stratum = strata[f"{SITE_FACTOR}={subject.site.code},{factor.id}={grade}"]
            slot = free[stratum.pk].pop(0)
            allocations.append(
                Allocation(
                    subject=subject,
                    slot=slot,
                    randomization_number=f"R{stratum.number:02d}-{slot.seq:03d}",
                    allocated_at=dt.datetime.combine(subject.day0, dt.time(9), tzinfo=dt.UTC),
                )
            )
            kits.append((slot.pk, subject))
        Allocation.objects.bulk_create(allocations, batch_size=2000)
        first_kits = {
            kit.slot_id: kit
            for kit in Kit.objects.filter(study=study, administration_index=1, slot__isnull=False)
        }
        dosed = []
        for slot_pk, subject in kits:
            kit = first_kits[slot_pk]
            kit.dispensed_to, kit.administration_id = subject, first
            kit.administered_on = subject.day0
            dosed.append(kit)
        Kit.objects.bulk_update(
            dosed, ["dispensed_to", "administration_id", "administered_on"], batch_size=2000
        )
    return len(allocations)


# ---------------------------------------------------------------- one export (child process)


def rss_kib() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def export(format_name: str, batch_subjects: int, out: str) -> dict[str, Any]:
    """One export as `trialdesk export` reads it, in batches of `batch_subjects` (0: the
    store's BATCH_SUBJECTS), timed and measured."""
    import importlib

    from trialdesk.store.database import open_store

    open_store()
    from trialdesk.exchange import FORMATS as WRITERS
    from trialdesk.store.access import access_for
    from trialdesk.store.export_feed import BATCH_SUBJECTS, export_source
    from trialdesk.store.exports import read_snapshot
    from trialdesk.store.models import Study, StudyUser

    writer = importlib.import_module(WRITERS[format_name].module)
    study = Study.objects.get(protocol_id=STUDY)
    access = access_for(study, StudyUser.objects.get(username=READER))
    size = batch_subjects or BATCH_SUBJECTS
    before = rss_kib()
    started = time.perf_counter()
    with read_snapshot():
        source = export_source(access, size)
        written = writer.write(source, Path(out))
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rss_before": before,
        "rss_peak": rss_kib(),
        "bytes": sum(path.stat().st_size for path in written),
        "files": len(written),
        "batch": size,
        "blinded": source.blinded,
    }


# ---------------------------------------------------------------- the parent


def child(environment: dict[str, str], *arguments: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, __file__, *arguments],
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure(
    environment: dict[str, str], workdir: Path, formats: list[str], subjects: int, batch: int
) -> list[dict[str, Any]]:
    rows = []
    for format_name in formats:
        runs = {}
        for mode, size in (("streaming", batch), ("baseline", subjects)):
            out = workdir / f"{format_name}-{mode}"
            try:
                runs[mode] = child(environment, "--export", format_name, str(size), str(out))
            except RuntimeError as error:
                runs[mode] = {"error": str(error).strip().splitlines()[-1]}
            remove(out)  # gigabytes at 10,000 subjects
        rows.append({"format": format_name, **runs})
        report_row(rows[-1])
    return rows


def remove(out: Path) -> None:
    if out.is_dir():
        shutil.rmtree(out)
    else:
        out.unlink(missing_ok=True)


def mib(kib: int) -> str:
    return f"{kib / 1024:,.0f}"


HEADER = (
    f"{'format':14} {'mode':10} {'batch':>6} {'seconds':>8} {'RSS before':>10} "
    f"{'peak MiB':>9} {'growth':>7} {'MB out':>8}  streaming/baseline"
)


def report_row(row: dict[str, Any]) -> None:
    streaming, baseline = row["streaming"], row["baseline"]
    for mode, run in (("streaming", streaming), ("baseline", baseline)):
        if "error" in run:
            print(f"{row['format']:14} {mode:10} failed: {run['error']}")
            continue
        growth = run["rss_peak"] - run["rss_before"]
        line = (
            f"{row['format']:14} {mode:10} {run['batch']:6d} {run['seconds']:8.1f} "
            f"{mib(run['rss_before']):>10} {mib(run['rss_peak']):>9} {mib(growth):>7} "
            f"{run['bytes'] / 1e6:8.1f}"
        )
        if mode == "streaming" and "error" not in baseline:
            base_growth = baseline["rss_peak"] - baseline["rss_before"]
            line += (
                f"  time {run['seconds'] / baseline['seconds']:.2f}x, "
                f"peak {run['rss_peak'] / baseline['rss_peak']:.2f}x, "
                f"growth {growth / max(base_growth, 1):.2f}x"
            )
            if run["bytes"] != baseline["bytes"]:
                line += f", OUTPUT SIZES DIFFER ({baseline['bytes']:,} bytes in the baseline)"
        print(line, flush=True)


def run_backend(
    name: str, environment: dict[str, str], workdir: Path, arguments: argparse.Namespace
) -> None:
    started = time.perf_counter()
    kept = arguments.store / "bench-exchange.json" if arguments.store else None
    if (
        kept is not None
        and kept.exists()
        and json.loads(kept.read_text())["subjects"] == (arguments.subjects)
    ):
        built, how = json.loads(kept.read_text()), f"reused from {arguments.store}"
    else:
        protocol = bench_protocol(workdir, enrollment=arguments.subjects)
        built = child(environment, "--build", str(protocol), str(arguments.subjects))
        how = f"built in {time.perf_counter() - started:.0f} s"
        if kept is not None:
            kept.write_text(json.dumps(built))
    print(
        f"\n{name}: store {how} ({built['subjects']:,} subjects, {built['visits']:,} visits, "
        f"{built['forms']:,} form records, {built['allocations']:,} allocations; locked)"
    )
    print(HEADER, flush=True)
    measure(environment, workdir, arguments.formats, arguments.subjects, arguments.batch)


def positive(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number, 1 or more")
    return int(text)


def format_list(text: str) -> list[str]:
    chosen = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in FORMATS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected formats among {', '.join(FORMATS)}, separated by commas"
        )
    return chosen


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--build":
        print(json.dumps(build(sys.argv[2], int(sys.argv[3]))))
        return
    if len(sys.argv) == 5 and sys.argv[1] == "--export":
        print(json.dumps(export(sys.argv[2], int(sys.argv[3]), sys.argv[4])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=positive, default=10_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--formats", type=format_list, default=list(FORMATS))
    parser.add_argument(
        "--batch",
        type=positive,
        default=0,
        help="subjects per batch when streaming (default: the store's BATCH_SUBJECTS)",
    )
    parser.add_argument(
        "--store",
        type=Path,
        help="SQLite: build the store in this directory, or reuse the one built there for "
        "as many subjects",
    )
    arguments = parser.parse_args()
    if arguments.store and arguments.backend != "sqlite":
        parser.error("--store keeps a SQLite store; PostgreSQL's is built anew on each run")
    print(f"{arguments.subjects:,} subjects x 8 visits, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        secrets = {
            "TRIALDESK_SECRET_KEY": "bench-only-" + "s" * 40,
            "TRIALDESK_AUDIT_KEY": "bench-only-audit-key-" + "a" * 32,
        }
        if arguments.backend == "sqlite":
            environment = {
                "TRIALDESK_HOME": str(arguments.store or workdir / "sqlite"),
                "TRIALDESK_DATABASE_URL": "",
                **secrets,
            }
            run_backend("SQLite", environment, workdir, arguments)
        else:
            with ThrowawayPostgres() as postgres:
                environment = {
                    "TRIALDESK_HOME": str(workdir / "postgresql"),
                    "TRIALDESK_DATABASE_URL": postgres.create_database("bench_exchange"),
                    **secrets,
                }
                run_backend("PostgreSQL", environment, workdir, arguments)


if __name__ == "__main__":
    main()
