"""What every simulator of the land surface model shares: the protocol and its checks.

:class:`Simulator` is what the MdPL workflow needs from a land surface model;
:class:`SimulatorBase` holds the parameter declaration, bounds checks and flux checks that
the built-in model (:mod:`geosoil.models.lsm.simulators`) and an external program
(:mod:`geosoil.models.lsm.simulator_command`) both use.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from geosoil.errors import ConfigError, SimulatorError
from geosoil.process.lsm import check_forcing_rows, check_parameter_tensor
from geosoil.process.lsm_forcing import FLUX_NAMES, LsmForcing
from geosoil.process.parameters import ParameterSpec, check_within_bounds

__all__ = [
    "FINITE_FIX",
    "Simulator",
    "SimulatorBase",
    "checked_defaults",
    "checked_fluxes",
    "checked_specs",
]

FINITE_FIX = (
    "make the simulator return finite H and LE for every step, or narrow the parameter "
    "bounds to where it runs"
)


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

    parameter_specs: tuple[ParameterSpec, ...]
    name: str

    def run(self, forcing: LsmForcing, parameters: torch.Tensor) -> torch.Tensor:
        """(n, p) physical parameters -> (n, 2, t) float32 fluxes [H, LE] in W m-2."""
        ...


class SimulatorBase:
    """Shared checks; subclasses implement ``_run`` on validated inputs."""

    name: str
    parameter_specs: tuple[ParameterSpec, ...]

    def _declare(
        self,
        name: str,
        parameter_specs: Sequence[ParameterSpec],
        defaults: Mapping[str, float] | None,
    ) -> None:
        """Store a declared simulator's name, parameters and defaults, each checked."""
        self.parameter_specs = checked_specs(parameter_specs)
        self.name = name
        self.defaults = checked_defaults(defaults, self.parameter_specs)

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
        return checked_fluxes(
            fluxes, (parameters.shape[0], len(FLUX_NAMES), forcing.shape[1]), self.name
        )

    def _run(self, forcing: LsmForcing, parameters: torch.Tensor) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, parameters={list(self.parameter_names)})"


def checked_fluxes(values: Any, shape: tuple[int, int, int], name: str) -> torch.Tensor:
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
            fix=FINITE_FIX,
        )
    return fluxes


def checked_specs(
    specs: Sequence[ParameterSpec], field: str = "parameter_specs"
) -> tuple[ParameterSpec, ...]:
    specs = tuple(specs)
    if not specs:
        raise ConfigError(
            "a simulator needs at least one parameter",
            field=field,
            fix="declare the parameters to calibrate, each with name, unit, lower and upper",
        )
    seen = set()
    for i, spec in enumerate(specs):
        if not isinstance(spec, ParameterSpec):
            raise ConfigError(
                f"parameter {i} is a {type(spec).__name__}, not an ParameterSpec",
                field=f"{field}[{i}]",
                fix="declare parameters as ParameterSpec(name, unit, lower, upper, meaning)",
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


def checked_defaults(
    defaults: Mapping[str, float] | None, specs: tuple[ParameterSpec, ...]
) -> dict[str, float]:
    values = {key: float(value) for key, value in (defaults or {}).items()}
    check_within_bounds(values, specs, model="simulator", field_prefix="defaults")
    return values
