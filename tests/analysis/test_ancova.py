import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from trialdesk.analysis.ancova import ancova
from trialdesk.analysis.mmrm import fit_mmrm
from trialdesk.errors import BadInput


@pytest.fixture(scope="module")
def week4(fev_data: pd.DataFrame) -> pd.DataFrame:
    visit = fev_data[fev_data["AVISIT"] == "VIS4"].dropna(subset=["FEV1"])
    return visit.assign(CHG=visit["FEV1"] - visit["FEV1_BL"])


def test_ancova_matches_statsmodels_ols(week4):
    result = ancova(week4, "CHG", "ARMCD", "FEV1_BL", strata=["RACE", "SEX"], reference="PBO")
    ols = smf.ols("CHG ~ C(ARMCD, Treatment('PBO')) + FEV1_BL + RACE + SEX", week4).fit()
    name = "C(ARMCD, Treatment('PBO'))[T.TRT]"
    (effect,) = result.effects
    assert effect.arm == "TRT" and effect.reference == "PBO"
    assert effect.estimate == pytest.approx(ols.params[name], rel=1e-10)
    assert effect.se == pytest.approx(ols.bse[name], rel=1e-10)
    assert effect.p == pytest.approx(ols.pvalues[name], rel=1e-8)
    assert (effect.lower, effect.upper) == pytest.approx(tuple(ols.conf_int().loc[name]), rel=1e-10)
    assert effect.df == ols.df_resid == len(week4) - 6


def test_mmrm_with_one_post_baseline_visit_is_the_ancova(week4):
    result = ancova(week4, "CHG", "ARMCD", "FEV1_BL", strata=["RACE", "SEX"], reference="PBO")
    fit = fit_mmrm(week4, "CHG", "ARMCD + FEV1_BL + RACE + SEX", "USUBJID", "AVISIT")
    (effect,) = result.effects
    row = fit.coefficients().set_index("term").loc["ARMCD=TRT"]
    assert row["estimate"] == pytest.approx(effect.estimate, rel=1e-8)
    assert row["se"] == pytest.approx(effect.se, rel=1e-6)
    assert row["df"] == pytest.approx(len(week4) - 6, rel=1e-6)
    assert fit.covariance[0, 0] == pytest.approx(result.residual_variance, rel=1e-6)


def test_three_arms_give_one_effect_per_active_arm():
    rng = np.random.default_rng(4)
    n = 90
    data = pd.DataFrame(
        {
            "arm": np.repeat(["LOW", "HIGH", "PBO"], n // 3),
            "base": rng.normal(50, 10, n),
            "site": np.tile(["S1", "S2", "S3"], n // 3),
        }
    )
    data["chg"] = -0.4 * data["base"] + np.where(data["arm"] == "HIGH", -8.0, 0.0)
    data["chg"] += rng.normal(0, 5, n)
    result = ancova(data, "chg", "arm", "base", strata=["site"], reference="PBO")
    assert [e.arm for e in result.effects] == ["HIGH", "LOW"]
    high, low = result.effects
    assert high.upper < 0 < low.upper and low.lower < 0


def test_missing_column_is_named(week4):
    with pytest.raises(BadInput, match="'STRATUM'"):
        ancova(week4, "CHG", "ARMCD", "FEV1_BL", strata=["STRATUM"])


def test_an_arm_id_with_a_colon_keeps_its_effect(week4):
    renamed = week4.assign(ARMCD=week4["ARMCD"].replace({"TRT": "TRT:10mg"}))
    (effect,) = ancova(renamed, "CHG", "ARMCD", "FEV1_BL", reference="PBO").effects
    (expected,) = ancova(week4, "CHG", "ARMCD", "FEV1_BL", reference="PBO").effects
    assert effect.arm == "TRT:10mg"
    assert effect.estimate == pytest.approx(expected.estimate, rel=1e-12)
