"""COG overviews from the blocks: GDAL's own levels, bit for bit, for any chunk and a resume.

The reference is GDAL itself: the same full-resolution layer copied by the COG driver with
its own overviews. The tolerance is zero: the levels the blocks compute (mean of the valid
pixels of each 2 x 2 group in float64, the upper-left pixel for classes) are GDAL's.
"""

import numpy as np
import pytest
import rasterio
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from affine import Affine
from rio_cogeo.cogeo import cog_validate

from geosoil.geo.grid import Grid
from geosoil.geo.outputs import CLASS_NODATA, FLOAT_NODATA, MapClass, OutputVariable
from geosoil.io.cog import write_cog
from geosoil.mapping.overviews import OverviewPlan, cog_overview_count, downsample
from geosoil.mapping.store import BlockStore

VARIABLES = (
    OutputVariable("soc_pct", "%", "soil organic carbon"),
    OutputVariable(
        "soc_class",
        kind="classes",
        classes=tuple(MapClass(i, f"class {i}", "#00ff00") for i in range(3)),
    ),
)


def grid_of(height, width):
    return Grid("EPSG:32654", Affine(20.0, 0, 300000.0, 0, -20.0, 4100000.0), width, height)


def layers_of(height, width, seed=0):
    """A rough continuous field and random classes, with nodata holes and a sprinkling."""
    rng = np.random.default_rng(seed)
    soc = rng.normal(size=(height, width)).cumsum(axis=1).astype(np.float32)
    classes = rng.integers(0, 3, (height, width)).astype(np.float32)
    soc[rng.random((height, width)) < 0.2] = np.nan
    soc[100:300, 150:500] = np.nan
    classes[rng.random((height, width)) < 0.1] = np.nan
    return {"soc_pct": soc, "soc_class": classes}


def fill(store, layers, blocks):
    for block in blocks:
        rows, cols = block.window.toslices()
        store.write_block(
            block, {var.name: var.to_storage(layers[var.name][rows, cols]) for var in VARIABLES}
        )
        store.mark_done(block, {})


def filled_store(path, height, width, chunk):
    grid = grid_of(height, width)
    store = BlockStore.create(path, grid, VARIABLES, chunk=chunk, fingerprint="run", overviews=True)
    fill(store, layers_of(height, width), grid.blocks(chunk))
    return store


def cogs(store, folder):
    """Each layer's COG from the stored levels, and GDAL's own (the reference)."""
    folder.mkdir()
    out = {}
    for var in VARIABLES:
        source = store.gdal_path(var.name)
        ours = write_cog(
            source,
            folder / f"{var.name}.tif",
            store.grid,
            var,
            threads=1,
            overviews=store.overview_sources(var.name),
        )
        gdal = write_cog(source, folder / f"{var.name}.gdal.tif", store.grid, var, threads=1)
        out[var.name] = (ours, gdal)
    return out


def test_gdal_overview_count_and_sizes():
    assert cog_overview_count((512, 512), 512) == 0
    assert cog_overview_count((513, 100), 512) == 1
    assert cog_overview_count((1025, 1030), 512) == 2  # 515 > 512 after one halving
    plan = OverviewPlan.build((2900, 2100), 512, tile=512)
    assert (plan.levels, plan.from_blocks) == (3, 2)  # 725 is odd: GDAL makes level 3
    assert plan.level_shape(3) == (362, 262)  # rounded down, as GDAL's COG driver does
    assert OverviewPlan.build((1025, 1030), 512, tile=512).from_blocks == 0
    assert OverviewPlan.build((8192, 8192), 1024, tile=512).from_blocks == 4
    assert OverviewPlan.build((8192, 8192), 256, tile=512).from_blocks == 2  # 64-pixel floor


def test_downsample_is_the_mean_of_valid_pixels_or_the_upper_left_code():
    values = np.array([[1, 2, FLOAT_NODATA, FLOAT_NODATA], [3, FLOAT_NODATA, FLOAT_NODATA, 9]])
    mean = downsample(values.astype(np.float32), nodata=FLOAT_NODATA, resampling="average")
    np.testing.assert_array_equal(mean, np.float32([[2.0, 9.0]]))
    codes = np.array([[CLASS_NODATA, 1, 2, 0], [1, 1, 0, 0]], np.uint8)
    np.testing.assert_array_equal(
        downsample(codes, nodata=CLASS_NODATA, resampling="nearest"), [[CLASS_NODATA, 2]]
    )


