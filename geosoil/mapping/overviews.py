"""COG overview levels computed from the engine's blocks, the way GDAL computes them.

GDAL's COG driver makes ``levels`` overviews, halving the size each time (rounding down)
until both sides fit one tile, and computes each level from the one before: the mean of the
valid pixels of each 2 x 2 group for continuous layers ("average", nodata skipped), the
upper-left pixel for class layers ("nearest"). Where a level's source has even sides the
groups are exactly 2 x 2, and a block whose corner lies on a multiple of ``2**k`` holds
whole groups of every level up to ``k``: its levels are computed while it is in memory, and
equal GDAL's bit for bit (the mean is taken in float64, as GDAL does).

A level whose source has an odd side is not a 2 x 2 reduction (GDAL spreads the shortfall
over the whole row as fractional weights), so those levels, and the ones after them, are
left to GDAL: :class:`OverviewPlan` says how many levels come from the blocks, and the store
has GDAL compute the rest from the last of them (see
:meth:`~geosoil.mapping.store.BlockStore.overview_sources`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["OverviewPlan", "cog_overview_count", "downsample", "pyramid"]

# A block's level chunk is not made smaller than this side (pixels): deeper levels are
# small, and GDAL computes them from the last block level instead of writing many tiny files.
MIN_BLOCK_LEVEL_SIDE = 64


def cog_overview_count(shape: tuple[int, int], tile: int) -> int:
    """How many overviews GDAL's COG driver makes for a raster of ``shape`` (rows, cols)."""
    height, width = shape
    count = 0
    while (height >> count) > tile or (width >> count) > tile:
        count += 1
    return count


def _twos(n: int) -> int:
    """How many times ``n`` halves exactly (the 2-adic valuation; large for 0)."""
    return (n & -n).bit_length() - 1 if n else 64


@dataclass(frozen=True)
class OverviewPlan:
    """The overview levels of one grid and chunk.

    Parameters
    ----------
    shape
        The grid's (rows, cols).
    levels
        GDAL's COG overview count for this shape.
    from_blocks
        Levels 1..``from_blocks`` are computed from each block; the rest from the last of
        them once every block is done. 0 when the grid's sides are odd: GDAL computes all.
    """

    shape: tuple[int, int]
    levels: int
    from_blocks: int

    @classmethod
    def build(
        cls,
        shape: tuple[int, int],
        chunk: int,
        *,
        tile: int,
        min_side: int = MIN_BLOCK_LEVEL_SIDE,
    ) -> OverviewPlan:
        """The plan for a grid of ``shape`` filled in blocks of side ``chunk``.

        Any chunk is accepted: one that halves fewer times leaves more levels to the end,
        with the same values.
        """
        levels = cog_overview_count(shape, tile)
        exact = min(_twos(shape[0]), _twos(shape[1]), _twos(chunk), levels)
        while exact and (chunk >> exact) < min_side:
            exact -= 1
        return cls(tuple(shape), levels, exact)

    def level_shape(self, level: int) -> tuple[int, int]:
        """(rows, cols) of overview ``level`` (1 = half the grid's size)."""
        return (max(1, self.shape[0] >> level), max(1, self.shape[1] >> level))


def downsample(values: np.ndarray, *, nodata: float | int, resampling: str) -> np.ndarray:
    """Halve a 2-D array: the mean of each 2 x 2 group's valid pixels, or its upper-left pixel.

    ``values`` must have even sides (an exact level); the result keeps the dtype and
    ``nodata`` where a group has no valid pixel.
    """
    if resampling == "nearest":
        return values[::2, ::2].copy()
    rows, cols = values.shape
    groups = values.reshape(rows // 2, 2, cols // 2, 2)
    total = np.zeros((rows // 2, cols // 2))
    count = np.zeros((rows // 2, cols // 2), np.uint8)
    zero = values.dtype.type(0)
    for i in (0, 1):  # GDAL's order: row by row, summed in float64
        for j in (0, 1):
            part = groups[:, i, :, j]
            valid = part != nodata
            total += np.where(valid, part, zero)
            count += valid
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
    mean[count == 0] = nodata
    return mean.astype(values.dtype)


def pyramid(
    values: np.ndarray, levels: int, *, nodata: float | int, resampling: str
) -> list[np.ndarray]:
    """Levels 1..``levels`` of ``values``, each computed from the one before (as GDAL does)."""
    out = []
    for _ in range(levels):
        values = downsample(values, nodata=nodata, resampling=resampling)
        out.append(values)
    return out
