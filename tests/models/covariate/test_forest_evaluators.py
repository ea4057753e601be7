"""The fast tree evaluators (scikit-learn's walk on trees rebuilt from the arrays, LightGBM's
predict on the parsed text model) give the arrays' numpy evaluation, for any number of rows,
deep and one-leaf trees, split over threads; where the library is missing, a map warns what
to install and numpy evaluates the same values."""

import logging
import sys

import numpy as np
import pandas as pd
import pytest

from geosoil.artifacts import artifact_from_estimator
from geosoil.mapping.predictors import ModelLayers
from geosoil.models.covariate import forest_arrays, trees
from geosoil.models.covariate.forest_arrays import ForestArrays
from geosoil.models.covariate.trees import (
    CovariateGBM,
    CovariateQuantileForest,
    CovariateRandomForest,
)
from geosoil.models.threads import set_block_threads


def table(n, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 5)), columns=list("abcde"))
    y = X["a"] + np.sin(3 * X["b"]) + X["c"] * X["d"] + rng.normal(scale=0.1, size=n)
    return X, y.to_numpy()


@pytest.fixture(scope="module")
def models():
    X, y = table(300)
    return {
        "random_forest": CovariateRandomForest(n_estimators=60, min_samples_leaf=1).fit(X, y),
        "quantile_forest": CovariateQuantileForest(n_estimators=20).fit(X, y),
        "gbm": CovariateGBM(n_estimators=80, num_leaves=31, min_child_samples=3).fit(X, y),
    }


def numpy_sums(forest: ForestArrays, features: np.ndarray) -> np.ndarray:
    return forest.value[forest.apply_numpy(features)].sum(axis=1)


@pytest.mark.parametrize("name", ["random_forest", "quantile_forest", "gbm"])
@pytest.mark.parametrize("n_rows", [0, 1, 9, 5000])
def test_fast_evaluators_equal_the_arrays(models, name, n_rows):
    model = models[name]
    X, _ = table(n_rows, seed=1)
    features = model._encoded(X)[0]
    forest = model.forest_
    expected = numpy_sums(forest, features)
    if model.combine == "mean":
        expected = expected / forest.n_trees
        np.testing.assert_array_equal(
            forest.apply(features, float32_features=True), forest.apply_numpy(features)
        )
    np.testing.assert_allclose(model._raw_output(features), expected, rtol=1e-12, atol=1e-12)


def test_forest_mean_is_summed_in_tree_order(models):
    """The mean is the trees' values added one by one, as scikit-learn adds them."""
    model = models["random_forest"]
    features = model._encoded(table(500, seed=2)[0])[0]
    per_tree = model.forest_.value[model.forest_.apply_numpy(features)]
    total = np.zeros(len(features))
    for column in per_tree.T:
        total += column
    np.testing.assert_array_equal(model._raw_output(features), total / model.forest_.n_trees)


@pytest.mark.parametrize("name", ["random_forest", "gbm"])
def test_rows_split_over_threads_give_the_same_values(models, name):
    model = models[name]
    features = model._encoded(table(10_000, seed=3)[0])[0]
    before = set_block_threads(1)  # what the map engine sets for each block
    try:
        one = model._raw_output(features)
        set_block_threads(2)
        two = model._raw_output(features)
    finally:
        set_block_threads(before)
    np.testing.assert_array_equal(one, two)


def test_deep_chain_and_single_leaf_trees():
    """A 40-level chain and a tree that is one leaf, through scikit-learn's walk."""
    depth = 40
    # Chain: node k splits on x0 <= k; left is leaf value k, right is the next split.
    left, right, feature, threshold, value = [], [], [], [], []
    for k in range(depth):
        left.append(depth + k)
        right.append(k + 1 if k + 1 < depth else 2 * depth)
        feature.append(0)
        threshold.append(float(k))
        value.append(0.0)
    for k in range(depth + 2):  # the chain's leaves, then the one-leaf tree (value 100)
        left.append(-1)
        right.append(-1)
        feature.append(0)
        threshold.append(0.0)
        value.append(float(k) if k <= depth else 100.0)
    forest = ForestArrays.build(
        left, right, feature, threshold, value, roots=[0, len(left) - 1], n_features=1
    )
    x = np.linspace(-1, depth + 1, 97)[:, None]
    expected = np.clip(np.ceil(x[:, 0]), 0, depth) + 100.0
    np.testing.assert_array_equal(forest.summed_outputs(x, float32_features=True), expected)
    np.testing.assert_array_equal(forest.summed_outputs(x), expected)
    np.testing.assert_array_equal(forest.apply(x, float32_features=True), forest.apply_numpy(x))


def test_the_evaluator_cache_does_not_travel(models):
    import pickle

    forest = models["random_forest"].forest_
    forest.summed_outputs(np.zeros((1, 5)), float32_features=True)
    assert "_sklearn" in forest.__dict__
    assert "_sklearn" not in pickle.loads(pickle.dumps(forest)).__dict__


@pytest.fixture
def without_libraries(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.tree._tree", None)
    monkeypatch.setitem(sys.modules, "lightgbm", None)
    forest_arrays.sklearn_tree_class.cache_clear()
    trees._warn_no_lightgbm.cache_clear()
    monkeypatch.setattr(trees, "_boosters", trees.threading.local())
    yield
    forest_arrays.sklearn_tree_class.cache_clear()
    trees._warn_no_lightgbm.cache_clear()


@pytest.mark.parametrize(
    ("name", "install"),
    [("random_forest", "pip install 'scikit-learn"), ("gbm", "pip install 'lightgbm")],
)
def test_map_without_the_library_names_it_and_still_predicts(
    models, without_libraries, caplog, name, install
):
    model = models[name]
    model.forest_.__dict__.pop("_sklearn", None)
    X, _ = table(50, seed=4)
    with caplog.at_level(logging.WARNING):
        ModelLayers.build(artifact_from_estimator(model, output="lead"))
    assert install in caplog.text
    features = model._encoded(X)[0]
    expected = numpy_sums(model.forest_, features)
    if model.combine == "mean":
        expected = expected / model.forest_.n_trees
    np.testing.assert_allclose(model._raw_output(features), expected, rtol=1e-12)
    model.forest_.__dict__.pop("_sklearn", None)