@pytest.mark.parametrize(
    ("height", "width", "chunk", "from_blocks"),
    [
        (1280, 1536, 256, 2),  # every level from the blocks
        (1300, 2100, 512, 2),  # level 3's source (325 x 525) is odd: GDAL makes it
        (1025, 1030, 512, 0),  # odd grid: GDAL makes every level
    ],
)
def test_cogs_from_stored_levels_equal_gdals_bytes(tmp_path, height, width, chunk, from_blocks):
    store = filled_store(tmp_path / "m.zarr", height, width, chunk)
    assert (store.overviews.from_blocks if store.overviews else 0) == from_blocks
    for ours, gdal in cogs(store, tmp_path / "cogs").values():
        assert ours.read_bytes() == gdal.read_bytes()
        assert cog_validate(str(ours), strict=True)[0]
        with rasterio.open(ours) as dataset:
            assert len(dataset.overviews(1)) == cog_overview_count((height, width), 512)


def test_class_levels_are_nearest_codes(tmp_path):
    store = filled_store(tmp_path / "m.zarr", 1280, 1536, 512)
    store.overview_sources("soc_class")
    levels = xr.open_zarr(tmp_path / "m.zarr", group="overviews/2", mask_and_scale=False)
    full = xr.open_zarr(tmp_path / "m.zarr", mask_and_scale=False)["soc_class"].values
    np.testing.assert_array_equal(levels["soc_class"].values, full[::4, ::4])
    assert levels["soc_class"].dtype == np.uint8 and levels["soc_pct"].shape == (320, 384)


def test_any_chunk_gives_the_same_cog_bytes(tmp_path):
    """A chunk that is not a multiple of the COG tile (or of 2**levels) is accepted: fewer
    levels come from the blocks, the bytes are the same."""
    reference = None
    for chunk in (512, 300, 96):
        store = filled_store(tmp_path / f"m{chunk}.zarr", 1280, 1536, chunk)
        ours = {
            name: pair[0].read_bytes() for name, pair in cogs(store, tmp_path / str(chunk)).items()
        }
        reference = reference or ours
        assert ours == reference


def test_resume_gives_the_same_store_and_cog_bytes(tmp_path):
    height, width, chunk = 1300, 2100, 512
    straight = filled_store(tmp_path / "straight.zarr", height, width, chunk)
    grid, layers = grid_of(height, width), layers_of(height, width)
    blocks = list(grid.blocks(chunk))
    first = BlockStore.create(
        tmp_path / "resumed.zarr", grid, VARIABLES, chunk=chunk, fingerprint="run", overviews=True
    )
    fill(first, layers, blocks[:5])
    resumed = BlockStore.resume(
        tmp_path / "resumed.zarr", grid, VARIABLES, chunk=chunk, fingerprint="run"
    )
    assert resumed.overviews == straight.overviews
    fill(resumed, layers, [block for block in blocks if block.index not in resumed.finished()])
    straight_cogs, resumed_cogs = cogs(straight, tmp_path / "a"), cogs(resumed, tmp_path / "b")
    for name in straight_cogs:
        assert straight_cogs[name][0].read_bytes() == resumed_cogs[name][0].read_bytes()

    def chunk_files(root):
        return {
            str(path.relative_to(root)): path.read_bytes()
            for path in sorted(root.rglob("*"))
            if path.is_file() and ".geosoil-blocks" not in path.parts
        }

    assert chunk_files(tmp_path / "resumed.zarr") == chunk_files(tmp_path / "straight.zarr")


