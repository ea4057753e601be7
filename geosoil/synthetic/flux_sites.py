"""Synthetic flux towers whose land-surface parameters are known (DESIGN section 5, MdPL).

The truth chain, site by site:

1. **Attributes**: ``latitude_deg`` 30..60, ``longitude_deg``, ``elevation_m`` 0..2000,
   ``sand_fraction`` 0.05..0.9 and an IGBP class from :data:`IGBP_CLASSES`, drawn at random.
2. **Climate**: five site constants of the weather generator (:data:`CLIMATE_RANGES`: mean
   clearness, mean relative humidity, wet-day probability, mean storm depth, mean wind),
   drawn uniformly, so humid and dry, sunny and cloudy sites occur at every latitude.
3. **Weather** (:func:`weather_arrays`), a regular record in local solar time (the time
   stamp starts each step; the sun is taken at its middle): clear-sky shortwave from solar
   geometry at the site's latitude and day of year times a daily cloudiness factor; air
   temperature with a seasonal, a daily and a diurnal cycle and a lapse rate of 6.5 K km-1;
   VPD from the temperature and a daily relative humidity; log-normal wind; pressure by the
   barometric formula; precipitation as storms on wet days; Brutsaert longwave with clouds.
   One daily "wetness" process makes wet days cloudy, humid, cool and rainy together.
4. **Parameters** (:func:`true_parameters`): the eight land-surface parameters as declared
   smooth functions of the attributes and of the forcing summaries of the site's whole record
   (:data:`TRUTH_FUNCTIONS`), each led by a different driver, strictly inside the bounds of
   :data:`~geosoil.process.lsm_params.LSM_PARAMETERS` for any input.
5. **Fluxes**: H and LE of :func:`geosoil.process.lsm.simulate` (float64, bucket full at the
   start) under the true parameters, plus Gaussian noise, with gaps (NaN) in short runs of
   both fluxes and in LE while it rains (a wet open-path sensor), as at real towers.

:func:`make_flux_sites` returns a :class:`SyntheticFluxSites`; ``write`` stores it in the
PLUMBER2 / ALMA layout (``<site>_Met.nc``, ``<site>_Flux.nc``) with ``sites.csv``,
``truth.csv`` and a README. One seed gives the same numbers and the same file contents.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr
from scipy.special import ndtri

from geosoil.errors import ConfigError, SampleDataError
from geosoil.io.flux import SUMMARY_NAMES, FluxRecord
from geosoil.io.writers import staged_directory
from geosoil.process.lsm_forcing import FLUX_NAMES, FORCING_NAMES, LsmForcing
from geosoil.process.lsm_params import LSM_PARAMETER_NAMES
from geosoil.synthetic.streams import component_rng, substream

__all__ = [
    "ATTRIBUTE_NAMES",
    "CLIMATE_NAMES",
    "CLIMATE_RANGES",
    "IGBP_CLASSES",
    "IGBP_TRAITS",
    "TRUTH_DRIVERS",
    "TRUTH_FUNCTIONS",
    "IgbpTraits",
    "SyntheticFluxSite",
    "SyntheticFluxSites",
    "describe_flux_sites",
    "forcing_summary_arrays",
    "make_flux_sites",
    "true_parameters",
    "weather_anomalies",
    "weather_arrays",
]

log = logging.getLogger(__name__)

SECONDS_PER_DAY = 86_400
SOLAR_CONSTANT_W_M2 = 1361.0
CLEAR_SKY_TRANSMISSIVITY = 0.75
STEFAN_BOLTZMANN = 5.670374419e-8
LAPSE_RATE_K_M = 0.0065
WETNESS_PERSISTENCE = 0.6  # lag-one autocorrelation of the daily wetness process
MAX_GAP_STEPS = 12

ATTRIBUTE_NAMES: tuple[str, ...] = (
    "latitude_deg",
    "longitude_deg",
    "elevation_m",
    "sand_fraction",
    "igbp",
)
ATTRIBUTE_RANGES: dict[str, tuple[float, float]] = {
    "latitude_deg": (30.0, 60.0),
    "longitude_deg": (-120.0, 140.0),
    "elevation_m": (0.0, 2000.0),
    "sand_fraction": (0.05, 0.9),
}
# site constants of the weather generator, drawn uniformly in these ranges
CLIMATE_RANGES: dict[str, tuple[float, float]] = {
    "clearness": (0.5, 0.85),
    "rh_mean": (0.35, 0.85),
    "wet_day_probability": (0.08, 0.45),
    "storm_depth_mm": (3.0, 14.0),
    "wind_mean_m_s": (1.2, 5.0),
}
CLIMATE_NAMES: tuple[str, ...] = tuple(CLIMATE_RANGES)


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


# ------------------------------------------------------------------------ truth functions
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


# ---------------------------------------------------------------------------- weather
def weather_anomalies(rng: np.random.Generator, rows: int, n_days: int) -> dict[str, np.ndarray]:
    """The random daily draws of the weather generator, (rows, n_days) each.

    ``wetness`` is a stationary AR(1) standard normal process (lag-one correlation 0.6);
    ``temperature`` and ``wind`` are independent standard normals; ``storm_start``,
    ``storm_hours`` uniform in [0, 1); ``storm_size`` exponential with mean 1.
    """
    shocks = substream(rng, "wetness").standard_normal((rows, n_days))
    wetness = np.empty_like(shocks)
    wetness[:, 0] = shocks[:, 0]
    keep = math.sqrt(1.0 - WETNESS_PERSISTENCE**2)
    for day in range(1, n_days):
        wetness[:, day] = WETNESS_PERSISTENCE * wetness[:, day - 1] + keep * shocks[:, day]
    return {
        "wetness": wetness,
        "temperature": substream(rng, "temperature").standard_normal((rows, n_days)),
        "wind": substream(rng, "wind").standard_normal((rows, n_days)),
        "storm_start": substream(rng, "storm_start").uniform(0.0, 1.0, (rows, n_days)),
        "storm_hours": substream(rng, "storm_hours").uniform(0.0, 1.0, (rows, n_days)),
        "storm_size": substream(rng, "storm_size").exponential(1.0, (rows, n_days)),
    }


def _saturation_vapour_pressure_kpa(tair_c: np.ndarray) -> np.ndarray:
    return 0.6108 * np.exp(17.27 * tair_c / (tair_c + 237.3))


def _column(values: Mapping[str, Any], name: str) -> np.ndarray:
    return np.asarray(values[name], dtype=np.float64).reshape(-1, 1)


def weather_arrays(
    time_index: pd.DatetimeIndex,
    time_step_s: float,
    site: Mapping[str, Any],
    anomalies: Mapping[str, np.ndarray],
    *,
    longwave: bool = True,
) -> dict[str, np.ndarray]:
    """Forcing of ``rows`` places over a regular record, in the units of ``FORCING_UNITS``.

    Parameters
    ----------
    time_index
        Step start times (local solar time) of a record that starts at midnight; the number
        of whole days it covers must match ``anomalies``.
    time_step_s
        Step length, a divisor of one day.
    site
        Per-row values (length ``rows`` or scalars) of ``latitude_deg``, ``elevation_m`` and
        the :data:`CLIMATE_NAMES`.
    anomalies
        Daily draws from :func:`weather_anomalies` with ``rows`` rows, or one row shared by
        all (one regional weather over a map).
    longwave
        Give ``lw_in_w_m2`` (Brutsaert clear sky raised by clouds), else leave it out.

    Returns
    -------
    dict of str to numpy.ndarray
        (rows, t) float64 arrays named as ``FORCING_NAMES``.
    """
    steps_per_day = round(SECONDS_PER_DAY / time_step_s)
    n_steps = len(time_index)
    step = np.arange(n_steps)
    day = step // steps_per_day
    hour = ((step % steps_per_day) + 0.5) * time_step_s / 3600.0
    doy = np.asarray(time_index.day_of_year, dtype=np.float64)
    latitude = np.deg2rad(_column(site, "latitude_deg"))
    elevation = _column(site, "elevation_m")
    climate = {name: _column(site, name) for name in CLIMATE_NAMES}
    daily = {name: np.asarray(values)[:, day] for name, values in anomalies.items()}
    wetness = daily["wetness"]

    # pressure: barometric formula, a little lower on wet (stormy) days
    pressure = 101.325 * (1.0 - 2.25577e-5 * elevation) ** 5.25588 * (1.0 - 0.004 * wetness)

    # shortwave: top-of-atmosphere times a clear-sky air-mass term times daily cloudiness
    declination = np.deg2rad(23.44) * np.sin(2.0 * np.pi * (284.0 + doy) / 365.0)
    hour_angle = np.deg2rad(15.0 * (hour - 12.0))
    cos_zenith = np.sin(latitude) * np.sin(declination) + np.cos(latitude) * np.cos(
        declination
    ) * np.cos(hour_angle)
    eccentricity = 1.0 + 0.033 * np.cos(2.0 * np.pi * doy / 365.0)
    air_mass = (pressure / 101.325) / np.maximum(cos_zenith, 0.05)
    clear_sky = (
        SOLAR_CONSTANT_W_M2
        * eccentricity
        * np.maximum(cos_zenith, 0.0)
        * CLEAR_SKY_TRANSMISSIVITY**air_mass
    )
    cloud_factor = np.clip(climate["clearness"] - 0.2 * wetness, 0.15, 1.0)
    sw_in = clear_sky * cloud_factor

    # air temperature: latitude and elevation, season, daily anomaly, diurnal wave
    abs_lat = np.abs(_column(site, "latitude_deg"))
    annual = 21.0 - 0.6 * (abs_lat - 30.0) - LAPSE_RATE_K_M * elevation
    season = (6.0 + 0.3 * (abs_lat - 30.0)) * np.cos(2.0 * np.pi * (doy - 200.0) / 365.0)
    daily_mean = (
        annual
        + season
        + 1.5 * daily["temperature"]
        + 4.0 * (cloud_factor - climate["clearness"])  # sunny days are warmer
    )
    diurnal_range = 4.0 + 10.0 * cloud_factor
    tair = daily_mean + 0.5 * diurnal_range * np.cos(2.0 * np.pi * (hour - 15.0) / 24.0)

    # humidity: vapour pressure fixed over the day by the daily mean relative humidity
    rh = np.clip(climate["rh_mean"] + 0.1 * wetness, 0.15, 0.98)
    vapour_kpa = rh * _saturation_vapour_pressure_kpa(daily_mean)
    vpd = np.maximum(_saturation_vapour_pressure_kpa(tair) - vapour_kpa, 0.0)

    # wind: log-normal daily level with a mean of wind_mean, windier in the afternoon
    level = np.exp(0.45 * daily["wind"] - 0.45**2 / 2.0)
    wind = (
        climate["wind_mean_m_s"] * level * (1.0 + 0.35 * np.cos(2.0 * np.pi * (hour - 14.0) / 24))
    )

    precip = _storms(anomalies, climate, n_steps, steps_per_day, time_step_s)
    forcing = {
        "sw_in_w_m2": sw_in,
        "tair_c": tair,
        "vpd_kpa": vpd,
        "wind_m_s": wind,
        "pressure_kpa": pressure,
        "precip_mm": precip,
    }
    if longwave:
        tair_k = tair + 273.15
        emissivity = 1.24 * (10.0 * vapour_kpa / tair_k) ** (1.0 / 7.0)
        cloud_cover = np.clip((1.0 - cloud_factor) / 0.85, 0.0, 1.0)
        emissivity = emissivity + (1.0 - emissivity) * 0.8 * cloud_cover
        forcing["lw_in_w_m2"] = emissivity * STEFAN_BOLTZMANN * tair_k**4
    rows = max(len(v) for v in forcing.values())
    return {k: np.broadcast_to(v, (rows, n_steps)).astype(np.float64) for k, v in forcing.items()}


def _storms(
    anomalies: Mapping[str, np.ndarray],
    climate: Mapping[str, np.ndarray],
    n_steps: int,
    steps_per_day: int,
    time_step_s: float,
) -> np.ndarray:
    """Precipitation (rows, t) in mm per step: one storm on each wet day."""
    wetness = np.asarray(anomalies["wetness"])
    # a day is wet when its wetness exceeds the quantile that leaves p days wet
    threshold = ndtri(1.0 - climate["wet_day_probability"])
    wet = wetness > threshold  # (rows, days)
    rows = max(len(wet), len(threshold))
    precip = np.zeros((rows, n_steps))
    step = np.arange(n_steps)[None, :]
    hours_steps = 3600.0 / time_step_s
    for day in range(wetness.shape[1]):
        first = day * steps_per_day + np.floor(
            anomalies["storm_start"][:, day : day + 1] * steps_per_day
        )
        hours = 1.0 + 7.0 * anomalies["storm_hours"][:, day : day + 1]
        length = np.maximum(1.0, np.ceil(hours * hours_steps))
        depth = climate["storm_depth_mm"] * anomalies["storm_size"][:, day : day + 1]
        inside = (step >= first) & (step < first + length) & wet[:, day : day + 1]
        precip = precip + np.where(inside, depth / length, 0.0)
    return precip


def forcing_summary_arrays(
    forcing: Mapping[str, np.ndarray], time_step_s: float
) -> dict[str, np.ndarray]:
    """The forcing summaries of each row of (rows, t) forcing arrays.

    Means over every step of shortwave, air temperature, VPD and wind, and the precipitation
    total per day (mm day-1) — the definitions of ``geosoil.io.flux.forcing_summaries``.
    """
    n_steps = np.asarray(forcing["precip_mm"]).shape[-1]
    days = n_steps * time_step_s / SECONDS_PER_DAY
    return {
        "sw_in_mean_w_m2": np.mean(forcing["sw_in_w_m2"], axis=-1),
        "tair_mean_c": np.mean(forcing["tair_c"], axis=-1),
        "vpd_mean_kpa": np.mean(forcing["vpd_kpa"], axis=-1),
        "precip_mm_day": np.sum(forcing["precip_mm"], axis=-1) / days,
        "wind_mean_m_s": np.mean(forcing["wind_m_s"], axis=-1),
    }


# ------------------------------------------------------------------------------ sites
@dataclass(frozen=True, eq=False)
class SyntheticFluxSite:
    """One synthetic tower: what a flux reader would give, plus the truth behind it.

    Attributes
    ----------
    site
        Identifier such as ``SYN-001``.
    attributes
        ``latitude_deg``, ``longitude_deg``, ``elevation_m``, ``sand_fraction``, ``igbp``.
    time
        Step start times (local solar time), regular.
    forcing
        Columns named as ``FORCING_NAMES`` (``lw_in_w_m2`` only with longwave), units of
        ``FORCING_UNITS`` (precipitation in mm per step), indexed by ``time``.
    observed
        ``h_w_m2``, ``le_w_m2`` in W m-2 with noise, NaN in gaps.
    time_step_s
        Step length in seconds.
    parameters
        The true physical parameters, by name.
    climate
        The site constants of the weather generator (:data:`CLIMATE_NAMES`).
    """

    site: str
    attributes: dict[str, Any]
    time: pd.DatetimeIndex
    forcing: pd.DataFrame
    observed: pd.DataFrame
    time_step_s: float
    parameters: dict[str, float]
    climate: dict[str, float]

    def __repr__(self) -> str:
        return (
            f"SyntheticFluxSite({self.site!r}, igbp={self.attributes['igbp']!r}, "
            f"{len(self.time)} steps of {self.time_step_s:g} s from {self.time[0]})"
        )

    def to_forcing(self, dtype: torch.dtype = torch.float32) -> LsmForcing:
        """The site's forcing as a one-row :class:`LsmForcing`."""
        tensors = {
            name: torch.tensor(self.forcing[name].to_numpy()[None, :], dtype=dtype)
            if name in self.forcing
            else None
            for name in FORCING_NAMES
        }
        return LsmForcing(**tensors, time_step_s=float(self.time_step_s))

    def parameter_vector(self) -> np.ndarray:
        """The true physical parameters (8,) in ``LSM_PARAMETER_NAMES`` order."""
        return np.array([self.parameters[name] for name in LSM_PARAMETER_NAMES])

    def to_record(self) -> FluxRecord:
        """The site as a :class:`geosoil.io.flux.FluxRecord` (what the readers return)."""
        return FluxRecord(
            site=self.site,
            attributes=dict(self.attributes),
            time=self.time,
            forcing=self.forcing.copy(),
            observed=self.observed.copy(),
            time_step_s=float(self.time_step_s),
        )


