"""Soil covariates: clay and sand content and bulk density of the topsoil.

With ``pm`` the parent material, ``lc`` the land cover, ``G(L)`` a unit Gaussian random field
and ``z`` the standardisation over land:

- clay (%) = clay0[pm] + 6 G(2 km) + 2.5 z(TWI) - 0.15 slope, clipped to [3, 70];
  clay0 = granite 14, andesite 22, limestone 35, alluvium 26;
- sand (%) = sand0[pm] - 0.5 (clay - clay0[pm]) + 8 G(2.5 km) + 0.25 slope, clipped to
  [2, 92]; sand0 = granite 58, andesite 38, limestone 18, alluvium 32; where clay + sand > 95
  both are scaled down so that they sum to 95 (silt keeps at least 5 %);
- bulk density (g/cm3) = bd0[pm] + bd_lc[lc] + 0.003 (sand - 40) + 0.05 G(1 km), clipped to
  [0.5, 1.8]; bd0 = granite 1.32, andesite 0.78 (allophanic ash), limestone 1.22,
  alluvium 1.18; bd_lc = forest -0.10, cropland +0.05, paddy +0.08 (plough pan), urban +0.20.
"""

from __future__ import annotations

import numpy as np

from geosoil.synthetic.fields import by_class, gaussian_random_field
from geosoil.synthetic.streams import substream

__all__ = ["bulk_density_g_cm3", "clay_sand_pct"]

_CLAY0 = {1: 14.0, 2: 22.0, 3: 35.0, 4: 26.0}
_SAND0 = {1: 58.0, 2: 38.0, 3: 18.0, 4: 32.0}
_BD0 = {1: 1.32, 2: 0.78, 3: 1.22, 4: 1.18}
_BD_LANDCOVER = {1: 0.05, 2: 0.08, 4: -0.10, 5: 0.20}
_MAX_CLAY_PLUS_SAND_PCT = 95.0


def clay_sand_pct(
    rng: np.random.Generator,
    *,
    parent_material: np.ndarray,
    twi: np.ndarray,
    slope: np.ndarray,
    land: np.ndarray,
    pixel_m: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Clay and sand content in % (float32), defined everywhere; the caller masks the lake."""
    shape = parent_material.shape
    clay0 = by_class(parent_material, _CLAY0)
    twi_z = (twi - twi[land].mean()) / max(float(twi[land].std()), 1e-6)
    clay_noise = gaussian_random_field(
        substream(rng, "clay"), shape, pixel_m=pixel_m, corr_length_m=2000.0
    )
    clay = np.clip(clay0 + 6.0 * clay_noise + 2.5 * twi_z - 0.15 * slope, 3.0, 70.0)
    sand_noise = gaussian_random_field(
        substream(rng, "sand"), shape, pixel_m=pixel_m, corr_length_m=2500.0
    )
    sand = by_class(parent_material, _SAND0) - 0.5 * (clay - clay0) + 8.0 * sand_noise
    sand = np.clip(sand + 0.25 * slope, 2.0, 92.0)
    total = clay + sand
    scale = np.where(total > _MAX_CLAY_PLUS_SAND_PCT, _MAX_CLAY_PLUS_SAND_PCT / total, 1.0)
    return (clay * scale).astype(np.float32), (sand * scale).astype(np.float32)


def bulk_density_g_cm3(
    rng: np.random.Generator,
    *,
    parent_material: np.ndarray,
    landcover: np.ndarray,
    sand_pct: np.ndarray,
    pixel_m: float,
) -> np.ndarray:
    """Topsoil bulk density in g/cm3 (float32)."""
    noise = gaussian_random_field(rng, parent_material.shape, pixel_m=pixel_m, corr_length_m=1000.0)
    values = (
        by_class(parent_material, _BD0)
        + by_class(landcover, _BD_LANDCOVER)
        + 0.003 * (sand_pct - 40.0)
        + 0.05 * noise
    )
    return np.clip(values, 0.5, 1.8).astype(np.float32)
