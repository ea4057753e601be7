"""Metrics of SOC profiles and their k-fold cross-validation (BINN, ScIReN).

A profile holds several observations at depth; metrics pool every valid (finite) pair of
observed and predicted SOC, as BINN reports them. Folds split *profiles*, never the
observations of one profile, so a test profile is unseen as a whole.

Definitions (``o`` observed, ``p`` predicted, over the valid pairs):

- ``nse`` = 1 - sum((p - o)^2) / sum((o - mean(o))^2), the Nash-Sutcliffe efficiency
  (what :func:`geosoil.evaluate.r2` calls R2);
- ``r2`` = the squared Pearson correlation of o and p (the R2 of a linear fit, blind to
  bias);
- ``rmse`` = sqrt(mean((p - o)^2)); ``bias`` = mean(p - o), in the units of SOC.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from geosoil.errors import SampleDataError
from geosoil.evaluate.splits import random_kfold
from geosoil.io.profiles import ProfileSet

__all__ = [
    "PROFILE_METRICS",
    "ProfileCVResult",
    "cross_validate_profiles",
    "profile_metrics",
]

log = logging.getLogger(__name__)

PROFILE_METRICS: tuple[str, ...] = ("nse", "r2", "rmse", "bias")


def profile_metrics(observed: ArrayLike, predicted: ArrayLike) -> dict[str, float]:
    """NSE, R2, RMSE and bias over every pair where both values are finite.

    Parameters
    ----------
    observed, predicted
        Arrays of the same shape, e.g. (n profiles, m depths) NaN-padded.

    Returns
    -------
    dict
        ``nse``, ``r2``, ``rmse``, ``bias`` (see the module notes) and ``n`` (pairs used);
        NaN metrics with fewer than two pairs or constant observations.

    Raises
    ------
    ValueError
        The shapes differ.
    """
    obs = np.asarray(observed, dtype=np.float64)
    pred = np.asarray(predicted, dtype=np.float64)
    if obs.shape != pred.shape:
        raise ValueError(f"observed {obs.shape} and predicted {pred.shape} differ in shape")
    valid = np.isfinite(obs) & np.isfinite(pred)
    o, p = obs[valid], pred[valid]
    result = dict.fromkeys(PROFILE_METRICS, float("nan"))
    result["n"] = int(valid.sum())
    if len(o) < 2:
        return result
    error = p - o
    result["rmse"] = float(np.sqrt(np.mean(error**2)))
    result["bias"] = float(np.mean(error))
    total = float(np.sum((o - o.mean()) ** 2))
    if total > 0:
        result["nse"] = 1.0 - float(np.sum(error**2)) / total
        spread = float(np.sum((p - p.mean()) ** 2))
        if spread > 0:
            result["r2"] = float(np.sum((o - o.mean()) * (p - p.mean())) ** 2 / (total * spread))
    return result


@dataclass(frozen=True)
class ProfileCVResult:
    """Out-of-fold SOC predictions and metrics of a profile cross-validation.

    Attributes
    ----------
    per_fold
        One row per fold: ``fold``, ``n_train``, ``n_test`` (profiles), ``n`` (test
        observations used), ``nse``, ``r2``, ``rmse``, ``bias``, ``fit_seconds``.
    predictions
        One row per test observation: ``profile_id``, ``row`` (position in the profile
        set), ``fold``, ``depth_m``, ``observed``, ``predicted`` (NaN where the model gives
        none, e.g. below the column).
    """

    per_fold: pd.DataFrame
    predictions: pd.DataFrame

    @property
    def n_folds(self) -> int:
        """Number of folds."""
        return len(self.per_fold)

    def pooled(self) -> dict[str, float]:
        """Metrics over all out-of-fold predictions at once."""
        return profile_metrics(self.predictions["observed"], self.predictions["predicted"])

    def summary(self) -> dict[str, dict[str, float]]:
        """Mean and sd (ddof=1) over folds and the pooled metrics, per metric."""
        columns = self.per_fold[list(PROFILE_METRICS)].astype(float)
        return {
            "mean": {m: float(columns[m].mean()) for m in PROFILE_METRICS},
            "sd": {m: float(columns[m].std(ddof=1)) for m in PROFILE_METRICS},
            "pooled": {m: self.pooled()[m] for m in PROFILE_METRICS},
        }

    def to_markdown(self, *, digits: int = 3) -> str:
        """The per-fold table, then mean +- sd and pooled rows, as a Markdown table."""
        header = ["fold", "n_train", "n_test", "n", *PROFILE_METRICS, "fit_seconds"]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in self.per_fold.itertuples(index=False):
            values = [str(getattr(row, c)) for c in header[:4]]
            values += [_number(getattr(row, m), digits) for m in PROFILE_METRICS]
            values.append(f"{row.fit_seconds:.1f}")
            lines.append("| " + " | ".join(values) + " |")
        summary = self.summary()
        spread = [
            f"{_number(summary['mean'][m], digits)} +- {_number(summary['sd'][m], digits)}"
            for m in PROFILE_METRICS
        ]
        total_s = f"{self.per_fold['fit_seconds'].sum():.1f}"
        lines.append("| mean +- sd | | | | " + " | ".join(spread) + f" | {total_s} |")
        pooled = self.pooled()
        lines.append(
            f"| pooled | | | {pooled['n']} | "
            + " | ".join(_number(pooled[m], digits) for m in PROFILE_METRICS)
            + " | |"
        )
        return "\n".join(lines)


def cross_validate_profiles(
    make_estimator: Callable[[], Any],
    profiles: ProfileSet,
    n_folds: int = 10,
    seed: int = 0,
) -> ProfileCVResult:
    """k-fold cross-validation over profiles: fit on k-1 folds, predict the SOC of the last.

    Parameters
    ----------
    make_estimator
        Zero-argument callable returning a fresh estimator with ``fit(profiles)`` and
        ``predict(profiles)`` (SOC at the profiles' own depths), e.g.
        ``lambda: BINN(max_epochs=50, unseen_categories="mean")``. A test fold may hold
        categorical codes its training folds lack, hence ``"mean"`` on real data.
    profiles
        Profiles with observations.
    n_folds
        Number of folds (random, near-equal numbers of profiles).
    seed
        Seed of the fold assignment.

    Returns
    -------
    ProfileCVResult
        Per-fold metrics, fit times and the out-of-fold predictions.

    Raises
    ------
    SampleDataError
        ``profiles`` hold no observations.
    ConfigError
        ``n_folds`` is below 2 or above the number of profiles.
    """
    if not profiles.has_observations:
        raise SampleDataError(
            "cross-validation needs profiles with SOC observations",
            field="soc",
            fix="pass the training part (read_binn_ny(..., part='training'))",
        )
    folds = random_kfold(profiles.n_profiles, n_splits=n_folds, seed=seed)
    rows, tables = [], []
    for fold, (train_idx, test_idx) in enumerate(folds):
        test = profiles.subset(test_idx)
        started = time.perf_counter()
        estimator = make_estimator().fit(profiles.subset(train_idx))
        fit_seconds = time.perf_counter() - started
        predicted = np.asarray(estimator.predict(test), dtype=np.float64)
        observed = np.asarray(test.soc, dtype=np.float64)
        if predicted.shape != observed.shape:
            raise ValueError(
                f"fold {fold}: predictions have shape {predicted.shape}, observations "
                f"{observed.shape}"
            )
        metrics = profile_metrics(observed, predicted)
        rows.append(
            {
                "fold": fold,
                "n_train": len(train_idx),
                "n_test": len(test_idx),
                **metrics,
                "fit_seconds": fit_seconds,
            }
        )
        tables.append(_observation_table(test, test_idx, fold, predicted))
        log.info("fold %d/%d: NSE %.3f (%.1f s)", fold + 1, n_folds, metrics["nse"], fit_seconds)
    per_fold = pd.DataFrame(rows)[
        ["fold", "n_train", "n_test", "n", *PROFILE_METRICS, "fit_seconds"]
    ]
    predictions = pd.concat(tables, ignore_index=True).sort_values(
        ["row", "depth_m"], kind="stable", ignore_index=True
    )
    return ProfileCVResult(per_fold=per_fold, predictions=predictions)


def _observation_table(
    test: ProfileSet, test_idx: np.ndarray, fold: int, predicted: np.ndarray
) -> pd.DataFrame:
    """One row per valid observation of the test profiles."""
    observed = np.asarray(test.soc, dtype=np.float64)
    depth = np.asarray(test.depth_m, dtype=np.float64)
    valid = np.isfinite(observed) & np.isfinite(depth)
    profile, _ = np.nonzero(valid)
    return pd.DataFrame(
        {
            "profile_id": test.profile_id[profile],
            "row": np.asarray(test_idx)[profile],
            "fold": fold,
            "depth_m": depth[valid],
            "observed": observed[valid],
            "predicted": predicted[valid],
        }
    )


def _number(value: float, digits: int) -> str:
    return "nan" if not np.isfinite(value) else f"{value:.{digits}f}"