@dataclass(frozen=True, eq=False)
class SyntheticFluxSites:
    """Synthetic towers with known parameters, as :func:`make_flux_sites` makes them.

    Attributes
    ----------
    sites
        One :class:`SyntheticFluxSite` per tower.
    truth
        One row per site: ``site``, the attributes, then the eight true physical parameters
        (``LSM_PARAMETER_NAMES`` order).
    settings
        The arguments that made them (seed, n_days, time_step_s, start, noise_w_m2, ...).
    truth_functions
        Parameter name -> the formula that gave it (:data:`TRUTH_FUNCTIONS`).
    """

    sites: tuple[SyntheticFluxSite, ...]
    truth: pd.DataFrame
    settings: dict[str, Any]
    truth_functions: dict[str, str] = field(default_factory=lambda: dict(TRUTH_FUNCTIONS))

    def __len__(self) -> int:
        return len(self.sites)

    def __repr__(self) -> str:
        s = self.settings
        return (
            f"SyntheticFluxSites({len(self.sites)} sites, seed {s['seed']}, {s['n_days']} days "
            f"from {s['start']} every {s['time_step_s']:g} s)"
        )

    def __iter__(self) -> Iterator[SyntheticFluxSite]:
        return iter(self.sites)

    @property
    def attributes(self) -> pd.DataFrame:
        """``site`` and the attributes, one row per site."""
        return self.truth[["site", *ATTRIBUTE_NAMES]].copy()

    @property
    def summaries(self) -> pd.DataFrame:
        """Forcing summaries of each site's whole record (the truth functions' inputs)."""
        step = float(self.settings["time_step_s"])
        rows = []
        for site in self.sites:
            arrays = {name: site.forcing[name].to_numpy() for name in site.forcing}
            rows.append({k: float(v) for k, v in forcing_summary_arrays(arrays, step).items()})
        return pd.DataFrame(rows, index=pd.Index([s.site for s in self.sites], name="site"))

    def to_records(self) -> list[FluxRecord]:
        """Every site as a :class:`geosoil.io.flux.FluxRecord`."""
        return [s.to_record() for s in self.sites]

    def write(self, folder: str | Path, *, overwrite: bool = False) -> dict[str, Path]:
        """Write the towers in the PLUMBER2 / ALMA layout, whole or not at all.

        Files: per site ``<site>_Met.nc`` (Tair K, SWdown, LWdown W m-2, VPD hPa, Qair
        kg kg-1, Wind m s-1, Psurf Pa, Precip kg m-2 s-1; dims time, y, x; CF time) and
        ``<site>_Flux.nc`` (Qh, Qle W m-2 with NaN in gaps, ``Qh_qc``/``Qle_qc`` 0 where
        measured, 3 in gaps); ``sites.csv`` (attributes), ``truth.csv`` (true parameters)
        and ``README.md``.

        Parameters
        ----------
        folder
            Output folder; written in a staging folder beside it and renamed when complete.
        overwrite
            Replace a non-empty ``folder`` (refused otherwise).

        Returns
        -------
        dict of str to Path
            ``<site>/met``, ``<site>/flux``, ``sites``, ``truth``, ``readme`` -> file.

        Raises
        ------
        OutputExistsError
            ``folder`` is not empty and ``overwrite`` is False.
        OutputError
            The folder cannot be created.
        """
        folder = Path(folder)
        written: dict[str, Path] = {}
        with staged_directory(folder, overwrite=overwrite) as staging:
            for site in self.sites:
                met = staging / f"{site.site}_Met.nc"
                _write_netcdf(_met_dataset(site), met)
                flux = staging / f"{site.site}_Flux.nc"
                _write_netcdf(_flux_dataset(site), flux)
                written[f"{site.site}/met"] = met
                written[f"{site.site}/flux"] = flux
            sites_csv = staging / "sites.csv"
            self.attributes.to_csv(sites_csv, index=False, float_format="%.10g")
            truth_csv = staging / "truth.csv"
            self.truth[["site", *LSM_PARAMETER_NAMES]].to_csv(
                truth_csv, index=False, float_format="%.10g"
            )
            readme = staging / "README.md"
            readme.write_text(describe_flux_sites(self), encoding="utf-8")
            written.update(sites=sites_csv, truth=truth_csv, readme=readme)
        return {key: folder / path.relative_to(staging) for key, path in written.items()}


