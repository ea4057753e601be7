"""The land surface model as a black box: anything that maps parameters to H and LE.

The MdPL workflow samples parameters, runs a simulator, trains a surrogate on the result and
evaluates calibrated parameters in the simulator again. It needs no gradient from the
simulator, only :class:`Simulator`: declared parameters (names, units, bounds) and
``run(forcing, parameters) -> (n, 2, t)`` float32 [H, LE] in W m-2. Three kinds:

- :class:`LsmSimulator`: geosoil's own bulk model (:mod:`geosoil.process.lsm`);
- :class:`CallableSimulator`: a Python function of the user's;
- :class:`~geosoil.models.lsm.simulator_command.CommandSimulator`: an external program, run once
  per parameter set through files (the file contract is in
  :mod:`geosoil.models.lsm.simulator_command`), importable from here too.

:func:`simulator_from_spec` builds any of them from a config mapping.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from geosoil.errors import ConfigError, GeoSoilError, SimulatorError
from geosoil.models.lsm.simulator_base import (
    Simulator,
    SimulatorBase,
    checked_defaults,
    checked_specs,
)
from geosoil.models.lsm.simulator_command import CommandSimulator
from geosoil.process.lsm import simulate
from geosoil.process.lsm_forcing import LsmForcing
from geosoil.process.lsm_params import LSM_PARAMETERS
from geosoil.process.parameters import ParameterSpec

__all__ = [
    "CallableSimulator",
    "CommandSimulator",
    "LsmSimulator",
    "Simulator",
    "SimulatorError",
    "simulator_from_spec",
]


class LsmSimulator(SimulatorBase):
    """geosoil's bulk land surface model (:func:`geosoil.process.lsm.simulate`) as a simulator.

    Runs in float64 and returns float32.

    Parameters
    ----------
    initial_soil_water_fraction
        Bucket filling at the start of every run, share of ``soil_water_max_mm``.
    """

    name = "lsm"
    parameter_specs = LSM_PARAMETERS

    def __init__(self, *, initial_soil_water_fraction: float = 1.0) -> None:
        if not (
            isinstance(initial_soil_water_fraction, (int, float))
            and 0.0 <= initial_soil_water_fraction <= 1.0
        ):
            raise ConfigError(
                f"initial soil water fraction is {initial_soil_water_fraction!r}",
                field="initial_soil_water_fraction",
                fix="give the bucket's initial filling as a share between 0 and 1",
            )
        self.initial_soil_water_fraction = float(initial_soil_water_fraction)

    def _run(self, forcing: LsmForcing, parameters: torch.Tensor) -> torch.Tensor:
        output = simulate(
            forcing,
            parameters.to(torch.float64),
            initial_soil_water_fraction=self.initial_soil_water_fraction,
        )
        return output.fluxes()


class CallableSimulator(SimulatorBase):
    """A user's Python function as a simulator.

    Parameters
    ----------
    function
        ``function(forcing, parameters) -> array-like (n, 2, t)`` [H, LE] in W m-2, with
        ``parameters`` an (n, p) tensor of physical values in ``parameter_specs`` order and
        ``forcing`` with n rows or one.
    parameter_specs
        The parameters the function takes, with units and bounds.
    name
        Short name for messages.
    defaults
        Optional default physical values by name (the uncalibrated run), within bounds.
    """

    def __init__(
        self,
        function: Callable[[LsmForcing, torch.Tensor], Any],
        *,
        parameter_specs: Sequence[ParameterSpec],
        name: str = "callable",
        defaults: Mapping[str, float] | None = None,
    ) -> None:
        if not callable(function):
            raise ConfigError(
                f"simulator {name!r} was given a {type(function).__name__}, not a function",
                field="callable",
                fix="pass a function(forcing, parameters) -> (n, 2, t) fluxes",
            )
        self.function = function
        self._declare(name, parameter_specs, defaults)

    def _run(self, forcing: LsmForcing, parameters: torch.Tensor) -> Any:
        try:
            return self.function(forcing, parameters)
        except GeoSoilError:
            raise
        except Exception as exc:
            raise SimulatorError(
                f"simulator {self.name!r} raised {type(exc).__name__}: {exc}",
                field="callable",
                fix="fix the simulator function; it received forcing and an (n, p) tensor of "
                "physical parameters",
            ) from exc


# config keys per kind: required, optional
_SPEC_KEYS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "lsm": (frozenset(), frozenset({"initial_soil_water_fraction"})),
    "command": (
        frozenset({"command", "parameters"}),
        frozenset({"name", "timeout_s", "workdir", "keep_failed"}),
    ),
    "python": (frozenset({"callable", "parameters"}), frozenset({"name"})),
}
_PARAMETER_KEYS = (frozenset({"name", "unit", "lower", "upper"}), frozenset({"default", "meaning"}))


def simulator_from_spec(spec: Mapping[str, Any]) -> Simulator:
    """Build a simulator from a config mapping.

    Parameters
    ----------
    spec
        ``{"kind": "lsm"}`` (optionally ``initial_soil_water_fraction``);
        ``{"kind": "command", "command": [...], "parameters": [...]}`` (optionally ``name``,
        ``timeout_s``, ``workdir``, ``keep_failed``); or ``{"kind": "python", "callable":
        "package.module:function", "parameters": [...]}`` (optionally ``name``). Each entry
        of ``parameters`` has ``name``, ``unit``, ``lower``, ``upper`` and optionally
        ``default`` and ``meaning``.

    Raises
    ------
    ConfigError
        For an unknown kind, a missing or unknown key, bad parameters, or a callable that
        cannot be imported; ``field`` is ``simulator.<key>``.
    """
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"the simulator is a {type(spec).__name__}, not a mapping",
            field="simulator",
            fix='give a mapping such as {"kind": "lsm"}',
        )
    kind = spec.get("kind")
    if kind not in _SPEC_KEYS:
        raise ConfigError(
            f"unknown simulator kind {kind!r}",
            field="simulator.kind",
            fix=f"use one of {', '.join(_SPEC_KEYS)}",
        )
    required, optional = _SPEC_KEYS[kind]
    _check_keys(spec, required, required | optional | {"kind"}, "simulator", f"a {kind} simulator")
    options = {key: spec[key] for key in optional if key in spec}
    if kind == "lsm":
        return LsmSimulator(**options)
    specs, defaults = _parameters_from_spec(spec["parameters"])
    if kind == "command":
        return CommandSimulator(
            spec["command"], parameter_specs=specs, defaults=defaults, **options
        )
    return CallableSimulator(
        _import_callable(spec["callable"]), parameter_specs=specs, defaults=defaults, **options
    )


def _check_keys(
    mapping: Mapping[str, Any],
    required: frozenset[str],
    allowed: frozenset[str],
    field: str,
    what: str,
) -> None:
    for key in mapping:
        if key not in allowed:
            raise ConfigError(
                f"unknown key {key!r} for {what}",
                field=f"{field}.{key}",
                fix=f"use only {', '.join(sorted(allowed))}",
            )
    for key in sorted(required):
        if key not in mapping:
            raise ConfigError(
                f"{what} needs {key!r}",
                field=f"{field}.{key}",
                fix=f"add {key} to {field}",
            )


def _parameters_from_spec(
    entries: Any,
) -> tuple[tuple[ParameterSpec, ...], dict[str, float]]:
    if isinstance(entries, (str, bytes)) or not isinstance(entries, Sequence) or not entries:
        raise ConfigError(
            "simulator parameters must be a non-empty list",
            field="simulator.parameters",
            fix="list each parameter as {name, unit, lower, upper, default}",
        )
    specs, defaults = [], {}
    for i, entry in enumerate(entries):
        field = f"simulator.parameters[{i}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(
                f"parameter {i} is a {type(entry).__name__}, not a mapping",
                field=field,
                fix="give each parameter as {name, unit, lower, upper, default}",
            )
        _check_keys(
            entry, _PARAMETER_KEYS[0], _PARAMETER_KEYS[0] | _PARAMETER_KEYS[1], field, "a parameter"
        )
        try:
            lower, upper = float(entry["lower"]), float(entry["upper"])
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"parameter {entry['name']!r} has non-numeric bounds",
                field=f"{field}.lower",
                fix="give lower and upper as numbers",
            ) from exc
        specs.append(
            ParameterSpec(
                str(entry["name"]), str(entry["unit"]), lower, upper, str(entry.get("meaning", ""))
            )
        )
        if "default" in entry:
            default = entry["default"]
            if not (
                isinstance(default, (int, float))
                and not isinstance(default, bool)
                and lower <= default <= upper
            ):
                raise ConfigError(
                    f"parameter {entry['name']!r} has the default {default!r}, outside "
                    f"[{lower:g}, {upper:g}]",
                    field=f"{field}.default",
                    fix="give a numeric default within the bounds, or leave it out",
                )
            defaults[str(entry["name"])] = float(default)
    specs_tuple = checked_specs(specs, field="simulator.parameters")
    return specs_tuple, checked_defaults(defaults, specs_tuple)


def _import_callable(reference: Any) -> Callable[..., Any]:
    fix = (
        'give "package.module:function" naming an importable module (installed or on '
        "PYTHONPATH) and a function in it"
    )
    if not isinstance(reference, str) or reference.count(":") != 1:
        raise ConfigError(
            f"callable {reference!r} is not of the form package.module:function",
            field="simulator.callable",
            fix=fix,
        )
    module_name, attribute = reference.split(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"cannot import module {module_name!r} of callable {reference!r}: {exc}",
            field="simulator.callable",
            fix=fix,
        ) from exc
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ConfigError(
                f"module {module_name!r} has no {attribute!r}",
                field="simulator.callable",
                fix=fix,
            )
        target = getattr(target, part)
    if not callable(target):
        raise ConfigError(
            f"{reference!r} is a {type(target).__name__}, not callable",
            field="simulator.callable",
            fix=fix,
        )
    return target
