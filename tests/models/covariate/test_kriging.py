"""Ordinary kriging: variogram chosen automatically, exact at the samples, clear refusals."""

import numpy as np
import pandas as pd
import pytest

from geosoil.artifacts import (
    InputLayer,
    InputSpec,
    OutputSpec,
    Provenance,
    load_artifact,
    save_artifact,
)
from geosoil.errors import CovariateError, SampleDataError
from geosoil.models.covariate.kriging import OrdinaryKriging, ResidualKriging


def field(n=80, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"x": rng.uniform(0, 1000, n), "y": rng.uniform(0, 1000, n)})
    z = np.sin(X["x"] / 300) + np.cos(X["y"] / 250) + rng.normal(scale=0.05, size=n)
    return X, z.to_numpy()


def test_kriging_chooses_a_variogram_and_predicts_between_samples(tmp_path):
    X, z = field()
    model = OrdinaryKriging().fit(X.iloc[:60], z[:60])
    assert model.variogram_["model"] in {"spherical", "exponential", "gaussian"}
    chosen = model.variogram_["cr"]
    assert all(chosen <= fit["cr"] for fit in model.variogram_fits_.values())
    predicted = model.predict(X.iloc[60:])
    assert np.corrcoef(predicted, z[60:])[0, 1] > 0.9
    path = save_artifact(
        model,
        tmp_path / "ok.safetensors",
        input_spec=InputSpec(
            kind="covariates", layers=[InputLayer(name="x"), InputLayer(name="y")]
        ),
        output_spec=OutputSpec(names=["t"], units=[""]),
        provenance=Provenance(data_fingerprint="x", n_samples=60, seed=0),
    )
    loaded = load_artifact(path)
    assert loaded.header.fitted_state["variogram"]["model"] == model.variogram_["model"]
    np.testing.assert_array_equal(loaded.estimator.predict(X.iloc[60:]), predicted)


def test_kriging_without_coordinates_is_refused():
    X, z = field()
    with pytest.raises(CovariateError, match="coordinate columns"):
        OrdinaryKriging().fit(X.rename(columns={"x": "easting"}), z)


def test_kriging_with_duplicated_coordinates_is_refused():
    X, z = field()
    X.iloc[5] = X.iloc[4]
    with pytest.raises(SampleDataError, match="repeat the coordinates"):
        OrdinaryKriging().fit(X, z)


def log_normal_field(n=90, seed=3):
    """A positive, skewed target: 10 ** (covariate trend + spatial field + noise)."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {"x": rng.uniform(0, 1000, n), "y": rng.uniform(0, 1000, n), "c": rng.uniform(0, 1, n)}
    )
    field_z = 0.5 * np.sin(X["x"] / 200) * np.cos(X["y"] / 250)
    z = X["c"] - 1.0 + field_z + rng.normal(scale=0.05, size=n)
    return X, (10.0**z).to_numpy()


def residual_kriging(**params):
    return ResidualKriging(
        base="linear", coordinate_columns=("x", "y"), variogram_models=("exponential",),
        inner_splits=4, target_transform="log10", **params,
    )  # fmt: skip


def test_residual_kriging_of_a_log_target_is_kriged_on_the_log_scale():
    X, y = log_normal_field()
    model = residual_kriging().fit(X.iloc[:70], y[:70])
    assert model.residual_scale_ == "model"
    new = X.iloc[70:]
    predicted = model.predict(new)
    assert (predicted > 0).all()
    trend_z = np.log10(model.base_.predict(new[["c"]]).astype(np.float64))
    residual_z = model.kriging_.predict(new).astype(np.float64)
    assert np.abs(residual_z).max() > 0.01  # the kriged residual matters
    np.testing.assert_allclose(predicted, 10.0 ** (trend_z + residual_z), rtol=1e-5)
    # The kriged residuals are log10 residuals: about the spread of the field, not of y.
    assert np.abs(model.kriging_.z_).max() < 1.0 < np.ptp(y)


def test_a_residual_kriging_state_without_its_scale_adds_on_the_raw_scale():
    X, y = log_normal_field()
    model = residual_kriging().fit(X, y)
    tensors, state = model.export_state()
    assert state["residual_scale"] == "model"
    older = {k: v for k, v in state.items() if k != "residual_scale"}
    loaded = ResidualKriging.from_state(model.get_params(), tensors, older)
    assert loaded.residual_scale_ == "target"
    trend = model.base_.predict(X[["c"]]).astype(np.float64)
    np.testing.assert_allclose(
        loaded.predict(X), trend + model.kriging_.predict(X), rtol=1e-5, atol=1e-6
    )
    same = ResidualKriging.from_state(model.get_params(), tensors, state)
    np.testing.assert_array_equal(same.predict(X), model.predict(X))
