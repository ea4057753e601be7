"""ALMA / PLUMBER2 NetCDF flux-tower files as a :class:`~geosoil.io.flux.FluxRecord`.

PLUMBER2 (Ukkola et al. 2022, ESSD 14:449) ships each site as two single-point NetCDF files
written by FluxnetLSM: ``<site>_..._Met.nc`` with the forcing and ``<site>_..._Flux.nc``
with the evaluation fluxes. Variables have a ``time`` dimension plus size-1 spatial ones
(``y, x``, and ``z`` for the near-surface ones) and a ``units`` attribute; the time
coordinate is CF (``seconds since <start of the first step>``), read here as the start of
each step.

============ ======================== =====================================================
variable     units in PLUMBER2        becomes
============ ======================== =====================================================
SWdown       W/m2                     ``sw_in_w_m2``
LWdown       W/m2                     ``lw_in_w_m2`` (optional)
Tair         K                        ``tair_c``
VPD          hPa                      ``vpd_kpa``; without VPD, derived from Qair (kg/kg),
                                      Tair and Psurf
Wind         m/s                      ``wind_m_s``
Psurf        Pa                       ``pressure_kpa``
Precip       kg/m2/s                  ``precip_mm`` (depth per step); or Rainf (+ Snowf)
Qh, Qle      W/m2                     observed ``h_w_m2``, ``le_w_m2``; the energy-balance
                                      corrected ``Qh_cor``, ``Qle_cor`` when present and
                                      asked for; ``*_qc`` flags as in FLUXNET
============ ======================== =====================================================

Units are read from each variable's ``units`` attribute (a caller's ``units=`` overrides a
wrong one) and converted; magnitudes that contradict them are refused. Site attributes come
from the variables or global attributes ``latitude``, ``longitude``, ``elevation`` and
``IGBP_veg_short`` / ``IGBP_vegetation_type`` / ``IGBP_veg_long``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from geosoil.errors import InputFileNotFoundError, SampleDataError
from geosoil.io.flux import FluxRecord, record_from_columns
from geosoil.io.flux_checks import (
    check_max_qc,
    check_time_index,
    convert_units,
    declared_units,
    drop_flagged,
    unit_label,
)

__all__ = ["ALMA_SOURCES", "read_alma", "vpd_from_specific_humidity"]

log = logging.getLogger(__name__)

# ALMA variable -> canonical forcing variable (Precip is preferred to Rainf + Snowf)
ALMA_SOURCES: dict[str, str] = {
    "SWdown": "sw_in_w_m2",
    "Tair": "tair_c",
    "VPD": "vpd_kpa",
    "Wind": "wind_m_s",
    "Psurf": "pressure_kpa",
    "Precip": "precip_mm",
    "Rainf": "precip_mm",
    "LWdown": "lw_in_w_m2",
}
_IGBP_NAMES = ("IGBP_veg_short", "IGBP_vegetation_type", "IGBP_veg_long")
_MISSING = -9999.0
_HUMIDITY_UNITS = {"kg/kg": 1.0, "kgkg-1": 1.0, "1": 1.0, "-": 1.0, "g/kg": 1e-3, "gkg-1": 1e-3}


def vpd_from_specific_humidity(
    qair_kg_kg: np.ndarray, tair_c: np.ndarray, pressure_kpa: np.ndarray
) -> np.ndarray:
    """Vapour pressure deficit (kPa) from specific humidity, air temperature and pressure.

    ``e = q P / (0.622 + 0.378 q)`` and the FAO-56 saturation vapour pressure
    ``e_s = 0.6108 exp(17.27 T / (T + 237.3))``; ``VPD = max(e_s - e, 0)`` (a slightly
    supersaturated reading is fog or sensor noise, not a negative deficit).
    """
    q = np.asarray(qair_kg_kg, dtype=np.float64)
    t = np.asarray(tair_c, dtype=np.float64)
    vapour_kpa = q * np.asarray(pressure_kpa, dtype=np.float64) / (0.622 + 0.378 * q)
    saturation_kpa = 0.6108 * np.exp(17.27 * t / (t + 237.3))
    return np.maximum(saturation_kpa - vapour_kpa, 0.0)


def read_alma(
    met_path: str | Path,
    flux_path: str | Path | None = None,
    *,
    fill: Mapping[str, object] | None = None,
    max_qc: int | None = 1,
    site: str | None = None,
    corrected: bool = True,
    units: Mapping[str, str] | None = None,
    attributes: Mapping[str, Any] | None = None,
    max_gap_steps: int = 4,
) -> FluxRecord:
    """Read a PLUMBER2-style met file (and its flux file) as one record.

    Parameters
    ----------
    met_path
        The met NetCDF (forcing; it may hold the fluxes too).
    flux_path
        The flux NetCDF; None to take Qh and Qle from the met file (a record without
        them has all-missing observations, with a warning).
    fill
        Per forcing variable: a constant, ``"interpolate"`` or ``"mean_diurnal"``.
    max_qc
        Observed fluxes are kept where their ``*_qc`` flag is at most this (0 measured,
        1 good, 2 medium, 3 poor gap-filling); None keeps every value.
    site
        Site code; by default the ``site_code`` global attribute or the file name up to
        the first underscore.
    corrected
        Use the energy-balance corrected ``Qh_cor`` and ``Qle_cor`` when present.
    units
        Units that override the files' ``units`` attributes, e.g. ``{"Tair": "degC"}``
        (keys: ALMA names, canonical or short forcing names, or ``"Qair"``).
    attributes
        Site attributes the files lack or that the caller knows better, e.g. ``igbp``.
    max_gap_steps
        Longest gap ``"interpolate"`` bridges.

    Raises
    ------
    InputFileNotFoundError
        A file does not exist.
    SampleDataError
        A file is not NetCDF, has no CF time, holds more than one point, lacks SWdown,
        Tair or humidity (VPD or Qair), has a unit geosoil cannot convert or magnitudes
        that contradict it, or met and flux times differ.
    ConfigError
        Bad ``fill``, ``units``, ``max_qc`` or conflicting ``attributes``.
    """
    met_path = Path(met_path)
    check_max_qc(max_qc)
    overrides = dict(units or {})
    humidity_unit = overrides.pop("Qair", None)
    declared = declared_units(overrides, ALMA_SOURCES)
    with _open(met_path) as met:
        time = _time(met, met_path)
        step = check_time_index(time, path=met_path, site=site)
        for required in ("SWdown", "Tair"):
            if required not in met.variables:
                _missing_variable(met_path, required)
        columns = {}
        for name, variable in ALMA_SOURCES.items():
            if name in met.variables and name != "Rainf" and variable not in columns:
                unit = declared.get(variable) or _unit(met, name, met_path)
                columns[variable] = (_series(met, name, met_path), unit, name)
        if "precip_mm" not in columns and "Rainf" in met.variables:
            columns["precip_mm"] = _rain_and_snow(met, met_path, step, declared)
        if "vpd_kpa" not in columns:
            columns["vpd_kpa"] = _vpd_from_qair(met, met_path, step, columns, humidity_unit)
        file_attributes = _site_attributes(met, met_path)
        code = site or _site_code(met, met_path)
        if flux_path is None:
            observed = _observed(met, met_path, time, corrected, max_qc, code)
        else:
            flux_path = Path(flux_path)
            with _open(flux_path) as flux:
                flux_time = _time(flux, flux_path)
                if not flux_time.equals(time):
                    raise SampleDataError(
                        f"{code}: the flux file covers {flux_time[0]}..{flux_time[-1]} in "
                        f"{len(flux_time)} steps, the met file {time[0]}..{time[-1]} in "
                        f"{len(time)}",
                        path=flux_path,
                        field="time",
                        fix="give the met and flux files of the same site and period",
                    )
                observed = _observed(flux, flux_path, time, corrected, max_qc, code)
                for key, value in _site_attributes(flux, flux_path).items():
                    file_attributes.setdefault(key, value)
    record = record_from_columns(
        site=code,
        time=time,
        columns=columns,
        observed=observed,
        attributes=attributes,
        file_attributes=file_attributes,
        fill=fill,
        max_gap_steps=max_gap_steps,
        path=met_path,
    )
    log.info("read %r from %s", record, met_path)
    return record


def _open(path: Path) -> xr.Dataset:
    if not path.is_file():
        raise InputFileNotFoundError(
            "NetCDF file not found", path=path, fix="check the path of the ALMA met/flux file"
        )
    with path.open("rb") as handle:
        magic = handle.read(4)
    # classic NetCDF (3) through scipy, NetCDF4/HDF5 through h5netcdf
    engine = "scipy" if magic.startswith(b"CDF") else "h5netcdf"
    if not magic.startswith((b"CDF", b"\x89HDF")):
        raise SampleDataError(
            "the file is not NetCDF",
            path=path,
            field="file",
            fix="give an ALMA/PLUMBER2 NetCDF file (.nc)",
        )
    try:
        return xr.open_dataset(path, engine=engine)
    except (OSError, ValueError, TypeError) as exc:
        raise SampleDataError(
            f"cannot open the NetCDF file: {exc}",
            path=path,
            field="file",
            fix="check that the file is complete and CF-conformant (time with units)",
        ) from exc


def _missing_variable(path: Path, name: str) -> None:
    raise SampleDataError(
        f"the file has no {name} variable",
        path=path,
        field=name,
        fix=f"give the met file that holds {name} (ALMA names: {', '.join(ALMA_SOURCES)})",
    )


def _time(dataset: xr.Dataset, path: Path) -> pd.DatetimeIndex:
    if "time" not in dataset.coords and "time" not in dataset.variables:
        _missing_variable(path, "time")
    index = dataset.indexes.get("time")
    if index is not None and not isinstance(index, pd.DatetimeIndex):
        try:
            index = index.to_datetimeindex()
        except (AttributeError, ValueError) as exc:
            raise SampleDataError(
                f"time values cannot be read as dates ({exc})",
                path=path,
                field="time",
                fix="give time CF units such as 'seconds since 2005-01-01 00:00:00' on a "
                "standard calendar",
            ) from exc
    if index is None or not isinstance(index, pd.DatetimeIndex):
        raise SampleDataError(
            "time is not a decodable CF time coordinate",
            path=path,
            field="time",
            fix="give time CF units such as 'seconds since 2005-01-01 00:00:00'",
        )
    return pd.DatetimeIndex(index, name="time")


def _series(dataset: xr.Dataset, name: str, path: Path) -> np.ndarray:
    variable = dataset[name]
    if "time" not in variable.dims:
        raise SampleDataError(
            f"{name} has no time dimension (dims {variable.dims})",
            path=path,
            field=name,
            fix="give a time series per variable",
        )
    wide = {d: n for d, n in variable.sizes.items() if d != "time" and n != 1}
    if wide:
        raise SampleDataError(
            f"{name} has more than one point: {wide}",
            path=path,
            field=name,
            fix="give a single-site file (1x1 spatial dimensions), one per tower",
        )
    values = variable.squeeze([d for d in variable.dims if d != "time"]).values
    values = np.asarray(values, dtype=np.float64)
    return np.where(values == _MISSING, np.nan, values)


def _unit(dataset: xr.Dataset, name: str, path: Path) -> str:
    unit = dataset[name].attrs.get("units")
    if unit is None:
        raise SampleDataError(
            f"{name} has no units attribute",
            path=path,
            field=name,
            fix=f"declare its unit, e.g. units={{{name!r}: ...}}",
        )
    return str(unit)


def _rain_and_snow(
    dataset: xr.Dataset, path: Path, step_s: float, declared: Mapping[str, str]
) -> tuple[np.ndarray, str, str]:
    """Rainf plus Snowf (when present) in mm per step, keeping Rainf's unit when they agree."""
    rain_unit = declared.get("precip_mm") or _unit(dataset, "Rainf", path)
    rain = _series(dataset, "Rainf", path)
    if "Snowf" not in dataset.variables:
        return rain, rain_unit, "Rainf"
    snow_unit = declared.get("precip_mm") or _unit(dataset, "Snowf", path)
    snow = _series(dataset, "Snowf", path)
    if unit_label(rain_unit) == unit_label(snow_unit):
        return rain + snow, rain_unit, "Rainf"
    convert = {"step_s": step_s, "path": path}
    total = convert_units(rain, "precip_mm", rain_unit, source="Rainf", **convert)
    total = total + convert_units(snow, "precip_mm", snow_unit, source="Snowf", **convert)
    return total, "mm", "Rainf"


