"""The target grid as an immutable value object, and the blocks it splits into.

Everything on the mapping side is defined against a :class:`Grid`; block grids are derived
from it (never hand-built affines), so a block and its window always agree.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from geosoil.errors import ConfigError, InputFileNotFoundError, MissingCRSError

__all__ = ["DEFAULT_CHUNK_PX", "Block", "Grid"]

# Block side of a map run in pixels (and the Zarr chunk side): every default reads this one.
DEFAULT_CHUNK_PX = 1024


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid: CRS, affine transform and shape in pixels.

    Parameters
    ----------
    crs
        CRS as a string rasterio understands (``EPSG:32654``, WKT).
    transform
        Affine from pixel (col, row) to CRS coordinates of the pixel's upper-left corner.
    width, height
        Size in pixels.
    """

    crs: str
    transform: Affine
    width: int
    height: int

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"grid shape must be positive, got {self.height}x{self.width}")
        if self.transform.b != 0 or self.transform.d != 0:
            raise ValueError("only north-up grids (no rotation) are supported")

    # ------------------------------------------------------------- constructors
    @classmethod
    def from_raster(cls, path: str | Path) -> Grid:
        """The grid of an existing raster."""
        path = Path(path)
        if not path.exists():
            raise InputFileNotFoundError(
                "grid reference raster not found", path=path, field="grid.reference"
            )
        with rasterio.open(path) as dataset:
            if dataset.crs is None:
                raise MissingCRSError(
                    "grid reference raster has no CRS",
                    path=path,
                    field="grid.reference",
                    fix="assign a CRS to the raster or define the grid by crs/resolution/bounds",
                )
            return cls(dataset.crs.to_string(), dataset.transform, dataset.width, dataset.height)

    @classmethod
    def from_bounds(
        cls, crs: str, bounds: tuple[float, float, float, float], resolution: float
    ) -> Grid:
        """A grid covering ``bounds`` (left, bottom, right, top) with square pixels."""
        left, bottom, right, top = bounds
        if right <= left or top <= bottom:
            raise ConfigError(
                f"bounds {bounds} are empty", field="grid.bounds", fix="use left<right, bottom<top"
            )
        try:
            CRS.from_user_input(crs)
        except Exception as err:
            raise ConfigError(f"unknown CRS {crs!r}", field="grid.crs") from err
        width = math.ceil((right - left) / resolution - 1e-9)
        height = math.ceil((top - bottom) / resolution - 1e-9)
        transform = Affine(resolution, 0.0, left, 0.0, -resolution, top)
        return cls(crs, transform, width, height)

    # --------------------------------------------------------------- properties
    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width

    @property
    def resolution(self) -> tuple[float, float]:
        return abs(self.transform.a), abs(self.transform.e)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        left, top = self.transform @ (0, 0)
        right, bottom = self.transform @ (self.width, self.height)
        return min(left, right), min(top, bottom), max(left, right), max(top, bottom)

    @property
    def rio_crs(self) -> CRS:
        return CRS.from_user_input(self.crs)

    def coords(self) -> tuple[np.ndarray, np.ndarray]:
        """Pixel-centre coordinates (x of every column, y of every row)."""
        x = self.transform.c + (np.arange(self.width) + 0.5) * self.transform.a
        y = self.transform.f + (np.arange(self.height) + 0.5) * self.transform.e
        return x, y

    # ------------------------------------------------------------------- blocks
    def window_grid(self, window: Window) -> Grid:
        """The sub-grid covered by a pixel window of this grid."""
        return Grid(
            self.crs,
            self.transform @ Affine.translation(window.col_off, window.row_off),
            int(window.width),
            int(window.height),
        )

    def crop(self, bounds: tuple[float, float, float, float]) -> Grid | None:
        """The part of this grid covering ``bounds``, on the same pixel lattice.

        Pixels partly inside are kept. Returns None when the bounds miss the grid.
        """
        left, bottom, right, top = bounds
        inverse = ~self.transform
        cols, rows = zip(
            *(inverse @ corner for corner in ((left, top), (right, bottom))), strict=True
        )
        col_start = max(math.floor(min(cols) + 1e-9), 0)
        col_stop = min(math.ceil(max(cols) - 1e-9), self.width)
        row_start = max(math.floor(min(rows) + 1e-9), 0)
        row_stop = min(math.ceil(max(rows) - 1e-9), self.height)
        if col_stop <= col_start or row_stop <= row_start:
            return None
        return self.window_grid(
            Window(col_start, row_start, col_stop - col_start, row_stop - row_start)
        )

    def blocks(self, block_size: int | tuple[int, int]) -> Iterator[Block]:
        """Split into blocks of ``block_size`` pixels (rows, cols); edge blocks are smaller."""
        rows, cols = (block_size, block_size) if isinstance(block_size, int) else block_size
        if rows <= 0 or cols <= 0:
            raise ValueError(f"block size must be positive, got {block_size}")
        for block_row, row_off in enumerate(range(0, self.height, rows)):
            for block_col, col_off in enumerate(range(0, self.width, cols)):
                window = Window(
                    col_off,
                    row_off,
                    min(cols, self.width - col_off),
                    min(rows, self.height - row_off),
                )
                yield Block(
                    window=window, grid=self.window_grid(window), index=(block_row, block_col)
                )


@dataclass(frozen=True)
class Block:
    """One block of a grid: where it sits (window), what it covers (grid), its (row, col)."""

    window: Window
    grid: Grid
    index: tuple[int, int] = (0, 0)
