import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from geosoil.errors import InputFileNotFoundError, MissingCRSError, SampleDataError
from geosoil.io.samples import read_samples, target_values


def points(n=12, crs="EPSG:32654"):
    return gpd.GeoDataFrame(
        {"kex": np.linspace(0.1, 1.2, n), "site": [f"s{i // 3}" for i in range(n)]},
        geometry=[Point(440000 + 50 * i, 4189000) for i in range(n)],
        crs=crs,
    )


@pytest.mark.parametrize("suffix", [".parquet", ".gpkg", ".geojson"])
def test_spatial_formats_keep_their_crs(tmp_path, suffix):
    path = tmp_path / f"s{suffix}"
    frame = points(crs="EPSG:4326" if suffix == ".geojson" else "EPSG:32654")
    frame.to_parquet(path) if suffix == ".parquet" else frame.to_file(path)
    read = read_samples(path)
    assert read.crs == frame.crs and len(read) == len(frame)


def test_csv_needs_a_declared_crs(tmp_path):
    path = tmp_path / "s.csv"
    pd.DataFrame({"x": [1.0, 2.0], "y": [3.0, 4.0], "kex": [0.2, 0.3]}).to_csv(path, index=False)
    with pytest.raises(MissingCRSError, match="samples.crs"):
        read_samples(path)
    assert read_samples(path, crs="EPSG:32654").crs.to_epsg() == 32654
    with pytest.raises(SampleDataError, match="x_column"):
        read_samples(path, crs="EPSG:32654", x_column="lon")


def test_geoparquet_without_crs(tmp_path):
    path = tmp_path / "nocrs.parquet"
    points(crs=None).to_parquet(path)
    with pytest.raises(MissingCRSError) as info:
        read_samples(path)
    assert str(path) in str(info.value)


def test_non_point_geometries(tmp_path):
    path = tmp_path / "poly.parquet"
    gpd.GeoDataFrame({"kex": [1.0]}, geometry=[box(0, 0, 1, 1)], crs="EPSG:32654").to_parquet(path)
    with pytest.raises(SampleDataError, match="points"):
        read_samples(path)


def test_missing_and_unknown_format(tmp_path):
    with pytest.raises(InputFileNotFoundError):
        read_samples(tmp_path / "none.parquet")
    odd = tmp_path / "s.xlsx"
    odd.write_text("x")
    with pytest.raises(SampleDataError, match="unsupported"):
        read_samples(odd)


def test_target_checks():
    frame = points()
    np.testing.assert_array_equal(target_values(frame, "kex", source="f"), frame["kex"])
    with pytest.raises(SampleDataError, match=r"numeric columns: \['kex'\]"):
        target_values(frame, "ph", source="f")
    text = frame.assign(kex=["<0.1"] + ["0.5"] * 11)
    with pytest.raises(SampleDataError, match="'<0.1'"):
        target_values(text, "kex", source="f")
    numeric_text = frame.assign(kex=[str(v) for v in frame["kex"]])
    assert target_values(numeric_text, "kex", source="f").dtype == np.float64
    with pytest.raises(SampleDataError, match="only 2 finite"):
        target_values(frame.assign(kex=[1.0, 2.0] + [np.nan] * 10), "kex", source="f")
