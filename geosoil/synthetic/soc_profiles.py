"""Synthetic SOC profiles simulated by CLM5 from parameters that are known covariate functions.

The truth chain, site by site:

1. **Drivers**: a few base fields (location, elevation, climate, topsoil clay, silt and pH,
   a productivity index like NDVI, land cover, soil order, bedrock layer), drawn at random
   over a Japan-sized region (:func:`sample_drivers`) or read from the synthetic world's
   rasters (:mod:`geosoil.synthetic.soc_rasters`). Climate follows latitude and elevation,
   pH falls with precipitation, land cover and soil order follow climate, so covariates are
   correlated as real ones are.
2. **Covariates**: the 38 columns of the ``binn_ny`` layout
   (:data:`~geosoil.io.profiles.ENV_COLUMNS`, same units: pH x 10, bulk density kg m-3),
   computed from the drivers by :func:`covariate_table`, so BINN code written for
   ``binn_ny`` reads a synthetic folder unchanged. Scaling ranges are declared in
   :data:`COVARIATE_RANGES`; every generated value lies inside them.
3. **Forcings** (:func:`forcing_arrays`, ``binn_ny`` magnitudes): soil temperature from air
   temperature with an annual wave damped and delayed with depth (damping depth 2.5 m);
   a water scalar from precipitation and clay, at most ~0.3 so that ``w_scaling`` times it
   stays below the ``min(w_scaling W, 1)`` cap, which would hide ``w_scaling``; oxygen and
   nitrogen scalars close to 1 with small reductions; annual carbon input ~100-580
   g C m-2 yr-1 from productivity and temperature, 42 % to CWD under forest, litter split
   between the metabolic, cellulose and lignin pools (litter 1-3) by land cover and a
   fine-scale pattern of species composition (:func:`litter_shares`), with an autumn
   pulse; permafrost (active layer < 2 m) below -1 degC.
4. **Parameters**: :class:`PrescribedParameters` maps the min-max scaled covariates to
   efolding, tau4s3, fs1s3 and w_scaling by declared smooth functions; the 17 others are
   fixed (:data:`FIXED_PARAMETERS`, CLM5 defaults where they lie inside the bounds).
5. **SOC**: the CLM5 steady state (float64, batched solves), read at 3-8 random depths per
   site within the active column (0.02 m to min(bedrock depth, 2 m), denser near the
   surface), times mean-one log-normal noise of relative standard deviation
   ``noise_sd_rel``.

:func:`soc_profile_set` returns the :class:`~geosoil.io.profiles.ProfileSet` and, apart,
the true physical parameters per site (never among the covariates).

Identifiability (why the default design looks as it does): a single profile pins about two
combinations of the four prescribed parameters (the SOC level and its decline with depth).
Below the water cap ``w_scaling`` scales every pool's turnover, so one site cannot tell it
from ``tau4s3`` and ``fs1s3``, which act through the passive pool roughly as their product.
The truth is learnable across sites instead: each parameter follows its own covariate
(topsoil clay, mean annual temperature, topsoil silt, annual precipitation; pairwise
correlations below 0.2) and spans most of its bounds; and the litter quality (a forcing)
differs between land covers and, at a finer scale that no covariate holds, between
neighbouring sites, so the share of carbon that bypasses the passive pool changes from site
to site at the same parameter values. A model that makes the parameters smooth functions
of the covariates then fits every site only close to the true functions; what freedom is
left is mostly a common shift of the levels of ``w_scaling``, ``tau4s3`` and ``fs1s3``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from geosoil.errors import ConfigError, SampleDataError
from geosoil.io.profiles import CATEGORICAL_COLUMNS, ENV_COLUMNS, FORCING_SHAPES, ProfileSet
from geosoil.process import (
    PARAMETER_NAMES,
    Clm5Forcings,
    interpolate_to_depths,
    steady_state,
)
from geosoil.process.clm5_grid import N_LAYERS, ZISOI_M, ZSOI_M
from geosoil.synthetic.fields import by_class
from geosoil.synthetic.soc_parameters import (
    COVARIATE_RANGES,
    DEFAULT_PRESCRIBED,
    FIXED_PARAMETERS,
    MISSPECIFIED_PRESCRIBED,
    InteractionTerm,
    PrescribedFunction,
    PrescribedParameters,
    PrescribedTerm,
)
from geosoil.synthetic.streams import check_whole, component_rng, substream

__all__ = [
    "COVARIATE_RANGES",
    "DEFAULT_PRESCRIBED",
    "DRIVER_NAMES",
    "FIXED_PARAMETERS",
    "LANDCOVER_CODES",
    "LIGNIN_PATTERN_AMPLITUDE",
    "LIGNIN_RICH_LITTER",
    "LIGNIN_WEIGHT",
    "METABOLIC_LITTER",
    "MISSPECIFIED_PRESCRIBED",
    "NO_PERMAFROST_ALT_M",
    "SOIL_ORDER_CODES",
    "TEXTURE_CODES",
    "InteractionTerm",
    "PrescribedFunction",
    "PrescribedParameters",
    "PrescribedTerm",
    "SocProfiles",
    "clm5_forcings",
    "covariate_table",
    "describe_soc_profiles",
    "forcing_arrays",
    "litter_shares",
    "sample_drivers",
    "scale_covariates",
    "simulate_soc_layers",
    "soc_profile_set",
    "usda_texture_class",
]

log = logging.getLogger(__name__)

N_MONTHS = 12
NO_PERMAFROST_ALT_M = 41.998  # CLM5's column bottom: the active layer never stops above it
MAX_SAMPLE_DEPTH_M = 2.0
MIN_SAMPLE_DEPTH_M = 0.02
SOLVE_BATCH = 500  # sites per linear solve: ~80 MB of float64 matrices
# The soil water scalar is this share of the site wetness (times its season and depth
# factors): at most ~0.3, so that w_scaling up to 3.5 keeps w_scaling W below 1.
WATER_SCALAR_SHARE = 0.5

LANDCOVER_CODES: dict[int, str] = {
    1: "cropland",
    2: "paddy",
    3: "grassland",
    4: "forest",
    5: "shrubland",
    6: "urban",
}
SOIL_ORDER_CODES: dict[int, str] = {
    1: "Entisols",
    2: "Inceptisols",
    3: "Andisols",
    4: "Alfisols",
    5: "Mollisols",
    6: "Ultisols",
}
TEXTURE_CODES: dict[int, str] = {
    1: "clay", 2: "silty clay", 3: "sandy clay", 4: "clay loam", 5: "silty clay loam",
    6: "sandy clay loam", 7: "loam", 8: "silt loam", 9: "sandy loam", 10: "silt",
    11: "loamy sand", 12: "sand",
}  # fmt: skip

# Litter quality: the litter (after CWD) is split between litter 1 (metabolic), 2 (cellulose)
# and 3 (lignin) as a mix of a metabolic-rich and a lignin-rich split. The lignin weight
# follows land cover (crop residues are metabolic, forest litter woody) and varies within
# it with species composition, a fine-scale pattern no covariate describes
# (:func:`litter_shares`). Lignin (litter 3) feeds SOM 2 directly, bypassing the
# SOM 1 -> SOM 3 step, so the share of carbon that reaches the passive pool changes from
# site to site at the same parameters.
METABOLIC_LITTER = (0.55, 0.40, 0.05)
LIGNIN_RICH_LITTER = (0.10, 0.40, 0.50)
LIGNIN_WEIGHT: dict[int, float] = {1: 0.2, 2: 0.2, 3: 0.35, 4: 0.6, 5: 0.5, 6: 0.35}
LIGNIN_PATTERN_AMPLITUDE = 0.4
LIGNIN_PATTERN_WAVELENGTH_DEG = (0.23, 0.17)  # lon, lat: ~20 km


def scale_covariates(
    covariates: pd.DataFrame, *, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """Covariates min-max scaled by :data:`COVARIATE_RANGES` and clipped to [0, 1].

    The same scaling as ``ProfileSet.scaled_covariates()`` with the declared ranges;
    ``columns`` (default: every column with a declared range) are scaled, others kept.
    """
    table = covariates.copy()
    names = [c for c in covariates.columns if c in COVARIATE_RANGES] if columns is None else columns
    for name in names:
        low, high = COVARIATE_RANGES[name]
        values = (table[name].to_numpy(dtype=np.float64) - low) / (high - low)
        table[name] = np.clip(values, 0.0, 1.0)
    return table


# ------------------------------------------------------------------------------ drivers
DRIVER_NAMES = (
    "lon", "lat", "elevation_m", "mat_degc", "map_mm", "clay_pct", "silt_pct", "ph",
    "ndvi", "landcover", "soil_order", "nbedrock",
)  # fmt: skip


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _choose(rng: np.random.Generator, scores: np.ndarray) -> np.ndarray:
    """One class per row (codes 1..k) by the Gumbel-max trick on the scores (n, k)."""
    return (np.argmax(scores + rng.gumbel(size=scores.shape), axis=1) + 1).astype(np.int64)


def sample_drivers(n_sites: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random base fields of ``n_sites`` sites over the synthetic region (see module doc).

    Returns
    -------
    dict of str to numpy.ndarray
        :data:`DRIVER_NAMES` -> (n,) arrays; ``landcover``, ``soil_order`` and ``nbedrock``
        are int64 codes (:data:`LANDCOVER_CODES`, :data:`SOIL_ORDER_CODES`, 8..20).
    """

    def draw(name: str) -> np.random.Generator:
        return substream(rng, name)

    n = n_sites
    lon = draw("lon").uniform(130.0, 145.0, n)
    lat = draw("lat").uniform(31.0, 45.0, n)
    elevation = np.clip(2800.0 * draw("elevation").beta(1.2, 4.0, n), 0.0, 2900.0)
    mat = 23.0 - (lat - 31.0) - 0.0065 * elevation + draw("mat").normal(0.0, 1.2, n)
    mat = np.clip(mat, -3.5, 23.5)
    precipitation = np.exp(draw("map").normal(np.log(1050.0), 0.5, n)) + 0.3 * elevation
    precipitation = np.clip(precipitation, 320.0, 2750.0)
    clay = 3.0 + 55.0 * draw("clay").beta(2.0, 4.0, n) + 0.4 * (mat - 10.0)
    clay = np.clip(clay, 2.0, 65.0)
    silt = np.minimum(draw("silt").uniform(10.0, 70.0, n), 95.0 - clay)
    ph = 8.0 - 0.0022 * (precipitation - 300.0) + draw("ph").normal(0.0, 0.5, n)
    ph = np.clip(ph, 3.7, 8.9)
    wet = (precipitation - 1000.0) / 400.0
    warm = (mat - 10.0) / 5.0
    low = 1.0 - elevation / 600.0
    cover = _choose(
        draw("landcover"),
        np.stack(
            [
                0.8 * low - 0.3 * wet,  # cropland
                0.8 * low + 0.6 * warm + 0.5 * wet - 0.6,  # paddy
                -0.9 * wet - 0.2,  # grassland
                0.7 * wet + 0.5 * (1.0 - low) + 0.6,  # forest
                -0.8 * wet - 0.4 * warm - 0.6,  # shrubland
                0.5 * low - 2.0,  # urban
            ],
            axis=1,
        ),
    )
    acid = (6.0 - ph) / 0.8
    order = _choose(
        draw("soil_order"),
        np.stack(
            [
                elevation / 1000.0 - 0.5,  # Entisols: young soils on steep, high ground
                np.full(n, 0.6),  # Inceptisols
                np.full(n, -0.6),  # Andisols: volcanic ash, anywhere
                -0.4 * acid - 0.2,  # Alfisols
                -0.8 * acid - 0.6 * wet + 0.8 * (cover == 3) - 0.6,  # Mollisols
                0.7 * warm + 0.5 * acid - 0.5,  # Ultisols
            ],
            axis=1,
        ),
    )
    ndvi = (
        0.12
        + 0.75 * _sigmoid((precipitation - 650.0) / 250.0) * _sigmoid((mat + 2.0) / 3.0)
        + by_class(
            cover, {1: -0.05, 2: 0.0, 3: -0.1, 4: 0.08, 5: -0.12, 6: -0.25}, dtype=np.float64
        )
        + draw("ndvi").normal(0.0, 0.05, n)
    )
    depth_score = draw("bedrock").beta(2.0, 1.5, n) - elevation / 3000.0 - 0.25 * (order == 1)
    nbedrock = np.clip(np.rint(8.0 + 12.0 * depth_score), 8, 20).astype(np.int64)
    return {
        "lon": lon,
        "lat": lat,
        "elevation_m": elevation,
        "mat_degc": mat,
        "map_mm": precipitation,
        "clay_pct": clay,
        "silt_pct": silt,
        "ph": ph,
        "ndvi": np.clip(ndvi, 0.05, 0.92),
        "landcover": cover,
        "soil_order": order,
        "nbedrock": nbedrock,
    }


