"""Model M1 of openpharma/mmrm against SAS PROC MIXED (tolerances from the reference notes)."""

import numpy as np
import pandas as pd
import pytest

VISITS = ["VIS1", "VIS2", "VIS3", "VIS4"]


def sas_covariance(stats: pd.Series) -> np.ndarray:
    matrix = np.zeros((4, 4))
    for i, a in enumerate(VISITS):
        for j, b in enumerate(VISITS):
            key = f"cov {a} {b}" if f"cov {a} {b}" in stats.index else f"cov {b} {a}"
            matrix[i, j] = stats[key]
    return matrix


def coefficient_rows(sas: pd.DataFrame) -> pd.DataFrame:
    return sas[~sas.index.str.startswith("LS")]


def test_fit_statistics_match_sas(m1, sas_fit_stats):
    assert m1.converged
    assert m1.minus2_loglik == pytest.approx(sas_fit_stats["minus2_REML_loglik"], abs=1e-3)
    assert round(m1.aic, 1) == sas_fit_stats["AIC"]
    assert round(m1.bic, 1) == sas_fit_stats["BIC"]
    assert m1.n_obs == sas_fit_stats["n_obs_used"]
    assert m1.n_subjects == sas_fit_stats["n_subjects"]


def test_coefficients_match_sas(m1, sas_estimates):
    ours = m1.coefficients().set_index("term")
    expected = coefficient_rows(sas_estimates)
    assert set(ours.index) == set(expected.index)
    for term, row in expected.iterrows():
        assert ours.loc[term, "estimate"] == pytest.approx(row["estimate"], abs=1e-3), term
        assert ours.loc[term, "se"] == pytest.approx(row["se"], rel=1e-3), term
        assert abs(ours.loc[term, "df"] - row["df"]) <= 1.0, term
        assert round(ours.loc[term, "t"], 2) == pytest.approx(row["t_value"], abs=0.011), term


def test_lsmeans_and_differences_match_sas(m1, sas_estimates):
    lsmeans = m1.lsmeans(["AVISIT", "ARMCD"]).set_index(["AVISIT", "ARMCD"])
    differences = m1.lsmean_differences("ARMCD", by="AVISIT").set_index("AVISIT")
    for visit in VISITS:
        for arm in ("PBO", "TRT"):
            row = sas_estimates.loc[f"LSMEAN {visit} {arm}"]
            ours = lsmeans.loc[(visit, arm)]
            assert ours["estimate"] == pytest.approx(row["estimate"], abs=1e-3)
            assert ours["se"] == pytest.approx(row["se"], rel=1e-3)
            assert abs(ours["df"] - row["df"]) <= 1.0
        row = sas_estimates.loc[f"LSDIFF TRT-PBO {visit}"]
        ours = differences.loc[visit]
        assert ours["estimate"] == pytest.approx(row["estimate"], abs=1e-3)
        assert ours["se"] == pytest.approx(row["se"], rel=1e-3)
        assert abs(ours["df"] - row["df"]) <= 1.0
    vis4 = differences.loc["VIS4"]
    assert (vis4["lower"], vis4["upper"]) == pytest.approx((1.0746, 7.7225), abs=1e-3)
    assert vis4["p"] == pytest.approx(0.0099, abs=5e-5)


def test_covariance_matches_sas(m1, sas_fit_stats):
    # The REML surface is flat: 1e-3 relative on the covariance is well within its SEs.
    np.testing.assert_allclose(m1.covariance, sas_covariance(sas_fit_stats), rtol=1e-3, atol=5e-3)


def test_type3_tests_match_sas(m1, sas_fit_stats):
    expected = {
        "ARMCD": ("ARMCD", 1, 169),
        "AVISIT": ("AVISIT", 3, 148),
        "ARMCD*AVISIT": ("AVISIT*ARMCD", 3, 148),
        "RACE": ("RACE", 2, 166),
        "SEX": ("SEX", 1, 166),
    }
    table = m1.type3().set_index("effect")
    for effect, (sas_name, num, den) in expected.items():
        key = f"type3 {sas_name} F (numdf {num} dendf {den})"
        assert table.loc[effect, "num_df"] == num
        assert abs(table.loc[effect, "den_df"] - den) <= 1.0, effect
        assert round(table.loc[effect, "f"], 2) == pytest.approx(sas_fit_stats[key], abs=0.011)


def test_gls_at_sas_covariance_reproduces_sas_exactly(fit_m1, sas_estimates, sas_fit_stats):
    held = fit_m1(held_covariance=sas_covariance(sas_fit_stats))
    ours = held.coefficients().set_index("term")
    for term, row in coefficient_rows(sas_estimates).iterrows():
        assert ours.loc[term, "estimate"] == pytest.approx(row["estimate"], abs=6e-5), term
        assert ours.loc[term, "se"] == pytest.approx(row["se"], abs=6e-5), term
    lsmeans = held.lsmeans(["AVISIT", "ARMCD"]).set_index(["AVISIT", "ARMCD"])
    differences = held.lsmean_differences("ARMCD", by="AVISIT").set_index("AVISIT")
    for visit in VISITS:
        for arm in ("PBO", "TRT"):
            row = sas_estimates.loc[f"LSMEAN {visit} {arm}"]
            assert lsmeans.loc[(visit, arm), "estimate"] == pytest.approx(row["estimate"], abs=6e-5)
            assert lsmeans.loc[(visit, arm), "se"] == pytest.approx(row["se"], abs=6e-5)
        row = sas_estimates.loc[f"LSDIFF TRT-PBO {visit}"]
        assert differences.loc[visit, "estimate"] == pytest.approx(row["estimate"], abs=6e-5)
        assert differences.loc[visit, "se"] == pytest.approx(row["se"], abs=6e-5)


def test_summary_names_the_model_and_every_term(m1):
    text = m1.summary()
    assert "RACE + SEX + ARMCD*AVISIT" in text
    for term in m1.terms:
        assert term[:29] in text
