"""SOC maps: the cell lattice, prediction cells -> COGs, BINN's flat interface and engine
maps over the synthetic rasters (truth, chunking)."""

from __future__ import annotations

import dataclasses
import json
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest
import rasterio
from click.testing import CliRunner

from geosoil.cli.soc_cells import command as soc_cells_command
from geosoil.config import MapConfig, SocCellsConfig, SocTrainConfig, load_config
from geosoil.errors import CovariateError, InputFileNotFoundError, SampleDataError
from geosoil.io.catalog import read_catalog
from geosoil.io.profiles import FORCING_SHAPES, ProfileSet, write_profile_folder
from geosoil.mapping.engine import run_map
from geosoil.mapping.execution import Execution
from geosoil.mapping.store import BlockStore
from geosoil.models.soc.binn import BINN
from geosoil.models.training import torch_threads
from geosoil.synthetic import synthesize
from geosoil.synthetic.soc_profiles import soc_profile_set
from geosoil.synthetic.soc_rasters import forcing_band_names, soc_world_rasters
from geosoil.workflows import map_from_config, soc_cells_from_config, train_soc_from_config
from geosoil.workflows.map import build_job
from geosoil.workflows.soc_maps import cell_lattice, density_name

from ..conftest import CONFIGS

LEARNED = ["efolding", "tau4s3", "fs1s3", "w_scaling"]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


# Quick BINN artifacts: profiles, seed of the synthetic set, config overrides.
ARTIFACTS = {
    # fitted on the four varying parameters; no CV, so no intervals
    "plain": (200, 1, ["model.params.max_epochs=20", "model.params.hidden_layers=[16]",
                       "model.params.learning_rate=0.01", "cv.enabled=false"]),
    # cross-validated (2 folds, no baselines): holds a conformal calibration
    "intervals": (40, 3, ["model.params.max_epochs=3", "model.params.hidden_layers=[8]",
                          "cv.n_folds=2", "cv.baselines=[]"]),
}  # fmt: skip


def train_quick(tmp_path_factory, kind: str):
    """The artifact ``kind`` of :data:`ARTIFACTS`, from the synthetic training config."""
    n_profiles, seed, overrides = ARTIFACTS[kind]
    root = tmp_path_factory.mktemp(f"soc_train_{kind}")
    write_profile_folder(soc_profile_set(n_profiles, seed=seed).profiles, root / "profiles")
    config = load_config(
        CONFIGS / "soc" / "synthetic_train.yaml",
        SocTrainConfig,
        [
            f"profiles.path={root / 'profiles'}",
            f"output.dir={root / 'model'}",
            "model.params.threads=1",
            *overrides,
        ],
    )
    return train_soc_from_config(config).artifact


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_quick(tmp_path_factory, "plain")


@pytest.fixture(scope="module")
def model(trained) -> BINN:
    from geosoil.artifacts import load_artifact

    return load_artifact(trained).estimator


# ------------------------------------------------------------------------------- lattice
def test_lattice_places_cells_on_their_centres():
    lon = np.array([-79.75, -79.25, -78.25, -79.75, -78.75])
    lat = np.array([44.75, 44.75, 44.75, 43.75, 44.25])
    lattice = cell_lattice(lon, lat)
    grid = lattice.grid
    assert (grid.width, grid.height, grid.crs) == (4, 3, "EPSG:4326")
    t = grid.transform
    x, y = t.c + (lattice.cols + 0.5) * t.a, t.f + (lattice.rows + 0.5) * t.e
    np.testing.assert_allclose(x, lon)
    np.testing.assert_allclose(y, lat)
    plane = lattice.plane(np.arange(5.0))
    assert np.isfinite(plane).sum() == 5 and plane[lattice.rows[3], lattice.cols[3]] == 3.0


@pytest.mark.parametrize(
    ("lon", "lat", "message"),
    [
        ([0.0, 0.5, 1.0, 1.3], [0.0, 0.0, 0.0, 0.0], "not on a regular lattice"),
        ([0.0, 0.5, 0.5], [0.0, 0.5, 0.5], "more than one cell"),
        ([0.0, 0.0], [0.0, 0.5], "cell size cannot be inferred"),
        ([0.0, float("nan")], [0.0, 0.5], "no Lon/Lat"),
    ],
)
def test_irregular_cells_are_refused(lon, lat, message):
    with pytest.raises(SampleDataError, match=message) as info:
        cell_lattice(np.array(lon), np.array(lat))
    assert info.value.field.startswith("cells.")