def _vpd_from_qair(
    dataset: xr.Dataset,
    path: Path,
    step_s: float,
    columns: Mapping[str, tuple[np.ndarray, str, str]],
    humidity_unit: str | None,
) -> tuple[np.ndarray, str, str]:
    for needed in ("Qair", "Psurf"):
        if needed not in dataset.variables:
            raise SampleDataError(
                f"the file has neither VPD nor the {needed} needed to derive it",
                path=path,
                field="VPD",
                fix="give a met file with VPD, or with Qair, Tair and Psurf",
            )
    unit = humidity_unit or _unit(dataset, "Qair", path)
    factor = _HUMIDITY_UNITS.get(str(unit).strip().lower().replace(" ", ""))
    if factor is None:
        raise SampleDataError(
            f"Qair has unit {unit!r}, which geosoil cannot read as specific humidity",
            path=path,
            field="Qair",
            fix="declare one of kg/kg, g/kg (units={'Qair': ...})",
        )
    q = _series(dataset, "Qair", path) * factor
    if np.nanmax(q, initial=0.0) > 0.1:
        raise SampleDataError(
            f"Qair reaches {np.nanmax(q):.3g} kg/kg, more than air can hold; it looks like g/kg",
            path=path,
            field="Qair",
            fix="declare units={'Qair': 'g/kg'}",
        )
    values = {}
    for variable in ("tair_c", "pressure_kpa"):
        raw, unit_of, source = columns[variable]
        values[variable] = convert_units(
            raw, variable, unit_of, step_s=step_s, source=source, path=path
        )
    log.info("%s: VPD derived from Qair, Tair and Psurf", path.name)
    vpd = vpd_from_specific_humidity(q, values["tair_c"], values["pressure_kpa"])
    return vpd, "kPa", "Qair"


