"""A bulk land surface model: sensible and latent heat from forcing and eight parameters.

One big leaf over one soil-water bucket, in pure differentiable torch with no I/O, for a
batch of ``n`` parameter sets over ``t`` regular time steps (the MdPL process model). The
surface is taken at air temperature (isothermal net radiation), so there is no surface
temperature to iterate and Penman-Monteith gives the latent heat in closed form.

Per step, with ``T`` the air temperature (degC), ``T_K = T + 273.15``, ``P`` the pressure
(kPa), ``D = max(VPD, 0)`` (kPa; negative VPD is sensor noise), ``u`` the wind (m s-1),
``SW`` and ``LW`` the incoming short- and longwave (W m-2), ``dt`` the step (s), ``p`` the
precipitation of the step (mm) and ``S`` the bucket's water (mm = kg m-2):

Radiation and ground heat (W m-2)
    ``Rn = (1 - albedo) max(SW, 0) + eps_s (LW - sigma T_K^4)``, ``eps_s = 0.98``,
    ``sigma = 5.670374419e-8 W m-2 K-4``. Without measured ``LW``, the Brutsaert (1975)
    clear sky: ``LW = 1.24 (e_a / T_K)^(1/7) sigma T_K^4`` with the actual vapour pressure
    ``e_a = 10 max(e_s - D, 0.01)`` in hPa.
    ``G = ground_heat_fraction Rn``; available energy ``A = Rn - G``.
Thermodynamics (FAO-56, Allen et al. 1998)
    saturation vapour pressure ``e_s = 0.6108 exp(17.27 T / (T + 237.3))`` (kPa), its slope
    ``Delta = 4098 e_s / (T + 237.3)^2`` (kPa K-1), latent heat of vaporisation
    ``lambda = 2.501e6 - 2361 T`` (J kg-1), psychrometric constant
    ``gamma = c_p P / (0.622 lambda)`` (kPa K-1) with ``c_p = 1013 J kg-1 K-1``, air density
    ``rho = 1000 P / (287.05 T_K)`` (kg m-3, ideal gas).
Aerodynamic resistance (neutral logarithmic profile, s m-1)
    ``r_a = ln(z / z0m) ln(z / z0h) / (k^2 max(u, 0.3))`` with ``z = 10 m`` above the
    displacement height (:data:`REFERENCE_HEIGHT_M`, the usual tower height over the canopy),
    ``z0m = roughness_length_m``, ``z0h = z0m / 10``, ``k = 0.41``; the wind floor stands in
    for free convection in calm air.
Canopy conductance (Jarvis 1976, Stewart 1988)
    ``f_light = max(SW, 0) / (max(SW, 0) + light_half_w_m2)``,
    ``f_vpd = 1 / (1 + D / vpd_half_kpa)``,
    ``f_water = clamp(S / (stress_onset_fraction soil_water_max_mm), 0, 1)``,
    ``g_c = g_max_mm_s f_light f_vpd f_water + g_min`` (mm s-1) with the cuticular
    ``g_min = 0.1 mm s-1`` (:data:`G_MIN_MM_S`), and ``r_s = 1000 / g_c`` (s m-1).
Penman-Monteith (Monteith 1965, W m-2)
    ``LE* = (Delta A + rho c_p D / r_a) / (Delta + gamma (1 + r_s / r_a))``.
Water (mm)
    Potential evaporation ``E* = LE* dt / lambda``; ``E = min(E*, S_t + p_t)`` so the bucket
    never runs below empty (dew, ``E* < 0``, adds water); ``W = S_t + p_t - E``; the water
    above ``soil_water_max_mm`` leaves as ``runoff = max(W - soil_water_max_mm, 0)`` and
    ``S_t+1 = W - runoff``. The bucket starts at
    ``S_0 = initial_soil_water_fraction soil_water_max_mm``. Hence, over a run,
    ``S_end - S_0 = sum p - sum E - sum runoff``.
Fluxes (W m-2)
    ``LE = E lambda / dt`` and ``H = A - LE``, so ``Rn = H + LE + G`` holds exactly.

Everything but the bucket is computed at once over (n, t); only the bucket recurrence loops
over time, with a handful of tensor operations per step and no in-place writes, so a year of
half-hours for a few hundred parameter sets takes seconds and stays differentiable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from geosoil.errors import ConfigError, SampleDataError
from geosoil.process.lsm_forcing import FLUX_NAMES, LsmForcing
from geosoil.process.lsm_params import LSM_PARAMETER_NAMES, LSM_PARAMETERS
from geosoil.process.parameters import ParameterSpec

__all__ = [
    "CP_AIR_J_KG_K",
    "EMISSIVITY_SURFACE",
    "G_MIN_MM_S",
    "MIN_WIND_M_S",
    "REFERENCE_HEIGHT_M",
    "STEFAN_BOLTZMANN_W_M2_K4",
    "VON_KARMAN",
    "LandSurfaceModel",
    "LsmOutput",
    "brutsaert_longwave_w_m2",
    "check_forcing_rows",
    "check_parameter_tensor",
    "saturation_vapour_pressure_kpa",
    "simulate",
]

STEFAN_BOLTZMANN_W_M2_K4 = 5.670374419e-8
EMISSIVITY_SURFACE = 0.98
CP_AIR_J_KG_K = 1013.0
R_DRY_AIR_J_KG_K = 287.05
WATER_AIR_MOLAR_RATIO = 0.622
VON_KARMAN = 0.41
REFERENCE_HEIGHT_M = 10.0
HEAT_TO_MOMENTUM_ROUGHNESS = 0.1
MIN_WIND_M_S = 0.3
G_MIN_MM_S = 0.1
MIN_VAPOUR_PRESSURE_KPA = 0.01
ZERO_C_K = 273.15
# parameters may sit outside their bounds by this share of the range (float32 rounding of
# values scaled from [0, 1]), never more
_BOUND_TOLERANCE = 1e-5

_P = {name: i for i, name in enumerate(LSM_PARAMETER_NAMES)}
_FORCING_FIELDS = ("sw_in_w_m2", "tair_c", "vpd_kpa", "wind_m_s", "pressure_kpa", "precip_mm")


@dataclass(frozen=True)
class LsmOutput:
    """What the land surface model returns: (n, t) tensors in the dtype of the parameters.

    Attributes
    ----------
    h_w_m2, le_w_m2
        Sensible and latent heat flux, W m-2 (upward positive).
    net_radiation_w_m2, ground_heat_w_m2
        Net radiation and ground heat flux, W m-2; ``Rn = H + LE + G``.
    soil_water_mm
        Water in the bucket at the end of each step, mm.
    canopy_conductance_mm_s
        Canopy (surface) conductance, mm s-1, cuticular minimum included.
    evaporation_mm
        Evapotranspiration during each step, mm (negative for dew).
    runoff_mm
        Water that overflowed the bucket during each step, mm.
    """

    h_w_m2: torch.Tensor
    le_w_m2: torch.Tensor
    net_radiation_w_m2: torch.Tensor
    ground_heat_w_m2: torch.Tensor
    soil_water_mm: torch.Tensor
    canopy_conductance_mm_s: torch.Tensor
    evaporation_mm: torch.Tensor
    runoff_mm: torch.Tensor

    def fluxes(self) -> torch.Tensor:
        """H and LE stacked as (n, 2, t), in :data:`FLUX_NAMES` order."""
        by_name = {"h_w_m2": self.h_w_m2, "le_w_m2": self.le_w_m2}
        return torch.stack([by_name[name] for name in FLUX_NAMES], dim=1)


def check_parameter_tensor(
    parameters: torch.Tensor,
    specs: Sequence[ParameterSpec] = LSM_PARAMETERS,
    *,
    owner: str = "land surface model",
) -> None:
    """Refuse a parameter tensor of the wrong shape or with values outside their bounds.

    Parameters
    ----------
    parameters
        (n, p) physical values, one column per entry of ``specs``.
    specs
        The declared parameters (names, units, bounds).
    owner
        Who the parameters are for, used in the message (e.g. ``"simulator 'swat'"``).

    Raises
    ------
    ConfigError
        For a tensor that is not (n, p) floating point (``field="parameters"``), or a
        non-finite value or one outside the bounds by more than float rounding
        (``field="parameters.<name>"``, naming the row and the bounds).
    """
    p = len(specs)
    names = ", ".join(spec.name for spec in specs)
    if not isinstance(parameters, torch.Tensor) or parameters.ndim != 2:
        raise ConfigError(
            f"parameters for the {owner} must be an (n, {p}) tensor, got "
            f"{type(parameters).__name__} of shape {tuple(getattr(parameters, 'shape', ()))}",
            field="parameters",
            fix=f"pass one row per parameter set with the columns {names}",
        )
    if parameters.shape[1] != p:
        raise ConfigError(
            f"parameters for the {owner} have {parameters.shape[1]} columns, expected {p}",
            field="parameters",
            fix=f"pass one row per parameter set with the columns {names}",
        )
    if not parameters.is_floating_point():
        raise ConfigError(
            f"parameters for the {owner} have dtype {parameters.dtype}",
            field="parameters",
            fix="pass float32 or float64 physical values",
        )
    values = parameters.detach().to(torch.float64)
    lower = values.new_tensor([spec.lower for spec in specs])
    upper = values.new_tensor([spec.upper for spec in specs])
    slack = _BOUND_TOLERANCE * (upper - lower)
    bad = ~torch.isfinite(values) | (values < lower - slack) | (values > upper + slack)
    if bool(bad.any()):
        rows, cols = torch.nonzero(bad, as_tuple=True)
        row, col = int(rows[0]), int(cols[0])
        spec = specs[col]
        raise ConfigError(
            f"{spec.name} = {float(values[row, col]):g} {spec.unit} (row {row}) for the "
            f"{owner} is outside its bounds [{spec.lower:g}, {spec.upper:g}]; "
            f"{int(bad.sum())} value(s) out of bounds in all",
            field=f"parameters.{spec.name}",
            fix=f"give {spec.name} ({spec.meaning or 'see the parameter table'}) values between "
            f"{spec.lower:g} and {spec.upper:g} {spec.unit}, e.g. by scaling outputs in [0, 1] "
            "to the bounds",
        )


def check_forcing_rows(forcing: LsmForcing, rows: int) -> None:
    """Refuse a forcing that has neither ``rows`` rows nor a single one to share.

    Raises
    ------
    SampleDataError
        ``field="forcing"``.
    """
    if forcing.shape[0] not in (1, rows):
        raise SampleDataError(
            f"the forcing has {forcing.shape[0]} rows for {rows} parameter sets",
            field="forcing",
            fix="give one forcing row per parameter set, or a single row to share",
        )


def saturation_vapour_pressure_kpa(tair_c: torch.Tensor) -> torch.Tensor:
    """FAO-56 (Tetens) saturation vapour pressure over water, kPa."""
    return 0.6108 * torch.exp(17.27 * tair_c / (tair_c + 237.3))


def brutsaert_longwave_w_m2(tair_c: torch.Tensor, vpd_kpa: torch.Tensor) -> torch.Tensor:
    """Clear-sky incoming longwave (Brutsaert 1975) from air temperature and VPD, W m-2."""
    tair_k = tair_c + ZERO_C_K
    vapour_kpa = saturation_vapour_pressure_kpa(tair_c) - torch.clamp(vpd_kpa, min=0.0)
    vapour_hpa = 10.0 * torch.clamp(vapour_kpa, min=MIN_VAPOUR_PRESSURE_KPA)
    emissivity = 1.24 * (vapour_hpa / tair_k) ** (1.0 / 7.0)
    return emissivity * STEFAN_BOLTZMANN_W_M2_K4 * tair_k**4


def simulate(
    forcing: LsmForcing,
    parameters: torch.Tensor,
    *,
    initial_soil_water_fraction: float = 1.0,
) -> LsmOutput:
    """Run the land surface model for ``n`` parameter sets.

    Parameters
    ----------
    forcing
        (n, t) forcing, or (1, t) shared by every parameter set; cast to the dtype and
        device of ``parameters``.
    parameters
        (n, 8) physical values in :data:`~geosoil.process.lsm_params.LSM_PARAMETER_NAMES`
        order; gradients flow to them.
    initial_soil_water_fraction
        Bucket filling at the start, as a share of ``soil_water_max_mm`` in [0, 1].

    Returns
    -------
    LsmOutput
        (n, t) fluxes and states; ``.fluxes()`` is (n, 2, t) [H, LE] in W m-2.

    Raises
    ------
    ConfigError
        For parameters of the wrong shape or outside their bounds, or a filling outside
        [0, 1].
    SampleDataError
        For a forcing with neither n rows nor one.
    """
    check_parameter_tensor(parameters)
    if not 0.0 <= initial_soil_water_fraction <= 1.0:
        raise ConfigError(
            f"initial soil water fraction is {initial_soil_water_fraction}",
            field="initial_soil_water_fraction",
            fix="give the bucket's initial filling as a share between 0 and 1",
        )
    n = parameters.shape[0]
    check_forcing_rows(forcing, n)
    dtype, device = parameters.dtype, parameters.device
    f = {name: getattr(forcing, name).to(dtype=dtype, device=device) for name in _FORCING_FIELDS}
    # (n, 1) columns broadcast against (1 or n, t) forcing
    col = {name: parameters[:, i : i + 1] for name, i in _P.items()}

    tair_c, pressure_kpa = f["tair_c"], f["pressure_kpa"]
    tair_k = tair_c + ZERO_C_K
    sw = torch.clamp(f["sw_in_w_m2"], min=0.0)
    vpd = torch.clamp(f["vpd_kpa"], min=0.0)
    wind = torch.clamp(f["wind_m_s"], min=MIN_WIND_M_S)
    if forcing.lw_in_w_m2 is None:
        lw_in = brutsaert_longwave_w_m2(tair_c, f["vpd_kpa"])
    else:
        lw_in = forcing.lw_in_w_m2.to(dtype=dtype, device=device)

    net_radiation = (1.0 - col["albedo"]) * sw + EMISSIVITY_SURFACE * (
        lw_in - STEFAN_BOLTZMANN_W_M2_K4 * tair_k**4
    )
    ground_heat = col["ground_heat_fraction"] * net_radiation
    available = net_radiation - ground_heat

    e_sat = saturation_vapour_pressure_kpa(tair_c)
    delta = 4098.0 * e_sat / (tair_c + 237.3) ** 2
    latent_j_kg = 2.501e6 - 2361.0 * tair_c
    gamma = CP_AIR_J_KG_K * pressure_kpa / (WATER_AIR_MOLAR_RATIO * latent_j_kg)
    rho = 1000.0 * pressure_kpa / (R_DRY_AIR_J_KG_K * tair_k)

    z0m = col["roughness_length_m"]
    log_m = torch.log(REFERENCE_HEIGHT_M / z0m)
    log_h = torch.log(REFERENCE_HEIGHT_M / (HEAT_TO_MOMENTUM_ROUGHNESS * z0m))
    r_a = log_m * log_h / (VON_KARMAN**2 * wind)

    f_light = sw / (sw + col["light_half_w_m2"])
    f_vpd = 1.0 / (1.0 + vpd / col["vpd_half_kpa"])
    g_unstressed_m_s = 1e-3 * col["g_max_mm_s"] * f_light * f_vpd

    # Penman-Monteith as numerator / (Delta + gamma + (gamma / r_a) / g_c): only g_c waits
    # for the bucket
    numerator = delta * available + rho * CP_AIR_J_KG_K * vpd / r_a
    denominator = (delta + gamma).expand(n, -1)
    resistance_term = (gamma / r_a).expand(n, -1)
    mm_per_w_m2 = forcing.time_step_s / latent_j_kg  # (1 or n, t)

    soil_water_max = parameters[:, _P["soil_water_max_mm"]]
    inverse_onset = 1.0 / (parameters[:, _P["stress_onset_fraction"]] * soil_water_max)
    g_min_m_s = 1e-3 * G_MIN_MM_S

    def steps(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return x.expand(n, -1).t().contiguous().unbind(0)

    columns = zip(
        steps(g_unstressed_m_s),
        steps(numerator),
        steps(denominator),
        steps(resistance_term),
        steps(mm_per_w_m2),
        steps(f["precip_mm"]),
        strict=True,
    )
    water = initial_soil_water_fraction * soil_water_max
    conductance, evaporation, wet, stored = [], [], [], []
    for g_unstressed, num, den, res, to_mm, precip in columns:
        f_water = torch.clamp(water * inverse_onset, 0.0, 1.0)
        g_c = g_unstressed * f_water + g_min_m_s
        potential_mm = num / (den + res / g_c) * to_mm
        reachable = water + precip
        evaporated = torch.minimum(potential_mm, reachable)
        after = reachable - evaporated
        water = torch.minimum(after, soil_water_max)
        conductance.append(g_c)
        evaporation.append(evaporated)
        wet.append(after)
        stored.append(water)

    evaporation_mm = torch.stack(evaporation, dim=1)
    soil_water_mm = torch.stack(stored, dim=1)
    le = evaporation_mm / mm_per_w_m2
    return LsmOutput(
        h_w_m2=available - le,
        le_w_m2=le,
        net_radiation_w_m2=net_radiation,
        ground_heat_w_m2=ground_heat,
        soil_water_mm=soil_water_mm,
        canopy_conductance_mm_s=1e3 * torch.stack(conductance, dim=1),
        evaporation_mm=evaporation_mm,
        runoff_mm=torch.stack(wet, dim=1) - soil_water_mm,
    )


class LandSurfaceModel(nn.Module):
    """The land surface model as a module: physical parameters -> fluxes and states.

    It has no trainable weights; it declares its parameters, states and outputs as data so
    a hybrid model (network + process) can compose it.

    Parameters
    ----------
    initial_soil_water_fraction
        Bucket filling at the start of every run, share of ``soil_water_max_mm``.
    """

    parameter_specs = LSM_PARAMETERS
    parameter_names = LSM_PARAMETER_NAMES
    state_names = ("soil_water_mm",)
    output_names = FLUX_NAMES

    def __init__(self, initial_soil_water_fraction: float = 1.0) -> None:
        super().__init__()
        self.initial_soil_water_fraction = initial_soil_water_fraction

    def forward(self, forcing: LsmForcing, parameters: torch.Tensor) -> LsmOutput:
        """Fluxes and states of :func:`simulate` for physical ``parameters`` (n, 8)."""
        return simulate(
            forcing, parameters, initial_soil_water_fraction=self.initial_soil_water_fraction
        )
