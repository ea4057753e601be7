"""Partial least squares regression, the baseline of the Kex seed system.

As in Albinet et al. (2022): spectra preprocessed by SNV and a Savitzky-Golay first
derivative (window 11, polynomial order 1), the CO2 band 2269-2389 cm-1 dropped, the target
log10-transformed. The number of components is chosen by the pooled R2 of inner k-fold
cross-validation (10 folds, grouped when the outer split is) and the model is then refitted
on all training spectra; ``selection: holdout`` keeps the paper's choice on one validation
set, without refit.

The solver is PLS1 by NIPALS, written here so that one pass gives the models with 1, 2, ...
``max_components`` components at once, and so that the artifact holds nothing but the
fitted regression vector and intercept as tensors.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import numpy as np
import torch

from geosoil.errors import ConfigError, SampleDataError
from geosoil.models.registry import register
from geosoil.models.spectral.base import CO2_REGION_CM1, PreparedData, SpectralEstimator

__all__ = ["PLSR", "pls1_coefficients"]

log = logging.getLogger(__name__)

# Rows per block when predicting: the float64 products stay near 16 MB for 1700 bands.
_PREDICT_BATCH = 1024

# A weight vector this small relative to the first one means the target is explained to
# float precision: further components would be built from rounding noise.
_EXHAUSTED = 1e-10


def pls1_coefficients(X: np.ndarray, y: np.ndarray, n_components: int) -> np.ndarray:
    """Regression vectors of PLS1 models with 1 to ``n_components`` components.

    NIPALS with the deflation of ``X`` folded into matrix-vector products, so ``X`` is
    never copied or modified: the scores ``t_k = X_k w_k`` are computed as
    ``X w_k - T (P^T w_k)`` and re-orthogonalized against the earlier scores.

    Parameters
    ----------
    X
        Centred predictors, float64 of shape (n, p).
    y
        Centred target, float64 of shape (n,).
    n_components
        Most components to extract.

    Returns
    -------
    ndarray of float64, shape (k, p)
        Row ``j`` is the regression vector ``b`` of the model with ``j + 1`` components
        (prediction ``X b`` for centred ``X``). ``k`` is below ``n_components`` when the
        target is explained exactly by fewer components.
    """
    n, p = X.shape
    W = np.zeros((p, n_components))
    P = np.zeros((p, n_components))
    T = np.zeros((n, n_components))
    q = np.zeros(n_components)
    covariance = X.T @ y
    first_norm = float(np.linalg.norm(covariance))
    found = 0
    for k in range(n_components):
        # X_k^T y_k = X^T y - P T^T y: the deflated covariance, from the undeflated X.
        w = covariance - P[:, :k] @ (T[:, :k].T @ y)
        norm = float(np.linalg.norm(w))
        if norm <= _EXHAUSTED * first_norm:
            break
        w /= norm
        t = X @ w - T[:, :k] @ (P[:, :k].T @ w)
        t -= T[:, :k] @ (T[:, :k].T @ t / np.einsum("ij,ij->j", T[:, :k], T[:, :k]))
        tt = float(t @ t)
        W[:, k], T[:, k] = w, t
        P[:, k] = X.T @ t / tt
        q[k] = float(y @ t) / tt
        found = k + 1
    coefficients = np.empty((found, p))
    for j in range(1, found + 1):
        # b_j = W_j (P_j^T W_j)^-1 q_j (P_j^T W_j is upper triangular in NIPALS).
        rotations = W[:, :j] @ np.linalg.inv(P[:, :j].T @ W[:, :j])
        coefficients[j - 1] = rotations @ q[:j]
    return coefficients


@register
class PLSR(SpectralEstimator):
    """PLS regression on preprocessed spectra, components chosen by inner CV, then refit.

    Parameters
    ----------
    n_components
        Components of the model; None chooses among 1..``max_components`` the count with the
        best R2 (on the transformed target scale) of inner cross-validation, or of the
        validation set with ``selection: holdout``.
    max_components
        Largest count tried when ``n_components`` is None.
    preprocessing
        Preprocessing steps; None uses the paper's: SNV, Savitzky-Golay first derivative
        (window 11, order 1) and, on a cm-1 axis, the CO2 band 2269-2389 cm-1 dropped.
    target_transform
        ``"log10"`` (the paper) or ``"none"``.
    seed
        Seeds the validation split.
    valid_fraction
        With ``selection: holdout``: share of the spectra held out to choose
        ``n_components`` when ``fit`` gets no validation set.
    selection
        ``"cv"``: inner ``inner_folds``-fold cross-validation, then refit on all training
        spectra; ``"holdout"``: choice on one validation set, no refit.
    inner_folds
        Folds of the inner cross-validation.

    Notes
    -----
    Learned state: ``n_components_``; ``cv_scores_`` (one dict per count tried by inner
    CV: ``n_components``, ``cv_r2``); ``validation_r2_`` (R2 on the validation set with
    ``k`` components at index ``k - 1``; empty without a validation set); ``coef_`` (the
    regression vector over the preprocessed bands) and ``intercept_``, both on the
    standardized target scale; and the shared state of :class:`SpectralEstimator`.
    No ``predict_dist``: PLSR gives no uncertainty here.
    """

    registry_name = "plsr"
    default_preprocessing = {  # noqa: RUF012 (read-only by convention; copied before use)
        "cm-1": (
            {"name": "snv"},
            {"name": "savgol", "window": 11, "polyorder": 1, "deriv": 1},
            {"name": "drop_regions", "regions": [list(CO2_REGION_CM1)]},
        ),
        "nm": (
            {"name": "snv"},
            {"name": "savgol", "window": 11, "polyorder": 1, "deriv": 1},
        ),
    }

    def __init__(
        self,
        *,
        n_components: int | None = None,
        max_components: int = 30,
        preprocessing: list[dict[str, Any]] | None = None,
        target_transform: Literal["none", "log10"] = "log10",
        seed: int = 0,
        valid_fraction: float = 0.1,
        selection: Literal["cv", "holdout"] = "cv",
        inner_folds: int = 10,
    ) -> None:
        self._store_params(locals())

    def _check_params(self) -> None:
        for name in ("n_components", "max_components"):
            value = getattr(self, name)
            if name == "n_components" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(
                    f"{name}={value!r} must be a whole number of at least 1",
                    field=f"params.{name}",
                    fix="e.g. n_components: null and max_components: 30 to choose on validation",
                )

    def _needs_validation(self) -> bool:
        return self._setting("n_components") is None

    def _candidates(self) -> list[dict[str, Any]]:
        if self.n_components is not None:
            return [{}]
        return [{"n_components": k} for k in range(1, self.max_components + 1)]

    def _candidate_predictions(self, data: PreparedData) -> np.ndarray:
        # One NIPALS pass gives every count; counts the fold cannot support are NaN.
        n, p = data.Z_train.shape
        wanted = min(self.max_components, n - 1, p)
        coefficients, intercepts = _pls_path(data.Z_train, data.t_train, wanted)
        out = np.full((len(data.Z_valid), self.max_components), np.nan)
        out[:, : len(coefficients)] = data.Z_valid.astype(np.float64) @ coefficients.T + intercepts
        return out

    def _fit_prepared(self, data: PreparedData) -> None:
        n, p = data.Z_train.shape
        fixed = self._setting("n_components")
        field = "n_components" if fixed is not None else "max_components"
        wanted = fixed if fixed is not None else self.max_components
        limit = min(n - 1, p)
        if wanted > limit:
            raise SampleDataError(
                f"{wanted} PLS components need at least {wanted + 1} training spectra and "
                f"{wanted} bands, but there are {n} spectra and {p} bands after preprocessing",
                field=f"params.{field}",
                fix=f"lower {field} to at most {limit}, or provide more spectra",
            )
        coefficients, intercepts = _pls_path(data.Z_train, data.t_train, wanted)
        if len(coefficients) < wanted:
            log.info(
                "PLSR: the target is explained exactly by %d component(s); no more are extracted",
                len(coefficients),
            )

        validation_r2 = np.zeros(0)
        if data.Z_valid is not None:
            validation_r2 = _r2_per_model(data.Z_valid, data.t_valid, coefficients, intercepts)
        if fixed is None:
            chosen = int(np.argmax(validation_r2)) + 1
            log.info(
                "PLSR: %d component(s) chosen, validation R2 %.3f (tried 1 to %d)",
                chosen,
                validation_r2[chosen - 1],
                len(coefficients),
            )
        else:
            chosen = min(fixed, len(coefficients))
        self.n_components_ = chosen
        self.validation_r2_ = validation_r2
        self.coef_ = coefficients[chosen - 1].copy()
        self.intercept_ = float(intercepts[chosen - 1])

    def _predict_standardized(self, Z: np.ndarray) -> np.ndarray:
        return _linear_rows(Z, self.coef_, self.intercept_)

    # ----------------------------------------------------------------- artifact
    def export_state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Tensors ``preprocessing.*``, ``coef`` and ``intercept`` (float64); JSON state with
        the pipeline, target scaling, ``n_components`` and ``validation_r2``."""
        self._check_fitted()
        tensors, state = self._export_common()
        tensors["coef"] = torch.from_numpy(self.coef_.copy())
        tensors["intercept"] = torch.tensor(self.intercept_, dtype=torch.float64)
        state["n_components"] = self.n_components_
        state["validation_r2"] = [float(v) for v in self.validation_r2_]
        return tensors, state

    @classmethod
    def from_state(cls, params, tensors, state) -> PLSR:
        model = cls(**params)
        rest = model._restore_common(tensors, state)
        if unexpected := sorted(set(rest) - {"coef", "intercept"}):
            raise ValueError(f"unexpected tensors {unexpected[:3]}")
        model.coef_ = rest["coef"].numpy().astype(np.float64)
        if model.coef_.shape != (len(model.preprocessing_.axis_out_),):
            raise ValueError(f"coef has shape {tuple(model.coef_.shape)}")
        model.intercept_ = float(rest["intercept"])
        model.n_components_ = int(state["n_components"])
        model.validation_r2_ = np.asarray(state["validation_r2"], dtype=np.float64)
        return model


