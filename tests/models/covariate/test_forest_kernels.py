"""The compiled tree evaluator gives the numpy evaluator's leaves and sums, for any number of
rows, deep and one-leaf trees, split over threads; without numba a map warns which extra to
install and numpy evaluates the same values."""

import logging
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from geosoil.artifacts import artifact_from_estimator
from geosoil.mapping.predictors import ModelLayers
from geosoil.models.covariate import forest_arrays
from geosoil.models.covariate.forest_arrays import ForestArrays
from geosoil.models.covariate.trees import (
    CovariateGBM,
    CovariateQuantileForest,
    CovariateRandomForest,
)

pytest.importorskip("numba", reason="the compiled evaluator needs the trees extra")


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
@pytest.mark.parametrize("n_rows", [0, 1, 7, 8, 9, 263, 5000])
def test_compiled_equals_numpy_evaluation(models, name, n_rows):
    model = models[name]
    X, _ = table(n_rows, seed=1)
    features = model._encoded(X)[0]
    forest = model.forest_
    leaves = forest.apply(features)
    np.testing.assert_array_equal(leaves, forest.apply_numpy(features))
    np.testing.assert_allclose(
        forest.summed_outputs(features), numpy_sums(forest, features), rtol=1e-12, atol=1e-12
    )


def test_forest_mean_is_summed_in_tree_order(models):
    """The mean is the trees' values added one by one, as scikit-learn adds them."""
    model = models["random_forest"]
    features = model._encoded(table(500, seed=2)[0])[0]
    per_tree = model.forest_.value[model.forest_.apply_numpy(features)]
    total = np.zeros(len(features))
    for column in per_tree.T:
        total += column
    np.testing.assert_array_equal(model._raw_output(features), total / model.forest_.n_trees)


def test_rows_split_over_threads_give_the_same_sums(models):
    forest = models["gbm"].forest_
    features = models["gbm"]._encoded(table(40_000, seed=3)[0])[0]
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = forest.summed_outputs(features)
        torch.set_num_threads(2)
        two = forest.summed_outputs(features)
    finally:
        torch.set_num_threads(before)
    np.testing.assert_array_equal(one, two)


def test_deep_chain_and_single_leaf_trees():
    """A 40-level chain (walked past eight-row groups' leaves) and a tree that is one leaf."""
    depth = 40
    # Chain: node k splits on x0 <= k; left is leaf depth + 1 + k, right is the next split.
    n_inner = depth
    left, right, feature, threshold, value = [], [], [], [], []
    for k in range(n_inner):
        left.append(n_inner + k)
        right.append(k + 1 if k + 1 < n_inner else 2 * n_inner)
        feature.append(0)
        threshold.append(float(k))
        value.append(0.0)
    for k in range(n_inner + 1):
        left.append(-1)
        right.append(-1)
        feature.append(0)
        threshold.append(0.0)
        value.append(float(k))
    # A second tree made of one leaf of value 100.
    left.append(-1)
    right.append(-1)
    feature.append(0)
    threshold.append(0.0)
    value.append(100.0)
    forest = ForestArrays.build(
        left, right, feature, threshold, value, roots=[0, len(left) - 1], n_features=1
    )
    x = np.linspace(-1, depth + 1, 97)[:, None]
    expected = np.clip(np.ceil(x[:, 0]), 0, depth) + 100.0
    np.testing.assert_array_equal(forest.summed_outputs(x), expected)
    np.testing.assert_array_equal(forest.apply(x), forest.apply_numpy(x))


@pytest.fixture
def without_numba(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba", None)
    monkeypatch.delitem(sys.modules, "geosoil.models.covariate.forest_kernels", raising=False)
    forest_arrays.compiled_evaluator.cache_clear()
    yield
    forest_arrays.compiled_evaluator.cache_clear()


def test_map_without_numba_names_the_extra_and_still_predicts(models, without_numba, caplog):
    model = models["random_forest"]
    X, _ = table(50, seed=4)
    with caplog.at_level(logging.WARNING):
        ModelLayers.build(artifact_from_estimator(model, output="lead"))
    assert "pip install 'geosoil[trees]'" in caplog.text
    assert forest_arrays.compiled_evaluator() is None
    features = model._encoded(X)[0]
    expected = numpy_sums(model.forest_, features) / model.forest_.n_trees
    np.testing.assert_allclose(model._raw_output(features), expected, rtol=1e-12)
