"""Within-subject covariance structures over the visits of an MMRM.

Each structure has two parameterisations:

- an unconstrained one (``theta``) that the optimiser walks in, which keeps the matrix
  positive definite (log-Cholesky for UN, log variances and bounded correlations otherwise);
- SAS's own covariance parameters (``natural``), in which degrees of freedom are computed:
  the entries of the matrix for UN, (CS, residual) for CS, (variance, rho) for AR(1), the
  band values for Toeplitz. Satterthwaite degrees of freedom do not depend on the choice,
  but Kenward-Roger's adjustment does through its second-derivative term, and SAS's values
  are the ones to match.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from trialdesk.errors import AnalysisError, BadInput


class CovarianceStructure(ABC):
    """A family of visit-by-visit covariance matrices of size ``size``."""

    code: str
    label: str

    def __init__(self, size: int):
        self.size = size

    @abstractmethod
    def start(self, variances: np.ndarray) -> np.ndarray:
        """Starting ``theta``: the given per-visit variances, no correlation."""

    @abstractmethod
    def matrix(self, theta: np.ndarray) -> np.ndarray:
        """The covariance matrix at unconstrained parameters ``theta``."""

    @abstractmethod
    def matrix_jacobian(self, theta: np.ndarray) -> np.ndarray:
        """d matrix / d theta_k, shape (k, size, size)."""

    @abstractmethod
    def natural(self, matrix: np.ndarray) -> np.ndarray:
        """SAS's covariance parameters of a matrix in this family."""

    @abstractmethod
    def natural_names(self, visits: list[str]) -> list[str]:
        """Names of SAS's covariance parameters."""

    @abstractmethod
    def from_natural(self, natural: np.ndarray) -> np.ndarray:
        """The covariance matrix at SAS's parameters."""

    @abstractmethod
    def natural_jacobian(self, natural: np.ndarray) -> np.ndarray:
        """d matrix / d natural_k, shape (k, size, size)."""

    def natural_hessian(self, natural: np.ndarray) -> np.ndarray | None:
        """d2 matrix / d natural_k d natural_l, shape (k, k, size, size); None when linear."""
        return None


class Unstructured(CovarianceStructure):
    code = "us"
    label = "unstructured"

    def __init__(self, size: int):
        super().__init__(size)
        self._rows, self._cols = np.tril_indices(size)

    def start(self, variances: np.ndarray) -> np.ndarray:
        values = np.zeros(len(self._rows))
        diagonal = self._rows == self._cols
        values[diagonal] = 0.5 * np.log(variances)
        return values

    def _factor(self, theta: np.ndarray) -> np.ndarray:
        factor = np.zeros((self.size, self.size))
        diagonal = self._rows == self._cols
        factor[self._rows, self._cols] = np.where(diagonal, np.exp(theta), theta)
        return factor

    def matrix(self, theta: np.ndarray) -> np.ndarray:
        factor = self._factor(theta)
        return factor @ factor.T

    def matrix_jacobian(self, theta: np.ndarray) -> np.ndarray:
        factor = self._factor(theta)
        jacobian = np.zeros((len(theta), self.size, self.size))
        for k, (row, col) in enumerate(zip(self._rows, self._cols, strict=True)):
            d_factor = np.zeros((self.size, self.size))
            d_factor[row, col] = factor[row, col] if row == col else 1.0
            product = d_factor @ factor.T
            jacobian[k] = product + product.T
        return jacobian

    def natural(self, matrix: np.ndarray) -> np.ndarray:
        return matrix[self._rows, self._cols].copy()

    def natural_names(self, visits: list[str]) -> list[str]:
        return [
            f"UN({visits[row]},{visits[col]})"
            for row, col in zip(self._rows, self._cols, strict=True)
        ]

    def from_natural(self, natural: np.ndarray) -> np.ndarray:
        matrix = np.zeros((self.size, self.size))
        matrix[self._rows, self._cols] = natural
        matrix[self._cols, self._rows] = natural
        return matrix

    def natural_jacobian(self, natural: np.ndarray) -> np.ndarray:
        jacobian = np.zeros((len(natural), self.size, self.size))
        for k, (row, col) in enumerate(zip(self._rows, self._cols, strict=True)):
            jacobian[k, row, col] = jacobian[k, col, row] = 1.0
        return jacobian