def _observed(
    dataset: xr.Dataset,
    path: Path,
    time: pd.DatetimeIndex,
    corrected: bool,
    max_qc: int | None,
    site: str,
) -> dict[str, np.ndarray]:
    observed = {}
    for key, base in (("h_w_m2", "Qh"), ("le_w_m2", "Qle")):
        name = f"{base}_cor" if corrected and f"{base}_cor" in dataset.variables else base
        if corrected and name == base and base in dataset.variables:
            log.info("%s: no %s_cor in %s; using %s", site, base, path.name, base)
        if name not in dataset.variables:
            log.warning(
                "%s: %s has no %s; observed %s is missing throughout", site, path.name, base, key
            )
            observed[key] = np.full(len(time), np.nan)
            continue
        unit = _unit(dataset, name, path)
        if unit_label(unit) != "W m-2":
            raise SampleDataError(
                f"{name} has unit {unit!r}; fluxes must be in W m-2",
                path=path,
                field=name,
                fix="convert the flux to W m-2 (W/m2)",
            )
        values = _series(dataset, name, path)
        flag = next((f"{n}_qc" for n in (name, base) if f"{n}_qc" in dataset.variables), None)
        if max_qc is not None and flag is None:
            log.warning("%s: %s has no quality flag; every value is kept", site, name)
        elif max_qc is not None:
            flags = _series(dataset, flag, path)
            values = drop_flagged(values, flags, max_qc, site=site, name=name, flag=flag)
        observed[key] = values
    return observed


