"""Support vector regression on spectra, the kernel baseline of the Pb seed system.

He et al. (2025) compare their ResNet with an SVM regression. Here the spectra go through
SNV, a Savitzky-Golay first derivative (window 11, order 1) and a per-band standardization
(an RBF kernel measures Euclidean distances, which unscaled bands would dominate), and
scikit-learn's ``SVR(kernel="rbf")`` is fitted on the standardized target for every pair of
``C`` in ``c_values`` and ``gamma`` in ``gamma_factors`` times the ``"scale"`` gamma
(``1 / (n_bands * variance of the inputs)``). The pair with the best validation R2 is kept
as it was fitted, on the training share only: no refit on training plus validation, so the
validation score reported is that of the model saved.

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

from geosoil.errors import ConfigError
from geosoil.models.registry import register
from geosoil.models.spectral.base import CO2_REGION_CM1, PreparedData, SpectralEstimator

__all__ = ["SpectralSVR", "rbf_decision_function"]

log = logging.getLogger(__name__)

# Values of the (rows, support vectors, bands) difference block at prediction: 16 MB.
_BLOCK_VALUES = 1 << 21

_DERIVATIVE = {"name": "savgol", "window": 11, "polyorder": 1, "deriv": 1}


def rbf_decision_function(
    Z: np.ndarray,
    support_vectors: np.ndarray,
    dual_coef: np.ndarray,
    intercept: float,
    gamma: float,
) -> np.ndarray:
    """``sum_i dual_coef_i exp(-gamma ||z - sv_i||^2) + intercept`` for each row ``z``.

    Squared distances are summed from elementwise differences (not ``|z|^2 + |sv|^2 -
    2 z.sv`` through a matrix product, whose kernels may round a row differently by its
    position in the block), so a row's value never depends on the other rows.

    Parameters
    ----------
    Z
        Inputs (n, p).
    support_vectors
        (m, p) float64.
    dual_coef
        (m,) float64.
    intercept, gamma
        The model's intercept and RBF ``gamma``.

    Returns
    -------
    ndarray of float64, shape (n,)
    """
    out = np.empty(len(Z))
    rows = max(1, _BLOCK_VALUES // max(1, support_vectors.size))
    for start in range(0, len(Z), rows):
        block = np.asarray(Z[start : start + rows], dtype=np.float64)
        squared = np.sum(np.square(block[:, None, :] - support_vectors[None, :, :]), axis=2)
        kernel = np.exp(-gamma * squared)
        out[start : start + len(block)] = np.sum(kernel * dual_coef, axis=1) + intercept
    return out


@register
class SpectralSVR(SpectralEstimator):
    """RBF support vector regression on preprocessed spectra, ``C`` and ``gamma`` chosen on
    validation R2.

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
        Share of the spectra held out to choose ``C`` and ``gamma`` when ``fit`` gets no
        validation set (none is held out when there is a single candidate).
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
    ) -> None:
        self.preprocessing = preprocessing
        self.target_transform = target_transform
        self.seed = seed
        self.valid_fraction = valid_fraction
        self.c_values = c_values
        self.gamma_factors = gamma_factors
        self.epsilon = epsilon

    def _check_params(self) -> None:
        for name in ("c_values", "gamma_factors"):
            values = getattr(self, name)
            if (
                isinstance(values, str)
                or not isinstance(values, Sequence)
                or not values
                or not all(_positive_number(v) for v in values)
            ):
                raise ConfigError(
                    f"{name}={values!r} must be a non-empty list of positive numbers",
                    field=f"params.{name}",
                    fix="e.g. c_values: [1, 10, 100] and gamma_factors: [0.1, 1, 10]",
                )
        if isinstance(self.epsilon, bool) or not (
            isinstance(self.epsilon, int | float) and self.epsilon >= 0
        ):
            raise ConfigError(
                f"epsilon={self.epsilon!r} must be a number >= 0",
                field="params.epsilon",
                fix="use scikit-learn's 0.1 (on the standardized target)",
            )

    def _needs_validation(self) -> bool:
        return len(self.c_values) * len(self.gamma_factors) > 1

    def _fit_prepared(self, data: PreparedData) -> None:
        from sklearn.svm import SVR

        Z = data.Z_train.astype(np.float64)
        variance = float(Z.var())
        gamma_scale = 1.0 / (Z.shape[1] * variance) if variance > 0 else 1.0
        scores: list[dict[str, float]] = []
        best, best_r2 = None, -math.inf
        for c in self.c_values:
            for factor in self.gamma_factors:
                gamma = float(factor) * gamma_scale
                svr = SVR(kernel="rbf", C=float(c), gamma=gamma, epsilon=float(self.epsilon))
                svr.fit(Z, data.t_train)
                r2 = math.nan
                if data.Z_valid is not None:
                    r2 = _r2(svr.predict(data.Z_valid.astype(np.float64)), data.t_valid)
                scores.append({"C": float(c), "gamma": gamma, "valid_r2": r2})
                if r2 > best_r2:
                    best, best_r2 = svr, r2
                elif best is None:  # no R2 defined (no validation set, constant target)
                    best = svr
        log.info(
            "SVR: C=%g, gamma=%.3g (%d candidates, validation R2 %.3f), %d support vectors",
            best.C,
            best.gamma,
            len(scores),
            best_r2,
            len(best.support_),
        )
        self.c_ = float(best.C)
        self.gamma_ = float(best.gamma)
        self.support_vectors_ = np.asarray(best.support_vectors_, dtype=np.float64)
        self.dual_coef_ = np.asarray(best.dual_coef_, dtype=np.float64).reshape(-1)
        self.intercept_ = float(best.intercept_[0])
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


def _positive_number(value: Any) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and value > 0
    )


def _r2(prediction: np.ndarray, target: np.ndarray) -> float:
    sst = float(np.sum(np.square(target - target.mean())))
    if sst == 0:
        return math.nan
    return 1.0 - float(np.sum(np.square(prediction - target))) / sst