def _sigmoid(x: np.ndarray | float) -> np.ndarray | float:
    return 1.0 / (1.0 + np.exp(-x))


class CompoundSymmetry(CovarianceStructure):
    """sigma_b on every entry plus sigma_e on the diagonal (SAS TYPE=CS)."""

    code = "cs"
    label = "compound symmetry"

    def __init__(self, size: int):
        if size < 2:
            raise AnalysisError("compound symmetry needs at least two visits")
        super().__init__(size)
        self._lower = -1.0 / (size - 1)

    def start(self, variances: np.ndarray) -> np.ndarray:
        fraction = -self._lower / (1.0 - self._lower)  # rho = 0
        return np.array([np.log(variances.mean()), np.log(fraction / (1.0 - fraction))])

    def _parts(self, theta: np.ndarray) -> tuple[float, float]:
        total = float(np.exp(theta[0]))
        rho = self._lower + (1.0 - self._lower) * float(_sigmoid(theta[1]))
        return total, rho

    def matrix(self, theta: np.ndarray) -> np.ndarray:
        total, rho = self._parts(theta)
        return self.from_natural(np.array([rho * total, (1.0 - rho) * total]))

    def matrix_jacobian(self, theta: np.ndarray) -> np.ndarray:
        total, rho = self._parts(theta)
        d_rho = (1.0 - self._lower) * float(_sigmoid(theta[1]) * (1.0 - _sigmoid(theta[1])))
        ones, eye = np.ones((self.size, self.size)), np.eye(self.size)
        d_total = total * (rho * ones + (1.0 - rho) * eye)
        d_correlation = total * d_rho * (ones - eye)
        return np.stack([d_total, d_correlation])

    def natural(self, matrix: np.ndarray) -> np.ndarray:
        between = matrix[~np.eye(self.size, dtype=bool)].mean()
        return np.array([between, np.diag(matrix).mean() - between])

    def natural_names(self, visits: list[str]) -> list[str]:
        return ["CS", "Residual"]

    def from_natural(self, natural: np.ndarray) -> np.ndarray:
        return natural[0] * np.ones((self.size, self.size)) + natural[1] * np.eye(self.size)

    def natural_jacobian(self, natural: np.ndarray) -> np.ndarray:
        return np.stack([np.ones((self.size, self.size)), np.eye(self.size)])


class AutoRegressive(CovarianceStructure):
    """sigma^2 rho^|i-j| over equally spaced visits (SAS TYPE=AR(1))."""

    code = "ar1"
    label = "first-order autoregressive"

    def __init__(self, size: int):
        if size < 2:
            raise AnalysisError("AR(1) needs at least two visits")
        super().__init__(size)
        index = np.arange(size)
        self._lag = np.abs(index[:, None] - index[None, :])

    def start(self, variances: np.ndarray) -> np.ndarray:
        return np.array([np.log(variances.mean()), 0.0])

    def matrix(self, theta: np.ndarray) -> np.ndarray:
        return self.from_natural(np.array([np.exp(theta[0]), np.tanh(theta[1])]))

    def matrix_jacobian(self, theta: np.ndarray) -> np.ndarray:
        natural = np.array([np.exp(theta[0]), np.tanh(theta[1])])
        jacobian = self.natural_jacobian(natural)
        return np.stack([jacobian[0] * natural[0], jacobian[1] * (1.0 - natural[1] ** 2)])

    def natural(self, matrix: np.ndarray) -> np.ndarray:
        variance = np.diag(matrix).mean()
        return np.array([variance, np.diag(matrix, 1).mean() / variance])

    def natural_names(self, visits: list[str]) -> list[str]:
        return ["Variance", "AR(1)"]

    def from_natural(self, natural: np.ndarray) -> np.ndarray:
        return natural[0] * natural[1] ** self._lag

    def natural_jacobian(self, natural: np.ndarray) -> np.ndarray:
        variance, rho = natural
        lag = self._lag
        d_rho = np.where(lag > 0, variance * lag * rho ** np.maximum(lag - 1, 0), 0.0)
        return np.stack([rho**lag, d_rho])

    def natural_hessian(self, natural: np.ndarray) -> np.ndarray:
        variance, rho = natural
        lag = self._lag
        cross = np.where(lag > 0, lag * rho ** np.maximum(lag - 1, 0), 0.0)
        second = np.where(lag > 1, variance * lag * (lag - 1) * rho ** np.maximum(lag - 2, 0), 0.0)
        zero = np.zeros_like(cross)
        return np.array([[zero, cross], [cross, second]])


