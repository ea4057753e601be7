"""The block engine: any chunking gives the same map; nodata propagates; products and several
models share one pass; the lazy API and the store agree."""

import logging

import numpy as np
import pandas as pd
import pytest
from affine import Affine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geosoil.artifacts import Provenance, load_artifact, save_artifact
from geosoil.errors import ConfigError, CovariateError
from geosoil.geo.grid import Grid
from geosoil.geo.outputs import CLASS_NODATA, FLOAT_NODATA
from geosoil.io.catalog import CovariateLayer
from geosoil.mapping import execution
from geosoil.mapping.engine import predict_map, run_map
from geosoil.mapping.execution import Execution
from geosoil.mapping.job import MapJob
from geosoil.mapping.predictors import ModelLayers, predict_pixels
from geosoil.mapping.stack import CovariateStack
from geosoil.mapping.store import BlockStore
from geosoil.models import CovariateMLP
from geosoil.products import build_product
from geosoil.specs import InputLayer, InputSpec, OutputSpec

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


QUIET = Execution(progress=False)


def classes_product(layer="target_units"):
    return build_product(
        "threshold_classes",
        {
            "layer": layer,
            "breaks": [0.0],
            "classes": [
                {"label": "low", "color": "#ff0000"},
                {"label": "high", "color": "#00ff00"},
            ],
        },
    )


def run_to_store(job, path, chunk, execution=QUIET):
    store = BlockStore.create(
        path, job.grid, job.variables, chunk=chunk, fingerprint=job.fingerprint
    )
    statistics = run_map(job, store, execution=execution)
    return store, statistics


def read_store(store):
    import zarr

    root = zarr.open_group(store.path, mode="r", zarr_format=2)
    return {var.name: root[var.name][:] for var in store.variables}


def test_map_equals_direct_prediction(setup, tmp_path):
    stack, artifact, _ = setup
    job = MapJob.build(GRID, stack.layers, [ModelLayers.build(artifact)])
    store, statistics = run_to_store(job, tmp_path / "m.zarr", chunk=16)
    values = read_store(store)["target_units"]
    features = stack.read(GRID)
    valid = np.isfinite(features).all(axis=0)
    expected = artifact.estimator.predict(features[:, valid].T)
    np.testing.assert_array_equal(values[valid], expected)
    assert (values[~valid] == FLOAT_NODATA).all()
    assert (values[6, 12] == FLOAT_NODATA) and (values[35, 0] == FLOAT_NODATA)
    stats = statistics["target_units"]
    assert stats.count == valid.sum()
    assert stats.minimum == expected.min() and stats.maximum == expected.max()
    assert stats.mean == pytest.approx(expected.astype(float).mean())


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(chunk=st.integers(16, 50), threads=st.integers(1, 3))
def test_any_chunking_gives_the_same_bytes(setup, tmp_path_factory, chunk, threads):
    stack, artifact, _ = setup
    out = tmp_path_factory.mktemp("chunks")
    job = MapJob.build(GRID, stack.layers, [ModelLayers.build(artifact)], [classes_product()])
    one, stats_one = run_to_store(job, out / "one.zarr", chunk=64)
    many, stats_many = run_to_store(
        job, out / "many.zarr", chunk=chunk, execution=Execution(threads=threads, progress=False)
    )
    for name, values in read_store(one).items():
        np.testing.assert_array_equal(values, read_store(many)[name])
    assert stats_one["target_units"].count == stats_many["target_units"].count


