"""Ordinary kriging of the target from the sample coordinates alone (PyKrige).

The learner reads two coordinate columns (``x`` and ``y`` by default, in metres on a
projected CRS) and ignores every other covariate. The variogram model (spherical,
exponential or Gaussian) is chosen automatically: each is fitted to the experimental
variogram by PyKrige's least squares, and the one with the lowest cR statistic of its
leave-one-out kriging errors is kept. The artifact holds the sample coordinates and values
as tensors and the variogram in the header.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from geosoil.errors import CovariateError, SampleDataError
from geosoil.models.base import GeoSoilEstimator
from geosoil.models.covariate.tabular import check_training_target
from geosoil.models.registry import register
from geosoil.models.targets import TargetTransform

__all__ = ["OrdinaryKriging"]

VARIOGRAM_MODELS = ("spherical", "exponential", "gaussian")


@register
class OrdinaryKriging(GeoSoilEstimator):
    """Ordinary kriging with an automatically chosen variogram model.

    Parameters
    ----------
    coordinate_columns
        Names of the easting and northing columns of ``X``.
    variogram_models
        Models tried; the one with the lowest leave-one-out cR statistic is kept.
    nlags
        Lags of the experimental variogram.
    target_transform
        ``"none"`` or ``"log10"`` (kriging on the log scale, back-transformed as
        ``10 ** kriged``, the median rather than the mean of a log-normal).
    seed
        Unused (the fit is deterministic); kept so every covariate learner takes it.
    """

    registry_name = "ordinary_kriging"

    def __init__(
        self,
        *,
        coordinate_columns: Sequence[str] = ("x", "y"),
        variogram_models: Sequence[str] = VARIOGRAM_MODELS,
        nlags: int = 12,
        target_transform: Literal["none", "log10"] = "none",
        seed: int = 0,
    ) -> None:
        self.coordinate_columns = coordinate_columns
        self.variogram_models = variogram_models
        self.nlags = nlags
        self.target_transform = target_transform
        self.seed = seed

    def _coordinates(self, X) -> np.ndarray:
        names = list(self.coordinate_columns)
        if isinstance(X, pd.DataFrame):
            missing = [c for c in names if c not in X.columns]
            if missing:
                raise CovariateError(
                    f"kriging needs the coordinate columns {missing}",
                    field="covariates.columns",
                    fix=f"add the sample coordinates as covariates {names}, or set "
                    "model.params.coordinate_columns",
                )
            return X[names].to_numpy(dtype=np.float64)
        matrix = np.asarray(X, dtype=np.float64)
        positions = [self.feature_names_in_.index(n) for n in names]
        return matrix[:, positions]

    def fit(self, X: pd.DataFrame, y) -> OrdinaryKriging:
        """Fit the variogram models to the samples and keep the best; returns self."""
        from pykrige.ok import OrdinaryKriging as PyKrigeOK

        xy = self._coordinates(X)
        z = TargetTransform(self.target_transform).forward(check_training_target(y, len(X)))
        if not np.isfinite(xy).all():
            raise SampleDataError("coordinates must be finite", field="coordinates")
        duplicated = pd.DataFrame(xy).duplicated()
        if duplicated.any():
            raise SampleDataError(
                f"{int(duplicated.sum())} sample(s) repeat the coordinates of another; the "
                "kriging system would be singular",
                field="coordinates",
                fix="average the duplicated samples, or drop the repeats",
            )
        fits = {}
        for model in self.variogram_models:
            kriging = PyKrigeOK(
                xy[:, 0], xy[:, 1], z, variogram_model=model, nlags=int(self.nlags),
                enable_statistics=True,
            )  # fmt: skip
            q1, q2, cr = kriging.get_statistics()
            fits[model] = {
                "parameters": [float(v) for v in kriging.variogram_model_parameters],
                "q1": float(q1),
                "q2": float(q2),
                "cr": float(cr),
            }
        best = min(fits, key=lambda m: fits[m]["cr"] if np.isfinite(fits[m]["cr"]) else np.inf)
        self.feature_names_in_ = [str(c) for c in self.coordinate_columns]
        self.xy_, self.z_ = xy, z
        self.variogram_ = {"model": best, **fits[best]}
        self.variogram_fits_ = fits
        return self

    def predict(self, X) -> np.ndarray:
        """Float32 (N,) kriged values at the rows' coordinates, in the target's units."""
        from pykrige.ok import OrdinaryKriging as PyKrigeOK

        self._check_fitted()
        xy = self._coordinates(X)
        parameters = dict(
            zip(("psill", "range", "nugget"), self.variogram_["parameters"], strict=True)
        )
        kriging = PyKrigeOK(
            self.xy_[:, 0], self.xy_[:, 1], self.z_,
            variogram_model=self.variogram_["model"], variogram_parameters=parameters,
        )  # fmt: skip
        valid = np.isfinite(xy).all(axis=1)
        z = np.full(len(xy), np.nan)
        if valid.any():
            kriged, _ = kriging.execute("points", xy[valid, 0], xy[valid, 1])
            z[valid] = np.asarray(kriged, dtype=np.float64)
        return TargetTransform(self.target_transform).inverse(z).astype(np.float32)

    def export_state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        self._check_fitted()
        tensors = {"xy": torch.from_numpy(self.xy_.copy()), "z": torch.from_numpy(self.z_.copy())}
        state = {"feature_names_in": self.feature_names_in_, "variogram": self.variogram_}
        return tensors, state

    @classmethod
    def from_state(cls, params, tensors, state) -> OrdinaryKriging:
        model = cls(**params)
        xy = tensors["xy"].numpy().astype(np.float64)
        z = tensors["z"].numpy().astype(np.float64)
        if xy.ndim != 2 or xy.shape[1] != 2 or z.shape != (len(xy),):
            raise ValueError(f"kriging arrays have shapes {xy.shape} and {z.shape}")
        variogram = dict(state["variogram"])
        if variogram["model"] not in VARIOGRAM_MODELS or len(variogram["parameters"]) != 3:
            raise ValueError(f"unknown variogram {variogram['model']!r}")
        model.feature_names_in_ = [str(n) for n in state["feature_names_in"]]
        model.xy_, model.z_, model.variogram_ = xy, z, variogram
        return model
