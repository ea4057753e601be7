"""The land surface model as a black box: anything that maps parameters to H and LE.

The MdPL workflow samples parameters, runs a simulator, trains a surrogate on the result and
evaluates calibrated parameters in the simulator again. It needs no gradient from the
simulator, only :class:`Simulator`: declared parameters (names, units, bounds) and
``run(forcing, parameters) -> (n, 2, t)`` float32 [H, LE] in W m-2. Three kinds:

- :class:`LsmSimulator`: geosoil's own bulk model (:mod:`geosoil.process.lsm`);
- :class:`CallableSimulator`: a Python function of the user's;
- :class:`~geosoil.models.lsm.simulator_command.CommandSimulator`: an external program, run once
  per parameter set through files (the file contract is in
  :mod:`geosoil.models.lsm.simulator_command`); it can be imported from here too.

:func:`simulator_from_spec` builds any of them from a config mapping.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import torch

from geosoil.errors import ConfigError, GeoSoilError, SimulatorError
from geosoil.process.lsm import check_forcing_rows, check_parameter_tensor, simulate
from geosoil.process.lsm_forcing import FLUX_NAMES, LsmForcing
from geosoil.process.lsm_params import LSM_PARAMETERS, LsmParameterSpec
from geosoil.process.parameters import check_within_bounds

if TYPE_CHECKING:
    from geosoil.models.lsm.simulator_command import CommandSimulator

__all__ = [
    "CallableSimulator",
    "CommandSimulator",
    "LsmSimulator",
    "Simulator",
    "SimulatorError",
    "simulator_from_spec",
]

# the command simulator builds on _Base here, so it is imported on first use, not at the top
_LAZY = {
    name: "geosoil.models.lsm.simulator_command"
    for name in (
        "CommandSimulator",
        "FORCING_FILE",
        "OUTPUT_FILE",
        "PARAMETERS_FILE",
        "PLACEHOLDERS",
    )
}
_FINITE_FIX = (
    "make the simulator return finite H and LE for every step, or narrow the parameter "
    "bounds to where it runs"
)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@runtime_checkable
class Simulator(Protocol):
    """What the MdPL workflow needs from a land surface model.

    Attributes
    ----------
    parameter_specs
        The parameters ``run`` takes, in column order, with units and bounds.
    name
        A short name for messages and provenance.
    """

    parameter_specs: tuple[LsmParameterSpec, ...]
    name: str

    def run(self, forcing: LsmForcing, parameters: torch.Tensor) -> torch.Tensor:
        """(n, p) physical parameters -> (n, 2, t) float32 fluxes [H, LE] in W m-2."""
        ...


class _Base:
    """Shared checks; subclasses implement ``_run`` on validated inputs."""

    name: str
    parameter_specs: tuple[LsmParameterSpec, ...]

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """Names of the parameter columns."""
        return tuple(spec.name for spec in self.parameter_specs)

    def run(self, forcing: LsmForcing, parameters: torch.Tensor) -> torch.Tensor:
        """Fluxes (n, 2, t) float32 [H, LE] in W m-2 for (n, p) physical ``parameters``.

        Parameters
        ----------
        forcing
            (n, t) forcing, or one row shared by every parameter set.
        parameters
            Physical values in the order of :attr:`parameter_specs`, within their bounds.

        Raises
        ------
        ConfigError
            For parameters of the wrong shape or outside their bounds.
        SampleDataError
            For a forcing with neither n rows nor one.
        SimulatorError
            When the simulator fails or returns fluxes of the wrong shape or with NaN.
        """
        check_parameter_tensor(parameters, self.parameter_specs, owner=f"simulator {self.name!r}")
        check_forcing_rows(forcing, parameters.shape[0])
        with torch.no_grad():
            fluxes = self._run(forcing, parameters.detach())
        return _checked_fluxes(
            fluxes, (parameters.shape[0], len(FLUX_NAMES), forcing.shape[1]), self.name
        )

    def _run(self, forcing: LsmForcing, parameters: torch.Tensor) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, parameters={list(self.parameter_names)})"


def _checked_fluxes(values: Any, shape: tuple[int, int, int], name: str) -> torch.Tensor:
    try:
        if not isinstance(values, torch.Tensor):
            values = np.asarray(values, dtype=np.float64)
        fluxes = torch.as_tensor(values).detach().to(device="cpu", dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise SimulatorError(
            f"simulator {name!r} returned {type(values).__name__}, not numbers ({exc})",
            field="fluxes",
            fix="return an array-like of shape (n, 2, t): [H, LE] in W m-2 per parameter set",
        ) from exc
    if tuple(fluxes.shape) != shape:
        raise SimulatorError(
            f"simulator {name!r} returned fluxes of shape {tuple(fluxes.shape)}, expected {shape}",
            field="fluxes",
            fix="return (n parameter sets, 2 fluxes [H, LE], t forcing steps)",
        )
    if not bool(torch.isfinite(fluxes).all()):
        bad = int((~torch.isfinite(fluxes)).sum())
        raise SimulatorError(
            f"simulator {name!r} returned {bad} missing or non-finite flux values",
            field="fluxes",
            fix=_FINITE_FIX,
        )
    return fluxes


class LsmSimulator(_Base):
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


def _checked_specs(
    specs: Sequence[LsmParameterSpec], field: str = "parameter_specs"
) -> tuple[LsmParameterSpec, ...]:
    specs = tuple(specs)
    if not specs:
        raise ConfigError(
            "a simulator needs at least one parameter",
            field=field,
            fix="declare the parameters to calibrate, each with name, unit, lower and upper",
        )
    seen = set()
    for i, spec in enumerate(specs):
        if not isinstance(spec, LsmParameterSpec):
            raise ConfigError(
                f"parameter {i} is a {type(spec).__name__}, not an LsmParameterSpec",
                field=f"{field}[{i}]",
                fix="declare parameters as LsmParameterSpec(name, unit, lower, upper, meaning)",
            )
        if spec.name in seen or not spec.name:
            raise ConfigError(
                f"parameter name {spec.name!r} is empty or given twice",
                field=f"{field}[{i}].name",
                fix="give every parameter a unique, non-empty name",
            )
        seen.add(spec.name)
        if not (
            math.isfinite(spec.lower) and math.isfinite(spec.upper) and spec.lower < spec.upper
        ):
            raise ConfigError(
                f"parameter {spec.name} has bounds [{spec.lower}, {spec.upper}]",
                field=f"{field}[{i}]",
                fix="give finite bounds with lower < upper",
            )
    return specs


def _checked_defaults(
    defaults: Mapping[str, float] | None, specs: tuple[LsmParameterSpec, ...]
) -> dict[str, float]:
    values = {key: float(value) for key, value in (defaults or {}).items()}
    check_within_bounds(values, specs, model="simulator", field_prefix="defaults")
    return values


class CallableSimulator(_Base):
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
        parameter_specs: Sequence[LsmParameterSpec],
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
        self.parameter_specs = _checked_specs(parameter_specs)
        self.name = name
        self.defaults = _checked_defaults(defaults, self.parameter_specs)

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
        from geosoil.models.lsm.simulator_command import CommandSimulator

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
) -> tuple[tuple[LsmParameterSpec, ...], dict[str, float]]:
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
            LsmParameterSpec(
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
    specs_tuple = _checked_specs(specs, field="simulator.parameters")
    return specs_tuple, _checked_defaults(defaults, specs_tuple)


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
