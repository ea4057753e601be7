"""read_spectra and SampleSet on small wide tables written here, and on the real AfSIS table."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from geosoil.errors import InputFileNotFoundError, MissingCRSError, SampleDataError
from geosoil.io.spectra import SampleSet, read_spectra
from geosoil.spectra import SpectraError, SpectralAxis

from ..conftest import real_data_dir

WN = [4000.0, 3998.0, 3996.0, 3994.0, 3992.0]


def table(columns, n=4, *, seed=0, extra=None):
    rng = np.random.default_rng(seed)
    data = {"sample": [f"s{i}" for i in range(n)], "kex": np.linspace(0.1, 1.0, n)}
    data.update(extra or {})
    for name in columns:
        data[name] = rng.random(n) + 0.1
    return pd.DataFrame(data)


def write(frame, tmp_path, name="t.csv"):
    path = tmp_path / name
    if name.endswith(".csv"):
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


@pytest.mark.parametrize("name", ["t.csv", "t.parquet"])
def test_wn_columns_csv_and_parquet(tmp_path, name):
    frame = table([f"wn_{w:g}" for w in WN])
    samples = read_spectra(write(frame, tmp_path, name))
    assert isinstance(samples, SampleSet) and len(samples) == 4
    assert samples.axis.unit == "cm-1" and samples.axis.to_list() == WN
    assert samples.spectra.dtype == np.float32 and samples.spectra.shape == (4, 5)
    np.testing.assert_allclose(samples.spectra, frame[[f"wn_{w:g}" for w in WN]], rtol=1e-6)
    assert list(samples.frame.columns) == ["sample", "kex"]
    assert not isinstance(samples.frame, gpd.GeoDataFrame) and not samples.has_coordinates
    assert samples.quantity is None and samples.source.name == name


@pytest.mark.parametrize(
    ("columns", "unit", "quantity", "axis_unit"),
    [
        (["nm_400", "nm_401", "nm_402.5"], "nm", None, None),
        (["wl_400", "wl_401", "wl_402.5"], "nm", None, None),
        (["scan_mir.600_abs", "scan_mir.602_abs", "scan_mir.604_abs"], "cm-1", "absorbance", None),
        (
            ["scan_visnir.350_ref", "scan_visnir.352_ref", "scan_visnir.354_ref"],
            "nm",
            "reflectance",
            None,
        ),
        (
            ["scan_nir.1350_ref", "scan_nir.1352_ref", "scan_nir.1354_ref"],
            "nm",
            "reflectance",
            None,
        ),
        (["4000", "3998.1", "3996.2"], "cm-1", None, "cm-1"),
        (["X4000", "X3998.1", "X3996.2"], "cm-1", None, "cm-1"),
        (["350", "351", "352"], "nm", None, "nm"),
    ],
)
def test_naming_conventions(tmp_path, columns, unit, quantity, axis_unit):
    # OSSL tables also hold 'scan.mir.*' metadata columns that are not bands.
    frame = table(columns, extra={"scan.mir.nafreq_ossl_pct": [0.0] * 4})
    samples = read_spectra(write(frame, tmp_path), axis_unit=axis_unit)
    assert samples.axis.unit == unit and samples.quantity == quantity
    assert len(samples.axis) == 3
    assert "scan.mir.nafreq_ossl_pct" in samples.frame.columns


def test_declared_quantity_and_conflicts(tmp_path):
    path = write(table(["nm_400", "nm_401"]), tmp_path)
    assert read_spectra(path, quantity="reflectance").quantity == "reflectance"
    ossl = write(table(["scan_mir.600_abs", "scan_mir.602_abs"]), tmp_path, "o.csv")
    with pytest.raises(SpectraError, match="named as absorbance"):
        read_spectra(ossl, quantity="reflectance")
    with pytest.raises(SpectraError) as info:
        read_spectra(ossl, axis_unit="nm")
    assert info.value.field == "axis_unit"


def test_bare_numbers_need_axis_unit(tmp_path):
    path = write(table(["4000", "3998", "3996"]), tmp_path)
    with pytest.raises(SpectraError) as info:
        read_spectra(path)
    assert "no band columns" in str(info.value) and "axis_unit" in info.value.fix


def test_no_band_columns_lists_what_was_found_and_the_patterns(tmp_path):
    path = write(table(["band_a", "band_b"]), tmp_path)
    with pytest.raises(SpectraError) as info:
        read_spectra(path)
    text = str(info.value)
    assert "band_a" in text and "kex" in text and str(path) in text
    assert "wn_<cm-1>" in info.value.fix and "scan_mir.<cm-1>_abs" in info.value.fix


def test_mixed_naming_is_refused(tmp_path):
    path = write(table(["wn_4000", "wn_3998", "nm_400", "nm_401"]), tmp_path)
    with pytest.raises(SpectraError) as info:
        read_spectra(path)
    assert "mixed naming" in str(info.value)
    assert "2 named wn_" in str(info.value) and "2 named nm_" in str(info.value)


@pytest.mark.parametrize(
    ("columns", "words"),
    [
        (["wn_4000", "wn_3996", "wn_3998"], "not monotonic"),
        (["wn_4000", "wn_3998", "wn_3998.0"], "duplicated position 3998"),
    ],
)
def test_bad_axis_from_the_columns(tmp_path, columns, words):
    with pytest.raises(SpectraError) as info:
        read_spectra(write(table(columns), tmp_path))
    assert words in str(info.value) and info.value.field == "band columns"


def test_duplicated_csv_header_is_refused_not_renamed(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("sample,wn_4000,wn_3998,wn_3998\ns0,1,2,3\ns1,1,2,3\n")
    with pytest.raises(SpectraError, match="duplicated column names"):
        read_spectra(path)


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(InputFileNotFoundError):
        read_spectra(tmp_path / "absent.csv")
    (tmp_path / "t.xlsx").write_bytes(b"")
    with pytest.raises(SpectraError, match="unsupported"):
        read_spectra(tmp_path / "t.xlsx")


def test_text_in_a_band_column(tmp_path):
    frame = table(["wn_4000", "wn_3998"])
    frame["wn_3998"] = frame["wn_3998"].astype(object)
    frame.loc[2, "wn_3998"] = "n/a?"
    with pytest.raises(SpectraError) as info:
        read_spectra(write(frame, tmp_path))
    assert "'n/a?'" in str(info.value) and "row 2" in str(info.value)
    assert info.value.field == "wn_3998"


# -- NaN handling -------------------------------------------------------------------------
def test_mostly_nan_band_is_reported_then_dropped_on_request(tmp_path, caplog):
    frame = table([f"wn_{w:g}" for w in WN], n=6)
    frame.loc[1:, "wn_3992"] = np.nan  # 5 of 6 scans
    path = write(frame, tmp_path)
    with pytest.raises(SpectraError) as info:
        read_spectra(path)
    assert "wn_3992 (83% NaN)" in str(info.value)
    assert "drop_bands=['wn_3992']" in info.value.fix and "drop_nan_bands=True" in info.value.fix
    dropped = read_spectra(path, drop_nan_bands=True)
    assert dropped.axis.to_list() == WN[:-1] and "wn_3992" in caplog.text
    for how in (["wn_3992"], [3992.0]):
        samples = read_spectra(path, drop_bands=how)
        assert samples.axis.to_list() == WN[:-1]
        assert "wn_3992" not in samples.frame.columns  # a dropped band is not a sample column


def test_unknown_drop_bands(tmp_path):
    path = write(table(["wn_4000", "wn_3998"]), tmp_path)
    with pytest.raises(SpectraError, match="not a band column"):
        read_spectra(path, drop_bands=["wn_599.8"])
    with pytest.raises(SpectraError, match="not a band of the table"):
        read_spectra(path, drop_bands=[599.8])


def test_scattered_nan_and_inf_rows_are_named(tmp_path):
    frame = table([f"wn_{w:g}" for w in WN], n=8)
    frame.loc[3, "wn_3996"] = np.nan
    frame.loc[6, "wn_4000"] = np.inf
    with pytest.raises(SpectraError) as info:
        read_spectra(write(frame, tmp_path, "t.parquet"), id_column="sample")
    text = str(info.value)
    assert "2 of 8 scans hold NaN or Inf" in text and "first at row 3" in text and "'s3'" in text


# -- replicates ---------------------------------------------------------------------------
def test_replicates_are_averaged_with_their_count(tmp_path):
    frame = pd.DataFrame(
        {
            "sample": ["a", "b", "a", "c", "a"],
            "kex": [0.5, 0.7, 0.5, np.nan, 0.5],
            "site": ["x", "y", "x", "y", "x"],
            "wn_4000": [1.0, 2.0, 3.0, 4.0, 5.0],
            "wn_3998": [0.0, 1.0, 0.0, 1.0, 3.0],
        }
    )
    samples = read_spectra(write(frame, tmp_path), id_column="sample")
    assert list(samples.frame["sample"]) == ["a", "b", "c"]  # order of first appearance
    assert list(samples.frame["n_scans"]) == [3, 1, 1]
    np.testing.assert_allclose(samples.spectra, [[3.0, 1.0], [2.0, 1.0], [4.0, 1.0]])
    kept = read_spectra(write(frame, tmp_path), id_column="sample", average_replicates=False)
    assert len(kept) == 5 and "n_scans" not in kept.frame.columns


def test_an_already_averaged_table_points_to_average_replicates_false(tmp_path):
    frame = pd.DataFrame(
        {"sample": ["a", "b"], "n_scans": [3, 2], "wn_4000": [1.0, 2.0], "wn_3998": [0.0, 1.0]}
    )
    with pytest.raises(SampleDataError, match="already-averaged") as err:
        read_spectra(write(frame, tmp_path), id_column="sample")
    assert err.value.field == "n_scans" and "average_replicates: false" in err.value.fix
    assert (
        len(read_spectra(write(frame, tmp_path), id_column="sample", average_replicates=False)) == 2
    )


def test_replicates_that_disagree_are_named(tmp_path):
    frame = pd.DataFrame(
        {
            "sample": ["a", "b", "a"],
            "kex": [0.5, 0.7, 0.6],
            "wn_4000": [1.0, 2.0, 3.0],
            "wn_3998": [0.0, 1.0, 0.0],
        }
    )
    with pytest.raises(SampleDataError) as info:
        read_spectra(write(frame, tmp_path), id_column="sample")
    assert "sample 'a' disagree on 'kex'" in str(info.value) and info.value.field == "kex"
    assert "average_replicates=False" in info.value.fix
    with pytest.raises(SampleDataError) as info:
        read_spectra(write(frame, tmp_path), id_column="sample_id")
    assert info.value.field == "id_column" and "sample" in info.value.fix


# -- coordinates --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("x", "y"), [("LONWGS84", "LATWGS84"), ("longitude", "latitude"), ("lon", "lat")]
)
def test_lonlat_columns_make_a_geodataframe(tmp_path, x, y):
    frame = table(
        ["wn_4000", "wn_3998"], extra={x: [10.0, 11.0, 12.0, 13.0], y: [-1.0, 0.0, 1.0, 2.0]}
    )
    samples = read_spectra(write(frame, tmp_path))
    assert isinstance(samples.frame, gpd.GeoDataFrame) and samples.has_coordinates
    assert samples.frame.crs.to_epsg() == 4326
    assert samples.frame.geometry.x.tolist() == [10.0, 11.0, 12.0, 13.0]


def test_lonlat_out_of_range_is_refused(tmp_path):
    frame = table(["wn_4000", "wn_3998"], extra={"lon": [500000.0] * 4, "lat": [0.0] * 4})
    with pytest.raises(SampleDataError) as info:
        read_spectra(write(frame, tmp_path))
    assert info.value.field == "lon" and "x_column" in info.value.fix


def test_explicit_xy_need_a_crs(tmp_path):
    extra = {"east": [5e5, 5e5 + 10, 5e5 + 20, 5e5 + 30], "north": [4e6] * 4}
    path = write(table(["wn_4000", "wn_3998"], extra=extra), tmp_path)
    samples = read_spectra(path, x_column="east", y_column="north", crs="EPSG:32654")
    assert samples.frame.crs.to_epsg() == 32654
    with pytest.raises(MissingCRSError):
        read_spectra(path, x_column="east", y_column="north")
    with pytest.raises(SampleDataError, match="both"):
        read_spectra(path, x_column="east")
    with pytest.raises(SampleDataError) as info:
        read_spectra(path, x_column="x", y_column="north", crs="EPSG:32654")
    assert info.value.field == "x_column"


# -- SampleSet ----------------------------------------------------------------------------
def sample_set(n=6):
    axis = SpectralAxis.from_values([4000.0, 3998.0, 3996.0], "cm-1")
    frame = pd.DataFrame(
        {"kex": np.linspace(0.2, 1.2, n), "site": list("aabbcc")[:n], "note": ["x"] * n}
    )
    spectra = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    return SampleSet(frame=frame, spectra=spectra, axis=axis, quantity=None, source=None)


def test_target_and_its_errors():
    samples = sample_set()
    y = samples.target("kex", positive=True)
    assert y.dtype == np.float64 and y.tolist() == pytest.approx(np.linspace(0.2, 1.2, 6))
    with pytest.raises(SampleDataError) as info:
        samples.target("EXKM3S")
    assert info.value.field == "EXKM3S" and "kex" in info.value.fix
    with pytest.raises(SampleDataError, match="not numeric"):
        samples.target("note")
    samples.frame.loc[2, "kex"] = 0.0
    with pytest.raises(SampleDataError) as info:
        samples.target("kex", positive=True)
    assert "zero or negative" in str(info.value) and "row 2" in str(info.value)
    assert samples.target("kex")[2] == 0.0  # fine without a log transform
    samples.frame.loc[4, "kex"] = np.nan
    with pytest.raises(SampleDataError, match=r"missing for 1 of 6 samples \(first at row 4\)"):
        samples.target("kex")
    kept = samples.drop_missing("kex")
    assert len(kept) == 5 and np.isfinite(kept.target("kex")).all()
    np.testing.assert_array_equal(kept.spectra[4], samples.spectra[5])


def test_groups_and_subset():
    samples = sample_set()
    assert samples.groups("site").tolist() == list("aabbcc")
    with pytest.raises(SampleDataError) as info:
        samples.groups("soil_order")
    assert "soil_order" in str(info.value) and "site" in info.value.fix
    part = samples.subset(np.array([5, 1]))
    assert part.frame["site"].tolist() == ["c", "a"] and part.frame.index.tolist() == [0, 1]
    np.testing.assert_array_equal(part.spectra, samples.spectra[[5, 1]])
    mask = samples.frame["site"].to_numpy() == "b"
    assert len(samples.subset(mask)) == 2 and len(samples.subset(slice(0, 3))) == 3
    with pytest.raises(SampleDataError, match="boolean mask"):
        samples.subset(mask[:-1])
    samples.frame.loc[3, "site"] = None
    with pytest.raises(SampleDataError, match="first at row 3"):
        samples.groups("site")


def test_sampleset_resample_and_shape_check():
    samples = sample_set()
    to = SpectralAxis.from_values([3999.0, 3997.0], "cm-1")
    moved = samples.resample(to)
    np.testing.assert_allclose(moved.spectra, (samples.spectra[:, :2] + samples.spectra[:, 1:]) / 2)
    assert moved.axis is to
    with pytest.raises(SpectraError, match="extrapolate"):
        samples.resample(SpectralAxis.from_values([4001.0, 3997.0], "cm-1"))
    with pytest.raises(SpectraError, match="do not match"):
        SampleSet(frame=samples.frame, spectra=samples.spectra[:, :2], axis=samples.axis)


# -- real data ----------------------------------------------------------------------------
AFSIS = real_data_dir() / "afsis_mir"


@pytest.mark.real_data
@pytest.mark.skipif(not AFSIS.is_dir(), reason=f"real AfSIS MIR data not found at {AFSIS}")
def test_real_afsis_mir_table():
    (path,) = sorted(AFSIS.glob("*.parquet"))
    with pytest.raises(SpectraError, match="wn_599.8"):
        read_spectra(path)
    samples = read_spectra(path, drop_nan_bands=True)
    assert len(samples) == 1389 and len(samples.axis) == 1765
    assert samples.axis.unit == "cm-1" and samples.axis.is_descending
    assert samples.axis.start == 4003.5 and samples.axis.stop == pytest.approx(601.7)
    assert np.isfinite(samples.spectra).all()
    kex = samples.target("EXKM3S", positive=True)
    assert kex.shape == (1389,) and np.all(kex > 0)
    assert len(np.unique(samples.groups("LOCNAME"))) == 44
    assert samples.frame.crs.to_epsg() == 4326 and samples.frame.geometry.notna().all()
    # The same spectra on an ascending axis: the reader follows the column order.
    ascending = samples.axis.ascending()
    np.testing.assert_array_equal(samples.resample(ascending).spectra, samples.spectra[:, ::-1])


def test_samples_without_coordinates_get_an_empty_geometry(tmp_path, caplog):
    extra = {"lon": [10.0, np.nan, 12.0, 13.0], "lat": [1.0, 2.0, 3.0, 4.0]}
    samples = read_spectra(write(table(["wn_4000", "wn_3998"], extra=extra), tmp_path))
    assert samples.frame.geometry.isna().tolist() == [False, True, False, False]
    assert "1 of 4 samples have no coordinates" in caplog.text


def test_geoparquet_keeps_its_geometry_through_replicate_averaging(tmp_path):
    frame = table(["wn_4000", "wn_3998"], n=4)
    frame["sample"] = ["a", "a", "b", "c"]
    frame["kex"] = [0.5, 0.5, 0.6, 0.7]
    points = gpd.points_from_xy([1.0, 1.0, 2.0, 3.0], [5.0, 5.0, 6.0, 7.0])
    geo = gpd.GeoDataFrame(frame, geometry=points, crs="EPSG:32654")
    path = tmp_path / "g.parquet"
    geo.to_parquet(path)
    samples = read_spectra(path, id_column="sample")
    assert samples.frame.crs.to_epsg() == 32654 and samples.frame.geometry.x.tolist() == [1, 2, 3]
    assert samples.frame["n_scans"].tolist() == [2, 1, 1]
    with pytest.raises(SampleDataError, match="own geometry"):
        read_spectra(path, crs="EPSG:4326")
