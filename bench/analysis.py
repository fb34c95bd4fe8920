"""Benchmark: MMRM on 10,000 subjects x 6 visits against R nlme::gls, and power by
simulation for 10,000 trials against a loop that refits statsmodels OLS trial by trial.

Run: .venv/bin/python bench/analysis.py   (needs Rscript with nlme for the MMRM baseline)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.api as sm

from trialdesk.analysis.mmrm import fit_mmrm
from trialdesk.analysis.power import TrialDesign, simulate_power, simulate_trials

SUBJECTS, VISITS, TRIALS = 10_000, 6, 10_000

R_FIT = """
suppressMessages(library(nlme))
d <- read.csv(commandArgs(trailingOnly = TRUE)[1])
d$arm <- factor(d$arm); d$visit <- factor(d$visit)
elapsed <- system.time(fit <- gls(y ~ base + arm * visit, d,
  correlation = corSymm(form = ~ visitn | subject), weights = varIdent(form = ~ 1 | visit),
  method = "REML"))[["elapsed"]]
cat(sprintf("%.6f,%.6f,%.6f\\n", elapsed, -2 * as.numeric(logLik(fit)), coef(fit)[["armB"]]))
"""


def synthetic_mmrm_data(rng: np.random.Generator) -> pd.DataFrame:
    """UN covariance with correlation 0.6^|lag|, SDs rising over visits, 15% monotone dropout."""
    lag = np.abs(np.subtract.outer(np.arange(VISITS), np.arange(VISITS)))
    sd = np.linspace(4.0, 7.0, VISITS)
    covariance = 0.6**lag * np.outer(sd, sd)
    arm = rng.integers(0, 2, SUBJECTS)
    base = rng.normal(50, 8, SUBJECTS)
    errors = rng.multivariate_normal(np.zeros(VISITS), covariance, SUBJECTS)
    y = 0.5 * base[:, None] + np.arange(VISITS) + arm[:, None] * np.linspace(0, 2, VISITS)
    y = y + errors
    last = np.where(rng.random(SUBJECTS) < 0.15, rng.integers(1, VISITS, SUBJECTS), VISITS)
    frame = pd.DataFrame(
        {
            "subject": np.repeat(np.arange(SUBJECTS), VISITS),
            "visitn": np.tile(np.arange(1, VISITS + 1), SUBJECTS),
            "arm": np.repeat(np.where(arm == 1, "B", "A"), VISITS),
            "base": np.repeat(base, VISITS),
            "y": y.reshape(-1),
        }
    )
    frame["visit"] = "V" + frame["visitn"].astype(str)
    keep = frame["visitn"].to_numpy() <= np.repeat(last, VISITS)
    return frame[keep].reset_index(drop=True)


def bench_mmrm() -> None:
    data = synthetic_mmrm_data(np.random.default_rng(1))
    start = time.perf_counter()
    fit = fit_mmrm(data, "y", "base + arm*visit", "subject", "visit")
    ours = time.perf_counter() - start
    effect = fit.coefficients().set_index("term").loc["arm=B", "estimate"]
    print(f"MMRM {SUBJECTS} subjects x {VISITS} visits ({fit.n_obs} rows), UN, REML, Satterthwaite")
    print(f"  trialdesk: {ours:8.2f} s  -2LL {fit.minus2_loglik:.4f}  arm=B {effect:.5f}")
    rscript = shutil.which("Rscript")
    if rscript is None:
        print("  R nlme::gls: skipped (Rscript not installed)")
        return
    with tempfile.TemporaryDirectory() as folder:
        csv, script = Path(folder) / "data.csv", Path(folder) / "fit.R"
        data.to_csv(csv, index=False)
        script.write_text(R_FIT)
        start = time.perf_counter()
        output = subprocess.run(
            [rscript, str(script), str(csv)], capture_output=True, text=True, check=True
        ).stdout
        wall = time.perf_counter() - start
    fit_seconds, minus2, r_effect = map(float, output.strip().split(","))
    print(
        f"  nlme::gls: {fit_seconds:8.2f} s fit ({wall:.2f} s with R start-up and CSV read)"
        f"  -2LL {minus2:.4f}  armB {r_effect:.5f}"
    )
    print(f"  ratio nlme / trialdesk (fit only): {fit_seconds / ours:.1f}x")


def statsmodels_loop(design: TrialDesign, seed: int) -> tuple[float, float]:
    """Power and type I error refitting statsmodels OLS trial by trial (the baseline)."""
    rng = np.random.default_rng(seed)
    rates = []
    for effect in (design.effect, 0.0):
        simulated = simulate_trials(design, TRIALS, effect, rng)
        treated = (simulated.arm_index > 0).astype(float)
        rejections = 0
        for values in simulated.values:
            observed = ~np.isnan(values[:, -1])
            x = sm.add_constant(np.column_stack([treated, values[:, 0]])[observed])
            fit = sm.OLS(values[observed, -1] - values[observed, 0], x).fit()
            rejections += fit.pvalues[1] < design.alpha
        rates.append(rejections / TRIALS)
    return rates[0], rates[1]


def bench_power() -> None:
    design = TrialDesign(
        arms=("PBO", "TRT"),
        n_per_arm=(40, 40),
        visits=("W4", "W12", "W24"),
        effect=0.7,
        sd=1.0,
        correlation=0.5,
        dropout=0.15,
    )
    start = time.perf_counter()
    (ours,) = simulate_power(design, TRIALS, seed=3).comparisons
    vectorised = time.perf_counter() - start
    start = time.perf_counter()
    power, type1 = statsmodels_loop(design, seed=3)
    loop = time.perf_counter() - start
    print(f"Power, ANCOVA, {TRIALS} trials under H1 and {TRIALS} under H0 (2 x 40 patients)")
    print(
        f"  trialdesk (batched numpy): {vectorised:8.2f} s  power {ours.power:.4f} "
        f"type I {ours.type1_error:.4f}"
    )
    print(f"  statsmodels OLS loop:      {loop:8.2f} s  power {power:.4f} type I {type1:.4f}")
    print(f"  ratio loop / trialdesk: {loop / vectorised:.1f}x")
    # The loop fits the very same simulated trials, so the rejection rates must agree.
    assert (ours.power, ours.type1_error) == (power, type1)


if __name__ == "__main__":
    print(f"machine: {os.cpu_count()} cores")
    bench_mmrm()
    bench_power()
