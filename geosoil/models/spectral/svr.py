"""Support vector regression on spectra, the kernel baseline of the Pb seed system.

He et al. (2025) compare their ResNet with an SVM regression. Here the spectra go through
SNV, a Savitzky-Golay first derivative (window 11, order 1) and a per-band standardization
(an RBF kernel measures Euclidean distances, which unscaled bands would dominate), and
scikit-learn's ``SVR(kernel="rbf")`` is fitted on the standardized target for every pair of
``C`` in ``c_values`` and ``gamma`` in ``gamma_factors`` times the ``"scale"`` gamma
(``1 / (n_bands * variance of the inputs)``). The pair with the best pooled R2 of inner
k-fold cross-validation (grouped when the outer split is) is refitted on all training
spectra; with ``selection: holdout`` the pair best on one validation set is kept as it was
fitted on the training share.

The artifact holds the support vectors, dual coefficients and intercept as tensors and
``gamma``/``C`` in JSON; prediction evaluates the RBF decision function in numpy, so a
loaded model needs no scikit-learn object and nothing is pickled.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch

from geosoil.models.kernels import (
    check_svr_settings,
    rbf_decision_function,
    squared_distances,
)
from geosoil.models.registry import register
from geosoil.models.spectral.base import CO2_REGION_CM1, PreparedData, SpectralEstimator

__all__ = ["SpectralSVR"]

log = logging.getLogger(__name__)

_DERIVATIVE = {"name": "savgol", "window": 11, "polyorder": 1, "deriv": 1}


@register
class SpectralSVR(SpectralEstimator):
    """RBF support vector regression on preprocessed spectra, ``C`` and ``gamma`` chosen by
    inner cross-validation, then refitted.

    Parameters
    ----------
    preprocessing
        Preprocessing steps; None uses SNV, Savitzky-Golay first derivative (window 11,
        order 1), on a cm-1 axis the CO2 band 2269-2389 cm-1 dropped (as for PLSR), then
        per-band standardization.
    target_transform
        ``"none"`` (default, as the Pb paper) or ``"log10"``.
    seed
        Seeds the validation split.
    valid_fraction
        With ``selection: holdout``: share of the spectra held out to choose ``C`` and
        ``gamma`` when ``fit`` gets no validation set.
    selection, inner_folds
        ``"cv"``: inner ``inner_folds``-fold cross-validation, then refit on all training
        spectra; ``"holdout"``: choice on one validation set, no refit.
    c_values
        Candidate penalties ``C``.
    gamma_factors
        Candidate ``gamma`` as multiples of scikit-learn's ``"scale"`` gamma.
    epsilon
        Width of the insensitive tube, on the standardized target scale.

    Notes
    -----
    Learned state: ``c_`` and ``gamma_`` (chosen), ``support_vectors_`` (m, bands),
    ``dual_coef_`` (m,), ``intercept_`` (standardized target scale), ``validation_scores_``
    (one dict per candidate: ``C``, ``gamma``, ``valid_r2``; NaN without a validation set),
    and the shared state of :class:`~geosoil.models.spectral.base.SpectralEstimator`. No
    ``predict_dist``: the SVR gives no uncertainty here.
    """

    registry_name = "svr"
    default_preprocessing = {  # noqa: RUF012 (read-only by convention; copied before use)
        "cm-1": (
            {"name": "snv"},
            _DERIVATIVE,
            {"name": "drop_regions", "regions": [list(CO2_REGION_CM1)]},
            {"name": "standardize"},
        ),
        "nm": ({"name": "snv"}, _DERIVATIVE, {"name": "standardize"}),
    }

    def __init__(
        self,
        *,
        preprocessing: Sequence[dict[str, Any]] | None = None,
        target_transform: Literal["none", "log10"] = "none",
        seed: int = 0,
        valid_fraction: float = 0.1,
        c_values: Sequence[float] = (1.0, 10.0, 100.0),
        gamma_factors: Sequence[float] = (0.1, 1.0, 10.0),
        epsilon: float = 0.1,
        selection: Literal["cv", "holdout"] = "cv",
        inner_folds: int = 5,
    ) -> None:
        self._store_params(locals())

    def _check_params(self) -> None:
        check_svr_settings(self, field_prefix="params")

    def _needs_validation(self) -> bool:
        return len(self._grid()) > 1

    def _candidates(self) -> list[dict[str, Any]]:
        grid = [
            {"C": float(c), "gamma_factor": float(f)}
            for c in self.c_values
            for f in self.gamma_factors
        ]
        return grid if len(grid) > 1 else [{}]

    def _grid(self) -> list[tuple[float, float]]:
        """(C, gamma factor) pairs to fit: the chosen one, or every pair."""
        if self._selected:
            return [(self._selected["C"], self._selected["gamma_factor"])]
        return [(float(c), float(f)) for c in self.c_values for f in self.gamma_factors]

    def _fitted_grid(self, data: PreparedData):
        """Yield ``(C, gamma, fitted SVR, validation predictions or None)`` per pair.

        The squared distances are computed once and every pair is fitted on the
        precomputed kernel ``exp(-gamma d^2)``: the grid then costs one distance matrix
        instead of one per pair (the bands dominate the cost on MIR spectra).
        """
        from sklearn.svm import SVR

        Z = data.Z_train.astype(np.float64)
        variance = float(Z.var())
        gamma_scale = 1.0 / (Z.shape[1] * variance) if variance > 0 else 1.0
        distances = squared_distances(Z, Z)
        valid = None if data.Z_valid is None else squared_distances(data.Z_valid, Z)
        for c, factor in self._grid():
            gamma = float(factor) * gamma_scale
            svr = SVR(kernel="precomputed", C=float(c), epsilon=float(self.epsilon))
            svr.fit(np.exp(-gamma * distances), data.t_train)
            predicted = None if valid is None else svr.predict(np.exp(-gamma * valid))
            yield float(c), gamma, svr, predicted

    def _candidate_predictions(self, data: PreparedData) -> np.ndarray:
        return np.column_stack([p for _, _, _, p in self._fitted_grid(data)])

    def _fit_prepared(self, data: PreparedData) -> None:
        scores: list[dict[str, float]] = []
        best, best_r2 = None, -math.inf
        for c, gamma, svr, predicted in self._fitted_grid(data):
            r2 = math.nan if predicted is None else _r2(predicted, data.t_valid)
            scores.append({"C": c, "gamma": gamma, "valid_r2": r2})
            if r2 > best_r2:
                best, best_r2 = (c, gamma, svr), r2
            elif best is None:  # no R2 defined (no validation set, constant target)
                best = (c, gamma, svr)
        c, gamma, svr = best
        log.info(
            "SVR: C=%g, gamma=%.3g (%d candidates, validation R2 %.3f), %d support vectors",
            c,
            gamma,
            len(scores),
            best_r2,
            len(svr.support_),
        )
        self.c_ = c
        self.gamma_ = gamma
        self.support_vectors_ = data.Z_train.astype(np.float64)[svr.support_]
        self.dual_coef_ = np.asarray(svr.dual_coef_, dtype=np.float64).reshape(-1)
        self.intercept_ = float(svr.intercept_[0])
        self.validation_scores_ = scores

    def _predict_standardized(self, Z: np.ndarray) -> np.ndarray:
        return rbf_decision_function(
            Z, self.support_vectors_, self.dual_coef_, self.intercept_, self.gamma_
        )

    # ----------------------------------------------------------------- artifact
    def export_state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Tensors ``preprocessing.*``, ``support_vectors``, ``dual_coef`` and ``intercept``
        (float64); JSON state with the pipeline, target scaling, ``C``, ``gamma``,
        ``epsilon`` and the validation scores."""
        self._check_fitted()
        tensors, state = self._export_common()
        tensors["support_vectors"] = torch.from_numpy(self.support_vectors_.copy())
        tensors["dual_coef"] = torch.from_numpy(self.dual_coef_.copy())
        tensors["intercept"] = torch.tensor(self.intercept_, dtype=torch.float64)
        state["C"] = self.c_
        state["gamma"] = self.gamma_
        state["epsilon"] = float(self.epsilon)
        # JSON has no NaN: an undefined R2 is written as null.
        state["validation_scores"] = [
            {k: None if math.isnan(v) else v for k, v in row.items()}
            for row in self.validation_scores_
        ]
        return tensors, state

    @classmethod
    def from_state(cls, params, tensors, state) -> SpectralSVR:
        model = cls(**params)
        rest = model._restore_common(tensors, state)
        if unexpected := sorted(set(rest) - {"support_vectors", "dual_coef", "intercept"}):
            raise ValueError(f"unexpected tensors {unexpected[:3]}")
        support_vectors = rest["support_vectors"].numpy().astype(np.float64)
        dual_coef = rest["dual_coef"].numpy().astype(np.float64)
        n_bands = len(model.preprocessing_.axis_out_)
        if support_vectors.ndim != 2 or support_vectors.shape[1] != n_bands:
            raise ValueError(f"support_vectors has shape {tuple(support_vectors.shape)}")
        if dual_coef.shape != (len(support_vectors),):
            raise ValueError(f"dual_coef has shape {tuple(dual_coef.shape)}")
        model.support_vectors_ = support_vectors
        model.dual_coef_ = dual_coef
        model.intercept_ = float(rest["intercept"])
        model.c_ = float(state["C"])
        model.gamma_ = float(state["gamma"])
        model.validation_scores_ = [
            {k: math.nan if v is None else float(v) for k, v in row.items()}
            for row in state["validation_scores"]
        ]
        return model


def _r2(prediction: np.ndarray, target: np.ndarray) -> float:
    sst = float(np.sum(np.square(target - target.mean())))
    if sst == 0:
        return math.nan
    return 1.0 - float(np.sum(np.square(prediction - target))) / sst
