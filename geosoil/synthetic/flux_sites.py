"""Synthetic flux towers whose land-surface parameters are known (DESIGN section 5, MdPL).

The truth chain, site by site:

1. **Attributes**: ``latitude_deg`` 30..60, ``longitude_deg``, ``elevation_m`` 0..2000,
   ``sand_fraction`` 0.05..0.9 and an IGBP class from :data:`IGBP_CLASSES`, drawn at random.
2. **Climate**: five site constants of the weather generator (:data:`CLIMATE_RANGES`: mean
   clearness, mean relative humidity, wet-day probability, mean storm depth, mean wind),
   drawn uniformly, so humid and dry, sunny and cloudy sites occur at every latitude.
3. **Weather** (:func:`weather_arrays`, :mod:`geosoil.synthetic.flux_weather`), a regular
   record in local solar time (the time stamp starts each step; the sun is taken at its
   middle): clear-sky shortwave from solar geometry at the site's latitude and day of year
   times a daily cloudiness factor; air temperature with a seasonal, a daily and a diurnal
   cycle and a lapse rate of 6.5 K km-1; VPD from the temperature and a daily relative
   humidity; log-normal wind; pressure by the barometric formula; precipitation as storms on
   wet days; Brutsaert longwave with clouds. One daily "wetness" process makes wet days
   cloudy, humid, cool and rainy together.
4. **Parameters** (:func:`true_parameters`, :mod:`geosoil.synthetic.flux_truth`): the eight
   land-surface parameters as declared smooth functions of the attributes and of the forcing
   summaries of the site's whole record (:data:`TRUTH_FUNCTIONS`), each led by a different
   driver, strictly inside the bounds of :data:`~geosoil.process.lsm_params.LSM_PARAMETERS`
   for any input.
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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr

from geosoil.errors import ConfigError
from geosoil.io.flux import FluxRecord
from geosoil.io.writers import staged_directory
from geosoil.process.lsm_forcing import FLUX_NAMES, FORCING_NAMES, LsmForcing
from geosoil.process.lsm_params import LSM_PARAMETER_NAMES
from geosoil.synthetic.flux_truth import (
    IGBP_CLASSES,
    IGBP_TRAITS,
    TRUTH_DRIVERS,
    TRUTH_FUNCTIONS,
    IgbpTraits,
    true_parameters,
)
from geosoil.synthetic.flux_weather import (
    CLIMATE_NAMES,
    CLIMATE_RANGES,
    SECONDS_PER_DAY,
    forcing_summary_arrays,
    saturation_vapour_pressure_kpa,
    weather_anomalies,
    weather_arrays,
)
from geosoil.synthetic.streams import check_whole, component_rng, substream

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
        saturation_vapour_pressure_kpa(site.forcing["tair_c"].to_numpy())
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


def _check_arguments(
    n_sites: Any,
    n_days: Any,
    time_step_s: Any,
    start: Any,
    seed: Any,
    noise_w_m2: Any,
    missing_fraction: Any,
) -> pd.Timestamp:
    check_whole(
        n_sites, name="n_sites", minimum=1, fix="ask for at least one site, e.g. n_sites=40"
    )
    check_whole(
        n_days, name="n_days", minimum=1, fix="give the record length in whole days, e.g. n_days=30"
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
    check_whole(seed, name="seed", minimum=0, fix="pass an integer such as 0")
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
