"""Profile metrics and the k-fold cross-validation over SOC profiles."""

from __future__ import annotations

import numpy as np
import pytest

from geosoil.errors import ConfigError, SampleDataError
from geosoil.evaluate import r2 as nse_reference
from geosoil.evaluate.profiles import (
    PROFILE_METRICS,
    ProfileCVResult,
    cross_validate_profiles,
    profile_metrics,
)
from geosoil.models import BINN

from ..models.soc.test_binn import FAST, replace, synthetic_profiles


class DepthMean:
    """Predicts the training SOC mean of the nearest depth class: fast and data-dependent."""

    edges_m = np.array([0.3, 0.8])

    def fit(self, profiles):
        classes = np.digitize(profiles.depth_m, self.edges_m)
        self.means_ = [np.nanmean(profiles.soc[classes == k]) for k in range(3)]
        return self

    def predict(self, profiles):
        classes = np.digitize(profiles.depth_m, self.edges_m)
        predicted = np.take(self.means_, np.minimum(classes, 2)).astype(np.float64)
        return np.where(np.isfinite(profiles.depth_m), predicted, np.nan)


@pytest.fixture(scope="module")
def profiles():
    return synthetic_profiles(30)


def test_profile_metrics_match_their_definitions():
    rng = np.random.default_rng(0)
    observed = rng.uniform(1, 5, (6, 4))
    predicted = observed + rng.normal(0.3, 0.5, observed.shape)
    observed[0, 2:] = np.nan
    predicted[1, 3] = np.nan
    keep = np.isfinite(observed) & np.isfinite(predicted)
    o, p = observed[keep], predicted[keep]
    metrics = profile_metrics(observed, predicted)
    assert metrics["n"] == keep.sum() == 21
    assert metrics["nse"] == pytest.approx(nse_reference(o, p))
    assert metrics["r2"] == pytest.approx(np.corrcoef(o, p)[0, 1] ** 2)
    assert metrics["rmse"] == pytest.approx(np.sqrt(np.mean((p - o) ** 2)))
    assert metrics["bias"] == pytest.approx(np.mean(p - o)) and metrics["bias"] > 0
    # a biased but perfectly correlated prediction: R2 is 1, NSE is not
    shifted = profile_metrics(o, o + 1.0)
    assert shifted["r2"] == pytest.approx(1.0) and shifted["nse"] < 1


def test_profile_metrics_edge_cases():
    assert np.isnan(profile_metrics([1.0, np.nan], [1.0, 2.0])["nse"])
    assert np.isnan(profile_metrics([2.0, 2.0, 2.0], [1.0, 2.0, 3.0])["nse"])
    with pytest.raises(ValueError, match="differ in shape"):
        profile_metrics(np.ones((2, 3)), np.ones((3, 2)))


def test_folds_partition_the_profiles_and_pooled_metrics_are_the_concatenation(profiles):
    result = cross_validate_profiles(DepthMean, profiles, n_folds=4, seed=2)
    assert isinstance(result, ProfileCVResult) and result.n_folds == 4
    table = result.predictions
    folds_per_row = table.groupby("row")["fold"].nunique()
    assert sorted(folds_per_row.index) == list(range(profiles.n_profiles))
    assert (folds_per_row == 1).all()
    assert result.per_fold["n_test"].sum() == profiles.n_profiles
    assert (result.per_fold["n_train"] + result.per_fold["n_test"] == profiles.n_profiles).all()
    assert len(table) == np.isfinite(profiles.soc).sum() == result.per_fold["n"].sum()
    first = table.groupby("row").head(1)
    np.testing.assert_array_equal(first["observed"], profiles.soc[first["row"], 0])
    np.testing.assert_array_equal(first["profile_id"], profiles.profile_id[first["row"]])
    pooled = result.pooled()
    expected = profile_metrics(table["observed"], table["predicted"])
    assert pooled == expected
    # each fold's metrics are those of its own rows
    for fold, part in table.groupby("fold"):
        row = result.per_fold.iloc[fold]
        assert row["nse"] == pytest.approx(
            profile_metrics(part["observed"], part["predicted"])["nse"]
        )
    assert (result.per_fold["fit_seconds"] >= 0).all()
    summary = result.summary()
    assert set(summary) == {"mean", "sd", "pooled"} and set(summary["mean"]) == set(PROFILE_METRICS)
    markdown = result.to_markdown()
    assert markdown.count("\n") == 2 + 4 + 1 and "| pooled |" in markdown


def test_folds_depend_on_the_seed(profiles):
    first = cross_validate_profiles(DepthMean, profiles, n_folds=3, seed=0).predictions
    second = cross_validate_profiles(DepthMean, profiles, n_folds=3, seed=1).predictions
    assert not np.array_equal(first["fold"], second["fold"])


def test_cross_validation_of_binn(profiles):
    result = cross_validate_profiles(
        lambda: BINN(learned_parameters=["tau4s3"], max_epochs=2, valid_fraction=0, **FAST),
        profiles,
        n_folds=3,
    )
    assert np.isfinite(result.predictions["predicted"]).all()
    assert np.isfinite(result.per_fold["rmse"]).all() and result.per_fold["fit_seconds"].gt(0).all()


def test_bad_cross_validation_input(profiles):
    with pytest.raises(ConfigError) as err:
        cross_validate_profiles(DepthMean, profiles, n_folds=1)
    assert err.value.field == "n_splits"
    cells = replace(profiles, soc=None, depth_m=None)
    with pytest.raises(SampleDataError, match="SOC observations") as err:
        cross_validate_profiles(DepthMean, cells)
    assert err.value.field == "soc"
