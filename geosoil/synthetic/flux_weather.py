"""The weather generator of the synthetic flux towers: daily draws, forcing, summaries.

:func:`weather_anomalies` draws the random daily weather of ``rows`` places;
:func:`weather_arrays` turns it, with each place's latitude, elevation and climate constants
(:data:`CLIMATE_NAMES`), into a regular forcing record in local solar time (the time stamp
starts each step; the sun is taken at its middle): clear-sky shortwave from solar geometry
at the site's latitude and day of year times a daily cloudiness factor; air temperature
with a seasonal, a daily and a diurnal cycle and a lapse rate of 6.5 K km-1; VPD from the
temperature and a daily relative humidity; log-normal wind; pressure by the barometric
formula; precipitation as storms on wet days; Brutsaert longwave with clouds. One daily
"wetness" process makes wet days cloudy, humid, cool and rainy together.
:func:`forcing_summary_arrays` gives the summaries the truth functions take.

Used by :mod:`geosoil.synthetic.flux_sites` (towers), which re-exports these names, and
:mod:`geosoil.synthetic.flux_rasters` (maps).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtri

from geosoil.synthetic.streams import substream

__all__ = [
    "CLIMATE_NAMES",
    "CLIMATE_RANGES",
    "SECONDS_PER_DAY",
    "forcing_summary_arrays",
    "saturation_vapour_pressure_kpa",
    "weather_anomalies",
    "weather_arrays",
]

SECONDS_PER_DAY = 86_400
SOLAR_CONSTANT_W_M2 = 1361.0
CLEAR_SKY_TRANSMISSIVITY = 0.75
STEFAN_BOLTZMANN = 5.670374419e-8
LAPSE_RATE_K_M = 0.0065
WETNESS_PERSISTENCE = 0.6  # lag-one autocorrelation of the daily wetness process

# site constants of the weather generator, drawn uniformly in these ranges
CLIMATE_RANGES: dict[str, tuple[float, float]] = {
    "clearness": (0.5, 0.85),
    "rh_mean": (0.35, 0.85),
    "wet_day_probability": (0.08, 0.45),
    "storm_depth_mm": (3.0, 14.0),
    "wind_mean_m_s": (1.2, 5.0),
}
CLIMATE_NAMES: tuple[str, ...] = tuple(CLIMATE_RANGES)


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


def saturation_vapour_pressure_kpa(tair_c: np.ndarray) -> np.ndarray:
    """Saturation vapour pressure (kPa) over water at ``tair_c`` (degC), Tetens' formula."""
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
    vapour_kpa = rh * saturation_vapour_pressure_kpa(daily_mean)
    vpd = np.maximum(saturation_vapour_pressure_kpa(tair) - vapour_kpa, 0.0)

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
