"""Cross-validation of any estimator that follows the scikit-learn contract."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from tqdm import tqdm

from geosoil.errors import ConfigError
from geosoil.evaluate.metrics import DEFAULT_METRICS, check_metric_names, regression_metrics

__all__ = ["CVResult", "cross_validate", "on_common_rows"]

log = logging.getLogger(__name__)

PER_FOLD_COLUMNS: tuple[str, ...] = ("fold", "n_train", "n_test")
PREDICTION_COLUMNS: tuple[str, ...] = ("row", "fold", "observed", "predicted")


@dataclass(frozen=True)
class CVResult:
    """Out-of-fold predictions and metrics of one cross-validation run.

    Attributes
    ----------
    per_fold
        One row per fold: ``fold`` (0-based), ``n_train``, ``n_test``, then one column per
        metric. A fold with fewer than two finite test pairs has NaN metrics.
    predictions
        One row per out-of-fold prediction, sorted by ``row`` then ``fold``: ``row`` (the
        position of the sample in ``X`` and ``y``), ``fold``, ``observed``, ``predicted``.
    metric_names
        The metric columns of ``per_fold``, in order.
    """

    per_fold: pd.DataFrame
    predictions: pd.DataFrame
    metric_names: tuple[str, ...] = field(default=DEFAULT_METRICS)

    @property
    def n_splits(self) -> int:
        """Number of folds."""
        return len(self.per_fold)

    def pooled(self) -> dict[str, float]:
        """Metrics over all out-of-fold predictions at once.

        Returns
        -------
        dict of str to float
            Metric name -> value. Unlike the fold mean, this weighs every sample equally and
            is what an observed-vs-predicted plot shows.
        """
        return regression_metrics(
            self.predictions["observed"].to_numpy(),
            self.predictions["predicted"].to_numpy(),
            names=self.metric_names,
        )

    def on_rows(self, keep: np.ndarray) -> CVResult:
        """This result scored only on the sample rows where ``keep`` (bool, one per sample
        of ``X``) is true: predictions of other rows dropped, per-fold metrics recomputed."""
        predictions = self.predictions[keep[self.predictions["row"].to_numpy()]]
        per_fold = self.per_fold.copy()
        for position, fold in enumerate(per_fold["fold"]):
            part = predictions[predictions["fold"] == fold]
            scores = _fold_metrics(
                part["observed"].to_numpy(), part["predicted"].to_numpy(), self.metric_names
            )
            for name, value in scores.items():
                per_fold.loc[position, name] = value
        return CVResult(
            per_fold=per_fold,
            predictions=predictions.reset_index(drop=True),
            metric_names=self.metric_names,
        )

    def summary(self) -> dict[str, dict[str, float]]:
        """Mean and standard deviation over folds, and pooled out-of-fold metrics.

        Returns
        -------
        dict
            ``{"mean": {metric: value}, "sd": {...}, "pooled": {...}}``. The sd is the
            sample standard deviation (ddof=1) across folds; folds with NaN metrics are
            skipped.
        """
        columns = self.per_fold[list(self.metric_names)].astype(float)
        return {
            "mean": {name: float(columns[name].mean()) for name in self.metric_names},
            "sd": {name: float(columns[name].std(ddof=1)) for name in self.metric_names},
            "pooled": self.pooled(),
        }


def cross_validate(
    make_estimator: Callable[[], Any],
    X: Any,
    y: ArrayLike,
    folds: Sequence[tuple[ArrayLike, ArrayLike]],
    *,
    groups: ArrayLike | None = None,
    metrics: Sequence[str] = DEFAULT_METRICS,
    intervals: bool = False,
    on_fold: Callable[[int, Any, np.ndarray], None] | None = None,
) -> CVResult:
    """Fit a fresh estimator on each training fold and predict its test fold.

    Parameters
    ----------
    make_estimator
        Zero-argument callable returning a new, unfitted estimator with ``fit(X, y)`` (which
        returns the estimator) and ``predict(X)``. A fresh one per fold keeps folds from
        sharing learned state.
    X
        Features, one row per sample: a pandas DataFrame (rows taken with ``.iloc``, so the
        index labels do not matter) or an array.
    y
        Target, one finite value per sample, in the target's units.
    folds
        ``(train_idx, test_idx)`` positional index pairs, as from
        :func:`~geosoil.evaluate.splits.random_kfold` and its siblings. Folds need not
        cover every sample; a sample in several test folds (repeated CV) gets one
        prediction row per fold.
    groups
        Optional group label per sample. When given, a fold in which a group is both in
        train and test is refused, which catches folds built from another grouping.
    metrics
        Metric names from :data:`~geosoil.evaluate.metrics.METRICS`.
    intervals
        Also record ``lower_90`` and ``upper_90`` (the 5th and 95th percentiles of
        ``predict_dist``) for estimators whose ``supports_dist`` is true.
    on_fold
        Called as ``on_fold(fold, fitted_model, test_idx)`` after each fold's prediction,
        e.g. to record the model's spread on the test rows for conformal calibration.

    Returns
    -------
    CVResult
        Per-fold metrics and out-of-fold predictions.

    Raises
    ------
    ValueError
        If ``X``, ``y`` and ``groups`` differ in length, ``y`` is not finite, a fold has
        out-of-range, overlapping or empty indices, or an estimator returns the wrong
        number of predictions.
    ConfigError
        If ``folds`` is empty or a group straddles train and test.
    """
    metric_names = check_metric_names(metrics)
    target = np.asarray(y, dtype=float)
    if target.ndim == 2 and target.shape[1] == 1:
        target = target[:, 0]
    if target.ndim != 1:
        raise ValueError(f"y must be 1-D (one value per sample), got shape {target.shape}")
    n_samples = target.size
    if len(X) != n_samples:
        raise ValueError(f"X has {len(X)} rows but y has {n_samples} values")
    n_bad = int(np.count_nonzero(~np.isfinite(target)))
    if n_bad:
        raise ValueError(
            f"y has {n_bad} non-finite value(s); drop those samples before cross-validation"
        )
    group_labels = None
    if groups is not None:
        group_labels = np.asarray(groups, dtype=object).reshape(-1)
        if group_labels.size != n_samples:
            raise ValueError(f"groups has {group_labels.size} labels but y has {n_samples}")
    if len(folds) == 0:
        raise ConfigError("no folds to cross-validate", field="folds", fix="pass at least one fold")
    rows_of = _row_taker(X)

    fold_rows: list[dict[str, float]] = []
    prediction_parts: list[pd.DataFrame] = []
    n_folds = len(folds)
    # A bar on a terminal only (disable=None): logs and captured output stay clean.
    bar = tqdm(folds, desc="cross-validation", unit="fold", disable=None, leave=False)
    for fold, (train, test) in enumerate(bar):
        train_idx = _check_indices(train, n_samples, fold, "train")
        test_idx = _check_indices(test, n_samples, fold, "test")
        if np.intersect1d(train_idx, test_idx).size:
            raise ValueError(f"fold {fold}: train and test indices overlap")
        if group_labels is not None:
            _check_no_straddle(group_labels, train_idx, test_idx, fold)

        estimator = make_estimator()
        fitted = estimator.fit(rows_of(train_idx), target[train_idx])
        # the contract says fit returns self, but a None return should not break CV
        model = estimator if fitted is None else fitted
        predicted = np.asarray(model.predict(rows_of(test_idx)), dtype=float)
        if predicted.ndim == 2 and predicted.shape[1] == 1:
            predicted = predicted[:, 0]
        if predicted.shape != test_idx.shape:
            raise ValueError(
                f"fold {fold}: predict returned shape {predicted.shape} "
                f"for {test_idx.size} test rows"
            )
        n_nonfinite = int(np.count_nonzero(~np.isfinite(predicted)))
        if n_nonfinite:
            log.warning(
                "fold %d: %d non-finite prediction(s), left out of the metrics",
                fold,
                n_nonfinite,
            )

        extra = {}
        if intervals and getattr(model, "supports_dist", False):
            _, _, quantiles = model.predict_dist(rows_of(test_idx), levels=(0.05, 0.95))
            extra = {"lower_90": quantiles[0], "upper_90": quantiles[1]}

        if on_fold is not None:
            on_fold(fold, model, test_idx)
        scores = _fold_metrics(target[test_idx], predicted, metric_names)
        fold_rows.append(
            {"fold": fold, "n_train": train_idx.size, "n_test": test_idx.size, **scores}
        )
        prediction_parts.append(
            pd.DataFrame(
                {
                    "row": test_idx,
                    "fold": np.full(test_idx.size, fold, dtype=np.int64),
                    "observed": target[test_idx],
                    "predicted": predicted,
                    **extra,
                }
            )
        )
        log.info(
            "fold %d/%d: n_train=%d n_test=%d %s",
            fold + 1,
            n_folds,
            train_idx.size,
            test_idx.size,
            " ".join(f"{name}={value:.4g}" for name, value in scores.items()),
        )

    per_fold = pd.DataFrame(fold_rows, columns=[*PER_FOLD_COLUMNS, *metric_names])
    per_fold = per_fold.astype({"fold": np.int64, "n_train": np.int64, "n_test": np.int64})
    predictions = (
        pd.concat(prediction_parts, ignore_index=True)
        .sort_values(["row", "fold"], kind="stable")
        .reset_index(drop=True)
    )
    return CVResult(per_fold=per_fold, predictions=predictions, metric_names=metric_names)


def on_common_rows(results: dict[str, CVResult]) -> tuple[dict[str, CVResult], int]:
    """Every result scored on the same rows: those that every result predicted with a
    finite value. A learner that abstains on a row (a class its training fold lacked) would
    otherwise be scored on fewer, and often easier, rows than the others. Returns the
    restricted results (the same objects when nothing is left out) and the rows kept."""
    n_samples = 1 + max(int(r.predictions["row"].max()) for r in results.values())
    keep = np.ones(n_samples, dtype=bool)
    for result in results.values():
        rows = result.predictions["row"].to_numpy()
        values = result.predictions["predicted"].to_numpy()
        predicted = np.zeros(n_samples, dtype=bool)
        predicted[rows] = True
        predicted[rows[~np.isfinite(values)]] = False
        keep &= predicted
    if keep.all():
        return dict(results), n_samples
    return {name: result.on_rows(keep) for name, result in results.items()}, int(keep.sum())


def _row_taker(X: Any) -> Callable[[np.ndarray], Any]:
    """Positional row selection for DataFrames (``.iloc``) and arrays alike."""
    if hasattr(X, "iloc"):
        return lambda idx: X.iloc[idx]
    array = np.asarray(X)
    return lambda idx: array[idx]


def _check_indices(indices: ArrayLike, n_samples: int, fold: int, role: str) -> np.ndarray:
    idx = np.asarray(indices).reshape(-1)
    if idx.size == 0:
        raise ValueError(f"fold {fold}: the {role} set is empty")
    if not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(
            f"fold {fold}: {role} indices must be integer positions, got dtype {idx.dtype}"
        )
    if idx.min() < 0 or idx.max() >= n_samples:
        raise ValueError(
            f"fold {fold}: {role} indices must lie in [0, {n_samples}), "
            f"got [{idx.min()}, {idx.max()}]"
        )
    return idx.astype(np.int64, copy=False)


def _check_no_straddle(
    group_labels: np.ndarray, train_idx: np.ndarray, test_idx: np.ndarray, fold: int
) -> None:
    shared = set(group_labels[train_idx]).intersection(group_labels[test_idx])
    if shared:
        examples = ", ".join(repr(label) for label in sorted(shared, key=str)[:3])
        raise ConfigError(
            f"fold {fold}: {len(shared)} group(s) are in both train and test (e.g. {examples})",
            field="folds",
            fix="build the folds from the same groups, e.g. grouped_kfold(groups)",
        )


def _fold_metrics(
    observed: np.ndarray, predicted: np.ndarray, metric_names: tuple[str, ...]
) -> dict[str, float]:
    finite = np.isfinite(observed) & np.isfinite(predicted)
    # leave-one-out and tiny folds: metrics need two pairs, the pooled ones still work
    if np.count_nonzero(finite) < 2:
        return dict.fromkeys(metric_names, float("nan"))
    return regression_metrics(observed, predicted, names=metric_names)