# ----------------------------------------------------------------------------- writing
# canonical forcing -> (ALMA name, unit, long name, conversion from canonical units)
_MET_VARIABLES: dict[str, tuple[str, str, str]] = {
    "tair_c": ("Tair", "K", "Near surface air temperature"),
    "sw_in_w_m2": ("SWdown", "W/m2", "Surface incident shortwave radiation"),
    "lw_in_w_m2": ("LWdown", "W/m2", "Surface incident longwave radiation"),
    "vpd_kpa": ("VPD", "hPa", "Vapor pressure deficit"),
    "wind_m_s": ("Wind", "m/s", "Scalar windspeed"),
    "pressure_kpa": ("Psurf", "Pa", "Surface air pressure"),
    "precip_mm": ("Precip", "kg/m2/s", "Precipitation rate"),
}
QC_MEASURED = 0
QC_MISSING = 3  # FLUXNET's "poor": what a reader must not trust


def _to_alma(name: str, values: np.ndarray, time_step_s: float) -> np.ndarray:
    if name == "tair_c":
        return values + 273.15
    if name == "vpd_kpa":
        return values * 10.0
    if name == "pressure_kpa":
        return values * 1000.0
    if name == "precip_mm":
        return values / time_step_s
    return values


def _grid_variable(values: np.ndarray, unit: str, long_name: str) -> xr.Variable:
    return xr.Variable(
        ("time", "y", "x"), values[:, None, None], {"units": unit, "long_name": long_name}
    )


