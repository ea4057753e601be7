"""The ``cube:`` section of a map config: a hyperspectral image read by spectral models."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from geosoil.config.base import StrictModel

__all__ = ["CUBE_CHUNK", "DEFAULT_BAD_BANDS_NM", "DEFAULT_MAX_GAP_NM", "CubeConfig"]

# The atmospheric water-vapour absorption windows, where airborne and spaceborne reflectance
# is noise: dropped unless the config says otherwise.
DEFAULT_BAD_BANDS_NM: tuple[tuple[float, float], ...] = ((1340.0, 1460.0), (1790.0, 1960.0))

# Wider than the band spacing of current imaging spectrometers (AVIRIS-NG 5 nm, EnMAP and
# PRISMA up to 12 nm, HyMap up to 20 nm), so only bands dropped as bad open a gap this wide,
# while one dropped band between two 10 nm neighbours (20 nm) is still bridged.
DEFAULT_MAX_GAP_NM = 25.0

# Block side with a cube: a block holds every good band, 256 x 256 x 200 float32 = 52 MB.
CUBE_CHUNK = 256


class CubeConfig(StrictModel):
    """A hyperspectral image cube, and how its bands are moved onto each model's axis.

    ``resample`` has no default on purpose: moving spectra onto another axis is always
    said, never done behind the user's back (``none`` demands the cube's good bands to be
    exactly the model's axis).
    """

    path: Path = Field(description="the image cube: a multi-band GeoTIFF, one band per wavelength")
    resample: Literal["linear", "none"] = Field(
        description="linear: interpolate the good bands onto each model's axis; "
        "none: the good bands must be the model's axis exactly"
    )
    wavelengths: list[float] | None = Field(
        default=None,
        min_length=2,
        description="band centres in band order; overrides the file's metadata",
    )
    wavelength_unit: Literal["nm", "um"] | None = Field(
        default=None,
        description="unit of cube.wavelengths (nm if null), and of the file's wavelengths "
        "when the file states none",
    )
    bad_bands_nm: list[tuple[float, float]] = Field(
        default_factory=lambda: list(DEFAULT_BAD_BANDS_NM),
        description="wavelength ranges (nm, inclusive) of bands never read; [] keeps all",
    )
    max_gap_nm: float = Field(
        default=DEFAULT_MAX_GAP_NM,
        gt=0,
        description="widest span between good bands that a model band may be interpolated in",
    )
    fill_gaps: bool = Field(
        default=False,
        description="interpolate linearly across wider gaps: the model then sees a straight "
        "line where the cube has no usable data",
    )
    scale: float = Field(
        default=1.0, gt=0, description="multiplier to reflectance, e.g. 0.0001 for integers"
    )
    nodata: float | None = Field(default=None, description="overrides the file's nodata")
    quantity: Literal["reflectance", "absorbance"] = Field(
        default="reflectance", description="what the cube's values are (after scale)"
    )
    convert_quantity: bool = Field(
        default=False,
        description="convert to the quantity a spectral model was trained on, instead of "
        "refusing the cube",
    )

    @field_validator("bad_bands_nm")
    @classmethod
    def _ranges_ordered(cls, value: list[tuple[float, float]]) -> list[tuple[float, float]]:
        for low, high in value:
            if not low < high:
                raise ValueError(f"range [{low:g}, {high:g}] is empty; write [low, high]")
        return value
