"""cross_validate with a real scikit-learn estimator on a problem with a known answer."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge

from geosoil.errors import ConfigError
from geosoil.evaluate import (
    DEFAULT_METRICS,
    CVResult,
    cross_validate,
    grouped_kfold,
    on_common_rows,
    random_kfold,
)


def linear_problem(n=150, seed=0):
    """y = X @ w + small noise, so a linear model should reach R2 close to 1."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = X @ np.array([2.0, -1.0, 0.5, 3.0]) + 10.0 + rng.normal(scale=0.2, size=n)
    return X, y


def test_ridge_on_linear_problem():
    X, y = linear_problem()
    result = cross_validate(Ridge, X, y, random_kfold(len(y), n_splits=5, seed=0))
    assert isinstance(result, CVResult)
    assert result.per_fold.shape == (5, 3 + len(DEFAULT_METRICS))
    assert list(result.per_fold.columns) == ["fold", "n_train", "n_test", *DEFAULT_METRICS]
    assert result.per_fold["fold"].tolist() == [0, 1, 2, 3, 4]
    assert (result.per_fold["n_train"] + result.per_fold["n_test"] == len(y)).all()
    assert (result.per_fold["r2"] > 0.98).all()

    predictions = result.predictions
    assert list(predictions.columns) == ["row", "fold", "observed", "predicted"]
    np.testing.assert_array_equal(predictions["row"], np.arange(len(y)))
    np.testing.assert_array_equal(predictions["observed"], y)

    summary = result.summary()
    assert set(summary) == {"mean", "sd", "pooled"}
    assert summary["pooled"]["r2"] > 0.98
    assert summary["pooled"]["rmse"] == pytest.approx(0.2, rel=0.3)
    assert summary["mean"]["r2"] == pytest.approx(result.per_fold["r2"].mean())
    assert summary["sd"]["rmse"] == pytest.approx(result.per_fold["rmse"].std(ddof=1))


def test_prediction_fold_is_the_fold_that_held_the_row_out():
    X, y = linear_problem(n=40)
    folds = random_kfold(len(y), n_splits=4, seed=5)
    result = cross_validate(Ridge, X, y, folds)
    for fold, (_, test) in enumerate(folds):
        held = result.predictions.set_index("row").loc[test, "fold"]
        assert (held == fold).all()


def test_dataframe_rows_taken_by_position():
    X, y = linear_problem(n=60)
    # a shuffled, non-integer index must not change which rows land in which fold
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"], index=[f"s{i}" for i in range(60)])
    frame = frame.set_axis(np.random.default_rng(0).permutation(frame.index), axis=0)
    folds = random_kfold(60, n_splits=3, seed=1)
    from_frame = cross_validate(Ridge, frame, pd.Series(y), folds)
    from_array = cross_validate(Ridge, X, y, folds)
    pd.testing.assert_frame_equal(from_frame.predictions, from_array.predictions)


def test_fresh_estimator_per_fold():
    X, y = linear_problem(n=30)
    made = []

    def make_estimator():
        made.append(Ridge())
        return made[-1]

    cross_validate(make_estimator, X, y, random_kfold(30, n_splits=3))
    assert len(made) == 3
    assert len({id(estimator) for estimator in made}) == 3


def test_logs_each_fold(caplog):
    X, y = linear_problem(n=30)
    with caplog.at_level(logging.INFO, logger="geosoil.evaluate.crossval"):
        cross_validate(Ridge, X, y, random_kfold(30, n_splits=3))
    fold_lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("fold ")]
    assert [line.split(":")[0] for line in fold_lines] == ["fold 1/3", "fold 2/3", "fold 3/3"]


def test_custom_metrics():
    X, y = linear_problem(n=30)
    result = cross_validate(Ridge, X, y, random_kfold(30, n_splits=3), metrics=["rpiq", "mape"])
    assert list(result.per_fold.columns) == ["fold", "n_train", "n_test", "rpiq", "mape"]
    assert set(result.summary()["pooled"]) == {"rpiq", "mape"}


def test_leave_one_out_folds_have_nan_fold_metrics_but_pooled_values():
    X, y = linear_problem(n=12)
    folds = random_kfold(12, n_splits=12)
    result = cross_validate(Ridge, X, y, folds)
    assert result.per_fold["r2"].isna().all()
    assert np.isfinite(result.summary()["pooled"]["r2"])


def test_groups_checked_against_folds():
    X, y = linear_problem(n=40)
    groups = np.repeat(np.arange(10), 4)
    result = cross_validate(Ridge, X, y, grouped_kfold(groups, n_splits=4), groups=groups)
    assert len(result.predictions) == 40
    with pytest.raises(ConfigError, match="both train and test") as info:
        cross_validate(Ridge, X, y, random_kfold(40, n_splits=4), groups=groups)
    assert info.value.field == "folds"


@pytest.mark.parametrize(
    ("folds", "message"),
    [
        ([(np.arange(5, 20), np.arange(0, 6))], "overlap"),
        ([(np.arange(5, 20), np.arange(15, 25))], r"\[0, 20\)"),
        ([(np.arange(5, 20), np.array([], dtype=int))], "empty"),
        ([(np.arange(5, 20), np.arange(5) * 1.0)], "integer positions"),
    ],
)
def test_bad_folds_raise(folds, message):
    X, y = linear_problem(n=20)
    with pytest.raises(ValueError, match=message):
        cross_validate(Ridge, X, y, folds)


def test_bad_inputs_raise():
    X, y = linear_problem(n=20)
    folds = random_kfold(20, n_splits=2)
    with pytest.raises(ValueError, match="rows"):
        cross_validate(Ridge, X[:10], y, folds)
    y_nan = y.copy()
    y_nan[3] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        cross_validate(Ridge, X, y_nan, folds)
    with pytest.raises(ConfigError):
        cross_validate(Ridge, X, y, [])


class AbstainingRidge(Ridge):
    """Ridge that gives no prediction (NaN) for rows whose first feature is above 1."""

    def predict(self, X):
        predicted = super().predict(X)
        return np.where(X[:, 0] > 1.0, np.nan, predicted)


def test_results_on_common_rows_score_every_learner_on_the_rows_all_predicted():
    X, y = linear_problem()
    folds = random_kfold(len(y), n_splits=5, seed=0)
    full = cross_validate(Ridge, X, y, folds)
    abstaining = cross_validate(AbstainingRidge, X, y, folds)
    alike, n_scored = on_common_rows({"ridge": full, "abstaining": abstaining})
    kept = X[:, 0] <= 1.0
    assert n_scored == kept.sum() < len(y)
    for result in alike.values():
        assert set(result.predictions["row"]) == set(np.flatnonzero(kept))
    # On the common rows both are the same ridge: the same scores, pooled and per fold.
    assert alike["ridge"].pooled() == pytest.approx(alike["abstaining"].pooled())
    np.testing.assert_allclose(alike["ridge"].per_fold["r2"], alike["abstaining"].per_fold["r2"])
    assert alike["ridge"].pooled()["rmse"] != pytest.approx(full.pooled()["rmse"])
    # Nothing to leave out: the results come back as they were.
    same, n_all = on_common_rows({"ridge": full})
    assert same["ridge"] is full and n_all == len(y)
