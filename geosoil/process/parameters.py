"""Process-model parameters declared as data: name, unit, bounds, meaning; and their checks.

Every process model in :mod:`geosoil.process` declares its parameters as a tuple of
:class:`ParameterSpec`; the networks that learn them emit values in [0, 1], mapped linearly
onto the bounds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from geosoil.errors import ConfigError

__all__ = ["ParameterSpec", "check_within_bounds"]


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
        The model's name in messages, e.g. ``"CLM5"``.
    field_prefix
        The config section the values come from.

    Raises
    ------
    ConfigError
        ``field`` is ``<field_prefix>.<name>``; the message gives the bounds and the unit.
    """
    by_name = {spec.name: spec for spec in specs}
    for name, value in values.items():
        if name not in by_name:
            raise ConfigError(
                f"unknown {model} parameter {name!r}",
                field=f"{field_prefix}.{name}",
                fix=f"use one of: {', '.join(by_name)}",
            )
        spec = by_name[name]
        value = float(value)
        if not (math.isfinite(value) and spec.lower <= value <= spec.upper):
            raise ConfigError(
                f"{model} parameter {name} = {value:g} {spec.unit} is outside its bounds "
                f"[{spec.lower:g}, {spec.upper:g}]",
                field=f"{field_prefix}.{name}",
                fix=f"give {name} ({spec.meaning}) a value between {spec.lower:g} and "
                f"{spec.upper:g} {spec.unit}",
            )
