"""The covariate rasters and their catalog, as written."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from geosoil.io.catalog import read_catalog
from geosoil.synthetic import synthesize, write_world

MAIN_CRS = "EPSG:32654"
CONTINUOUS = {
    "elevation_m": (0.0, 3000.0),
    "slope_deg": (0.0, 80.0),
    "twi": (-2.0, 30.0),
    "mat_degc": (0.0, 20.0),
    "map_mm": (500.0, 3500.0),
    "clay_pct": (0.0, 100.0),
    "sand_pct": (0.0, 100.0),
    "ndvi": (0.0, 1.0),
    "dist_mine_m": (0.0, 1e6),
    "bulk_density_g_cm3": (0.3, 2.0),
}
CATEGORICAL = {"landcover": {1, 2, 3, 4, 5, 6}, "parent_material": {1, 2, 3, 4}}


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    write_world(synthesize(size="small", seed=0), out)
    return out


def test_catalog_lists_every_layer_with_units(world_dir):
    catalog = read_catalog(world_dir / "covariates.yaml")
    assert catalog.crs == MAIN_CRS
    assert set(catalog.names()) == set(CONTINUOUS) | set(CATEGORICAL)
    for layer in catalog.layers:
        assert layer.path.is_file()
        assert layer.units
        assert layer.categorical == (layer.name in CATEGORICAL)
        assert layer.resampling_method == ("nearest" if layer.categorical else "bilinear")
        with rasterio.open(layer.path) as src:
            assert src.nodata == layer.nodata
            assert src.descriptions == (layer.name,)
            assert src.units == (layer.units,)
            assert src.tags(1)["units"] == layer.units


def test_layers_are_tiled_compressed_geotiffs(world_dir):
    for path in sorted((world_dir / "covariates").glob("*.tif")):
        with rasterio.open(path) as src:
            assert src.driver == "GTiff"
            assert src.count == 1
            assert src.block_shapes == [(256, 256)]
            assert src.compression.name == "deflate"
            predictor = 3 if src.dtypes[0].startswith("float") else 2
            assert src.tags(ns="IMAGE_STRUCTURE")["PREDICTOR"] == str(predictor)


def test_main_layers_share_the_utm_grid(world_dir):
    with rasterio.open(world_dir / "covariates" / "elevation_m.tif") as ref:
        grid = (ref.crs, ref.transform, ref.shape)
    assert grid[0].to_string() == MAIN_CRS
    for name in (set(CONTINUOUS) | set(CATEGORICAL)) - {"map_mm", "mat_degc"}:
        with rasterio.open(world_dir / "covariates" / f"{name}.tif") as src:
            assert (src.crs, src.transform, src.shape) == grid, name


def test_map_is_geographic_and_coarser(world_dir):
    with rasterio.open(world_dir / "covariates" / "elevation_m.tif") as ref:
        ref_bounds, pixel_m = ref.bounds, ref.res[0]
        ref_crs = ref.crs
    with rasterio.open(world_dir / "covariates" / "map_mm.tif") as src:
        assert src.crs.to_string() == "EPSG:4326"
        pixel_deg = src.res[1]
        # One degree of latitude is about 111 km.
        assert 2.5 * pixel_m < pixel_deg * 111_000 < 3.5 * pixel_m
        west, south, east, north = rasterio.warp.transform_bounds(ref_crs, src.crs, *ref_bounds)
        assert src.bounds.left <= west and src.bounds.right >= east
        assert src.bounds.bottom <= south and src.bounds.top >= north
    with rasterio.open(world_dir / "covariates" / "mat_degc.tif") as src:
        assert src.crs.to_string() == MAIN_CRS
        assert src.res == (2 * pixel_m, 2 * pixel_m)


def test_nodata_on_lake_and_under_cloud(world_dir):
    folder = world_dir / "covariates"
    with rasterio.open(folder / "landcover.tif") as src:
        water = src.read(1) == 6
    assert 0 < water.mean() < 0.1
    for name in ("clay_pct", "sand_pct", "bulk_density_g_cm3", "parent_material"):
        with rasterio.open(folder / f"{name}.tif") as src:
            band = src.read(1)
            assert np.array_equal(band == src.nodata, water), name
    with rasterio.open(folder / "ndvi.tif") as src:
        gap = src.read(1) == -9999.0
        assert src.nodata == -9999.0
    assert 0.01 < gap.mean() < 0.1


def test_value_ranges_and_codes(world_dir):
    for name, (low, high) in CONTINUOUS.items():
        with rasterio.open(world_dir / "covariates" / f"{name}.tif") as src:
            assert src.dtypes[0] == "float32"
            band = src.read(1, masked=True)
            assert low <= band.min() and band.max() <= high, name
            assert np.isfinite(band.compressed()).all()
    for name, codes in CATEGORICAL.items():
        with rasterio.open(world_dir / "covariates" / f"{name}.tif") as src:
            assert src.dtypes[0] == "uint8"
            assert src.nodata == 0
            values = set(np.unique(src.read(1)).tolist()) - {0}
            assert values == codes, name


def test_texture_and_terrain_are_consistent(world_dir):
    folder = world_dir / "covariates"

    def read(name):
        with rasterio.open(folder / f"{name}.tif") as src:
            return src.read(1, masked=True)

    assert (read("clay_pct") + read("sand_pct")).max() <= 95.0 + 1e-3
    elevation, slope = read("elevation_m"), read("slope_deg")
    assert elevation.max() - elevation.min() > 200.0
    assert np.ma.median(slope) > 1.0
    # Cold at altitude: the temperature lapse rate shows through.
    with rasterio.open(folder / "mat_degc.tif") as src:
        mat = src.read(1)
    coarse_elevation = elevation.data.reshape(mat.shape[0], 2, mat.shape[1], 2).mean(axis=(1, 3))
    assert np.corrcoef(mat.ravel(), coarse_elevation.ravel())[0, 1] < -0.8
