"""Regression metrics for soil-property predictions, as pure numpy functions.

Every metric takes observations first and predictions second, like scikit-learn. Inputs are
flattened to 1-D, must have the same length, and pairs in which either value is not finite
(NaN or +-inf) are dropped before computing, so a sample with a missing observation or a
failed prediction does not poison the score. At least two finite pairs must remain.

Invalid inputs raise ``ValueError``: these functions check a programming contract (arrays
handed over by code), not user files, so they follow numpy and scikit-learn.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "DEFAULT_METRICS",
    "METRICS",
    "bias",
    "check_metric_names",
    "lccc",
    "mae",
    "mape",
    "r2",
    "regression_metrics",
    "rmse",
    "rpd",
    "rpiq",
]

DEFAULT_METRICS: tuple[str, ...] = ("r2", "rmse", "mae", "lccc", "bias")


def _paired(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validate a pair of arrays and drop non-finite pairs."""
    obs = _as_vector(y_true, "y_true")
    pred = _as_vector(y_pred, "y_pred")
    if obs.shape != pred.shape:
        raise ValueError(
            f"y_true has {obs.size} values but y_pred has {pred.size}; "
            "pass one prediction per observation"
        )
    finite = np.isfinite(obs) & np.isfinite(pred)
    n_finite = int(finite.sum())
    if n_finite < 2:
        raise ValueError(
            f"need at least 2 pairs with finite y_true and y_pred, got {n_finite} of {obs.size}"
        )
    return obs[finite], pred[finite]


def _as_vector(values: ArrayLike, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    # a single-target column (n, 1), as some estimators return, is unambiguous
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one value per sample), got shape {array.shape}")
    return array


def _ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, with inf or NaN instead of a ZeroDivision warning."""
    if denominator == 0.0:
        return float("nan") if numerator == 0.0 else float(np.copysign(np.inf, numerator))
    return float(numerator / denominator)


METRICS: dict[str, Callable[[ArrayLike, ArrayLike], float]] = {}
"""Metric name -> function(y_true, y_pred) -> float, in the order they are defined below."""

_PAIR_PARAMETERS = """Parameters
    ----------
    y_true, y_pred
        Observed and predicted values, one per sample. Non-finite pairs are dropped.

    """


def _metric(function: Callable[[ArrayLike, ArrayLike], float]) -> Callable[..., float]:
    """Register ``function`` in :data:`METRICS` under its name.

    Its docstring gets the parameter section shared by every metric, unless it has its own.
    """
    doc = function.__doc__ or ""
    if "Parameters\n" not in doc:
        function.__doc__ = doc.replace("Returns\n", _PAIR_PARAMETERS + "Returns\n", 1)
    METRICS[function.__name__] = function
    return function


def _rmse(obs: np.ndarray, pred: np.ndarray) -> float:
    return float(np.sqrt(np.mean((pred - obs) ** 2)))


@_metric
def r2(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Coefficient of determination, 1 - SS_res / SS_tot.

    Returns
    -------
    float
        R2; negative when the predictions are worse than the mean of the observations.
        NaN when the observations are constant (R2 is undefined then).
    """
    obs, pred = _paired(y_true, y_pred)
    ss_res = float(np.sum((obs - pred) ** 2))
    ss_tot = float(np.sum((obs - obs.mean()) ** 2))
    if ss_tot == 0.0:
        return float("nan")
    return 1.0 - ss_res / ss_tot


@_metric
def rmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Root mean squared error, in the units of the target.

    Returns
    -------
    float
        sqrt(mean((pred - obs)**2)).
    """
    return _rmse(*_paired(y_true, y_pred))


@_metric
def mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute error, in the units of the target.

    Returns
    -------
    float
        mean(abs(pred - obs)).
    """
    obs, pred = _paired(y_true, y_pred)
    return float(np.mean(np.abs(pred - obs)))


