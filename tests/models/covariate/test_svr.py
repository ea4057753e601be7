"""The covariate support vector machine: scikit-learn's fit, kept and evaluated as arrays."""

import numpy as np
import pytest
from affine import Affine
from sklearn.svm import SVR

from geosoil.artifacts import load_artifact
from geosoil.errors import ArtifactError, ConfigError
from geosoil.geo.grid import Grid
from geosoil.io.catalog import CovariateLayer
from geosoil.mapping.engine import predict_map
from geosoil.mapping.stack import CovariateStack
from geosoil.models.covariate import svr as svr_module
from geosoil.models.covariate.svr import CovariateSVR

from ...rasters import write_raster
from .test_trees import rewrite, save, table


@pytest.fixture(scope="module")
def fitted():
    X, y = table()
    return CovariateSVR(categorical_features=["c"]).fit(X, y), X, y


def test_keeps_the_pair_with_the_lowest_inner_rmse_and_predicts_as_scikit_learn(fitted):
    model, X, y = fitted
    scores = model.cv_scores_
    assert len(scores) == 15
    best = min(scores, key=lambda row: row["rmse"])
    assert (model.c_, model.gamma_) == (best["C"], best["gamma"])
    assert_fitted_on_every_row(model, X, y)


def assert_fitted_on_every_row(model, X, y):
    """``model`` predicts as libsvm's RBF fit of all rows with the chosen C and gamma."""
    encoded = model.encoding_.encode(model.encoding_.matrix(X))[0]
    inputs = (encoded - model.center_) / model.scale_
    target = (y - y.mean()) / y.std()
    reference = SVR(kernel="rbf", C=model.c_, gamma=model.gamma_, epsilon=0.1).fit(inputs, target)
    expected = reference.predict(inputs) * y.std() + y.mean()
    # Fitted on the precomputed kernel: equal to libsvm's own RBF fit within its stopping
    # tolerance (tol=1e-3 on the standardized target), not to the last digit.
    np.testing.assert_allclose(model.predict(X), expected, rtol=0, atol=5e-3 * y.std())


def test_unseen_class_and_missing_covariate_are_nan(fitted):
    model, X, _ = fitted
    new = X.head(4).copy()
    new.loc[new.index[1], "c"] = 9
    new.loc[new.index[2], "a"] = np.nan
    predicted = model.predict(new)
    assert np.isnan(predicted[[1, 2]]).all() and np.isfinite(predicted[[0, 3]]).all()


def test_artifact_round_trip_and_map(fitted, tmp_path):
    model, _, _ = fitted
    grid = Grid("EPSG:32654", Affine(100.0, 0, 440000.0, 0, -100.0, 4190000.0), 12, 9)
    rng = np.random.default_rng(3)
    values = {
        "a": rng.normal(size=grid.shape).astype("float32"),
        "b": rng.uniform(size=grid.shape).astype("float32"),
        "c": rng.integers(1, 4, size=grid.shape).astype("float32"),
    }
    layers = [
        CovariateLayer(name=name, path=write_raster(tmp_path / f"{name}.tif", array))
        for name, array in values.items()
    ]
    artifact = load_artifact(save(model, tmp_path / "m.safetensors"))
    assert artifact.estimator.cv_scores_ == model.cv_scores_
    pixels = np.stack(list(values.values()), axis=-1).reshape(-1, 3)
    expected = model.predict(pixels).reshape(grid.shape)
    np.testing.assert_array_equal(artifact.estimator.predict(pixels).reshape(grid.shape), expected)
    stack = CovariateStack.from_layers(layers)
    mapped = predict_map(stack, [artifact], grid, chunks=5).compute()["t"].values
    np.testing.assert_allclose(mapped, expected, rtol=1e-6)


def test_edited_support_vectors_are_refused(fitted, tmp_path):
    model, _, _ = fitted
    path = save(model, tmp_path / "m.safetensors")
    rewrite(path, edit_tensors=lambda t: t.update({"support_vectors": t["support_vectors"][:-2]}))
    with pytest.raises(ArtifactError, match="support_vectors"):
        load_artifact(path)


@pytest.mark.parametrize(
    "params, field",
    [
        ({"c_values": []}, "model.params.c_values"),
        ({"gamma_factors": [1.0, -2.0]}, "model.params.gamma_factors"),
        ({"epsilon": -0.1}, "model.params.epsilon"),
        ({"inner_folds": 1}, "model.params.inner_folds"),
        ({"tuning_rows": 5}, "model.params.tuning_rows"),
    ],
)
def test_bad_settings_are_refused(params, field):
    X, y = table(n=30)
    with pytest.raises(ConfigError) as caught:
        CovariateSVR(categorical_features=["c"], **params).fit(X, y)
    assert caught.value.field == field


def test_large_tables_choose_on_a_subset_and_refit_on_every_row(fitted):
    X, y = table()
    model = CovariateSVR(categorical_features=["c"], tuning_rows=60).fit(X, y)
    full = fitted[0].cv_scores_
    assert [row["rmse"] for row in model.cv_scores_] != [row["rmse"] for row in full]
    best = min(model.cv_scores_, key=lambda row: row["rmse"])
    assert (model.c_, model.gamma_) == (best["C"], best["gamma"])
    assert_fitted_on_every_row(model, X, y)


def test_too_many_rows_are_refused_with_the_alternatives(monkeypatch):
    monkeypatch.setattr(svr_module, "MAX_TRAINING_ROWS", 100)
    X, y = table(n=150)
    with pytest.raises(ConfigError, match="random_forest"):
        CovariateSVR(categorical_features=["c"]).fit(X, y)
