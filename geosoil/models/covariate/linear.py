"""Ridge regression over covariates: the regularized linear baseline of model selection."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from geosoil.models.base import GeoSoilEstimator
from geosoil.models.covariate.dense import as_array
from geosoil.models.covariate.tabular import (
    TabularEncoding,
    check_training_target,
    training_table,
)
from geosoil.models.registry import register
from geosoil.models.targets import TargetTransform

if TYPE_CHECKING:
    import pandas as pd
    import torch

__all__ = ["CovariateLinear"]


@register
class CovariateLinear(GeoSoilEstimator):
    """Ridge regression on standardized covariates (one-hot classes), penalty chosen by
    leave-one-out cross-validation over a log grid (scikit-learn ``RidgeCV``).

    Parameters
    ----------
    alphas
        Candidate penalties, on standardized inputs and target.
    categorical_features, target_transform, seed
        As for the tree learners; ``seed`` is unused (the fit is deterministic) but kept so
        every covariate learner takes the same settings.
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
    ) -> None:
        self._store_params(locals())

    def fit(self, X: pd.DataFrame, y) -> CovariateLinear:
        from sklearn.linear_model import RidgeCV

        X, y = training_table(X, y)
        encoding = TabularEncoding.learn(X, list(self.categorical_features))
        y = check_training_target(y, len(X))
        z = TargetTransform(self.target_transform).forward(y)
        encoded, _ = encoding.encode(encoding.matrix(X))
        center = encoded.mean(axis=0)
        scale = encoded.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        ridge = RidgeCV(alphas=[float(a) for a in self.alphas]).fit((encoded - center) / scale, z)
        self.encoding_ = encoding
        self.feature_names_in_ = list(encoding.feature_names)
        self.n_features_in_ = len(self.feature_names_in_)
        self.center_, self.scale_ = center, scale
        self.coef_ = np.asarray(ridge.coef_, dtype=np.float64)
        self.intercept_ = float(ridge.intercept_)
        self.alpha_ = float(ridge.alpha_)
        return self

    def predict(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Float32 (N,) predictions; NaN for missing covariates or unseen classes."""
        self._check_fitted()
        matrix = self.encoding_.matrix(X, owner=type(self).__name__)
        missing = ~np.isfinite(matrix).all(axis=1)
        encoded, unseen = self.encoding_.encode(np.where(missing[:, None], 0.0, matrix))
        z = ((encoded - self.center_) / self.scale_) @ self.coef_ + self.intercept_
        z[missing | unseen] = np.nan
        return TargetTransform(self.target_transform).inverse(z).astype(np.float32)

    def feature_importance(self) -> dict[str, float]:
        """Share of the absolute standardized coefficients per covariate (classes summed)."""
        self._check_fitted()
        weight = np.abs(self.coef_)
        total = float(weight.sum()) or 1.0
        return {
            name: float(weight[idx].sum() / total) for name, idx in self.encoding_.groups().items()
        }

    def export_state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        import torch

        self._check_fitted()
        tensors = {
            name: torch.from_numpy(np.asarray(getattr(self, f"{name}_"), dtype=np.float64))
            for name in ("center", "scale", "coef")
        }
        state = {**self.encoding_.to_state(), "intercept": self.intercept_, "alpha": self.alpha_}
        return tensors, state

    @classmethod
    def from_state(cls, params, tensors, state) -> CovariateLinear:
        model = cls(**params)
        model.encoding_ = TabularEncoding.from_state(state)
        model.feature_names_in_ = list(model.encoding_.feature_names)
        model.n_features_in_ = len(model.feature_names_in_)
        n = model.encoding_.n_encoded
        for name in ("center", "scale", "coef"):
            values = as_array(tensors[name]).astype(np.float64)
            if values.shape != (n,) or not np.isfinite(values).all():
                raise ValueError(f"tensor '{name}' has shape {values.shape}, expected ({n},)")
            setattr(model, f"{name}_", values)
        model.intercept_ = float(state["intercept"])
        model.alpha_ = float(state["alpha"])
        return model
