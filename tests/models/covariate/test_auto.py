"""auto: choice by inner CV only (grouped as the outer folds), stack blends saved and
reloaded, failures reported."""

import numpy as np
import pytest

from geosoil.artifacts import load_artifact
from geosoil.errors import RegistryError
from geosoil.evaluate import cross_validate
from geosoil.evaluate.splits import grouped_kfold, spatial_block_ids
from geosoil.models.covariate import auto as auto_module
from geosoil.models.covariate import svr as svr_module
from geosoil.models.covariate.auto import GROUP_COLUMN, AutoCovariate, AutoSelectionError
from geosoil.models.covariate.stack import CovariateStack, blend_weights
from geosoil.models.covariate.trees import OOB_SHARES
from geosoil.trust.estimators import feature_importance, permutation_importance

from .test_trees import save, table

FAST = {"random_forest": {"n_estimators": 30}, "gbm": {"n_estimators": 60}}


def auto(params=None, **extra):
    return AutoCovariate(
        candidates=["random_forest", "gbm", "linear"],
        candidate_params=FAST,
        params={"categorical_features": ["c"], **(params or {})},
        **extra,
    )


def test_auto_chooses_on_inner_folds_and_delivers_the_choice():
    X, y = table()
    model = auto(stack=False).fit(X, y)
    scores = model.inner_scores_
    assert set(scores) == {"random_forest", "gbm", "linear"}
    assert model.best_name_ == min(scores, key=lambda n: scores[n]["rmse"])
    expected = {"random_forest": "quantile_forest"}.get(model.best_name_, model.best_name_)
    assert model.best_estimator_.registry_name == expected
    np.testing.assert_array_equal(model.predict(X), model.best_estimator_.predict(X))


def test_a_stack_is_delivered_when_the_blend_wins_and_survives_the_artifact(tmp_path):
    X, y = table()
    model = auto().fit(X, y)
    assert "stack" in model.inner_scores_
    # The delivered blend's forest is the forest that was scored: out-of-bag columns per split.
    assert model.best_name_ == "stack"
    forest = model.best_estimator_.members_[0]
    assert forest.max_features == "oob" and forest.max_features_ in OOB_SHARES
    stack = CovariateStack(
        members=["random_forest", "gbm", "linear"],
        member_params=FAST,
        categorical_features=["c"],
    ).fit_with_weights(X, y, [0.5, 0.5, 0.0])
    loaded = load_artifact(save(stack, tmp_path / "s.safetensors")).estimator
    np.testing.assert_array_equal(loaded.predict(X), stack.predict(X))
    assert loaded.members_[2] is None
    importance = loaded.feature_importance()
    assert sum(importance.values()) == pytest.approx(1.0)


def test_a_stack_leaves_its_importance_to_permutation_when_a_weighted_member_has_none():
    X, y = table()
    stack = CovariateStack(
        members=["linear", "covariate_svr"], categorical_features=["c"]
    ).fit_with_weights(X, y, [0.5, 0.5])
    assert stack.feature_importance() is None
    matrix = X.to_numpy(dtype=np.float64)
    np.testing.assert_array_equal(
        feature_importance(stack, matrix, y), permutation_importance(stack.predict, matrix, y)
    )
    only_linear = CovariateStack(
        members=["linear", "covariate_svr"], categorical_features=["c"]
    ).fit_with_weights(X, y, [1.0, 0.0])
    assert only_linear.feature_importance() == only_linear.members_[0].feature_importance()


def test_the_svr_is_a_default_candidate_and_a_table_too_large_for_it_only_drops_it(monkeypatch):
    assert "covariate_svr" in AutoCovariate().candidates
    monkeypatch.setattr(svr_module, "MAX_TRAINING_ROWS", 50)
    X, y = table()
    model = AutoCovariate(
        candidates=["linear", "covariate_svr"], params={"categorical_features": ["c"]}
    ).fit(X, y)
    assert set(model.inner_scores_) == {"linear"}
    assert "n x n kernel" in model.failures_["covariate_svr"]
    assert model.best_name_ == "linear"


def test_blend_weights_are_non_negative_and_sum_to_one():
    rng = np.random.default_rng(0)
    y = rng.normal(size=100)
    good, noise = y + rng.normal(scale=0.1, size=100), rng.normal(size=100)
    columns = np.column_stack([good, noise, -y])
    weights = blend_weights(columns, y)
    assert weights.sum() == pytest.approx(1.0) and (weights >= 0).all()
    assert weights[0] > 0.99 and weights[2] < 0.01
    # least squares over the simplex: the blend fits at least as well as any one column
    errors = ((columns - y[:, None]) ** 2).mean(axis=0)
    assert ((columns @ weights - y) ** 2).mean() <= errors.min()


def test_blend_weights_sum_to_one_by_fit_not_by_rescaling():
    # One column shrunk to half of y, one at its scale but noisier. Non-negative least squares
    # weights them to sum well above one; rescaled to one, that blend is worse than the best
    # blend over the simplex, and than the second column alone.
    from scipy.optimize import nnls

    rng = np.random.default_rng(1)
    y = rng.normal(size=300)
    columns = np.column_stack(
        [0.5 * y + rng.normal(scale=0.2, size=300), y + rng.normal(scale=0.4, size=300)]
    )

    def mse(weights):
        return ((columns @ weights - y) ** 2).mean()

    rescaled = nnls(columns, y)[0]
    rescaled /= rescaled.sum()
    weights = blend_weights(columns, y)
    assert mse(weights) < mse(rescaled) - 0.005
    assert mse(weights) <= mse(np.array([0.0, 1.0]))


