"""Ordinary kriging of the target from the sample coordinates alone (PyKrige).

The learner reads two coordinate columns (``x`` and ``y`` by default, in metres on a
projected CRS) and ignores every other covariate. The variogram model (spherical,
exponential or Gaussian) is chosen automatically: each is fitted to the experimental
variogram by PyKrige's least squares, and the one with the lowest cR statistic of its
leave-one-out kriging errors is kept. The artifact holds the sample coordinates and values
as tensors and the variogram in the header.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from geosoil.errors import CovariateError, SampleDataError
from geosoil.models.base import GeoSoilEstimator, pack_inner, unpack_inner
from geosoil.models.covariate.tabular import check_training_target
from geosoil.models.registry import register
from geosoil.models.targets import TargetTransform
from geosoil.trust.estimators import model_scale

__all__ = ["OrdinaryKriging", "ResidualKriging", "kriged_out_of_fold"]

log = logging.getLogger(__name__)

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
        self._store_params(locals())

    @property
    def map_coordinates(self) -> tuple[str, ...]:
        """The inputs that are the point's easting and northing: the map engine fills them
        with the pixel-centre coordinates, not from covariate rasters."""
        return tuple(str(c) for c in self.coordinate_columns)

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


def model_residuals(y, predicted, transform: str) -> np.ndarray:
    """Residuals on the learner's fitting scale (``log10(y) - log10(predicted)`` for a
    log10 target): the scale they are kriged on."""
    return TargetTransform(transform).forward(np.asarray(y, np.float64)) - model_scale(transform)(
        predicted
    )


def with_residual(trend, residual, transform: str) -> np.ndarray:
    """Trend plus kriged residual on the fitting scale, back in target units (float64)."""
    z = model_scale(transform)(trend) + np.asarray(residual, dtype=np.float64)
    return TargetTransform(transform).inverse(z)


def kriged_out_of_fold(
    X: pd.DataFrame, y, predicted, folds, *, transform: str, kriging: OrdinaryKriging
) -> np.ndarray:
    """Out-of-fold predictions plus residuals kriged from the other folds (float64).

    For every fold, ``kriging`` (unfitted; a fresh copy is fitted, its variogram chosen
    anew) is fitted to the residuals of ``predicted`` at the other folds' rows and predicts
    the residual at this fold's rows. No learner is refitted. Rows without a finite
    prediction are left out of the kriged residuals and stay NaN.
    """
    residuals = model_residuals(y, predicted, transform)
    out = np.full(len(residuals), np.nan)
    for train_idx, test_idx in folds:
        use = train_idx[np.isfinite(residuals[train_idx])]
        fitted = type(kriging)(**kriging.get_params()).fit(X.iloc[use], residuals[use])
        kriged = fitted.predict(X.iloc[test_idx]).astype(np.float64)
        out[test_idx] = with_residual(predicted[test_idx], kriged, transform)
    return out


@register
class ResidualKriging(GeoSoilEstimator):
    """Regression kriging: a covariate learner plus ordinary kriging of its residuals.

    The residuals kriged are out-of-fold residuals of the learner (inner folds: whole groups
    of ``GROUP_COLUMN`` when the table carries it, as ``auto``'s, else random rows), so the
    variogram describes the errors the learner makes on samples it did not see, not its
    smaller training residuals. The learner is then refit on all rows. A prediction is the
    learner's prediction plus the kriged residual at the row's coordinates, both on the
    learner's fitting scale (``log10`` with that target transform), back-transformed after
    the sum as every learner's prediction is (``10 ** (trend + residual)``, positive).
    Reads the covariates plus the two coordinate columns.

    Parameters
    ----------
    base, base_params
        Registry name and settings of the covariate learner.
    coordinate_columns, variogram_models, nlags
        As for :class:`OrdinaryKriging`.
    inner_splits
        Inner folds giving the out-of-fold residuals.
    categorical_features, target_transform, seed
        Passed to the learner; the residuals are kriged on ``target_transform``'s scale too.

    :meth:`fit_residuals` builds the model from a learner already fitted and out-of-fold
    predictions made elsewhere (``auto`` delivers its kriged variant so).

    Artifacts written before the residuals were kriged on that scale (no
    ``residual_scale`` in their state) keep their raw-scale sum: ``residual_scale_`` is
    ``"target"`` for them and ``"model"`` otherwise.
    """

    registry_name = "residual_kriging"
    uses_coordinates = True
    uses_fold_groups = True
    """Reads ``GROUP_COLUMN``, when present, to keep groups whole in its inner folds."""

    def __init__(
        self,
        *,
        base: str = "random_forest",
        base_params: dict[str, Any] | None = None,
        coordinate_columns: Sequence[str] = ("sample_x", "sample_y"),
        variogram_models: Sequence[str] = VARIOGRAM_MODELS,
        nlags: int = 12,
        inner_splits: int = 5,
        categorical_features: Sequence[str] = (),
        target_transform: Literal["none", "log10"] = "none",
        seed: int = 0,
    ) -> None:
        self._store_params(locals())

    @property
    def map_coordinates(self) -> tuple[str, ...]:
        """As :attr:`OrdinaryKriging.map_coordinates`: the map engine fills these inputs with
        the pixel-centre coordinates, so the kriged residual is added on the map too."""
        return tuple(str(c) for c in self.coordinate_columns)

    def _make_base(self) -> GeoSoilEstimator:
        from geosoil.models.covariate.stack import inner_learner

        return inner_learner(
            self.base, self, self.base_params, field="model.params.base", source="base_params"
        )

    def _make_kriging(self) -> OrdinaryKriging:
        return OrdinaryKriging(
            coordinate_columns=self.coordinate_columns,
            variogram_models=self.variogram_models,
            nlags=self.nlags,
        )

    def _covariates(self, X: pd.DataFrame) -> pd.DataFrame:
        from geosoil.models.covariate.stack import GROUP_COLUMN

        return X.drop(columns=[*self.coordinate_columns, GROUP_COLUMN], errors="ignore")

    def fit(self, X: pd.DataFrame, y) -> ResidualKriging:
        """Learner, out-of-fold residuals, their variogram and kriging; returns self."""
        from geosoil.models.covariate.stack import inner_folds, out_of_fold

        y = check_training_target(y, len(X))
        self._make_kriging()._coordinates(X)  # refuses a table without coordinates now
        covariates = self._covariates(X)
        folds = inner_folds(X, self.inner_splits, self.seed)
        oof = out_of_fold(self._make_base, covariates, y, folds)
        return self.fit_residuals(X, y, oof, self._make_base().fit(covariates, y))

    def fit_residuals(self, X: pd.DataFrame, y, out_of_fold, base) -> ResidualKriging:
        """Krige the residuals of ``out_of_fold`` predictions of ``y``; keep ``base``.

        ``base`` is the learner (of class ``self.base``, with this model's settings) already
        fitted on all rows of ``X``; ``out_of_fold`` are its kind's out-of-fold predictions
        of every row (NaN where there is none). Returns self.
        """
        from geosoil.models.covariate.stack import GROUP_COLUMN

        y = check_training_target(y, len(X))
        if base.registry_name != self.base:
            raise ValueError(f"base is a {base.registry_name}, not a {self.base}")
        coordinates = X[list(self.coordinate_columns)]
        residuals = model_residuals(y, np.asarray(out_of_fold), self.target_transform)
        finite = np.isfinite(residuals)
        if not finite.all():
            # e.g. a class absent from an inner training fold: the learner gives no value
            log.warning(
                "residual kriging: %d sample(s) without an out-of-fold prediction are left "
                "out of the kriged residuals",
                int((~finite).sum()),
            )
        self.kriging_ = self._make_kriging().fit(coordinates[finite], residuals[finite])
        self.base_ = base
        self.feature_names_in_ = [str(c) for c in X.columns if c != GROUP_COLUMN]
        self.residual_scale_ = "model"
        return self

    def predict(self, X) -> np.ndarray:
        """Float32 (N,) trend plus kriged residual, in the target's units."""
        self._check_fitted()
        if not isinstance(X, pd.DataFrame):
            X = pd.DataFrame(np.asarray(X, dtype=np.float64), columns=self.feature_names_in_)
        trend = self.base_.predict(self._covariates(X)).astype(np.float64)
        residual = self.kriging_.predict(X).astype(np.float64)
        if self.residual_scale_ == "target":  # an artifact kriged on the raw scale
            return (trend + residual).astype(np.float32)
        return with_residual(trend, residual, self.target_transform).astype(np.float32)

    def export_state(self):
        self._check_fitted()
        base_tensors, base = pack_inner("base", self.base_)
        kriging_tensors, kriging = pack_inner("kriging", self.kriging_)
        state = {
            "feature_names_in": self.feature_names_in_,
            "residual_scale": self.residual_scale_,
            "base": base,
            "kriging": kriging,
        }
        return base_tensors | kriging_tensors, state

    @classmethod
    def from_state(cls, params, tensors, state) -> ResidualKriging:
        from geosoil.models.registry import get_estimator_class

        model = cls(**params)
        base_cls = get_estimator_class(model.base, field="geosoil.hyperparameters.base")
        model.base_, used = unpack_inner(base_cls, "base", tensors, state["base"])
        model.kriging_, kriged = unpack_inner(OrdinaryKriging, "kriging", tensors, state["kriging"])
        if used | kriged != set(tensors):
            raise ValueError("tensors belong to neither the learner nor the kriging")
        model.feature_names_in_ = [str(n) for n in state["feature_names_in"]]
        model.residual_scale_ = state.get("residual_scale", "target")
        if model.residual_scale_ not in ("model", "target"):
            raise ValueError(f"unknown residual scale {model.residual_scale_!r}")
        return model
