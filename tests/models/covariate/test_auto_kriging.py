"""auto's regression-kriging variant: scored on inner folds from the out-of-fold residuals,
delivered as residual kriging, saved without pickle, mapped at the pixel centres."""

import numpy as np
import pandas as pd
import pytest

from geosoil.artifacts import artifact_from_estimator, load_artifact
from geosoil.errors import ConfigError, SampleDataError
from geosoil.evaluate.metrics import regression_metrics
from geosoil.mapping.engine import predict_map
from geosoil.mapping.job import pixel_centres
from geosoil.models.covariate import stack as stack_module
from geosoil.models.covariate.auto import (
    COORDINATE_COLUMNS,
    GROUP_COLUMN,
    KRIGED,
    AutoCovariate,
)
from geosoil.models.covariate.kriging import OrdinaryKriging, ResidualKriging
from geosoil.models.covariate.stack import out_of_fold

from ...mapping.test_engine import GRID, setup  # noqa: F401  (the module's fixture)
from .test_auto import FAST
from .test_trees import table

VARIOGRAMS = {"variogram_models": ["exponential"]}


def spatial_table(n=120, seed=0):
    """``table()`` plus coordinates on a 5 x 5 km square and a smooth field in space that
    the covariates cannot explain: residuals a kriging of them should recover."""
    X, y = table(n, seed)
    rng = np.random.default_rng(seed + 7)
    xy = rng.uniform(0, 5000, size=(n, 2))
    field = 2.0 * np.sin(xy[:, 0] / 900) + 1.5 * np.cos(xy[:, 1] / 700)
    X = X.assign(sample_x=xy[:, 0], sample_y=xy[:, 1])
    return X, y + field


def auto(candidates=("linear",), **extra):
    return AutoCovariate(
        candidates=list(candidates),
        candidate_params={k: v for k, v in FAST.items() if k in candidates},
        params={"categorical_features": ["c"]},
        **extra,
    )


def test_the_kriged_variant_is_scored_from_the_other_folds_out_of_fold_residuals():
    X, y = spatial_table()
    model = auto(stack=False).fit(X, y)
    folds = model.inner_folds(X)
    oof = out_of_fold(lambda: model.make("linear"), X, y, folds)
    expected = np.full(len(y), np.nan)
    for train_idx, test_idx in folds:
        kriging = OrdinaryKriging(coordinate_columns=COORDINATE_COLUMNS)
        kriging.fit(X.iloc[train_idx], y[train_idx] - oof[train_idx])
        expected[test_idx] = oof[test_idx] + kriging.predict(X.iloc[test_idx])
    scores = model.inner_scores_
    assert set(scores) == {"linear", "linear" + KRIGED}
    assert scores["linear" + KRIGED]["rmse"] == pytest.approx(
        regression_metrics(y, expected)["rmse"], rel=1e-5
    )
    # the field in space is there to be kriged: the variant wins and is delivered
    assert scores["linear" + KRIGED]["rmse"] < 0.7 * scores["linear"]["rmse"]
    assert model.best_name_ == "linear" + KRIGED
    delivered = model.best_estimator_
    assert isinstance(delivered, ResidualKriging) and delivered.base == "linear"
    # the learner refitted on all rows, the kriging of its inner out-of-fold residuals
    refit = model.make("linear", delivered=True).fit(X.drop(columns=list(COORDINATE_COLUMNS)), y)
    np.testing.assert_allclose(delivered.base_.predict(X[["a", "b", "c"]]), refit.predict(X))
    np.testing.assert_allclose(delivered.kriging_.z_, y - oof)
    np.testing.assert_array_equal(model.predict(X), delivered.predict(X))


def test_a_kriged_stack_is_delivered_and_survives_the_artifact(tmp_path):
    X, y = spatial_table()
    y = y + 3 * np.sign(X["a"].to_numpy())  # a step neither ridge nor the forest gets alone
    model = auto(["linear", "random_forest"]).fit(X.assign(**{GROUP_COLUMN: np.arange(120) % 7}), y)
    assert model.inner_grouped_ and model.best_name_ == "stack" + KRIGED
    delivered = model.best_estimator_
    assert delivered.feature_names_in_ == ["a", "b", "c", "sample_x", "sample_y"]
    assert delivered.base == "stack" and delivered.base_.members == ["linear", "random_forest"]
    assert delivered.base_.weights_.tolist() == list(model.weights_.values())
    assert delivered.base_.member_params == {
        "random_forest": {"max_features": "oob", **FAST["random_forest"]}
    }
    artifact = artifact_from_estimator(delivered, output="t", path=tmp_path / "rk.safetensors")
    assert [layer.categorical for layer in artifact.header.input_spec.layers] == [
        False, False, True, False, False,
    ]  # fmt: skip
    loaded = load_artifact(tmp_path / "rk.safetensors").estimator
    assert isinstance(loaded, ResidualKriging)
    new = spatial_table(n=40, seed=3)[0]
    np.testing.assert_array_equal(loaded.predict(new), model.predict(new))
    np.testing.assert_array_equal(loaded.predict(new.to_numpy()), model.predict(new))


