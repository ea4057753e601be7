"""Spread of stochastic predictions (ensemble members, MC dropout samples) as mean, std, quantiles.

Every reduction runs over the leading axis in a fixed order, so a row's result never depends on
how many rows were predicted together: the mapping engine relies on that for chunk invariance.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

from geosoil.errors import ConfigError

__all__ = ["mean_over_members", "normal_scores", "std_over_members"]


def mean_over_members(values: np.ndarray) -> np.ndarray:
    """Float64 mean over axis 0 of an ``(n_members, ...)`` array.

    Summed member by member, so one member gives that member's values exactly.
    """
    total = values[0].astype(np.float64)
    for member_values in values[1:]:
        total += member_values
    total /= len(values)
    return total


def std_over_members(values: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Float64 standard deviation (ddof=1) over axis 0, two-pass and in member order."""
    total = np.zeros_like(mean)
    for member_values in values:
        total += np.square(member_values - mean)
    total /= len(values) - 1
    return np.sqrt(total, out=total)


def normal_scores(levels: Sequence[float]) -> list[float]:
    """Standard normal quantiles of ``levels``, refusing probabilities outside (0, 1)."""
    levels = [float(level) for level in np.atleast_1d(np.asarray(levels, dtype=np.float64))]
    if not levels or not all(0.0 < level < 1.0 for level in levels):
        raise ConfigError(
            f"quantile levels {levels} must be probabilities strictly between 0 and 1",
            field="levels",
            fix="use e.g. levels=(0.05, 0.95) for a 90% interval",
        )
    standard = NormalDist()
    return [standard.inv_cdf(level) for level in levels]
