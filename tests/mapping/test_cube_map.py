"""Spectral models over an image cube: the map equals the model on the resampled pixels, bad
bands are never read, any chunking gives the same bytes, and what cannot be done faithfully
is refused before anything is written."""

import pickle

import numpy as np
import pytest
import torch

from geosoil.artifacts import Provenance, load_artifact, save_artifact
from geosoil.config.cube import CubeConfig
from geosoil.errors import ConfigError
from geosoil.geo.grid import Grid
from geosoil.geo.outputs import FLOAT_NODATA
from geosoil.io.cube import CubeError
from geosoil.mapping.cube import CubeSource, SpectralResampling, find_gaps
from geosoil.mapping.execution import Execution
from geosoil.mapping.job import MapJob
from geosoil.mapping.predictors import ModelLayers
from geosoil.models import PLSR
from geosoil.specs import OutputSpec
from geosoil.spectra import SpectralAxis
from geosoil.spectra.resample import interpolation_matrix

from ..io.test_cube import write_cube_tif, write_envi
from ..rasters import UTM_100M
from .test_engine import read_store, run_to_store

torch.set_num_threads(1)

# Absorption features of the toy soils: centre and width (nm).
FEATURES = ((550.0, 60.0), (900.0, 80.0), (1200.0, 70.0), (1700.0, 90.0), (2200.0, 50.0))
CUBE_NM = np.arange(400.0, 2500.0, 20.0)  # 105 bands
SIDE = 24
NODATA = -9999.0
QUIET = Execution(progress=False, threads=1)


def reflectance(strengths, wavelengths_nm):
    """Spectra (n, bands): a sloped baseline minus Gaussian absorption features."""
    wavelengths_nm = np.asarray(wavelengths_nm, dtype=np.float64)
    shapes = np.stack([np.exp(-0.5 * ((wavelengths_nm - c) / w) ** 2) for c, w in FEATURES])
    baseline = 0.3 + 0.1 * (wavelengths_nm - 400.0) / 2100.0
    return baseline - 0.15 * strengths @ shapes


def target_of(strengths):
    return 1.0 + 2.0 * strengths[:, 0] + strengths[:, 2]


def pixel_strengths(seed=0):
    """(SIDE * SIDE, n_features) strengths varying smoothly over the image, plus noise."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:SIDE, 0:SIDE] / SIDE
    smooth = np.stack([rows, cols, rows * cols, 1 - rows, (rows + cols) / 2], axis=-1)
    return (0.7 * smooth + 0.3 * rng.uniform(size=smooth.shape)).reshape(-1, len(FEATURES))


def cube_values(seed=0, wavelengths=CUBE_NM):
    """float32 (bands, SIDE, SIDE) reflectance of the toy soils."""
    spectra = reflectance(pixel_strengths(seed), wavelengths)
    return spectra.T.reshape(len(wavelengths), SIDE, SIDE).astype(np.float32)


def train_plsr(path, axis_nm, *, unit="nm", seed=1):
    """A small PLSR fitted on toy spectra on ``axis_nm``, saved as an artifact."""
    rng = np.random.default_rng(seed)
    strengths = rng.uniform(0.0, 1.0, (150, len(FEATURES)))
    positions = np.asarray(axis_nm, dtype=np.float64)
    spectra = reflectance(strengths, positions if unit == "nm" else 1e7 / positions)
    axis = SpectralAxis.from_values(positions, unit)
    model = PLSR(n_components=5, preprocessing=[], target_transform="none")
    model.fit(spectra, target_of(strengths), axis=axis)
    return save_artifact(
        model,
        path,
        input_spec=model.input_spec(),
        output_spec=OutputSpec(names=["clay_pct"], units=["%"]),
        provenance=Provenance(data_fingerprint="toy", n_samples=150, seed=seed),
    )


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("cube")


@pytest.fixture(scope="module")
def visible_model(folder):
    """On 500-1300 nm every 2 nm: inside the cube, clear of the water-vapour windows."""
    return load_artifact(train_plsr(folder / "vis.safetensors", np.arange(500.0, 1301.0, 2.0)))


@pytest.fixture(scope="module")
def cube_tif(folder):
    """The toy cube, bands stored out of wavelength order, water-vapour bands all NaN, a
    nodata hole and one pixel missing in a single band."""
    values = cube_values()
    water = ((CUBE_NM >= 1340) & (CUBE_NM <= 1460)) | ((CUBE_NM >= 1790) & (CUBE_NM <= 1960))
    values[water] = np.nan
    values[:, 2:4, 5:9] = NODATA
    values[10, 20, 20] = NODATA
    order = np.random.default_rng(3).permutation(len(CUBE_NM))
    return write_cube_tif(folder / "cube.tif", values[order], CUBE_NM[order], nodata=NODATA)


def cube_config(path, **settings):
    return CubeConfig(path=path, resample=settings.pop("resample", "linear"), **settings)


def grid_of(path):
    return Grid.from_raster(path)


def expected_map(estimator, values, source_nm, target_nm):
    """The model on every pixel, resampled here in float64 from the cube's values."""
    pixels = values.reshape(values.shape[0], -1).T
    matrix = interpolation_matrix(
        SpectralAxis.from_values(source_nm, "nm"), SpectralAxis.from_values(target_nm, "nm")
    )
    valid = np.isfinite(pixels).all(axis=1) & (pixels != NODATA).all(axis=1)
    out = np.full(pixels.shape[0], np.nan, dtype=np.float32)
    out[valid] = estimator.predict(pixels[valid].astype(np.float64) @ matrix.T)
    return out.reshape(SIDE, SIDE)


