"""What the trust layer asks of an estimator, whichever family it comes from.

Any estimator with ``predict(X)`` works. Two things are used when present:

- a predictive spread: ``supports_dist`` and ``predict_dist(X, levels=...)`` (the geosoil
  contract, DESIGN 4.2: deep ensembles, quantile forests, MC dropout); the spread on the
  model's scale is half the distance between the 15.9th and 84.1st percentiles (one standard
  deviation for a normal);
- variable importance: ``feature_importances_`` (scikit-learn trees, LightGBM) or a
  ``feature_importance()`` method; otherwise the permutation importance computed here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["feature_importance", "model_scale", "permutation_importance", "spread_of"]

_ONE_SD = (0.15865525393145707, 0.8413447460685429)


def model_scale(transform: str) -> Callable[[np.ndarray], np.ndarray]:
    """The function from target units to the model's scale (log10 or identity)."""
    if transform == "log10":
        return lambda y: np.log10(np.maximum(np.asarray(y, dtype=np.float64), 1e-300))
    return lambda y: np.asarray(y, dtype=np.float64)


def spread_of(estimator, X, *, transform: str = "none") -> np.ndarray | None:
    """The estimator's own spread of its prediction on the model's scale, or None."""
    if not getattr(estimator, "supports_dist", False) or not hasattr(estimator, "predict_dist"):
        return None
    _, _, quantiles = estimator.predict_dist(X, levels=_ONE_SD)
    scale = model_scale(transform)
    return 0.5 * (scale(quantiles[1]) - scale(quantiles[0]))


def feature_importance(estimator, X: np.ndarray, y: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Non-negative importance per column of ``X``, from the model or by permutation."""
    for source in ("feature_importances_", "feature_importance"):
        value = getattr(estimator, source, None)
        if callable(value):
            value = value()
        if isinstance(value, dict):  # per covariate, in column order (geosoil tree learners)
            value = list(value.values())
        if value is not None:
            importance = np.asarray(value, dtype=np.float64).reshape(-1)
            if importance.size == np.asarray(X).shape[1] and np.isfinite(importance).all():
                return np.maximum(importance, 0.0)
    return permutation_importance(estimator.predict, X, y, seed=seed)


def permutation_importance(
    predict: Callable[[np.ndarray], np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    *,
    n_repeats: int = 3,
    seed: int = 0,
) -> np.ndarray:
    """Mean increase of the squared error when one column is shuffled (Breiman 2001)."""
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y, dtype=np.float64)
    rng = np.random.default_rng(seed)
    base = np.mean((np.asarray(predict(X), dtype=np.float64).reshape(-1) - y) ** 2)
    importance = np.zeros(X.shape[1])
    for column in range(X.shape[1]):
        shuffled = X.copy()
        for _ in range(n_repeats):
            shuffled[:, column] = X[rng.permutation(len(X)), column]
            error = np.mean((np.asarray(predict(shuffled), np.float64).reshape(-1) - y) ** 2)
            importance[column] += (error - base) / n_repeats
    return np.maximum(importance, 0.0)