# --------------------------------------------------------------------------- covariates
def _temperature_semi_amplitude_k(bio4: np.ndarray) -> np.ndarray:
    """Semi-amplitude of the monthly air temperature wave from BIO4 (100 x monthly sd)."""
    return math.sqrt(2.0) * bio4 / 100.0


def _bio4(drivers: Mapping[str, np.ndarray]) -> np.ndarray:
    return 550.0 + 45.0 * (drivers["lat"] - 31.0) + 0.05 * drivers["elevation_m"]


def usda_texture_class(sand: np.ndarray, silt: np.ndarray, clay: np.ndarray) -> np.ndarray:
    """USDA texture class codes (:data:`TEXTURE_CODES`) from sand, silt and clay in %."""
    conditions = [
        silt + 1.5 * clay < 15,
        silt + 2 * clay < 30,
        (clay >= 40) & (silt >= 40),
        (clay >= 35) & (sand > 45),
        clay >= 40,
        (clay >= 27) & (sand <= 20),
        (clay >= 27) & (sand <= 45),
        (clay >= 20) & (silt < 28) & (sand > 45),
        (silt >= 80) & (clay < 12),
        silt >= 50,
        (clay >= 7) & (silt >= 28) & (sand <= 52),
    ]
    codes = [12, 11, 2, 3, 1, 5, 4, 6, 10, 8, 7]
    return np.select(conditions, codes, default=9).astype(np.int64)


