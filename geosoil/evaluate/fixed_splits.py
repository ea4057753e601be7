"""Splits fixed by the data: published folds (``predefined``) and a calibration/test column
(``holdout``), for :func:`geosoil.evaluate.repeated.train_valid_test_splits`."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from geosoil.errors import ConfigError, SampleDataError
from geosoil.evaluate.repeated import Split, _group_codes


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
