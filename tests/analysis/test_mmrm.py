"""fit_mmrm's checks of its arguments: each names what is wrong and what was expected."""

import numpy as np
import pandas as pd
import pytest

from trialdesk.analysis.mmrm import fit_mmrm
from trialdesk.errors import BadInput

FORMULA = "FEV1_BL + ARMCD*AVISIT"


def fit(fev_data, **options):
    return fit_mmrm(fev_data, "FEV1", FORMULA, "USUBJID", "AVISIT", **options)


@pytest.mark.parametrize(
    ("held", "message"),
    [
        (np.eye(3), r"shape \(3, 3\); expected 4 x 4"),
        (np.full((4, 4), np.nan), "symmetric matrix of finite numbers"),
        (np.triu(np.ones((4, 4))) + np.eye(4), "symmetric matrix of finite numbers"),
        ([["a"] * 4] * 4, "matrix of numbers"),
        (-np.eye(4), "not positive definite"),
    ],
)
def test_a_bad_held_covariance_is_bad_input(fev_data, held, message):
    with pytest.raises(BadInput, match=message):
        fit(fev_data, held_covariance=held)


def test_a_visit_order_must_list_each_visit_once(fev_data):
    with pytest.raises(BadInput, match="VIS2 more than once"):
        fit(fev_data, visit_order=["VIS1", "VIS2", "VIS2", "VIS3", "VIS4"])
    with pytest.raises(BadInput, match="does not list visit"):
        fit(fev_data, visit_order=["VIS1", "VIS2", "VIS3"])


def test_an_lsmean_difference_names_an_unknown_level(fev_data):
    fitted = fit(fev_data, references={"ARMCD": "PBO"})
    at_vis4 = fitted.lsmean_difference("ARMCD", "TRT", {"AVISIT": "VIS4"})
    table = fitted.lsmean_differences("ARMCD", by="AVISIT").set_index("AVISIT")
    assert at_vis4.estimate == table.loc["VIS4", "estimate"]
    with pytest.raises(BadInput, match="'VIS9' is not a level of 'AVISIT'"):
        fitted.lsmean_difference("ARMCD", "TRT", {"AVISIT": "VIS9"})
    with pytest.raises(BadInput, match="'FEV1_BL' is not a categorical variable"):
        fitted.lsmean_difference("FEV1_BL", "TRT")


def test_ten_copies_of_every_subject_give_the_same_ml_fit(fev_data):
    # Copies multiply the ML log-likelihood by ten and leave its maximum where it was.
    copies = pd.concat(
        [fev_data.assign(USUBJID=fev_data["USUBJID"] + f"-{copy}") for copy in range(10)]
    )
    once = fit(fev_data, method="ml")
    tenfold = fit(copies, method="ml")
    assert tenfold.minus2_loglik == pytest.approx(10 * once.minus2_loglik, rel=1e-9)
    np.testing.assert_allclose(tenfold.params, once.params, rtol=1e-6)
    np.testing.assert_allclose(tenfold.covariance, once.covariance, rtol=1e-5)
    np.testing.assert_allclose(tenfold.bse * np.sqrt(10), once.bse, rtol=1e-5)


@pytest.mark.parametrize("reml", [True, False])
def test_summed_and_per_subject_patterns_give_the_same_likelihood(reml):
    from trialdesk.analysis.mmrm import _Likelihood, _Pattern

    rng = np.random.default_rng(8)
    n, k, p = 40, 3, 5
    design, outcome = rng.normal(size=(n, k, p)), rng.normal(size=(n, k))
    visits = np.arange(k)
    summed = _Pattern.of(visits, design, outcome)
    per_subject = _Pattern(visits, np.ix_(visits, visits), design, outcome, None, None)
    assert summed.design_products is not None
    root = rng.normal(size=(k, k))
    sigma = root @ root.T + k * np.eye(k)
    results = [
        _Likelihood([pattern], n * k, p, reml).evaluate(sigma, gradient=True)
        for pattern in (summed, per_subject)
    ]
    assert results[0].minus2 == pytest.approx(results[1].minus2, rel=1e-12)
    np.testing.assert_allclose(results[0].gradient, results[1].gradient, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(results[0].beta, results[1].beta, rtol=1e-10)
    np.testing.assert_allclose(
        summed.whitened_products(np.linalg.inv(sigma)),
        per_subject.whitened_products(np.linalg.inv(sigma)),
        rtol=1e-10,
        atol=1e-12,
    )
