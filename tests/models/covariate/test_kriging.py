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
from geosoil.models.covariate.kriging import OrdinaryKriging


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
