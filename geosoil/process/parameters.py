"""Process-model parameters declared as data: name, unit, bounds, meaning; and their checks.

Every process model in :mod:`geosoil.process` declares its parameters as a tuple of
:class:`ParameterSpec`; the networks that learn them emit values in [0, 1], mapped linearly
onto the bounds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from geosoil.errors import ConfigError

__all__ = [
    "ParameterSpec",
    "bounds_of",
    "check_within_bounds",
    "scale_to_bounds",
    "unscale_from_bounds",
]


@dataclass(frozen=True)
class ParameterSpec:
    """One model parameter: its name, unit, bounds and meaning."""

    name: str
    unit: str
    lower: float
    upper: float
    meaning: str


def check_within_bounds(
    values: Mapping[str, float],
    specs: Sequence[ParameterSpec],
    *,
    model: str,
    field_prefix: str = "parameters",
) -> None:
    """Refuse hand-given physical values that are unknown, non-finite or outside the bounds.

    Parameters
    ----------
    values
        Parameter name -> physical value.
    specs
        The model's parameter table.
    model
        The model's name in messages, e.g. ``"CLM5"``; empty for plain "parameter".
    field_prefix
        The config section the values come from.

    Raises
    ------
    ConfigError
        ``field`` is ``<field_prefix>.<name>``; the message gives the bounds and the unit.
        A value that is not a number is outside the bounds too.
    """
    by_name = {spec.name: spec for spec in specs}
    noun = f"{model} parameter" if model else "parameter"
    for name, value in values.items():
        if name not in by_name:
            raise ConfigError(
                f"unknown {noun} {name!r}",
                field=f"{field_prefix}.{name}",
                fix=f"use one of: {', '.join(by_name)}",
            )
        spec = by_name[name]
        try:
            number, shown = float(value), f"{float(value):g}"
        except (TypeError, ValueError):
            number, shown = math.nan, repr(value)
        if not (math.isfinite(number) and spec.lower <= number <= spec.upper):
            raise ConfigError(
                f"{noun} {name} = {shown} {spec.unit} is outside its bounds "
                f"[{spec.lower:g}, {spec.upper:g}]",
                field=f"{field_prefix}.{name}",
                fix=f"give {name} ({spec.meaning}) a value between {spec.lower:g} and "
                f"{spec.upper:g} {spec.unit}",
            )


def bounds_of(
    specs: Sequence[ParameterSpec],
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lower and upper bounds as two tensors of shape (len(specs),), in table order."""
    lower = torch.tensor([p.lower for p in specs], dtype=dtype, device=device)
    upper = torch.tensor([p.upper for p in specs], dtype=dtype, device=device)
    return lower, upper


def _check_width(
    values: torch.Tensor, specs: Sequence[ParameterSpec], model: str, what: str
) -> None:
    n = len(specs)
    if values.shape[-1:] != (n,):
        raise ConfigError(
            f"{what} has shape {tuple(values.shape)}; its last axis must hold the "
            f"{n} {model} parameters",
            field="parameters",
            fix=f"pass a (..., {n}) tensor in the order {', '.join(p.name for p in specs)}",
        )


def scale_to_bounds(
    unit01: torch.Tensor, specs: Sequence[ParameterSpec], *, model: str
) -> torch.Tensor:
    """Map values in [0, 1] linearly onto the declared bounds, (..., n) -> (..., n).

    0 gives the lower bound, 1 the upper bound; values outside [0, 1] are extrapolated,
    not clipped (the caller's network or penalty keeps them inside). ``model`` names the
    parameters in the error raised for a last axis that does not hold one per spec.
    """
    _check_width(unit01, specs, model, "unit parameters")
    lower, upper = bounds_of(specs, dtype=unit01.dtype, device=unit01.device)
    return lower + unit01 * (upper - lower)


def unscale_from_bounds(
    physical: torch.Tensor, specs: Sequence[ParameterSpec], *, model: str
) -> torch.Tensor:
    """Inverse of :func:`scale_to_bounds`: physical values (..., n) -> [0, 1]."""
    _check_width(physical, specs, model, "physical parameters")
    lower, upper = bounds_of(specs, dtype=physical.dtype, device=physical.device)
    return (physical - lower) / (upper - lower)
