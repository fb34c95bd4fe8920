"""Benchmark: central monitoring's KRIs and statistical checks for 100 sites x 5,000 subjects.

Synthetic frames in the shape `trialdesk.store.monitoring_data` builds (the columns of
`trialdesk.monitoring.kri.FRAME_COLUMNS`): 100 sites in Denmark and China, 5,000 subjects
(50 a site; 10% screen failures, the rest randomized), 10 visits each 28 days apart (done,
missed 5%, or not yet due), two forms a done visit (vital signs: weight with one decimal,
systolic and diastolic pressure, heart rate; a 0-4 questionnaire of 8 items), so 12 measured
items a done visit, AEs, SAEs, deviations and queries at Poisson rates, and the first-entry
lag of each form. Three sites misbehave (one rounds its blood pressures to 0 or 5 with a
small spread, one enters late, one reports few AEs), so the run also shows they are found.

Timed, each with a baseline over the same frames in the same process (best of `--repeat`,
wall clock and this process's CPU time):
- KRIs (`compute_kris`: counts per site, funnel limits, z, flags) against a plain pandas
  groupby count per site of each frame the KRIs read;
- statistical checks (`run_checks`: digit preference, low variance, repeated values,
  weekend/holiday visits, identical answer patterns, Benjamini-Hochberg) against a plain
  groupby of the item values per site and item (count, mean, variance) and of the visits per
  site.
Peak memory of each is measured in a separate run under tracemalloc (Python and NumPy
allocations; tracemalloc slows the code, so times come from the untraced runs).

Run: .venv/bin/python bench/monitoring.py [--sites 100] [--subjects 5000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import time
import tracemalloc
from collections.abc import Callable

import numpy as np
import pandas as pd

from trialdesk.monitoring.kri import MonitoringData, compute_kris
from trialdesk.monitoring.statistical_checks import run_checks

VISITS = 10
START = dt.date(2025, 1, 6)
AS_OF = dt.date(2026, 6, 30)


def synthetic_data(sites: int, subjects: int, seed: int = 1) -> MonitoringData:
    """Frames of `sites` sites and `subjects` subjects; sites 0, 1 and 2 misbehave."""
    rng = np.random.default_rng(seed)
    codes = [f"S{i:03d}" for i in range(sites)]
    site_frame = pd.DataFrame(
        {
            "site": codes,
            "name": [f"Site {code}" for code in codes],
            "country": ["Denmark" if i % 2 else "China" for i in range(sites)],
        }
    )
    site_of = np.arange(subjects) % sites
    subject_codes = np.array([f"{codes[s]}-{i:05d}" for i, s in enumerate(site_of)])
    screened = np.array([START + dt.timedelta(days=int(d)) for d in rng.integers(0, 360, subjects)])
    failed = rng.random(subjects) < 0.10
    randomized = ~failed
    withdrawn = randomized & (rng.random(subjects) < 0.08)
    day0 = pd.to_datetime(screened) + pd.to_timedelta(14, unit="D")
    follow = np.minimum((pd.Timestamp(AS_OF) - day0).days, VISITS * 28)
    patient_years = np.where(randomized, np.maximum(follow, 0) / 365.25, 0.0)
    subject_frame = pd.DataFrame(
        {
            "subject": subject_codes,
            "site": np.array(codes)[site_of],
            "screened_on": screened,
            "screen_failed": failed,
            "randomized": randomized,
            "withdrawn": withdrawn,
            "patient_years": patient_years,
        }
    )
    # visits of the randomized subjects
    who = np.flatnonzero(randomized)
    v_subject = np.repeat(who, VISITS)
    v_number = np.tile(np.arange(1, VISITS + 1), len(who))
    target = day0.to_numpy()[v_subject] + pd.to_timedelta(v_number * 28, unit="D").to_numpy()
    jitter = pd.to_timedelta(rng.integers(-3, 4, len(v_subject)), unit="D").to_numpy()
    actual = target + jitter
    due = actual <= np.datetime64(AS_OF)
    missed = due & (rng.random(len(v_subject)) < 0.05)
    status = np.where(missed, "missed", np.where(due, "done", "scheduled"))
    visits = pd.DataFrame(
        {
            "subject": subject_codes[v_subject],
            "site": np.array(codes)[site_of[v_subject]],
            "visit": np.char.add("V", v_number.astype(str)),
            "target_date": target,
            "actual_date": pd.Series(actual).where(status == "done"),
            "status": status,
            "due": due,
        }
    )
    done = visits[visits["status"] == "done"].reset_index(drop=True)
    # forms and their first-entry lag (site 1 enters late)
    forms = pd.concat([done.assign(form="vitals"), done.assign(form="koos")], ignore_index=True)
    lag = rng.geometric(0.25, len(forms)) - 1
    lag = np.where(forms["site"] == codes[1], lag + 12, lag)
    entries = pd.DataFrame(
        {
            "subject": forms["subject"],
            "site": forms["site"],
            "visit": forms["visit"],
            "form": forms["form"],
            "visit_date": forms["actual_date"],
            "entered_on": forms["actual_date"] + pd.to_timedelta(lag, unit="D"),
            "lag_days": lag,
        }
    )
    # measured items
    n = len(done)
    person = rng.normal(0, 1, (subjects, 4))
    s_index = pd.Index(subject_codes).get_indexer(done["subject"])
    weight = 80 + 12 * person[s_index, 0] + rng.normal(0, 1.5, n)
    sbp = 130 + 12 * person[s_index, 1] + rng.normal(0, 8, n)
    dbp = 80 + 8 * person[s_index, 2] + rng.normal(0, 6, n)
    hr = 70 + 8 * person[s_index, 3] + rng.normal(0, 6, n)
    fabricating = (done["site"] == codes[0]).to_numpy()
    sbp = np.where(fabricating, 5 * np.round((130 + rng.normal(0, 3, n)) / 5), np.round(sbp))
    dbp = np.where(fabricating, 5 * np.round((80 + rng.normal(0, 2, n)) / 5), np.round(dbp))
    vitals = {"weight": np.round(weight, 1), "sbp": sbp, "dbp": dbp, "hr": np.round(hr)}
    parts = []
    for item, values in vitals.items():
        text = [f"{v:.1f}" for v in values] if item == "weight" else [f"{v:.0f}" for v in values]
        parts.append(done.assign(form="vitals", item=item, value=values, text=text))
    for k in range(8):
        values = np.clip(np.round(2 + person[s_index, k % 4] + rng.normal(0, 0.8, n)), 0, 4)
        parts.append(
            done.assign(
                form="koos", item=f"q{k + 1}", value=values, text=values.astype(int).astype(str)
            )
        )
    items = pd.concat(parts, ignore_index=True)
    items = items.assign(date=items["actual_date"])[
        ["subject", "site", "visit", "form", "item", "value", "text", "date"]
    ]
    # AEs (site 2 reports a fifth), SAEs, deviations, queries
    rate = np.where(subject_frame["site"] == codes[2], 0.3, 1.5)
    ae_count = rng.poisson(rate * patient_years)
    ae_subject = np.repeat(np.arange(subjects), ae_count)
    adverse_events = pd.DataFrame(
        {
            "subject": subject_codes[ae_subject],
            "site": subject_frame["site"].to_numpy()[ae_subject],
            "number": np.concatenate([np.arange(1, c + 1) for c in ae_count])
            if len(ae_subject)
            else [],
            "onset_date": pd.Timestamp(AS_OF),
            "serious": rng.random(len(ae_subject)) < 0.1,
        }
    )
    dev_subject = np.repeat(np.arange(subjects), rng.poisson(0.4 * patient_years))
    deviations = pd.DataFrame(
        {
            "subject": subject_codes[dev_subject],
            "site": subject_frame["site"].to_numpy()[dev_subject],
            "kind": "window",
            "detected_on": pd.Timestamp(AS_OF),
        }
    )
    q_form = np.repeat(np.arange(len(entries)), rng.poisson(0.05, len(entries)))
    queries = pd.DataFrame(
        {
            "subject": entries["subject"].to_numpy()[q_form],
            "site": entries["site"].to_numpy()[q_form],
            "number": np.arange(len(q_form)) + 1,
            "origin": "rule",
            "status": "open",
            "opened_at": pd.Timestamp(AS_OF),
        }
    )
    return MonitoringData(
        sites=site_frame,
        subjects=subject_frame,
        visits=visits,
        adverse_events=adverse_events,
        deviations=deviations,
        queries=queries,
        entries=entries,
        items=items,
        as_of=AS_OF,
    )


def kri_baseline(data: MonitoringData) -> object:
    """A plain groupby count per site of each frame the KRIs read."""
    return [
        data.subjects.groupby("site").agg(
            screened=("subject", "size"),
            failed=("screen_failed", "sum"),
            randomized=("randomized", "sum"),
            withdrawn=("withdrawn", "sum"),
            years=("patient_years", "sum"),
        ),
        data.visits.groupby(["site", "status"]).size(),
        data.adverse_events.groupby(["site", "serious"]).size(),
        data.deviations.groupby("site").size(),
        data.queries.groupby("site").size(),
        data.entries.groupby("site")["lag_days"].agg(["size", "median"]),
    ]


def checks_baseline(data: MonitoringData) -> object:
    """A plain groupby of the item values per site and item, and of the visits per site."""
    return [
        data.items.groupby(["site", "form", "item"])["value"].agg(["size", "mean", "var"]),
        data.visits.groupby(["site", "status"]).size(),
    ]


def best_time(work: Callable[[], object], repeat: int) -> tuple[float, float]:
    """The best wall-clock and the best CPU time (this process) of `repeat` calls: on a
    shared machine the CPU time says more of the code than the wall clock."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def peak_memory(work: Callable[[], object]) -> float:
    """Peak traced memory (MiB) of one call."""
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--subjects", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    data = synthetic_data(args.sites, args.subjects)
    print(
        f"{args.sites} sites, {args.subjects:,} subjects: {len(data.visits):,} visits, "
        f"{len(data.entries):,} forms, {len(data.items):,} item values, "
        f"{len(data.adverse_events):,} AEs, {len(data.queries):,} queries "
        f"(made in {time.perf_counter() - started:.1f} s)"
    )
    print(
        f"machine: {platform.machine()}, Python {platform.python_version()}, "
        f"pandas {pd.__version__}"
    )
    kris = compute_kris(data)
    checks = run_checks(data.items, data.visits, data.sites)
    rows = [
        ("KRIs", lambda: compute_kris(data), lambda: kri_baseline(data)),
        (
            "statistical checks",
            lambda: run_checks(data.items, data.visits, data.sites),
            lambda: checks_baseline(data),
        ),
    ]
    print(
        "| scenario | trialdesk wall (CPU) | peak memory | baseline wall (CPU) | baseline peak "
        "| CPU time ratio |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for name, ours, baseline in rows:
        (ours_s, ours_cpu), (base_s, base_cpu) = (
            best_time(ours, args.repeat),
            best_time(baseline, args.repeat),
        )
        ours_mb, base_mb = peak_memory(ours), peak_memory(baseline)
        print(
            f"| {name} | {ours_s:.3f} s ({ours_cpu:.3f} s) | {ours_mb:.0f} MiB "
            f"| {base_s:.3f} s ({base_cpu:.3f} s) | {base_mb:.0f} MiB "
            f"| {ours_cpu / base_cpu:.1f}x the baseline's |"
        )
    flagged = kris[kris["flag"] != "ok"]
    print(f"KRI rows {len(kris)}, not ok {len(flagged)}:")
    for _, row in flagged[flagged["flag"] == "signal"].iterrows():
        print(f"  signal {row['site']} {row['kri']} {row['direction']} z={row['z']:.1f}")
    print(f"check rows {len(checks)}, signals:")
    signals = checks[checks["flag"] == "signal"]
    for (site, check), rows_of in signals.groupby(["site", "check"]):
        print(f"  {site} {check}: {', '.join(rows_of['item'].astype(str))}")


if __name__ == "__main__":
    main()
