"""``spectral_pca``: fitted preprocessing, principal components, then a learner.

The recipe of the Open Soil Spectral Library (OSSL): SNV-preprocessed spectra compressed to
their first principal components (120 there), and a tabular learner on the scores. The
learner is ridge regression (its penalty chosen by inner cross-validation among
``alphas``) or gradient-boosted trees (LightGBM). Everything learned is saved as tensors:
the PCA mean and loadings, the ridge coefficients, or the LightGBM model in its own text
format (parsed by LightGBM, never executed), as bytes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch

from geosoil.errors import ConfigError
from geosoil.models.registry import register
from geosoil.models.spectral.base import CO2_REGION_CM1, PreparedData, SpectralEstimator

__all__ = ["SpectralPCA"]

log = logging.getLogger(__name__)

_GBM_DEFAULTS = {
    "n_estimators": 400,
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_child_samples": 10,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.5,
    "reg_lambda": 1.0,
}


@register
class SpectralPCA(SpectralEstimator):
    """Principal components of preprocessed spectra, then ridge or gradient boosting.

    Parameters
    ----------
    preprocessing
        Steps before the PCA; None uses SNV (and, on a cm-1 axis, the CO2 band dropped).
    target_transform
        ``"none"`` or ``"log10"``.
    n_components
        Principal components kept (capped at the training spectra less one).
    learner
        ``"ridge"`` or ``"gbm"`` (LightGBM).
    alphas
        Ridge penalties (on standardized scores) chosen among by inner cross-validation.
    gbm_params
        LightGBM settings overriding the defaults (400 trees, learning rate 0.05, 15
        leaves, row and column subsampling).
    threads
        LightGBM threads.
    seed, valid_fraction, selection, inner_folds
        As for :class:`~geosoil.models.spectral.base.SpectralEstimator`.

    Notes
    -----
    Learned state: ``pca_mean_`` (bands,), ``pca_components_`` (c, bands), ``score_scale_``
    (c,), then ``ridge_coef_``/``ridge_intercept_``/``alpha_`` or ``gbm_model_`` (the
    LightGBM model text), and the shared state of :class:`SpectralEstimator`.
    """

    registry_name = "spectral_pca"
    default_preprocessing = {  # noqa: RUF012 (read-only by convention; copied before use)
        "cm-1": ({"name": "snv"}, {"name": "drop_regions", "regions": [list(CO2_REGION_CM1)]}),
        "nm": ({"name": "snv"},),
    }

    def __init__(
        self,
        *,
        preprocessing: list[dict[str, Any]] | None = None,
        target_transform: Literal["none", "log10"] = "log10",
        n_components: int = 120,
        learner: Literal["ridge", "gbm"] = "gbm",
        alphas: Sequence[float] = (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0),
        gbm_params: dict[str, Any] | None = None,
        threads: int = 1,
        seed: int = 0,
        valid_fraction: float = 0.1,
        selection: Literal["cv", "holdout"] = "cv",
        inner_folds: int = 5,
    ) -> None:
        self._store_params(locals())

    def _check_params(self) -> None:
        if self.learner not in ("ridge", "gbm"):
            raise ConfigError(
                f"learner={self.learner!r} is not 'ridge' or 'gbm'",
                field="params.learner",
                fix="use 'gbm' (LightGBM, the OSSL-like default) or 'ridge'",
            )
        if (
            isinstance(self.n_components, bool)
            or not isinstance(self.n_components, int)
            or (self.n_components < 1)
        ):
            raise ConfigError(
                f"n_components={self.n_components!r} must be a whole number of at least 1",
                field="params.n_components",
                fix="e.g. 120 (the OSSL recipe)",
            )
        alphas = self.alphas
        if (
            isinstance(alphas, str)
            or not isinstance(alphas, Sequence)
            or not alphas
            or not all(
                isinstance(a, int | float) and not isinstance(a, bool) and a > 0 for a in alphas
            )
        ):
            raise ConfigError(
                f"alphas={alphas!r} must be a non-empty list of positive numbers",
                field="params.alphas",
                fix="e.g. alphas: [0.1, 1, 10, 100]",
            )
        if self.gbm_params is not None and not isinstance(self.gbm_params, dict):
            raise ConfigError(
                "gbm_params must be a mapping of LightGBM settings",
                field="params.gbm_params",
                fix="e.g. gbm_params: {n_estimators: 400, learning_rate: 0.05}",
            )

    def _needs_validation(self) -> bool:
        return False  # the penalty is chosen by inner CV; boosting runs a fixed schedule

    def _candidates(self) -> list[dict[str, Any]]:
        if self.learner == "ridge" and len(self.alphas) > 1:
            return [{"alpha": float(a)} for a in self.alphas]
        return [{}]

    def _candidate_predictions(self, data: PreparedData) -> np.ndarray:
        if self.learner != "ridge":
            return super()._candidate_predictions(data)
        scores = self._fit_pca(data.Z_train)  # one PCA, every penalty
        valid = self._scores(data.Z_valid)
        columns = []
        for setting in self._candidates():
            coef, intercept = _ridge(scores, data.t_train, setting.get("alpha", self.alphas[0]))
            columns.append(valid @ coef + intercept)
        return np.column_stack(columns)

    # ---------------------------------------------------------------- fitting
    def _fit_pca(self, Z: np.ndarray) -> np.ndarray:
        """Fit the PCA (mean, loadings, score scale) on ``Z``; its standardized scores."""
        Z = Z.astype(np.float64)
        n, p = Z.shape
        mean = Z.mean(axis=0)
        _, _, vt = np.linalg.svd(Z - mean, full_matrices=False)
        c = int(min(self.n_components, n - 1, p))
        self.pca_mean_ = mean
        self.pca_components_ = vt[:c]
        scores = (Z - mean) @ vt[:c].T
        scale = scores.std(axis=0)
        scale[scale == 0] = 1.0
        self.score_scale_ = scale
        return scores / scale

    def _fit_prepared(self, data: PreparedData) -> None:
        scores = self._fit_pca(data.Z_train)
        if self.learner == "ridge":
            alpha = float(self._selected.get("alpha", self.alphas[0]))
            self.ridge_coef_, self.ridge_intercept_ = _ridge(scores, data.t_train, alpha)
            self.alpha_ = alpha
        else:
            import lightgbm

            params = {**_GBM_DEFAULTS, **(self.gbm_params or {})}
            model = lightgbm.LGBMRegressor(
                **params, random_state=self.seed, n_jobs=self.threads, verbose=-1
            )
            model.fit(scores, data.t_train)
            self.gbm_model_ = model.booster_.model_to_string()
            self._booster = model.booster_
        log.info("spectral_pca: %d components (%s)", scores.shape[1], self.learner)

    def _scores(self, Z: np.ndarray) -> np.ndarray:
        centred = np.asarray(Z, dtype=np.float64) - self.pca_mean_
        # One vector-matrix product per row: a row's scores never depend on its batch.
        return np.matmul(centred[:, None, :], self.pca_components_.T)[:, 0] / self.score_scale_

    def _predict_standardized(self, Z: np.ndarray) -> np.ndarray:
        scores = self._scores(Z)
        if self.learner == "ridge":
            return np.sum(scores * self.ridge_coef_, axis=1) + self.ridge_intercept_
        return np.asarray(self._gbm().predict(scores), dtype=np.float64)

    def _gbm(self):
        if getattr(self, "_booster", None) is None:
            import lightgbm

            self._booster = lightgbm.Booster(model_str=self.gbm_model_)
        return self._booster

    # ---------------------------------------------------------------- artifact
    def export_state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Tensors ``preprocessing.*``, ``pca_mean``, ``pca_components``, ``score_scale``
        and ``ridge_coef`` or ``gbm_model`` (the LightGBM model text as uint8)."""
        self._check_fitted()
        tensors, state = self._export_common()
        for name in ("pca_mean", "pca_components", "score_scale"):
            tensors[name] = torch.from_numpy(np.ascontiguousarray(getattr(self, f"{name}_")))
        if self.learner == "ridge":
            tensors["ridge_coef"] = torch.from_numpy(self.ridge_coef_.copy())
            state["ridge_intercept"] = self.ridge_intercept_
            state["alpha"] = self.alpha_
        else:
            text = np.frombuffer(self.gbm_model_.encode("utf-8"), dtype=np.uint8).copy()
            tensors["gbm_model"] = torch.from_numpy(text)
        return tensors, state

    @classmethod
    def from_state(cls, params, tensors, state) -> SpectralPCA:
        model = cls(**params)
        rest = model._restore_common(tensors, state)
        for name in ("pca_mean", "pca_components", "score_scale"):
            setattr(model, f"{name}_", rest[name].numpy().astype(np.float64))
        if model.pca_components_.shape[1:] != (len(model.preprocessing_.axis_out_),):
            raise ValueError(f"pca_components has shape {tuple(model.pca_components_.shape)}")
        if model.learner == "ridge":
            model.ridge_coef_ = rest["ridge_coef"].numpy().astype(np.float64)
            model.ridge_intercept_ = float(state["ridge_intercept"])
            model.alpha_ = float(state["alpha"])
        else:
            model.gbm_model_ = bytes(rest["gbm_model"].numpy().astype(np.uint8)).decode("utf-8")
            model._booster = None
        return model


def _ridge(scores: np.ndarray, target: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """Ridge coefficients on (unpenalized-intercept) scores and the intercept."""
    gram = scores.T @ scores + float(alpha) * np.eye(scores.shape[1])
    mean = float(target.mean())
    return np.linalg.solve(gram, scores.T @ (target - mean)), mean
