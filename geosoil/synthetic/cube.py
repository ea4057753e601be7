"""A synthetic airborne hyperspectral cube of bare soil in the Pb district, with known truth.

The cube covers ``size`` x ``size`` pixels of 10 m in the smelting district of
:mod:`geosoil.synthetic.visnir_library` (EPSG:32654, upper-left corner at
:data:`CUBE_ORIGIN_M`, inside the synthetic world's extent). Every latent of the district's
composition (:data:`~geosoil.synthetic.visnir_library.LATENTS`), the unexplained part of pH
and the Pb deposition are Gaussian random fields (correlation length
:data:`CORRELATION_M`, deposition twice as long), standardized over the cube so that its
pixels cover the district's distribution. A pixel's spectrum is
:func:`~geosoil.synthetic.spectra.visnir_reflectance` of its composition on 400-2499 nm
every 1 nm, convolved with Gaussian spectral responses (FWHM = band step) centred every
``band_step_nm`` from 400 to 2500 nm (responses cut by the ends of the 1 nm axis are
renormalized), plus sensor noise N(0, 0.003). In the water-vapour bands (1340-1460 and
1790-1960 nm) the atmosphere lets through about a tenth of the light, so there the signal
is scaled by 0.1 and noise N(0, 0.03) added, as in airborne data. Reflectance is clipped
to 0-1. A rectangle of pixels (a farm yard) is nodata (-9999) in every band and truth map.

Files: ``cube.tif`` (tiled float32 GeoTIFF with per-band ``wavelength`` /
``wavelength_units`` metadata), ``cube.img`` + ``cube.hdr`` (the same as ENVI, band
sequential, with wavelengths, FWHM and a bad-band list), ``truth_pb_mg_kg.tif``,
``truth_ph.tif``, ``truth_soc_g_kg.tif`` (from :func:`~geosoil.synthetic.visnir_library.
pb_truth` and :func:`~geosoil.synthetic.visnir_library.ph_truth`, the functions of the Pb
target set) and ``README.md``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS

from geosoil.errors import ConfigError
from geosoil.synthetic.fields import gaussian_random_field
from geosoil.synthetic.library import check_seed
from geosoil.synthetic.rasters import FLOAT_NODATA, RasterLayer, write_geotiff
from geosoil.synthetic.spectra import VISNIR_AXIS_NM, visnir_reflectance
from geosoil.synthetic.streams import component_rng, substream
from geosoil.synthetic.visnir_library import (
    LATENTS,
    PB_DISTRICT,
    TARGET_CRS,
    composition_from_scores,
    pb_truth,
    ph_truth,
)

__all__ = [
    "CORRELATION_M",
    "CUBE_ORIGIN_M",
    "MAX_SIZE_PX",
    "MIN_SIZE_PX",
    "PIXEL_M",
    "WATER_VAPOUR_NM",
    "band_centres_nm",
    "bare_soil_cube",
    "describe_cube",
    "water_vapour_mask",
]

log = logging.getLogger(__name__)

PIXEL_M = 10.0
CUBE_ORIGIN_M = (448_000.0, 4_182_000.0)
"""(x, y) of the cube's upper-left corner: the largest cube still lies in the world."""
MAX_SIZE_PX = 1000
MIN_SIZE_PX = 8
CORRELATION_M = 150.0
"""Correlation length of the composition fields."""
WATER_VAPOUR_NM = ((1340.0, 1460.0), (1790.0, 1960.0))
"""Atmospheric water-vapour absorption windows (nm): bad bands of airborne data."""

_FIRST_NM, _LAST_NM = 400.0, 2500.0
_SENSOR_NOISE = 0.003
_WATER_TRANSMITTANCE = 0.1
_WATER_NOISE = 0.03
# Pixels per spectral block: bounds the 1 nm float64 spectra held at once to ~70 MB.
_BLOCK_PX = 4096
_TILE_PX = 128
_FWHM_TO_SD = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))


def band_centres_nm(band_step_nm: float) -> np.ndarray:
    """Band centres from 400 to 2500 nm (inclusive when the step divides 2100) every step."""
    count = int(np.floor((_LAST_NM - _FIRST_NM) / band_step_nm + 1e-9)) + 1
    return _FIRST_NM + band_step_nm * np.arange(count)


