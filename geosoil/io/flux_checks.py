"""Checks shared by the flux-tower readers: variables, units, time steps, gaps and filling.

Everything here works on plain arrays, DatetimeIndexes and DataFrames whose columns are the
canonical forcing names of :data:`geosoil.process.lsm_forcing.FORCING_NAMES`, so the CSV
readers (:mod:`geosoil.io.flux`) and the NetCDF reader (:mod:`geosoil.io.alma`) share one
honest treatment of what a file holds:

- a unit is declared for every source column (the reader's default for its layout, or the
  caller's ``units=``) and converted; magnitudes that contradict the declared unit are refused
  with the unit they look like, never guessed;
- the time index must be sorted, without duplicates, at one regular step;
- gaps are reported, and filled only where the caller asks, per variable.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from geosoil.errors import ConfigError, SampleDataError
from geosoil.process.lsm_forcing import FORCING_NAMES, FORCING_UNITS

__all__ = [
    "FILL_METHODS",
    "IGBP_CLASSES",
    "PPFD_PER_SW_UMOL_J",
    "UNIT_CHOICES",
    "check_fill",
    "check_magnitudes",
    "check_max_qc",
    "check_time_index",
    "convert_units",
    "declared_units",
    "drop_flagged",
    "fill_gaps",
    "forcing_variable",
    "gap_table",
    "igbp_code",
    "unit_label",
]

log = logging.getLogger(__name__)

# Photosynthetic photon flux density per watt of shortwave: PAR is about 46 % of global
# radiation and carries about 4.57 umol J-1 (McCree 1972; Meek et al. 1984), so
# SW (W m-2) = PPFD (umol m-2 s-1) / 2.11.
PPFD_PER_SW_UMOL_J = 2.11

FILL_METHODS: tuple[str, ...] = ("interpolate", "mean_diurnal")

# Short names callers may use for the canonical forcing variables (units={"vpd": "hPa"}).
_SHORT_NAMES = {
    "sw_in": "sw_in_w_m2",
    "tair": "tair_c",
    "vpd": "vpd_kpa",
    "wind": "wind_m_s",
    "pressure": "pressure_kpa",
    "precip": "precip_mm",
    "lw_in": "lw_in_w_m2",
}


def _same(values: np.ndarray, step_s: float) -> np.ndarray:
    return values


# variable -> unit label -> conversion to the canonical unit (values, step in s)
_CONVERSIONS: dict[str, dict[str, Callable[[np.ndarray, float], np.ndarray]]] = {
    "sw_in_w_m2": {
        "W m-2": _same,
        "umol m-2 s-1": lambda v, s: v / PPFD_PER_SW_UMOL_J,
    },
    "tair_c": {"degC": _same, "K": lambda v, s: v - 273.15},
    "vpd_kpa": {"kPa": _same, "hPa": lambda v, s: v / 10.0, "Pa": lambda v, s: v / 1000.0},
    "wind_m_s": {"m s-1": _same},
    "pressure_kpa": {"kPa": _same, "hPa": lambda v, s: v / 10.0, "Pa": lambda v, s: v / 1000.0},
    "precip_mm": {
        "mm": _same,
        "kg m-2 s-1": lambda v, s: v * s,
        "mm h-1": lambda v, s: v * s / 3600.0,
    },
    "lw_in_w_m2": {"W m-2": _same},
}
UNIT_CHOICES: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in _CONVERSIONS.items()}

# spellings found in files, after _normalize, -> unit label
_SPELLINGS = {
    "W m-2": ("wm-2", "w/m2", "wm2"),
    "umol m-2 s-1": ("umolm-2s-1", "umol/m2/s", "umol/m2s", "umolphotonsm-2s-1"),
    "degC": ("degc", "c", "°c", "degreesc", "degreec", "celsius", "degreescelsius"),
    "K": ("k", "kelvin"),
    "kPa": ("kpa",),
    "hPa": ("hpa", "mbar", "mb"),
    "Pa": ("pa",),
    "m s-1": ("ms-1", "m/s"),
    "mm": ("mm", "kgm-2", "kg/m2", "mmperstep", "mmpertimestep"),
    "kg m-2 s-1": ("kgm-2s-1", "kg/m2/s", "kg/m2s", "mm/s", "mms-1"),
    "mm h-1": ("mmh-1", "mm/h", "mm/hr"),
}
_LABELS = {spelling: label for label, spellings in _SPELLINGS.items() for spelling in spellings}

# IGBP land-cover classes (MODIS MCD12Q1 type 1): code -> long name
IGBP_CLASSES: dict[str, str] = {
    "ENF": "Evergreen Needleleaf Forests",
    "EBF": "Evergreen Broadleaf Forests",
    "DNF": "Deciduous Needleleaf Forests",
    "DBF": "Deciduous Broadleaf Forests",
    "MF": "Mixed Forests",
    "CSH": "Closed Shrublands",
    "OSH": "Open Shrublands",
    "WSA": "Woody Savannas",
    "SAV": "Savannas",
    "GRA": "Grasslands",
    "WET": "Permanent Wetlands",
    "CRO": "Croplands",
    "URB": "Urban and Built-up Lands",
    "CVM": "Cropland/Natural Vegetation Mosaics",
    "SNO": "Permanent Snow and Ice",
    "BSV": "Barren",
    "WAT": "Water Bodies",
}


def _igbp_key(text: str) -> str:
    return re.sub(r"[^a-z]", "", re.sub(r"s\b", "", text.lower()))


_IGBP_BY_NAME = {_igbp_key(name): code for code, name in IGBP_CLASSES.items()}


def _normalize(unit: str) -> str:
    text = unit.strip().lower().replace("µ", "u").replace("μ", "u")
    return re.sub(r"[\s^*_·]", "", text)


def unit_label(unit: str) -> str | None:
    """The unit label (``"hPa"``, ``"W m-2"``, ...) a spelling stands for, or None."""
    return _LABELS.get(_normalize(str(unit)))


def forcing_variable(key: str, *, sources: Mapping[str, str] | None = None) -> str | None:
    """The canonical forcing name a key means, or None when it means none.

    Parameters
    ----------
    key
        A canonical name (``"vpd_kpa"``), a short name (``"vpd"``, any case) or the name of
        the source column or variable that feeds a variable (``"VPD"``, ``"PPFD"``).
    sources
        Source column -> canonical name, for the layout being read.
    """
    if key in FORCING_UNITS:
        return key
    if sources and key in sources:
        return sources[key]
    return _SHORT_NAMES.get(key.lower())


def convert_units(
    values: np.ndarray,
    variable: str,
    unit: str,
    *,
    step_s: float,
    source: str,
    path: str | Path | None = None,
) -> np.ndarray:
    """Convert ``values`` of a source column in ``unit`` to the canonical unit of ``variable``.

    Raises
    ------
    SampleDataError
        For a unit this variable cannot be in; the fix lists the accepted ones.
    """
    label = unit_label(unit)
    choices = _CONVERSIONS[variable]
    if label not in choices:
        raise SampleDataError(
            f"{source} (read as {variable}) has unit {unit!r}, which geosoil cannot convert "
            f"to {FORCING_UNITS[variable]}",
            path=path,
            field=source,
            fix=f"declare one of {', '.join(choices)} for {source} (units={{{source!r}: ...}}) "
            "or convert the column first",
        )
    return choices[label](np.asarray(values, dtype=np.float64), step_s)


def check_magnitudes(
    values: np.ndarray,
    variable: str,
    *,
    unit: str,
    source: str,
    path: str | Path | None = None,
    site: str | None = None,
) -> None:
    """Refuse converted values whose magnitude contradicts the unit they were declared in.

    ``values`` are already in the canonical unit of ``variable``, converted from ``unit``.
    The tests are loose enough that any real site passes: VPD with a 99th percentile above
    8 kPa (hPa read as kPa), air temperature with a median above 200 degC (kelvin read as
    degC) or below -100 degC (degC read as kelvin), pressure with a median outside
    40..200 kPa (Pa or hPa read as kPa), precipitation never above 0.01 mm in a step although
    it rains (a rate in kg m-2 s-1 read as mm per step) or above 300 mm in a step (the
    reverse), shortwave above 1500 W m-2 (PPFD read as W m-2).

    Raises
    ------
    SampleDataError
        Naming the column, the statistic and the unit the values look like.
    """
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return
    label = unit_label(unit) or unit
    # back to the declared unit, to tell which other unit would make sense of the values
    to_canonical = _CONVERSIONS[variable].get(label, _same)
    scale = float(to_canonical(np.array(1.0), 1.0)) - float(to_canonical(np.array(0.0), 1.0))
    offset = float(to_canonical(np.array(0.0), 1.0))

    def guess(value: float, band: tuple[float, float]) -> str:
        raw = (value - offset) / scale
        for other, convert in _CONVERSIONS[variable].items():
            if other != label and band[0] <= float(convert(np.array(raw), 1800.0)) <= band[1]:
                return other
        return "another unit"

    problem: tuple[str, str] | None = None  # (what is seen, the unit it suggests)
    if variable == "vpd_kpa":
        p99 = float(np.percentile(finite, 99))
        if p99 > 8.0:
            problem = (f"a 99th percentile of {p99:.3g} kPa", guess(p99, (0.2, 8.0)))
    elif variable == "tair_c":
        median = float(np.median(finite))
        if not -100.0 <= median <= 200.0:
            problem = (f"a median of {median:.4g} degC", guess(median, (-60.0, 60.0)))
    elif variable == "pressure_kpa":
        median = float(np.median(finite))
        if not 40.0 <= median <= 200.0:
            problem = (f"a median of {median:.4g} kPa", guess(median, (40.0, 200.0)))
    elif variable == "precip_mm":
        largest = float(finite.max())
        if 0.0 < largest < 0.01:
            problem = (f"no step above {largest:.3g} mm although it rains", "kg m-2 s-1")
        elif largest > 300.0:
            problem = (f"a step with {largest:.4g} mm", "mm" if label != "mm" else "another unit")
    elif variable == "sw_in_w_m2":
        largest = float(finite.max())
        if largest > 1500.0:
            problem = (f"a maximum of {largest:.4g} W m-2", "umol m-2 s-1")
    if problem is None:
        return
    seen, likely = problem
    where = f"{site}: " if site else ""
    if likely == "another unit":
        fix = f"check the unit of {source} in the file's documentation and declare it (units=)"
    else:
        fix = (
            f"declare the unit the column is really in, e.g. units={{{source!r}: {likely!r}}}, "
            "after checking the file's documentation"
        )
    raise SampleDataError(
        f"{where}{source} declared in {unit} gives {variable} with {seen}; the values look "
        f"like {likely}, not {unit}",
        path=path,
        field=source,
        fix=fix,
    )


def check_max_qc(max_qc: int | None, *, flags: str = "quality flag") -> None:
    """Refuse a ``max_qc`` that is neither None nor a quality flag 0-3 (``flags`` names them)."""
    if max_qc is not None and max_qc not in (0, 1, 2, 3):
        raise ConfigError(
            f"max_qc is {max_qc!r}",
            field="max_qc",
            fix=f"give the worst {flags} to keep: 0, 1, 2 or 3 (or None for all)",
        )


def drop_flagged(
    values: np.ndarray, flags: np.ndarray, max_qc: int, *, site: str, name: str, flag: str
) -> np.ndarray:
    """``values`` with NaN where their quality ``flags`` are above ``max_qc`` or missing.

    Logs how many of ``name``'s values were left out (``flag`` names the flag column).
    """
    rejected = np.isfinite(values) & ~(flags <= max_qc)
    log.info(
        "%s: %d of %d %s values have %s above %d (or none) and are left out",
        site,
        int(rejected.sum()),
        len(values),
        name,
        flag,
        max_qc,
    )
    return np.where(rejected, np.nan, values)


def check_time_index(
    time: pd.DatetimeIndex, *, path: str | Path | None = None, site: str | None = None
) -> float:
    """The regular step of a time index, in seconds, refusing anything irregular.

    Raises
    ------
    SampleDataError
        Fewer than two times, missing times, unsorted rows, duplicated timestamps, or a step
        that changes (naming the first offending timestamp and the step found there).
    """
    where = f"{site}: " if site else ""
    fix_order = "sort the rows by time and remove repeated ones"
    if not isinstance(time, pd.DatetimeIndex) or len(time) < 2:
        raise SampleDataError(
            f"{where}a flux record needs at least two timestamps, got {len(time)}",
            path=path,
            field="time",
            fix="give a regular time series of at least two steps",
        )
    if time.hasnans:
        first = int(np.flatnonzero(time.isna())[0])
        raise SampleDataError(
            f"{where}timestamp of row {first} is missing",
            path=path,
            field="time",
            fix="complete the time columns of every row",
        )
    steps = np.diff(time.as_unit("ns").asi8) / 1e9
    backwards = np.flatnonzero(steps < 0)
    if backwards.size:
        i = int(backwards[0]) + 1
        raise SampleDataError(
            f"{where}rows are not in time order: {time[i]} comes after {time[i - 1]}",
            path=path,
            field="time",
            fix=fix_order,
        )
    repeated = np.flatnonzero(steps == 0)
    if repeated.size:
        i = int(repeated[0]) + 1
        raise SampleDataError(
            f"{where}timestamp {time[i]} appears more than once",
            path=path,
            field="time",
            fix=fix_order,
        )
    values, counts = np.unique(steps, return_counts=True)
    step = float(values[np.argmax(counts)])
    irregular = np.flatnonzero(steps != step)
    if irregular.size:
        i = int(irregular[0]) + 1
        raise SampleDataError(
            f"{where}time step is not regular: {time[i]} follows {time[i - 1]} after "
            f"{steps[i - 1]:g} s, while the record's step is {step:g} s",
            path=path,
            field="time",
            fix="give one row per step without missing rows (missing values as empty cells), "
            "or cut the record at the break",
        )
    return step


def _runs(missing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start positions and lengths of the runs of True in a 1-D boolean array."""
    edges = np.diff(np.concatenate([[0], missing.astype(np.int8), [0]]))
    starts = np.flatnonzero(edges == 1)
    return starts, np.flatnonzero(edges == -1) - starts