def _site_attributes(site: SyntheticFluxSite) -> dict[str, Any]:
    a = site.attributes
    return {
        "site_code": site.site,
        "site_name": site.site,
        "latitude": float(a["latitude_deg"]),
        "longitude": float(a["longitude_deg"]),
        "elevation": float(a["elevation_m"]),
        "IGBP_vegetation_type": str(a["igbp"]),
        "IGBP_veg_short": str(a["igbp"]),
        "sand_fraction": float(a["sand_fraction"]),
        "time_convention": "local solar time; each stamp starts its step",
        "source": "geosoil.synthetic.make_flux_sites (synthetic, known parameters)",
        "Conventions": "CF-1.8",
    }


def _coordinates(site: SyntheticFluxSite) -> dict[str, Any]:
    a = site.attributes
    return {
        "time": _cf_time(site.time),
        "latitude": (("y", "x"), [[float(a["latitude_deg"])]], {"units": "degrees_north"}),
        "longitude": (("y", "x"), [[float(a["longitude_deg"])]], {"units": "degrees_east"}),
    }


def _met_dataset(site: SyntheticFluxSite) -> xr.Dataset:
    step = float(site.time_step_s)
    variables = {}
    for name, (alma, unit, long_name) in _MET_VARIABLES.items():
        if name in site.forcing:
            values = _to_alma(name, site.forcing[name].to_numpy(), step)
            variables[alma] = _grid_variable(values, unit, long_name)
    pressure_kpa = site.forcing["pressure_kpa"].to_numpy()
    vapour_kpa = np.maximum(
        _saturation_vapour_pressure_kpa(site.forcing["tair_c"].to_numpy())
        - site.forcing["vpd_kpa"].to_numpy(),
        0.0,
    )
    qair = 0.622 * vapour_kpa / (pressure_kpa - 0.378 * vapour_kpa)
    variables["Qair"] = _grid_variable(qair, "kg/kg", "Near surface specific humidity")
    return xr.Dataset(variables, coords=_coordinates(site), attrs=_site_attributes(site))


