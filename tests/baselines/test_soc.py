"""SOC baselines: depth-interval means and gradient boosting on covariates plus depth."""

import numpy as np
import pytest

from geosoil.baselines.soc import DepthMeanSOC, ProfileGBM, share_beating
from geosoil.errors import ConfigError, SampleDataError
from geosoil.evaluate.profiles import cross_validate_profiles

from ..models.soc.test_binn import replace, synthetic_profiles


@pytest.fixture(scope="module")
def profiles():
    return synthetic_profiles(60, seed=3)


def test_depth_mean_is_the_interval_mean(profiles):
    model = DepthMeanSOC(edges_m=(0.0, 0.3)).fit(profiles)
    soc, depth = profiles.soc, profiles.depth_m
    top = np.isfinite(soc) & (depth < 0.3)
    deep = np.isfinite(soc) & (depth >= 0.3)
    assert model.interval_means_ == pytest.approx([soc[top].mean(), soc[deep].mean()])
    predicted = model.predict(profiles)
    assert np.all(np.isnan(predicted) == np.isnan(depth))
    assert np.allclose(predicted[top], soc[top].mean())


def test_empty_interval_takes_the_nearest_filled_one(profiles):
    model = DepthMeanSOC(edges_m=(0.0, 0.3, 50.0, 60.0)).fit(profiles)
    assert model.interval_means_[2] == model.interval_means_[1]
    assert model.interval_means_[3] == model.interval_means_[1]


def test_gbm_uses_the_covariates(profiles):
    cv_depth = cross_validate_profiles(DepthMeanSOC, profiles, n_folds=4)
    cv_gbm = cross_validate_profiles(
        lambda: ProfileGBM(n_estimators=200, min_child_samples=5), profiles, n_folds=4
    )
    assert cv_gbm.pooled()["nse"] > cv_depth.pooled()["nse"] + 0.05
    table = cv_gbm.predictions
    share = share_beating(
        table["observed"],
        table["predicted"],
        cv_depth.predictions["predicted"],
        table["profile_id"],
    )
    assert 0.5 < share <= 1.0


def test_share_beating_counts_profiles_not_observations():
    observed = np.array([1.0, 1.0, 1.0, 5.0])
    model = np.array([1.0, 1.0, 1.0, 0.0])  # profile 0 exact, profile 1 far off
    base = np.array([2.0, 2.0, 2.0, 4.0])
    assert share_beating(observed, model, base, np.array([0, 0, 0, 1])) == 0.5


def test_all_observations_at_one_depth_is_refused(profiles):
    flat = replace(profiles, depth_m=np.where(np.isfinite(profiles.depth_m), 0.1, np.nan))
    for model in (DepthMeanSOC(), ProfileGBM()):
        with pytest.raises(SampleDataError, match="two or more depths"):
            model.fit(flat)


def test_profiles_without_depths_are_refused(profiles):
    bare = replace(profiles, soc=None, depth_m=None)
    with pytest.raises(SampleDataError, match="depth"):
        DepthMeanSOC().fit(bare)


def test_more_folds_than_profiles_is_refused(profiles):
    few = profiles.subset(np.arange(3))
    with pytest.raises(ConfigError, match="n_splits"):
        cross_validate_profiles(DepthMeanSOC, few, n_folds=10)