def _pls_path(Z: np.ndarray, t: np.ndarray, n_components: int) -> tuple[np.ndarray, np.ndarray]:
    """Regression vectors (k, p) and intercepts (k,) of the PLS models with 1..k components."""
    Z = Z.astype(np.float64)
    x_mean = Z.mean(axis=0)
    y_mean = float(t.mean())
    Z -= x_mean
    coefficients = pls1_coefficients(Z, t - y_mean, n_components)
    return coefficients, y_mean - coefficients @ x_mean


def _linear_rows(Z: np.ndarray, coef: np.ndarray, intercept: float) -> np.ndarray:
    """``Z @ coef + intercept`` in float64, row by row.

    An elementwise product summed along each row (numpy's pairwise sum) instead of a
    matrix-vector product, whose kernels may round a row differently by its position in
    the block: a row's prediction then never depends on the other rows.
    """
    out = np.empty(len(Z))
    for start in range(0, len(Z), _PREDICT_BATCH):
        block = np.asarray(Z[start : start + _PREDICT_BATCH], dtype=np.float64)
        out[start : start + len(block)] = np.sum(block * coef, axis=1) + intercept
    return out


def _r2_per_model(
    Z: np.ndarray, t: np.ndarray, coefficients: np.ndarray, intercepts: np.ndarray
) -> np.ndarray:
    """Validation R2 of each candidate model (one row of ``coefficients`` each)."""
    sst = float(np.sum(np.square(t - t.mean())))
    if sst == 0:
        raise SampleDataError(
            "the validation targets are all equal, so R2 cannot choose the number of "
            "PLS components",
            field="y_valid",
            fix="use a larger or more varied validation set, or set n_components",
        )
    predictions = Z.astype(np.float64) @ coefficients.T + intercepts  # (n_valid, k)
    sse = np.sum(np.square(predictions - t[:, None]), axis=0)
    return 1.0 - sse / sst
