"""Kenward-Roger: properties that pin it down without another implementation to compare to."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from trialdesk.analysis.mmrm import fit_mmrm


@pytest.fixture(scope="module")
def m1_kr(fit_m1):
    return fit_m1(df="kr")


def test_one_row_df_equal_satterthwaite_and_se_is_inflated(m1, m1_kr):
    # Kenward & Roger's m reduces to Satterthwaite's formula for a single contrast.
    np.testing.assert_allclose(m1_kr.df, m1.df, rtol=1e-10)
    np.testing.assert_allclose(m1_kr.params, m1.params, rtol=1e-12)
    assert np.all(m1_kr.bse > m1.bse)
    assert np.all(m1_kr.bse < 1.05 * m1.bse)


def test_balanced_split_plot_gives_the_exact_anova_tests():
    # With complete, balanced data and compound symmetry, KR reproduces the classical
    # split-plot F tests exactly (Kenward & Roger 1997, section 5).
    rng = np.random.default_rng(11)
    subjects, visits = 24, 4
    arm = np.repeat(["A", "B"], subjects // 2)
    subject_effect = rng.normal(0, 2, subjects)
    rows = []
    for s in range(subjects):
        for v in range(visits):
            value = subject_effect[s] + 0.5 * v + (arm[s] == "B") * 0.8 + rng.normal(0, 1)
            rows.append({"id": f"P{s}", "visit": f"V{v + 1}", "arm": arm[s], "y": value})
    data = pd.DataFrame(rows)
    fit = fit_mmrm(data, "y", "arm*visit", "id", "visit", covariance="cs", df="kr")
    table = fit.type3().set_index("effect")

    grand = data["y"].mean()
    subject_means = data.groupby("id")["y"].mean()
    arm_means = data.groupby("arm")["y"].mean()
    arm_of = data.groupby("id")["arm"].first()
    ss_arm = visits * (subjects // 2) * ((arm_means - grand) ** 2).sum()
    ss_subjects = visits * ((subject_means - arm_means[arm_of].to_numpy()) ** 2).sum()
    between_df = subjects - 2
    f_arm = ss_arm / (ss_subjects / between_df)
    assert table.loc["arm", "den_df"] == pytest.approx(between_df, rel=1e-6)
    assert table.loc["arm", "f"] == pytest.approx(f_arm, rel=1e-6)

    cells = data.groupby(["arm", "visit"])["y"].transform("mean")
    residual = data["y"] - cells - data["id"].map(subject_means) + data["arm"].map(arm_means)
    within_df = between_df * (visits - 1)
    ms_within = (residual**2).sum() / within_df
    visit_means = data.groupby("visit")["y"].mean()
    f_visit = subjects * ((visit_means - grand) ** 2).sum() / (visits - 1) / ms_within
    assert table.loc["visit", "den_df"] == pytest.approx(within_df, rel=1e-6)
    assert table.loc["visit", "f"] == pytest.approx(f_visit, rel=1e-6)
    assert table.loc["visit", "p"] == pytest.approx(stats.f.sf(f_visit, 3, within_df), rel=1e-5)
