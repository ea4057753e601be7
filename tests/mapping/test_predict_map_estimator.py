"""predict_map with a fitted estimator in memory (kriging: at the pixel centres), and the
one-call artifact helper."""

import logging

import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer

from geosoil.artifacts import artifact_from_estimator, load_artifact
from geosoil.errors import ArtifactError
from geosoil.mapping.engine import predict_map
from geosoil.mapping.job import pixel_centres
from geosoil.models import CovariateMLP
from geosoil.models.covariate.kriging import OrdinaryKriging
from geosoil.trust.layer import NOT_FOR_KRIGING

from .test_engine import GRID, setup  # noqa: F401  (the module's fixture)


def test_an_estimator_in_memory_maps_like_its_artifact(setup):  # noqa: F811
    stack, artifact, _ = setup
    from_file = predict_map(stack, [artifact], GRID, chunks=20)["target_units"].values
    in_memory = predict_map(stack, [artifact.estimator], GRID, chunks=20)["prediction"].values
    np.testing.assert_array_equal(in_memory, from_file)


def test_artifact_from_estimator_names_the_layer(setup, tmp_path):  # noqa: F811
    stack, artifact, _ = setup
    made = artifact_from_estimator(
        artifact.estimator, output="kex", units="cmol/kg", path=tmp_path / "kex.safetensors"
    )
    assert made.header.input_spec.names == ["a", "c", "g"]
    assert [layer.categorical for layer in made.header.input_spec.layers] == [False, True, False]
    assert load_artifact(tmp_path / "kex.safetensors").sha256 == made.sha256
    dataset = predict_map(stack, [made], GRID, chunks=20)
    assert dataset["kex"].attrs["units"] == "cmol/kg"


def test_an_unfitted_estimator_without_names_is_refused():
    with pytest.raises(ArtifactError, match="input names"):
        artifact_from_estimator(CovariateMLP(), output="kex")


def test_a_kriging_model_is_mapped_at_the_pixel_centres(setup):  # noqa: F811
    stack, _, _ = setup
    rng = np.random.default_rng(1)
    left, bottom, right, top = GRID.bounds
    samples = pd.DataFrame(
        {"sample_x": rng.uniform(left, right, 60), "sample_y": rng.uniform(bottom, top, 60)}
    )
    z = np.sin((samples["sample_x"] - left) / 1500) + rng.normal(scale=0.05, size=60)
    model = OrdinaryKriging(
        coordinate_columns=("sample_x", "sample_y"), variogram_models=("exponential",)
    ).fit(samples, z.to_numpy())
    artifact = artifact_from_estimator(model, output="z")  # no categorical=[] needed
    assert not any(layer.categorical for layer in artifact.header.input_spec.layers)
    mapped = predict_map(stack, [artifact], GRID, chunks=20)["z"].values
    whole = predict_map(stack, [artifact], GRID, chunks=64)["z"].values
    np.testing.assert_array_equal(mapped, whole)  # chunking changes nothing
    easting, northing = pixel_centres(GRID)
    pixels = pd.DataFrame({"sample_x": easting.ravel(), "sample_y": northing.ravel()})
    np.testing.assert_allclose(mapped.ravel(), model.predict(pixels), rtol=1e-6)


def test_a_kriging_model_is_not_called_older_than_the_trust_layer(setup, caplog):  # noqa: F811
    stack, _, _ = setup
    rng = np.random.default_rng(2)
    left, bottom, right, top = GRID.bounds
    samples = pd.DataFrame(
        {"sample_x": rng.uniform(left, right, 20), "sample_y": rng.uniform(bottom, top, 20)}
    )
    model = OrdinaryKriging(
        coordinate_columns=("sample_x", "sample_y"), variogram_models=("exponential",)
    ).fit(samples, rng.normal(size=20))
    artifact = artifact_from_estimator(model, output="z")
    assert artifact.trust.notes == (NOT_FOR_KRIGING,) and not artifact.trust.retrain_helps
    with caplog.at_level(logging.WARNING, logger="geosoil"):
        predict_map(stack, [artifact], GRID, chunks=64)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warned and all(NOT_FOR_KRIGING in message for message in warned)
    assert not any("trained before" in m or "retrain" in m for m in warned)


def test_pixel_centres_move_into_the_models_crs():
    easting, northing = pixel_centres(GRID)
    assert easting[0, 0] == GRID.transform.c + 50 and northing[0, 0] == GRID.transform.f - 50
    lon, lat = pixel_centres(GRID, "EPSG:4326")
    expected = Transformer.from_crs(GRID.crs, "EPSG:4326", always_xy=True).transform(
        easting, northing
    )
    np.testing.assert_allclose(lon, expected[0])
    np.testing.assert_allclose(lat, expected[1])
    assert 140 < lon.mean() < 141 and 37 < lat.mean() < 38