def test_map_equals_the_model_on_resampled_pixels(cube_tif, visible_model, tmp_path):
    cube = CubeSource.open(**cube_config(cube_tif).model_dump())
    good = ~(((CUBE_NM >= 1340) & (CUBE_NM <= 1460)) | ((CUBE_NM >= 1790) & (CUBE_NM <= 1960)))
    assert len(cube.band_indexes) == good.sum()
    job = MapJob.build(
        grid_of(cube_tif), [], [ModelLayers.build(visible_model)], cube=cube, batch_pixels=100
    )
    store, stats = run_to_store(job, tmp_path / "m.zarr", chunk=16, execution=QUIET)
    mapped = read_store(store)["clay_pct"]

    values = cube_values()
    values[:, 2:4, 5:9] = NODATA
    values[10, 20, 20] = NODATA
    expected = expected_map(
        visible_model.estimator, values[good], CUBE_NM[good], visible_model.estimator.axis_.values
    )
    valid = np.isfinite(expected)
    assert (mapped[~valid] == FLOAT_NODATA).all() and (~valid).sum() == 8 + 1
    # float32 interpolation in the engine, float64 here.
    np.testing.assert_allclose(mapped[valid], expected[valid], rtol=1e-4, atol=1e-4)
    # Water-vapour bands are NaN in the file: were they read, no pixel would be valid.
    assert stats["clay_pct"].count == SIDE * SIDE - 9
    truth = target_of(pixel_strengths()).reshape(SIDE, SIDE)
    assert np.corrcoef(mapped[valid], truth[valid])[0, 1] > 0.99


def test_any_chunking_gives_the_same_bytes(cube_tif, visible_model, tmp_path):
    cube = CubeSource.open(**cube_config(cube_tif).model_dump())
    models = [ModelLayers.build(visible_model)]
    one = MapJob.build(grid_of(cube_tif), [], models, cube=cube, batch_pixels=4096)
    many = MapJob.build(grid_of(cube_tif), [], models, cube=cube, batch_pixels=37)
    whole = read_store(run_to_store(one, tmp_path / "one.zarr", chunk=32, execution=QUIET)[0])
    pieces = read_store(
        run_to_store(
            many, tmp_path / "many.zarr", chunk=16, execution=Execution(threads=2, progress=False)
        )[0]
    )
    np.testing.assert_array_equal(whole["clay_pct"], pieces["clay_pct"])


