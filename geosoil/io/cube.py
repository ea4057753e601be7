"""Hyperspectral image cubes: where each band sits on the wavelength axis, and which are bad.

A cube is any multi-band raster GDAL opens (GeoTIFF, ENVI, ...). Its wavelengths come from,
in this order:

1. the caller (``cube.wavelengths`` in a map config);
2. per-band metadata items ``wavelength`` and ``wavelength_units`` (what GDAL's ENVI driver
   exposes, and what many GeoTIFF writers store);
3. GDAL's ``IMAGERY`` domain, ``CENTRAL_WAVELENGTH_UM`` (GDAL >= 3.10; rounded to 1 nm);
4. an ENVI header beside the file (``wavelength = {...}``, ``wavelength units``).

The ENVI header, when there is one, also gives the bad band list (``bbl``) and
``data ignore value``. It is parsed here, not by GDAL, so that ``bbl`` is read whatever the
GDAL version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import RasterioIOError

from geosoil.errors import CubeError, InputFileNotFoundError
from geosoil.spectra.axis import SpectralAxis

__all__ = [
    "CubeAxis",
    "CubeError",
    "envi_header_path",
    "nm_per_unit",
    "read_cube_axis",
    "read_envi_header",
]

WAVELENGTH_FIX = (
    "add per-band metadata items 'wavelength' and 'wavelength_units' to the raster, put an "
    "ENVI header (.hdr with 'wavelength = {...}') beside it, or list the band centres in "
    "cube.wavelengths (with cube.wavelength_unit)"
)

# Unit names as written by ENVI, GDAL and common GeoTIFF writers -> nanometres per unit.
_NM_PER_UNIT = {
    "nm": 1.0,
    "nanometer": 1.0,
    "nanometers": 1.0,
    "nanometre": 1.0,
    "nanometres": 1.0,
    "um": 1000.0,
    "\u00b5m": 1000.0,  # micro sign
    "\u03bcm": 1000.0,  # Greek mu
    "micron": 1000.0,
    "microns": 1000.0,
    "micrometer": 1000.0,
    "micrometers": 1000.0,
    "micrometre": 1000.0,
    "micrometres": 1000.0,
}
# ENVI writes these when the unit is not known.
_NO_UNIT = {"", "unknown", "index", "none"}


@dataclass(frozen=True, eq=False)
class CubeAxis:
    """The wavelength of every band of a cube.

    Parameters
    ----------
    path
        The cube's raster file.
    axis
        Band centres in nm, ascending.
    band_indexes
        1-based GDAL band of each position of ``axis`` (bands may be stored in any order).
    bad
        Per position of ``axis``: marked bad in the ENVI header's ``bbl``.
    nodata
        The raster's nodata value, else the ENVI header's ``data ignore value``, else None.
    source
        Where the wavelengths came from (for messages and logs).
    """

    path: Path
    axis: SpectralAxis
    band_indexes: np.ndarray
    bad: np.ndarray
    nodata: float | None
    source: str

    def __len__(self) -> int:
        return len(self.axis)


def nm_per_unit(unit: str | None) -> float | None:
    """Nanometres per ``unit`` (``nm``, ``Nanometers``, ``um``, ``µm``, ``microns``, ...).

    Returns None for a missing or unknown-as-written unit (``Unknown``); raises nothing, so
    callers decide which field to blame.
    """
    if unit is None:
        return None
    key = unit.strip().lower()
    return _NM_PER_UNIT.get(key)


def envi_header_path(path: str | Path) -> Path | None:
    """The ENVI header beside ``path`` (``x.hdr`` or ``x.img.hdr``, any case), if any."""
    path = Path(path)
    for candidate in (
        path.with_suffix(".hdr"),
        path.with_suffix(".HDR"),
        path.with_name(path.name + ".hdr"),
        path.with_name(path.name + ".HDR"),
    ):
        if candidate != path and candidate.is_file():
            return candidate
    return None


def read_envi_header(path: str | Path) -> dict[str, str | list[str]]:
    """Parse an ENVI header into ``{key: value}``.

    Keys are lower case with single spaces (``wavelength units``); a value in braces, which
    may span lines, becomes a list of its comma-separated items (stripped), any other value
    a stripped string. Lines starting with ``;`` are comments.

    Raises
    ------
    CubeError
        A brace is never closed, or a line is not ``key = value``.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.splitlines()
    if lines and lines[0].strip().upper() == "ENVI":
        lines = lines[1:]
    header: dict[str, str | list[str]] = {}
    pending: tuple[str, list[str], int] | None = None  # key, pieces, line number
    for number, line in enumerate(lines, start=2):
        if pending is not None:
            key, pieces, _ = pending
            pieces.append(line)
            if "}" in line:
                header[key] = _brace_items(" ".join(pieces))
                pending = None
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith(";"):
            continue
        key, sep, value = stripped.partition("=")
        if not sep:
            raise CubeError(
                f"ENVI header line {number} is not 'key = value': {stripped[:60]!r}",
                path=path,
                field="ENVI header",
                fix="repair the header (every entry is 'key = value', lists in braces)",
            )
        key = re.sub(r"\s+", " ", key.strip().lower())
        value = value.strip()
        if value.startswith("{") and "}" not in value:
            pending = (key, [value], number)
        elif value.startswith("{"):
            header[key] = _brace_items(value)
        else:
            header[key] = value
    if pending is not None:
        raise CubeError(
            f"ENVI header entry '{pending[0]}' opens a brace on line {pending[2]} that is "
            "never closed",
            path=path,
            field=f"ENVI header.{pending[0]}",
            fix="close the list with '}'",
        )
    return header