def test_given_resolution_is_checked_and_used():
    lattice = cell_lattice(np.array([0.0, 0.0]), np.array([0.0, 0.5]), resolution_deg=(0.5, 0.5))
    assert (lattice.grid.width, lattice.grid.height) == (1, 2)
    with pytest.raises(SampleDataError, match="regular lattice"):
        cell_lattice(np.array([0.0, 0.7]), np.array([0.0, 0.0]), resolution_deg=(0.5, 0.5))


# --------------------------------------------------------------------------------- cells
@pytest.fixture(scope="module")
def cells_dir(tmp_path_factory):
    """12 prediction cells on a 0.5 degree lattice with one hole; cell 4 is incomplete."""
    profiles = soc_profile_set(12, seed=9).profiles
    lon = np.tile([140.25, 140.75, 141.25, 141.75], 3)
    lat = np.repeat([37.75, 37.25, 36.75], 4)
    keep = np.arange(12) != 6  # a hole in the lattice
    covariates = profiles.covariates.copy()
    covariates["Lon"], covariates["Lat"] = lon, lat
    covariates.loc[4, "BIO12"] = np.nan
    cells = ProfileSet(
        profile_id=np.arange(100, 112),
        covariates=covariates,
        forcings=profiles.forcings,
        categorical=profiles.categorical,
        covariate_ranges=profiles.covariate_ranges,
    ).subset(keep)
    folder = tmp_path_factory.mktemp("cells") / "binn"
    write_profile_folder(cells, folder)
    return folder, cells