def test_envi_bad_band_list_and_scaled_integers(folder, visible_model, tmp_path):
    # Integer reflectance x 10000 with a bad band (NaN in the file) listed in bbl.
    values = cube_values()
    wavelengths = CUBE_NM
    integers = np.round(values * 10000).astype(np.float32)
    bbl = np.ones(len(wavelengths), dtype=int)
    bbl[60] = 0  # 1600 nm, outside the model's range: no gap opens under it
    integers[60] = np.nan  # never read: the bad band list drops it
    path = write_envi(tmp_path / "cube.img", integers, wavelengths, bbl=bbl, ignore=NODATA)
    cube = CubeSource.open(**cube_config(path, scale=1e-4, bad_bands_nm=[]).model_dump())
    assert 61 not in cube.band_indexes and len(cube.band_indexes) == len(wavelengths) - 1
    job = MapJob.build(grid_of(path), [], [ModelLayers.build(visible_model)], cube=cube)
    mapped = read_store(run_to_store(job, tmp_path / "m.zarr", chunk=24, execution=QUIET)[0])
    keep = bbl == 1
    expected = expected_map(
        visible_model.estimator,
        integers[keep] * np.float32(1e-4),
        wavelengths[keep],
        visible_model.estimator.axis_.values,
    )
    assert (mapped["clay_pct"] != FLOAT_NODATA).all()
    np.testing.assert_allclose(mapped["clay_pct"], expected, rtol=1e-4, atol=1e-4)


def test_resample_none_on_the_cubes_own_bands_is_exact(folder, tmp_path):
    bands = np.arange(500.0, 1301.0, 20.0)
    path = write_cube_tif(tmp_path / "c.tif", cube_values(wavelengths=bands), bands)
    artifact = load_artifact(train_plsr(tmp_path / "own.safetensors", bands))
    cube = CubeSource.open(**cube_config(path, resample="none").model_dump())
    job = MapJob.build(grid_of(path), [], [ModelLayers.build(artifact)], cube=cube)
    mapped = read_store(run_to_store(job, tmp_path / "m.zarr", chunk=16, execution=QUIET)[0])
    pixels = cube_values(wavelengths=bands).reshape(len(bands), -1).T
    expected = artifact.estimator.predict(pixels).reshape(SIDE, SIDE)
    np.testing.assert_array_equal(mapped["clay_pct"], expected)


def test_resampling_matrix_and_apply_agree(cube_tif, visible_model):
    cube = CubeSource.open(**cube_config(cube_tif).model_dump())
    resampling = SpectralResampling.build(cube, visible_model.estimator.axis_)
    matrix = resampling.matrix
    assert matrix.shape == (len(visible_model.estimator.axis_), len(cube.band_indexes))
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0)
    assert ((matrix > 0).sum(axis=1) <= 2).all()
    pixels = np.random.default_rng(0).uniform(size=(50, len(cube.band_indexes)))
    pixels = pixels.astype(np.float32)
    np.testing.assert_allclose(resampling.apply(pixels), pixels @ matrix.T, rtol=1e-6)
    # The same pixel gives the same bits whatever batch it comes in.
    np.testing.assert_array_equal(resampling.apply(pixels)[7:9], resampling.apply(pixels[7:9]))


def test_job_with_a_cube_pickles_and_fingerprints_its_settings(cube_tif, visible_model):
    models = [ModelLayers.build(visible_model)]
    grid = grid_of(cube_tif)
    job = MapJob.build(grid, [], models, cube=CubeSource.open(**cube_config(cube_tif).model_dump()))
    clone = pickle.loads(pickle.dumps(job))
    assert clone.fingerprint == job.fingerprint
    assert clone.stack.names == job.stack.names and clone.stack.names[0].startswith("cube:")
    other = MapJob.build(
        grid,
        [],
        models,
        cube=CubeSource.open(**cube_config(cube_tif, bad_bands_nm=[[1330, 1470]]).model_dump()),
    )
    assert other.fingerprint != job.fingerprint


def test_gaps_are_the_spans_wider_than_the_limit():
    axis = SpectralAxis.from_values([400, 410, 420, 500, 510, 600], "nm")
    assert find_gaps(axis, 25) == [(420.0, 500.0), (510.0, 600.0)]
    assert find_gaps(axis, 100) == []


