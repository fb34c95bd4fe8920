import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from trialdesk.analysis.mmrm import MMRMResult, fit_mmrm

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def fev_data() -> pd.DataFrame:
    return pd.read_csv(DATA / "fev_data.csv")


@pytest.fixture(scope="session")
def m1_references() -> dict[str, str]:
    """SAS CLASS references of model M1."""
    return {"ARMCD": "PBO", "AVISIT": "VIS1", "RACE": "Asian", "SEX": "Male"}


@pytest.fixture(scope="session")
def fit_m1(fev_data: pd.DataFrame, m1_references: dict[str, str]):
    """Fit model M1 (FEV1 ~ RACE + SEX + ARMCD*AVISIT) with extra fit_mmrm options."""

    def fit(**options) -> MMRMResult:
        return fit_mmrm(
            fev_data,
            "FEV1",
            "RACE + SEX + ARMCD*AVISIT",
            "USUBJID",
            "AVISIT",
            references=m1_references,
            **options,
        )

    return fit


@pytest.fixture(scope="session")
def m1(fit_m1) -> MMRMResult:
    return fit_m1()


@pytest.fixture(scope="session")
def sas_estimates() -> pd.DataFrame:
    """SAS PROC MIXED M1 results, keyed by our term names."""
    table = pd.read_csv(DATA / "expected_sas_proc_mixed.csv")
    # SAS writes AVISIT*ARMCD; our interaction follows the formula, ARMCD*AVISIT.
    table["term"] = table["term"].str.replace(
        r"^AVISIT=(VIS\d):ARMCD=TRT$", r"ARMCD=TRT:AVISIT=\1", regex=True
    )
    return table.set_index("term")


@pytest.fixture(scope="session")
def sas_fit_stats() -> pd.Series:
    return pd.read_csv(DATA / "expected_sas_fit_stats.csv").set_index("quantity")["value"]


@pytest.fixture(scope="session")
def rscript() -> str:
    """Path of an Rscript that loads nlme: fails loudly in CI when missing, skips elsewhere."""
    path = shutil.which("Rscript")
    problem = None
    if path is None:
        problem = "Rscript is not installed"
    elif subprocess.run([path, "-e", "library(nlme)"], capture_output=True).returncode != 0:
        problem = "the R package nlme is not installed"
    if problem is None:
        return path
    message = f"{problem}; install with: apt-get install -y r-base-core r-cran-nlme"
    if os.environ.get("CI"):
        pytest.fail(message)
    print(f"skipping R cross-check: {message}")
    pytest.skip(message)