def _scalar(dataset: xr.Dataset, name: str) -> Any:
    """A site constant from a variable (numeric or character) or a global attribute."""
    if name in dataset.variables:
        values = np.asarray(dataset[name].values)
        if values.dtype.kind in "SUO":
            parts = [
                v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                for v in values.ravel()
            ]
            # a char array (nchar dimension) is one string spread over its cells
            return ("".join(parts) if values.dtype.kind == "S" else " ".join(parts)).strip()
        finite = values.astype(np.float64).ravel()
        finite = finite[np.isfinite(finite) & (finite != _MISSING)]
        return float(finite[0]) if finite.size else None
    return dataset.attrs.get(name)


def _site_attributes(dataset: xr.Dataset, path: Path) -> dict[str, Any]:
    attributes = {}
    for key, names in (
        ("latitude_deg", ("latitude", "lat")),
        ("longitude_deg", ("longitude", "lon")),
        ("elevation_m", ("elevation",)),
        ("igbp", _IGBP_NAMES),
    ):
        for name in names:
            value = _scalar(dataset, name)
            if value is not None and value != "":
                attributes[key] = value
                break
    return attributes


def _site_code(dataset: xr.Dataset, path: Path) -> str:
    code = dataset.attrs.get("site_code")
    if code:
        return str(code).strip()
    return path.stem.split("_")[0]
