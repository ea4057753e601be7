"""geosoil.plotting: maps on their coordinates with the CRS, and the experimental variogram."""

import geopandas as gpd
import matplotlib
import numpy as np
import pytest
import rasterio
from shapely.geometry import Point, box

from geosoil.geo.outputs import MapClass, OutputVariable
from geosoil.io.cog import write_categories
from geosoil.plotting import experimental_variogram, plot_map, plot_points, read_layer
from tests.rasters import write_raster

matplotlib.use("Agg")


@pytest.fixture
def continuous(tmp_path):
    values = np.arange(20 * 30, dtype="float32").reshape(20, 30)
    values[0, 0] = -9999.0
    return write_raster(tmp_path / "elevation_m.tif", values)


@pytest.fixture
def points():
    return gpd.GeoDataFrame(
        {"value": [1.0, -2.0, 0.5]},
        geometry=[Point(441000, 4189000), Point(442000, 4188500), Point(442500, 4188200)],
        crs="EPSG:32654",
    )


def test_a_map_is_drawn_on_its_coordinates_with_the_crs(continuous, points):
    fields = gpd.GeoDataFrame(geometry=[box(441000, 4188000, 442000, 4189000)], crs="EPSG:32654")
    ax = plot_map(continuous, points=points.to_crs(4326), fields=fields, title="elevation")
    assert ax.get_title().splitlines() == ["elevation", "WGS 84 / UTM zone 54N (EPSG:32654)"]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("easting (m)", "northing (m)")
    left, right = ax.get_xlim()
    assert left == pytest.approx(440000) and right == pytest.approx(443000)
    # the points came in geographic coordinates and are drawn in the raster's CRS
    drawn = np.asarray(ax.collections[0].get_offsets())  # the points, then the field outlines
    assert drawn[:, 0] == pytest.approx(points.geometry.x, abs=0.01)
    assert np.ma.getmaskarray(ax.images[0].get_array())[0, 0]  # nodata stays blank


def test_points_take_the_map_colour_scale(continuous, points):
    ax = plot_map(continuous, points=points, points_column="value", vmin=-2, vmax=2)
    scatter = ax.collections[-1]
    assert scatter.norm.vmin == -2 and scatter.norm.vmax == 2


def test_a_class_raster_gets_its_colours_and_category_names(tmp_path):
    path = write_raster(tmp_path / "aoa.tif", np.array([[0, 1], [1, 255]], "uint8"), nodata=255)
    with rasterio.open(path, "r+") as dataset:
        dataset.write_colormap(1, {0: (215, 25, 28, 255), 1: (26, 150, 65, 255)})
    classes = (MapClass(0, "outside", "#d7191c"), MapClass(1, "inside", "#1a9641"))
    write_categories(path, OutputVariable("aoa", kind="classes", classes=classes))
    ax = plot_map(path)
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == ["0: outside", "1: inside"]


def test_residual_points_are_centred_on_zero(continuous, points):
    ax = plot_points(points, "value", background=continuous, title="residuals")
    scatter = ax.collections[-1]
    assert (scatter.norm.vmin, scatter.norm.vmax) == (-2.0, 2.0)
    assert "EPSG:32654" in ax.get_title()


def test_read_layer_refuses_a_raster_without_crs(tmp_path):
    path = write_raster(tmp_path / "nocrs.tif", np.ones((2, 2), "float32"), crs=None)
    with pytest.raises(ValueError, match="no CRS"):
        read_layer(path)


def test_variogram_of_a_linear_trend_is_half_the_squared_lag():
    # z = x on a line: (z_i - z_j)^2 / 2 = h^2 / 2 for every pair at distance h
    x = np.arange(0.0, 101.0)
    table = experimental_variogram(x, np.zeros_like(x), x, n_lags=5, max_lag=50)
    assert table["n_pairs"].sum() == sum(101 - h for h in range(1, 51))
    for row in table.itertuples():
        assert row.semivariance >= row.lag**2 / 2 - 1e-9  # mean of h^2 >= (mean h)^2
    assert table["semivariance"].is_monotonic_increasing


def test_variogram_of_noise_is_flat_near_the_variance():
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 1000, (2, 400))
    z = rng.normal(0, 2.0, 400)
    z[0] = np.nan
    table = experimental_variogram(x, y, z)
    assert np.allclose(table["semivariance"], 4.0, rtol=0.15)
    assert table["lag"].max() <= np.hypot(1000, 1000) / 2  # half the largest distance