def _flux_dataset(site: SyntheticFluxSite) -> xr.Dataset:
    variables = {}
    for alma, name, long_name in (
        ("Qh", "h_w_m2", "Sensible heat flux"),
        ("Qle", "le_w_m2", "Latent heat flux"),
    ):
        values = site.observed[name].to_numpy()
        variables[alma] = _grid_variable(values, "W/m2", long_name)
        qc = np.where(np.isnan(values), QC_MISSING, QC_MEASURED).astype(np.int8)
        variables[f"{alma}_qc"] = xr.Variable(
            ("time", "y", "x"),
            qc[:, None, None],
            {
                "units": "-",
                "long_name": f"{long_name} quality flag",
                "flag_meanings": "0 measured, 3 missing (value NaN)",
            },
        )
    return xr.Dataset(variables, coords=_coordinates(site), attrs=_site_attributes(site))


def _cf_time(time_index: pd.DatetimeIndex) -> xr.Variable:
    """Seconds since the first step, written as is (xarray would shorten the units)."""
    start = time_index[0]
    seconds = (time_index - start).total_seconds().to_numpy(dtype=np.float64)
    attrs = {
        "units": f"seconds since {start:%Y-%m-%d %H:%M:%S}",
        "calendar": "standard",
        "standard_name": "time",
        "long_name": "Time",
    }
    return xr.Variable("time", seconds, attrs)


