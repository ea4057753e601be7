"""Per-field dose table: areas, means and totals against hand counts; odd fields; bad files."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine
from shapely.geometry import Point, box

from geosoil.errors import ConfigError, InputFileNotFoundError, MissingCRSError, SampleDataError
from geosoil.products.field_table import (
    WARN_NO_PIXEL,
    WARN_NODATA,
    WARN_OUTSIDE,
    k_dose_field_table,
    read_fields,
    write_field_table,
)

CRS = "EPSG:32654"
LEFT, TOP, PIXEL = 500_000.0, 4_000_000.0, 10.0  # 10 m pixels: 0.01 ha each
NODATA = -9999.0


def write_raster(path, values, *, crs=CRS):
    profile = {
        "driver": "GTiff",
        "width": values.shape[1],
        "height": values.shape[0],
        "count": 1,
        "dtype": "float32",
        "crs": crs,
        "transform": Affine(PIXEL, 0, LEFT, 0, -PIXEL, TOP),
        "nodata": NODATA,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.where(np.isfinite(values), values, NODATA).astype(np.float32), 1)
    return path


@pytest.fixture
def doses(tmp_path):
    """A 10 x 12 grid: K2O dose = 10 x column index (0 in column 0), a nodata hole at (5, 5)."""
    k2o = np.tile(np.arange(12, dtype=np.float64) * 10.0, (10, 1))
    k2o[5, 5] = np.nan
    p90 = k2o + 5.0
    rasters = {
        "dose_k2o_kg_ha": write_raster(tmp_path / "k2o.tif", k2o),
        "dose_kcl_kg_ha": write_raster(tmp_path / "kcl.tif", k2o / 0.6),
        "dose_k2o_p90_kg_ha": write_raster(tmp_path / "k2o90.tif", p90),
        "dose_kcl_p90_kg_ha": write_raster(tmp_path / "kcl90.tif", p90 / 0.6),
    }
    return k2o, rasters


def cells(col0, row0, col1, row1):
    """A box covering whole pixels [col0, col1) x [row0, row1)."""
    return box(LEFT + col0 * PIXEL, TOP - row1 * PIXEL, LEFT + col1 * PIXEL, TOP - row0 * PIXEL)


def fields_frame(geometries, crs=CRS):
    ids = [f"F{i}" for i in range(len(geometries))]
    return gpd.GeoDataFrame({"field_id": ids}, geometry=geometries, crs=crs)


def test_means_totals_and_deficit_share_against_hand_counts(doses):
    k2o, rasters = doses
    fields = fields_frame(
        [
            cells(0, 0, 4, 3),  # columns 0-3: doses 0, 10, 20, 30; one column without deficit
            cells(4, 4, 7, 7),  # holds the nodata pixel (5, 5)
        ]
    )
    table = k_dose_field_table(fields, rasters, id_column="field_id", percentile=90)
    first, second = table.iloc[0], table.iloc[1]
    assert first["area_ha"] == pytest.approx(0.12) and first["n_pixels"] == 12
    assert first["mapped_pct"] == 100 and first["warning"] == ""
    assert first["mean_dose_k2o_kg_ha"] == pytest.approx(15.0)
    assert first["mean_dose_kcl_kg_ha"] == pytest.approx(25.0)
    assert first["mean_dose_k2o_p90_kg_ha"] == pytest.approx(20.0)
    # Sum of dose x 0.01 ha: 3 rows x (0 + 10 + 20 + 30) x 0.01 = 1.8 kg.
    assert first["total_k2o_kg"] == pytest.approx(1.8)
    assert first["total_kcl_kg"] == pytest.approx(3.0)
    assert first["total_k2o_p90_kg"] == pytest.approx(2.4)
    assert first["deficit_pct"] == pytest.approx(75.0)

    expected = k2o[4:7, 4:7]
    assert second["n_pixels"] == 9 and second["mapped_pct"] == pytest.approx(800 / 9)
    assert second["mean_dose_k2o_kg_ha"] == pytest.approx(np.nanmean(expected))
    assert second["total_k2o_kg"] == pytest.approx(np.nansum(expected) * 0.01)
    assert second["warning"].startswith("partly mapped: 8 of 9")
    assert table.crs == fields.crs and list(table["field_id"]) == ["F0", "F1"]


def test_fields_in_another_crs_give_the_same_pixels(doses):
    _, rasters = doses
    local = fields_frame([cells(1, 1, 5, 4).buffer(-1.0)])
    geographic = local.to_crs("EPSG:4326")
    a = k_dose_field_table(local, rasters, id_column="field_id")
    b = k_dose_field_table(geographic, rasters, id_column="field_id")
    assert b.crs == geographic.crs
    assert a["n_pixels"].item() == b["n_pixels"].item() == 12
    assert a["total_k2o_kg"].item() == pytest.approx(b["total_k2o_kg"].item())
    assert a["area_ha"].item() == pytest.approx(b["area_ha"].item(), rel=1e-6)
    assert "mean_dose_k2o_p90_kg_ha" not in a.columns


def test_odd_fields_get_a_warning_row_not_an_error(doses):
    _, rasters = doses
    fields = fields_frame(
        [
            cells(100, 100, 104, 104),  # far outside the grid
            box(LEFT + 12, TOP - 18, LEFT + 14, TOP - 16),  # 2 m square between pixel centres
            cells(10, 8, 14, 10),  # half beyond the right edge of the 12-column grid
            cells(5, 5, 6, 6),  # only the nodata pixel
        ]
    )
    table = k_dose_field_table(fields, rasters, id_column="field_id").set_index("field_id")
    assert table.loc["F0", "warning"] == WARN_OUTSIDE
    assert table.loc["F1", "warning"] == WARN_NO_PIXEL
    assert table.loc["F3", "warning"] == WARN_NODATA
    for field in ("F0", "F1", "F3"):
        assert np.isnan(table.loc[field, "total_k2o_kg"])
    # Pixels beyond the grid count as unmapped: 4 of the 8 pixel centres are on the map.
    assert table.loc["F2", "n_pixels"] == 8 and table.loc["F2", "mapped_pct"] == 50
    assert table.loc["F2", "total_k2o_kg"] == pytest.approx(2 * (100 + 110) * 0.01)
    assert table.loc["F2", "area_ha"] == pytest.approx(0.08)


def test_geographic_grid_is_refused(tmp_path):
    rasters = {
        name: write_raster(tmp_path / f"{name}.tif", np.ones((4, 4)), crs="EPSG:4326")
        for name in ("dose_k2o_kg_ha", "dose_kcl_kg_ha")
    }
    fields = fields_frame([box(LEFT, TOP - 20, LEFT + 20, TOP)])
    with pytest.raises(ConfigError, match="projected") as info:
        k_dose_field_table(fields, rasters, id_column="field_id")
    assert info.value.field == "grid.crs"


def test_missing_percentile_layer_is_refused(doses):
    _, rasters = doses
    del rasters["dose_kcl_p90_kg_ha"]
    with pytest.raises(ConfigError, match="dose_kcl_p90_kg_ha"):
        k_dose_field_table(
            fields_frame([cells(0, 0, 2, 2)]), rasters, id_column="field_id", percentile=90
        )


def test_write_field_table(doses, tmp_path):
    _, rasters = doses
    table = k_dose_field_table(fields_frame([cells(0, 0, 4, 3)]), rasters, id_column="field_id")
    out = tmp_path / "out"
    out.mkdir()
    gpkg, csv = write_field_table(table, out)
    assert sorted(p.name for p in out.iterdir()) == ["fields.csv", "fields.gpkg"]
    back = gpd.read_file(gpkg, layer="fields")
    assert back.crs == table.crs and back["total_k2o_kg"].item() == pytest.approx(1.8)
    flat = pd.read_csv(csv)
    assert "geometry" not in flat.columns and flat["field_id"].tolist() == ["F0"]


def write_vector(frame, path, **kwargs):
    frame.to_file(path, **kwargs)
    return path


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_read_fields_checks(tmp_path):
    good = write_vector(fields_frame([cells(0, 0, 2, 2), cells(3, 3, 5, 5)]), tmp_path / "f.gpkg")
    fields = read_fields(good, id_column="field_id")
    assert list(fields.columns) == ["field_id", "geometry"] and len(fields) == 2

    with pytest.raises(InputFileNotFoundError) as info:
        read_fields(tmp_path / "absent.gpkg", id_column="field_id")
    assert info.value.field == "fields.path"

    no_crs = write_vector(fields_frame([cells(0, 0, 2, 2)], crs=None), tmp_path / "nocrs.gpkg")
    with pytest.raises(MissingCRSError, match="coordinate reference system") as info:
        read_fields(no_crs, id_column="field_id")
    assert info.value.field == "fields.path" and "ogr2ogr" in info.value.fix

    points = gpd.GeoDataFrame({"field_id": ["P"]}, geometry=[Point(LEFT, TOP)], crs=CRS)
    with pytest.raises(SampleDataError, match="must be polygons"):
        read_fields(write_vector(points, tmp_path / "points.gpkg"), id_column="field_id")

    with pytest.raises(SampleDataError, match="no polygons") as info:
        read_fields(write_vector(points.iloc[:0], tmp_path / "empty.gpkg"), id_column="field_id")
    assert info.value.field == "fields.path"

    with pytest.raises(SampleDataError, match="'parcel'") as info:
        read_fields(good, id_column="parcel")
    assert info.value.field == "fields.id_column" and "field_id" in info.value.fix

    twice = fields_frame([cells(0, 0, 2, 2), cells(3, 3, 5, 5)])
    twice["field_id"] = ["A", "A"]
    with pytest.raises(SampleDataError, match="repeat"):
        read_fields(write_vector(twice, tmp_path / "twice.gpkg"), id_column="field_id")


def test_bow_tie_polygon_is_repaired(tmp_path):
    from shapely.geometry import Polygon

    bow_tie = Polygon([(LEFT, TOP), (LEFT + 40, TOP - 40), (LEFT + 40, TOP), (LEFT, TOP - 40)])
    path = write_vector(fields_frame([bow_tie]), tmp_path / "bow.gpkg")
    fields = read_fields(path, id_column="field_id")
    assert fields.geometry.is_valid.all()
    assert fields.geometry.area.item() == pytest.approx(800.0)