def _brace_items(value: str) -> list[str]:
    inner = value[value.index("{") + 1 : value.rindex("}")]
    return [item.strip() for item in inner.split(",") if item.strip()]


def read_cube_axis(
    path: str | Path,
    *,
    wavelengths: list[float] | None = None,
    wavelength_unit: str | None = None,
) -> CubeAxis:
    """Where each band of a cube lies on the wavelength axis (nm), and which are bad.

    Parameters
    ----------
    path
        The cube (any GDAL raster; an ENVI ``.img`` with its ``.hdr`` beside it).
    wavelengths
        Band centres, one per band in band order; overrides the file's metadata.
    wavelength_unit
        Unit of ``wavelengths`` (``nm`` by default), and of the file's wavelengths when the
        file states none.

    Raises
    ------
    InputFileNotFoundError
        No file at ``path``.
    CubeError
        Unreadable file, no wavelengths anywhere, unknown units, a count that differs from
        the bands, or two bands at the same wavelength.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileNotFoundError(
            "image cube not found", path=path, field="cube.path", fix="check cube.path"
        )
    header_path = envi_header_path(path)
    header = read_envi_header(header_path) if header_path is not None else {}
    try:
        with rasterio.open(path) as dataset:
            count = dataset.count
            nodata = dataset.nodata
            found = _wavelengths_from_dataset(dataset, path, wavelength_unit)
    except RasterioIOError as err:
        raise CubeError(
            f"image cube cannot be read ({err})",
            path=path,
            field="cube.path",
            fix="check that the file is a complete raster GDAL can open",
        ) from err

    if wavelengths is not None:
        values_nm, source = _from_config(wavelengths, wavelength_unit, count, path), "config"
    elif found is not None:
        values_nm, source = found
    elif "wavelength" in header:
        values_nm = _from_header(header, header_path, wavelength_unit, count)
        source = f"ENVI header {header_path.name}"
    else:
        raise CubeError(
            f"the cube's {count} bands have no wavelengths (no band metadata, no IMAGERY "
            "domain, no ENVI header)",
            path=path,
            field="cube.wavelengths",
            fix=WAVELENGTH_FIX,
        )
    bad_in_band_order = _bad_band_list(header, header_path, count)
    if nodata is None and "data ignore value" in header:
        nodata = _number(header["data ignore value"], header_path, "data ignore value")

    _refuse_duplicates(values_nm, path, source)
    order = np.argsort(values_nm, kind="stable")
    axis = SpectralAxis.from_values(values_nm[order], "nm", source=path, field="cube.wavelengths")
    return CubeAxis(
        path=path,
        axis=axis,
        band_indexes=(order + 1).astype(np.int64),
        bad=bad_in_band_order[order],
        nodata=None if nodata is None else float(nodata),
        source=source,
    )


def _wavelengths_from_dataset(
    dataset: rasterio.DatasetReader, path: Path, assumed_unit: str | None
) -> tuple[np.ndarray, str] | None:
    """Wavelengths (nm, band order) from band metadata or the IMAGERY domain, if complete."""
    items = [dataset.tags(band) for band in range(1, dataset.count + 1)]
    if all("wavelength" in tags for tags in items):
        values = np.empty(dataset.count)
        for band, tags in enumerate(items, start=1):
            unit = tags.get("wavelength_units") or dataset.tags().get("wavelength_units")
            factor = _factor(unit, assumed_unit, path, f"band {band} wavelength_units")
            values[band - 1] = _number(tags["wavelength"], path, f"band {band} wavelength") * factor
        return values, "band metadata"
    imagery = [
        dataset.tags(band, ns="IMAGERY").get("CENTRAL_WAVELENGTH_UM")
        for band in range(1, dataset.count + 1)
    ]
    if all(value is not None for value in imagery):
        values = np.array(
            [_number(value, path, "IMAGERY CENTRAL_WAVELENGTH_UM") for value in imagery]
        )
        return values * 1000.0, "IMAGERY domain"
    return None


def _factor(unit: str | None, assumed: str | None, path: Path | None, field: str) -> float:
    factor = nm_per_unit(unit)
    if factor is not None:
        return factor
    if unit is not None and unit.strip().lower() not in _NO_UNIT:
        raise CubeError(
            f"wavelength unit {unit!r} is not known",
            path=path,
            field=field,
            fix="use nanometers (nm) or micrometers (um) in the file, or give the band "
            "centres in cube.wavelengths",
        )
    factor = nm_per_unit(assumed)
    if factor is None:
        raise CubeError(
            "the cube's wavelengths have no unit",
            path=path,
            field="cube.wavelength_unit",
            fix="set cube.wavelength_unit (nm or um) to say which unit the file's wavelengths "
            "are in",
        )
    return factor


def _from_config(values, unit: str | None, count: int, path: Path) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.size != count:
        raise CubeError(
            f"cube.wavelengths lists {array.size} positions but the cube has {count} bands",
            path=path,
            field="cube.wavelengths",
            fix="give one band centre per band, in band order",
        )
    factor = nm_per_unit(unit or "nm")
    if factor is None:
        raise CubeError(
            f"cube.wavelength_unit {unit!r} is not known",
            path=path,
            field="cube.wavelength_unit",
            fix="use nm or um",
        )
    return array * factor


def _per_band(
    header: dict, key: str, header_path: Path | None, count: int, *, message: str, fix: str
) -> np.ndarray:
    """The header's list ``key`` as numbers, one per band; else a CubeError whose
    ``message`` has ``{n}`` (the list's length) and ``{count}`` (the bands') filled in."""
    items = header[key]
    if not isinstance(items, list) or len(items) != count:
        n = len(items) if isinstance(items, list) else 1
        raise CubeError(
            message.format(n=n, count=count),
            path=header_path,
            field=f"ENVI header.{key}",
            fix=fix,
        )
    return np.array([_number(v, header_path, key) for v in items])


def _from_header(header: dict, header_path: Path, assumed_unit: str | None, count: int):
    values = _per_band(
        header,
        "wavelength",
        header_path,
        count,
        message="the ENVI header lists {n} wavelengths for {count} bands",
        fix="list one wavelength per band in braces, or set cube.wavelengths",
    )
    unit = header.get("wavelength units")
    factor = _factor(
        unit if isinstance(unit, str) else None,
        assumed_unit,
        header_path,
        "ENVI header.wavelength units",
    )
    return values * factor


def _bad_band_list(header: dict, header_path: Path | None, count: int) -> np.ndarray:
    """Per band (band order): True where the header's ``bbl`` marks it bad (0)."""
    if header.get("bbl") is None:
        return np.zeros(count, dtype=bool)
    flags = _per_band(
        header,
        "bbl",
        header_path,
        count,
        message="the ENVI header's bad band list has {n} entries for {count} bands",
        fix="list one 0 (bad) or 1 (good) per band, or remove 'bbl'",
    )
    return flags == 0


def _refuse_duplicates(values_nm: np.ndarray, path: Path, source: str) -> None:
    unique, counts = np.unique(values_nm, return_counts=True)
    if (counts > 1).any():
        position = float(unique[counts > 1][0])
        bands = (np.flatnonzero(values_nm == position) + 1).tolist()
        raise CubeError(
            f"bands {bands} have the same wavelength {position:g} nm ({source})",
            path=path,
            field="cube.wavelengths",
            fix="correct the wavelengths, or give them in cube.wavelengths",
        )
    bad = ~np.isfinite(values_nm)
    if bad.any():
        raise CubeError(
            f"band {int(np.flatnonzero(bad)[0]) + 1} has a non-finite wavelength ({source})",
            path=path,
            field="cube.wavelengths",
            fix="correct the wavelengths, or give them in cube.wavelengths",
        )


def _number(value, path: Path | None, field: str) -> float:
    try:
        return float(str(value).strip())
    except ValueError as err:
        raise CubeError(
            f"{field} {value!r} is not a number",
            path=path,
            field=field,
            fix="correct the metadata, or give the band centres in cube.wavelengths",
        ) from err
