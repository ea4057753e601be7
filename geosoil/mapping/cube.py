"""Spectral models over a hyperspectral image cube: which bands to read, and onto which axis.

A :class:`CubeSource` is the cube of a map run reduced to its good bands: bands marked bad in
the ENVI header and bands inside ``bad_bands_nm`` are never read. A
:class:`SpectralResampling` moves the good bands of each pixel onto one model's axis, built
once per job and checked before anything is written: same unit, no extrapolation, no model
band inside a wide gap of dropped bands unless the config asks to bridge it.

The cube is read directly on the map grid's pixel lattice, never warped: a warp would read
every band (GDAL warps all bands of a block together, bad ones included) and mix the spectra
of neighbouring pixels behind the user's back. A cube on another lattice is refused with the
fix (map on the cube's grid, or warp the cube once with ``gdalwarp``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import rasterio
from rasterio.warp import transform_bounds

from geosoil.errors import MissingCRSError
from geosoil.geo.grid import Grid
from geosoil.io.cube import CubeError, read_cube_axis
from geosoil.mapping.stack import lattice_offset
from geosoil.spectra.axis import SpectralAxis
from geosoil.spectra.resample import interpolation_weights

__all__ = ["CubeSource", "SpectralResampling", "find_gaps"]

log = logging.getLogger(__name__)

# Band positions this close (nm) count as the same band for ``resample: none``.
_SAME_BAND_NM = 1e-6


@dataclass(frozen=True, eq=False)
class CubeSource:
    """The good bands of a cube and how to read them.

    Parameters
    ----------
    path
        The cube's raster file.
    band_indexes
        1-based GDAL bands read, in ascending wavelength.
    axis
        Their wavelengths (nm, ascending).
    nodata
        Raw value of missing pixels (the config's override, else the file's), or None.
    scale
        Multiplier from stored values to reflectance.
    resample, max_gap_nm, fill_gaps
        How bands are moved onto a model's axis (see :class:`SpectralResampling`).
    settings
        The cube config as JSON, part of the job's fingerprint.
    """

    path: Path
    band_indexes: tuple[int, ...]
    axis: SpectralAxis
    nodata: float | None
    scale: float
    resample: Literal["linear", "none"]
    max_gap_nm: float
    fill_gaps: bool
    settings: dict

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        resample: str,
        bad_bands_nm: Sequence[tuple[float, float]],
        max_gap_nm: float,
        wavelengths: Sequence[float] | None = None,
        wavelength_unit: str | None = None,
        fill_gaps: bool = False,
        scale: float = 1.0,
        nodata: float | None = None,
        quantity: str = "reflectance",
        convert_quantity: bool = False,
    ) -> CubeSource:
        """Read the cube's axis and drop its bad bands (nothing but metadata is read).

        The arguments are the fields of the map config's ``cube:`` section
        (:class:`geosoil.config.cube.CubeConfig`), which the workflow validates and passes.

        Raises
        ------
        CubeError
            No wavelengths, no CRS, or fewer than two good bands.
        """
        path = Path(path)
        settings = {
            "path": str(path),
            "resample": resample,
            "wavelengths": None if wavelengths is None else [float(w) for w in wavelengths],
            "wavelength_unit": wavelength_unit,
            "bad_bands_nm": [[float(low), float(high)] for low, high in bad_bands_nm],
            "max_gap_nm": float(max_gap_nm),
            "fill_gaps": bool(fill_gaps),
            "scale": float(scale),
            "nodata": None if nodata is None else float(nodata),
            "quantity": quantity,
            "convert_quantity": bool(convert_quantity),
        }
        cube = read_cube_axis(path, wavelengths=wavelengths, wavelength_unit=wavelength_unit)
        with rasterio.open(path) as dataset:
            if dataset.crs is None:
                raise MissingCRSError(
                    "the image cube has no CRS",
                    path=path,
                    field="cube.path",
                    fix="assign one (e.g. `rio edit-info --crs EPSG:32654 FILE`, or 'map info' "
                    "in the ENVI header)",
                )
        values = cube.axis.values
        in_ranges = np.zeros(len(values), dtype=bool)
        for low, high in bad_bands_nm:
            in_ranges |= (values >= low) & (values <= high)
        good = ~(cube.bad | in_ranges)
        if good.sum() < 2:
            raise CubeError(
                f"only {int(good.sum())} of the cube's {len(values)} bands are good "
                f"({int(cube.bad.sum())} in the header's bad band list, {int(in_ranges.sum())} "
                "inside cube.bad_bands_nm)",
                path=path,
                field="cube.bad_bands_nm",
                fix="narrow cube.bad_bands_nm (an empty list keeps every band)",
            )
        log.info(
            "cube %s: %d bands (wavelengths from %s), %d dropped as bad",
            path.name,
            len(values),
            cube.source,
            int((~good).sum()),
        )
        return cls(
            path=path,
            band_indexes=tuple(int(i) for i in cube.band_indexes[good]),
            axis=SpectralAxis.from_values(values[good], "nm", source=path),
            nodata=nodata if nodata is not None else cube.nodata,
            scale=scale,
            resample=resample,
            max_gap_nm=max_gap_nm,
            fill_gaps=fill_gaps,
            settings=settings,
        )

    @property
    def names(self) -> list[str]:
        """Names of the good bands as rows of a stack (never a valid covariate name)."""
        return [f"cube:{index}" for index in self.band_indexes]

    def fingerprint_record(self) -> dict:
        """What decides the values read: file identity and settings."""
        stat = self.path.stat()
        return {
            "path": str(self.path),
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "settings": self.settings,
        }

    def check_grid(self, grid: Grid) -> None:
        """Refuse a grid the cube cannot be read onto directly (another lattice, no overlap).

        Raises
        ------
        CubeError
            With the fix: map on the cube's grid, or warp the cube once.
        """
        with rasterio.open(self.path) as dataset:
            offset = lattice_offset(dataset, grid)
            if offset is None:
                raise CubeError(
                    f"the cube ({dataset.crs.to_string()}, {dataset.res[0]:g} x "
                    f"{dataset.res[1]:g} pixels) is not on the map grid's pixel lattice "
                    f"({grid.crs}, {grid.resolution[0]:g} x {grid.resolution[1]:g}); cubes are "
                    "read directly, never warped",
                    path=self.path,
                    field="grid",
                    fix="map on the cube's grid (drop the grid section or set grid.reference: "
                    "cube), or warp the cube onto the grid once with gdalwarp",
                )
            left, bottom, right, top = transform_bounds(dataset.crs, grid.rio_crs, *dataset.bounds)
        g_left, g_bottom, g_right, g_top = grid.bounds
        if left >= g_right or right <= g_left or bottom >= g_top or top <= g_bottom:
            raise CubeError(
                "the cube does not overlap the map grid",
                path=self.path,
                field="grid",
                fix="check the grid's extent (or the AOI) against the cube's",
            )


def find_gaps(axis: SpectralAxis, max_gap_nm: float) -> list[tuple[float, float]]:
    """Spans between neighbouring bands of ``axis`` wider than ``max_gap_nm``."""
    values = np.sort(axis.values)
    wide = np.flatnonzero(np.diff(values) > max_gap_nm)
    return [(float(values[i]), float(values[i + 1])) for i in wide]


@dataclass(frozen=True, eq=False)
class SpectralResampling:
    """Pixels on a cube's good bands -> spectra on one model's axis.

    Linear interpolation, each model band from its two neighbouring good bands; with
    ``resample: none``, a reordering of the good bands. :attr:`matrix` shows it as a
    (model bands x good bands) matrix; :meth:`apply` computes the same two-term sums
    elementwise rather than by a BLAS product, whose rounding depends on how many rows a
    call gets, so a pixel's value would depend on the block it is read in.

    Build it with :meth:`build`, which refuses what cannot be done faithfully.
    """

    source: SpectralAxis
    target: SpectralAxis
    left: np.ndarray
    right: np.ndarray
    weight: np.ndarray | None  # float32; None: ``left`` is a plain reordering
    input_names: tuple[str, ...]
    # Absorbance <-> reflectance after the resampling: the model's quantity, or None.
    convert_to: str | None = None

    @classmethod
    def build(
        cls,
        cube: CubeSource,
        target: SpectralAxis,
        *,
        model_path: Path | None = None,
        used: np.ndarray | None = None,
    ):
        """The resampling from ``cube``'s good bands onto a model's ``target`` axis.

        ``used`` marks the model bands whose values can matter (see
        :meth:`~geosoil.spectra.SpectralPipeline.used_input_bands`); the others (e.g. the
        water-vapour windows a model drops first) need no cube data and take the nearest
        good band's value, which the model's first steps discard.

        Raises
        ------
        CubeError
            Units differ; ``resample: none`` with another axis; the model's axis reaches
            outside the good bands; a model band lies in a gap wider than ``max_gap_nm``
            (unless ``fill_gaps``).
        """
        source = cube.axis
        if target.unit != source.unit:
            raise CubeError(
                f"the model's spectral axis is in {target.unit} ({target.describe()}) but an "
                f"image cube's is in {source.unit}",
                path=model_path,
                field="models.path",
                fix="use a model trained on vis-NIR reflectance on a wavelength axis (nm)",
            )
        names = tuple(cube.names)
        if cube.resample == "none":
            if len(target) == len(source) and np.all(
                np.abs(np.sort(target.values) - source.values) <= _SAME_BAND_NM
            ):
                index = np.searchsorted(source.values, target.values - _SAME_BAND_NM)
                return cls(source, target, index, index, None, names)
            raise CubeError(
                f"cube.resample is 'none' but the cube's good bands ({source.describe()}) are "
                f"not the model's axis ({target.describe()})",
                path=cube.path,
                field="cube.resample",
                fix="set cube.resample: linear to interpolate the cube's bands onto the "
                "model's axis",
            )
        used = np.ones(len(target), dtype=bool) if used is None else np.asarray(used, bool)
        needed = target.values[used]
        if needed.min() < source.lo or needed.max() > source.hi:
            raise CubeError(
                f"the model's axis ({needed.min():g}-{needed.max():g} nm) reaches outside the "
                "cube's "
                f"good bands ({source.lo:g}-{source.hi:g} nm); spectra are never extrapolated",
                path=model_path,
                field="models.path",
                fix=f"use a model trained on spectra trimmed to {source.lo:g}-{source.hi:g} nm "
                "(trim the training spectra before fitting), or narrow cube.bad_bands_nm if "
                "bad bands at the ends are the cause",
            )
        _refuse_gaps(cube, needed, model_path)
        left = np.abs(source.values[None, :] - target.values[:, None]).argmin(axis=1)
        right = left.copy()
        weight = np.zeros(len(target), dtype=np.float32)
        if used.all():
            left, right, weight = interpolation_weights(source, target, field="cube")
        else:
            part = SpectralAxis.from_values(needed, target.unit)
            left[used], right[used], weight[used] = interpolation_weights(
                source, part, field="cube"
            )
        return cls(source, target, left, right, weight.astype(np.float32), names)

    @property
    def matrix(self) -> np.ndarray:
        """float64 (model bands, good bands): ``pixels @ matrix.T`` equals :meth:`apply`."""
        rows = np.arange(len(self.target))
        matrix = np.zeros((len(self.target), len(self.source)))
        if self.weight is None:
            matrix[rows, self.left] = 1.0
            return matrix
        weight = self.weight.astype(np.float64)
        np.add.at(matrix, (rows, self.left), 1.0 - weight)
        np.add.at(matrix, (rows, self.right), weight)
        return matrix

    def apply(self, pixels: np.ndarray) -> np.ndarray:
        """float32 (N, model bands) from float32 ``pixels`` (N, good bands)."""
        out = self._resample(pixels)
        if self.convert_to is None:
            return out
        from geosoil.trust.spectral_domain import match_quantity

        other = "reflectance" if self.convert_to == "absorbance" else "absorbance"
        return match_quantity(out, data=other, model=self.convert_to, convert=True)

    def _resample(self, pixels: np.ndarray) -> np.ndarray:
        if self.weight is None:
            if np.array_equal(self.left, np.arange(pixels.shape[1])):
                return pixels
            return np.take(pixels, self.left, axis=1)
        out = np.take(pixels, self.left, axis=1)
        out *= 1.0 - self.weight
        right = np.take(pixels, self.right, axis=1)
        right *= self.weight
        out += right
        return out


def _refuse_gaps(cube: CubeSource, needed: np.ndarray, model_path: Path | None) -> None:
    """Refuse model bands (those ``needed``) inside gaps of the cube's good bands."""
    gaps = find_gaps(cube.axis, cube.max_gap_nm)
    inside = [(low, high, int(((needed > low) & (needed < high)).sum())) for low, high in gaps]
    inside = [gap for gap in inside if gap[2]]
    if not inside:
        return
    listed = ", ".join(f"{low:g}-{high:g} nm ({n} model bands)" for low, high, n in inside)
    if cube.fill_gaps:
        log.warning("cube.fill_gaps: model bands interpolated across %s", listed)
        return
    raise CubeError(
        f"model bands fall inside gaps of the cube wider than {cube.max_gap_nm:g} nm "
        f"(cube.max_gap_nm) between good bands: {listed}",
        path=model_path,
        field="cube.bad_bands_nm",
        fix="narrow cube.bad_bands_nm if those bands are usable; or set cube.fill_gaps: true "
        "to interpolate linearly across the gaps (the model then sees straight lines where "
        "the cube has no usable data, and its predictions lean on invented values); or use a "
        "model trained without those wavelengths",
    )