@_metric
def bias(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean error, predicted minus observed, in the units of the target.

    Returns
    -------
    float
        mean(pred - obs); positive when the model over-predicts.
    """
    obs, pred = _paired(y_true, y_pred)
    return float(np.mean(pred - obs))


@_metric
def lccc(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Lin's concordance correlation coefficient.

    Agreement with the 1:1 line: it equals the Pearson correlation times a penalty for
    location and scale shifts, so it is 1 only for identical values and drops below
    Pearson's r under any bias (Lin 1989).

    Returns
    -------
    float
        2 cov(obs, pred) / (var(obs) + var(pred) + (mean(obs) - mean(pred))**2), with
        population (ddof=0) moments as in Lin's definition. NaN when both series are the
        same constant.
    """
    obs, pred = _paired(y_true, y_pred)
    obs_mean, pred_mean = obs.mean(), pred.mean()
    covariance = float(np.mean((obs - obs_mean) * (pred - pred_mean)))
    denominator = float(obs.var() + pred.var() + (obs_mean - pred_mean) ** 2)
    return _ratio(2.0 * covariance, denominator)


@_metric
def mape(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute percentage error, in percent.

    Parameters
    ----------
    y_true, y_pred
        Observed and predicted values, one per sample. Non-finite pairs are dropped, and
        so are pairs whose observation is zero (their percentage error is undefined).

    Returns
    -------
    float
        100 * mean(abs((pred - obs) / obs)) over non-zero observations; NaN when every
        observation is zero.
    """
    obs, pred = _paired(y_true, y_pred)
    nonzero = obs != 0.0
    if not nonzero.any():
        return float("nan")
    return float(100.0 * np.mean(np.abs((pred[nonzero] - obs[nonzero]) / obs[nonzero])))


@_metric
def rpd(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Ratio of performance to deviation, sd(obs) / RMSE.

    Returns
    -------
    float
        Sample standard deviation of the observations (ddof=1) over the RMSE; inf for a
        perfect fit of varying observations.
    """
    obs, pred = _paired(y_true, y_pred)
    return _ratio(float(np.std(obs, ddof=1)), _rmse(obs, pred))


@_metric
def rpiq(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Ratio of performance to interquartile distance, IQR(obs) / RMSE.

    Preferred over RPD for skewed soil properties, since the IQR does not assume normality
    (Bellon-Maurel et al. 2010).

    Returns
    -------
    float
        (Q3 - Q1) of the observations (linear interpolation) over the RMSE; inf for a
        perfect fit of varying observations.
    """
    obs, pred = _paired(y_true, y_pred)
    q1, q3 = np.percentile(obs, [25.0, 75.0])
    return _ratio(float(q3 - q1), _rmse(obs, pred))


def check_metric_names(names: Sequence[str]) -> tuple[str, ...]:
    """Return ``names`` as a tuple after checking every name is in :data:`METRICS`.

    Parameters
    ----------
    names
        Metric names.

    Returns
    -------
    tuple of str
        The same names, in order.

    Raises
    ------
    ValueError
        If a name is unknown, listing the known ones, or if ``names`` is a bare string.
    """
    if isinstance(names, str):
        # a bare string would otherwise be read as a sequence of one-letter names
        raise ValueError(f"names must be a sequence of metric names, got the string {names!r}")
    unknown = [name for name in names if name not in METRICS]
    if unknown:
        raise ValueError(
            f"unknown metric(s) {', '.join(map(repr, unknown))}; "
            f"choose from {', '.join(sorted(METRICS))}"
        )
    return tuple(names)


def regression_metrics(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    names: Sequence[str] = DEFAULT_METRICS,
) -> dict[str, float]:
    """Compute several metrics at once.

    Parameters
    ----------
    y_true, y_pred
        Observed and predicted values, one per sample. Non-finite pairs are dropped.
    names
        Metric names from :data:`METRICS`, in the order wanted in the result.

    Returns
    -------
    dict of str to float
        Metric name -> value, in the order of ``names``.
    """
    names = check_metric_names(names)
    obs, pred = _paired(y_true, y_pred)
    return {name: METRICS[name](obs, pred) for name in names}