def test_auto_maps_its_kriged_variant_at_the_pixel_centres(setup):  # noqa: F811
    stack, _, _ = setup
    values = stack.read(GRID).astype(np.float64)  # a, c, g
    easting, northing = pixel_centres(GRID)
    rows, cols = np.nonzero(np.isfinite(values).all(axis=0))
    pick = np.random.default_rng(4).choice(len(rows), 150, replace=False)
    rows, cols = rows[pick], cols[pick]
    X = pd.DataFrame(
        dict(zip(["a", "c", "g"], values[:, rows, cols], strict=True))
        | {"sample_x": easting[rows, cols], "sample_y": northing[rows, cols]}
    )
    field = np.sin((X["sample_x"] - 440000) / 900) + np.cos((X["sample_y"] - 4186200) / 700)
    y = (2 * X["a"] + X["c"] - X["g"] + 2 * field).to_numpy()
    model = AutoCovariate(
        candidates=["linear"], params={"categorical_features": ["c"]}, krige_residuals=True
    ).fit(X, y)
    assert model.best_name_ == "linear" + KRIGED
    artifact = artifact_from_estimator(model.best_estimator_, output="z")
    mapped = predict_map(stack, [artifact], GRID, chunks=20)["z"].values
    whole = predict_map(stack, [artifact], GRID, chunks=64)["z"].values
    np.testing.assert_array_equal(mapped, whole)  # chunking changes nothing
    pixels = pd.DataFrame(
        dict(zip(["a", "c", "g"], values.reshape(3, -1), strict=True))
        | {"sample_x": easting.ravel(), "sample_y": northing.ravel()}
    )
    valid = np.isfinite(mapped.ravel())
    assert valid.sum() > 0.9 * len(rows) and valid.sum() > 1000
    np.testing.assert_allclose(
        mapped.ravel()[valid], model.predict(pixels[valid]), rtol=1e-5, atol=1e-5
    )
    residual = model.best_estimator_.kriging_.predict(pixels[valid])
    assert np.abs(residual).max() > 0.1  # the kriged residual is on the map


def test_kriged_residuals_without_coordinates_are_refused_with_the_field_and_fix():
    X, y = table()
    with pytest.raises(ConfigError, match="no coordinates") as info:
        auto(krige_residuals=True).fit(X, y)
    assert info.value.field == "model.params.krige_residuals"
    assert "sample_x" in info.value.fix and "krige_residuals: false" in info.value.fix
    with pytest.raises(ConfigError, match="krige_residuals"):
        auto(krige_residuals="yes")
    # by default a table without coordinates simply has no kriged variant
    assert set(auto().fit(X, y).inner_scores_) == {"linear"}
    assert not auto(krige_residuals=False).uses_coordinates and auto().uses_coordinates


def test_duplicated_coordinates_fail_the_variant_or_are_refused_when_it_was_asked_for():
    X, y = spatial_table()
    X.loc[5, ["sample_x", "sample_y"]] = X.loc[4, ["sample_x", "sample_y"]].to_numpy()
    model = auto().fit(X, y)
    assert model.best_name_ == "linear"
    assert "repeat the coordinates" in model.failures_["linear" + KRIGED]
    with pytest.raises(SampleDataError, match="repeat the coordinates"):
        auto(krige_residuals=True).fit(X, y)


def test_residual_kriging_keeps_fold_groups_whole_in_its_inner_folds(monkeypatch):
    X, y = spatial_table()
    groups = (X["sample_x"] // 1000).astype(int).to_numpy()
    seen = []
    original = stack_module.out_of_fold

    def spy(make, X, y, folds):
        seen.append(folds)
        return original(make, X, y, folds)

    monkeypatch.setattr(stack_module, "out_of_fold", spy)
    model = ResidualKriging(base="linear", categorical_features=["c"], **VARIOGRAMS)
    model.fit(X.assign(**{GROUP_COLUMN: groups}), y)
    (folds,) = seen
    for train_idx, test_idx in folds:
        assert not set(groups[train_idx]) & set(groups[test_idx])
    assert model.feature_names_in_ == ["a", "b", "c", "sample_x", "sample_y"]
    np.testing.assert_array_equal(
        model.predict(X), model.predict(X.assign(**{GROUP_COLUMN: groups}))
    )
