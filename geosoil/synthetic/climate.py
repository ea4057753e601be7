"""Climate covariates: mean annual temperature and precipitation.

MAT (degC) = 13.8 - 0.006 x elevation (m) - 0.01 x km north of y = 4 190 000 m + 0.35 G(12 km)
(a 6 K/km lapse rate and a weak latitudinal gradient).

MAP (mm) = 1100 + 0.5 x elevation (m) + 90 G(10 km) (orographic enhancement).

G(L) is a unit Gaussian random field of correlation length L.
"""

from __future__ import annotations

import numpy as np

from geosoil.synthetic.fields import gaussian_random_field
from geosoil.synthetic.streams import substream

__all__ = ["map_mm", "mat_degc"]

_LAPSE_K_PER_M = 0.006
_REFERENCE_NORTHING_M = 4_190_000.0


def mat_degc(
    rng: np.random.Generator, elevation: np.ndarray, northing_m: np.ndarray, pixel_m: float
) -> np.ndarray:
    """Mean annual air temperature in degC (float32); ``northing_m`` holds row-centre y."""
    noise = gaussian_random_field(
        substream(rng, "mat"), elevation.shape, pixel_m=pixel_m, corr_length_m=12_000.0
    )
    north_km = (northing_m[:, None] - _REFERENCE_NORTHING_M) / 1000.0
    values = 13.8 - _LAPSE_K_PER_M * elevation - 0.01 * north_km + 0.35 * noise
    return values.astype(np.float32)


def map_mm(rng: np.random.Generator, elevation: np.ndarray, pixel_m: float) -> np.ndarray:
    """Mean annual precipitation in mm (float32)."""
    noise = gaussian_random_field(
        substream(rng, "map"), elevation.shape, pixel_m=pixel_m, corr_length_m=10_000.0
    )
    return (1100.0 + 0.5 * elevation + 90.0 * noise).astype(np.float32)
