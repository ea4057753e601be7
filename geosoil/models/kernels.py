"""RBF kernel pieces shared by the support vector learners (spectral and covariate).

Fitting goes through scikit-learn's ``SVR`` on a precomputed kernel; what a fitted model
keeps is its support vectors, dual coefficients and intercept, which
:func:`rbf_decision_function` evaluates in numpy, so an artifact holds arrays only.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from geosoil.errors import ConfigError

__all__ = ["check_svr_settings", "rbf_decision_function", "squared_distances"]

# Rows per product at prediction. Every product has this shape (the last chunk is padded), so
# BLAS takes the same path for every row and a row's value never depends on its batch.
_CHUNK_ROWS = 1024


def rbf_decision_function(
    Z: np.ndarray,
    support_vectors: np.ndarray,
    dual_coef: np.ndarray,
    intercept: float,
    gamma: float,
) -> np.ndarray:
    """``sum_i dual_coef_i exp(-gamma ||z - sv_i||^2) + intercept`` for each row ``z``.

    Squared distances come from :func:`squared_distances` (one matrix product per chunk of
    rows), in float64.

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
    Z = np.asarray(Z, dtype=np.float64)
    vectors = np.asarray(support_vectors, dtype=np.float64)
    coefficients = np.asarray(dual_coef, dtype=np.float64)
    out = np.empty(len(Z))
    padded = np.zeros((_CHUNK_ROWS, Z.shape[1]))
    kernel = np.empty((_CHUNK_ROWS, len(vectors)))
    for start in range(0, len(Z), _CHUNK_ROWS):
        rows = min(_CHUNK_ROWS, len(Z) - start)
        padded[:rows] = Z[start : start + rows]
        squared_distances(padded, vectors, out=kernel)
        kernel *= -gamma
        np.exp(kernel, out=kernel)
        out[start : start + rows] = (kernel @ coefficients)[:rows] + intercept
    return out


def squared_distances(A: np.ndarray, B: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    """(len(A), len(B)) squared Euclidean distances ``|a|^2 + |b|^2 - 2 a.b``, clipped at 0
    (float64; written into ``out`` when given)."""
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    out = np.matmul(A, B.T, out=out)
    out *= -2.0
    out += np.einsum("ij,ij->i", A, A)[:, None]
    out += np.einsum("ij,ij->i", B, B)
    return np.maximum(out, 0.0, out=out)


def _positive_number(value: Any) -> bool:
    """Whether ``value`` is a finite number above zero (booleans are not numbers here)."""
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and value > 0
    )


def check_svr_settings(estimator: Any, *, field_prefix: str) -> None:
    """Refuse an SVR's ``c_values``/``gamma_factors`` that are not non-empty lists of positive
    numbers and an ``epsilon`` below zero (``field_prefix``: where the settings sit in the
    config, e.g. ``"model.params"``)."""
    for name in ("c_values", "gamma_factors"):
        values = getattr(estimator, name)
        if (
            isinstance(values, str)
            or not isinstance(values, Sequence)
            or not values
            or not all(_positive_number(v) for v in values)
        ):
            signature = inspect.signature(type(estimator).__init__).parameters
            defaults = {n: list(signature[n].default) for n in ("c_values", "gamma_factors")}
            raise ConfigError(
                f"{name}={values!r} must be a non-empty list of positive numbers",
                field=f"{field_prefix}.{name}",
                fix=f"e.g. c_values: {defaults['c_values']} and "
                f"gamma_factors: {defaults['gamma_factors']}",
            )
    epsilon = estimator.epsilon
    if isinstance(epsilon, bool) or not (isinstance(epsilon, int | float) and epsilon >= 0):
        raise ConfigError(
            f"epsilon={epsilon!r} must be a number >= 0",
            field=f"{field_prefix}.epsilon",
            fix="use scikit-learn's 0.1 (on the standardized target)",
        )
