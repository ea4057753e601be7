"""Baselines for SOC profiles that every BINN/ScIReN result is compared with.

Both follow the profile estimator contract of
:func:`geosoil.evaluate.profiles.cross_validate_profiles`: ``fit(profiles)`` and
``predict(profiles) -> (n profiles, m depths)`` SOC at the profiles' own depths, NaN where no
depth is given.

- :class:`DepthMeanSOC` uses no covariates and no process model: the mean training SOC of each
  depth interval (GlobalSoilMap edges by default). It answers "how much of the skill is the
  depth shape alone?".
- :class:`ProfileGBM` is gradient boosting (LightGBM) on the covariates plus the observation
  depth, one row per observation: the learner a soil mapper would use instead of a
  process-informed network. Its settings are fixed library-style defaults, not tuned on any
  data set.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from geosoil.errors import SampleDataError
from geosoil.io.profiles import ProfileSet

__all__ = ["DEPTH_EDGES_M", "DepthMeanSOC", "ProfileGBM", "share_beating"]

# GlobalSoilMap depth intervals (0-5-15-30-60-100-200 cm), open below 2 m
DEPTH_EDGES_M: tuple[float, ...] = (0.0, 0.05, 0.15, 0.30, 0.60, 1.00, 2.00)


def _observations(profiles: ProfileSet, what: str) -> tuple[np.ndarray, np.ndarray]:
    """SOC and depth arrays of profiles with observations at more than one depth."""
    if profiles.soc is None or profiles.depth_m is None:
        raise SampleDataError(
            f"the {what} baseline needs profiles with SOC observations and their depths",
            field="depth_m",
            fix="train on the training part of the profiles (with soc and depth_m)",
        )
    soc = np.asarray(profiles.soc, dtype=np.float64)
    depth = np.asarray(profiles.depth_m, dtype=np.float64)
    valid = np.isfinite(soc) & np.isfinite(depth)
    if np.unique(depth[valid]).size < 2:
        raise SampleDataError(
            f"the {what} baseline needs observations at two or more depths; every observation "
            f"is at {np.unique(depth[valid])} m",
            field="depth_m",
            fix="check the depth column of the profiles (units are metres)",
        )
    return soc, depth


class DepthMeanSOC:
    """Mean SOC of each depth interval of the training observations.

    Parameters
    ----------
    edges_m
        Upper edges of the intervals are the next entry; the last interval is open below.
        Depths above the first edge fall in the first interval.
    """

    def __init__(self, edges_m: Sequence[float] = DEPTH_EDGES_M) -> None:
        self.edges_m = tuple(float(e) for e in edges_m)

    def fit(self, profiles: ProfileSet) -> DepthMeanSOC:
        soc, depth = _observations(profiles, "depth-mean")
        valid = np.isfinite(soc) & np.isfinite(depth)
        bins = self._bins(depth[valid])
        values = soc[valid]
        means = np.full(len(self.edges_m), np.nan)
        for b in range(len(self.edges_m)):
            if np.any(bins == b):
                means[b] = values[bins == b].mean()
        # an interval without training observations takes the nearest filled one (shallower on
        # a tie)
        filled = np.flatnonzero(np.isfinite(means))
        for b in np.flatnonzero(~np.isfinite(means)):
            means[b] = means[filled[np.argmin(np.abs(filled - b))]]
        self.interval_means_ = means
        return self

    def predict(self, profiles: ProfileSet) -> np.ndarray:
        depth = np.asarray(profiles.depth_m, dtype=np.float64)
        out = np.full(depth.shape, np.nan)
        valid = np.isfinite(depth)
        out[valid] = self.interval_means_[self._bins(depth[valid])]
        return out

    def _bins(self, depth_m: np.ndarray) -> np.ndarray:
        return np.clip(np.searchsorted(self.edges_m, depth_m, side="right") - 1, 0, None)


class ProfileGBM:
    """LightGBM on covariates plus observation depth, one training row per observation.

    Parameters
    ----------
    n_estimators, learning_rate, num_leaves, min_child_samples, subsample, colsample
        LightGBM settings; the defaults are common library-style values, not tuned here.
    seed
        Seed of the row and column subsampling.
    threads
        LightGBM threads (``n_jobs``).
    """

    def __init__(
        self,
        *,
        n_estimators: int = 500,
        learning_rate: float = 0.03,
        num_leaves: int = 31,
        min_child_samples: int = 20,
        subsample: float = 0.8,
        colsample: float = 0.8,
        seed: int = 0,
        threads: int = 1,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample = colsample
        self.seed = seed
        self.threads = threads

    def fit(self, profiles: ProfileSet) -> ProfileGBM:
        import lightgbm

        soc, depth = _observations(profiles, "gradient-boosting")
        rows, columns = np.nonzero(np.isfinite(soc) & np.isfinite(depth))
        features = self._features(profiles, rows, depth[rows, columns])
        self.model_ = lightgbm.LGBMRegressor(
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples,
            subsample=self.subsample,
            subsample_freq=1,
            colsample_bytree=self.colsample,
            random_state=self.seed,
            n_jobs=self.threads,
            verbose=-1,
        )
        self.categorical_ = [c for c in profiles.categorical if c in profiles.covariates]
        self.model_.fit(
            features, soc[rows, columns], categorical_feature=self.categorical_ or "auto"
        )
        return self

    def predict(self, profiles: ProfileSet) -> np.ndarray:
        depth = np.asarray(profiles.depth_m, dtype=np.float64)
        out = np.full(depth.shape, np.nan)
        rows, columns = np.nonzero(np.isfinite(depth))
        if len(rows):
            out[rows, columns] = self.model_.predict(
                self._features(profiles, rows, depth[rows, columns])
            )
        return out

    @staticmethod
    def _features(profiles: ProfileSet, rows: np.ndarray, depth_m: np.ndarray):
        table = profiles.covariates.iloc[rows].reset_index(drop=True).copy()
        for name in profiles.categorical:
            if name in table:
                table[name] = table[name].astype("int64").astype("category")
        table["depth_m"] = depth_m
        return table


def share_beating(
    observed: np.ndarray, predicted: np.ndarray, baseline: np.ndarray, profile: np.ndarray
) -> float:
    """Share of profiles whose RMSE under ``predicted`` is below that under ``baseline``.

    Parameters
    ----------
    observed, predicted, baseline
        One value per observation.
    profile
        The profile of each observation; profiles without a finite pair are skipped.
    """
    observed, predicted, baseline = (
        np.asarray(a, dtype=np.float64) for a in (observed, predicted, baseline)
    )
    valid = np.isfinite(observed) & np.isfinite(predicted) & np.isfinite(baseline)
    ids = np.asarray(profile)[valid]
    model_se = (predicted[valid] - observed[valid]) ** 2
    base_se = (baseline[valid] - observed[valid]) ** 2
    wins = []
    for pid in np.unique(ids):
        mine = ids == pid
        wins.append(model_se[mine].mean() < base_se[mine].mean())
    return float(np.mean(wins)) if wins else float("nan")