def _write_netcdf(dataset: xr.Dataset, path: Path) -> None:
    encoding: dict[str, dict[str, Any]] = {}
    for name, variable in dataset.data_vars.items():
        if variable.dtype.kind == "f":
            encoding[name] = {"dtype": "float64", "_FillValue": np.nan}
    dataset.to_netcdf(path, engine="h5netcdf", encoding=encoding)


def describe_flux_sites(sites: SyntheticFluxSites) -> str:
    """README text of a written synthetic flux folder."""
    s = sites.settings
    truth = "\n".join(f"- `{name}`: {text}" for name, text in sites.truth_functions.items())
    climate = "\n".join(f"- {k}: {lo:g}..{hi:g}" for k, (lo, hi) in CLIMATE_RANGES.items())
    return f"""# Synthetic flux towers with known land-surface parameters

- sites: {len(sites)}, seed {s["seed"]}
- record: {s["n_days"]} days from {s["start"]}, every {s["time_step_s"]:g} s

Made by `geosoil.synthetic.flux_sites.make_flux_sites`; the same seed gives the same data.

## Files
- `<site>_Met.nc` (PLUMBER2 / ALMA layout, dims time, y, x; CF time in local solar time,
  each stamp starting its step): Tair (K), SWdown, LWdown (W/m2), VPD (hPa), Qair (kg/kg),
  Wind (m/s), Psurf (Pa), Precip (kg/m2/s); global attributes latitude, longitude,
  elevation, IGBP_vegetation_type.
- `<site>_Flux.nc`: Qh, Qle (W/m2, NaN where missing) and Qh_qc, Qle_qc (0 measured,
  3 missing).
- `sites.csv`: site, latitude_deg, longitude_deg, elevation_m, sand_fraction, igbp.
- `truth.csv`: site and the eight true physical parameters.

## How the fluxes were made
Observed H and LE are `geosoil.process.lsm.simulate` under the true parameters (float64)
plus Gaussian noise on each flux; gaps (NaN) are runs of 1-{MAX_GAP_STEPS} steps in both fluxes
and LE during rain.

- initial soil water fraction: {s["initial_soil_water_fraction"]:g}
- noise standard deviation: {s["noise_w_m2"]:g} W/m2
- share of each record in gap runs: about {100 * s["missing_fraction"]:g} %

Weather: clear-sky shortwave from solar geometry (1361 W/m2, transmissivity 0.75 per air
mass) times a daily cloudiness factor; air temperature 21 - 0.6 (|lat| - 30) - 6.5 K/km
elevation plus a seasonal wave of amplitude 6 + 0.3 (|lat| - 30) K peaking at day 200, a
daily anomaly and a diurnal wave peaking at 15 h; vapour pressure from a daily relative
humidity; log-normal wind; barometric pressure; one storm on each wet day; Brutsaert
longwave raised by clouds. Site climate constants, drawn uniformly:

{climate}

## Truth functions (inputs: attributes and the forcing summaries of the whole record)
Summaries: mean sw_in_w_m2, tair_c, vpd_kpa, wind_m_s over all steps and the precipitation
total per day.

{truth}
"""


