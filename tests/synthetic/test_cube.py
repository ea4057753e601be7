"""The bare-soil hyperspectral cube: grid, band metadata in both formats, truth, nodata."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pytest
import rasterio

from geosoil.errors import ConfigError
from geosoil.synthetic import bare_soil_cube
from geosoil.synthetic.cube import (
    CUBE_ORIGIN_M,
    MAX_SIZE_PX,
    PIXEL_M,
    band_centres_nm,
    water_vapour_mask,
)
from geosoil.synthetic.rasters import FLOAT_NODATA
from geosoil.synthetic.visnir_library import PB_MODEL, PH_MODEL

SIZE = 24
TRUTH = ("truth_pb_mg_kg", "truth_ph", "truth_soc_g_kg")


@pytest.fixture(scope="module")
def cube(tmp_path_factory):
    return bare_soil_cube(tmp_path_factory.mktemp("cube"), size=SIZE, seed=0)


def _read(path, band=None):
    with rasterio.open(path) as src:
        return src.read(band) if band else src.read()


def _header(path) -> dict[str, str]:
    """ENVI header fields, braces kept off, keys lower case."""
    text = path.read_text()
    assert text.startswith("ENVI\n")
    fields = {}
    for match in re.finditer(r"^([a-z ]+?)\s*=\s*(\{.*?\}|[^\n]*)$", text, re.M | re.S):
        fields[match.group(1).strip()] = match.group(2).strip().strip("{}")
    return fields


def test_returns_every_file_by_name(cube):
    assert set(cube) == {"cube_tif", "cube_img", "cube_hdr", *TRUTH, "readme"}
    assert all(path.is_file() for path in cube.values())
    assert "bbl" in cube["readme"].read_text()


def test_geotiff_grid_bands_and_metadata(cube):
    centres = band_centres_nm(10.0)
    assert centres[0] == 400 and centres[-1] == 2500 and centres.size == 211
    with rasterio.open(cube["cube_tif"]) as src:
        assert (src.width, src.height, src.count) == (SIZE, SIZE, centres.size)
        assert src.crs.to_epsg() == 32654
        assert src.transform == rasterio.Affine(
            PIXEL_M, 0, CUBE_ORIGIN_M[0], 0, -PIXEL_M, CUBE_ORIGIN_M[1]
        )
        assert src.dtypes[0] == "float32" and src.nodata == FLOAT_NODATA
        assert src.profile["tiled"]
        wavelengths = [float(src.tags(b)["wavelength"]) for b in src.indexes]
        assert {src.tags(b)["wavelength_units"] for b in src.indexes} == {"nm"}
        assert src.descriptions[5] == "450 nm"
        left, bottom, right, top = src.bounds
    assert np.array_equal(wavelengths, centres)
    # inside the synthetic world's extent
    assert 440_000 <= left < right <= 460_000 and 4_170_000 <= bottom < top <= 4_190_000


def test_envi_header_and_image_match_the_geotiff(cube):
    fields = _header(cube["cube_hdr"])
    centres = band_centres_nm(10.0)
    assert (fields["samples"], fields["lines"], fields["bands"]) == (str(SIZE), str(SIZE), "211")
    assert fields["header offset"] == "0" and fields["data type"] == "4"
    assert fields["interleave"] == "bsq" and fields["byte order"] == "0"
    assert fields["file type"] == "ENVI Standard"
    assert fields["wavelength units"] == "Nanometers"
    assert float(fields["data ignore value"]) == FLOAT_NODATA
    wavelengths = np.array([float(v) for v in fields["wavelength"].split(",")])
    assert np.array_equal(wavelengths, centres)
    assert {float(v) for v in fields["fwhm"].split(",")} == {10.0}
    bbl = np.array([int(v) for v in fields["bbl"].split(",")])
    assert np.array_equal(bbl == 0, water_vapour_mask(centres))
    assert 10 < (bbl == 0).sum() < 40
    raw = np.fromfile(cube["cube_img"], dtype="<f4").reshape(211, SIZE, SIZE)
    assert np.array_equal(raw, _read(cube["cube_tif"]))
    with rasterio.open(cube["cube_tif"]) as src:
        transform = src.transform
    with rasterio.open(cube["cube_img"]) as src:  # GDAL georeferences it from the header
        assert src.crs.to_epsg() == 32654
        assert src.transform.almost_equals(transform)
        assert src.nodata == FLOAT_NODATA
        assert np.array_equal(src.read(), raw)


def test_nodata_is_the_same_pixels_everywhere(cube):
    data = _read(cube["cube_tif"])
    nodata = data[0] == FLOAT_NODATA
    assert 0 < nodata.sum() < 0.1 * SIZE * SIZE
    assert ((data == FLOAT_NODATA) == nodata[None]).all()
    for name in TRUTH:
        assert np.array_equal(_read(cube[name], 1) == FLOAT_NODATA, nodata)
    valid = data[:, ~nodata]
    assert valid.min() >= 0.0 and valid.max() <= 1.0


def test_truth_in_range_and_spatially_smooth(cube):
    pb, ph, soc = (_read(cube[name], 1) for name in TRUTH)
    valid = pb != FLOAT_NODATA
    assert PB_MODEL.low_mg_kg <= pb[valid].min() and pb[valid].max() <= PB_MODEL.high_mg_kg
    assert PH_MODEL.low <= ph[valid].min() and ph[valid].max() <= PH_MODEL.high
    assert soc[valid].min() > 1 and soc[valid].max() < 400
    assert np.log10(pb[valid]).std() > 0.1
    # neighbours differ much less than random pairs of pixels
    log_soc = np.where(valid, np.log(np.where(valid, soc, 1.0)), np.nan)
    step = np.nanmean(np.abs(np.diff(log_soc, axis=1)))
    spread = np.nanmean(np.abs(log_soc[valid][:, None] - log_soc[valid][None, :]))
    assert step < 0.3 * spread


def test_spectra_carry_the_truth_and_the_water_bands_are_bad(cube):
    data = _read(cube["cube_tif"])
    soc = _read(cube["truth_soc_g_kg"], 1)
    valid = soc != FLOAT_NODATA
    centres = band_centres_nm(10.0)
    red = data[np.flatnonzero(centres == 700)[0]][valid]
    assert np.corrcoef(red, np.log(soc[valid]))[0, 1] < -0.5  # organic matter darkens
    bad = water_vapour_mask(centres)
    mean = data[:, valid].mean(axis=1)
    assert mean[bad].mean() < 0.3 * mean[~bad].mean()
    # noise: the second difference along the spectrum, between bands of the same kind
    roughness = np.abs(np.diff(data[:, valid], n=2, axis=0)).mean(axis=1)
    inside_bad = bad[1:-1] & bad[:-2] & bad[2:]
    inside_good = ~bad[1:-1] & ~bad[:-2] & ~bad[2:]
    assert roughness[inside_bad].mean() > 3 * roughness[inside_good].mean()


def test_same_seed_same_bytes_other_seed_other_cube(cube, tmp_path):
    again = bare_soil_cube(tmp_path / "a", size=SIZE, seed=0)
    for name in ("cube_tif", "cube_img", "cube_hdr", *TRUTH):
        digest = hashlib.sha256(cube[name].read_bytes()).hexdigest()
        assert digest == hashlib.sha256(again[name].read_bytes()).hexdigest(), name
    other = bare_soil_cube(tmp_path / "b", size=SIZE, seed=1)
    assert not np.allclose(_read(cube["truth_pb_mg_kg"], 1), _read(other["truth_pb_mg_kg"], 1))


def test_band_step_sets_bands_and_fwhm(tmp_path):
    paths = bare_soil_cube(tmp_path, size=8, band_step_nm=25.0)
    centres = band_centres_nm(25.0)
    assert centres[-1] == 2500 and np.allclose(np.diff(centres), 25.0)
    with rasterio.open(paths["cube_tif"]) as src:
        assert src.count == centres.size
        assert src.tags(1)["fwhm"] == "25"
    assert _header(paths["cube_hdr"])["bands"] == str(centres.size)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"size": 4}, "size"),
        ({"size": MAX_SIZE_PX + 1}, "size"),
        ({"size": 16.0}, "size"),
        ({"band_step_nm": 0.0}, "band_step_nm"),
        ({"band_step_nm": 500}, "band_step_nm"),
        ({"seed": -2}, "seed"),
    ],
)
def test_bad_arguments_are_refused_before_writing(tmp_path, kwargs, field):
    with pytest.raises(ConfigError, match=field) as caught:
        bare_soil_cube(tmp_path / "out", **kwargs)
    assert caught.value.field == field
    assert caught.value.fix
    assert not (tmp_path / "out").exists()