# -- refused before anything is written ------------------------------------------------------
def test_model_band_inside_a_bad_band_gap(cube_tif, tmp_path):
    wide = load_artifact(train_plsr(tmp_path / "wide.safetensors", np.arange(500.0, 2401.0, 5.0)))
    cube = CubeSource.open(**cube_config(cube_tif).model_dump())
    with pytest.raises(CubeError, match=r"gaps of the cube wider than 25 nm.*1320-1480 nm") as err:
        MapJob.build(grid_of(cube_tif), [], [ModelLayers.build(wide)], cube=cube)
    assert err.value.field == "cube.bad_bands_nm"
    assert "fill_gaps: true" in err.value.fix
    # Asked for, the gaps are bridged.
    bridged = CubeSource.open(**cube_config(cube_tif, fill_gaps=True).model_dump())
    MapJob.build(grid_of(cube_tif), [], [ModelLayers.build(wide)], cube=bridged)


def test_model_axis_outside_the_cube(cube_tif, tmp_path):
    blue = load_artifact(train_plsr(tmp_path / "blue.safetensors", np.arange(350.0, 900.0, 5.0)))
    cube = CubeSource.open(**cube_config(cube_tif).model_dump())
    with pytest.raises(CubeError, match=r"model's axis \(350-895 nm\).*\(400-2480 nm\)") as err:
        MapJob.build(grid_of(cube_tif), [], [ModelLayers.build(blue)], cube=cube)
    assert err.value.field == "models.path" and "400-2480 nm" in err.value.fix


def test_wavenumber_model_on_a_wavelength_cube(cube_tif, tmp_path):
    mir = load_artifact(
        train_plsr(tmp_path / "mir.safetensors", np.arange(4000.0, 7000.0, 20.0), unit="cm-1")
    )
    cube = CubeSource.open(**cube_config(cube_tif).model_dump())
    with pytest.raises(CubeError, match="in cm-1") as err:
        MapJob.build(grid_of(cube_tif), [], [ModelLayers.build(mir)], cube=cube)
    assert err.value.field == "models.path"


def test_resample_none_with_another_axis(cube_tif, visible_model):
    cube = CubeSource.open(**cube_config(cube_tif, resample="none").model_dump())
    with pytest.raises(CubeError, match="'none' but the cube's good bands") as err:
        MapJob.build(grid_of(cube_tif), [], [ModelLayers.build(visible_model)], cube=cube)
    assert err.value.field == "cube.resample" and "resample: linear" in err.value.fix


def test_spectral_model_without_a_cube(cube_tif, visible_model):
    with pytest.raises(ConfigError, match="reads spectra") as err:
        MapJob.build(grid_of(cube_tif), [], [ModelLayers.build(visible_model)])
    assert err.value.field == "cube"


def test_cube_off_the_grid_lattice(cube_tif, visible_model):
    cube = CubeSource.open(**cube_config(cube_tif).model_dump())
    shifted = Grid("EPSG:32654", UTM_100M @ UTM_100M.translation(0.5, 0), SIDE, SIDE)
    with pytest.raises(CubeError, match="not on the map grid's pixel lattice") as err:
        MapJob.build(shifted, [], [ModelLayers.build(visible_model)], cube=cube)
    assert err.value.field == "grid"


def test_every_band_bad(cube_tif):
    with pytest.raises(CubeError, match="only 0 of the cube's 105 bands") as err:
        CubeSource.open(**cube_config(cube_tif, bad_bands_nm=[[300, 2600]]).model_dump())
    assert err.value.field == "cube.bad_bands_nm"


def test_output_named_like_a_store_coordinate(cube_tif, visible_model):
    cube = CubeSource.open(**cube_config(cube_tif).model_dump())
    with pytest.raises(ConfigError, match="taken by the map store's coordinates") as err:
        MapJob.build(grid_of(cube_tif), [], [ModelLayers.build(visible_model, name="y")], cube=cube)
    assert err.value.field == "models.name"


