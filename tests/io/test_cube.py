"""Cube axes: wavelengths from band metadata, GDAL's IMAGERY domain, an ENVI header or the
config; bad band lists; headers written by hand in every layout ENVI files come in."""

import numpy as np
import pytest
import rasterio

from geosoil.errors import InputFileNotFoundError
from geosoil.io.cube import (
    CubeError,
    envi_header_path,
    nm_per_unit,
    read_cube_axis,
    read_envi_header,
)

from ..rasters import UTM_100M, write_raster


def write_cube_tif(path, cube, wavelengths, *, units="nm", nodata=-9999.0, transform=UTM_100M):
    """A (bands, rows, cols) GeoTIFF with per-band ``wavelength``/``wavelength_units`` tags
    (no tags when ``units`` is None and ``wavelengths`` is None)."""
    write_raster(path, cube, nodata=nodata, transform=transform)
    if wavelengths is not None:
        with rasterio.open(path, "r+") as dataset:
            for band, wavelength in enumerate(wavelengths, start=1):
                tags = {"wavelength": f"{wavelength:g}"}
                if units is not None:
                    tags["wavelength_units"] = units
                dataset.update_tags(band, **tags)
    return path


def write_envi(path, cube, wavelengths, *, bbl=None, ignore=None, extra="", units="Nanometers"):
    """A BSQ float32 ENVI pair (``path`` .img + .hdr) in UTM 54N, 100 m pixels, with the
    wavelength list spread over several lines as ENVI writes it."""
    bands, rows, cols = cube.shape
    cube.astype("<f4").tofile(path)
    items = [f"{w:g}" for w in wavelengths]
    lines = ",\n  ".join(", ".join(items[i : i + 5]) for i in range(0, len(items), 5))
    text = [
        "ENVI",
        "description = {synthetic cube,",
        "  written by a test}",
        f"samples = {cols}",
        f"lines   = {rows}",
        f"bands   = {bands}",
        "header offset = 0",
        "file type = ENVI Standard",
        "data type = 4",
        "interleave = bsq",
        "byte order = 0",
        "map info = {UTM, 1, 1, 440000, 4190000, 100, 100, 54, North, WGS-84}",
        f"Wavelength Units = {units}",
        f"wavelength = {{\n  {lines}}}",
    ]
    if bbl is not None:
        text.append("bbl = {" + ", ".join(str(int(v)) for v in bbl) + "}")
    if ignore is not None:
        text.append(f"data ignore value = {ignore:g}")
    path.with_suffix(".hdr").write_text("\n".join(text) + "\n" + extra)
    return path


def small_cube(n_bands=6, rows=4, cols=5):
    return np.arange(n_bands * rows * cols, dtype=np.float32).reshape(n_bands, rows, cols)


def test_band_metadata_in_micrometres_unsorted(tmp_path):
    wavelengths_um = [0.9, 0.5, 0.6, 0.7, 0.8, 1.0]
    path = write_cube_tif(tmp_path / "c.tif", small_cube(), wavelengths_um, units="Micrometers")
    cube = read_cube_axis(path)
    np.testing.assert_allclose(cube.axis.values, [500, 600, 700, 800, 900, 1000])
    assert cube.axis.unit == "nm" and cube.source == "band metadata"
    assert cube.band_indexes.tolist() == [2, 3, 4, 5, 1, 6]
    assert not cube.bad.any() and cube.nodata == -9999.0


def test_config_wavelengths_override_the_file(tmp_path):
    path = write_cube_tif(tmp_path / "c.tif", small_cube(), [1, 2, 3, 4, 5, 6])
    cube = read_cube_axis(path, wavelengths=[1.0, 1.1, 1.2, 1.3, 1.4, 1.5], wavelength_unit="um")
    np.testing.assert_allclose(cube.axis.values, [1000, 1100, 1200, 1300, 1400, 1500])
    assert cube.source == "config"
    with pytest.raises(CubeError, match="lists 3 positions") as err:
        read_cube_axis(path, wavelengths=[1, 2, 3])
    assert err.value.field == "cube.wavelengths"


def test_imagery_domain_is_used_without_band_metadata(tmp_path):
    path = write_cube_tif(tmp_path / "c.tif", small_cube(3), None)
    with rasterio.open(path, "r+") as dataset:
        for band, um in enumerate((0.45, 0.55, 0.65), start=1):
            dataset.update_tags(band, ns="IMAGERY", CENTRAL_WAVELENGTH_UM=f"{um:.3f}")
    cube = read_cube_axis(path)
    np.testing.assert_allclose(cube.axis.values, [450, 550, 650])
    assert cube.source == "IMAGERY domain"


