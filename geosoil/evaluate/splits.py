"""Cross-validation folds: random, grouped (by site) and spatial blocks.

Every generator returns a list of ``(train_idx, test_idx)`` pairs of sorted int64 positions,
one per fold. Each sample lies in exactly one test fold, and the folds depend only on the
inputs and ``seed`` (numpy's ``default_rng``), so a report can be rebuilt exactly.

Random folds overstate the skill of a map wherever samples are spatially autocorrelated:
a test point usually has a training neighbour a few metres away. Grouped and spatial-block
folds hold whole sites or whole areas out, which is closer to predicting an unvisited place.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from geosoil.errors import ConfigError, SampleDataError

__all__ = [
    "Folds",
    "grouped_kfold",
    "random_kfold",
    "spatial_block_ids",
    "spatial_block_kfold",
]

Folds = list[tuple[np.ndarray, np.ndarray]]
"""One ``(train_idx, test_idx)`` pair of positional indices per fold."""


def random_kfold(n_samples: int, *, n_splits: int = 5, seed: int = 0) -> Folds:
    """Shuffle the samples and cut them into ``n_splits`` folds of near-equal size.

    Parameters
    ----------
    n_samples
        Number of samples; indices run from 0 to ``n_samples - 1``.
    n_splits
        Number of folds, at least 2 and at most ``n_samples``.
    seed
        Seed of the shuffle.

    Returns
    -------
    list of (ndarray, ndarray)
        ``(train_idx, test_idx)`` per fold; test folds differ in size by at most one.

    Raises
    ------
    ConfigError
        If ``n_splits`` is below 2 or larger than ``n_samples``.
    """
    _check_n_splits(n_splits)
    n_samples = int(n_samples)
    if n_samples < n_splits:
        raise ConfigError(
            f"n_samples={n_samples} is too few for n_splits={n_splits} folds",
            field="n_splits",
            fix=f"use at most {max(n_samples, 2)} folds or add samples",
        )
    rng = np.random.default_rng(seed)
    labels = np.empty(n_samples, dtype=np.int64)
    labels[rng.permutation(n_samples)] = np.arange(n_samples) % n_splits
    return _folds_from_labels(labels, n_splits)


def grouped_kfold(groups: ArrayLike, *, n_splits: int = 5, seed: int = 0) -> Folds:
    """Folds in which every group (a site, a field, a profile) is wholly train or wholly test.

    The groups are shuffled by ``seed``, then each goes to the fold that holds the fewest
    samples so far, which balances folds by sample count rather than by group count.

    Parameters
    ----------
    groups
        One hashable group label per sample (ints, strings, ...). Missing labels are refused.
    n_splits
        Number of folds, at least 2 and at most the number of distinct groups.
    seed
        Seed of the group shuffle.

    Returns
    -------
    list of (ndarray, ndarray)
        ``(train_idx, test_idx)`` per fold.

    Raises
    ------
    SampleDataError
        If a group label is missing (None or NaN).
    ConfigError
        If ``n_splits`` is below 2 or there are fewer groups than folds.
    """
    _check_n_splits(n_splits)
    codes, uniques = pd.factorize(np.asarray(groups, dtype=object).reshape(-1))
    n_missing = int(np.count_nonzero(codes < 0))
    if n_missing:
        raise SampleDataError(
            f"{n_missing} sample(s) have no group label",
            field="groups",
            fix="give every sample a group (e.g. a site id) or drop the unlabelled samples",
        )
    n_groups = len(uniques)
    if n_groups < n_splits:
        raise ConfigError(
            f"{n_groups} distinct groups are too few for n_splits={n_splits} folds",
            field="n_splits",
            fix=f"use at most {max(n_groups, 2)} folds or a finer grouping",
        )
    return _grouped_folds(codes.astype(np.int64), n_groups, n_splits, seed)


def spatial_block_ids(x_m: ArrayLike, y_m: ArrayLike, *, block_size_m: float) -> np.ndarray:
    """Number the square blocks of side ``block_size_m`` that hold each point.

    Block (i, j) covers ``xmin + i*size <= x < xmin + (i+1)*size`` and likewise in y, with
    the origin at the lower-left point, so the layout depends on the points only.

    Parameters
    ----------
    x_m, y_m
        Point coordinates in metres on a projected CRS (never degrees: a block would then
        stretch with latitude).
    block_size_m
        Side of a block, in metres.

    Returns
    -------
    ndarray of int64
        A block id per point, numbered 0..n_blocks-1 in (i, j) order.

    Raises
    ------
    ValueError
        If ``x_m`` and ``y_m`` differ in length or are not 1-D.
    SampleDataError
        If a coordinate is not finite.
    ConfigError
        If ``block_size_m`` is not a positive finite number.
    """
    x = np.asarray(x_m, dtype=float)
    y = np.asarray(y_m, dtype=float)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(
            f"x_m and y_m must be 1-D and of equal length, got shapes {x.shape} and {y.shape}"
        )
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if bad.any():
        raise SampleDataError(
            f"{int(bad.sum())} point(s) have non-finite coordinates",
            field="x_m/y_m",
            fix="drop samples without a location before building spatial folds",
        )
    size = float(block_size_m)
    if not (np.isfinite(size) and size > 0):
        raise ConfigError(
            f"block_size_m={block_size_m} is not a positive length",
            field="block_size_m",
            fix="give the block side in metres, e.g. 2000",
        )
    if x.size == 0:
        return np.empty(0, dtype=np.int64)
    # floors stay float: with a tiny block size an int cast could overflow
    cells = np.column_stack([np.floor((x - x.min()) / size), np.floor((y - y.min()) / size)])
    _, block = np.unique(cells, axis=0, return_inverse=True)
    return block.reshape(-1).astype(np.int64)


def spatial_block_kfold(
    x_m: ArrayLike,
    y_m: ArrayLike,
    *,
    block_size_m: float,
    n_splits: int = 5,
    seed: int = 0,
) -> Folds:
    """Folds of whole square blocks, so test points are far from most training points.

    Points are binned into square blocks by :func:`spatial_block_ids`; the blocks are then
    the groups of :func:`grouped_kfold`. Choose a block size at least as large as the range
    of spatial autocorrelation of the target (from a variogram) to remove its optimism.

    Parameters
    ----------
    x_m, y_m
        Point coordinates in metres on a projected CRS.
    block_size_m
        Side of a block, in metres.
    n_splits
        Number of folds, at least 2 and at most the number of occupied blocks.
    seed
        Seed of the block shuffle.

    Returns
    -------
    list of (ndarray, ndarray)
        ``(train_idx, test_idx)`` per fold.

    Raises
    ------
    ConfigError
        If ``block_size_m`` is not positive, ``n_splits`` is below 2, or the blocks that hold
        points are fewer than ``n_splits``.
    SampleDataError
        If a coordinate is not finite.
    """
    _check_n_splits(n_splits)
    blocks = spatial_block_ids(x_m, y_m, block_size_m=block_size_m)
    n_blocks = int(blocks.max()) + 1 if blocks.size else 0
    if n_blocks < n_splits:
        raise ConfigError(
            f"block_size_m={block_size_m:g} gives {n_blocks} blocks for {n_splits} folds",
            field="block_size_m",
            fix="use a smaller block size or fewer folds",
        )
    return _grouped_folds(blocks, n_blocks, n_splits, seed)


def _check_n_splits(n_splits: int) -> None:
    if int(n_splits) != n_splits or n_splits < 2:
        raise ConfigError(
            f"n_splits={n_splits} is not a whole number of at least 2",
            field="n_splits",
            fix="use 2 or more folds (5 or 10 are usual)",
        )


def _grouped_folds(codes: np.ndarray, n_groups: int, n_splits: int, seed: int) -> Folds:
    """Greedy assignment of shuffled groups to the currently lightest fold."""
    rng = np.random.default_rng(seed)
    group_sizes = np.bincount(codes, minlength=n_groups)
    fold_of_group = np.empty(n_groups, dtype=np.int64)
    fold_sizes = np.zeros(n_splits, dtype=np.int64)
    for group in rng.permutation(n_groups):
        # argmin takes the first lightest fold, so the first n_splits groups fill every fold
        fold = int(np.argmin(fold_sizes))
        fold_of_group[group] = fold
        fold_sizes[fold] += group_sizes[group]
    return _folds_from_labels(fold_of_group[codes], n_splits)


def _folds_from_labels(labels: np.ndarray, n_splits: int) -> Folds:
    return [
        (np.flatnonzero(labels != fold), np.flatnonzero(labels == fold)) for fold in range(n_splits)
    ]
