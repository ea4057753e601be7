"""Support vector regression over covariates (RBF kernel), the kernel learner of ``auto``.

Soil mappers fit an RBF support vector machine beside forests and linear models (caret's
``svmRadial``): its smooth surface errs differently from the forests' steps and the ridge's
plane, which is what a blend of learners gains from. Covariates are one-hot encoded and
standardized, the target standardized; ``C`` and ``gamma`` (multiples of one over the
encoded columns, scikit-learn's ``"scale"`` gamma on standardized inputs) are chosen by the
lowest pooled RMSE of inner k-fold cross-validation on the training rows (at most
``tuning_rows`` of them), and the chosen pair is refitted on them all. The artifact holds the
standardization, support vectors, dual coefficients and intercept; prediction evaluates the
decision function in numpy
(:func:`~geosoil.models.kernels.rbf_decision_function`), so nothing is pickled.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from geosoil.errors import ConfigError
from geosoil.evaluate.splits import random_kfold
from geosoil.models.base import GeoSoilEstimator
from geosoil.models.covariate.dense import checked_float64
from geosoil.models.covariate.tabular import StandardizedInputs
from geosoil.models.kernels import (
    check_svr_settings,
    rbf_decision_function,
    squared_distances,
)
from geosoil.models.registry import register

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MAX_TRAINING_ROWS", "CovariateSVR"]

log = logging.getLogger(__name__)

MAX_TRAINING_ROWS = 10_000
"""Training rows ``covariate_svr`` accepts: its fit holds an n x n kernel (0.8 GB at 10,000
rows) and its maps cost a kernel row per support vector and pixel."""

_ARRAYS = ("center", "scale", "support_vectors", "dual_coef")


@register
class CovariateSVR(StandardizedInputs, GeoSoilEstimator):
    """RBF support vector regression on standardized covariates, ``C`` and ``gamma`` chosen
    by inner cross-validation, then refitted on every training row.

    Parameters
    ----------
    c_values
        Candidate penalties ``C`` (on the standardized target).
    gamma_factors
        Candidate ``gamma`` as multiples of ``1 / encoded columns``.
    epsilon
        Width of the insensitive tube, on the standardized target.
    inner_folds
        Random folds of the inner cross-validation that chooses ``C`` and ``gamma``.
    tuning_rows
        Most training rows the inner cross-validation uses (a random subset of larger
        tables; the chosen pair is then fitted on every row): it fits the grid
        ``inner_folds`` times, and an SVR fit grows about with the square of the rows.
    categorical_features
        Columns holding integer class codes, one-hot encoded.
    target_transform
        ``"none"`` or ``"log10"``.
    seed
        Seeds the inner folds (the fit itself is deterministic).
    clamp_inputs
        Clip each continuous covariate to its training range before the model reads it
        (default): a cell beyond the range is predicted as at the range's edge, not
        extrapolated. ``False`` extrapolates, as artifacts written before this setting do.
    """

    registry_name = "covariate_svr"
    state_arrays: ClassVar[str] = "numpy"  # from_state gets numpy arrays: a map needs no torch

    def __init__(
        self,
        *,
        c_values: Sequence[float] = (0.25, 1.0, 4.0, 16.0, 64.0),
        gamma_factors: Sequence[float] = (0.25, 1.0, 4.0),
        epsilon: float = 0.1,
        inner_folds: int = 5,
        tuning_rows: int = 2000,
        categorical_features: Sequence[str] = (),
        target_transform: Literal["none", "log10"] = "none",
        seed: int = 0,
        clamp_inputs: bool = True,
    ) -> None:
        self._store_params(locals())

    def _check_params(self) -> None:
        check_svr_settings(self, field_prefix="model.params")
        for name, least, default in (("inner_folds", 2, 5), ("tuning_rows", 10, 2000)):
            value = getattr(self, name)
            if isinstance(value, bool) or not (isinstance(value, int) and value >= least):
                raise ConfigError(
                    f"{name}={value!r} must be an integer >= {least}",
                    field=f"model.params.{name}",
                    fix=f"use {default}",
                )

    def fit(self, X: pd.DataFrame, y) -> CovariateSVR:
        """Learn from a covariate table and one target; returns self."""
        from sklearn.svm import SVR

        self._check_params()
        if len(X) > MAX_TRAINING_ROWS:
            raise ConfigError(
                f"covariate_svr keeps an n x n kernel; the table has {len(X)} rows",
                field="model.estimator",
                fix=f"use at most {MAX_TRAINING_ROWS} rows, or random_forest / gbm",
            )
        inputs, z = self._standardized_training(X, y)
        target_mean, target_scale = float(z.mean()), float(z.std()) or 1.0
        target = (z - target_mean) / target_scale
        distances = squared_distances(inputs, inputs)
        grid = [
            (float(c), float(f) / inputs.shape[1])
            for c in self.c_values
            for f in self.gamma_factors
        ]
        rmse = [np.nan] if len(grid) == 1 else self._inner_rmse(distances, target, grid)
        best = int(np.nanargmin(rmse)) if np.isfinite(rmse).any() else 0
        c, gamma = grid[best]
        svr = SVR(kernel="precomputed", C=c, epsilon=float(self.epsilon))
        svr.fit(np.exp(-gamma * distances), target)
        log.info(
            "covariate SVR: C=%g, gamma=%.3g (inner RMSE %.3f of %d pairs), %d support vectors",
            c,
            gamma,
            rmse[best],
            len(grid),
            len(svr.support_),
        )
        self.target_mean_, self.target_scale_ = target_mean, target_scale
        self.c_, self.gamma_ = c, gamma
        self.support_vectors_ = inputs[svr.support_]
        self.dual_coef_ = np.asarray(svr.dual_coef_, dtype=np.float64).reshape(-1)
        self.intercept_ = float(svr.intercept_[0])
        # JSON has no NaN: an undefined score (too few rows for inner folds) is None.
        self.cv_scores_ = [
            {"C": c, "gamma": g, "rmse": float(r) if np.isfinite(r) else None}
            for (c, g), r in zip(grid, rmse, strict=True)
        ]
        return self

    def _inner_rmse(
        self, distances: np.ndarray, target: np.ndarray, grid: list[tuple[float, float]]
    ) -> list[float]:
        """Pooled out-of-fold RMSE (standardized target) of every (C, gamma) pair."""
        from sklearn.svm import SVR

        rows = np.arange(len(target))
        if len(rows) > self.tuning_rows:
            rng = np.random.default_rng(int(self.seed))
            rows = np.sort(rng.choice(rows, size=int(self.tuning_rows), replace=False))
            distances, target = distances[np.ix_(rows, rows)], target[rows]
        n = len(rows)
        if n < 2 * self.inner_folds:
            return [np.nan] * len(grid)
        folds = random_kfold(n, n_splits=int(self.inner_folds), seed=int(self.seed))
        predicted = np.empty((len(grid), n))
        for fit_idx, test_idx in folds:
            fit_distances = distances[np.ix_(fit_idx, fit_idx)]
            test_distances = distances[np.ix_(test_idx, fit_idx)]
            for k, (c, gamma) in enumerate(grid):
                svr = SVR(kernel="precomputed", C=c, epsilon=float(self.epsilon))
                svr.fit(np.exp(-gamma * fit_distances), target[fit_idx])
                predicted[k, test_idx] = svr.predict(np.exp(-gamma * test_distances))
        return [float(v) for v in np.sqrt(np.mean(np.square(predicted - target), axis=1))]

    def predict(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Float32 (N,) predictions; NaN for missing covariates or unseen classes."""
        self._check_fitted()
        inputs, invalid = self._standardized_rows(X)
        standardized = rbf_decision_function(
            inputs, self.support_vectors_, self.dual_coef_, self.intercept_, self.gamma_
        )
        return self._in_target_units(standardized * self.target_scale_ + self.target_mean_, invalid)

    # ----------------------------------------------------------------- artifact
    def export_state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        self._check_fitted()
        tensors = self._float64_tensors(_ARRAYS)
        state = {
            **self.encoding_.to_state(),
            "intercept": self.intercept_,
            "target_mean": self.target_mean_,
            "target_scale": self.target_scale_,
            "C": self.c_,
            "gamma": self.gamma_,
            "cv_scores": self.cv_scores_,
        }
        return tensors, state

    @classmethod
    def from_state(cls, params, tensors, state) -> CovariateSVR:
        # Artifacts written before ``clamp_inputs`` existed extrapolate, as they did.
        model = cls(**{"clamp_inputs": False, **params})
        if unexpected := sorted(set(tensors) - {*_ARRAYS, "low", "high"}):
            raise ValueError(f"unexpected tensors {unexpected[:3]}")
        model._restore_inputs(state, tensors)
        n_vectors, n = len(tensors["dual_coef"]), len(model.center_)
        model.dual_coef_ = checked_float64(tensors["dual_coef"], "dual_coef", (n_vectors,))
        model.support_vectors_ = checked_float64(
            tensors["support_vectors"], "support_vectors", (n_vectors, n)
        )
        model.intercept_ = float(state["intercept"])
        model.target_mean_ = float(state["target_mean"])
        model.target_scale_ = float(state["target_scale"])
        model.c_, model.gamma_ = float(state["C"]), float(state["gamma"])
        model.cv_scores_ = [
            {**row, "C": float(row["C"]), "gamma": float(row["gamma"])}
            for row in state.get("cv_scores", [])
        ]
        return model