def gap_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Missing values per column of a time-indexed frame.

    Returns
    -------
    pandas.DataFrame
        One row per column: ``variable``, ``n_missing``, ``share`` (0..1),
        ``longest_gap_steps`` and ``first_missing`` (the index label, NaT when complete).
    """
    rows = []
    n = len(frame)
    for name in frame.columns:
        missing = ~np.isfinite(frame[name].to_numpy(dtype=np.float64))
        _, lengths = _runs(missing)
        count = int(missing.sum())
        rows.append(
            {
                "variable": name,
                "n_missing": count,
                "share": count / n if n else math.nan,
                "longest_gap_steps": int(lengths.max()) if lengths.size else 0,
                "first_missing": frame.index[int(np.argmax(missing))] if count else pd.NaT,
            }
        )
    columns = ["variable", "n_missing", "share", "longest_gap_steps", "first_missing"]
    return pd.DataFrame(rows, columns=columns)


def check_fill(fill: Mapping[str, object] | None) -> dict[str, float | str]:
    """Validate a ``fill`` mapping: canonical (or short) forcing name -> constant or method.

    Raises
    ------
    ConfigError
        For a key that is not a forcing variable (observed fluxes are never filled) or a
        value that is neither a finite number nor one of :data:`FILL_METHODS`.
    """
    checked: dict[str, float | str] = {}
    for key, how in (fill or {}).items():
        variable = forcing_variable(str(key))
        if variable is None:
            raise ConfigError(
                f"cannot fill {key!r}: it is not a forcing variable"
                + (" (observed fluxes are never filled)" if "w_m2" in str(key) else ""),
                field=f"fill.{key}",
                fix=f"fill only forcing variables: {', '.join(FORCING_NAMES)}",
            )
        if isinstance(how, str):
            if how not in FILL_METHODS:
                raise ConfigError(
                    f"unknown fill method {how!r} for {variable}",
                    field=f"fill.{key}",
                    fix=f"give a constant in {FORCING_UNITS[variable]} or one of "
                    f"{', '.join(FILL_METHODS)}",
                )
            checked[variable] = how
            continue
        try:
            value = float(how)
        except (TypeError, ValueError):
            value = math.nan
        if isinstance(how, bool) or not math.isfinite(value):
            raise ConfigError(
                f"fill value {how!r} for {variable} is not a finite number or a method",
                field=f"fill.{key}",
                fix=f"give a constant in {FORCING_UNITS[variable]} or one of "
                f"{', '.join(FILL_METHODS)}",
            )
        checked[variable] = value
    return checked


def _interpolate(values: np.ndarray, max_gap_steps: int) -> np.ndarray:
    missing = ~np.isfinite(values)
    out = values.copy()
    positions = np.arange(len(values))
    known = np.flatnonzero(~missing)
    for start, length in zip(*_runs(missing), strict=True):
        # only gaps with a value on both sides and no longer than the limit
        if start == 0 or start + length == len(values) or length > max_gap_steps:
            continue
        span = positions[start : start + length]
        out[span] = np.interp(span, known, values[known])
    return out


def _mean_diurnal(values: np.ndarray, time: pd.DatetimeIndex) -> np.ndarray:
    seconds = (time - time.normalize()).total_seconds().to_numpy()
    table = pd.Series(values).groupby(seconds).mean()
    missing = ~np.isfinite(values)
    out = values.copy()
    out[missing] = table.reindex(seconds[missing]).to_numpy()
    return out


def fill_gaps(
    forcing: pd.DataFrame,
    fill: Mapping[str, object] | None,
    *,
    max_gap_steps: int = 4,
    site: str | None = None,
) -> pd.DataFrame:
    """Fill the forcing gaps the caller asked for, per variable, and log what was filled.

    Parameters
    ----------
    forcing
        Canonical forcing columns indexed by time.
    fill
        Canonical (or short) forcing name -> a constant in the canonical unit (fills the
        missing steps, or the whole column of a variable the file lacks), ``"interpolate"``
        (linear in time across gaps of at most ``max_gap_steps``, with a value on both
        sides) or ``"mean_diurnal"`` (the mean of the same time of day over the record).
        Variables not named are left as they are.
    max_gap_steps
        Longest gap ``"interpolate"`` bridges; longer gaps stay and are refused later.

    Returns
    -------
    pandas.DataFrame
        A new frame; columns created for constants of absent variables.

    Raises
    ------
    ConfigError
        For a bad ``fill`` (see :func:`check_fill`) or ``max_gap_steps`` below 1, or a
        method asked for a variable the file does not have at all.
    """
    if int(max_gap_steps) < 1:
        raise ConfigError(
            f"max_gap_steps is {max_gap_steps}",
            field="max_gap_steps",
            fix="give the longest gap to interpolate across, in steps (1 or more)",
        )
    out = forcing.copy()
    where = f"{site}: " if site else ""
    for variable, how in check_fill(fill).items():
        present = variable in out.columns
        before = (
            out[variable].to_numpy(dtype=np.float64)
            if present
            else np.full(len(out), np.nan, dtype=np.float64)
        )
        missing = ~np.isfinite(before)
        if isinstance(how, str) and not (~missing).any():
            raise ConfigError(
                f"{where}cannot {how.replace('_', ' ')} {variable}: the record has no value of it",
                field=f"fill.{variable}",
                fix=f"give a constant in {FORCING_UNITS[variable]} instead",
            )
        if not missing.any():
            continue
        if how == "interpolate":
            after = _interpolate(before, int(max_gap_steps))
        elif how == "mean_diurnal":
            after = _mean_diurnal(before, pd.DatetimeIndex(out.index))
        else:
            after = np.where(missing, float(how), before)
        filled = int(missing.sum() - (~np.isfinite(after)).sum())
        left = int((~np.isfinite(after)).sum())
        out[variable] = after
        log.info(
            "%sfilled %d of %d %s values (%s)%s",
            where,
            filled,
            len(out),
            variable,
            how if isinstance(how, str) else f"constant {how:g} {FORCING_UNITS[variable]}",
            f"; {left} remain in gaps it cannot fill" if left else "",
        )
        if left:
            log.warning(
                "%s%d %s values remain missing after %s; a forcing cannot be built until "
                "they are filled another way or the record is cut",
                where,
                left,
                variable,
                how,
            )
    return out


def igbp_code(value: object, *, path: str | Path | None = None, field: str = "igbp") -> str | None:
    """The IGBP code of a short code or long class name; None for an empty value.

    Raises
    ------
    SampleDataError
        For a value that names no IGBP class.
    """
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    text = str(value).strip().strip("\x00").strip()
    if not text or text.lower() in {"nan", "none", "na"}:
        return None
    if text.upper() in IGBP_CLASSES:
        return text.upper()
    code = _IGBP_BY_NAME.get(_igbp_key(text))
    if code is None:
        raise SampleDataError(
            f"land cover {text!r} is not an IGBP class",
            path=path,
            field=field,
            fix=f"give an IGBP code: {', '.join(IGBP_CLASSES)}",
        )
    return code


def declared_units(units: Mapping[str, str] | None, sources: Mapping[str, str]) -> dict[str, str]:
    """The units a caller declares, as canonical variable -> unit label.

    Parameters
    ----------
    units
        Key: a canonical name (``"vpd_kpa"``), a short name (``"vpd"``) or a source column
        of the layout (``"VPD"``); value: the unit the file's column is in (``"hPa"``).
    sources
        Source column -> canonical variable for the layout being read.

    Raises
    ------
    ConfigError
        For a key that names no forcing variable of the layout, or a unit the variable
        cannot be converted from.
    """
    declared: dict[str, str] = {}
    for key, unit in (units or {}).items():
        variable = forcing_variable(str(key), sources=sources)
        if variable is None:
            raise ConfigError(
                f"units names {key!r}, which is no forcing variable of this file",
                field=f"units.{key}",
                fix=f"use a source column ({', '.join(sources)}) or a forcing name "
                f"({', '.join(FORCING_NAMES)})",
            )
        label = unit_label(str(unit))
        if label not in _CONVERSIONS[variable]:
            raise ConfigError(
                f"unit {unit!r} declared for {key} cannot be converted to "
                f"{FORCING_UNITS[variable]}",
                field=f"units.{key}",
                fix=f"declare one of {', '.join(_CONVERSIONS[variable])}",
            )
        declared[variable] = label
    return declared