def test_integer_cube_read_scaled_with_nodata_and_outside_extent(tmp_path):
    from geosoil.mapping.stack import CovariateStack

    bands = np.array([500.0, 600.0, 700.0])
    stored = np.arange(3 * 4 * 5, dtype=np.int16).reshape(3, 4, 5) * 100
    stored[1, 0, 0] = -32768  # NaN in that band, which makes the pixel invalid for a model
    path = write_cube_tif(tmp_path / "int.tif", stored, bands, nodata=-32768)
    cube = CubeSource.open(**cube_config(path, scale=1e-4, bad_bands_nm=[]).model_dump())
    # A grid one pixel wider on each side, on the same lattice.
    grid = Grid("EPSG:32654", UTM_100M @ UTM_100M.translation(-1, -1), 7, 6)
    values = CovariateStack.from_layers([], cube=cube).read(grid)
    assert values.shape == (3, 6, 7) and values.dtype == np.float32
    inner = values[:, 1:5, 1:6]
    expected = stored.astype(np.float32) * np.float32(1e-4)
    valid = np.ones((4, 5), dtype=bool)
    valid[0, 0] = False
    np.testing.assert_array_equal(inner[:, valid], expected[:, valid])
    assert np.isnan(inner[1, 0, 0])
    border = np.ones((6, 7), dtype=bool)
    border[1:5, 1:6] = False
    assert np.isnan(values[:, border]).all()


def test_bands_a_model_drops_first_need_no_cube_data(cube_tif, tmp_path):
    """A model that drops the water-vapour windows (and trims past the cube) maps without
    fill_gaps; the values the cube lacks never reach it."""
    rng = np.random.default_rng(4)
    strengths = rng.uniform(0.0, 1.0, (150, len(FEATURES)))
    positions = np.arange(380.0, 2521.0, 5.0)  # reaches past both ends of the cube
    axis = SpectralAxis.from_values(positions, "nm")
    windows = [[1320.0, 1480.0], [1780.0, 1980.0]]  # the cube's gaps between good bands
    steps = [
        {"name": "trim", "min": 400, "max": 2480},
        {"name": "drop_regions", "regions": windows},
    ]
    model = PLSR(n_components=5, preprocessing=steps, target_transform="none")
    model.fit(reflectance(strengths, positions), target_of(strengths), axis=axis)
    used = model.preprocessing_.used_input_bands(axis)
    assert (
        not used[positions < 400].any() and not used[(positions > 1340) & (positions < 1460)].any()
    )
    assert used[(positions > 500) & (positions < 1300)].all()
    path = save_artifact(
        model,
        tmp_path / "dropping.safetensors",
        input_spec=model.input_spec(),
        output_spec=OutputSpec(names=["clay_pct"], units=["%"]),
        provenance=Provenance(data_fingerprint="toy", n_samples=150, seed=4),
    )
    cube = CubeSource.open(**cube_config(cube_tif).model_dump())
    job = MapJob.build(grid_of(cube_tif), [], [ModelLayers.build(load_artifact(path))], cube=cube)
    store, _ = run_to_store(job, tmp_path / "m.zarr", chunk=16, execution=QUIET)
    mapped = read_store(store)["clay_pct"]
    values = cube_values()
    good = ~(((CUBE_NM >= 1340) & (CUBE_NM <= 1460)) | ((CUBE_NM >= 1790) & (CUBE_NM <= 1960)))
    pixels = values[good].reshape(good.sum(), -1).T.astype(np.float64)
    X = np.zeros((pixels.shape[0], len(positions)))
    X[:, used] = (
        pixels
        @ interpolation_matrix(
            SpectralAxis.from_values(CUBE_NM[good], "nm"),
            SpectralAxis.from_values(positions[used], "nm"),
        ).T
    )
    expected = model.predict(X).reshape(SIDE, SIDE)
    valid = mapped != FLOAT_NODATA  # the nodata hole and one pixel missing in a band
    assert valid.sum() == SIDE * SIDE - 9
    np.testing.assert_allclose(mapped[valid], expected[valid], rtol=1e-4, atol=1e-4)


def test_lazy_map_of_a_cube_equals_the_store(cube_tif, visible_model, tmp_path):
    from geosoil.mapping.engine import predict_map

    cube = CubeSource.open(**cube_config(cube_tif).model_dump())
    grid = grid_of(cube_tif)
    lazy = predict_map([], [visible_model], grid, chunks=16, cube=cube)["clay_pct"].values
    job = MapJob.build(grid, [], [ModelLayers.build(visible_model)], cube=cube)
    store, _ = run_to_store(job, tmp_path / "m.zarr", chunk=16, execution=QUIET)
    stored = read_store(store)["clay_pct"]
    np.testing.assert_array_equal(np.where(np.isnan(lazy), FLOAT_NODATA, lazy), stored)
