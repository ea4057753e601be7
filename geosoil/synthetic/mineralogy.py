"""Hidden mineralogy of the topsoil: clay minerals, carbonate, iron oxides, mine tailings.

These fields are not delivered as covariates; they drive both the soil properties and the
absorption features of the spectra, which is how spectra carry information on the targets.
``G(L)`` is a unit Gaussian random field, ``z`` standardises over land.

- Clay mineral shares (fractions of the clay, summing to 1) = softmax over kaolinite,
  smectite, illite of logit0[pm] + 0.6 G(3 km) (one field per mineral) + 0.25 (MAT - 11) for
  kaolinite (warm weathering); logit0 = granite (0.3, -0.4, 0.6), andesite (0.8, 0.2, -0.9),
  limestone (-0.4, 0.6, 0.3), alluvium (0.0, 0.3, 0.3).
- Carbonate (% CaCO3) = 10 sigmoid(1.5 G(1.5 km)) on limestone, 0.3 max(G(1.5 km) - 1.5, 0)
  elsewhere.
- Plume (0..1) = exp(-d) around the mine with d = sqrt((u / Lu)**2 + (v / 700 m)**2), u the
  distance downwind (towards azimuth 112.5 degrees, wind from WNW), v across; Lu = 2500 m
  downwind, 800 m upwind.
- Iron oxides (%) fe = fe0[pm] exp(0.25 G(2 km)), fe0 = granite 1.5, andesite 3.5, limestone
  2.5, alluvium 2.0; goethite share = sigmoid(0.8 z(TWI) + 0.004 (MAP - 1300) + 0.5);
  goethite = share x fe + 3 x plume (oxidised sulfide tailings), hematite = (1 - share) x fe.
"""

from __future__ import annotations

import numpy as np

from geosoil.synthetic.fields import by_class, gaussian_random_field
from geosoil.synthetic.streams import substream

__all__ = [
    "CLAY_MINERALS",
    "PLUME_AZIMUTH_DEG",
    "carbonate_pct",
    "clay_mineral_fractions",
    "iron_oxides_pct",
    "plume_shape",
    "tailings_goethite_pct",
]

CLAY_MINERALS = ("kaolinite", "smectite", "illite")
PLUME_AZIMUTH_DEG = 112.5
_LOGIT0 = {
    1: (0.3, -0.4, 0.6),
    2: (0.8, 0.2, -0.9),
    3: (-0.4, 0.6, 0.3),
    4: (0.0, 0.3, 0.3),
}
_FE0_PCT = {1: 1.5, 2: 3.5, 3: 2.5, 4: 2.0}
_DOWNWIND_M, _UPWIND_M, _ACROSS_M = 2500.0, 800.0, 700.0
_TAILINGS_GOETHITE_PCT = 3.0


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _grf(rng: np.random.Generator, name: str, shape, pixel_m: float, corr_m: float):
    return gaussian_random_field(substream(rng, name), shape, pixel_m=pixel_m, corr_length_m=corr_m)


def clay_mineral_fractions(
    rng: np.random.Generator,
    *,
    parent_material: np.ndarray,
    mat_degc: np.ndarray,
    pixel_m: float,
) -> dict[str, np.ndarray]:
    """Kaolinite, smectite and illite fractions of the clay (float32, sum 1)."""
    shape = parent_material.shape
    logits = np.zeros((3, *shape), dtype=np.float32)
    for code, values in _LOGIT0.items():
        logits[:, parent_material == code] = np.asarray(values, dtype=np.float32)[:, None]
    for index, mineral in enumerate(CLAY_MINERALS):
        logits[index] += 0.6 * _grf(rng, mineral, shape, pixel_m, 3000.0)
    logits[0] += 0.25 * (mat_degc - 11.0)
    logits -= logits.max(axis=0)
    weights = np.exp(logits)
    weights /= weights.sum(axis=0)
    return {mineral: weights[i].astype(np.float32) for i, mineral in enumerate(CLAY_MINERALS)}


def carbonate_pct(
    rng: np.random.Generator, *, parent_material: np.ndarray, pixel_m: float
) -> np.ndarray:
    """Calcium carbonate content in % (float32)."""
    field = _grf(rng, "carbonate", parent_material.shape, pixel_m, 1500.0)
    values = np.where(
        parent_material == 3, 10.0 * _sigmoid(1.5 * field), 0.3 * np.maximum(field - 1.5, 0.0)
    )
    return values.astype(np.float32)


def plume_shape(dx_m: np.ndarray, dy_m: np.ndarray) -> np.ndarray:
    """Relative deposition (1 at the mine) for offsets east ``dx_m`` and north ``dy_m``."""
    azimuth = np.radians(PLUME_AZIMUTH_DEG)
    downwind = dx_m * np.sin(azimuth) + dy_m * np.cos(azimuth)
    across = dx_m * np.cos(azimuth) - dy_m * np.sin(azimuth)
    length = np.where(downwind > 0.0, _DOWNWIND_M, _UPWIND_M)
    distance = np.hypot(downwind / length, across / _ACROSS_M)
    return np.exp(-distance).astype(np.float32)


def tailings_goethite_pct(plume: np.ndarray) -> np.ndarray:
    """Goethite (%) from oxidised sulfide tailings blown from the mine."""
    return _TAILINGS_GOETHITE_PCT * plume


def iron_oxides_pct(
    rng: np.random.Generator,
    *,
    parent_material: np.ndarray,
    twi: np.ndarray,
    map_mm: np.ndarray,
    plume: np.ndarray,
    land: np.ndarray,
    pixel_m: float,
) -> tuple[np.ndarray, np.ndarray]:
    """(goethite %, hematite %) as float32."""
    fe0 = by_class(parent_material, _FE0_PCT)
    total = fe0 * np.exp(0.25 * _grf(rng, "iron", parent_material.shape, pixel_m, 2000.0))
    twi_z = (twi - twi[land].mean()) / max(float(twi[land].std()), 1e-6)
    share = _sigmoid(0.8 * twi_z + 0.004 * (map_mm - 1300.0) + 0.5)
    goethite = share * total + tailings_goethite_pct(plume)
    hematite = (1.0 - share) * total
    return goethite.astype(np.float32), hematite.astype(np.float32)
