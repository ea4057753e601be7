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


@dataclass(frozen=True, eq=False)
class Split:
    """One train/valid/test partition: sorted int64 positions, disjoint.

    ``seed`` alone rebuilds it (:func:`train_valid_test_splits` draws split ``i`` from
    ``numpy.random.default_rng(seed + i)``) and seeds the estimator fitted on it.
    """

    seed: int
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray


def train_valid_test_splits(
    n_samples: int,
    *,
    scheme: Literal["random", "grouped", "predefined"] = "random",
    groups: ArrayLike | None = None,
    n_seeds: int = 20,
    test_fraction: float = 0.1,
    valid_fraction: float = 0.1,
    seed: int = 0,
) -> list[Split]:
    """Repeated train/valid/test splits: the test set first, then valid from the rest.

    Parameters
    ----------
    n_samples
        Number of samples; positions run from 0 to ``n_samples - 1``.
    scheme
        ``"random"``: samples are shuffled and cut. ``"grouped"``: whole groups go to test,
        then whole groups of the rest to valid, so no group straddles two sets.
        ``"predefined"``: ``groups`` are the folds of a published cross-validation (e.g.
        LimeSoDa's ``fold``); split ``i`` tests on the ``i``-th fold in sorted order and
        draws valid at random from the other folds, so results compare with the
        literature's. ``test_fraction`` is not used.
    groups
        One label per sample (site, profile), required for ``"grouped"``; the fold of each
        sample for ``"predefined"``.
    n_seeds
        Number of splits. Split ``i`` has seed ``seed + i`` and is drawn from
        ``default_rng(seed + i)`` alone, so one split can be rebuilt without the others.
        With predefined folds, at most one split per fold.
    test_fraction
        Share of the samples in the test set.
    valid_fraction
        Share of the remaining (non-test) samples in the validation set, as in the paper.
    seed
        Seed of the first split.

    Returns
    -------
    list of Split
        ``n_seeds`` splits. Random splits have exactly ``round(test_fraction * n)`` test
        samples (at least 1) and ``round(valid_fraction * rest)`` valid samples (at least
        1); grouped splits come as close to those counts as whole groups allow.

    Raises
    ------
    ConfigError
        Fractions outside (0, 1), ``n_seeds`` below 1, an unknown scheme, too few samples,
        or fewer than three groups (train, valid and test each need one).
    SampleDataError
        A missing group label.
    """
    n_samples = int(n_samples)
    _check_split_settings(n_seeds, test_fraction, valid_fraction)
    if scheme == "random":
        if n_samples < 3:
            raise ConfigError(
                f"{n_samples} samples are too few for train, valid and test sets",
                field="splits",
                fix="use at least 3 samples (tens for meaningful metrics)",
            )
        if groups is not None:
            raise ConfigError(
                "groups were given for a random split",
                field="splits.scheme",
                fix="use scheme 'grouped' to hold whole groups out, or drop the groups",
            )
        make = _random_split
        codes = None
    elif scheme == "grouped":
        codes = _group_codes(groups, n_samples)
        make = _grouped_split
    elif scheme == "predefined":
        return _predefined_splits(n_samples, groups, n_seeds, valid_fraction, seed)
    else:
        raise ConfigError(
            f"unknown split scheme {scheme!r}",
            field="splits.scheme",
            fix="use 'random', 'grouped' or 'predefined'",
        )
    return [make(n_samples, codes, seed + i, test_fraction, valid_fraction) for i in range(n_seeds)]


def _predefined_splits(
    n_samples: int, folds: ArrayLike | None, n_seeds: int, valid_fraction: float, seed: int
) -> list[Split]:
    """One split per published fold (up to ``n_seeds``): that fold is the test set."""
    field = "splits.fold_column"
    if folds is None:
        raise ConfigError(
            "predefined splits need the fold of every sample",
            field=field,
            fix="set splits.fold_column to the table's fold column (e.g. LimeSoDa's 'fold')",
        )
    codes = _group_codes(folds, n_samples, minimum=2, field=field, sort=True)
    splits = []
    for fold in range(min(int(codes.max()) + 1, int(n_seeds))):
        rest = np.flatnonzero(codes != fold)
        order = np.random.default_rng(seed + fold).permutation(rest)
        n_valid = min(max(1, round(valid_fraction * rest.size)), rest.size - 1)
        splits.append(
            Split(
                seed=seed + fold,
                train=np.sort(order[n_valid:]),
                valid=np.sort(order[:n_valid]),
                test=np.flatnonzero(codes == fold),
            )
        )
    return splits


def _check_split_settings(n_seeds: int, test_fraction: float, valid_fraction: float) -> None:
    if int(n_seeds) != n_seeds or n_seeds < 1:
        raise ConfigError(
            f"n_seeds={n_seeds} is not a whole number of at least 1",
            field="splits.n_seeds",
            fix="use 1 or more splits (the paper uses 20)",
        )
    for name, value in (("test_fraction", test_fraction), ("valid_fraction", valid_fraction)):
        if not 0.0 < float(value) < 1.0:
            raise ConfigError(
                f"{name}={value} is not a share between 0 and 1",
                field=f"splits.{name}",
                fix="use e.g. 0.1 (10 %)",
            )


