"""Parameter boxes: Latin hypercubes in unit scale and the linear map to physical bounds.

A parameter set lives in two scales: physical values within each
:class:`~geosoil.process.lsm_params.ParameterSpec`'s ``[lower, upper]``, and unit values
in [0, 1], which is what the surrogate's network reads and the hypercube samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from geosoil.errors import ConfigError
from geosoil.process.parameters import ParameterSpec

__all__ = ["latin_hypercube", "scale_to_bounds", "unscale_from_bounds"]


def check_specs(specs: Sequence[ParameterSpec]) -> tuple[ParameterSpec, ...]:
    specs = tuple(specs)
    names = [s.name for s in specs]
    if not specs or len(set(names)) != len(names):
        raise ConfigError(
            f"parameter specs {names} are empty or name a parameter twice",
            field="simulator.parameters",
            fix="declare each simulator parameter once (name, unit, lower, upper)",
        )
    for s in specs:
        if not (math.isfinite(s.lower) and math.isfinite(s.upper) and s.lower < s.upper):
            raise ConfigError(
                f"parameter {s.name} has bounds [{s.lower}, {s.upper}]",
                field=f"simulator.parameters.{s.name}",
                fix="give finite bounds with lower < upper",
            )
    return specs


def _bounds(
    specs: Sequence[ParameterSpec], like: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    if like.shape[-1:] != (len(specs),):
        raise ConfigError(
            f"parameters have shape {tuple(like.shape)}; the last axis must hold the "
            f"{len(specs)} parameters {', '.join(s.name for s in specs)}",
            field="parameters",
            fix=f"pass a (..., {len(specs)}) tensor in that order",
        )
    lower = like.new_tensor([s.lower for s in specs])
    upper = like.new_tensor([s.upper for s in specs])
    return lower, upper


def scale_to_bounds(unit: torch.Tensor, specs: Sequence[ParameterSpec]) -> torch.Tensor:
    """Map values in [0, 1] linearly onto each spec's [lower, upper], (..., p) -> (..., p)."""
    lower, upper = _bounds(specs, unit)
    return lower + unit * (upper - lower)


def unscale_from_bounds(physical: torch.Tensor, specs: Sequence[ParameterSpec]) -> torch.Tensor:
    """Inverse of :func:`scale_to_bounds`: physical values (..., p) -> [0, 1]."""
    lower, upper = _bounds(specs, physical)
    return (physical - lower) / (upper - lower)


def latin_hypercube(n: int, specs: Sequence[ParameterSpec], *, seed: int) -> torch.Tensor:
    """``n`` points of a Latin hypercube in the unit box of ``specs``.

    Each column splits [0, 1) into ``n`` equal strata and holds exactly one point in each,
    at a uniform random position, the strata shuffled independently per column.

    Returns
    -------
    torch.Tensor
        (n, p) float64 in [0, 1); :func:`scale_to_bounds` gives physical values.
    """
    specs = check_specs(specs)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(
            f"a Latin hypercube of {n!r} points",
            field="surrogate.n_parameter_sets",
            fix="give a positive number of parameter sets",
        )
    generator = torch.Generator().manual_seed(seed)
    columns = []
    for _ in specs:
        strata = torch.randperm(n, generator=generator).to(torch.float64)
        columns.append((strata + torch.rand(n, generator=generator, dtype=torch.float64)) / n)
    return torch.stack(columns, dim=1)
