"""Terrain: elevation, slope and a topographic wetness index, and the lake that fills a hollow.

Elevation (m) = 60 + 80 softplus((z - q15(z)) / 80), with
z = 12 m/km x distance from the east edge (km) + 180 G(5 km) + 120 G(1.2 km) + 35 G(350 m),
where G(L) is a unit Gaussian random field of correlation length L. The softplus flattens
everything below the 15 % quantile into plains and basins, as in a valley-filled landscape.

Slope (degrees) = atan(|grad z|) from central differences of elevation.

TWI is the proxy ln(a / tan b), where b is the slope and a (m, specific catchment area) is
estimated from topographic position instead of flow routing:
a = 50 m x exp(-1.5 P), clipped to [5, 1e5] m, with P the mean over the scales
150, 600 and 2400 m of the standardised topographic position index (elevation minus its
Gaussian-smoothed mean); tan b is floored at 0.001 so flat ground stays finite. Valleys
(P < 0) collect water and get high TWI, ridges low TWI.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from geosoil.synthetic.fields import gaussian_random_field, gaussian_smooth
from geosoil.synthetic.streams import substream

__all__ = [
    "carve_lake",
    "elevation_m",
    "slope_deg",
    "topographic_position",
    "twi_from_terrain",
]

_TPI_SCALES_M = (150.0, 600.0, 2400.0)
_BOWL_DEPTH_M = 30.0


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def elevation_m(rng: np.random.Generator, shape: tuple[int, int], pixel_m: float) -> np.ndarray:
    """Elevation in metres (float32) rising westwards towards volcanic uplands."""
    cols = shape[1]
    east_km = (cols - np.arange(cols, dtype=np.float32) - 0.5) * (pixel_m / 1000.0)
    raw = 12.0 * east_km[None, :]
    for name, amplitude_m, corr_m in (
        ("regional", 180.0, 5000.0),
        ("hills", 120.0, 1200.0),
        ("ridges", 35.0, 350.0),
    ):
        field = gaussian_random_field(
            substream(rng, name), shape, pixel_m=pixel_m, corr_length_m=corr_m
        )
        raw = raw + amplitude_m * field
    floor = np.quantile(raw, 0.15)
    return (60.0 + 80.0 * _softplus((raw - floor) / 80.0)).astype(np.float32)


def carve_lake(
    rng: np.random.Generator, elevation: np.ndarray, pixel_m: float
) -> tuple[np.ndarray, np.ndarray]:
    """Flood a hollow in a low part of the region; return (lake mask, elevation with water).

    An elliptic bowl (radius 5 % of the region's smaller side, 600 m to 2.5 km, aspect 1.6,
    random orientation, 30 m deep at the centre, parabolic) is dug around a pixel among the
    lowest fifth away from the edges, then filled with water up to its spill point (the
    lowest pixel of its rim): the lake is the connected part below that level holding the
    lowest point, with a flat surface. The shore follows the terrain, without cliffs.
    """
    rows, cols = elevation.shape
    radius_m = float(np.clip(0.05 * min(rows, cols) * pixel_m, 600.0, 2500.0))
    margin = int(np.ceil(2.0 * radius_m / pixel_m))
    interior = np.zeros(elevation.shape, dtype=bool)
    interior[margin : rows - margin, margin : cols - margin] = True
    low = elevation <= np.quantile(elevation[interior], 0.2)
    centre = int(rng.choice(np.flatnonzero(interior & low)))
    centre_row, centre_col = divmod(centre, cols)
    angle = rng.uniform(0.0, np.pi)
    dy = (np.arange(rows, dtype=np.float32)[:, None] - centre_row) * pixel_m
    dx = (np.arange(cols, dtype=np.float32)[None, :] - centre_col) * pixel_m
    along = dx * np.cos(angle) + dy * np.sin(angle)
    across = -dx * np.sin(angle) + dy * np.cos(angle)
    distance = np.hypot(along / (1.6 * radius_m), across / radius_m)
    basin = distance < 1.0
    bowl = np.where(basin, _BOWL_DEPTH_M * (1.0 - distance**2), 0.0)
    ground = (elevation - bowl).astype(np.float32)
    rim = ndimage.binary_dilation(basin) & ~basin
    # Filling to the lowest rim pixel (the spill point) keeps the water inside the bowl.
    level = ground[rim].min()
    flooded, _ = ndimage.label(basin & (ground <= level))
    lowest = np.unravel_index(np.argmin(np.where(basin, ground, np.inf)), ground.shape)
    lake = flooded == flooded[lowest]
    ground[lake] = level
    return lake, ground


def slope_deg(elevation: np.ndarray, pixel_m: float) -> np.ndarray:
    """Slope in degrees (float32) from the elevation gradient."""
    d_row, d_col = np.gradient(elevation.astype(np.float64), pixel_m)
    return np.degrees(np.arctan(np.hypot(d_row, d_col))).astype(np.float32)


def topographic_position(elevation: np.ndarray, pixel_m: float) -> np.ndarray:
    """Mean standardised topographic position index over 150, 600 and 2400 m (float32)."""
    position = np.zeros(elevation.shape, dtype=np.float32)
    for sigma_m in _TPI_SCALES_M:
        tpi = elevation - gaussian_smooth(elevation, sigma_m=sigma_m, pixel_m=pixel_m)
        position += tpi / max(float(tpi.std()), 1e-6)
    return position / len(_TPI_SCALES_M)


def twi_from_terrain(slope: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Topographic wetness index ln(a / tan b) with the position-based catchment proxy."""
    catchment_m = np.clip(50.0 * np.exp(-1.5 * position), 5.0, 1e5)
    tan_slope = np.maximum(np.tan(np.radians(slope)), 1e-3)
    return np.log(catchment_m / tan_slope).astype(np.float32)
