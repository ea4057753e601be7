"""Ridge regression over covariates: the regularized linear baseline of model selection."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from geosoil.models.base import GeoSoilEstimator
from geosoil.models.covariate.dense import checked_float64
from geosoil.models.covariate.tabular import StandardizedInputs
from geosoil.models.registry import register

if TYPE_CHECKING:
    import pandas as pd
    import torch

__all__ = ["CovariateLinear"]


@register
class CovariateLinear(StandardizedInputs, GeoSoilEstimator):
    """Ridge regression on standardized covariates (one-hot classes), penalty chosen by
    leave-one-out cross-validation over a log grid (scikit-learn ``RidgeCV``).

    Parameters
    ----------
    alphas
        Candidate penalties, on standardized inputs and target.
    categorical_features, target_transform, seed
        As for the tree learners; ``seed`` is unused (the fit is deterministic) but kept so
        every covariate learner takes the same settings.
    clamp_inputs
        Clip each continuous covariate to its training range before the model reads it
        (default): a cell beyond the range is predicted as at the range's edge, not
        extrapolated. ``False`` extrapolates, as artifacts written before this setting do.
    """

    registry_name = "linear"
    state_arrays: ClassVar[str] = "numpy"  # from_state gets numpy arrays: a map needs no torch

    def __init__(
        self,
        *,
        alphas: Sequence[float] = tuple(np.logspace(-3, 3, 13)),
        categorical_features: Sequence[str] = (),
        target_transform: Literal["none", "log10"] = "none",
        seed: int = 0,
        clamp_inputs: bool = True,
    ) -> None:
        self._store_params(locals())

    def fit(self, X: pd.DataFrame, y) -> CovariateLinear:
        from sklearn.linear_model import RidgeCV

        inputs, z = self._standardized_training(X, y)
        ridge = RidgeCV(alphas=[float(a) for a in self.alphas]).fit(inputs, z)
        self.coef_ = np.asarray(ridge.coef_, dtype=np.float64)
        self.intercept_ = float(ridge.intercept_)
        self.alpha_ = float(ridge.alpha_)
        return self

    def predict(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Float32 (N,) predictions; NaN for missing covariates or unseen classes."""
        self._check_fitted()
        inputs, invalid = self._standardized_rows(X)
        return self._in_target_units(inputs @ self.coef_ + self.intercept_, invalid)

    def feature_importance(self) -> dict[str, float]:
        """Share of the absolute standardized coefficients per covariate (classes summed)."""
        self._check_fitted()
        weight = np.abs(self.coef_)
        total = float(weight.sum()) or 1.0
        return {
            name: float(weight[idx].sum() / total) for name, idx in self.encoding_.groups().items()
        }

    def export_state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        self._check_fitted()
        tensors = self._float64_tensors(("center", "scale", "coef"))
        state = {**self.encoding_.to_state(), "intercept": self.intercept_, "alpha": self.alpha_}
        return tensors, state

    @classmethod
    def from_state(cls, params, tensors, state) -> CovariateLinear:
        # Artifacts written before ``clamp_inputs`` existed extrapolate, as they did.
        model = cls(**{"clamp_inputs": False, **params})
        model._restore_inputs(state, tensors)
        model.coef_ = checked_float64(tensors["coef"], "coef", model.center_.shape)
        model.intercept_ = float(state["intercept"])
        model.alpha_ = float(state["alpha"])
        return model
