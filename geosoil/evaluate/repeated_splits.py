"""Train/valid/test splits of the repeated evaluation (:mod:`geosoil.evaluate.repeated`).

:func:`train_valid_test_splits` makes random or grouped splits (whole sites or profiles
held out), or takes them from the data: published folds (``predefined``) or a
calibration/test column (``holdout``). :func:`holdout_split` holds a validation part out of
a training set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from geosoil.errors import ConfigError, SampleDataError

__all__ = ["Split", "holdout_split", "train_valid_test_splits"]


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
    scheme: Literal["random", "grouped", "predefined", "holdout"] = "random",
    groups: ArrayLike | None = None,
    n_seeds: int = 20,
    test_fraction: float = 0.1,
    valid_fraction: float = 0.1,
    seed: int = 0,
    test_value: str = "test",
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
        literature's. ``test_fraction`` is not used. ``"holdout"``: one fixed split, the
        samples whose ``groups`` label equals ``test_value`` are the test set (an external
        test set); valid is drawn at random from the others.
    groups
        One label per sample (site, profile), required for ``"grouped"``; the fold of each
        sample for ``"predefined"``; calibration/test labels for ``"holdout"``.
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
    elif scheme == "holdout":
        return [_holdout_split(n_samples, groups, test_value, valid_fraction, seed)]
    else:
        raise ConfigError(
            f"unknown split scheme {scheme!r}",
            field="splits.scheme",
            fix="use 'random', 'grouped', 'predefined' or 'holdout'",
        )
    return [make(n_samples, codes, seed + i, test_fraction, valid_fraction) for i in range(n_seeds)]


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


def _holdout_split(
    n_samples: int, labels: ArrayLike | None, test_value: str, valid_fraction: float, seed: int
) -> Split:
    """The fixed calibration/test split of a holdout column."""
    field = "splits.holdout_column"
    if labels is None:
        raise ConfigError(
            "a holdout split needs the calibration/test label of every sample",
            field=field,
            fix="set splits.holdout_column to the column marking the test rows",
        )
    text = pd.Series(np.asarray(labels, dtype=object).reshape(-1)).astype(str).to_numpy()
    if text.size != n_samples:
        raise ValueError(f"holdout labels has {text.size} labels for {n_samples} samples")
    is_test = text == str(test_value)
    seen = sorted(set(text))[:6]
    if not is_test.any():
        raise SampleDataError(
            f"the holdout column has no test rows: no value equals {test_value!r} "
            f"(values found: {seen})",
            field=field,
            fix="set splits.test_value to the value that marks the test rows, or mark some "
            "rows as test",
        )
    rest = np.flatnonzero(~is_test)
    if rest.size < 3:
        raise SampleDataError(
            f"the holdout column leaves {rest.size} calibration rows: every row but these "
            f"is {test_value!r}",
            field=field,
            fix="mark fewer rows as test (tens of calibration rows at least)",
        )
    order = np.random.default_rng(seed).permutation(rest)
    n_valid = min(max(1, round(valid_fraction * rest.size)), rest.size - 1)
    return Split(
        seed=seed,
        train=np.sort(order[n_valid:]),
        valid=np.sort(order[:n_valid]),
        test=np.flatnonzero(is_test),
    )
