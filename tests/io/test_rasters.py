import geopandas as gpd
import numpy as np
import pytest
from affine import Affine
from shapely.geometry import Point

from geosoil.errors import CovariateError
from geosoil.io.catalog import CovariateLayer
from geosoil.io.rasters import extract_at_points

from ..rasters import write_raster


def test_points_are_reprojected_to_each_raster(tmp_path):
    values = np.arange(100, dtype="float32").reshape(10, 10)
    values[2, 3] = -9999.0
    utm = write_raster(tmp_path / "utm.tif", values)
    pts_utm = gpd.GeoSeries(
        [Point(440050, 4189950), Point(440950, 4189050), Point(440350, 4189750), Point(0, 0)],
        crs="EPSG:32654",
    )
    pts_geo = pts_utm.to_crs("EPSG:4326")  # same places, other CRS
    layer = CovariateLayer(name="v", path=utm)
    for pts in (pts_utm, pts_geo):
        out = extract_at_points([layer], pts)["v"].to_numpy()
        np.testing.assert_array_equal(out[:2], [0.0, 99.0])
        assert np.isnan(out[2]) and np.isnan(out[3])  # nodata, outside


def test_band_and_scale(tmp_path):
    bands = np.stack([np.full((4, 4), 1, "int16"), np.full((4, 4), 7, "int16")])
    path = write_raster(
        tmp_path / "two.tif", bands, transform=Affine(10, 0, 0, 0, -10, 40), nodata=-1
    )
    layer = CovariateLayer(name="b2", path=path, band=2, scale=0.1)
    out = extract_at_points([layer], gpd.GeoSeries([Point(5, 35)], crs="EPSG:32654"))
    np.testing.assert_allclose(out["b2"], [0.7], rtol=1e-6)


def test_no_point_on_the_raster(tmp_path):
    path = write_raster(tmp_path / "r.tif", np.ones((4, 4), "float32"))
    with pytest.raises(CovariateError, match="no sample point"):
        extract_at_points(
            [CovariateLayer(name="r", path=path)], gpd.GeoSeries([Point(0, 0)], crs="EPSG:32654")
        )
