"""A tiny spectral estimator with the SpectralEstimator calling convention, for evaluation tests.

It fits ridge regression of log10(y) on the spectra, so tests of the evaluation machinery
run in milliseconds and do not depend on the real models' training.
"""

from __future__ import annotations

import numpy as np


class RidgeSpectra:
    """Ridge on the spectra, log10 target; records what it was given."""

    def __init__(self, *, seed: int = 0, alpha: float = 1e-3, log_target: bool = True) -> None:
        self.seed = seed
        self.alpha = alpha
        self.log_target = log_target

    def fit(self, X, y, *, axis, X_valid=None, y_valid=None):
        self.axis_ = axis
        self.n_fit_ = len(y)
        self.n_valid_ = 0 if y_valid is None else len(y_valid)
        target = np.log10(y) if self.log_target else np.asarray(y, dtype=float)
        self.mean_ = X.mean(axis=0)
        self.y_mean_ = target.mean()
        centred = X - self.mean_
        gram = centred.T @ centred + self.alpha * np.eye(X.shape[1])
        self.coef_ = np.linalg.solve(gram, centred.T @ (target - self.y_mean_))
        return self

    def predict(self, X, *, axis=None):
        if axis is not None and axis is not self.axis_:
            raise AssertionError("predict got another axis object than fit")
        z = (X - self.mean_) @ self.coef_ + self.y_mean_
        return (10.0**z if self.log_target else z).astype(np.float32)


def linear_spectra(n: int, n_bands: int = 12, *, seed: int = 0, noise: float = 0.05):
    """Spectra whose log10 target is linear in a few bands, plus noise."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_bands))
    weights = np.zeros(n_bands)
    weights[:3] = (0.4, -0.3, 0.2)
    log_y = X @ weights + rng.normal(0.0, noise, n)
    return X.astype(np.float32), 10.0**log_y
