"""Mixed model for repeated measures (MMRM), fitted like SAS PROC MIXED with a REPEATED statement.

The model is y_i = X_i beta + e_i, e_i ~ N(0, Sigma_i), one vector per subject, where Sigma_i
is the rows and columns of one visit-by-visit covariance matrix for the visits the subject
has. Missing outcomes are dropped and the subject keeps the visits that were observed.

The covariance parameters are estimated by REML (default) or ML: the -2 log-likelihood and its
exact gradient are computed pattern by pattern (all subjects with the same set of observed
visits share one Cholesky factor, and their design cross-products are summed once per fit),
minimised by BFGS and polished by Newton steps. Inference follows SAS: Satterthwaite degrees of
freedom from the observed information (the Hessian of the -2 log-likelihood in SAS's covariance
parameters), or Kenward-Roger's adjusted covariance and scaled F tests (Kenward & Roger 1997,
without the second-derivative term for linear structures as SAS does for UN, CS and Toeplitz).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import linalg, optimize, stats

from trialdesk.analysis.covariance import CovarianceStructure, covariance_structure
from trialdesk.analysis.design import (
    Design,
    Formula,
    build_design,
    check_columns,
    levels_of,
    parse_formula,
    type3_hypotheses,
)
from trialdesk.errors import AnalysisError, BadInput

METHODS = ("reml", "ml")
DF_METHODS = ("satterthwaite", "kr")
#: Numbers a pattern's design cross-products may hold when its subjects' rows hold fewer: with
#: at most 2^visits patterns this bounds their memory, and below it the sums cost less time.
SUMMED_SIZE = 20_000


@dataclass(frozen=True)
class _Pattern:
    """Subjects who share one set of observed visits.

    Whatever the covariance, X' V^-1 X, X' V^-1 y and the REML term are sums over subjects of
    X[a, p] X[b, q] and X[a, p] y[b] weighted by the entries of the pattern's Sigma^-1. These
    sums are formed once per fit, so that a step of the optimiser costs the same for 100 subjects
    as for 10,000, unless they would be both larger than the subjects' rows and larger than
    ``SUMMED_SIZE`` numbers (many visits, many coefficients, few subjects): such a pattern is
    weighted subject by subject. Residuals are always per subject.
    """

    visits: np.ndarray  # indices into the visit levels, shape (k,)
    block: tuple[np.ndarray, np.ndarray]  # np.ix_ of the pattern's rows and columns of Sigma
    design: np.ndarray  # (n, k, p)
    outcome: np.ndarray  # (n, k)
    design_products: np.ndarray | None  # (k * k, p * p): sum over subjects of X[a, p] X[b, q]
    design_outcome: np.ndarray | None  # (k * k, p): sum over subjects of X[a, p] y[b]

    @classmethod
    def of(cls, visits: np.ndarray, design: np.ndarray, outcome: np.ndarray) -> _Pattern:
        n, k, p = design.shape
        products = outcomes = None
        if k * k * p * p <= max(n * k * p, SUMMED_SIZE):
            products = np.einsum("nap,nbq->abpq", design, design, optimize=True)
            products = products.reshape(k * k, p * p)
            outcomes = np.einsum("nap,nb->abp", design, outcome).reshape(k * k, p)
        return cls(visits, np.ix_(visits, visits), design, outcome, products, outcomes)

    @property
    def size(self) -> int:
        return self.outcome.shape[0]

    def normal_equations(self, inverse: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sums over subjects of X' Sigma^-1 X, (p, p), and of X' Sigma^-1 y, (p,)."""
        if self.design_products is None or self.design_outcome is None:
            whitened = np.matmul(inverse, self.design)
            return (
                np.tensordot(self.design, whitened, axes=([0, 1], [0, 1])),
                np.tensordot(whitened, self.outcome, axes=([0, 1], [0, 1])),
            )
        p = self.design.shape[2]
        weights = inverse.reshape(-1)
        return (weights @ self.design_products).reshape(p, p), weights @ self.design_outcome

    def spread(self, phi: np.ndarray) -> np.ndarray:
        """Sum over subjects of X phi X', (k, k)."""
        if self.design_products is None:
            return np.tensordot(self.design @ phi, self.design, axes=([0, 2], [0, 2]))
        k = len(self.visits)
        return (self.design_products @ phi.reshape(-1)).reshape(k, k)

    def whitened_products(self, inverse: np.ndarray) -> np.ndarray:
        """Sum over subjects of (Sigma^-1 X)[a, p] (Sigma^-1 X)[b, q], (k, k, p, q)."""
        if self.design_products is None:
            whitened = np.matmul(inverse, self.design)
            return np.tensordot(whitened, whitened, axes=([0], [0])).transpose(0, 2, 1, 3)
        k, p = len(self.visits), self.design.shape[2]
        products = self.design_products.reshape(k, k, p, p)
        return np.einsum("ac,bd,cdpq->abpq", inverse, inverse, products, optimize=True)


