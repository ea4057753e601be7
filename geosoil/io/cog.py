"""Cloud-Optimized GeoTIFF output (DESIGN 4.5).

Blocks are written to a tiled GeoTIFF beside the target, which GDAL's COG driver then copies
into the final layout (512 tiles, ZSTD with the floating-point predictor, internal overviews)
under a temporary name renamed into place when complete.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil

from geosoil.mapping.grid import Grid

__all__ = ["COG_BLOCK_SIZE", "BandStatistics", "block_writer", "convert_to_cog"]

COG_BLOCK_SIZE = 512
# ZSTD level 1: as small as GDAL's default level 9 on these floats and ~1.5x faster to write.
_COMPRESSION = {"compress": "ZSTD", "zstd_level": 1}


@contextmanager
def block_writer(
    path: Path,
    grid: Grid,
    *,
    dtype: str,
    nodata: float,
    descriptions: Sequence[str],
    units: Sequence[str],
    tags: dict[str, str] | None = None,
) -> Iterator[rasterio.io.DatasetWriter]:
    """A tiled GeoTIFF on ``grid`` to write blocks into; metadata is set up front."""
    profile = {
        "driver": "GTiff",
        "crs": grid.rio_crs,
        "transform": grid.transform,
        "width": grid.width,
        "height": grid.height,
        "count": len(descriptions),
        "dtype": dtype,
        "nodata": nodata,
        "tiled": True,
        "blockxsize": COG_BLOCK_SIZE,
        "blockysize": COG_BLOCK_SIZE,
        "predictor": 3 if np.dtype(dtype).kind == "f" else 2,
        "bigtiff": "IF_SAFER",
        **_COMPRESSION,
    }
    with rasterio.open(path, "w", **profile) as dataset:
        for index, (description, unit) in enumerate(zip(descriptions, units, strict=True), 1):
            dataset.set_band_description(index, description)
            dataset.set_band_unit(index, unit)
        if tags:
            dataset.update_tags(**tags)
        yield dataset


def convert_to_cog(source: Path, target: Path, *, overview_resampling: str = "average") -> Path:
    """Copy a GeoTIFF into COG layout at ``target``, atomically."""
    tmp = target.with_name(f".{target.name}.partial")
    try:
        rasterio.shutil.copy(
            source,
            tmp,
            driver="COG",
            blocksize=COG_BLOCK_SIZE,
            compress="ZSTD",
            level=1,
            predictor="YES",
            overview_resampling=overview_resampling.upper(),
            bigtiff="IF_SAFER",
        )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


class BandStatistics:
    """Running min, max, mean and standard deviation of the valid pixels of a band."""

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.total_sq = 0.0
        self.minimum = np.inf
        self.maximum = -np.inf

    def update(self, values: np.ndarray) -> None:
        valid = values[np.isfinite(values)].astype(np.float64)
        if valid.size:
            self.count += valid.size
            self.total += float(valid.sum())
            self.total_sq += float(np.square(valid).sum())
            self.minimum = min(self.minimum, float(valid.min()))
            self.maximum = max(self.maximum, float(valid.max()))

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else float("nan")

    @property
    def std(self) -> float:
        if not self.count:
            return float("nan")
        return max(self.total_sq / self.count - self.mean**2, 0.0) ** 0.5

    def display_range(self) -> tuple[float, float]:
        """Mean +- 2 sd clipped to the data range: a stretch that outliers do not wash out."""
        return (
            max(self.minimum, self.mean - 2 * self.std),
            min(self.maximum, self.mean + 2 * self.std),
        )

    def as_gdal_tags(self, n_pixels: int) -> dict[str, str]:
        """GDAL's ``STATISTICS_*`` band tags, which QGIS uses for its default stretch."""
        if not self.count:
            return {}
        return {
            "STATISTICS_MINIMUM": repr(self.minimum),
            "STATISTICS_MAXIMUM": repr(self.maximum),
            "STATISTICS_MEAN": repr(self.mean),
            "STATISTICS_STDDEV": repr(self.std),
            "STATISTICS_VALID_PERCENT": repr(100.0 * self.count / n_pixels),
        }
