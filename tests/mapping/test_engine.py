"""The block engine: any chunking gives the same map, nodata propagates, output is a COG."""

import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rio_cogeo.cogeo import cog_validate

from geosoil.artifacts import (
    InputLayer,
    InputSpec,
    OutputSpec,
    Provenance,
    load_artifact,
    save_artifact,
)
from geosoil.errors import CovariateError
from geosoil.io.catalog import CovariateLayer
from geosoil.mapping.engine import NODATA, predict_block, predict_to_cog
from geosoil.mapping.grid import Grid
from geosoil.mapping.stack import CovariateStack
from geosoil.models import CovariateMLP

from ..rasters import write_raster

GRID = Grid("EPSG:32654", Affine(100.0, 0, 440000.0, 0, -100.0, 4190000.0), width=45, height=38)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("engine")
    rng = np.random.default_rng(0)
    ramp = rng.normal(size=GRID.shape).astype("float32")
    ramp[5:9, 10:20] = -9999.0  # a nodata hole
    classes = rng.integers(1, 4, size=GRID.shape).astype("uint8")
    classes[30:, :3] = 0
    # A coarse geographic layer: every block read goes through a real reprojection.
    geographic = rng.normal(size=(30, 40)).astype("float32")
    layers = [
        CovariateLayer(name="a", path=write_raster(folder / "a.tif", ramp)),
        CovariateLayer(
            name="c", path=write_raster(folder / "c.tif", classes, nodata=0), categorical=True
        ),
        CovariateLayer(
            name="g",
            path=write_raster(
                folder / "g.tif",
                geographic,
                crs="EPSG:4326",
                transform=Affine(0.0025, 0, 140.30, 0, -0.0025, 37.86),
            ),
        ),
    ]
    X = pd.DataFrame(
        {"a": rng.normal(size=200), "c": rng.integers(1, 4, 200), "g": rng.normal(size=200)}
    )
    y = X["a"] * 2 + X["c"] - X["g"]
    model = CovariateMLP(max_epochs=10, categorical_features=["c"]).fit(X, y)
    path = save_artifact(
        model,
        folder / "model.safetensors",
        input_spec=InputSpec(
            kind="covariates",
            layers=[
                InputLayer(name="a"),
                InputLayer(name="c", categorical=True),
                InputLayer(name="g"),
            ],
        ),
        output_spec=OutputSpec(names=["target_units"], units=["u"]),
        provenance=Provenance(data_fingerprint="x", n_samples=200, seed=0),
    )
    return CovariateStack.from_layers(layers), load_artifact(path), folder


def read_cog(path):
    with rasterio.open(path) as dataset:
        return dataset.read(1)


def test_map_equals_direct_prediction(setup, tmp_path):
    stack, artifact, _ = setup
    summary = predict_to_cog(stack, artifact, GRID, tmp_path / "m.tif", block_size=16)
    values = read_cog(summary.path)
    features = stack.read(GRID)
    valid = np.isfinite(features).all(axis=0)
    expected = artifact.estimator.predict(features[:, valid].T)
    np.testing.assert_array_equal(values[valid], expected)
    assert (values[~valid] == NODATA).all()
    assert summary.n_valid == valid.sum()
    assert (values[6, 12] == NODATA) and (values[35, 0] == NODATA)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.integers(5, 50), cols=st.integers(5, 50))
def test_any_block_size_gives_the_same_bytes_of_data(setup, tmp_path_factory, rows, cols):
    stack, artifact, _ = setup
    out = tmp_path_factory.mktemp("blocks")
    one = predict_to_cog(stack, artifact, GRID, out / "one.tif", block_size=512)
    many = predict_to_cog(stack, artifact, GRID, out / "many.tif", block_size=(rows, cols))
    np.testing.assert_array_equal(read_cog(one.path), read_cog(many.path))


def test_output_is_a_valid_cog_with_metadata(setup, tmp_path):
    stack, artifact, _ = setup
    path = predict_to_cog(stack, artifact, GRID, tmp_path / "m.tif", tags={"k": "v"}).path
    is_valid, errors, _ = cog_validate(str(path))
    assert is_valid, errors
    with rasterio.open(path) as dataset:
        assert dataset.nodata == NODATA
        assert dataset.descriptions == ("target_units",)
        assert dataset.units == ("u",)
        assert dataset.tags()["k"] == "v"
        assert float(dataset.tags(1)["STATISTICS_MINIMUM"]) <= float(
            dataset.tags(1)["STATISTICS_MAXIMUM"]
        )
        assert dataset.profile["compress"].lower() == "zstd"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.qml", "m.tif"]  # no scratch left


def test_predict_block_handles_a_block_without_valid_pixels(setup):
    _, artifact, _ = setup
    features = np.full((2, 4, 5), np.nan, dtype=np.float32)
    assert np.isnan(predict_block(features, artifact.estimator)).all()


def test_stack_must_match_the_artifact(setup, tmp_path):
    stack, artifact, _ = setup
    reversed_stack = CovariateStack.from_layers(stack.layers[::-1])  # same layers, wrong order
    with pytest.raises(CovariateError, match="does not match"):
        predict_to_cog(reversed_stack, artifact, GRID, tmp_path / "m.tif")
    assert not (tmp_path / "m.tif").exists()