@dataclass(frozen=True)
class _Evaluation:
    minus2: float
    beta: np.ndarray
    phi: np.ndarray  # (X' V^-1 X)^-1
    gradient: np.ndarray | None  # d(-2 ll)/d Sigma as a symmetric matrix, or None


class _Likelihood:
    """-2 (restricted) log-likelihood of the data as a function of the covariance matrix."""

    def __init__(self, patterns: list[_Pattern], n_obs: int, n_coef: int, reml: bool):
        self.patterns = patterns
        self.reml = reml
        self.n_coef = n_coef
        self.constant = (n_obs - n_coef if reml else n_obs) * np.log(2.0 * np.pi)

    def _inverses(self, sigma: np.ndarray) -> list[tuple[np.ndarray, float]] | None:
        if not np.isfinite(sigma).all():
            return None
        inverses = []
        for pattern in self.patterns:
            try:
                factor = np.linalg.cholesky(sigma[pattern.block])
            except np.linalg.LinAlgError:
                return None
            # numpy rather than scipy.linalg: these blocks are tiny and many, and scipy's
            # per-call overhead was most of the time of a small fit.
            factor_inverse = np.linalg.inv(factor)
            inverse = factor_inverse.T @ factor_inverse
            inverses.append((inverse, 2.0 * float(np.log(np.diag(factor)).sum())))
        return inverses

    def evaluate(self, sigma: np.ndarray, gradient: bool = False) -> _Evaluation | None:
        inverses = self._inverses(sigma)
        if inverses is None:
            return None
        p = self.n_coef
        precision = np.zeros((p, p))
        score = np.zeros(p)
        logdet = 0.0
        for pattern, (inverse, block_logdet) in zip(self.patterns, inverses, strict=True):
            pattern_precision, pattern_score = pattern.normal_equations(inverse)
            precision += pattern_precision
            score += pattern_score
            logdet += pattern.size * block_logdet
        try:
            factor = linalg.cho_factor(precision, check_finite=False)
        except linalg.LinAlgError:
            return None
        beta = linalg.cho_solve(factor, score, check_finite=False)
        phi = linalg.cho_solve(factor, np.eye(p), check_finite=False)
        quadratic = 0.0
        residual_products = []
        for pattern, (inverse, _) in zip(self.patterns, inverses, strict=True):
            residual = pattern.outcome - pattern.design @ beta
            products = residual.T @ residual
            quadratic += float((inverse * products).sum())
            residual_products.append(products)
        minus2 = self.constant + logdet + quadratic
        if self.reml:
            minus2 += 2.0 * float(np.log(np.diag(factor[0])).sum())
        grad = None
        if gradient:
            grad = np.zeros_like(sigma)
            for pattern, (inverse, _), products in zip(
                self.patterns, inverses, residual_products, strict=True
            ):
                if self.reml:
                    products = products + pattern.spread(phi)
                grad[pattern.block] += pattern.size * inverse - inverse @ products @ inverse
        return _Evaluation(minus2=minus2, beta=beta, phi=phi, gradient=grad)

    def cross_products(self, sigma: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per pattern: (Sigma_p^-1, sum over subjects of (V^-1 X)_a (V^-1 X)_b' as (k,k,p,p))."""
        out = []
        for pattern in self.patterns:
            inverse = linalg.inv(sigma[pattern.block])
            out.append((inverse, pattern.whitened_products(inverse)))
        return out


@dataclass(frozen=True)
class Estimate:
    """One linear combination of the coefficients with its t-based inference."""

    estimate: float
    se: float
    df: float
    t: float
    p: float
    lower: float
    upper: float


@dataclass(frozen=True)
class FTest:
    """A (possibly multi-row) hypothesis L beta = 0."""

    num_df: int
    den_df: float
    f: float
    p: float


@dataclass(frozen=True)
class _Inference:
    """What degrees of freedom and adjusted covariances need, at the estimate.

    ``sensitivity[k]`` is X' V^-1 (dV/d theta_k) V^-1 X, so that d phi / d theta_k =
    phi @ sensitivity[k] @ phi; ``information_inverse`` is W, the asymptotic covariance of the
    covariance parameters (2 H^-1 with H the Hessian of -2 ll).
    """

    df_method: str
    phi: np.ndarray
    phi_adjusted: np.ndarray
    sensitivity: np.ndarray  # (m, p, p)
    information_inverse: np.ndarray  # (m, m)

    def estimate(self, row: np.ndarray, beta: np.ndarray, alpha: float) -> Estimate:
        if np.isnan(row).any():
            nan = float("nan")
            return Estimate(nan, nan, nan, nan, nan, nan, nan)
        value = float(row @ beta)
        se = float(np.sqrt(row @ self.phi_adjusted @ row))
        df = self.df(row)
        t = value / se if se > 0 else float("nan")
        p = float(2.0 * stats.t.sf(abs(t), df))
        half = float(stats.t.ppf(1.0 - alpha / 2.0, df)) * se
        return Estimate(value, se, df, t, p, value - half, value + half)

    def df(self, row: np.ndarray) -> float:
        """Degrees of freedom of row @ beta: Satterthwaite's formula, to which Kenward-Roger's
        reduces for one row."""
        spread = self._spread(row)
        return float(2.0 * (row @ self.phi @ row) ** 2 / spread) if spread > 0 else float("inf")

    def f_test(self, hypothesis: np.ndarray, beta: np.ndarray) -> FTest:
        hypothesis = _full_row_rank(hypothesis)
        q = hypothesis.shape[0]
        value = hypothesis @ beta
        if self.df_method == "kr":
            return self._kenward_roger(hypothesis, value)
        middle = hypothesis @ self.phi @ hypothesis.T
        f = float(value @ np.linalg.solve(middle, value)) / q
        if q == 1:
            den = self.df(hypothesis[0])
        else:
            # SAS: Satterthwaite df of each orthogonal direction, combined through E.
            eigenvalues, vectors = np.linalg.eigh(middle)
            total = 0.0
            for m in range(q):
                rows = vectors[:, m] @ hypothesis
                nu = 2.0 * eigenvalues[m] ** 2 / self._spread(rows)
                if nu > 2.0:
                    total += nu / (nu - 2.0)
            den = 2.0 * total / (total - q) if total > q else float("nan")
        return FTest(num_df=q, den_df=den, f=f, p=float(stats.f.sf(f, q, den)))

    def _spread(self, row: np.ndarray) -> float:
        direction = self.phi @ row
        gradient = np.einsum("p,mpq,q->m", direction, self.sensitivity, direction)
        return float(gradient @ self.information_inverse @ gradient)

    def _kenward_roger(self, hypothesis: np.ndarray, value: np.ndarray) -> FTest:
        q = hypothesis.shape[0]
        phi, w = self.phi, self.information_inverse
        theta = hypothesis.T @ np.linalg.solve(hypothesis @ phi @ hypothesis.T, hypothesis)
        # P_k = X' dV^-1/dtheta_k X = -sensitivity[k]; the sign cancels in A1 and A2.
        products = np.einsum("ab,bc,mcd,de->mae", theta, phi, self.sensitivity, phi)
        traces = np.einsum("maa->m", products)
        a1 = float(traces @ w @ traces)
        a2 = float(np.einsum("kl,kab,lba->", w, products, products))
        adjusted = hypothesis @ self.phi_adjusted @ hypothesis.T
        f = float(value @ np.linalg.solve(adjusted, value)) / q
        if a2 <= 0:
            return FTest(num_df=q, den_df=float("inf"), f=f, p=float(stats.chi2.sf(f * q, q)))
        b = (a1 + 6.0 * a2) / (2.0 * q)
        g = ((q + 1) * a1 - (q + 4) * a2) / ((q + 2) * a2)
        denominator = 3.0 * q + 2.0 * (1.0 - g)
        c1, c2, c3 = g / denominator, (q - g) / denominator, (q + 2 - g) / denominator
        expectation = 1.0 / (1.0 - a2 / q)
        variance = (2.0 / q) * (1.0 + c1 * b) / ((1.0 - c2 * b) ** 2 * (1.0 - c3 * b))
        rho = variance / (2.0 * expectation**2)
        m = 4.0 + (q + 2.0) / (q * rho - 1.0)
        scale = m / (expectation * (m - 2.0))
        scaled = scale * f
        return FTest(num_df=q, den_df=m, f=scaled, p=float(stats.f.sf(scaled, q, m)))


def _full_row_rank(hypothesis: np.ndarray) -> np.ndarray:
    hypothesis = np.atleast_2d(hypothesis)
    u, s, vt = np.linalg.svd(hypothesis, full_matrices=False)
    keep = s > 1e-10 * max(1.0, s.max(initial=0.0))
    if not keep.any():
        raise AnalysisError("the hypothesis matrix is zero")
    if keep.all():
        return hypothesis
    return s[keep, None] * vt[keep]


@dataclass(frozen=True)
class MMRMResult:
    """A fitted MMRM: coefficients, covariance, fit statistics and SAS-style inference."""

    outcome: str
    formula: Formula
    subject: str
    visit: str
    structure: str
    method: str
    df_method: str
    terms: tuple[str, ...]
    params: np.ndarray
    cov_params: np.ndarray  # model-based covariance of beta (Kenward-Roger adjusted for kr)
    visits: tuple[str, ...]
    covariance: np.ndarray  # estimated visit-by-visit covariance matrix
    covariance_parameters: Mapping[str, float]
    minus2_loglik: float
    aic: float
    bic: float
    n_obs: int
    n_subjects: int
    converged: bool
    design: Design = field(repr=False)
    inference: _Inference = field(repr=False)
    data: pd.DataFrame = field(repr=False)

    @property
    def bse(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov_params))

    @property
    def df(self) -> np.ndarray:
        return np.array([self.inference.df(row) for row in np.eye(len(self.terms))])

    def coefficients(self, alpha: float = 0.05) -> pd.DataFrame:
        """Estimate, SE, df, t, p and a (1 - alpha) confidence interval per coefficient."""
        identity = np.eye(len(self.terms))
        rows = [self.inference.estimate(row, self.params, alpha) for row in identity]
        return _estimates_frame(rows, pd.DataFrame({"term": self.terms}))

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        return self.coefficients(alpha).set_index("term")[["lower", "upper"]]

    def contrast(self, row: Sequence[float], alpha: float = 0.05) -> Estimate:
        """Inference on row @ beta for a row over the coefficients in ``terms``."""
        return self.inference.estimate(np.asarray(row, dtype=float), self.params, alpha)

    def f_test(self, hypothesis: np.ndarray) -> FTest:
        """Wald F test of hypothesis @ beta = 0 with the chosen denominator df."""
        return self.inference.f_test(np.asarray(hypothesis, dtype=float), self.params)

    def lsmeans(self, factors: Sequence[str], alpha: float = 0.05) -> pd.DataFrame:
        """LS means for every combination of levels of ``factors`` (SAS LSMEANS defaults)."""
        self._check_factors(factors)
        combinations = list(
            itertools.product(*(self.design.factors[name].levels for name in factors))
        )
        rows = []
        for combination in combinations:
            full = self.design.lsmean_row(dict(zip(factors, combination, strict=True)))
            rows.append(self.inference.estimate(self.design.restrict(full), self.params, alpha))
        labels = pd.DataFrame(combinations, columns=list(factors))
        return _estimates_frame(rows, labels)

    def lsmean_differences(
        self, arm: str, by: str | None = None, alpha: float = 0.05
    ) -> pd.DataFrame:
        """Each level of ``arm`` minus its reference level, at each level of ``by``."""
        self._check_factors([arm] + ([by] if by else []))
        factor = self.design.factors[arm]
        selections = [{by: level} for level in self.design.factors[by].levels] if by else [{}]
        rows, labels = [], []
        for selection in selections:
            for level in factor.levels:
                if level == factor.reference:
                    continue
                rows.append(self.lsmean_difference(arm, level, selection, alpha))
                labels.append(selection | {arm: level, "reference": factor.reference})
        return _estimates_frame(rows, pd.DataFrame(labels))

    def lsmean_difference(
        self, arm: str, level: str, at: Mapping[str, str] | None = None, alpha: float = 0.05
    ) -> Estimate:
        """LS mean of ``level`` of ``arm`` minus that of its reference level, at the levels
        ``at`` of other factors (e.g. ``{"visit": "W24"}``)."""
        at = dict(at or {})
        self._check_factors([arm, *at])
        for name, value in (at | {arm: level}).items():
            levels = self.design.factors[name].levels
            if value not in levels:
                raise BadInput(
                    f"{value!r} is not a level of {name!r} in the model; expected one of "
                    f"{', '.join(levels)}"
                )
        reference = {arm: self.design.factors[arm].reference}
        full = self.design.lsmean_row(at | {arm: level}) - self.design.lsmean_row(at | reference)
        return self.inference.estimate(self.design.restrict(full), self.params, alpha)

    def type3(self) -> pd.DataFrame:
        """Type 3 tests of fixed effects (SAS's, for models without empty cells)."""
        hypotheses = type3_hypotheses(self.design, self.data)
        rows = []
        for effect, hypothesis in hypotheses.items():
            test = self.f_test(hypothesis)
            rows.append(
                {
                    "effect": effect,
                    "num_df": test.num_df,
                    "den_df": test.den_df,
                    "f": test.f,
                    "p": test.p,
                }
            )
        return pd.DataFrame(rows, columns=["effect", "num_df", "den_df", "f", "p"])

    def _check_factors(self, factors: Sequence[str]) -> None:
        for name in factors:
            if name not in self.design.factors:
                raise BadInput(
                    f"{name!r} is not a categorical variable of the model "
                    f"(categorical: {', '.join(self.design.factors) or 'none'})"
                )

    def summary(self) -> str:
        """A readable report: model, fit statistics, covariance and fixed effects."""
        width = 80
        lines = [
            "MMRM results".center(width),
            "=" * width,
            f"Outcome: {self.outcome}    Fixed: {self.formula.text}",
            f"Subject: {self.subject}    Visit: {self.visit}    Covariance: {self.structure}",
            f"Estimation: {self.method.upper()}    DF: {self.df_method}    "
            f"Observations: {self.n_obs}    Subjects: {self.n_subjects}",
            f"-2 log-likelihood: {self.minus2_loglik:.4f}    AIC: {self.aic:.4f}    "
            f"BIC: {self.bic:.4f}    Converged: {self.converged}",
            "-" * width,
            "Covariance parameters",
        ]
        for name, value in self.covariance_parameters.items():
            lines.append(f"  {name:<34}{value:>14.4f}")
        lines.append("-" * width)
        table = self.coefficients()
        header = f"{'term':<30}{'estimate':>11}{'se':>10}{'df':>7}{'t':>9}{'p':>9}"
        lines += [header, "-" * width]
        for row in table.itertuples(index=False):
            lines.append(
                f"{row.term[:29]:<30}{row.estimate:>11.4f}{row.se:>10.4f}{row.df:>7.1f}"
                f"{row.t:>9.2f}{row.p:>9.4f}"
            )
        lines.append("=" * width)
        return "\n".join(lines)


def _estimates_frame(rows: list[Estimate], labels: pd.DataFrame) -> pd.DataFrame:
    values = pd.DataFrame(
        [vars(r) for r in rows],
        columns=["estimate", "se", "df", "t", "p", "lower", "upper"],
    )
    return pd.concat([labels.reset_index(drop=True), values], axis=1)


def fit_mmrm(
    data: pd.DataFrame,
    outcome: str,
    fixed: str,
    subject: str,
    visit: str,
    covariance: str = "us",
    method: str = "reml",
    df: str = "satterthwaite",
    references: Mapping[str, str] | None = None,
    visit_order: Sequence[str] | None = None,
    held_covariance: np.ndarray | None = None,
) -> MMRMResult:
    """Fit an MMRM to long data (one row per subject and visit).

    ``fixed`` is the fixed-effects formula (see ``trialdesk.analysis.design``);
    ``references`` maps factor names to their reference levels (default: first level in
    natural sort order); ``visit_order`` orders the visits for AR(1) and Toeplitz (default:
    category order, else natural sort order). ``held_covariance`` fixes the visit-by-visit
    covariance matrix instead of estimating it (SAS ``PARMS ... / HOLD=ALL NOITER``), which
    is how generalised least squares at a known covariance is checked.
    """
    method, df = method.lower(), df.lower()
    if method not in METHODS:
        raise BadInput(f"estimation method {method!r} is not one of {', '.join(METHODS)}")
    if df not in DF_METHODS:
        raise BadInput(f"degrees-of-freedom method {df!r} is not one of {', '.join(DF_METHODS)}")
    formula = parse_formula(fixed)
    used, n_subjects = _prepare(data, outcome, formula, subject, visit)
    visits = _visit_levels(used[visit], visit_order)
    visit_index = used[visit].astype(str).map({v: i for i, v in enumerate(visits)})
    used = used.assign(_visit_index=visit_index.to_numpy()).sort_values(
        [subject, "_visit_index"], kind="stable"
    )
    used = used.reset_index(drop=True)
    design = build_design(used, formula, references or {})
    y = used[outcome].to_numpy(dtype=float)
    x = design.matrix
    n_obs, n_coef = x.shape
    if n_obs <= n_coef:
        raise AnalysisError(
            f"{n_obs} observations cannot estimate {n_coef} fixed-effect coefficients"
        )
    structure = covariance_structure(covariance, len(visits))
    patterns = _patterns(used[subject], used["_visit_index"].to_numpy(), x, y, len(visits))
    likelihood = _Likelihood(patterns, n_obs, n_coef, reml=(method == "reml"))
    if held_covariance is None:
        theta, converged = _optimise(likelihood, structure, used["_visit_index"].to_numpy(), x, y)
        sigma = structure.matrix(theta)
    else:
        sigma = _held(held_covariance, visits)
        converged = True
    evaluation = likelihood.evaluate(sigma)
    if evaluation is None:
        if held_covariance is not None:
            raise BadInput(
                "held covariance matrix is not positive definite over the visits "
                "observed together; expected a covariance matrix"
            )
        raise AnalysisError("the fitted covariance matrix is not positive definite")
    natural = structure.natural(sigma)
    inference = _inference(likelihood, structure, natural, evaluation, df)
    n_cov = len(natural)
    n_penalised = n_cov if method == "reml" else n_cov + n_coef
    names = structure.natural_names(list(visits))
    return MMRMResult(
        outcome=outcome,
        formula=formula,
        subject=subject,
        visit=visit,
        structure=structure.code,
        method=method,
        df_method=df,
        terms=design.names,
        params=evaluation.beta,
        cov_params=inference.phi_adjusted,
        visits=tuple(visits),
        covariance=sigma,
        covariance_parameters=dict(zip(names, map(float, natural), strict=True)),
        minus2_loglik=evaluation.minus2,
        aic=evaluation.minus2 + 2.0 * n_penalised,
        bic=evaluation.minus2 + n_penalised * np.log(n_subjects),
        n_obs=n_obs,
        n_subjects=n_subjects,
        converged=converged,
        design=design,
        inference=inference,
        data=used,
    )


def _prepare(
    data: pd.DataFrame, outcome: str, formula: Formula, subject: str, visit: str
) -> tuple[pd.DataFrame, int]:
    """Check the columns, coerce the outcome, drop incomplete rows.

    Returns the rows used and the number of subjects read, which SAS uses for BIC (it counts
    subjects whose outcomes are all missing too).
    """
    for role, name in (("outcome", outcome), ("subject", subject), ("visit", visit)):
        if name not in data.columns:
            raise BadInput(
                f"{role} column {name!r} is not in the data "
                f"(columns: {', '.join(map(str, data.columns))})"
            )
    check_columns(data, formula)
    values = data[outcome]
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        coerced = pd.to_numeric(values, errors="coerce")
        bad = values.notna() & (values.astype(str).str.strip() != "") & coerced.isna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise BadInput(
                f"outcome column {outcome!r}, row {row + 1}: {values.iloc[row]!r} is not a "
                "number; expected a numeric outcome (empty = missing)"
            )
        values = coerced
    prepared = data.assign(**{outcome: values.astype(float)})
    n_subjects = int(prepared[subject].dropna().nunique())
    needed = [outcome, subject, visit, *formula.variables]
    used = prepared.dropna(subset=list(dict.fromkeys(needed)))
    if used.empty:
        raise AnalysisError(f"no rows with a non-missing {outcome!r} and complete covariates")
    duplicated = used.duplicated([subject, visit])
    if duplicated.any():
        row = used[duplicated].iloc[0]
        raise BadInput(
            f"subject {row[subject]!r} has more than one row at visit {row[visit]!r}; "
            f"expected one row per ({subject}, {visit})"
        )
    return used, n_subjects


def _held(held_covariance: np.ndarray, visits: Sequence[str]) -> np.ndarray:
    try:
        sigma = np.asarray(held_covariance, dtype=float)
    except (TypeError, ValueError):
        raise BadInput("held covariance matrix: expected a matrix of numbers") from None
    if sigma.shape != (len(visits), len(visits)):
        raise BadInput(
            f"held covariance matrix has shape {sigma.shape}; expected "
            f"{len(visits)} x {len(visits)} (visits {', '.join(visits)})"
        )
    if not np.isfinite(sigma).all() or not np.allclose(sigma, sigma.T):
        raise BadInput("held covariance matrix: expected a symmetric matrix of finite numbers")
    return sigma


def _visit_levels(series: pd.Series, visit_order: Sequence[str] | None) -> list[str]:
    present = levels_of(series)
    if visit_order is None:
        return present
    order = [str(v) for v in visit_order]
    repeated = sorted({v for v in order if order.count(v) > 1})
    if repeated:
        raise BadInput(f"visit order lists visit(s) {', '.join(repeated)} more than once")
    missing = sorted(set(present) - set(order))
    if missing:
        raise BadInput(f"visit order does not list visit(s) {', '.join(missing)}")
    return [v for v in order if v in present]


def _patterns(
    subjects: pd.Series, visit_index: np.ndarray, x: np.ndarray, y: np.ndarray, n_visits: int
) -> list[_Pattern]:
    codes, _ = pd.factorize(subjects, sort=False)
    counts = np.bincount(codes)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    masks = np.zeros(len(counts), dtype=object)
    np.add.at(masks, codes, [1 << int(v) for v in visit_index])
    patterns = []
    for mask in sorted(set(masks)):
        members = np.flatnonzero(masks == mask)
        visits = np.array([v for v in range(n_visits) if mask >> v & 1])
        rows = starts[members][:, None] + np.arange(len(visits))[None, :]
        patterns.append(_Pattern.of(visits, x[rows], y[rows]))
    return patterns


def _starting_variances(
    visit_index: np.ndarray, x: np.ndarray, y: np.ndarray, n_visits: int
) -> np.ndarray:
    """Per-visit mean squared residuals of an OLS fit."""
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    squares = (y - x @ beta) ** 2
    sums = np.bincount(visit_index, weights=squares, minlength=n_visits)
    counts = np.bincount(visit_index, minlength=n_visits)
    variances = sums / np.maximum(counts, 1)
    return np.maximum(variances, 1e-8 * max(float(np.var(y)), 1e-12))


def _optimise(
    likelihood: _Likelihood,
    structure: CovarianceStructure,
    visit_index: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
) -> tuple[np.ndarray, bool]:
    start = structure.start(_starting_variances(visit_index, x, y, structure.size))

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        evaluation = likelihood.evaluate(structure.matrix(theta), gradient=True)
        if evaluation is None or not np.isfinite(evaluation.minus2):
            return float("inf"), np.zeros_like(theta)
        jacobian = structure.matrix_jacobian(theta)
        return evaluation.minus2, np.einsum("ab,kab->k", evaluation.gradient, jacobian)

    result = optimize.minimize(
        objective, start, jac=True, method="BFGS", options={"gtol": 1e-7, "maxiter": 2000}
    )
    theta, value, gradient = result.x, result.fun, result.jac
    # Newton polish on a finite-difference Hessian of the exact gradient: BFGS stops on a flat
    # REML surface a little short of the optimum, and SAS's estimates are Newton-Raphson ones.
    for _ in range(20):
        if np.max(np.abs(gradient)) < 1e-9:
            break
        hessian = _finite_difference_hessian(lambda t: objective(t)[1], theta, np.ones_like(theta))
        try:
            step = np.linalg.solve(hessian, gradient)
        except np.linalg.LinAlgError:
            break
        for shrink in (1.0, 0.5, 0.25, 0.1):
            candidate = theta - shrink * step
            candidate_value, candidate_gradient = objective(candidate)
            if candidate_value <= value + 1e-10:
                theta, value, gradient = candidate, candidate_value, candidate_gradient
                break
        else:
            break
    converged = bool(np.isfinite(value) and np.max(np.abs(gradient)) < 1e-4)
    return theta, converged


def _finite_difference_hessian(gradient, point: np.ndarray, scale: np.ndarray) -> np.ndarray:
    size = len(point)
    hessian = np.zeros((size, size))
    for k in range(size):
        step = 1e-4 * max(abs(point[k]), scale[k])
        shift = np.zeros(size)
        shift[k] = step
        hessian[:, k] = (gradient(point + shift) - gradient(point - shift)) / (2.0 * step)
    return (hessian + hessian.T) / 2.0


def _inference(
    likelihood: _Likelihood,
    structure: CovarianceStructure,
    natural: np.ndarray,
    evaluation: _Evaluation,
    df_method: str,
) -> _Inference:
    sigma = structure.from_natural(natural)
    jacobian = structure.natural_jacobian(natural)

    def gradient(point: np.ndarray) -> np.ndarray:
        at = likelihood.evaluate(structure.from_natural(point), gradient=True)
        if at is None:
            raise AnalysisError(
                "the covariance estimate is on the boundary of the parameter space; "
                "degrees of freedom cannot be computed (try a simpler covariance structure)"
            )
        return np.einsum("ab,kab->k", at.gradient, structure.natural_jacobian(point))

    typical = float(np.mean(np.diag(sigma)))
    scale = np.array([typical / np.abs(j).max() for j in jacobian])
    hessian = _finite_difference_hessian(gradient, natural, scale)
    information_inverse = 2.0 * np.linalg.pinv(hessian)
    crossed = likelihood.cross_products(sigma)
    p = evaluation.phi.shape[0]
    sensitivity = np.zeros((len(natural), p, p))
    for pattern, (_, products) in zip(likelihood.patterns, crossed, strict=True):
        block = jacobian[:, pattern.visits][:, :, pattern.visits]
        sensitivity += np.einsum("mab,abpq->mpq", block, products)
    phi = evaluation.phi
    phi_adjusted = phi
    if df_method == "kr":
        second = structure.natural_hessian(natural)
        correction = np.zeros((p, p))
        for pattern, (inverse, products) in zip(likelihood.patterns, crossed, strict=True):
            block = jacobian[:, pattern.visits][:, :, pattern.visits]
            chained = np.einsum("mab,bc,ncd->mnad", block, inverse, block)
            q_terms = np.einsum("mnab,abpq->mnpq", chained, products)
            correction += np.einsum("mn,mnpq->pq", information_inverse, q_terms)
            if second is not None:
                curvature = second[:, :, pattern.visits][:, :, :, pattern.visits]
                r_terms = np.einsum("mnab,abpq->mnpq", curvature, products)
                correction -= 0.25 * np.einsum("mn,mnpq->pq", information_inverse, r_terms)
        # P_m phi P_n with P_m = -sensitivity[m]
        spread = np.einsum("mn,mpa,ab,nbq->pq", information_inverse, sensitivity, phi, sensitivity)
        correction -= spread
        phi_adjusted = phi + 2.0 * phi @ correction @ phi
        phi_adjusted = (phi_adjusted + phi_adjusted.T) / 2.0
    return _Inference(
        df_method=df_method,
        phi=phi,
        phi_adjusted=phi_adjusted,
        sensitivity=sensitivity,
        information_inverse=information_inverse,
    )
