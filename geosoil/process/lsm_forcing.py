"""The meteorological forcing of the land surface model: a batch-first container.

One row per site (or per parameter set sharing a site's weather), one column per time step.
Units are fixed and in the field names; readers in :mod:`geosoil.io.flux` convert to them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from geosoil.errors import SampleDataError

__all__ = ["FLUX_NAMES", "FORCING_NAMES", "FORCING_UNITS", "LsmForcing"]

# canonical forcing variable -> unit; lw_in_w_m2 may be absent (estimated from air humidity)
FORCING_UNITS: dict[str, str] = {
    "sw_in_w_m2": "W m-2",
    "tair_c": "degC",
    "vpd_kpa": "kPa",
    "wind_m_s": "m s-1",
    "pressure_kpa": "kPa",
    "precip_mm": "mm per time step",
    "lw_in_w_m2": "W m-2",
}
FORCING_NAMES: tuple[str, ...] = tuple(FORCING_UNITS)
FLUX_NAMES: tuple[str, ...] = ("h_w_m2", "le_w_m2")

# plausible physical ranges: values outside mean a unit mix-up upstream
_RANGES: dict[str, tuple[float, float]] = {
    "sw_in_w_m2": (-50.0, 1500.0),
    "tair_c": (-80.0, 65.0),
    "vpd_kpa": (-0.5, 12.0),
    "wind_m_s": (0.0, 80.0),
    "pressure_kpa": (40.0, 110.0),
    "precip_mm": (0.0, 500.0),
    "lw_in_w_m2": (0.0, 800.0),
}


@dataclass(frozen=True)
class LsmForcing:
    """Forcing for ``n`` rows of ``t`` regular time steps.

    Attributes
    ----------
    sw_in_w_m2, tair_c, vpd_kpa, wind_m_s, pressure_kpa, precip_mm
        (n, t) tensors in the units of their names; precipitation is the depth fallen during
        each step.
    lw_in_w_m2
        (n, t) incoming longwave, or None to estimate it from air temperature and humidity.
    time_step_s
        Length of one step in seconds (1800 for half-hourly, 3600 for hourly).

    Raises
    ------
    SampleDataError
        On construction, for tensors of different shapes, non-finite values (gaps must be
        filled or cut upstream), values outside plausible ranges, or a non-positive step.
    """

    sw_in_w_m2: torch.Tensor
    tair_c: torch.Tensor
    vpd_kpa: torch.Tensor
    wind_m_s: torch.Tensor
    pressure_kpa: torch.Tensor
    precip_mm: torch.Tensor
    lw_in_w_m2: torch.Tensor | None
    time_step_s: float

    def __post_init__(self) -> None:
        if not self.time_step_s > 0:
            raise SampleDataError(
                f"time step is {self.time_step_s} s",
                field="time_step_s",
                fix="give the forcing's regular step in seconds (1800 for half-hourly)",
            )
        shape = self.sw_in_w_m2.shape
        for name in FORCING_NAMES:
            values = getattr(self, name)
            if values is None:
                continue
            if values.ndim != 2 or values.shape != shape:
                raise SampleDataError(
                    f"forcing {name} has shape {tuple(values.shape)}, sw_in_w_m2 has "
                    f"{tuple(shape)}",
                    field=name,
                    fix="give every forcing variable as an (n, t) tensor of the same shape",
                )
            if not bool(torch.isfinite(values).all()):
                raise SampleDataError(
                    f"forcing {name} has missing or non-finite values",
                    field=name,
                    fix="fill the gaps explicitly (the readers report and fill them when asked) "
                    "or cut the record",
                )
            low, high = _RANGES[name]
            if float(values.min()) < low or float(values.max()) > high:
                raise SampleDataError(
                    f"forcing {name} ranges {float(values.min()):g}..{float(values.max()):g} "
                    f"{FORCING_UNITS[name]}, outside the plausible {low:g}..{high:g}",
                    field=name,
                    fix=f"convert {name} to {FORCING_UNITS[name]} before running the model",
                )

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, time steps)."""
        return tuple(self.sw_in_w_m2.shape)

    def to(self, dtype: torch.dtype) -> LsmForcing:
        """The same forcing in another floating dtype."""
        values = {
            f.name: (None if getattr(self, f.name) is None else getattr(self, f.name).to(dtype))
            for f in fields(self)
            if f.name != "time_step_s"
        }
        return LsmForcing(**values, time_step_s=self.time_step_s)

    def expand(self, rows: int) -> LsmForcing:
        """Repeat a one-row forcing over ``rows`` rows (one per parameter set)."""
        if self.shape[0] == rows:
            return self
        if self.shape[0] != 1:
            raise SampleDataError(
                f"cannot expand a forcing of {self.shape[0]} rows to {rows}",
                field="forcing",
                fix="give one row per parameter set, or a single row to share",
            )
        values = {
            f.name: (
                None if getattr(self, f.name) is None else getattr(self, f.name).expand(rows, -1)
            )
            for f in fields(self)
            if f.name != "time_step_s"
        }
        return LsmForcing(**values, time_step_s=self.time_step_s)