def test_envi_pair_gives_wavelengths_bad_bands_and_nodata(tmp_path):
    wavelengths = [400 + 10 * i for i in range(12)]
    bbl = [1] * 12
    bbl[3] = 0
    path = write_envi(tmp_path / "c.img", small_cube(12), wavelengths, bbl=bbl, ignore=-1)
    cube = read_cube_axis(path)
    np.testing.assert_allclose(cube.axis.values, wavelengths)
    assert cube.bad.tolist() == [i == 3 for i in range(12)]
    assert cube.nodata == -1.0
    with rasterio.open(path) as dataset:
        assert dataset.crs.to_epsg() == 32654


def test_envi_header_alone_when_gdal_does_not_expose_it(tmp_path):
    # A GeoTIFF with a hand-written header beside it: only our parser sees the wavelengths.
    path = write_cube_tif(tmp_path / "c.tif", small_cube(4), None, nodata=None)
    (tmp_path / "c.hdr").write_text(
        "ENVI\n; a comment\nWAVELENGTH  UNITS = nm\nwavelength = {\n 700 ,\n 600,\n"
        "500, 800 }\nbbl = {1, 1,\n 0, 1}\n  Data Ignore Value = 0\n"
    )
    cube = read_cube_axis(path)
    assert cube.source == "ENVI header c.hdr"
    np.testing.assert_allclose(cube.axis.values, [500, 600, 700, 800])
    assert cube.band_indexes.tolist() == [3, 2, 1, 4]
    assert cube.bad.tolist() == [True, False, False, False]  # band 3 (500 nm) is bad
    assert cube.nodata == 0.0


def test_header_parser_layouts(tmp_path):
    path = tmp_path / "x.hdr"
    path.write_text(
        "ENVI\ndescription = {\n  one, two\n}\nband names = {a,b,\n\n c}\n"
        "Byte Order=0\nempty = {}\n"
    )
    header = read_envi_header(path)
    assert header == {
        "description": ["one", "two"],
        "band names": ["a", "b", "c"],
        "byte order": "0",
        "empty": [],
    }
    path.write_text("ENVI\nwavelength = {1, 2,\n 3\n")
    with pytest.raises(CubeError, match="never closed") as err:
        read_envi_header(path)
    assert err.value.field == "ENVI header.wavelength"
    path.write_text("ENVI\nno equals sign here\n")
    with pytest.raises(CubeError, match="line 2"):
        read_envi_header(path)


def test_header_found_beside_the_file(tmp_path):
    raster = tmp_path / "scene.bil"
    raster.write_bytes(b"")
    assert envi_header_path(raster) is None
    (tmp_path / "scene.bil.hdr").write_text("ENVI\n")
    assert envi_header_path(raster) == tmp_path / "scene.bil.hdr"


@pytest.mark.parametrize(
    ("unit", "factor"),
    [("Nanometers", 1.0), ("nm", 1.0), ("micrometers", 1000.0), ("\u00b5m", 1000.0), ("x", None)],
)
def test_units(unit, factor):
    assert nm_per_unit(unit) == factor


def test_cube_without_wavelengths_is_refused(tmp_path):
    path = write_cube_tif(tmp_path / "c.tif", small_cube(), None)
    with pytest.raises(CubeError, match="have no wavelengths") as err:
        read_cube_axis(path)
    assert err.value.field == "cube.wavelengths"
    assert "wavelength_units" in err.value.fix and "ENVI header" in err.value.fix


def test_unknown_or_missing_units(tmp_path):
    path = write_cube_tif(tmp_path / "c.tif", small_cube(), range(1, 7), units="furlongs")
    with pytest.raises(CubeError, match="'furlongs' is not known"):
        read_cube_axis(path)
    path = write_cube_tif(tmp_path / "d.tif", small_cube(), range(500, 506), units=None)
    with pytest.raises(CubeError, match="no unit") as err:
        read_cube_axis(path)
    assert err.value.field == "cube.wavelength_unit"
    np.testing.assert_allclose(read_cube_axis(path, wavelength_unit="nm").axis.values[0], 500)


def test_duplicate_wavelengths_are_refused(tmp_path):
    path = write_cube_tif(tmp_path / "c.tif", small_cube(), [500, 600, 700, 600, 800, 900])
    with pytest.raises(CubeError, match=r"bands \[2, 4\] have the same wavelength 600") as err:
        read_cube_axis(path)
    assert err.value.field == "cube.wavelengths"


def test_missing_cube(tmp_path):
    with pytest.raises(InputFileNotFoundError) as err:
        read_cube_axis(tmp_path / "none.tif")
    assert err.value.field == "cube.path"


def test_bad_band_list_of_the_wrong_length(tmp_path):
    path = write_envi(tmp_path / "c.img", small_cube(3), [500, 600, 700], bbl=[1, 0])
    with pytest.raises(CubeError, match="2 entries for 3 bands") as err:
        read_cube_axis(path)
    assert err.value.field == "ENVI header.bbl"