def test_blend_weights_leave_out_rows_where_a_learner_abstains():
    rng = np.random.default_rng(0)
    y = rng.normal(size=100)
    good, noise = y + rng.normal(scale=0.1, size=100), rng.normal(size=100)
    good_with_holes = good.copy()
    good_with_holes[:5] = np.nan
    rows = slice(5, None)
    np.testing.assert_array_equal(
        blend_weights(np.column_stack([good_with_holes, noise]), y),
        blend_weights(np.column_stack([good, noise])[rows], y[rows]),
    )


def test_a_class_that_one_inner_fold_holds_whole_disqualifies_no_candidate():
    # Class 3 of "c" sits in one block only: under grouped inner folds, the fold holding that
    # block trains without it and the tabular learners abstain (NaN) on its rows. Every
    # candidate is then scored on the other rows, instead of failing all but the MLP.
    X, y, blocks = blocked_table()
    X["c"] = np.where(blocks == blocks[0], 3, np.where(X["c"] == 3, 1, X["c"]))
    grouped = X.assign(**{GROUP_COLUMN: blocks})
    model = auto().fit(grouped, y)
    assert model.failures_ == {}
    assert set(model.inner_scores_) >= {"random_forest", "gbm", "linear", "stack"}
    assert model.inner_rows_scored_ == len(y) - np.count_nonzero(blocks == blocks[0])
    # The stack is refit on every row: class 3 is known to it and predicted.
    assert np.isfinite(model.predict(X[X["c"] == 3])).all()


def test_every_candidate_failing_names_each_failure():
    X, y = table()
    with pytest.raises(AutoSelectionError, match="every candidate") as info:
        auto(params={"target_transform": "log10"}).fit(X, y - 100)
    assert "gbm" in str(info.value) and "linear" in str(info.value)


def test_the_forest_chooses_its_columns_per_split_by_out_of_bag_error_unless_told():
    chosen = AutoCovariate()
    for delivered in (False, True):
        assert chosen.settings("random_forest", delivered=delivered)["max_features"] == "oob"
    told = AutoCovariate(candidate_params={"random_forest": {"max_features": 0.5}})
    assert told.settings("random_forest", delivered=True)["max_features"] == 0.5


def test_an_unknown_candidate_is_refused_before_fitting():
    with pytest.raises(RegistryError, match="kriging_magic"):
        AutoCovariate(candidates=["kriging_magic"])


def blocked_table(n=150, seed=0):
    """``table()`` with sample coordinates on a 10 x 10 km square and their 2 km blocks."""
    X, y = table(n, seed)
    rng = np.random.default_rng(seed + 1)
    xy = rng.uniform(0, 10_000, size=(n, 2))
    return X, y, spatial_block_ids(xy[:, 0], xy[:, 1], block_size_m=2000)


def record_inner_folds(monkeypatch):
    """Every set of inner folds ``auto`` scores candidates on, with the rows it was given."""
    seen = []
    original = auto_module.out_of_fold

    def spy(make, X, y, folds):
        seen.append((X[GROUP_COLUMN].to_numpy() if GROUP_COLUMN in X else None, folds))
        return original(make, X, y, folds)

    monkeypatch.setattr(auto_module, "out_of_fold", spy)
    return seen


def assert_no_group_split(groups, folds):
    for train_idx, test_idx in folds:
        assert not set(groups[train_idx]) & set(groups[test_idx])


def test_inner_folds_of_a_blocked_run_keep_every_block_whole(monkeypatch):
    X, y, blocks = blocked_table()
    seen = record_inner_folds(monkeypatch)
    grouped = X.assign(**{GROUP_COLUMN: blocks})
    folds = grouped_kfold(blocks, n_splits=4, seed=0)
    result = cross_validate(lambda: auto(stack=False), grouped, y, folds)
    assert len(seen) == 4 * 3  # 4 outer training sets x 3 candidates
    for (train_idx, _), fold_sets in zip(folds, seen[::3], strict=True):
        inner_groups, inner_folds = fold_sets
        np.testing.assert_array_equal(inner_groups, blocks[train_idx])
        assert len(inner_folds) == 5  # the default inner_splits
        assert_no_group_split(inner_groups, inner_folds)
    assert np.isfinite(result.pooled()["r2"])


def test_the_group_column_reaches_no_candidate_and_random_folds_remain_without_it():
    X, y, blocks = blocked_table()
    model = auto(stack=False).fit(X.assign(**{GROUP_COLUMN: blocks}), y)
    assert model.inner_grouped_
    assert model.best_estimator_.feature_names_in_ == ["a", "b", "c"]
    np.testing.assert_array_equal(model.predict(X), model.best_estimator_.predict(X))
    plain = auto(stack=False).fit(X, y)
    assert not plain.inner_grouped_
    folds = plain.inner_folds(X)
    assert sorted(np.concatenate([test for _, test in folds])) == list(range(len(y)))
