"""The plant-functional-type parameters of the land surface model, declared as data.

Each parameter has bounds (the Latin-hypercube box of the surrogate and the range a parameter
generator emits into) and a default per IGBP land-cover class (the uncalibrated model that
calibration has to beat). Defaults are round values in the spirit of the PFT tables of
land surface models (albedo from surface climatologies, conductances from Kelliher et al.
1995, roughness as a tenth of a typical canopy height); they are starting points, not truths.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from geosoil.errors import ConfigError
from geosoil.process.parameters import (
    ParameterSpec,
    bounds_of,
    check_within_bounds,
    scale_to_bounds,
    unscale_from_bounds,
)

__all__ = [
    "IGBP_DEFAULTS",
    "IGBP_RASTER_CODES",
    "LSM_PARAMETERS",
    "LSM_PARAMETER_NAMES",
    "N_LSM_PARAMETERS",
    "check_lsm_parameters",
    "default_parameters",
    "lsm_parameter_bounds",
    "scale_lsm_parameters",
    "unscale_lsm_parameters",
]


# The land-surface table uses the same declaration as every process model.

LSM_PARAMETERS: tuple[ParameterSpec, ...] = (
    ParameterSpec("albedo", "1", 0.05, 0.35, "shortwave albedo of the surface"),
    ParameterSpec("g_max_mm_s", "mm/s", 1.0, 30.0, "maximum canopy conductance"),
    ParameterSpec(
        "light_half_w_m2", "W/m2", 20.0, 500.0, "shortwave at which light halves conductance"
    ),
    ParameterSpec("vpd_half_kpa", "kPa", 0.3, 5.0, "VPD at which conductance halves"),
    ParameterSpec("soil_water_max_mm", "mm", 20.0, 600.0, "plant-available water storage"),
    ParameterSpec(
        "stress_onset_fraction", "1", 0.1, 0.9, "relative soil water below which stress starts"
    ),
    ParameterSpec("roughness_length_m", "m", 0.01, 2.0, "momentum roughness length"),
    ParameterSpec("ground_heat_fraction", "1", 0.0, 0.35, "share of net radiation into the ground"),
)

LSM_PARAMETER_NAMES: tuple[str, ...] = tuple(p.name for p in LSM_PARAMETERS)
N_LSM_PARAMETERS = len(LSM_PARAMETERS)

# IGBP class -> defaults in table order:
# albedo, g_max, light_half, vpd_half, soil_water_max, stress_onset, roughness, ground_heat
_DEFAULT_ROWS: dict[str, tuple[float, ...]] = {
    "ENF": (0.10, 8.0, 150.0, 1.0, 200.0, 0.5, 1.5, 0.05),
    "EBF": (0.12, 12.0, 150.0, 1.5, 250.0, 0.5, 1.8, 0.05),
    "DNF": (0.12, 9.0, 150.0, 1.0, 180.0, 0.5, 1.2, 0.05),
    "DBF": (0.15, 10.0, 150.0, 1.2, 180.0, 0.5, 1.2, 0.05),
    "MF": (0.13, 9.0, 150.0, 1.1, 190.0, 0.5, 1.3, 0.05),
    "CSH": (0.16, 7.0, 120.0, 1.2, 120.0, 0.5, 0.3, 0.10),
    "OSH": (0.20, 5.0, 120.0, 1.5, 100.0, 0.5, 0.15, 0.15),
    "WSA": (0.17, 7.0, 120.0, 1.5, 150.0, 0.5, 0.5, 0.10),
    "SAV": (0.20, 6.0, 120.0, 1.5, 120.0, 0.5, 0.2, 0.15),
    "GRA": (0.22, 10.0, 100.0, 1.5, 100.0, 0.5, 0.03, 0.15),
    "CRO": (0.20, 14.0, 100.0, 1.5, 150.0, 0.5, 0.06, 0.15),
    "WET": (0.12, 10.0, 100.0, 1.5, 300.0, 0.3, 0.1, 0.10),
}
IGBP_DEFAULTS: dict[str, dict[str, float]] = {
    igbp: dict(zip(LSM_PARAMETER_NAMES, row, strict=True)) for igbp, row in _DEFAULT_ROWS.items()
}

# The MODIS MCD12Q1 LC_Type1 legend: integer class of an IGBP land-cover raster -> IGBP code.
IGBP_RASTER_CODES: dict[int, str] = {
    1: "ENF",
    2: "EBF",
    3: "DNF",
    4: "DBF",
    5: "MF",
    6: "CSH",
    7: "OSH",
    8: "WSA",
    9: "SAV",
    10: "GRA",
    11: "WET",
    12: "CRO",
    13: "URB",
    14: "CVM",
    15: "SNO",
    16: "BSV",
    17: "WAT",
}


def lsm_parameter_bounds(
    *, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lower and upper bounds as two tensors of shape (8,), in table order."""
    return bounds_of(LSM_PARAMETERS, dtype=dtype, device=device)


def scale_lsm_parameters(unit01: torch.Tensor) -> torch.Tensor:
    """Map values in [0, 1] linearly onto the physical bounds, (..., 8) -> (..., 8)."""
    return scale_to_bounds(unit01, LSM_PARAMETERS, model="land-surface")


def unscale_lsm_parameters(physical: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`scale_lsm_parameters`: physical values (..., 8) -> [0, 1]."""
    return unscale_from_bounds(physical, LSM_PARAMETERS, model="land-surface")


def check_lsm_parameters(values: Mapping[str, float]) -> None:
    """Refuse hand-given physical values that are unknown, non-finite or outside the bounds.

    Raises
    ------
    ConfigError
        ``field`` is ``parameters.<name>``; the message gives the bounds and the unit.
    """
    check_within_bounds(values, LSM_PARAMETERS, model="land-surface")


def default_parameters(igbp: str, overrides: Mapping[str, float] | None = None) -> dict[str, float]:
    """The default physical parameters of an IGBP class, with optional checked overrides.

    Raises
    ------
    ConfigError
        For an IGBP code without defaults (the fix lists the known codes) or a bad override.
    """
    if igbp not in IGBP_DEFAULTS:
        raise ConfigError(
            f"no default land-surface parameters for IGBP class {igbp!r}",
            field="igbp",
            fix=f"use one of {', '.join(IGBP_DEFAULTS)} or give every parameter by hand",
        )
    values = dict(IGBP_DEFAULTS[igbp])
    if overrides:
        check_lsm_parameters(overrides)
        values.update({k: float(v) for k, v in overrides.items()})
    return values
