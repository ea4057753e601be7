"""Tree ensembles: the numpy evaluator equals the libraries, artifacts hold arrays only and
refuse edits, quantiles follow their definition, and the engine maps them."""

import json

import lightgbm
import numpy as np
import pandas as pd
import pytest
from affine import Affine
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from sklearn.ensemble import RandomForestRegressor

from geosoil.artifacts import (
    InputLayer,
    InputSpec,
    OutputSpec,
    Provenance,
    load_artifact,
    save_artifact,
)
from geosoil.errors import ArtifactError, ConfigError, CovariateError
from geosoil.geo.grid import Grid
from geosoil.io.catalog import CovariateLayer
from geosoil.mapping.engine import predict_map
from geosoil.mapping.stack import CovariateStack
from geosoil.models.covariate.forest_arrays import ForestArrays
from geosoil.models.covariate.trees import (
    OOB_SHARES,
    CovariateGBM,
    CovariateQuantileForest,
    CovariateRandomForest,
)

from ...rasters import write_raster

SMALL = {"n_estimators": 40}


def table(n=150, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {"a": rng.normal(size=n), "b": rng.uniform(0, 1, n), "c": rng.integers(1, 4, n)}
    )
    y = 5.0 + X["a"] + 3 * X["b"] ** 2 + (X["c"] == 2) * 1.5 + rng.normal(scale=0.1, size=n)
    return X, y.to_numpy()


def fitted(cls, **extra):
    X, y = table()
    return cls(categorical_features=["c"], **SMALL, **extra).fit(X, y), X, y


def encoded(model, X):
    return model._encoded(X)[0]


@pytest.mark.parametrize("cls", [CovariateRandomForest, CovariateQuantileForest])
def test_forest_arrays_predict_exactly_as_scikit_learn(cls):
    model, X, y = fitted(cls)
    library = RandomForestRegressor(
        n_estimators=40, max_features=1 / 3, min_samples_leaf=5, random_state=0
    ).fit(model.encoding_.encode(model.encoding_.matrix(X))[0], y)
    new, _ = table(60, seed=1)
    np.testing.assert_array_equal(
        model.predict(new), library.predict(encoded(model, new)).astype(np.float32)
    )


def test_gbm_arrays_predict_as_lightgbm():
    model, _, _ = fitted(CovariateGBM)
    new, _ = table(60, seed=1)
    booster = lightgbm.Booster(model_str=model.model_text_)
    reference = booster.predict(encoded(model, new))
    np.testing.assert_allclose(model._raw_output(encoded(model, new)), reference, rtol=1e-12)


def test_quantile_forest_follows_meinshausen_weights():
    model, X, y = fitted(CovariateQuantileForest)
    new, _ = table(5, seed=2)
    mean, std, quantiles = model.predict_dist(new, levels=(0.1, 0.5, 0.9))
    np.testing.assert_array_equal(mean, model.predict(new))
    # Brute force: each training target weighs 1/(leaf size) in every tree it shares a
    # leaf with the row, averaged over trees.
    train_leaves = model.forest_.apply(encoded(model, X))
    for row, leaves in enumerate(model.forest_.apply(encoded(model, new))):
        same = train_leaves == leaves[None, :]
        weights = (same / same.sum(axis=0)).mean(axis=1)
        order = np.argsort(y)
        cdf = np.cumsum(weights[order])
        for k, level in enumerate((0.1, 0.5, 0.9)):
            expected = y[order][np.searchsorted(cdf, level - 1e-12)]
            assert quantiles[k, row] == pytest.approx(expected, rel=1e-6)
        centre = weights @ y
        assert std[row] == pytest.approx(np.sqrt(weights @ (y - centre) ** 2), rel=1e-5)
    assert (np.diff(quantiles, axis=0) >= 0).all()


def test_unseen_class_is_nan_not_the_average_class():
    model, X, _ = fitted(CovariateRandomForest)
    new = X.head(4).copy()
    new.loc[new.index[1], "c"] = 9
    predicted = model.predict(new)
    assert np.isnan(predicted[1]) and np.isfinite(predicted[[0, 2, 3]]).all()
    assert model.encoding_.unseen_classes(new) == {"c": [9]}


def test_text_covariate_must_be_declared_categorical():
    X, y = table()
    X["c"] = X["c"].map({1: "sand", 2: "clay", 3: "loam"})
    with pytest.raises(CovariateError, match="hold text"):
        CovariateRandomForest(**SMALL).fit(X, y)


def save(model, path):
    return save_artifact(
        model,
        path,
        input_spec=InputSpec(
            kind="covariates",
            layers=[
                InputLayer(name="a"),
                InputLayer(name="b"),
                InputLayer(name="c", categorical=True),
            ],
        ),
        output_spec=OutputSpec(names=["t"], units=["u"]),
        provenance=Provenance(data_fingerprint="x", n_samples=150, seed=0),
    )


