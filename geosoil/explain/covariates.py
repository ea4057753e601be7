"""What a covariate model learned: permutation importance under CV folds, partial dependence.

Permutation importance is measured on held-out folds (spatial blocks where the training used
them): each fold's model is refit on its training rows, and a covariate's importance is how
much the test RMSE grows when that covariate's values are shuffled among the test rows. A
categorical covariate is one column of class codes, so shuffling it moves all its one-hot
classes together (grouped importance).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from geosoil.evaluate.report_parts import agg_figure, png_bytes

__all__ = ["partial_dependence", "partial_dependence_png", "permutation_importance"]


def _rmse(observed: np.ndarray, predicted: np.ndarray) -> float:
    finite = np.isfinite(predicted)
    return float(np.sqrt(np.mean((observed[finite] - predicted[finite]) ** 2)))


def permutation_importance(
    make_estimator: Callable[[], object],
    X: pd.DataFrame,
    y: np.ndarray,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    n_repeats: int = 5,
    seed: int = 0,
) -> pd.DataFrame:
    """RMSE increase when each covariate is shuffled within each held-out fold.

    Returns
    -------
    pandas.DataFrame
        One row per covariate, sorted by importance: ``feature``, ``importance`` (mean RMSE
        increase over folds and repeats, target units), ``importance_sd`` (over folds),
        ``share`` (importance over the sum of positive importances), ``rmse_base`` (mean
        held-out RMSE without shuffling).
    """
    rng = np.random.default_rng(seed)
    y = np.asarray(y, dtype=np.float64)
    per_fold = {name: [] for name in X.columns}
    base_scores = []
    for train, test in folds:
        model = make_estimator().fit(X.iloc[train], y[train])
        test_rows = X.iloc[test].reset_index(drop=True)
        base = _rmse(y[test], np.asarray(model.predict(test_rows), dtype=float))
        base_scores.append(base)
        for name in X.columns:
            increases = []
            for _ in range(n_repeats):
                shuffled = test_rows.copy()
                shuffled[name] = rng.permutation(shuffled[name].to_numpy())
                predicted = np.asarray(model.predict(shuffled), dtype=float)
                increases.append(_rmse(y[test], predicted) - base)
            per_fold[name].append(float(np.mean(increases)))
    table = pd.DataFrame(
        {
            "feature": list(per_fold),
            "importance": [float(np.mean(v)) for v in per_fold.values()],
            "importance_sd": [
                float(np.std(v, ddof=1)) if len(v) > 1 else 0.0 for v in per_fold.values()
            ],
        }
    )
    positive = table["importance"].clip(lower=0).sum()
    table["share"] = table["importance"].clip(lower=0) / positive if positive > 0 else 0.0
    table["rmse_base"] = float(np.mean(base_scores))
    return table.sort_values("importance", ascending=False, ignore_index=True)


def partial_dependence(
    model, X: pd.DataFrame, *, categorical: Sequence[str] = (), n_points: int = 20
) -> pd.DataFrame:
    """Mean prediction over the rows of ``X`` with one covariate set to each grid value.

    Continuous covariates use ``n_points`` quantiles (2.5 to 97.5 %) of their values;
    categorical ones each of their classes.

    Returns
    -------
    pandas.DataFrame
        ``feature``, ``value``, ``mean_prediction``, ``categorical``.
    """
    rows = []
    for name in X.columns:
        column = X[name].to_numpy(dtype=float)
        is_class = name in categorical
        grid = (
            np.unique(column)
            if is_class
            else np.unique(np.quantile(column, np.linspace(0.025, 0.975, n_points)))
        )
        for value in grid:
            changed = X.copy()
            changed[name] = value
            predicted = np.asarray(model.predict(changed), dtype=float)
            rows.append(
                {
                    "feature": name,
                    "value": float(value),
                    "mean_prediction": float(np.nanmean(predicted)),
                    "categorical": is_class,
                }
            )
    return pd.DataFrame(rows)


def partial_dependence_png(curves: pd.DataFrame, *, target: str, units: str) -> bytes:
    """One small panel per covariate: the partial-dependence curve (bars for classes)."""

    names = list(dict.fromkeys(curves["feature"]))
    n_cols = min(4, len(names))
    n_rows = -(-len(names) // n_cols)
    figure = agg_figure(figsize=(3.2 * n_cols, 2.6 * n_rows), layout="constrained")
    axes = figure.subplots(n_rows, n_cols, squeeze=False).reshape(-1)
    label = f"{target} ({units})" if units else target
    for ax, name in zip(axes, names, strict=False):
        part = curves[curves["feature"] == name]
        if part["categorical"].iloc[0]:
            ax.bar([str(int(v)) for v in part["value"]], part["mean_prediction"], color="C0")
        else:
            ax.plot(part["value"], part["mean_prediction"], color="C0")
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_ylabel(label, fontsize=7)
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    figure.suptitle(f"Partial dependence of {target}")
    return png_bytes(figure, dpi=120)