def water_vapour_mask(centres_nm: np.ndarray) -> np.ndarray:
    """True for band centres inside a water-vapour window."""
    centres_nm = np.asarray(centres_nm, np.float64)
    bad = np.zeros(centres_nm.shape, dtype=bool)
    for low, high in WATER_VAPOUR_NM:
        bad |= (centres_nm >= low) & (centres_nm <= high)
    return bad


def _response_matrix(centres_nm: np.ndarray, fwhm_nm: float) -> np.ndarray:
    """(1 nm bands, sensor bands) Gaussian spectral responses, each summing to one."""
    sd = fwhm_nm * _FWHM_TO_SD
    weights = np.exp(-0.5 * ((VISNIR_AXIS_NM[:, None] - centres_nm[None, :]) / sd) ** 2)
    return weights / weights.sum(axis=0, keepdims=True)


def _check_arguments(size, seed, band_step_nm) -> tuple[int, int, float]:
    if (
        isinstance(size, bool)
        or not isinstance(size, int | np.integer)
        or not MIN_SIZE_PX <= size <= MAX_SIZE_PX
    ):
        raise ConfigError(
            f"size={size!r} is not a whole number of pixels between {MIN_SIZE_PX} and "
            f"{MAX_SIZE_PX}",
            field="size",
            fix="ask for e.g. 64 pixels (a 640 m square)",
        )
    if (
        isinstance(band_step_nm, bool)
        or not isinstance(band_step_nm, int | float | np.number)
        or not 1.0 <= band_step_nm <= 100.0
    ):
        raise ConfigError(
            f"band_step_nm={band_step_nm!r} is not a band spacing between 1 and 100 nm",
            field="band_step_nm",
            fix="use e.g. 10 nm (an airborne imaging spectrometer) or 5 nm",
        )
    return int(size), check_seed(seed), float(band_step_nm)


def _standard_field(rng: np.random.Generator, size: int, corr_length_m: float) -> np.ndarray:
    """A Gaussian random field standardized over the cube (mean 0, sd 1)."""
    field = gaussian_random_field(rng, (size, size), pixel_m=PIXEL_M, corr_length_m=corr_length_m)
    field = field.astype(np.float64)
    return (field - field.mean()) / max(float(field.std()), 1e-12)


