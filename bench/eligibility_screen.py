"""Screening speed: 1,000,000 synthetic patients per seed protocol.

Compares `trialdesk eligibility screen` (validated load, compiled SQL in DuckDB, results file,
summary) with (a) the single-patient evaluator in a Python loop, timed on a sample and
extrapolated per patient, and (b) a hand-written DuckDB query of the same criteria over the
same file, writing the same results file and computing the same summary counts.

    .venv/bin/python bench/eligibility_screen.py [--patients N] [--sample N]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from trialdesk.eligibility import ProtocolCriteria
from trialdesk.eligibility.screen import screen
from trialdesk.eligibility.synth import synthetic_patients, write_cohort
from trialdesk.protocol import load_protocol

# What an analyst would write by hand for each seed protocol's computable criteria.
HAND_WRITTEN = {
    "NCT04208646": {
        "AGE": ("inclusion", "age BETWEEN 40 AND 75"),
        "I3": ("inclusion", "age BETWEEN 40 AND 75"),
        "I4": ("inclusion", "oa_duration_months > 6 AND oa_duration_months < 120"),
        "I5": (
            "inclusion",
            "womac_total BETWEEN 24 AND 72 AND womac_pain BETWEEN 7 AND 17",
        ),
        "I6": ("inclusion", "kl_grade_index IN (2, 3)"),
        "E3": ("exclusion", "bmi > 30"),
        "E4": (
            "exclusion",
            "neutrophils < 1.0 OR platelets < 50 OR albumin < 30 OR creatinine > creatinine_uln"
            " OR bilirubin > 2 * bilirubin_uln OR alt > 2 * alt_uln OR ast > 2 * ast_uln",
        ),
        "E18": ("exclusion", "hiv_positive OR hbv_positive OR hcv_positive OR syphilis_positive"),
        "E24": ("exclusion", "kl_grade_index = 4 OR kl_grade_contralateral = 4"),
    },
    "NCT05933434": {
        "AGE": ("inclusion", "age BETWEEN 40 AND 75"),
        "I1": ("inclusion", "knee_pain_duration_months >= 6 AND nrs_pain_worst >= 4"),
        "I2": ("inclusion", "kl_grade_index IN (2, 3) AND joint_space_width_mm BETWEEN 1 AND 3"),
        "I3": ("inclusion", "axial_deformity_deg <= 5"),
        "I4": ("inclusion", "oa_compartment IN ('medial', 'lateral', 'dual')"),
        "I5": ("inclusion", "bmi < 35"),
        "E1": ("exclusion", "kl_grade_index = 4"),
        "E11": ("exclusion", "ap_laxity_mm >= 3"),
    },
}


def hand_written_screen(
    protocol_id: str, criteria: ProtocolCriteria, cohort: Path, out: Path
) -> int:
    computed = HAND_WRITTEN[protocol_id]
    columns = []
    for criterion, _ in criteria.criteria:
        if criterion.id in computed:
            kind, condition = computed[criterion.id]
        else:
            kind, condition = criterion.type, f'"attest_{criterion.id}"'
        yes, no = ("pass", "fail") if kind == "inclusion" else ("fail", "pass")
        columns.append(
            f"CASE WHEN {condition} THEN '{yes}' WHEN NOT ({condition}) THEN '{no}' "
            f"ELSE 'unknown' END AS \"{criterion.id}\""
        )
    ids = ", ".join(f'"{criterion.id}"' for criterion, _ in criteria.criteria)
    verdict = (
        f"CASE WHEN 'fail' IN ({ids}) THEN 'ineligible' WHEN 'unknown' IN ({ids}) "
        "THEN 'incomplete' ELSE 'eligible' END"
    )
    connection = duckdb.connect()
    connection.execute("SET enable_progress_bar = false")
    connection.execute(
        f"CREATE TEMP TABLE results AS SELECT patient_id, {verdict} AS verdict,"
        f" * EXCLUDE (patient_id) FROM (SELECT patient_id, {', '.join(columns)}"
        f" FROM read_parquet('{cohort}'))"
    )
    connection.execute(f"COPY results TO '{out}' (FORMAT parquet)")
    counts = ", ".join(
        f"count(*) FILTER (\"{c.id}\" = '{r}')"
        for c, _ in criteria.criteria
        for r in ("pass", "fail", "unknown")
    )
    connection.execute(f"SELECT count(*), {counts} FROM results").fetchone()
    first = " ".join(
        f"WHEN \"{c.id}\" = 'fail' THEN {i}" for i, (c, _) in enumerate(criteria.criteria)
    )
    connection.execute(f"SELECT CASE {first} END, count(*) FROM results GROUP BY ALL").fetchall()
    eligible = connection.execute(
        "SELECT count(*) FROM results WHERE verdict = 'eligible'"
    ).fetchone()
    connection.close()
    return eligible[0] if eligible else 0


def best_of(runs: int, work) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    best, value = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        value = work()
        best = min(best, time.perf_counter() - start)
    return best, value


def bench_protocol(protocol_id: str, directory: Path, arguments: argparse.Namespace) -> None:
    protocol = load_protocol(protocol_id)
    criteria = ProtocolCriteria.of(protocol)
    cohort = directory / f"{protocol_id}.parquet"
    write_cohort(synthetic_patients(protocol, arguments.patients, seed=1), cohort)
    out = directory / "results.parquet"

    screen_seconds, report = best_of(arguments.runs, lambda: screen(criteria, cohort, out))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    hand_seconds, hand_eligible = best_of(
        arguments.runs, lambda: hand_written_screen(protocol_id, criteria, cohort, out)
    )
    assert hand_eligible == report.eligible, (hand_eligible, report.eligible)

    sample = pq.read_table(cohort).slice(0, arguments.sample).to_pylist()
    answers = [
        (
            {k: v for k, v in row.items() if k in criteria.data_items},
            {k[len("attest_") :]: v for k, v in row.items() if k.startswith("attest_")},
        )
        for row in sample
    ]
    start = time.perf_counter()
    for items, attestations in answers:
        criteria.evaluate(items, attestations)
    per_patient = (time.perf_counter() - start) / len(answers)
    loop_seconds = per_patient * arguments.patients

    n = arguments.patients
    print(f"\n{protocol_id}: {n:,} patients, {len(criteria.criteria)} criteria (Parquet)")
    rate = n / screen_seconds
    print(f"  screen:            {screen_seconds:7.2f} s  {rate:12,.0f} patients/s")
    print(f"  peak memory (RSS): {peak_mib:7.0f} MiB (whole process)")
    print(
        f"  (a) evaluator loop:{loop_seconds:7.1f} s  {1 / per_patient:12,.0f} patients/s"
        f"  extrapolated from {len(answers):,} patients;"
        f" screen is {loop_seconds / screen_seconds:,.0f}x faster (goal >= 100x)"
    )
    print(
        f"  (b) hand-written:  {hand_seconds:7.2f} s  {n / hand_seconds:12,.0f} patients/s;"
        f" screen takes {screen_seconds / hand_seconds:.2f}x its time (goal <= 1.5x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3, help="best of this many runs")
    arguments = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; DuckDB {duckdb.__version__}")
    with tempfile.TemporaryDirectory() as directory:
        for protocol_id in HAND_WRITTEN:
            bench_protocol(protocol_id, Path(directory), arguments)


if __name__ == "__main__":
    main()
