"""Warped reads put layers of other CRS and resolutions where they belong."""

import numpy as np
import pytest
from affine import Affine
from pyproj import Transformer

from geosoil.errors import CovariateError, InputFileNotFoundError, MissingCRSError
from geosoil.geo.grid import Grid
from geosoil.io.catalog import CovariateLayer
from geosoil.mapping.stack import CovariateStack

from ..rasters import write_raster

GRID = Grid("EPSG:32654", Affine(100.0, 0, 440000.0, 0, -100.0, 4190000.0), width=20, height=16)


def test_same_grid_reads_values_unchanged(tmp_path):
    values = np.arange(16 * 20, dtype="float32").reshape(16, 20)
    values[3, 4] = -9999.0
    path = write_raster(tmp_path / "a.tif", values)
    out = CovariateStack.from_layers([CovariateLayer(name="a", path=path)]).read(GRID)
    expected = values.copy()
    expected[3, 4] = np.nan
    np.testing.assert_array_equal(out[0], expected)


def test_coarser_layer_is_interpolated_bilinearly(tmp_path):
    # A plane in x sampled at 200 m: bilinear onto 100 m must give the plane back inside.
    x_centres = 440000.0 + 200.0 * (np.arange(10) + 0.5)
    coarse = np.tile(x_centres, (8, 1)).astype("float64")
    path = write_raster(
        tmp_path / "coarse.tif",
        coarse,
        transform=Affine(200.0, 0, 440000.0, 0, -200.0, 4190000.0),
        nodata=None,
    )
    out = CovariateStack.from_layers([CovariateLayer(name="x", path=path)]).read(GRID)[0]
    x, _ = GRID.coords()
    interior = slice(1, -1)
    np.testing.assert_allclose(
        out[interior, interior], np.tile(x, (16, 1))[interior, interior], atol=1e-3
    )


def test_geographic_layer_aligns_to_projected_grid(tmp_path):
    # A layer in EPSG:4326 whose value is the UTM easting of each of its pixel centres.
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32654", always_xy=True)
    to_geo = Transformer.from_crs("EPSG:32654", "EPSG:4326", always_xy=True)
    lon0, lat1 = to_geo.transform(439500.0, 4190500.0)
    step = 0.0004
    lons = lon0 + step * (np.arange(90) + 0.5)
    lats = lat1 - step * (np.arange(60) + 0.5)
    lon_grid, lat_grid = np.meshgrid(lons, lats)
    easting, _ = to_utm.transform(lon_grid, lat_grid)
    path = write_raster(
        tmp_path / "geo.tif",
        easting.astype("float64"),
        crs="EPSG:4326",
        transform=Affine(step, 0, lon0, 0, -step, lat1),
        nodata=None,
    )
    out = CovariateStack.from_layers([CovariateLayer(name="e", path=path)]).read(GRID)[0]
    x, _ = GRID.coords()
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, np.tile(x, (16, 1)), atol=2.0)


def test_categorical_layer_keeps_its_classes(tmp_path):
    classes = (np.indices((16, 20)).sum(axis=0) // 3 % 4 + 1).astype("uint8")
    path = write_raster(
        tmp_path / "lc.tif",
        classes,
        transform=Affine(70.0, 0, 440010.0, 0, -70.0, 4190010.0),
        nodata=0,
    )
    layer = CovariateLayer(name="lc", path=path, categorical=True)
    out = CovariateStack.from_layers([layer]).read(GRID)[0]
    assert set(np.unique(out[np.isfinite(out)])) <= {1.0, 2.0, 3.0, 4.0}


def test_outside_the_layer_is_nan_and_scale_offset_apply(tmp_path):
    values = np.full((4, 4), 10, dtype="int16")
    path = write_raster(tmp_path / "small.tif", values, nodata=-1)
    layer = CovariateLayer(name="s", path=path, scale=0.5, offset=1.0)
    out = CovariateStack.from_layers([layer]).read(GRID)[0]
    np.testing.assert_array_equal(out[:4, :4], 6.0)
    assert np.isnan(out[5:, 5:]).all()


def test_missing_raster_and_band_and_crs(tmp_path):
    with pytest.raises(InputFileNotFoundError):
        CovariateStack.from_layers([CovariateLayer(name="m", path=tmp_path / "no.tif")]).read(GRID)
    path = write_raster(tmp_path / "one.tif", np.zeros((4, 4), dtype="float32"))
    with pytest.raises(CovariateError, match="band 2"):
        CovariateStack.from_layers([CovariateLayer(name="b", path=path, band=2)]).read(GRID)
    no_crs = write_raster(tmp_path / "nocrs.tif", np.zeros((4, 4), dtype="float32"), crs=None)
    with pytest.raises(MissingCRSError):
        CovariateStack.from_layers([CovariateLayer(name="c", path=no_crs)]).read(GRID)


def test_layer_that_misses_the_grid(tmp_path):
    far = write_raster(
        tmp_path / "far.tif",
        np.zeros((4, 4), dtype="float32"),
        transform=Affine(100.0, 0, 900000.0, 0, -100.0, 100000.0),
    )
    stack = CovariateStack.from_layers([CovariateLayer(name="far", path=far)])
    with pytest.raises(CovariateError, match="does not overlap"):
        stack.read(GRID)
