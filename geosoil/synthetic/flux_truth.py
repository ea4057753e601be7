"""The truth functions of the synthetic flux towers: parameters from attributes and climate.

:func:`true_parameters` gives the eight land-surface parameters as declared smooth
functions of site attributes (latitude, elevation, sand fraction, IGBP class) and of the
forcing summaries (:data:`~geosoil.io.flux.SUMMARY_NAMES`) of a site's whole record, each
led by a different driver (:data:`TRUTH_DRIVERS`), strictly inside the bounds of
:data:`~geosoil.process.lsm_params.LSM_PARAMETERS` for any input. :data:`TRUTH_FUNCTIONS`
writes each one out; :data:`IGBP_TRAITS` holds what an IGBP class sets in them.

Used by :mod:`geosoil.synthetic.flux_sites` (towers), which re-exports these names, and
:mod:`geosoil.synthetic.flux_rasters` (maps).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from geosoil.errors import SampleDataError
from geosoil.io.flux import SUMMARY_NAMES
from geosoil.process.lsm_params import LSM_PARAMETER_NAMES

__all__ = [
    "IGBP_CLASSES",
    "IGBP_TRAITS",
    "TRUTH_DRIVERS",
    "TRUTH_FUNCTIONS",
    "IgbpTraits",
    "true_parameters",
]


@dataclass(frozen=True)
class IgbpTraits:
    """What an IGBP class sets in the truth functions (and its share of drawn sites)."""

    albedo: float  # albedo at low latitude, before the snow-and-sun-angle term
    g_peak_mm_s: float  # conductance scale, reached in saturated air
    roughness_m: float  # momentum roughness length
    weight: float  # relative frequency among the synthetic sites


IGBP_TRAITS: dict[str, IgbpTraits] = {
    "ENF": IgbpTraits(0.08, 12.0, 1.2, 1.0),
    "DBF": IgbpTraits(0.13, 20.0, 1.0, 1.0),
    "MF": IgbpTraits(0.11, 16.0, 1.1, 0.6),
    "OSH": IgbpTraits(0.20, 7.0, 0.12, 0.6),
    "SAV": IgbpTraits(0.18, 10.0, 0.35, 0.6),
    "GRA": IgbpTraits(0.19, 18.0, 0.04, 1.2),
    "WET": IgbpTraits(0.10, 22.0, 0.08, 0.5),
    "CRO": IgbpTraits(0.16, 26.0, 0.07, 1.2),
}
IGBP_CLASSES: tuple[str, ...] = tuple(IGBP_TRAITS)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _potential_evaporation_mm_day(sw_in_mean_w_m2: np.ndarray) -> np.ndarray:
    # ~ radiation-limited evaporation: 0.025 mm day-1 per W m-2 of mean shortwave
    return 0.025 * np.maximum(sw_in_mean_w_m2, 0.0)


def _dryness(summaries: Mapping[str, np.ndarray]) -> np.ndarray:
    pet = _potential_evaporation_mm_day(summaries["sw_in_mean_w_m2"])
    precip = np.maximum(summaries["precip_mm_day"], 0.0)
    return pet / np.maximum(pet + precip, 1e-9)


def _by_class(igbp: np.ndarray, trait: str) -> np.ndarray:
    return np.array([getattr(IGBP_TRAITS[code], trait) for code in igbp], dtype=np.float64)


# Each function of the drivers named in TRUTH_DRIVERS; a different leading driver per
# parameter keeps them identifiable from attributes and summaries.
_TRUTH = {
    "albedo": lambda a, s: (
        _by_class(a["igbp"], "albedo") + 0.10 * _sigmoid((np.abs(a["latitude_deg"]) - 45.0) / 6.0)
    ),
    "g_max_mm_s": lambda a, s: (
        1.5 + _by_class(a["igbp"], "g_peak_mm_s") / (1.0 + np.maximum(s["vpd_mean_kpa"], 0) / 1.2)
    ),
    "light_half_w_m2": lambda a, s: 40.0 + 400.0 * _sigmoid((s["sw_in_mean_w_m2"] - 210.0) / 35.0),
    "vpd_half_kpa": lambda a, s: 0.45 + 4.1 * _sigmoid((_dryness(s) - 0.6) / 0.1),
    "soil_water_max_mm": lambda a, s: (
        30.0 + 540.0 * np.clip(1.0 - a["sand_fraction"], 0.0, 1.0) ** 1.2
    ),
    "stress_onset_fraction": lambda a, s: 0.2 + 0.55 * _sigmoid((s["tair_mean_c"] - 15.0) / 4.0),
    "roughness_length_m": lambda a, s: _by_class(a["igbp"], "roughness_m"),
    "ground_heat_fraction": lambda a, s: (
        0.03 + 0.27 * (1.0 - np.exp(-np.maximum(a["elevation_m"], 0.0) / 1000.0))
    ),
}

TRUTH_DRIVERS: dict[str, tuple[str, ...]] = {
    "albedo": ("igbp", "latitude_deg"),
    "g_max_mm_s": ("igbp", "vpd_mean_kpa"),
    "light_half_w_m2": ("sw_in_mean_w_m2",),
    "vpd_half_kpa": ("precip_mm_day", "sw_in_mean_w_m2"),
    "soil_water_max_mm": ("sand_fraction",),
    "stress_onset_fraction": ("tair_mean_c",),
    "roughness_length_m": ("igbp",),
    "ground_heat_fraction": ("elevation_m",),
}


def _class_table(trait: str) -> str:
    return ", ".join(f"{code} {getattr(t, trait):g}" for code, t in IGBP_TRAITS.items())


TRUTH_FUNCTIONS: dict[str, str] = {
    "albedo": "base(igbp) + 0.10 s((|latitude_deg| - 45) / 6), where s(x) = 1 / (1 + exp(-x)); "
    f"base: {_class_table('albedo')}",
    "g_max_mm_s": "1.5 + g_peak(igbp) / (1 + vpd_mean_kpa / 1.2) (drier air, lower "
    f"conductance); g_peak (mm/s): {_class_table('g_peak_mm_s')}",
    "light_half_w_m2": "40 + 400 s((sw_in_mean_w_m2 - 210) / 35) (sunnier sites saturate later)",
    "vpd_half_kpa": "0.45 + 4.1 s((dryness - 0.6) / 0.1), dryness = PET / (PET + precip_mm_day), "
    "PET = 0.025 sw_in_mean_w_m2 mm/day (dry-climate plants tolerate drier air)",
    "soil_water_max_mm": "30 + 540 (1 - sand_fraction)^1.2 (finer soils store more water)",
    "stress_onset_fraction": "0.2 + 0.55 s((tair_mean_c - 15) / 4) (warm sites stress earlier)",
    "roughness_length_m": f"roughness(igbp) (m): {_class_table('roughness_m')}",
    "ground_heat_fraction": "0.03 + 0.27 (1 - exp(-elevation_m / 1000)) (sparser cover higher up)",
}


def true_parameters(attributes: Mapping[str, Any], summaries: Mapping[str, Any]) -> np.ndarray:
    """The true physical land-surface parameters from attributes and forcing summaries.

    Parameters
    ----------
    attributes
        Arrays (or scalars) ``latitude_deg``, ``elevation_m``, ``sand_fraction`` and ``igbp``
        (codes of :data:`IGBP_CLASSES`), broadcastable to one shape.
    summaries
        Forcing summaries (:data:`SUMMARY_NAMES`) of the same sites or pixels.

    Returns
    -------
    numpy.ndarray
        float64 of shape ``(*shape, 8)``, last axis in ``LSM_PARAMETER_NAMES`` order; every
        value lies strictly inside its bounds (see :data:`TRUTH_FUNCTIONS`).

    Raises
    ------
    SampleDataError
        A needed attribute or summary is missing, or an IGBP code has no traits.
    """
    needed = ("latitude_deg", "elevation_m", "sand_fraction", "igbp")
    checks = ((attributes, needed, "attributes"), (summaries, SUMMARY_NAMES, "summaries"))
    for source, names, what in checks:
        missing = [name for name in names if name not in source]
        if missing:
            raise SampleDataError(
                f"{what} lack {', '.join(missing)}, needed by the truth functions",
                field=f"{what}.{missing[0]}",
                fix=f"pass {', '.join(names)}",
            )
    numeric = {k: np.asarray(attributes[k], dtype=np.float64) for k in needed[:3]}
    values = {k: np.asarray(summaries[k], dtype=np.float64) for k in SUMMARY_NAMES}
    shape = np.broadcast_shapes(
        *(v.shape for v in numeric.values()),
        *(v.shape for v in values.values()),
        np.shape(attributes["igbp"]),
    )
    igbp = np.broadcast_to(np.asarray(attributes["igbp"], dtype=object), shape).ravel()
    unknown = sorted({str(code) for code in igbp} - set(IGBP_TRAITS))
    if unknown:
        raise SampleDataError(
            f"IGBP classes {unknown} have no synthetic traits",
            field="attributes.igbp",
            fix=f"use one of {', '.join(IGBP_CLASSES)}",
        )
    flat_a = {k: np.broadcast_to(v, shape).ravel() for k, v in numeric.items()} | {"igbp": igbp}
    flat_s = {k: np.broadcast_to(v, shape).ravel() for k, v in values.items()}
    out = np.stack([_TRUTH[name](flat_a, flat_s) for name in LSM_PARAMETER_NAMES], axis=-1)
    return out.reshape(*shape, len(LSM_PARAMETER_NAMES))