def test_threads_above_the_cores_are_clamped_with_a_warning(setup, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(execution, "available_cores", lambda: 2)
    assert execution.thread_plan(None, 9) == (2, 1)
    assert execution.thread_plan(None, 1) == (1, 2)  # one block: both cores inside it
    assert not caplog.records
    with caplog.at_level(logging.WARNING, logger="geosoil.mapping.execution"):
        assert execution.thread_plan(64, 9) == (2, 1)
    assert "execution.threads=64 is more than the 2 core(s)" in caplog.text
    stack, artifact, _ = setup
    job = MapJob.build(GRID, stack.layers, [ModelLayers.build(artifact)])
    many, _ = run_to_store(
        job, tmp_path / "many.zarr", chunk=16, execution=Execution(threads=64, progress=False)
    )
    one, _ = run_to_store(job, tmp_path / "one.zarr", chunk=64)
    np.testing.assert_array_equal(read_store(many)["target_units"], read_store(one)["target_units"])


def test_products_and_several_models_share_one_pass(setup, tmp_path):
    stack, artifact, _ = setup
    models = [ModelLayers.build(artifact), ModelLayers.build(artifact, name="again")]
    job = MapJob.build(GRID, stack.layers, models, [classes_product("again")])
    assert [var.name for var in job.variables] == ["target_units", "again", "again_class"]
    assert job.stack.names == ["a", "c", "g"]  # each covariate read once for both models
    values = read_store(run_to_store(job, tmp_path / "m.zarr", chunk=20)[0])
    np.testing.assert_array_equal(values["target_units"], values["again"])
    mean = values["again"]
    classes = values["again_class"]
    assert classes.dtype == np.uint8
    valid = mean != FLOAT_NODATA
    np.testing.assert_array_equal(classes[valid], (mean[valid] >= 0).astype(np.uint8))
    assert (classes[~valid] == CLASS_NODATA).all()  # nodata propagates into products


def test_a_product_may_read_a_covariate(setup, tmp_path):
    stack, artifact, _ = setup
    job = MapJob.build(GRID, stack.layers, [ModelLayers.build(artifact)], [classes_product("a")])
    assert job.stack.names == ["a", "c", "g"]
    values = read_store(run_to_store(job, tmp_path / "m.zarr", chunk=32)[0])["a_class"]
    raw = stack.read(GRID)[0]
    valid = np.isfinite(raw)
    np.testing.assert_array_equal(values[valid], (raw[valid] >= 0).astype(np.uint8))


def test_lazy_dataset_matches_the_store(setup, tmp_path):
    stack, artifact, _ = setup
    dataset = predict_map(stack, [artifact], GRID, chunks=20, products=[classes_product()])
    assert dataset.rio.crs.to_epsg() == 32654
    assert dataset["target_units"].chunks == ((20, 18), (20, 20, 5))
    job = MapJob.build(GRID, stack.layers, [ModelLayers.build(artifact)], [classes_product()])
    stored = read_store(run_to_store(job, tmp_path / "m.zarr", chunk=20)[0])
    computed = dataset.compute()
    lazy = computed["target_units"].values
    np.testing.assert_array_equal(np.nan_to_num(lazy, nan=FLOAT_NODATA), stored["target_units"])
    classes = np.nan_to_num(computed["target_units_class"].values, nan=CLASS_NODATA)
    np.testing.assert_array_equal(classes.astype(np.uint8), stored["target_units_class"])


def test_predict_pixels_handles_a_block_without_valid_pixels(setup):
    _, artifact, _ = setup
    features = np.full((3, 4, 5), np.nan, dtype=np.float32)
    assert np.isnan(predict_pixels(artifact.estimator, features)).all()


def test_a_covariate_the_model_needs_is_missing(setup):
    stack, artifact, _ = setup
    with pytest.raises(CovariateError, match="needs covariate 'g'"):
        MapJob.build(GRID, stack.layers[:2], [ModelLayers.build(artifact)])


def test_a_product_reading_an_unknown_layer(setup):
    stack, artifact, _ = setup
    with pytest.raises(ConfigError, match="neither a model output nor a catalog covariate"):
        MapJob.build(GRID, stack.layers, [ModelLayers.build(artifact)], [classes_product("x")])


def test_two_outputs_with_one_name(setup):
    stack, artifact, _ = setup
    models = [ModelLayers.build(artifact), ModelLayers.build(artifact)]
    with pytest.raises(ConfigError, match="used twice") as info:
        MapJob.build(GRID, stack.layers, models)
    assert "distinct `name`" in str(info.value)


def test_uncertainty_needs_a_model_that_offers_it(setup):
    _, artifact, _ = setup
    with pytest.raises(ConfigError, match="no predictive distribution"):
        ModelLayers.build(artifact, uncertainty=True)


@pytest.mark.slow
def test_distributed_run_equals_threaded_run(setup, tmp_path):
    stack, artifact, _ = setup
    job = MapJob.build(GRID, stack.layers, [ModelLayers.build(artifact)], [classes_product()])
    threaded, stats_threaded = run_to_store(job, tmp_path / "threaded.zarr", chunk=16)
    distributed, stats_distributed = run_to_store(
        job, tmp_path / "distributed.zarr", chunk=16, execution=Execution(workers=2, progress=False)
    )
    for name, values in read_store(threaded).items():
        np.testing.assert_array_equal(values, read_store(distributed)[name])
    assert stats_threaded == stats_distributed
