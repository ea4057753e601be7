"""Parent material, land cover, NDVI and the mine.

Classes are allocated in turn to the pixels with the highest score among those still free, in
fixed shares of the land (not lake) area, so every world has every class whatever its relief.
``z(v)`` standardises ``v`` over the land; ``G(L)`` is a unit Gaussian random field.

Parent material (codes of :data:`PARENT_MATERIAL`):

- alluvium, 20 %: -P + 0.5 z(TWI) - slope/5 + 0.5 G(1.5 km) (valley floors; P = topographic
  position);
- andesite / volcanic ash, 35 % of the rest: z(elevation) + 1.2 G(8 km) (western uplands);
- limestone, 12 % of the rest: G(2.5 km);
- granite: the remainder.

Land cover (codes of :data:`LANDCOVER`): water is the lake; then

- urban, 5 %: -z(elevation) - slope/3 + 1.5 G(3 km) + 0.8 G(500 m);
- forest, 42 % of the rest: slope/8 + 0.8 z(elevation) + 0.7 G(2 km);
- paddy, 30 % of the rest: z(TWI) + 1.5 [alluvium] - slope/3 + 0.6 G(1 km);
- cropland, 60 % of the rest: -slope/5 + 0.8 G(1.2 km);
- grassland: the remainder.

NDVI = class mean (cropland 0.55, paddy 0.60, grassland 0.65, forest 0.82, urban 0.25,
water 0.03) - 0.0001 x elevation + 0.05 G(500 m), clipped to [0, 1]; a cloud (the top 4 % of
G(1.5 km)) leaves a gap of nodata.

The mine sits on a hillside pixel (slope above the median) in the western half, at least
3 km from the lake, so that its plume, blown east-south-east, stays in the region.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from geosoil.synthetic.fields import by_class, gaussian_random_field
from geosoil.synthetic.streams import substream

__all__ = [
    "LANDCOVER",
    "PARENT_MATERIAL",
    "cloud_mask",
    "landcover_codes",
    "ndvi",
    "parent_material_codes",
    "place_mine",
]

PARENT_MATERIAL: dict[int, str] = {
    1: "granite",
    2: "andesite / volcanic ash",
    3: "limestone",
    4: "alluvium",
}
LANDCOVER: dict[int, str] = {
    1: "cropland",
    2: "paddy",
    3: "grassland",
    4: "forest",
    5: "urban",
    6: "water",
}
_NDVI_BY_CLASS = {1: 0.55, 2: 0.60, 3: 0.65, 4: 0.82, 5: 0.25, 6: 0.03}


def _allocate(score: np.ndarray, free: np.ndarray, share: float) -> np.ndarray:
    """The ``share`` of the ``free`` pixels with the highest ``score``."""
    if not free.any():
        return free.copy()
    threshold = np.quantile(score[free], 1.0 - share)
    return free & (score > threshold)


def _z(values: np.ndarray, land: np.ndarray) -> np.ndarray:
    mean = float(values[land].mean())
    std = max(float(values[land].std()), 1e-6)
    return (values - mean) / std


def _named_fields(
    rng: np.random.Generator, shape: tuple[int, int], pixel_m: float
) -> Callable[[str, float], np.ndarray]:
    """``field(name, corr_m)``: a unit Gaussian random field of correlation length
    ``corr_m`` drawn from the child stream of ``rng`` called ``name``."""

    def field(name: str, corr_m: float) -> np.ndarray:
        stream = substream(rng, name)
        return gaussian_random_field(stream, shape, pixel_m=pixel_m, corr_length_m=corr_m)

    return field


def parent_material_codes(
    rng: np.random.Generator,
    *,
    elevation: np.ndarray,
    slope: np.ndarray,
    twi: np.ndarray,
    position: np.ndarray,
    lake: np.ndarray,
    pixel_m: float,
) -> np.ndarray:
    """Parent material codes (uint8, 0 on the lake)."""
    shape = elevation.shape
    land = ~lake
    field = _named_fields(rng, shape, pixel_m)

    codes = np.zeros(shape, dtype=np.uint8)
    free = land.copy()
    alluvium = -position + 0.5 * _z(twi, land) - slope / 5.0 + 0.5 * field("alluvium", 1500.0)
    for code, score, share in (
        (4, alluvium, 0.20),
        (2, _z(elevation, land) + 1.2 * field("volcanic", 8000.0), 0.35),
        (3, field("limestone", 2500.0), 0.12),
    ):
        chosen = _allocate(score, free, share)
        codes[chosen] = code
        free &= ~chosen
    codes[free] = 1
    return codes


def landcover_codes(
    rng: np.random.Generator,
    *,
    elevation: np.ndarray,
    slope: np.ndarray,
    twi: np.ndarray,
    parent_material: np.ndarray,
    lake: np.ndarray,
    pixel_m: float,
) -> np.ndarray:
    """Land cover codes (uint8); every pixel has a class, the lake is water."""
    shape = elevation.shape
    land = ~lake
    field = _named_fields(rng, shape, pixel_m)

    elevation_z = _z(elevation, land)
    codes = np.full(shape, 6, dtype=np.uint8)
    free = land.copy()
    urban = -elevation_z - slope / 3.0 + 1.5 * field("town", 3000.0) + 0.8 * field("village", 500.0)
    forest = slope / 8.0 + 0.8 * elevation_z + 0.7 * field("forest", 2000.0)
    paddy = (
        _z(twi, land) + 1.5 * (parent_material == 4) - slope / 3.0 + 0.6 * field("paddy", 1000.0)
    )
    cropland = -slope / 5.0 + 0.8 * field("cropland", 1200.0)
    for code, score, share in (
        (5, urban, 0.05),
        (4, forest, 0.42),
        (2, paddy, 0.30),
        (1, cropland, 0.60),
    ):
        chosen = _allocate(score, free, share)
        codes[chosen] = code
        free &= ~chosen
    codes[free] = 3
    return codes


def cloud_mask(rng: np.random.Generator, shape: tuple[int, int], pixel_m: float) -> np.ndarray:
    """Pixels hidden by cloud in the NDVI scene (about 4 % of the region)."""
    cloud = gaussian_random_field(rng, shape, pixel_m=pixel_m, corr_length_m=1500.0)
    return cloud > np.quantile(cloud, 0.96)


def ndvi(
    rng: np.random.Generator, landcover: np.ndarray, elevation: np.ndarray, pixel_m: float
) -> np.ndarray:
    """NDVI (float32, 0..1) of a cloud-free scene; the cloud gap is applied by the caller."""
    base = by_class(landcover, _NDVI_BY_CLASS)
    noise = gaussian_random_field(rng, landcover.shape, pixel_m=pixel_m, corr_length_m=500.0)
    return np.clip(base - 1e-4 * elevation + 0.05 * noise, 0.0, 1.0).astype(np.float32)


def place_mine(
    rng: np.random.Generator,
    *,
    slope: np.ndarray,
    lake: np.ndarray,
    pixel_m: float,
) -> tuple[int, int]:
    """(row, col) of the mine: hillside, western half, 3 km or more from the lake."""
    rows, cols = slope.shape
    row_index = np.arange(rows)[:, None]
    col_index = np.arange(cols)[None, :]
    window = (
        (row_index >= 0.25 * rows)
        & (row_index < 0.75 * rows)
        & (col_index >= 0.2 * cols)
        & (col_index < 0.5 * cols)
    )
    lake_rows, lake_cols = np.nonzero(lake)
    far_from_lake = np.ones(slope.shape, dtype=bool)
    if lake_rows.size:
        centre_row, centre_col = lake_rows.mean(), lake_cols.mean()
        lake_radius_px = np.sqrt(lake_rows.size / np.pi)
        distance_px = np.hypot(row_index - centre_row, col_index - centre_col)
        far_from_lake = distance_px > lake_radius_px + 3000.0 / pixel_m
    candidates = window & far_from_lake & ~lake & (slope > np.median(slope))
    if not candidates.any():
        candidates = window & ~lake
    row, col = divmod(int(rng.choice(np.flatnonzero(candidates))), cols)
    return row, col