def _group_codes(
    groups: ArrayLike | None,
    n_samples: int,
    *,
    minimum: int = 3,
    field: str = "splits.group_column",
    sort: bool = False,
) -> np.ndarray:
    if groups is None:
        raise ConfigError(
            "a grouped split needs a group label per sample",
            field=field,
            fix="set splits.group_column to a site or profile column",
        )
    codes, uniques = pd.factorize(np.asarray(groups, dtype=object).reshape(-1), sort=sort)
    if codes.size != n_samples:
        raise ValueError(f"groups has {codes.size} labels for {n_samples} samples")
    n_missing = int(np.count_nonzero(codes < 0))
    if n_missing:
        raise SampleDataError(
            f"{n_missing} sample(s) have no group label",
            field=field,
            fix="give every sample a group (e.g. a site id) or drop the unlabelled samples",
        )
    if len(uniques) < minimum:
        sets = "train/valid/test sets" if minimum == 3 else "a train and a holdout set"
        raise ConfigError(
            f"{len(uniques)} distinct group(s) are too few for grouped {sets}",
            field=field,
            fix=f"use a column with at least {minimum} groups (tens for stable metrics), "
            "or random splits",
        )
    return codes.astype(np.int64)


def _random_split(
    n_samples: int, _codes: None, seed: int, test_fraction: float, valid_fraction: float
) -> Split:
    order = np.random.default_rng(seed).permutation(n_samples)
    n_test = min(max(1, round(test_fraction * n_samples)), n_samples - 2)
    rest = order[n_test:]
    n_valid = min(max(1, round(valid_fraction * rest.size)), rest.size - 1)
    return Split(
        seed=seed,
        train=np.sort(rest[n_valid:]),
        valid=np.sort(rest[:n_valid]),
        test=np.sort(order[:n_test]),
    )


def _grouped_split(
    n_samples: int, codes: np.ndarray, seed: int, test_fraction: float, valid_fraction: float
) -> Split:
    rng = np.random.default_rng(seed)
    sizes = np.bincount(codes)
    order = rng.permutation(sizes.size)
    test_groups = _take_groups(order, sizes, test_fraction * n_samples, keep_back=2)
    rest = order[~np.isin(order, test_groups)]
    valid_groups = _take_groups(rest, sizes, valid_fraction * sizes[rest].sum(), keep_back=1)
    role = np.zeros(sizes.size, dtype=np.int8)  # 0 train, 1 valid, 2 test
    role[valid_groups] = 1
    role[test_groups] = 2
    of_sample = role[codes]
    return Split(
        seed=seed,
        train=np.flatnonzero(of_sample == 0),
        valid=np.flatnonzero(of_sample == 1),
        test=np.flatnonzero(of_sample == 2),
    )


def _take_groups(
    order: np.ndarray, sizes: np.ndarray, target: float, *, keep_back: int
) -> np.ndarray:
    """Groups, in ``order``, whose summed size comes closest to ``target`` from a greedy pass.

    The first group is always taken; a later one is taken when it brings the total closer
    to the target. ``keep_back`` groups are left for the other sets.
    """
    taken: list[int] = []
    total = 0
    for group in order[: order.size - keep_back]:
        size = int(sizes[group])
        if not taken or abs(total + size - target) < abs(total - target):
            taken.append(int(group))
            total += size
        if total >= target:
            break
    return np.asarray(taken, dtype=np.int64)


def holdout_split(
    n_samples: int,
    *,
    fraction: float = 0.1,
    groups: ArrayLike | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """One seeded train/holdout partition: random samples, or whole groups when given.

    Parameters
    ----------
    n_samples
        Number of samples.
    fraction
        Share of the samples held out (at least 2 samples, or one group).
    groups
        Optional label per sample; whole groups are held out, so none straddles.
    seed
        Seed of the shuffle.

    Returns
    -------
    (ndarray, ndarray)
        Sorted int64 positions of the training and the held-out samples.

    Raises
    ------
    ConfigError
        ``fraction`` outside (0, 1), fewer than 4 samples, or fewer than 2 groups.
    SampleDataError
        A missing group label.
    """
    if not 0.0 < float(fraction) < 1.0:
        raise ConfigError(
            f"valid_fraction={fraction} is not a share between 0 and 1",
            field="valid_fraction",
            fix="use e.g. 0.1 (10 %)",
        )
    n_samples = int(n_samples)
    rng = np.random.default_rng(seed)
    if groups is None:
        if n_samples < 4:
            raise ConfigError(
                f"{n_samples} samples are too few for a training and a validation set",
                field="valid_fraction",
                fix="use more samples (tens at least)",
            )
        order = rng.permutation(n_samples)
        n_out = min(max(2, round(fraction * n_samples)), n_samples - 2)
        return np.sort(order[n_out:]), np.sort(order[:n_out])
    codes = _group_codes(groups, n_samples, minimum=2, field="group_column")
    sizes = np.bincount(codes)
    held = _take_groups(rng.permutation(sizes.size), sizes, fraction * n_samples, keep_back=1)
    out = np.isin(codes, held)
    return np.flatnonzero(~out), np.flatnonzero(out)


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

    def summary(self) -> dict[str, float]:
        """Flat overall figures: ``<metric>_mean``, ``<metric>_sd``, ``fit_seconds_mean``."""
        row = self.table().iloc[0]
        out = {
            key: float(row[key])
            for key in row.index
            if key.endswith(("_mean", "_sd")) and key[: key.rindex("_")] in PAPER_METRICS
        }
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
        started = time.perf_counter()
        estimator.fit(
            spectra[split.train],
            target[split.train],
            axis=axis,
            X_valid=spectra[split.valid],
            y_valid=target[split.valid],
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