# ----------------------------------------------------------------------------- making
def make_flux_sites(
    n_sites: int,
    *,
    n_days: int = 30,
    time_step_s: float = 1800,
    start: str = "2020-06-01",
    seed: int = 0,
    noise_w_m2: float = 15.0,
    missing_fraction: float = 0.03,
    longwave: bool = True,
    initial_soil_water_fraction: float = 0.5,
) -> SyntheticFluxSites:
    """Make synthetic flux towers whose land-surface parameters are known.

    Parameters
    ----------
    n_sites
        Number of towers (ids ``SYN-001``...).
    n_days
        Length of each record in days.
    time_step_s
        Step in seconds (1800 half-hourly, 3600 hourly); must divide a day.
    start
        First day (midnight, local solar time), e.g. ``"2020-06-01"``.
    seed
        Same seed, same towers.
    noise_w_m2
        Standard deviation of the Gaussian noise added to H and LE.
    missing_fraction
        About this share of each record is lost to gaps in both fluxes.
    longwave
        Provide incoming longwave (``lw_in_w_m2`` / ``LWdown``); else the model estimates it.
    initial_soil_water_fraction
        Bucket filling when the simulation starts.

    Returns
    -------
    SyntheticFluxSites
        The towers, the truth table and the truth functions.

    Raises
    ------
    ConfigError
        For a bad argument (the message names it and the fix).
    """
    start_ts = _check_arguments(
        n_sites, n_days, time_step_s, start, seed, noise_w_m2, missing_fraction
    )
    from geosoil.process.lsm import simulate

    began = time.perf_counter()
    rng = component_rng(int(seed), "flux_sites")
    steps_per_day = round(SECONDS_PER_DAY / time_step_s)
    time_index = pd.date_range(
        start_ts, periods=n_days * steps_per_day, freq=pd.Timedelta(seconds=float(time_step_s))
    )
    attributes = _draw_attributes(substream(rng, "attributes"), n_sites)
    climate = _draw_climate(substream(rng, "climate"), n_sites)
    anomalies = weather_anomalies(substream(rng, "weather"), n_sites, n_days)
    forcing = weather_arrays(
        time_index, float(time_step_s), {**attributes, **climate}, anomalies, longwave=longwave
    )
    summaries = forcing_summary_arrays(forcing, float(time_step_s))
    physical = true_parameters(attributes, summaries)

    tensors = {name: torch.from_numpy(forcing[name]) for name in forcing}
    tensors.setdefault("lw_in_w_m2", None)
    lsm_forcing = LsmForcing(**tensors, time_step_s=float(time_step_s))
    with torch.no_grad():
        output = simulate(
            lsm_forcing,
            torch.from_numpy(physical),
            initial_soil_water_fraction=initial_soil_water_fraction,
        )
    fluxes = output.fluxes().numpy()  # (n, 2, t)
    noise = substream(rng, "noise").standard_normal(fluxes.shape)
    observed = fluxes + noise_w_m2 * noise
    _punch_gaps(substream(rng, "gaps"), observed, forcing["precip_mm"], missing_fraction)

    width = max(3, len(str(n_sites)))
    ids = [f"SYN-{i:0{width}d}" for i in range(1, n_sites + 1)]
    sites = []
    for i, site_id in enumerate(ids):
        frame = pd.DataFrame({name: forcing[name][i] for name in forcing}, index=time_index)
        obs = pd.DataFrame(
            {name: observed[i, k] for k, name in enumerate(FLUX_NAMES)}, index=time_index
        )
        sites.append(
            SyntheticFluxSite(
                site=site_id,
                attributes={
                    k: (str(v[i]) if k == "igbp" else float(v[i])) for k, v in attributes.items()
                },
                time=time_index,
                forcing=frame,
                observed=obs,
                time_step_s=float(time_step_s),
                parameters=dict(zip(LSM_PARAMETER_NAMES, map(float, physical[i]), strict=True)),
                climate={k: float(v[i]) for k, v in climate.items()},
            )
        )
    truth = pd.DataFrame({"site": ids, **attributes})
    for j, name in enumerate(LSM_PARAMETER_NAMES):
        truth[name] = physical[:, j]
    settings = {
        "seed": int(seed),
        "n_days": int(n_days),
        "time_step_s": float(time_step_s),
        "start": f"{start_ts:%Y-%m-%d}",
        "noise_w_m2": float(noise_w_m2),
        "missing_fraction": float(missing_fraction),
        "longwave": bool(longwave),
        "initial_soil_water_fraction": float(initial_soil_water_fraction),
    }
    log.info("made %d synthetic flux sites in %.1f s", n_sites, time.perf_counter() - began)
    return SyntheticFluxSites(sites=tuple(sites), truth=truth, settings=settings)