def _koppen(mat: np.ndarray, semi_amplitude: np.ndarray, precipitation: np.ndarray) -> np.ndarray:
    """Koppen-Geiger codes (Beck et al. 2018 numbering) for climates without a dry season."""
    coldest, warmest = mat - semi_amplitude, mat + semi_amplitude
    conditions = [
        precipitation < 20.0 * (mat + 7.0),  # arid threshold
        warmest < 10.0,
        (coldest > 0.0) & (warmest >= 22.0),
        coldest > 0.0,
        warmest >= 22.0,
    ]
    return np.select(conditions, [7, 29, 14, 15, 25], default=26).astype(np.int64)


def covariate_table(drivers: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """The 38 ``binn_ny`` covariate columns (:data:`ENV_COLUMNS`) from the drivers.

    Deterministic: the randomness lives in the drivers. Units as in ``binn_ny``: degC and
    mm for BIO1/BIO12, bulk density kg m-3, CEC cmol(+) kg-1, contents %, pH x 10, elevation
    m. Categorical columns are int64; every value lies inside :data:`COVARIATE_RANGES`.
    """
    mat, precipitation = drivers["mat_degc"], drivers["map_mm"]
    clay0, silt0, ph = drivers["clay_pct"], drivers["silt_pct"], drivers["ph"]
    ndvi, cover, order = drivers["ndvi"], drivers["landcover"], drivers["soil_order"]
    elevation = drivers["elevation_m"]
    argillic = np.isin(order, (4, 6))
    andic = order == 3
    bio4 = _bio4(drivers)
    bio2 = 7.0 + 0.002 * elevation + 2.5 * (1.0 - _sigmoid((precipitation - 1000.0) / 300.0))
    semi_amplitude = _temperature_semi_amplitude_k(bio4)
    columns: dict[str, np.ndarray] = {
        "Lon": drivers["lon"],
        "Lat": drivers["lat"],
        "ESA_Land_Cover": cover,
        "BIO1": mat,
        "BIO2": bio2,
        "BIO3": 100.0 * bio2 / (2.0 * semi_amplitude + bio2),
        "BIO4": bio4,
        "BIO12": precipitation,
        "BIO15": 15.0 + 30.0 * _sigmoid((drivers["lon"] - 137.0) / 3.0),
    }
    clay = {
        "0cm": clay0,
        "30cm": clay0 * (1.1 + 0.2 * argillic),
        "100cm": clay0 * (1.15 + 0.35 * argillic),
    }
    silt = {"0cm": silt0, "30cm": 0.97 * silt0, "100cm": 0.93 * silt0}
    bulk0 = 1500.0 - 350.0 * ndvi - 350.0 * andic
    for i, depth in enumerate(("0cm", "30cm", "100cm")):
        clay[depth] = np.clip(clay[depth], 1.0, 68.0)
        silt[depth] = np.minimum(silt[depth], 98.0 - clay[depth])
        sand = 100.0 - clay[depth] - silt[depth]
        columns[f"Bulk_Density_{depth}"] = bulk0 + (0.0, 180.0, 280.0)[i]
        columns[f"CEC_{depth}"] = (
            3.0 + 0.5 * clay[depth] + (12.0 * ndvi + 15.0 * andic) * (1.0, 0.6, 0.3)[i]
        )
        columns[f"Clay_Content_{depth}"] = clay[depth]
        columns[f"Coarse_Fragments_v_{depth}"] = (3.0 + 0.012 * elevation + 10.0 * (order == 1)) * (
            1.0,
            1.2,
            1.5,
        )[i]
        columns[f"pH_Water_{depth}"] = 10.0 * (ph + (0.0, 0.15, 0.35)[i])
        columns[f"Silt_Content_{depth}"] = silt[depth]
        columns[f"SWC_v_Wilting_Point_{depth}"] = (3.0 + 0.45 * clay[depth] + 0.1 * silt[depth]) * (
            1.0,
            0.9,
            0.85,
        )[i]
        columns[f"Texture_USDA_{depth}"] = usda_texture_class(sand, silt[depth], clay[depth])
    columns["USDA_Suborder"] = order
    columns["WRB_Subgroup"] = 10 * order + np.select([clay0 < 18, clay0 < 35], [1, 2], default=3)
    columns["Elevation"] = elevation
    columns["Koppen_Climate_2018"] = _koppen(mat, semi_amplitude, precipitation)
    columns["nbedrock"] = drivers["nbedrock"]
    table = pd.DataFrame({name: columns[name] for name in ENV_COLUMNS})
    for name in ENV_COLUMNS:
        low, high = COVARIATE_RANGES[name]
        if name in CATEGORICAL_COLUMNS:
            table[name] = table[name].astype(np.int64)
        else:
            table[name] = np.clip(table[name].to_numpy(dtype=np.float64), low, high)
    return table


# ----------------------------------------------------------------------------- forcings
def forcing_arrays(drivers: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """CLM5 forcings named and shaped as :data:`~geosoil.io.profiles.FORCING_SHAPES`.

    Deterministic functions of the drivers (float64; ``nbedrock`` int64); see the module
    docstring for the formulas' intent and ``describe_soc_profiles`` for the formulas.
    """
    mat, precipitation = drivers["mat_degc"], drivers["map_mm"]
    clay, silt, ndvi = drivers["clay_pct"], drivers["silt_pct"], drivers["ndvi"]
    cover = drivers["landcover"]
    n = len(mat)
    z = np.asarray(ZSOI_M)[None, :, None]  # (1, 20, 1)
    month = np.arange(N_MONTHS)[None, None, :] + 0.5  # mid-month, Jan = 0.5
    omega = 2.0 * np.pi / N_MONTHS

    damping_m = 2.5
    semi_amplitude = 0.85 * _temperature_semi_amplitude_k(_bio4(drivers))[:, None, None]
    soil_mean_degc = mat[:, None, None] + 1.0  # snow cover and litter keep soil warmer
    wave = np.exp(-z / damping_m) * np.cos(omega * (month - 7.0) - z / damping_m)
    soil_temp_k = 273.15 + soil_mean_degc + semi_amplitude * wave

    site_water = (0.08 + 0.22 * _sigmoid((precipitation - 1100.0) / 350.0) + 0.07 * clay / 60.0)[
        :, None, None
    ]
    seasonal = 1.0 + 0.25 * np.cos(omega * (month - 1.5))  # wettest in late winter
    deeper = 1.0 + 0.3 * (1.0 - np.exp(-z / 0.6))
    soil_water = np.clip(WATER_SCALAR_SHARE * site_water * seasonal * deeper, 0.01, 1.0)

    waterlogged = _sigmoid((site_water - 0.22) / 0.03)
    xio_layer = 1.0 - 0.1 * waterlogged * (1.0 - np.exp(-z / 1.0))
    fertilised = np.isin(cover, (1, 2))[:, None, None]
    xin_layer = (
        0.985
        - 0.10 * np.exp(-z / 0.03)
        - 0.27 * (1.0 - np.exp(-np.maximum(z - 1.2, 0.0) / 3.0))
        + 0.01 * fertilised
    )
    ones = np.ones((n, N_LAYERS, N_MONTHS))
    xio = np.clip(xio_layer, 0.0, 1.0) * ones
    xin = np.clip(xin_layer, 0.05, 1.0) * ones

    sand_top = 100.0 - clay - silt
    sand_sub = np.clip(sand_top - 0.1 * clay, 0.0, 100.0)
    sand = np.where(z <= 0.3, sand_top[:, None, None], sand_sub[:, None, None]) * ones

    annual = 100.0 + 520.0 * ndvi * _sigmoid((mat + 1.0) / 3.0)
    cwd_share = by_class(
        cover, {1: 0.05, 2: 0.02, 3: 0.05, 4: 0.42, 5: 0.25, 6: 0.05}, dtype=np.float64
    )
    litterfall = 0.5 + 1.5 * np.exp(2.0 * np.cos(omega * (month[0, 0] - 9.5)))
    litterfall = litterfall / litterfall.sum()  # autumn pulse, peak in October
    litter = (annual * (1.0 - cwd_share))[:, None] * litterfall[None, :]

    shares = litter_shares(cover, drivers["lon"], drivers["lat"])
    permafrost = mat < -1.0
    alt = np.where(permafrost, np.clip(0.4 + 0.35 * (mat + 4.0), 0.3, 1.9), NO_PERMAFROST_ALT_M)
    altmax = np.repeat(alt[:, None], N_MONTHS, axis=1)
    return {
        "inputs_cwd": np.repeat((annual * cwd_share / N_MONTHS)[:, None], N_MONTHS, axis=1),
        "inputs_litter1": shares[:, 0, None] * litter,
        "inputs_litter2": shares[:, 1, None] * litter,
        "inputs_litter3": shares[:, 2, None] * litter,
        "altmax_lastyear": altmax,
        "altmax_current": altmax.copy(),
        "nbedrock": np.asarray(drivers["nbedrock"], dtype=np.int64),
        "xio": xio,
        "xin": xin,
        "sand": sand,
        "soil_temp_k": soil_temp_k,
        "soil_water": soil_water,
    }


def litter_shares(landcover: np.ndarray, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Shares (n, 3) of the litter entering litter 1-3 (metabolic, cellulose, lignin).

    A mix ``(1 - q) METABOLIC_LITTER + q LIGNIN_RICH_LITTER`` whose lignin weight ``q`` is
    the land cover's :data:`LIGNIN_WEIGHT` plus ``LIGNIN_PATTERN_AMPLITUDE`` times
    ``sin(2 pi lon / 0.23) sin(2 pi lat / 0.17)`` (degrees), clipped to [0, 1]: species
    composition changing over ~20 km, finer than any covariate resolves.
    """
    base = by_class(np.asarray(landcover), LIGNIN_WEIGHT, dtype=np.float64)
    wave_lon, wave_lat = LIGNIN_PATTERN_WAVELENGTH_DEG
    pattern = np.sin(2 * np.pi * np.asarray(lon) / wave_lon) * np.sin(
        2 * np.pi * np.asarray(lat) / wave_lat
    )
    weight = np.clip(base + LIGNIN_PATTERN_AMPLITUDE * pattern, 0.0, 1.0)[:, None]
    return (1.0 - weight) * np.asarray(METABOLIC_LITTER) + weight * np.asarray(LIGNIN_RICH_LITTER)


def clm5_forcings(forcings: Mapping[str, np.ndarray]) -> Clm5Forcings:
    """The process model's forcings (float64 tensors) from arrays named as in ``FORCING_SHAPES``.

    The synthetic world has no permafrost: ``altmax_current`` and ``altmax_lastyear`` are the
    same, so :meth:`Clm5Forcings.from_arrays` takes either.
    """
    unknown = set(FORCING_SHAPES) ^ set(forcings)
    if unknown:
        raise SampleDataError(
            f"forcings do not match the layout: {sorted(unknown)}",
            field="forcings",
            fix=f"pass exactly {', '.join(FORCING_SHAPES)}",
        )
    return Clm5Forcings.from_arrays(forcings)


def simulate_soc_layers(
    physical: np.ndarray, forcings: Mapping[str, np.ndarray], *, batch_size: int = SOLVE_BATCH
) -> np.ndarray:
    """Steady-state SOC density per layer (n, 20), g C m-3, solved in float64 batches."""
    n = len(physical)
    out = np.empty((n, N_LAYERS), dtype=np.float64)
    with torch.no_grad():
        for start in range(0, n, batch_size):
            rows = slice(start, min(start + batch_size, n))
            part = clm5_forcings({name: values[rows] for name, values in forcings.items()})
            state = steady_state(torch.from_numpy(np.ascontiguousarray(physical[rows])), part)
            out[rows] = state.soc_gc_m3.numpy()
    return out


# ------------------------------------------------------------------------------ profiles
class SocProfiles(NamedTuple):
    """What :func:`soc_profile_set` returns; unpacks as ``profiles, truth``.

    Attributes
    ----------
    profiles
        Training profiles: 38 ``binn_ny`` covariates, forcings, NaN-padded SOC (g C m-3)
        at depths (m), ``covariate_ranges`` from :data:`COVARIATE_RANGES`.
    truth
        True physical parameters (n, 21), columns in ``PARAMETER_NAMES`` order, index
        ``profile_id`` (the same order as the profiles).
    """

    profiles: ProfileSet
    truth: pd.DataFrame


def soc_profile_set(
    n_sites: int,
    *,
    seed: int = 0,
    depths_per_site: tuple[int, int] = (3, 8),
    noise_sd_rel: float = 0.1,
    prescribed: PrescribedParameters = DEFAULT_PRESCRIBED,
) -> SocProfiles:
    """Simulate SOC profiles with CLM5 from parameters that are known covariate functions.

    Parameters
    ----------
    n_sites
        Number of profiles (ids 1..n).
    seed
        Same seed, same profiles (and the same bytes once written).
    depths_per_site
        Fewest and most observations per profile (inclusive), drawn uniformly.
    noise_sd_rel
        Relative standard deviation of the mean-one log-normal noise on each observation.
    prescribed
        The covariate -> parameter functions and fixed values.

    Returns
    -------
    SocProfiles
        ``(profiles, truth)``; see :class:`SocProfiles`.

    Raises
    ------
    ConfigError
        A non-positive ``n_sites``, a bad ``depths_per_site`` pair, a negative noise level or
        a bad seed.
    """
    _check_arguments(n_sites, seed, depths_per_site, noise_sd_rel)
    start = time.perf_counter()
    rng = component_rng(int(seed), "soc_profiles")
    drivers = sample_drivers(n_sites, substream(rng, "drivers"))
    covariates = covariate_table(drivers)
    forcings = forcing_arrays(drivers)
    physical = prescribed.physical(scale_covariates(covariates))
    soc_layers = simulate_soc_layers(physical, forcings)

    depth_m = _sample_depths(substream(rng, "depths"), drivers["nbedrock"], depths_per_site)
    observed = interpolate_to_depths(torch.from_numpy(soc_layers), torch.from_numpy(depth_m))
    sigma = math.sqrt(math.log1p(noise_sd_rel**2))
    noise = substream(rng, "noise").normal(0.0, 1.0, depth_m.shape)
    soc = observed.numpy() * np.exp(sigma * noise - sigma**2 / 2)
    ids = np.arange(1, n_sites + 1, dtype=np.int64)
    ranges = np.array([COVARIATE_RANGES[name] for name in ENV_COLUMNS], dtype=np.float64)
    profiles = ProfileSet(
        profile_id=ids,
        covariates=covariates,
        forcings=forcings,
        categorical=list(CATEGORICAL_COLUMNS),
        soc=soc,
        depth_m=depth_m,
        covariate_ranges=ranges,
    )
    truth = pd.DataFrame(
        physical, columns=list(PARAMETER_NAMES), index=pd.Index(ids, name="profile_id")
    )
    log.info("simulated %d SOC profiles in %.1f s", n_sites, time.perf_counter() - start)
    return SocProfiles(profiles, truth)


def _sample_depths(
    rng: np.random.Generator, nbedrock: np.ndarray, depths_per_site: tuple[int, int]
) -> np.ndarray:
    """(n, most) increasing depths inside each active column, NaN-padded, denser on top."""
    fewest, most = depths_per_site
    n = len(nbedrock)
    counts = rng.integers(fewest, most + 1, size=n)
    bottom = np.minimum(np.asarray(ZISOI_M)[nbedrock - 1], MAX_SAMPLE_DEPTH_M)
    draws = rng.uniform(0.0, 1.0, size=(n, most)) ** 1.6  # denser near the surface
    keep = np.arange(most)[None, :] < counts[:, None]
    # sorting after padding with inf puts each row's kept draws first, in increasing order
    ordered = np.sort(np.where(keep, draws, np.inf), axis=1)
    depth = MIN_SAMPLE_DEPTH_M + (bottom - MIN_SAMPLE_DEPTH_M)[:, None] * ordered
    return np.where(keep, depth, np.nan)


def _check_arguments(
    n_sites: int, seed: int, depths_per_site: tuple[int, int], noise_sd_rel: float
) -> None:
    check_whole(
        n_sites, name="n_sites", minimum=1, fix="ask for at least one site, e.g. n_sites=1000"
    )
    check_whole(seed, name="seed", minimum=0, fix="pass an integer such as 0")
    try:
        fewest, most = (int(v) for v in depths_per_site)
    except (TypeError, ValueError):
        fewest, most = 0, -1
    if not 1 <= fewest <= most:
        raise ConfigError(
            f"depths_per_site must be (fewest, most) with 1 <= fewest <= most, got "
            f"{depths_per_site!r}",
            field="depths_per_site",
            fix="pass two integers such as (3, 8)",
        )
    if not (math.isfinite(noise_sd_rel) and noise_sd_rel >= 0):
        raise ConfigError(
            f"noise_sd_rel must be a finite number >= 0, got {noise_sd_rel!r}",
            field="noise_sd_rel",
            fix="pass a relative standard deviation such as 0.1 (0 for no noise)",
        )


def describe_soc_profiles(
    n_sites: int, seed: int, prescribed: PrescribedParameters = DEFAULT_PRESCRIBED
) -> str:
    """README text of a written SOC profile folder."""
    landcover = ", ".join(f"{k} {v}" for k, v in LANDCOVER_CODES.items())
    orders = ", ".join(f"{k} {v}" for k, v in SOIL_ORDER_CODES.items())
    textures = ", ".join(f"{k} {v}" for k, v in TEXTURE_CODES.items())
    weights = ", ".join(f"{LANDCOVER_CODES[k]} {v:g}" for k, v in LIGNIN_WEIGHT.items())
    wave_lon, wave_lat = LIGNIN_PATTERN_WAVELENGTH_DEG
    split = "/".join(f"{100 * v:g}" for v in METABOLIC_LITTER)
    rich = "/".join(f"{100 * v:g}" for v in LIGNIN_RICH_LITTER)
    return f"""# Synthetic SOC profiles with known CLM5 parameters

{n_sites} profiles, seed {seed}, made by `geosoil.synthetic.soc_profile_set`. The same
seed gives the same bytes.

## Files
- `Training_Data/`: the `binn_ny` layout (`geosoil.io.profiles.read_binn_ny` reads it):
  `profile_id.txt`, `env_info.txt` (38 covariates, `ENV_COLUMNS` order, binn_ny units:
  pH x 10, bulk density kg m-3), `col_max_min.txt` (declared scaling ranges),
  `obs_soc_NY.txt` / `obs_soc_depth.txt` (SOC density g C m-3 at depths in m, NaN-padded),
  `model_force_*` (CLM5 forcings).
- `truth_parameters.csv`: `profile_id` and the 21 true physical CLM5 parameters.

## How the truth was made
SOC is the steady state of the CLM5 matrix model (`geosoil.process.steady_state`, float64)
read at 3 to 8 depths per profile between 0.02 m and min(bedrock depth, 2 m), times
mean-one log-normal noise. Parameters are functions of covariates min-max scaled by
`col_max_min.txt` (x in [0, 1]); u in [0, 1] maps linearly onto each parameter's bounds:

{prescribed.describe()}

Forcings: soil temperature = air MAT + 1 K + an annual wave of semi-amplitude
0.85 sqrt(2) BIO4/100 damped and delayed as exp(-z / 2.5 m); water scalar =
{WATER_SCALAR_SHARE:g} (0.08 + 0.22 sigmoid((MAP - 1100)/350) + 0.07 clay/60) x (1 + 0.25
cos(season)) x (1 + 0.3 (1 - exp(-z/0.6 m))), at most ~0.3 so that w_scaling x water scalar
stays below the cap of 1; xio and xin near 1 with small reductions at depth; annual input
= 100 + 520 NDVI sigmoid((MAT + 1)/3) g C m-2 yr-1, to CWD 42 % under forest (5 % under
crops and grass), the rest to litter 1-3 (metabolic, cellulose, lignin) with an October
pulse, split (1 - q) x {split} % + q x {rich} % with the lignin weight q = land-cover
weight ({weights}) + {LIGNIN_PATTERN_AMPLITUDE:g} sin(2 pi lon / {wave_lon:g}) sin(2 pi lat /
{wave_lat:g}), clipped to [0, 1]: species composition varying over ~20 km, which no
covariate describes; active layer 0.4 + 0.35 (MAT + 4) m where MAT < -1 degC, else
{NO_PERMAFROST_ALT_M} m.

Codes: land cover (`ESA_Land_Cover`) {landcover}; soil order (`USDA_Suborder`) {orders};
`WRB_Subgroup` = 10 x soil order + topsoil clay class (1 < 18 %, 2 < 35 %, 3 otherwise);
USDA texture {textures}; `Koppen_Climate_2018` in Beck et al. (2018) numbering.
"""