def test_the_store_stays_readable_by_xarray_and_gdal(tmp_path):
    store = filled_store(tmp_path / "m.zarr", 1280, 1536, 512)
    dataset = xr.open_zarr(tmp_path / "m.zarr")
    assert set(dataset.data_vars) == {"soc_pct", "soc_class"}
    assert dataset.rio.transform() == store.grid.transform
    for name in store.overview_sources("soc_pct"):
        with rasterio.open(name) as level:
            assert level.nodata == FLOAT_NODATA


def test_a_store_without_overviews_leaves_them_to_gdal(tmp_path):
    grid = grid_of(1280, 1536)
    store = BlockStore.create(tmp_path / "m.zarr", grid, VARIABLES, chunk=512, fingerprint="x")
    assert store.overviews is None and store.overview_sources("soc_pct") == []
    assert not (tmp_path / "m.zarr" / "overviews").exists()


def test_level_groups_carry_their_grid(tmp_path):
    store = filled_store(tmp_path / "m.zarr", 1300, 2100, 512)
    name = store.overview_sources("soc_pct")[-1]  # level 3: 162 x 262 of 8.0153 x 8.0153 pixels
    with rasterio.open(name) as level:
        assert level.shape == (162, 262) and level.crs.to_epsg() == 32654
        assert level.bounds == pytest.approx(store.grid.bounds)
    level = xr.open_zarr(tmp_path / "m.zarr", group="overviews/1")
    assert level.rio.crs.to_epsg() == 32654 and level.rio.resolution() == (40.0, -40.0)


@pytest.fixture(scope="module")
def map_inputs(tmp_path_factory):
    """A 1100 x 1280 covariate with a nodata hole, and a model of it (no trust layers)."""
    import pandas as pd

    from geosoil.artifacts import Provenance, save_artifact
    from geosoil.io.catalog import CovariateCatalog, CovariateLayer, write_catalog
    from geosoil.models import CovariateMLP
    from geosoil.specs import InputLayer, InputSpec, OutputSpec

    from ..rasters import write_raster

    folder = tmp_path_factory.mktemp("overview_map")
    values = layers_of(1100, 1280)["soc_pct"]
    path = write_raster(folder / "a.tif", np.where(np.isnan(values), FLOAT_NODATA, values))
    catalog = folder / "covariates.yaml"
    write_catalog(
        CovariateCatalog(crs="EPSG:32654", layers=[CovariateLayer(name="a", path=path)]), catalog
    )
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=100)})
    model = CovariateMLP(max_epochs=3).fit(X, X["a"] * 2)
    artifact = save_artifact(
        model,
        folder / "model.safetensors",
        input_spec=InputSpec(kind="covariates", layers=[InputLayer(name="a")]),
        output_spec=OutputSpec(names=["soc_pct"], units=["%"]),
        provenance=Provenance(data_fingerprint="x", n_samples=100, seed=0),
    )
    return catalog, artifact


def test_a_map_run_writes_cogs_from_its_stored_levels(map_inputs, tmp_path):
    from geosoil.config import MapConfig
    from geosoil.workflows import map_from_config

    catalog, artifact = map_inputs
    config = MapConfig.model_validate(
        {
            "models": [str(artifact)],
            "covariates": {"catalog": str(catalog)},
            "grid": {"reference": "a"},
            "output": {"dir": str(tmp_path / "map"), "format": "both"},
            "chunk": 256,
            "execution": {"progress": False},
        }
    )
    result = map_from_config(config)
    cog = result.cogs["soc_pct"]
    assert (result.zarr / "overviews" / "1" / "soc_pct").is_dir()
    assert cog_validate(str(cog), strict=True)[0]
    with rasterio.open(cog) as dataset:
        assert len(dataset.overviews(1)) == 2 and dataset.tags()["geosoil_version"]
    # GDAL's own overviews from the same full-resolution layer: the same pixels at every level.
    gdal = write_cog(
        f'ZARR:"{result.zarr}":/soc_pct',
        tmp_path / "gdal.tif",
        grid_of(1100, 1280),
        VARIABLES[0],
        threads=1,
    )
    for level in range(2):
        with (
            rasterio.open(cog, overview_level=level) as ours,
            rasterio.open(gdal, overview_level=level) as theirs,
        ):
            np.testing.assert_array_equal(ours.read(1), theirs.read(1))