def test_cells_become_lon_lat_cogs(trained, model, cells_dir, tmp_path):
    folder, cells = cells_dir
    out = tmp_path / "cells"
    result = CliRunner().invoke(
        soc_cells_command,
        [
            str(CONFIGS / "soc" / "binn_ny_cells.yaml"),
            "--out",
            str(out),
            "--set",
            f"model={trained}",
            "--set",
            f"cells.path={folder}",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "10 of 11 cells mapped" in result.output

    complete = cells.subset(np.arange(cells.n_profiles) != 4)
    stocks = model.predict_stocks(complete)
    parameters = model.predict_parameters(complete)
    depths = [0, 5, 15, 30, 60, 100]
    density = {density_name(a, b): b - a for a, b in pairwise(depths)}
    layers = [*density, *stocks.columns, *parameters.columns]
    assert len(layers) == 5 + 7 + 21
    for name in layers:
        assert (out / f"{name}.tif").is_file() and (out / f"{name}.qml").is_file()

    with rasterio.open(out / "soc_stock_0_30cm_kg_m2.tif") as src:
        assert src.crs.to_string() == "EPSG:4326"
        assert src.res == (0.5, 0.5) and (src.width, src.height) == (4, 3)
        values = src.read(1, masked=True)
        row, col = src.index(141.25, 37.75)  # cell 102: complete
        assert values[row, col] == pytest.approx(stocks.loc[102, "soc_stock_0_30cm_kg_m2"], 1e-6)
        for lon, lat in ((140.25, 37.25), (141.25, 37.25)):  # cell 104: incomplete; 106: hole
            assert values.mask[src.index(lon, lat)]
        assert values.count() == 10

    def read(name):
        with rasterio.open(out / f"{name}.tif") as src:
            return src.read(1, masked=True)

    # Mean densities (kg C m-3) times thickness (m) add up to the stocks.
    top = sum(read(name) * density[name] / 100 for name in list(density)[:3])
    metre = sum(read(name) * density[name] / 100 for name in density)
    np.testing.assert_allclose(top.compressed(), read("soc_stock_0_30cm_kg_m2").compressed(), 1e-5)
    np.testing.assert_allclose(
        metre.compressed(), read("soc_stock_0_100cm_kg_m2").compressed(), rtol=1e-5
    )
    table = pd.read_csv(out / "cells.csv", index_col="cell_id")
    assert len(table) == 11 and table.loc[104, "tau4s3"] != table.loc[104, "tau4s3"]  # NaN
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dropped_incomplete"] == [104] and summary["n_mapped"] == 10
    assert summary["layers"]["beta"]["valid_pixels"] == 10


@pytest.fixture(scope="module")
def trained_with_intervals(tmp_path_factory):
    return train_quick(tmp_path_factory, "intervals")


def cells_config(artifact, cells_dir, out) -> SocCellsConfig:
    """The binn_ny cells example config over the test cells."""
    folder, _ = cells_dir
    return load_config(
        CONFIGS / "soc" / "binn_ny_cells.yaml",
        SocCellsConfig,
        [f"model={artifact}", f"cells.path={folder}", f"output.dir={out}"],
    )


def test_cells_get_interval_bounds_from_the_calibration(
    trained_with_intervals, cells_dir, tmp_path
):
    from geosoil.artifacts import load_artifact
    from geosoil.workflows.soc_maps import soc_cell_table

    _, cells = cells_dir
    config = cells_config(trained_with_intervals, cells_dir, tmp_path / "c")
    result = soc_cells_from_config(config)
    artifact = load_artifact(trained_with_intervals)
    complete = cells.subset(np.arange(cells.n_profiles) != 4)
    table, units = soc_cell_table(
        artifact.estimator, complete, config.depths_cm, intervals=artifact.trust.intervals
    )
    names = [density_name(a, b) for a, b in pairwise(config.depths_cm)]
    names += ["soc_stock_0_30cm_kg_m2", "soc_stock_0_100cm_kg_m2"]
    for name in names:
        low, point, high = (table[name + s].to_numpy() for s in ("_lo", "", "_hi"))
        assert (low >= 0).all() and (low < point).all() and (point < high).all(), name
        assert units[name + "_lo"] == units[name + "_hi"] == units[name]
        for suffix in ("_lo", "_hi"):
            assert (result.out_dir / f"{name}{suffix}.tif").is_file()
    with rasterio.open(result.out_dir / "soc_stock_0_30cm_kg_m2_hi.tif") as src:
        values = src.read(1, masked=True)
        row, col = src.index(141.25, 37.75)  # cell 102
        assert values[row, col] == pytest.approx(table.loc[102, "soc_stock_0_30cm_kg_m2_hi"], 1e-6)
    # the 90 % bounds lie inside the 99 % ones
    wide, _ = soc_cell_table(
        artifact.estimator, complete, [0, 30], intervals=artifact.trust.intervals, level=0.99
    )
    name = "soc_stock_0_30cm_kg_m2"
    assert (wide[name + "_hi"] > table[name + "_hi"]).all()
    assert (wide[name + "_lo"] <= table[name + "_lo"]).all()
    described = json.loads((result.out_dir / "summary.json").read_text())["intervals"]
    assert described["level"] == 0.9 and "not a calibrated interval" in described["propagation"]
    assert 0 < described["cv_picp"] <= 1
    # bounds can be turned off
    off = config.model_copy(update={"interval_level": None, "output": config.output.model_copy(
        update={"dir": tmp_path / "off"})})  # fmt: skip
    assert not any(p.name.endswith("_lo.tif") for p in soc_cells_from_config(off).out_dir.iterdir())


def test_engine_layers_of_a_calibrated_soc_artifact_bound_the_stocks_only(
    trained_with_intervals, caplog
):
    """Stocks get _lo/_hi layers in their units, described as integrated pointwise bounds;
    parameters and processes get none, and no warning about trust layers is given."""
    from geosoil.artifacts import load_artifact
    from geosoil.mapping.predictors import ModelLayers

    artifact = load_artifact(trained_with_intervals)
    assert artifact.trust.intervals is not None
    layers = ModelLayers.build(artifact)
    assert layers.interval_level == 0.9 and not caplog.records
    assert "profile_kfold" in artifact.trust.describe_intervals(0.9)
    spec = artifact.estimator.map_outputs()
    variables = {var.name: var for var in layers.outputs()}
    bounds = [f"{name}{suffix}" for name in STOCKS for suffix in ("_lo", "_hi")]
    assert list(variables) == [*spec.names, *bounds] == [*spec.names, *layers.interval_layers()]
    for name in bounds:
        assert variables[name].units == "kg C m-2"
        assert "depth-integral of pointwise bounds" in variables[name].description
        assert "conformal 90% interval" in variables[name].description
    named = ModelLayers.build(artifact, name="binn", interval_level=0.8)
    assert named.interval_layers()[0] == "binn_soc_stock_0_30cm_kg_m2_lo"
    assert "conformal 80% interval" in named.outputs()[-1].description


def test_an_artifact_without_intervals_maps_without_bounds_and_says_why(
    trained, cells_dir, tmp_path, caplog
):
    result = soc_cells_from_config(cells_config(trained, cells_dir, tmp_path / "c"))
    assert not any(p.name.endswith(("_lo.tif", "_hi.tif")) for p in result.out_dir.iterdir())
    assert "retrain it with cv.enabled" in caplog.text
    described = json.loads((result.out_dir / "summary.json").read_text())["intervals"]
    assert described["bounds"] is None and "cv.enabled" in described["why"]


@pytest.mark.parametrize("level", ["1.5", "0"])
def test_a_bound_level_outside_zero_one_is_refused(level, tmp_path):
    from geosoil.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        load_config(
            CONFIGS / "soc" / "binn_ny_cells.yaml",
            SocCellsConfig,
            [f"interval_level={level}", f"output.dir={tmp_path}"],
        )
    assert info.value.field == "interval_level"


def test_irregular_cells_leave_nothing(trained, cells_dir, tmp_path):
    _, cells = cells_dir
    covariates = cells.covariates.copy()
    covariates.loc[0, "Lon"] += 0.2
    write_profile_folder(dataclasses.replace(cells, covariates=covariates), tmp_path / "odd")
    out = tmp_path / "out"
    config = SocCellsConfig.model_validate(
        {"model": trained, "cells": {"path": tmp_path / "odd"}, "output": {"dir": out}}
    )
    with pytest.raises(SampleDataError, match="regular lattice"):
        soc_cells_from_config(config)
    assert not out.exists()
    missing = config.model_copy(update={"cells": config.cells.model_copy(update={"path": out})})
    with pytest.raises(InputFileNotFoundError) as info:
        soc_cells_from_config(missing)
    assert info.value.field == "cells.path"


# ---------------------------------------------------------------------- flat interface
def _flat(profiles: ProfileSet, names: list[str]) -> np.ndarray:
    columns = [profiles.covariates[names].to_numpy(dtype=np.float64)]
    for name in FORCING_SHAPES:
        columns.append(profiles.forcings[name].reshape(profiles.n_profiles, -1))
    return np.hstack(columns)


def test_predict_flat_equals_the_profile_predictions(model):
    profiles = soc_profile_set(9, seed=11).profiles
    names = model.map_inputs()
    n_cov = len(model.coding_.names)
    assert names[:n_cov] == model.coding_.names and names[n_cov:] == forcing_band_names()
    X = _flat(profiles, model.coding_.names)
    flat = model.predict_flat(X)
    spec = model.map_outputs()
    assert flat.shape == (9, len(spec.names)) and spec.names[2:6] == LEARNED
    stocks = model.predict_stocks(profiles)
    parameters = model.predict_parameters(profiles)
    for j, name in enumerate(spec.names):
        expected = stocks[name] if name in stocks else parameters[name]
        np.testing.assert_allclose(flat[:, j], expected.to_numpy(), rtol=1e-12)
    # A row depends on its own inputs only.
    np.testing.assert_array_equal(model.predict_flat(X[3:5]), flat[3:5])
    with pytest.raises(SampleDataError, match="expected") as info:
        model.predict_flat(X[:, :-1])
    assert info.value.field == "X"


def test_flat_unseen_code_is_refused_when_asked(model):
    strict = dataclasses.replace(model.coding_, unseen="error")
    profiles = soc_profile_set(3, seed=11).profiles
    X = _flat(profiles, strict.names)
    X[0, strict.names.index(strict.categorical[0])] = 977
    original, model.coding_ = model.coding_, strict
    try:
        with pytest.raises(CovariateError, match="never saw"):
            model.predict_flat(X)
    finally:
        model.coding_ = original


# ------------------------------------------------------------------------- engine maps
@pytest.fixture(scope="module")
def rasters(tmp_path_factory):
    out = tmp_path_factory.mktemp("soc_rasters") / "rasters"
    soc_world_rasters(synthesize(size="small", seed=0), out, coarsening=10)
    return out


def map_config(trained, rasters, out, *extra: str) -> MapConfig:
    return load_config(
        CONFIGS / "soc" / "synthetic_map.yaml",
        MapConfig,
        [
            f"models=[{trained}]",
            f"covariates.catalog={rasters / 'inputs.yaml'}",
            f"output.dir={out}",
            "execution.threads=1",
            "execution.progress=false",
            *extra,
        ],
    )


@pytest.fixture(scope="module")
def soc_map(trained, rasters, tmp_path_factory):
    out = tmp_path_factory.mktemp("soc_map") / "map"
    return map_from_config(map_config(trained, rasters, out, "chunk=16"))


def test_union_catalog_holds_both_once(rasters):
    names = read_catalog(rasters / "inputs.yaml").names()
    assert len(names) == len(set(names)) == 38 + len(forcing_band_names()) - 1


def test_engine_maps_track_the_truth(soc_map, rasters):
    expected = {"soc_stock_0_30cm_kg_m2", "soc_stock_0_100cm_kg_m2", *LEARNED}
    assert expected | {"vertical_transport", "environmental_modifier"} <= set(soc_map.cogs)
    assert soc_map.zarr is not None and soc_map.zarr.is_dir()
    for name in ("soc_stock_0_30cm_kg_m2", "soc_stock_0_100cm_kg_m2"):
        with rasterio.open(soc_map.cogs[name]) as src:
            mapped = src.read(1, masked=True)
        with rasterio.open(rasters / "truth" / f"{name}.tif") as src:
            truth = src.read(1, masked=True)
        np.testing.assert_array_equal(mapped.mask, truth.mask)  # nodata where no soil
        r = np.corrcoef(mapped.compressed(), truth.compressed())[0, 1]
        assert r > 0.5, f"{name}: r = {r:.2f}"


def test_any_chunking_gives_identical_bytes(soc_map, trained, rasters, tmp_path):
    import zarr

    job = build_job(map_config(trained, rasters, tmp_path / "unused"))
    store = BlockStore.create(
        tmp_path / "one.zarr", job.grid, job.variables, chunk=64, fingerprint=job.fingerprint
    )
    run_map(job, store, execution=Execution(threads=2, progress=False))
    one = zarr.open_group(store.path, mode="r", zarr_format=2)
    blocks = zarr.open_group(soc_map.zarr, mode="r", zarr_format=2)
    for var in job.variables:
        assert one[var.name][:].tobytes() == blocks[var.name][:].tobytes(), var.name


STOCKS = ("soc_stock_0_30cm_kg_m2", "soc_stock_0_100cm_kg_m2")


def read_masked(path):
    with rasterio.open(path) as src:
        return src.read(1, masked=True)


@pytest.fixture(scope="module")
def bounded_map(trained_with_intervals, rasters, tmp_path_factory):
    out = tmp_path_factory.mktemp("soc_bounds") / "map"
    return map_from_config(map_config(trained_with_intervals, rasters, out, "chunk=16"))


def flat_cells(model: BINN, X: np.ndarray) -> ProfileSet:
    """Pixels of a flat input matrix (covariates, then forcing values) as prediction cells."""
    from geosoil.io.profiles import forcings_from_bands

    n = len(model.coding_.names)
    covariates = pd.DataFrame(X[:, :n], columns=model.coding_.names)
    for name in model.coding_.categorical:
        covariates[name] = covariates[name].astype(np.int64)
    return ProfileSet(
        profile_id=np.arange(len(X)),
        covariates=covariates,
        forcings=forcings_from_bands(X[:, n:]),
        categorical=list(model.coding_.categorical),
    )


def test_engine_stock_bounds_are_the_soc_cells_bounds(
    bounded_map, trained_with_intervals, rasters, tmp_path
):
    from geosoil.artifacts import load_artifact
    from geosoil.workflows.soc_maps import soc_cell_table

    mapped = {
        f"{name}{suffix}": read_masked(bounded_map.cogs[f"{name}{suffix}"])
        for name in STOCKS
        for suffix in ("", "_lo", "_hi")
    }
    for name in STOCKS:
        low, stock, high = (mapped[name + s] for s in ("_lo", "", "_hi"))
        np.testing.assert_array_equal(low.mask, stock.mask)
        np.testing.assert_array_equal(high.mask, stock.mask)
        assert stock.count() > 20
        assert (low >= 0).all() and (low <= stock).all() and (stock <= high).all(), name
        assert (low < high).all(), name
    # The same pixels through soc-cells' table.
    artifact = load_artifact(trained_with_intervals)
    model = artifact.estimator
    job = build_job(map_config(trained_with_intervals, rasters, tmp_path / "unused"))
    features = job.stack.read(job.grid)[[job.stack.names.index(n) for n in model.map_inputs()]]
    rows, cols = np.nonzero(np.isfinite(features).all(axis=0))
    rows, cols = rows[::7], cols[::7]
    cells = flat_cells(model, features[:, rows, cols].T.astype(np.float64))
    table, units = soc_cell_table(model, cells, [0, 30], intervals=artifact.trust.intervals)
    for name, values in mapped.items():
        np.testing.assert_array_equal(values[rows, cols], table[name].to_numpy(np.float32), name)
    summary = json.loads((bounded_map.out_dir / "summary.json").read_text())
    interval = summary["trust"][""]["interval"]
    assert interval["level"] == 0.9
    assert interval["layers"] == [f"{n}{s}" for n in STOCKS for s in ("_lo", "_hi")]
    assert "not a calibrated interval" in interval["propagation"]
    for name in STOCKS:
        assert summary["layers"][f"{name}_hi"]["units"] == units[f"{name}_hi"] == "kg C m-2"
        # a stock and its bounds share one colour stretch
        styles = {(bounded_map.out_dir / f"{name}{s}.qml").read_text() for s in ("", "_lo", "_hi")}
        assert len(styles) == 1


def test_bounds_can_be_turned_off_and_leave_the_other_layers_unchanged(
    bounded_map, trained_with_intervals, rasters, tmp_path
):
    import zarr

    entry = f"models=[{{path: {trained_with_intervals}, intervals: false}}]"
    plain = map_from_config(
        map_config(trained_with_intervals, rasters, tmp_path / "m", "chunk=16", entry)
    )
    assert not any(name.endswith(("_lo", "_hi")) for name in plain.cogs)
    assert set(bounded_map.cogs) - set(plain.cogs) == {
        f"{n}{s}" for n in STOCKS for s in ("_lo", "_hi")
    }
    with_bounds = zarr.open_group(bounded_map.zarr, mode="r", zarr_format=2)
    without = zarr.open_group(plain.zarr, mode="r", zarr_format=2)
    for name in plain.cogs:
        assert with_bounds[name][:].tobytes() == without[name][:].tobytes(), name
        with rasterio.open(plain.cogs[name]) as one, rasterio.open(bounded_map.cogs[name]) as two:
            assert one.read().tobytes() == two.read().tobytes(), name
            assert one.tags(1) == two.tags(1), name  # statistics


def test_a_failed_map_with_bounds_resumes_to_identical_bytes(
    bounded_map, trained_with_intervals, rasters, tmp_path, monkeypatch
):
    from geosoil.errors import OutputError

    from .test_map_resume import differing_files, fail_after

    out = tmp_path / "m"
    with monkeypatch.context() as patch:
        fail_after(patch, 3)
        with pytest.raises(OutputError, match="disk is full"):
            map_from_config(map_config(trained_with_intervals, rasters, out, "chunk=16"))
    assert not out.exists()
    map_from_config(
        map_config(trained_with_intervals, rasters, out, "chunk=16", "output.resume=true")
    )
    assert differing_files(out, bounded_map.out_dir) == []


def test_bounds_asked_of_an_uncalibrated_soc_artifact_are_refused(trained, rasters, tmp_path):
    from geosoil.errors import CalibrationError

    entry = f"models=[{{path: {trained}, intervals: true}}]"
    with pytest.raises(CalibrationError) as info:
        map_from_config(map_config(trained, rasters, tmp_path / "m", entry))
    err = info.value
    assert err.path == trained and err.field == "models.intervals"
    assert "no intervals" in err.message and "intervals: false in its entry under models" in err.fix
    assert not (tmp_path / "m").exists()


def test_an_uncalibrated_soc_artifact_maps_as_before_with_a_warning(soc_map, trained, caplog):
    from geosoil.artifacts import load_artifact
    from geosoil.mapping.predictors import ModelLayers

    assert not any(name.endswith(("_lo", "_hi")) for name in soc_map.cogs)
    layers = ModelLayers.build(load_artifact(trained))
    assert layers.interval_level is None and layers.interval_layers() == []
    assert "has no intervals" in caplog.text and "not mapped" in caplog.text


def test_an_old_soc_artifact_maps_without_bounds_and_is_told_to_retrain(caplog):
    from pathlib import Path

    from geosoil.artifacts import load_artifact
    from geosoil.workflows.soc_maps import _describe_bounds, _intervals

    old = Path(__file__).parents[1] / "data" / "artifacts" / "binn.safetensors"
    artifact = load_artifact(old)  # written before the trust layer
    assert artifact.trust.intervals is None
    assert _intervals(artifact, 0.9) is None
    assert "before geosoil had a trust layer" in caplog.text and "retrain" in caplog.text
    assert "before geosoil had a trust layer" in _describe_bounds(artifact, None, 0.9)["why"]
    # the engine maps it as before: its outputs, no bounds, the warning naming the fix
    from geosoil.mapping.predictors import ModelLayers

    caplog.clear()
    layers = ModelLayers.build(artifact)
    assert [var.name for var in layers.outputs()] == artifact.estimator.map_outputs().names
    assert "has no intervals" in caplog.text and "retrain" in caplog.text