def _nodata_mask(size: int) -> np.ndarray:
    """A farm yard: a rectangle of pixels with no soil to see."""
    mask = np.zeros((size, size), dtype=bool)
    rows = slice(size // 8, size // 8 + max(1, size // 8))
    cols = slice(5 * size // 8, 5 * size // 8 + max(1, size // 6))
    mask[rows, cols] = True
    return mask


def _simulate(
    size: int, seed: int, centres_nm: np.ndarray, fwhm_nm: float
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The cube (bands, rows, cols) float32 and truth maps (rows, cols) float32, nodata set."""
    root = component_rng(seed, "bare_soil_cube")
    fields = substream(root, "fields")
    scores = {
        name: _standard_field(substream(fields, name), size, CORRELATION_M).ravel()
        for name in LATENTS
    }
    composition = composition_from_scores(PB_DISTRICT, scores, substream(root, "sample_scale"))
    unexplained = _standard_field(substream(fields, "ph"), size, CORRELATION_M).ravel()
    deposition = _standard_field(substream(fields, "deposition"), size, 2 * CORRELATION_M).ravel()
    truth = {
        "truth_pb_mg_kg": pb_truth(composition, deposition=deposition),
        "truth_ph": ph_truth(composition, unexplained=unexplained),
        "truth_soc_g_kg": 10.0 * composition["soc"],
    }
    response = _response_matrix(centres_nm, fwhm_nm)
    bad = water_vapour_mask(centres_nm)
    n_pixels = size * size
    cube = np.empty((n_pixels, centres_nm.size), dtype=np.float32)
    for index, start in enumerate(range(0, n_pixels, _BLOCK_PX)):
        part = slice(start, min(start + _BLOCK_PX, n_pixels))
        rng = substream(root, f"spectra-{index}")
        fine = visnir_reflectance({k: v[part] for k, v in composition.items()}, rng)
        sensed = fine.astype(np.float64) @ response
        sensed += rng.normal(0.0, _SENSOR_NOISE, sensed.shape)
        water = sensed[:, bad] * _WATER_TRANSMITTANCE
        sensed[:, bad] = water + rng.normal(0.0, _WATER_NOISE, water.shape)
        cube[part] = np.clip(sensed, 0.0, 1.0)
    nodata = _nodata_mask(size).ravel()
    cube[nodata] = FLOAT_NODATA
    maps = {}
    for name, values in truth.items():
        values = values.astype(np.float32)
        values[nodata] = FLOAT_NODATA
        maps[name] = values.reshape(size, size)
    return cube.T.reshape(centres_nm.size, size, size), maps


def _write_cube_geotiff(
    cube: np.ndarray, transform: Affine, centres_nm: np.ndarray, fwhm_nm: float, path: Path
) -> None:
    bands = cube.shape[0]
    profile = {
        "driver": "GTiff",
        "width": cube.shape[2],
        "height": cube.shape[1],
        "count": bands,
        "dtype": "float32",
        "crs": TARGET_CRS,
        "transform": transform,
        "nodata": FLOAT_NODATA,
        "tiled": True,
        "blockxsize": _TILE_PX,
        "blockysize": _TILE_PX,
        "compress": "deflate",
        "predictor": 3,
        "interleave": "pixel",
    }
    bad = water_vapour_mask(centres_nm)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(cube)
        dst.update_tags(quantity="reflectance", sensor="synthetic airborne imaging spectrometer")
        for band, (centre, is_bad) in enumerate(zip(centres_nm, bad, strict=True), start=1):
            dst.set_band_description(band, f"{centre:g} nm")
            dst.update_tags(
                band,
                wavelength=f"{centre:g}",
                wavelength_units="nm",
                fwhm=f"{fwhm_nm:g}",
                bad_band="1" if is_bad else "0",
            )


def _envi_list(values) -> str:
    return "{" + ", ".join(values) + "}"


def _write_envi(
    cube: np.ndarray, transform: Affine, centres_nm: np.ndarray, fwhm_nm: float, stem: Path
) -> tuple[Path, Path]:
    """Write ``stem.img`` (band-sequential little-endian float32) and ``stem.hdr``."""
    bands, lines, samples = cube.shape
    image, header = stem.with_suffix(".img"), stem.with_suffix(".hdr")
    cube.astype("<f4", copy=False).tofile(image)
    left, top = transform.c, transform.f
    # ENVI's map info refers pixel (1, 1), the upper-left corner of the first pixel.
    map_info = (
        f"{{UTM, 1, 1, {left:.3f}, {top:.3f}, {transform.a:g}, {-transform.e:g}, 54, North, "
        "WGS-84, units=Meters}"
    )
    wkt = CRS.from_string(TARGET_CRS).to_wkt(version="WKT1_ESRI")
    good = (~water_vapour_mask(centres_nm)).astype(int)
    lines_out = [
        "ENVI",
        "description = {Synthetic bare-soil reflectance cube (geosoil.synthetic.cube)}",
        f"samples = {samples}",
        f"lines = {lines}",
        f"bands = {bands}",
        "header offset = 0",
        "file type = ENVI Standard",
        "data type = 4",
        "interleave = bsq",
        "byte order = 0",
        f"map info = {map_info}",
        f"coordinate system string = {{{wkt}}}",
        f"data ignore value = {FLOAT_NODATA:g}",
        "wavelength units = Nanometers",
        f"band names = {_envi_list(f'{c:g} nm' for c in centres_nm)}",
        f"wavelength = {_envi_list(f'{c:g}' for c in centres_nm)}",
        f"fwhm = {_envi_list(f'{fwhm_nm:g}' for _ in centres_nm)}",
        f"bbl = {_envi_list(str(g) for g in good)}",
    ]
    header.write_text("\n".join(lines_out) + "\n", encoding="ascii")
    return image, header


def describe_cube(size: int, seed: int, centres_nm: np.ndarray, fwhm_nm: float) -> str:
    """README (Markdown) of a written cube."""
    left, top = CUBE_ORIGIN_M
    bad = water_vapour_mask(centres_nm)
    return "\n".join(
        [
            "# Synthetic bare-soil hyperspectral cube",
            "",
            f"Made by `geosoil.synthetic.cube.bare_soil_cube` (size {size}, seed {seed}; the same",
            "arguments give the same bytes). Bare soil of the Pb district of",
            "`pb_target.parquet`, with known truth.",
            "",
            f"- grid: {size} x {size} pixels of {PIXEL_M:g} m, {TARGET_CRS} (UTM 54N), upper-left",
            f"  corner x={left:.0f} m, y={top:.0f} m;",
            f"- bands: {centres_nm.size}, centres {centres_nm[0]:g}-{centres_nm[-1]:g} nm every "
            f"{centres_nm[1] - centres_nm[0]:g} nm, Gaussian response FWHM {fwhm_nm:g} nm;",
            f"- {int(bad.sum())} water-vapour bands (1340-1460 and 1790-1960 nm) are dark and",
            "  noisy (bad bands: `bbl` 0 in the ENVI header, `bad_band=1` in the GeoTIFF tags);",
            f"- nodata {FLOAT_NODATA:g}: a rectangle of pixels (a farm yard) in every file.",
            "",
            "Files:",
            "",
            "- `cube.tif`: float32 GeoTIFF, reflectance 0-1, tiled; each band has tags",
            "  `wavelength` (nm, as text), `wavelength_units` = `nm`, `fwhm`, `bad_band` and a",
            "  description such as `450 nm`;",
            "- `cube.img` + `cube.hdr`: the same cube as ENVI (band sequential, float32,",
            "  little-endian) with `wavelength`, `fwhm`, `bbl` and `map info`;",
            "- `truth_pb_mg_kg.tif`: Pb in mg/kg (`pb_truth` of the pixel's composition and",
            "  deposition field);",
            "- `truth_ph.tif`: pH in water (`ph_truth`, with its unexplained part);",
            "- `truth_soc_g_kg.tif`: organic carbon in g/kg.",
            "",
            "Composition latents are Gaussian random fields (correlation "
            f"{CORRELATION_M:g} m, deposition",
            f"{2 * CORRELATION_M:g} m), standardized over the cube; spectra follow",
            "`geosoil.synthetic.spectra.visnir_reflectance`, then the spectral response and",
            "sensor noise. See `geosoil.synthetic.cube`.",
            "",
        ]
    )


def bare_soil_cube(
    out_dir: str | Path, *, size: int = 64, seed: int = 0, band_step_nm: float = 10.0
) -> dict[str, Path]:
    """Write a hyperspectral cube of bare soil, its truth maps and a README.

    Parameters
    ----------
    out_dir
        Folder to write into (created if missing; files of the same names are replaced).
    size
        Side of the square cube in 10 m pixels, 8 to :data:`MAX_SIZE_PX`.
    seed
        Same arguments give the same bytes.
    band_step_nm
        Spacing of the band centres (1-100 nm), also the FWHM of their responses.

    Returns
    -------
    dict
        Paths by name: ``cube_tif``, ``cube_img``, ``cube_hdr``, ``truth_pb_mg_kg``,
        ``truth_ph``, ``truth_soc_g_kg``, ``readme``.

    Raises
    ------
    ConfigError
        ``size``, ``seed`` or ``band_step_nm`` out of range (named in ``field``).
    """
    size, seed, band_step_nm = _check_arguments(size, seed, band_step_nm)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    centres = band_centres_nm(band_step_nm)
    transform = Affine(PIXEL_M, 0.0, CUBE_ORIGIN_M[0], 0.0, -PIXEL_M, CUBE_ORIGIN_M[1])
    cube, maps = _simulate(size, seed, centres, band_step_nm)
    written = {"cube_tif": out_dir / "cube.tif"}
    _write_cube_geotiff(cube, transform, centres, band_step_nm, written["cube_tif"])
    written["cube_img"], written["cube_hdr"] = _write_envi(
        cube, transform, centres, band_step_nm, out_dir / "cube"
    )
    units = {"truth_pb_mg_kg": "mg/kg", "truth_ph": "pH", "truth_soc_g_kg": "g/kg"}
    for name, values in maps.items():
        layer = RasterLayer(
            name=name,
            data=values,
            crs=TARGET_CRS,
            transform=transform,
            units=units[name],
            nodata=FLOAT_NODATA,
            description=f"true {name.removeprefix('truth_')} of the bare-soil cube's pixels",
        )
        written[name] = out_dir / f"{name}.tif"
        write_geotiff(layer, written[name])
    written["readme"] = out_dir / "README.md"
    written["readme"].write_text(describe_cube(size, seed, centres, band_step_nm))
    log.info(
        "bare-soil cube (%d x %d px, %d bands) written to %s", size, size, centres.size, out_dir
    )
    return written