class Toeplitz(CovarianceStructure):
    """One covariance per lag between equally spaced visits (SAS TYPE=TOEP).

    The optimiser walks in the log variance and the partial autocorrelations (each in
    (-1, 1) through tanh); the Durbin-Levinson recursion turns them into autocorrelations,
    which keeps every iterate positive definite.
    """

    code = "toep"
    label = "Toeplitz"

    def __init__(self, size: int):
        if size < 2:
            raise AnalysisError("Toeplitz needs at least two visits")
        super().__init__(size)
        index = np.arange(size)
        self._lag = np.abs(index[:, None] - index[None, :])

    @staticmethod
    def _autocorrelations(partial: np.ndarray) -> np.ndarray:
        rho: list[float] = []
        phi = np.zeros(0)
        for value in partial:
            earlier = np.array(rho)
            rho.append(float(phi @ earlier[::-1] + value * (1.0 - phi @ earlier)))
            phi = np.concatenate([phi - value * phi[::-1], [value]])
        return np.array(rho)

    def start(self, variances: np.ndarray) -> np.ndarray:
        return np.concatenate([[np.log(variances.mean())], np.zeros(self.size - 1)])

    def matrix(self, theta: np.ndarray) -> np.ndarray:
        rho = self._autocorrelations(np.tanh(theta[1:]))
        bands = np.exp(theta[0]) * np.concatenate([[1.0], rho])
        return bands[self._lag]

    def matrix_jacobian(self, theta: np.ndarray) -> np.ndarray:
        # The recursion has no convenient closed-form derivative; central differences on a
        # smooth map are accurate to ~1e-10 here, far below what the optimiser needs.
        jacobian = np.zeros((len(theta), self.size, self.size))
        for k in range(len(theta)):
            step = np.zeros(len(theta))
            step[k] = 1e-6
            jacobian[k] = (self.matrix(theta + step) - self.matrix(theta - step)) / 2e-6
        return jacobian

    def natural(self, matrix: np.ndarray) -> np.ndarray:
        return np.array([np.diag(matrix, lag).mean() for lag in range(self.size)])

    def natural_names(self, visits: list[str]) -> list[str]:
        return [f"TOEP({lag + 1})" for lag in range(self.size)]

    def from_natural(self, natural: np.ndarray) -> np.ndarray:
        return natural[self._lag]

    def natural_jacobian(self, natural: np.ndarray) -> np.ndarray:
        return np.stack([(self._lag == lag).astype(float) for lag in range(self.size)])


STRUCTURES: dict[str, type[CovarianceStructure]] = {
    cls.code: cls for cls in (Unstructured, CompoundSymmetry, AutoRegressive, Toeplitz)
}


def covariance_structure(code: str, size: int) -> CovarianceStructure:
    """The structure named ``code`` (us, cs, ar1, toep) over ``size`` visits."""
    try:
        return STRUCTURES[code.lower()](size)
    except KeyError:
        raise BadInput(
            f"covariance structure {code!r} is not one of {', '.join(STRUCTURES)}"
        ) from None