@pytest.mark.parametrize("cls", [CovariateRandomForest, CovariateQuantileForest, CovariateGBM])
def test_artifact_round_trip_gives_the_same_predictions(cls, tmp_path):
    model, X, _ = fitted(cls)
    loaded = load_artifact(save(model, tmp_path / "m.safetensors")).estimator
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert loaded.feature_importance() == pytest.approx(model.feature_importance())
    if cls is CovariateQuantileForest:
        for a, b in zip(loaded.predict_dist(X), model.predict_dist(X), strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cls", [CovariateRandomForest, CovariateQuantileForest])
def test_oob_max_features_keeps_the_share_with_the_lowest_out_of_bag_error(cls, tmp_path):
    model, X, y = fitted(cls, max_features="oob")
    assert set(model.oob_mse_) == {f"{share:.4f}" for share in OOB_SHARES}
    for share in OOB_SHARES:  # each share's out-of-bag error, recomputed by scikit-learn
        library = RandomForestRegressor(
            n_estimators=40, max_features=share, min_samples_leaf=5, random_state=0,
            oob_score=True,
        ).fit(encoded(model, X), y)  # fmt: skip
        mse = np.nanmean((library.oob_prediction_ - y) ** 2)
        assert model.oob_mse_[f"{share:.4f}"] == pytest.approx(mse)
    best = min(OOB_SHARES, key=lambda share: model.oob_mse_[f"{share:.4f}"])
    assert model.max_features_ == best
    fixed, _, _ = fitted(cls, max_features=best)  # the same trees as a forest of that share
    np.testing.assert_array_equal(model.predict(X), fixed.predict(X))
    loaded = load_artifact(save(model, tmp_path / "m.safetensors")).estimator
    assert (loaded.max_features, loaded.max_features_) == ("oob", best)
    assert loaded.oob_mse_ == pytest.approx(model.oob_mse_)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


@pytest.mark.parametrize("value", [0, 1.5, "sqrt", True])
def test_max_features_outside_a_share_is_refused(value):
    X, y = table()
    with pytest.raises(ConfigError, match="max_features") as caught:
        CovariateRandomForest(max_features=value, **SMALL).fit(X, y)
    assert caught.value.field == "model.params.max_features"


def rewrite(path, edit_tensors=None, edit_header=None):
    with safe_open(path, framework="numpy") as handle:
        metadata = handle.metadata()
    tensors = load_file(path)
    if edit_tensors:
        edit_tensors(tensors)
    if edit_header:
        header = json.loads(metadata["geosoil"])
        edit_header(header)
        metadata = {"geosoil": json.dumps(header)}
    save_file(tensors, path, metadata=metadata)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.update({"forest.left": t["forest.left"][:-3].clone()}), "differ in length"),
        (lambda t: t["forest.left"].__setitem__(0, 0), "reached twice"),
        (lambda t: t["forest.feature"].__setitem__(0, 99), "split features outside"),
        (
            lambda t: t.update({"qrf.train_leaf": t["qrf.train_leaf"][:, :-1].contiguous()}),
            "quantile arrays",
        ),
        (lambda t: t.pop("forest.roots"), "is missing"),
    ],
)
def test_edited_tree_arrays_are_refused(tmp_path, edit, message):
    model, _, _ = fitted(CovariateQuantileForest)
    path = save(model, tmp_path / "m.safetensors")
    rewrite(path, edit_tensors=edit)
    with pytest.raises(ArtifactError, match=message) as info:
        load_artifact(path)
    assert "retrain" in str(info.value)


def test_edited_lightgbm_text_is_refused(tmp_path):
    model, _, _ = fitted(CovariateGBM)
    path = save(model, tmp_path / "m.safetensors")

    def corrupt(header):
        text = header["fitted_state"]["lightgbm_model"]
        header["fitted_state"]["lightgbm_model"] = text.replace("left_child=", "left_child=7 ", 1)

    rewrite(path, edit_header=corrupt)
    with pytest.raises(ArtifactError, match="do not match num_leaves"):
        load_artifact(path)


def test_forest_arrays_refuse_a_cycle():
    with pytest.raises(ValueError, match="reached twice"):
        ForestArrays.build([1, 0], [1, 0], [0, 0], [0.0, 0.0], [0.0, 1.0], [0], n_features=1)


@pytest.mark.parametrize("cls", [CovariateRandomForest, CovariateQuantileForest, CovariateGBM])
def test_predict_map_maps_tree_models(cls, tmp_path):
    grid = Grid("EPSG:32654", Affine(100.0, 0, 440000.0, 0, -100.0, 4190000.0), 12, 9)
    rng = np.random.default_rng(3)
    a = rng.normal(size=grid.shape).astype("float32")
    a[2, 3] = -9999.0
    b = rng.uniform(size=grid.shape).astype("float32")
    c = rng.integers(1, 4, size=grid.shape).astype("float32")
    c[0, 0] = 7  # a class training never saw
    layers = [
        CovariateLayer(name=name, path=write_raster(tmp_path / f"{name}.tif", values))
        for name, values in (("a", a), ("b", b), ("c", c))
    ]
    model, _, _ = fitted(cls)
    artifact = load_artifact(save(model, tmp_path / "m.safetensors"))
    stack = CovariateStack.from_layers(layers)
    mapped = predict_map(stack, [artifact], grid, chunks=5).compute()["t"].values
    expected = model.predict(np.stack([a, b, c], axis=-1).reshape(-1, 3)).reshape(grid.shape)
    expected[2, 3] = np.nan
    np.testing.assert_array_equal(mapped, expected)
    assert np.isnan(mapped[0, 0]) and np.isnan(mapped[2, 3])