def _draw_attributes(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    out = {
        name: substream(rng, name).uniform(low, high, n)
        for name, (low, high) in ATTRIBUTE_RANGES.items()
    }
    weights = np.array([t.weight for t in IGBP_TRAITS.values()])
    out["igbp"] = substream(rng, "igbp").choice(
        np.array(IGBP_CLASSES, dtype=object), size=n, p=weights / weights.sum()
    )
    return out


def _draw_climate(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    return {
        name: substream(rng, name).uniform(low, high, n)
        for name, (low, high) in CLIMATE_RANGES.items()
    }


def _punch_gaps(
    rng: np.random.Generator, observed: np.ndarray, precip: np.ndarray, fraction: float
) -> None:
    """Set gaps to NaN in place: runs in both fluxes, and LE during rain."""
    n, _, t = observed.shape
    mean_length = (1 + MAX_GAP_STEPS) / 2.0
    counts = rng.poisson(fraction * t / mean_length, size=n)
    for i, count in enumerate(counts):
        starts = rng.integers(0, t, size=count)
        lengths = rng.integers(1, MAX_GAP_STEPS + 1, size=count)
        for first, length in zip(starts, lengths, strict=True):
            observed[i, :, first : first + length] = np.nan
    le = FLUX_NAMES.index("le_w_m2")
    observed[:, le, :][precip > 0] = np.nan


def _is_integer(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_arguments(
    n_sites: Any,
    n_days: Any,
    time_step_s: Any,
    start: Any,
    seed: Any,
    noise_w_m2: Any,
    missing_fraction: Any,
) -> pd.Timestamp:
    if not _is_integer(n_sites) or n_sites < 1:
        raise ConfigError(
            f"n_sites must be a positive integer, got {n_sites!r}",
            field="n_sites",
            fix="ask for at least one site, e.g. n_sites=40",
        )
    if not _is_integer(n_days) or n_days < 1:
        raise ConfigError(
            f"n_days must be a positive integer, got {n_days!r}",
            field="n_days",
            fix="give the record length in whole days, e.g. n_days=30",
        )
    step_ok = isinstance(time_step_s, (int, float, np.number)) and not isinstance(time_step_s, bool)
    per_day = SECONDS_PER_DAY / time_step_s if step_ok and time_step_s > 0 else math.nan
    if not (per_day >= 1 and math.isclose(per_day, round(per_day))):
        raise ConfigError(
            f"time_step_s must divide a day ({SECONDS_PER_DAY} s), got {time_step_s!r}",
            field="time_step_s",
            fix="use 1800 (half-hourly) or 3600 (hourly)",
        )
    try:
        start_ts = pd.Timestamp(start)
    except (TypeError, ValueError) as err:
        raise ConfigError(
            f"start {start!r} is not a date", field="start", fix="give a date like 2020-06-01"
        ) from err
    if start_ts != start_ts.normalize() or start_ts.tz is not None:
        raise ConfigError(
            f"start {start!r} must be a midnight without time zone",
            field="start",
            fix="give a date like 2020-06-01 (local solar time)",
        )
    if not _is_integer(seed) or seed < 0:
        raise ConfigError(
            f"seed must be a non-negative integer, got {seed!r}",
            field="seed",
            fix="pass an integer such as 0",
        )
    if not (isinstance(noise_w_m2, (int, float)) and math.isfinite(noise_w_m2) and noise_w_m2 >= 0):
        raise ConfigError(
            f"noise_w_m2 must be a finite number >= 0, got {noise_w_m2!r}",
            field="noise_w_m2",
            fix="pass a standard deviation such as 15 (0 for no noise)",
        )
    if not (isinstance(missing_fraction, (int, float)) and 0 <= missing_fraction <= 0.5):
        raise ConfigError(
            f"missing_fraction must be in [0, 0.5], got {missing_fraction!r}",
            field="missing_fraction",
            fix="pass a share such as 0.03 (0 for no gaps)",
        )
    return start_ts
