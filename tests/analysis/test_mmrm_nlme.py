"""Models other than SAS's M1 against independent fits with R's nlme::gls."""

import io
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trialdesk.analysis.mmrm import fit_mmrm

HERE = Path(__file__).parent
FORMULAS = {"cs_ml": "RACE + SEX + ARMCD + AVISIT"}
DEFAULT_FORMULA = "FEV1_BL + ARMCD*AVISIT"


def our_name(term: str) -> str:
    """nlme's 'ARMCDTRT:AVISITVIS2' as our 'ARMCD=TRT:AVISIT=VIS2'."""
    term = term.replace("(Intercept)", "Intercept")
    return re.sub(r"(^|:)(ARMCD|AVISIT|SEX|RACE)", r"\1\2=", term)


@pytest.fixture(scope="module")
def nlme_fits(rscript: str) -> pd.DataFrame:
    output = subprocess.run(
        [rscript, str(HERE / "nlme_fits.R"), str(HERE / "data" / "fev_data.csv")],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    fits = pd.read_csv(io.StringIO(output), header=None, names=["model", "term", "est", "se"])
    fits["term"] = fits["term"].map(our_name)
    return fits


@pytest.mark.parametrize(
    "model", ["us_reml", "us_ml", "cs_reml", "cs_ml", "ar1_reml", "ar1_ml", "toep_reml"]
)
def test_matches_nlme_gls(fev_data, nlme_fits, model):
    structure, method = model.split("_")
    fit = fit_mmrm(
        fev_data,
        "FEV1",
        FORMULAS.get(model, DEFAULT_FORMULA),
        "USUBJID",
        "AVISIT",
        covariance=structure,
        method=method,
        references={"ARMCD": "PBO"},
    )
    expected = nlme_fits[nlme_fits["model"] == model].set_index("term")
    assert fit.converged
    assert fit.minus2_loglik == pytest.approx(expected.loc["minus2", "est"], abs=1e-3)
    expected = expected.drop("minus2")
    ours = fit.coefficients().set_index("term").loc[expected.index]
    np.testing.assert_allclose(ours["estimate"], expected["est"], atol=1e-3)
    se = expected["se"]
    if method == "ml":
        # nlme scales ML standard errors by sqrt(N / (N - p)); SAS and we report
        # (X' V^-1 X)^-1 at the ML estimate.
        se = se * np.sqrt((fit.n_obs - len(fit.terms)) / fit.n_obs)
    np.testing.assert_allclose(ours["se"], se, rtol=1e-3)
