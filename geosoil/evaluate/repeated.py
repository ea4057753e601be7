"""Repeated train/valid/test splits and the runs over them, as the Kex paper evaluates.

Albinet et al. (2022) fit each model on 20 random splits (10 % test, then 10 % of the rest
for validation: early stopping, the number of PLS components) and report the mean and sd
of the test metrics. :func:`train_valid_test_splits` makes such splits, random or grouped
(whole sites or profiles held out, which is closer to predicting an unvisited site);
:func:`run_repeated` fits a fresh estimator on each and keeps its test predictions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from geosoil.errors import ConfigError, SampleDataError
from geosoil.evaluate.repeated_splits import Split, holdout_split, train_valid_test_splits
from geosoil.evaluate.spectral_trust import spectral_trust_columns
from geosoil.evaluate.tables import (
    PAPER_METRICS,
    check_group_columns,
    mean_sd_table,
    metrics_by_group,
    paper_metrics,
)

__all__ = [
    "RepeatedResult",
    "Split",
    "check_target",
    "holdout_split",
    "run_repeated",
    "train_valid_test_splits",
]

log = logging.getLogger(__name__)

PER_SEED_HEAD: tuple[str, ...] = (
    "seed",
    "n_train",
    "n_valid",
    "n_test",
    "fit_seconds",
    "predict_seconds",
)
"""Leading columns of :attr:`RepeatedResult.per_seed`."""


@dataclass(frozen=True)
class RepeatedResult:
    """Test predictions and metrics of one model over repeated splits.

    Attributes
    ----------
    per_seed
        One row per split: :data:`PER_SEED_HEAD` (sizes, fit and predict wall-clock
        seconds), then one column per metric of :data:`~geosoil.evaluate.tables.PAPER_METRICS`
        over that split's test set.
    predictions
        One row per test prediction: ``seed``, ``row`` (position in ``X``), ``observed``,
        ``predicted`` (target units), then the group columns.
    target_transform
        Scale of the log-scale metrics (``"log10"`` or ``"none"``).
    group_columns
        Columns of ``predictions`` that :meth:`table` can group by.
    """

    per_seed: pd.DataFrame
    predictions: pd.DataFrame
    target_transform: str = "log10"
    group_columns: tuple[str, ...] = field(default=())

    @property
    def n_seeds(self) -> int:
        """Number of splits."""
        return len(self.per_seed)

    def table(self, by: str | None = None, *, min_test_samples: int = 10) -> pd.DataFrame:
        """Mean and sd over seeds of each metric, overall or per group value.

        Parameters
        ----------
        by
            None for one overall row (each seed's metrics over its whole test set), or a
            group column (soil order, country, site) for one row per value of it, whose
            metrics use that group's test samples of each seed.
        min_test_samples
            Groups averaging fewer test samples per seed get ``few_samples`` True.

        Returns
        -------
        DataFrame
            See :func:`~geosoil.evaluate.tables.mean_sd_table`.

        Raises
        ------
        SampleDataError
            ``by`` is not one of the group columns, naming those available.
        """
        if by is None:
            return mean_sd_table(self.per_seed, by="all", min_test_samples=min_test_samples)
        check_group_columns([by], self.group_columns, field="by")
        per_group = metrics_by_group(self.predictions, by, target_transform=self.target_transform)
        return mean_sd_table(per_group, by=by, min_test_samples=min_test_samples)

    def pooled(self) -> dict[str, float]:
        """Every metric over all test predictions at once (all folds pooled).

        With predefined folds or one holdout each sample is predicted once, so this is
        the usual cross-validated figure; a per-fold mean can differ much from it on small
        folds (one LimeSoDa set: -0.57 per fold, 0.54 pooled).
        """
        scores = paper_metrics(
            self.predictions["observed"].to_numpy(),
            self.predictions["predicted"].to_numpy(),
            target_transform=self.target_transform,
        )
        return {key: float(value) for key, value in scores.items()}

    def summary(self) -> dict[str, float]:
        """Flat overall figures: ``<metric>_mean``, ``<metric>_sd``, ``<metric>_pooled``,
        ``fit_seconds_mean``."""
        row = self.table().iloc[0]
        out = {
            key: float(row[key])
            for key in row.index
            if key.endswith(("_mean", "_sd")) and key[: key.rindex("_")] in PAPER_METRICS
        }
        out.update({f"{key}_pooled": value for key, value in self.pooled().items()})
        out["n_seeds"] = float(self.n_seeds)
        out["fit_seconds_mean"] = float(self.per_seed["fit_seconds"].mean())
        out["fit_seconds_total"] = float(self.per_seed["fit_seconds"].sum())
        return out


def run_repeated(
    make_estimator: Callable[[int], Any],
    X: ArrayLike,
    y: ArrayLike,
    *,
    axis: Any,
    splits: Sequence[Split],
    frame: pd.DataFrame | None = None,
    group_columns: Sequence[str] = (),
    target_transform: Literal["none", "log10"] = "log10",
    on_fitted: Callable[[Split, Any, dict[str, float]], None] | None = None,
    groups: ArrayLike | None = None,
) -> RepeatedResult:
    """Fit a fresh spectral estimator on each split's train set and predict its test set.

    Parameters
    ----------
    make_estimator
        Called with each split's seed; returns an unfitted estimator with
        ``fit(X, y, *, axis, X_valid, y_valid)`` and ``predict(X, *, axis)``
        (:class:`~geosoil.models.spectral.base.SpectralEstimator`).
    X
        Spectra, (n_samples, n_bands).
    y
        Target in its units, one finite value per sample (strictly positive for log10).
    axis
        The :class:`~geosoil.spectra.SpectralAxis` of ``X``.
    splits
        From :func:`train_valid_test_splits`.
    frame
        Sample table, one row per sample in the order of ``X``, holding the group columns.
    group_columns
        Columns of ``frame`` copied into the predictions for per-group tables.
    target_transform
        Scale of the log-scale metrics; see :func:`~geosoil.evaluate.tables.paper_metrics`.
    on_fitted
        Called as ``on_fitted(split, estimator, test_metrics)`` after each split is scored,
        e.g. to save the model; the result does not keep the estimators.
    groups
        Group label (site) of each sample, passed to ``fit`` as ``groups``/``groups_valid``
        so that inner cross-validation holds out whole groups as the outer split does.

    Returns
    -------
    RepeatedResult

    Raises
    ------
    SampleDataError
        ``y`` not finite, not positive under log10, or a group column missing from ``frame``.
    ConfigError
        No splits.
    ValueError
        Mismatched lengths, or split indices outside the samples.
    """
    spectra = np.asarray(X)
    target = np.asarray(y, dtype=np.float64).reshape(-1)
    n_samples = target.size
    if spectra.ndim != 2 or spectra.shape[0] != n_samples:
        raise ValueError(
            f"X must be (n_samples, n_bands) with {n_samples} rows, got {spectra.shape}"
        )
    check_target(target, target_transform)
    if not splits:
        raise ConfigError("no splits to evaluate", field="splits", fix="set splits.n_seeds >= 1")
    group_columns = list(group_columns)
    if group_columns:
        if frame is None:
            raise ValueError("group_columns need the sample table: pass frame=")
        if len(frame) != n_samples:
            raise ValueError(f"frame has {len(frame)} rows for {n_samples} samples")
        check_group_columns(group_columns, frame.columns)

    per_seed_rows = []
    prediction_parts = []
    for number, split in enumerate(splits, start=1):
        for part in (split.train, split.valid, split.test):
            if part.size and (part.min() < 0 or part.max() >= n_samples):
                raise ValueError(f"split seed {split.seed} has positions outside [0, {n_samples})")
        estimator = make_estimator(split.seed)
        group_kwargs = {}
        if groups is not None:
            labels = np.asarray(groups, dtype=object).reshape(-1)
            group_kwargs = {"groups": labels[split.train], "groups_valid": labels[split.valid]}
        started = time.perf_counter()
        estimator.fit(
            spectra[split.train],
            target[split.train],
            axis=axis,
            X_valid=spectra[split.valid],
            y_valid=target[split.valid],
            **group_kwargs,
        )
        fit_seconds = time.perf_counter() - started
        started = time.perf_counter()
        predicted = np.asarray(estimator.predict(spectra[split.test], axis=axis), dtype=np.float64)
        predict_seconds = time.perf_counter() - started
        predicted = predicted.reshape(-1)
        if predicted.size != split.test.size:
            raise ValueError(
                f"split seed {split.seed}: predict returned {predicted.size} values for "
                f"{split.test.size} test spectra"
            )
        observed = target[split.test]
        scores = paper_metrics(observed, predicted, target_transform=target_transform)
        per_seed_rows.append(
            {
                "seed": split.seed,
                "n_train": split.train.size,
                "n_valid": split.valid.size,
                "n_test": split.test.size,
                "fit_seconds": fit_seconds,
                "predict_seconds": predict_seconds,
                **scores,
            }
        )
        part = pd.DataFrame(
            {
                "seed": np.full(split.test.size, split.seed, dtype=np.int64),
                "row": split.test.astype(np.int64),
                "observed": observed,
                "predicted": predicted,
            }
        )
        for name, values in spectral_trust_columns(
            estimator, spectra, target, split, axis=axis, transform=target_transform,
            predicted=predicted,
        ).items():  # fmt: skip
            part[name] = values
        for column in group_columns:
            part[column] = frame[column].to_numpy()[split.test]
        prediction_parts.append(part)
        log.info(
            "split %d/%d (seed %d): n_train=%d fit %.1f s, test r2=%.3f rmse=%.4g",
            number,
            len(splits),
            split.seed,
            split.train.size,
            fit_seconds,
            scores["r2"],
            scores["rmse"],
        )
        if on_fitted is not None:
            on_fitted(split, estimator, scores)

    per_seed = pd.DataFrame(per_seed_rows, columns=[*PER_SEED_HEAD, *PAPER_METRICS])
    return RepeatedResult(
        per_seed=per_seed,
        predictions=pd.concat(prediction_parts, ignore_index=True),
        target_transform=target_transform,
        group_columns=tuple(group_columns),
    )


def check_target(target: np.ndarray, target_transform: str) -> None:
    """Refuse a target with non-finite values, or non-positive ones under log10."""
    n_bad = int(np.count_nonzero(~np.isfinite(target)))
    if n_bad:
        raise SampleDataError(
            f"the target has {n_bad} missing or non-finite value(s)",
            field="target",
            fix="drop those samples from the table before evaluating",
        )
    if target_transform == "log10":
        n_nonpositive = int(np.count_nonzero(target <= 0))
        if n_nonpositive:
            raise SampleDataError(
                f"the target has {n_nonpositive} zero or negative value(s), which have no log10",
                field="target_transform",
                fix="drop those samples or use target_transform: none",
            )
    elif target_transform != "none":
        raise ConfigError(
            f"unknown target_transform {target_transform!r}",
            field="target_transform",
            fix="use 'log10' or 'none'",
        )
